"""Helpers of :class:`~numbarnn.MarkovChain`: input checks and the sparse table view."""
from collections.abc import Mapping

import numpy as np


def _as_sequences(data, name="seq"):
    """One integer sequence or a list of them -> list of 1-D integer arrays."""
    if isinstance(data, np.ndarray) or np.isscalar(data) or (
            isinstance(data, (list, tuple)) and data and np.isscalar(data[0])):
        data = [data]
    seqs = []
    for i, s in enumerate(data):
        a = np.asarray(s)
        if a.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D integer sequence or a list of them; "
                             f"item {i} has shape {a.shape}")
        if a.size and a.dtype.kind not in "iub":
            raise TypeError(f"{name}: expected integer symbols, got dtype {a.dtype}")
        seqs.append(np.ascontiguousarray(a if a.size else a.astype(np.int64)))
    if not seqs:
        raise ValueError(f"{name}: got no sequences")
    return seqs


def _check_range(seqs, n_states, name="seq"):
    for s in seqs:
        if s.size and (s.min() < 0 or s.max() >= n_states):
            raise ValueError(f"{name}: symbols must lie in [0, {n_states}), got values in "
                             f"[{s.min()}, {s.max()}]")


class SparseTransitions(Mapping):
    """Transition rows of a large-alphabet chain, computed on demand.

    What :attr:`MarkovChain.transition_` is when ``S**(k+1)`` exceeds
    :data:`numbarnn.models.markov.DENSE_MAX`: a read-only mapping from each context *seen in
    training* (a tuple of k symbols) to its smoothed probability row
    (``(S,)`` float64). Only the counts are stored, so memory grows with
    the number of distinct observed (k+1)-grams, not with ``S**(k+1)``.
    Use :meth:`MarkovChain.predict_proba` for any context, seen or not.

    Examples
    --------
    >>> from numbarnn import MarkovChain
    >>> m = MarkovChain(order=2, alpha=0.5).fit([0, 1, 2, 0, 1, 2, 0, 1], n_states=300)
    >>> len(m.transition_), int(m.transition_[(0, 1)].argmax())
    (3, 2)
    """

    def __init__(self, chain):
        self._chain = chain

    def __len__(self):
        return self._chain._ctx_codes.size

    def __iter__(self):
        S, k = self._chain.n_states_, self._chain._k
        for c in self._chain._ctx_codes:
            yield tuple(int(d) for d in np.unravel_index(int(c), (S,) * k))

    def __getitem__(self, context):
        code = self._chain._encode_contexts(np.atleast_2d(context))[0]
        j = np.searchsorted(self._chain._ctx_codes, code)
        if j == self._chain._ctx_codes.size or self._chain._ctx_codes[j] != code:
            raise KeyError(context)
        return self._chain._rows(np.array([code]))[0]

"""Helpers of :class:`~numbarnn.MarkovChain`: input checks, the alphabet, the sparse table view.

Symbols reach the kernels as integer *codes* ``0..S-1``, the positions of
the symbols in the chain's alphabet ``states_``. Integer data keep the
identity alphabet ``0..S-1`` (the codes are the symbols); any other
hashable symbols (characters, strings, objects) go through a lookup.
"""
import numbers
from collections.abc import Mapping

import numpy as np

from ._pandas import is_pandas


def _is_sequence(x):
    # An item of a list that is itself a sequence of symbols (a str inside a
    # list is a symbol: ["to", "be"] is one sequence of two words).
    return isinstance(x, (list, tuple, range, np.ndarray)) or is_pandas(x)


def _to_array(s, name, i):
    """One sequence of symbols -> a 1-D numpy array (native byte order)."""
    if is_pandas(s):
        if type(s).__name__ == "DataFrame":
            if s.shape[1] != 1:
                raise ValueError(f"{name}: a DataFrame of symbols must have one column, "
                                 f"got {s.shape[1]}")
            s = s.iloc[:, 0]
        missing = np.flatnonzero(s.isna().to_numpy())
        if missing.size:
            raise ValueError(f"{name}: item {i} has a missing value (NaN/None/NA) at position "
                             f"{missing[0]}; a Markov chain needs a symbol at every step")
        a = np.asarray(s.to_numpy())
    elif isinstance(s, str):  # a text is the sequence of its characters
        a = np.frombuffer(s.encode("utf-32-le"), "<U1") if s else np.empty(0, np.int64)
    else:
        a = np.asarray(s)
        if a.dtype.kind in "US" and not isinstance(s, np.ndarray) and a.ndim == 1 and \
                not all(isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in s):
            # numpy would turn [1, "a"] into ["1", "a"]: keep the objects as they are
            a = np.empty(len(s), object)
            a[:] = list(s)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of symbols or a list of them; "
                         f"item {i} has shape {a.shape}")
    if a.dtype.kind == "O" and a.size and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in a):
        a = a.astype(np.int64)  # e.g. a pandas object column of ints
    if a.dtype.kind in "iub" and not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))  # the kernels read native integers
    if not a.size:
        a = a.astype(np.int64)
    return np.ascontiguousarray(a)


def _as_sequences(data, name="seq", symbols=False):
    """One sequence or a list of them -> list of 1-D arrays.

    One sequence: an array, a pandas Series (or one-column DataFrame), a
    ``str`` (its characters), or a list/tuple of symbols. Several: a
    list/tuple of those. Integer dtypes only (TypeError otherwise) unless
    ``symbols``: then any symbols (MarkovChain's alphabets).
    """
    several = isinstance(data, (list, tuple)) and data and _is_sequence(data[0])
    seqs = [_to_array(s, name, i) for i, s in enumerate(data if several else [data])]
    if isinstance(data, (list, tuple)) and not data:
        raise ValueError(f"{name}: got no sequences")
    if not symbols:
        for s in seqs:
            if s.size and s.dtype.kind not in "iub":
                raise TypeError(f"{name}: expected integer symbols, got dtype {s.dtype}")
    return seqs


def _check_range(seqs, n_states, name="seq"):
    for s in seqs:
        if s.size and (s.min() < 0 or s.max() >= n_states):
            raise ValueError(f"{name}: symbols must lie in [0, {n_states}), got values in "
                             f"[{s.min()}, {s.max()}]")


def check_states(states, name="states"):
    """An alphabet given by the user -> 1-D array of distinct hashable symbols."""
    a = _to_array(states, name, 0)
    if a.size == 0:
        raise ValueError(f"{name}: expected at least one symbol, got none")
    values = a.tolist()
    try:
        distinct = len(set(values))
    except TypeError as exc:
        raise TypeError(f"{name}: symbols must be hashable: {exc}") from None
    if any(isinstance(v, float) and v != v for v in values):
        raise ValueError(f"{name}: NaN cannot be a symbol (it never equals itself)")
    if distinct != a.size:
        raise ValueError(f"{name}: symbols must be distinct, got {a.size} symbols of which "
                         f"{distinct} are distinct")
    return a


def alphabet_of(seqs, name="seq"):
    """The symbols seen in ``seqs`` (not integers): sorted when they sort."""
    parts = [s for s in seqs if s.size]
    kinds = {s.dtype.kind for s in parts}
    if "f" in kinds or "c" in kinds:
        raise TypeError(f"{name}: expected integer symbols (or symbols of another type such "
                        "as str, with an alphabet); float data are ambiguous: cast them to "
                        "int, or give the alphabet as states=")
    if kinds <= {"U"} or kinds <= {"S"}:
        return np.unique(np.concatenate(parts))
    values = list(dict.fromkeys(v for s in parts for v in s.tolist()))
    try:
        values = sorted(values)
    except TypeError:  # unorderable symbols: order of first appearance
        pass
    out = np.empty(len(values), object)
    out[:] = values
    return check_states(out, name)


def _family(kind):
    return {"i": "int", "u": "int", "b": "int", "U": "U", "S": "S"}.get(kind)


def encode(seqs, states, name="seq"):
    """Map symbols to their codes (positions in ``states``), or ValueError."""
    index, sorter = None, None
    out = []
    for s in seqs:
        fam = _family(s.dtype.kind)
        if fam is not None and fam == _family(states.dtype.kind):
            # numpy strings or integers: a binary search instead of a dict per symbol
            if sorter is None:
                sorter = np.argsort(states, kind="stable")
            pos = np.minimum(np.searchsorted(states, s, sorter=sorter), states.size - 1)
            codes = sorter[pos]
            found = states[codes] == s
            if not found.all():
                raise ValueError(f"{name}: symbol {s[~found][0].item()!r} is not in the "
                                 f"alphabet states_ ({states.size} symbols)")
            out.append(codes.astype(np.int64))
            continue
        if index is None:
            index = {v: i for i, v in enumerate(states.tolist())}
        try:
            out.append(np.fromiter((index[v] for v in s.tolist()), np.int64, s.size))
        except KeyError as exc:
            raise ValueError(f"{name}: symbol {exc.args[0]!r} is not in the alphabet "
                             f"states_ ({states.size} symbols)") from None
        except TypeError as exc:
            raise TypeError(f"{name}: symbols must be hashable: {exc}") from None
    return out


def check_params(order, n_states, alpha, states):
    """MarkovChain's constructor arguments, validated (TypeError/ValueError naming them)."""
    if not isinstance(order, (int, np.integer)) or isinstance(order, (bool, np.bool_)):
        raise TypeError(f"order: expected a non-negative integer, got {order!r}")
    if order < 0:
        raise ValueError(f"order: expected a non-negative integer, got {order!r}")
    if n_states is not None:
        if not isinstance(n_states, (int, np.integer)) or isinstance(n_states, (bool, np.bool_)):
            raise TypeError(f"n_states: expected a positive integer or None, got {n_states!r}")
        if n_states < 1:
            raise ValueError(f"n_states: expected a positive integer or None, got {n_states!r}")
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha: expected a real number >= 0, got {alpha!r}")
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
    if states is not None:
        states = check_states(states)
        if n_states is not None and n_states != states.size:
            raise ValueError(f"n_states: {n_states} does not match the {states.size} symbols "
                             "of states")
    return states


def _symbols_to_codes(seqs, states, identity, name="seq"):
    if identity:
        for s in seqs:
            if s.size and s.dtype.kind not in "iub":
                raise TypeError(f"{name}: expected integer symbols, got dtype {s.dtype}")
        _check_range(seqs, states.size, name)
        return seqs
    return encode(seqs, states, name)


def _nonzero(table):
    idx = np.flatnonzero(table)
    return idx, table[idx]


class SparseTransitions(Mapping):
    """Transition rows of a large-alphabet chain, computed on demand.

    What :attr:`MarkovChain.transition_` is when ``S**(k+1)`` exceeds
    :data:`numbarnn.models.markov.DENSE_MAX`: a read-only mapping from each context *seen in
    training* (a tuple of k symbols) to its smoothed probability row
    (``(S,)`` float64, in the order of ``states_``). Only the counts are
    stored, so memory grows with the number of distinct observed
    (k+1)-grams, not with ``S**(k+1)``. Use :meth:`MarkovChain.predict_proba`
    for any context, seen or not.

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
        states = self._chain.states_.tolist()
        for c in self._chain._ctx_codes:
            yield tuple(states[int(d)] for d in np.unravel_index(int(c), (S,) * k))

    def __getitem__(self, context):
        code = self._chain._encode_contexts(np.atleast_2d(np.asarray(context, object)
                                                          if not self._chain._identity
                                                          else context))[0]
        j = np.searchsorted(self._chain._ctx_codes, code)
        if j == self._chain._ctx_codes.size or self._chain._ctx_codes[j] != code:
            raise KeyError(context)
        return self._chain._rows(np.array([code]))[0]

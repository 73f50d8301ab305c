"""Synthetic tasks with known answers: adding, copy and a Markov source.

Arrays are time-major like the functional API (``(T, B, ...)``).
"""
import numpy as np

from . import _kernels
from .continuous import _check_n, _check_real


def adding_problem(n_samples, T, seed=0):
    """The adding problem (Hochreiter & Schmidhuber, 1997).

    Channel 0 holds U(0, 1) values; channel 1 marks two positions with 1,
    one in the first half and one in the second; the target is the sum of
    the two marked values. A model must remember across ~T/2 steps.

    Parameters
    ----------
    n_samples : int
        Batch size B.
    T : int
        Sequence length (>= 2).
    seed : int, Generator or None

    Returns
    -------
    x : ndarray (T, B, 2) float64
    y : ndarray (B, 1) float64

    Examples
    --------
    >>> from numbarnn import datasets
    >>> x, y = datasets.adding_problem(3, 10, seed=0)
    >>> x.shape, y.shape, bool((x[:, :, 1].sum(axis=0) == 2).all())
    ((10, 3, 2), (3, 1), True)
    """
    B, T = _check_n(n_samples, "n_samples"), _check_n(T, "T", 2)
    rng = np.random.default_rng(seed)
    x = np.zeros((T, B, 2))
    x[:, :, 0] = rng.uniform(0.0, 1.0, (T, B))
    first = rng.integers(0, T // 2, B)
    second = rng.integers(T // 2, T, B)
    cols = np.arange(B)
    x[first, cols, 1] = 1.0
    x[second, cols, 1] = 1.0
    y = (x[first, cols, 0] + x[second, cols, 0])[:, None]
    return x, y


def copy_task(n_samples, delay, *, length=10, n_symbols=8, seed=0):
    """The copy memory task (Arjovsky, Shah & Bengio, 2016).

    Input: ``length`` symbols from ``1..n_symbols``, ``delay - 1`` blanks
    (0), the go marker ``n_symbols + 1``, then ``length`` blanks. Target:
    blanks for ``length + delay`` steps, then the symbols. Total length
    ``delay + 2*length``; one-hot inputs are ``np.eye(n_symbols + 2)[x]``.

    Returns
    -------
    x, y : ndarray (delay + 2*length, n_samples) of int64

    Examples
    --------
    >>> from numbarnn import datasets
    >>> x, y = datasets.copy_task(2, delay=5, length=3, seed=0)
    >>> x.shape, bool((y[-3:] == x[:3]).all()), int(x[7, 0])
    ((11, 2), True, 9)
    """
    B, delay = _check_n(n_samples, "n_samples"), _check_n(delay, "delay", 1)
    length, n_symbols = _check_n(length, "length", 1), _check_n(n_symbols, "n_symbols", 1)
    T = delay + 2 * length
    symbols = np.random.default_rng(seed).integers(1, n_symbols + 1, (length, B))
    x = np.zeros((T, B), np.int64)
    y = np.zeros((T, B), np.int64)
    x[:length] = symbols
    x[length + delay - 1] = n_symbols + 1
    y[length + delay:] = symbols
    return x, y


def markov_source(order=2, n_states=4, n=10000, seed=0, *, concentration=0.5):
    """A sequence from a random Markov chain of known transitions.

    Each of the ``S**order`` contexts gets a transition row drawn from a
    symmetric Dirichlet(``concentration``) (small values: peaked rows, so
    the order matters); the first ``order`` symbols are uniform.

    Returns
    -------
    seq : ndarray (n,) of int64
    transition : ndarray ``(S,)*order + (S,)``
        ``transition[c_1, ..., c_k, s] = p(x_t = s | context c)``, the
        layout of :attr:`numbarnn.MarkovChain.transition_`.

    Examples
    --------
    >>> from numbarnn import datasets, MarkovChain
    >>> x, P = datasets.markov_source(order=2, n_states=3, n=200000, seed=0)
    >>> P.shape, bool(abs(MarkovChain(order=2).fit(x).transition_ - P).max() < 0.02)
    ((3, 3, 3), True)
    """
    k, S, n = _check_n(order, "order"), _check_n(n_states, "n_states", 1), _check_n(n)
    if S ** (k + 1) > 2 ** 24:
        raise ValueError(f"n_states**(order+1): at most 2**24 entries, got {S}**{k + 1}")
    concentration = _check_real(concentration, "concentration", positive=True)
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(S, float(concentration)), size=S ** k)
    cum = np.cumsum(P, axis=1)
    cum[:, -1] = 1.0  # rounding must never leave u in no bin
    out = np.zeros(n, np.int64)
    out[:min(k, n)] = rng.integers(0, S, min(k, n))
    _kernels.sample_dense_chain(out, rng.random(n), cum, S, k)
    return out, P.reshape((S,) * k + (S,))

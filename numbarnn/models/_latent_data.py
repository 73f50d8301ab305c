"""Data plumbing of :class:`~numbarnn.LatentAR`: checks, scaling, encoding,
padding and windows.

The model reads x_{t-1} and predicts x_t, so each series becomes a pair
``(inputs, targets)`` with ``inputs[0]`` the start input (zeros) and
``inputs[t] = encode(x_{t-1})``. Several series (or windows of one) are
packed side by side along the batch axis and padded at the end; padded
targets are NaN (real data) or -1 (symbols), and the masked losses below
give them no weight. Padding at the end is harmless because the network
is causal: later inputs never change earlier outputs.
"""
import numpy as np

from ..train import cross_entropy, gaussian_nll_packed
from ._sequences import _as_sequences, _check_range


def is_single(data):
    """Whether ``data`` is one series: an array, or a flat list of numbers.

    Any other list or tuple is a list of series (the MarkovChain convention).
    """
    if isinstance(data, np.ndarray) or np.isscalar(data):
        return True
    return isinstance(data, (list, tuple)) and bool(data) and np.isscalar(data[0])


def real_series(data, name="data", n_features=None, univariate=None):
    """One (T,)/(T, D) real series or a list of them -> (list of (T, D) float64, 1-D?)."""
    items = [data] if is_single(data) else list(data)
    if not items:
        raise ValueError(f"{name}: got no series")
    out, flags = [], set()
    for i, s in enumerate(items):
        a = np.asarray(s)
        label = name if len(items) == 1 else f"{name}[{i}]"
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{label}: expected a real-valued array, got dtype {a.dtype}")
        if a.ndim not in (1, 2):
            raise ValueError(f"{label}: expected shape (T,) or (T, D), got {a.shape}")
        flags.add(a.ndim == 1)
        a = a.astype(np.float64).reshape(a.shape[0], -1)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{label}: contains NaN or Inf")
        if n_features is not None and a.shape[1] != n_features:
            want = "(T,)" if univariate else f"(T, {n_features})"
            raise ValueError(f"{label}: expected shape {want} like the fitted data, "
                             f"got {np.shape(s)}")
        out.append(a)
    if len(flags) > 1 or len({a.shape[1] for a in out}) > 1:
        raise ValueError(f"{name}: every series must have the same number of features")
    flat = flags.pop()
    if univariate is not None and n_features == 1 and flat != univariate:
        want = "(T,)" if univariate else "(T, 1)"
        raise ValueError(f"{name}: expected shape {want} like the fitted data")
    return out, flat


def int_sequences(data, n_states=None, name="data"):
    """One integer sequence or a list of them -> list of int64 arrays, checked."""
    seqs = [s.astype(np.int64) for s in _as_sequences(data, name)]
    if n_states is not None:
        _check_range(seqs, n_states, name)
    return seqs


def shifted(encoded):
    """Inputs of the model for one encoded series (T, I): the start, then x_0..x_{T-2}."""
    inputs = np.zeros_like(encoded)
    inputs[1:] = encoded[:-1]
    return inputs


def pack(arrays, fill, dtype):
    """Stack (T_i, ...) arrays along a new batch axis 1, padded to max T with ``fill``."""
    T = max(a.shape[0] for a in arrays)
    out = np.full((T, len(arrays)) + arrays[0].shape[1:], fill, dtype=dtype)
    for b, a in enumerate(arrays):
        out[:a.shape[0], b] = a
    return out


def windows(inputs, targets, length, stride):
    """Cut one series' aligned (inputs, targets) into windows of ``length`` steps.

    Windows start every ``stride`` steps; the last one is shorter when the
    series does not divide evenly (it is padded, and masked, by :func:`pack`).
    """
    T = inputs.shape[0]
    starts = range(0, max(T - length, 0) + 1, stride)
    pieces = [(inputs[s:s + length], targets[s:s + length]) for s in starts]
    last = starts[-1] + length
    if last < T:  # keep the tail rather than drop observations
        pieces.append((inputs[last:], targets[last:]))
    return pieces


def masked_gaussian(pred, target, reduction="mean"):
    """:func:`~numbarnn.train.gaussian_nll_packed` ignoring NaN (padded) targets."""
    mask = ~np.isnan(target)
    return gaussian_nll_packed(pred, np.where(mask, target, 0), weights=mask,
                               reduction=reduction)


def masked_categorical(logits, target, reduction="mean"):
    """:func:`~numbarnn.train.cross_entropy` ignoring targets of -1 (padding)."""
    mask = target >= 0
    return cross_entropy(logits, np.where(mask, target, 0), weights=mask, reduction=reduction)


def log_softmax(logits):
    shifted_ = logits - logits.max(axis=-1, keepdims=True)
    return shifted_ - np.log(np.exp(shifted_).sum(axis=-1, keepdims=True))

"""The plain-numpy peer: one per-step loop for all three cells.

This is what a numpy user would write without numba: one GEMM for the input
projections of all steps, then a Python loop over time with one recurrent
GEMM per step, and BPTT the same way backwards. Only the pointwise gate math
differs between cells, so each cell contributes a ``gates`` / ``gates_back``
pair and the loops are shared.

Conventions follow numbarnn (docs/math.md): PyTorch weight layout, GRU with
``reset_after=True`` and numbarnn's update ``h = (1 - z) h_prev + z n``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["numpy_forward", "numpy_backward"]


class _Cache(NamedTuple):
    cell: str
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    h_prev: np.ndarray  # (T, B, H): h0, y[0], ..., y[T-2]
    saved: list  # per step, what gates_back needs


def _sigmoid(a):
    # The tanh form never overflows, so float32 runs stay warning-free.
    return 0.5 + 0.5 * np.tanh(0.5 * a)


# Each ``gates`` takes the input projection xp and the recurrent product hp
# (both (B, G*H), biases included) and returns (h, c, saved). Each
# ``gates_back`` takes saved, dh, dc and returns (dxp, dhp, dh_direct, dc_prev):
# the gradients w.r.t. xp and hp, the part of dh_prev that does not go through
# W_hh, and dc_prev.


def _rnn_gates(xp, hp, h_prev, c_prev):
    h = np.tanh(xp + hp)
    return h, None, h


def _rnn_gates_back(h, dh, dc):
    da = dh * (1.0 - h * h)
    return da, da, None, None


def _lstm_gates(xp, hp, h_prev, c_prev):
    a = xp + hp
    i, f, g, o = np.split(a, 4, axis=1)
    i, f, o = _sigmoid(i), _sigmoid(f), _sigmoid(o)
    g = np.tanh(g)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    return o * tc, c, (i, f, g, o, tc, c_prev)


def _lstm_gates_back(saved, dh, dc):
    i, f, g, o, tc, c_prev = saved
    dc = dc + dh * o * (1.0 - tc * tc)
    da = np.concatenate(
        [
            dc * g * i * (1.0 - i),
            dc * c_prev * f * (1.0 - f),
            dc * i * (1.0 - g * g),
            dh * tc * o * (1.0 - o),
        ],
        axis=1,
    )
    return da, da, None, dc * f


def _gru_gates(xp, hp, h_prev, c_prev):
    xr, xz, xn = np.split(xp, 3, axis=1)
    hr, hz, hn = np.split(hp, 3, axis=1)
    r = _sigmoid(xr + hr)
    z = _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    h = (1.0 - z) * h_prev + z * n
    return h, None, (r, z, n, hn, h_prev)


def _gru_gates_back(saved, dh, dc):
    r, z, n, hn, h_prev = saved
    dan = dh * z * (1.0 - n * n)
    dar = dan * hn * r * (1.0 - r)
    daz = dh * (n - h_prev) * z * (1.0 - z)
    dxp = np.concatenate([dar, daz, dan], axis=1)
    dhp = np.concatenate([dar, daz, dan * r], axis=1)
    return dxp, dhp, dh * (1.0 - z), None


_GATES = {
    "rnn": (_rnn_gates, _rnn_gates_back),
    "lstm": (_lstm_gates, _lstm_gates_back),
    "gru": (_gru_gates, _gru_gates_back),
}


def numpy_forward(cell, x, w_ih, w_hh, b_ih, b_hh, h0, c0=None, *, training=False):
    """Run a cell over a sequence with a per-step numpy loop.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        ``rnn`` is tanh; ``gru`` is the ``reset_after=True`` form.
    x : ndarray, shape (T, B, I)
    w_ih, w_hh, b_ih, b_hh : ndarray
        PyTorch layout, (G*H, I), (G*H, H), (G*H,), (G*H,).
    h0 : ndarray, shape (B, H)
    c0 : ndarray, shape (B, H), optional
        LSTM only.
    training : bool, optional
        Keep what :func:`numpy_backward` needs.

    Returns
    -------
    y : ndarray, shape (T, B, H)
    h_n : ndarray, shape (B, H)
    c_n : ndarray or None
    cache : object or None

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.bench import numpy_forward
    >>> T, B, I, H = 5, 2, 3, 4
    >>> rng = np.random.default_rng(0)
    >>> w_ih, w_hh = rng.normal(size=(H, I)), rng.normal(size=(H, H))
    >>> b = np.zeros(H)
    >>> y, h_n, c_n, cache = numpy_forward("rnn", rng.normal(size=(T, B, I)),
    ...                                    w_ih, w_hh, b, b, np.zeros((B, H)))
    >>> y.shape, bool(np.array_equal(y[-1], h_n)), c_n is None
    ((5, 2, 4), True, True)
    """
    gates, _ = _GATES[cell]
    T, B, _ = x.shape
    H = w_hh.shape[1]
    # One GEMM for every step's input projection; only h @ W_hh.T is serial.
    xp = x @ w_ih.T + b_ih
    w_hh_t = w_hh.T
    y = np.empty((T, B, H), dtype=x.dtype)
    h, c = h0, (c0 if cell == "lstm" else None)
    saved = []
    for t in range(T):
        h, c, s = gates(xp[t], h @ w_hh_t + b_hh, h, c)
        y[t] = h
        if training:
            saved.append(s)
    cache = None
    if training:
        h_prev = np.concatenate([h0[None], y[:-1]])
        cache = _Cache(cell, x, w_ih, w_hh, h_prev, saved)
    return y, h, c, cache


def numpy_backward(cache, dy, dh_n=None, dc_n=None):
    """Backpropagation through time for :func:`numpy_forward`.

    Parameters
    ----------
    cache : object
        From ``numpy_forward(..., training=True)``.
    dy : ndarray, shape (T, B, H)
    dh_n, dc_n : ndarray, shape (B, H), optional
        Gradients arriving at the final state; zeros when None.

    Returns
    -------
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh : ndarray
        ``dc0`` is None except for LSTM.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.bench import numpy_backward, numpy_forward
    >>> rng = np.random.default_rng(0)
    >>> x, h0, c0 = rng.normal(size=(4, 1, 2)), np.zeros((1, 3)), np.zeros((1, 3))
    >>> w_ih, w_hh, b = rng.normal(size=(12, 2)), rng.normal(size=(12, 3)), np.zeros(12)
    >>> y, h_n, c_n, cache = numpy_forward("lstm", x, w_ih, w_hh, b, b, h0, c0,
    ...                                    training=True)
    >>> grads = numpy_backward(cache, np.ones_like(y))
    >>> [g.shape for g in grads[:2]] + [grads[3].shape]
    [(4, 1, 2), (1, 3), (12, 2)]
    """
    cell, x, w_ih, w_hh, h_prev, saved = cache
    _, gates_back = _GATES[cell]
    T, B, I = x.shape
    GH, H = w_hh.shape
    dxp = np.empty((T, B, GH), dtype=x.dtype)
    dhp = np.empty((T, B, GH), dtype=x.dtype)
    dh = np.zeros((B, H), x.dtype) if dh_n is None else dh_n.copy()
    dc = None
    if cell == "lstm":
        dc = np.zeros((B, H), x.dtype) if dc_n is None else dc_n.copy()
    for t in range(T - 1, -1, -1):
        dh = dh + dy[t]
        dxp[t], dhp[t], dh_direct, dc = gates_back(saved[t], dh, dc)
        dh = dhp[t] @ w_hh
        if dh_direct is not None:
            dh += dh_direct
    # Weight gradients as one GEMM each over all steps, not T small ones.
    dxp2, dhp2 = dxp.reshape(T * B, GH), dhp.reshape(T * B, GH)
    dx = dxp @ w_ih
    dw_ih = dxp2.T @ x.reshape(T * B, I)
    dw_hh = dhp2.T @ h_prev.reshape(T * B, H)
    return dx, dh, dc, dw_ih, dw_hh, dxp2.sum(axis=0), dhp2.sum(axis=0)

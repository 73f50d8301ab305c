"""LSTM forward and backward over a whole sequence (numpy arrays, CPU)."""
from collections import namedtuple

import numpy as np

from ..kernels.cpu import lstm as _k
from ..kernels.cpu.common import transposed_hidden_weights
from . import device
from .checks import (Cache, bias_grads, bias_or_zeros, check_weights, grad_input,
                     start_backward, state, work_steps)
from .schedule import backward_pass, forward_pass

LSTMResult = namedtuple("LSTMResult", "y h_n c_n cache")
LSTMGrads = namedtuple("LSTMGrads", "dx dh0 dc0 dw_ih dw_hh db_ih db_hh")


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *,
                 training=False, check_finite=True):
    """Run an LSTM layer over a whole sequence.

    Gates are stacked in the order i, f, g, o (PyTorch's layout); the
    equations are in DESIGN.md §1.

    Parameters
    ----------
    x : ndarray, shape (T, B, I)
        Input, time-major, float32 or float64; its dtype is the dtype of
        the work and of every output.
    w_ih : ndarray, shape (4H, I)
    w_hh : ndarray, shape (4H, H)
    b_ih, b_hh : ndarray, shape (4H,), optional
        Biases; None means zeros.
    h0, c0 : ndarray, shape (B, H), optional
        Initial hidden and cell states; None means zeros.
    training : bool, default False
        Keep what :func:`lstm_backward` needs (the gate activations and cell
        states of every step). Without it, memory does not grow with T
        beyond the output.
    check_finite : bool, default True
        Reject inputs containing NaN or Inf.

    Returns
    -------
    LSTMResult
        ``(y, h_n, c_n, cache)``: y (T, B, H) the hidden states, h_n and c_n
        (B, H) the final states, cache None unless ``training``. With T == 0,
        y is empty and the final states equal the initial ones.

    Raises
    ------
    TypeError
        Non-float arrays, or arrays of different float dtypes.
    ValueError
        A shape that does not fit, or NaN/Inf with ``check_finite``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import lstm_forward
    >>> rng = np.random.default_rng(0)
    >>> T, B, I, H = 5, 2, 3, 4
    >>> x = rng.standard_normal((T, B, I))
    >>> w_ih, w_hh = rng.standard_normal((4 * H, I)), rng.standard_normal((4 * H, H))
    >>> y, h_n, c_n, cache = lstm_forward(x, w_ih, w_hh)
    >>> y.shape, bool(np.array_equal(y[-1], h_n)), cache is None
    ((5, 2, 4), True, True)
    """
    if device.on_device(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0, c0=c0):
        return LSTMResult(*device.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, training,
                                               check_finite))
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = check_weights(
        x, w_ih, w_hh, b_ih, b_hh, 4, "LSTM", check_finite)
    dtype = x.dtype
    h0 = state("h0", h0, B, H, dtype, check_finite)
    c0 = state("c0", c0, B, H, dtype, check_finite)
    Tc = work_steps(T, B, 4 * H, training)
    y = np.empty((T, B, H), dtype)
    h_n, c_n = h0.copy(), c0.copy()
    gates = np.empty((Tc, B, 4 * H), dtype)
    cs = np.empty((Tc, B, H), dtype)
    if T and B:
        forward_pass(x, w_ih, w_hh, bias_or_zeros(b_ih, 4 * H, dtype),
                     bias_or_zeros(b_hh, 4 * H, dtype), True, gates,
                     _k.lstm_forward, w_hh, transposed_hidden_weights(w_hh, B), h0, c0, y, cs)
        h_n[:] = y[T - 1]
        c_n[:] = cs[(T - 1) % Tc]
    cache = None
    if training:
        cache = Cache("lstm", x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, c0=c0, y=y, gates=gates,
                      cs=cs, has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
        y = y.copy()
    return LSTMResult(y, h_n, c_n, cache)


def lstm_backward(cache, dy=None, dh_n=None, dc_n=None):
    """Backpropagate through time for :func:`lstm_forward`.

    Parameters
    ----------
    cache : object
        The cache of ``lstm_forward(..., training=True)``.
    dy : ndarray, shape (T, B, H), optional
        Gradient of the loss with respect to y; None means zeros.
    dh_n, dc_n : ndarray, shape (B, H), optional
        Gradients with respect to the final states (what truncated BPTT
        carries in from the next chunk); None means zeros.

    Returns
    -------
    LSTMGrads
        ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)``, fresh arrays in the
        dtype of the forward pass. ``dh0``/``dc0`` are returned even when the
        forward pass used the implicit zero state; a bias gradient is None
        when that bias was None.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import lstm_forward, lstm_backward
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3))
    >>> w_ih, w_hh, b = rng.standard_normal((16, 3)), rng.standard_normal((16, 4)), np.zeros(16)
    >>> y, h_n, c_n, cache = lstm_forward(x, w_ih, w_hh, b, b, training=True)
    >>> g = lstm_backward(cache, dy=np.ones_like(y))
    >>> g.dx.shape, g.dw_hh.shape, g.db_ih.shape
    ((5, 2, 3), (16, 4), (16,))
    """
    if device.is_device_cache(cache):
        return LSTMGrads(*device.lstm_backward(cache, dy, dh_n, dc_n))
    dy, dh, out = start_backward(cache, dy, dh_n, "lstm", "lstm_backward")
    dc = grad_input("dc_n", dc_n, dh.shape, dh.dtype).copy()
    T, B, H = dy.shape
    if T and B:
        dgates = np.empty_like(cache.gates)
        backward_pass(cache, _k.lstm_backward,
                      (cache.w_hh, cache.h0, cache.c0, cache.y, cache.gates, cache.cs, dy, dh, dc,
                       dgates), cache.y, 4 * H, dgates, dgates, out)
    return LSTMGrads(out["dx"], dh, dc, out["dw_ih"], out["dw_hh"], *bias_grads(cache, out))

"""Elman RNN forward and backward over a whole sequence (numpy arrays, CPU)."""
from collections import namedtuple

import numpy as np

from ..kernels import cellmath
from ..kernels.cpu import fused_rnn as _fk
from . import device, engine
from .checks import (EngineCache, bias_grads, bias_or_zeros, check_bool, check_weights,
                     start_backward, state, work_steps)

RNNResult = namedtuple("RNNResult", "y h_n cache")
RNNGrads = namedtuple("RNNGrads", "dx dh0 dw_ih dw_hh db_ih db_hh")

NONLINEARITIES = {"tanh": cellmath.TANH, "relu": cellmath.RELU, "sigmoid": cellmath.SIGMOID}


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *, nonlinearity="tanh",
                training=False, check_finite=True):
    """Run an Elman RNN layer, h_t = φ(w_ih x_t + b_ih + w_hh h_{t−1} + b_hh).

    Parameters
    ----------
    x : ndarray, shape (T, B, I)
        Input, time-major, float32 or float64; its dtype is the dtype of
        the work and of every output.
    w_ih : ndarray, shape (H, I)
    w_hh : ndarray, shape (H, H)
    b_ih, b_hh : ndarray, shape (H,), optional
        Biases; None means zeros.
    h0 : ndarray, shape (B, H), optional
        Initial state; None means zeros.
    nonlinearity : {"tanh", "relu", "sigmoid"}
    training : bool, default False
        Keep the cache :func:`rnn_backward` needs.
    check_finite : bool, default True
        Reject inputs containing NaN or Inf.

    Returns
    -------
    RNNResult
        ``(y, h_n, cache)``: y (T, B, H), h_n (B, H), cache None unless
        ``training``. With T == 0, y is empty and h_n equals h0.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import rnn_forward
    >>> x = np.ones((3, 1, 1))
    >>> w_ih, w_hh = np.full((2, 1), 0.5), np.zeros((2, 2))
    >>> y, h_n, _ = rnn_forward(x, w_ih, w_hh, nonlinearity="relu")
    >>> y[:, 0].tolist()
    [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, "
                         f"got {nonlinearity!r}")
    act = NONLINEARITIES[nonlinearity]
    training = check_bool("training", training)
    check_finite = check_bool("check_finite", check_finite)
    if device.on_device(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0):
        return RNNResult(*device.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, act, training,
                                             check_finite))
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = check_weights(
        x, w_ih, w_hh, b_ih, b_hh, 1, "RNN", check_finite)
    dtype = x.dtype
    h0 = state("h0", h0, B, H, dtype, check_finite)
    return _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, act, training)


def rnn_backward(cache, dy=None, dh_n=None):
    """Backpropagate through time for :func:`rnn_forward`.

    Parameters
    ----------
    cache : object
        The cache of ``rnn_forward(..., training=True)``.
    dy : ndarray, shape (T, B, H), optional
        Gradient of the loss with respect to y; None means zeros.
    dh_n : ndarray, shape (B, H), optional
        Gradient with respect to the final state; None means zeros.

    Returns
    -------
    RNNGrads
        ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``; a bias gradient is None
        when that bias was None.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import rnn_forward, rnn_backward
    >>> x = np.ones((2, 1, 1))
    >>> w_ih, w_hh = np.ones((1, 1)), np.zeros((1, 1))
    >>> y, h_n, cache = rnn_forward(x, w_ih, w_hh, nonlinearity="relu", training=True)
    >>> rnn_backward(cache, dy=np.ones_like(y)).dw_ih.tolist()
    [[2.0]]
    """
    if device.is_device_cache(cache):
        return RNNGrads(*device.rnn_backward(cache, dy, dh_n))
    return _engine_backward(cache, dy, dh_n)


def _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, act, training):
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    lay = engine.layout(1, H, dtype)
    y = np.empty((T, B, H), dtype)
    slots = T + 1 if training else 2
    (hs,) = engine.padded_states(slots, B, lay, dtype, h0)
    if T and B:
        bias = bias_or_zeros(b_ih, H, dtype) + bias_or_zeros(b_hh, H, dtype)
        Tc = engine.chunk_steps(T, B, lay)
        engine.run(_fk.rnn_forward_steps,
                   (x, engine.pack_rows(w_ih, lay.cols, I), engine.pack_bias(bias, lay.cols),
                    engine.pack_rows(w_hh, lay.cols, H), engine.zeros(lay.C, dtype), hs,
                    engine.empty((Tc, B, lay.C), dtype), engine.empty((B, lay.C), dtype), y, act,
                    Tc),
                   B, lay, T)
    h_n = hs[T % slots, :, :H].copy()
    cache = None
    if training:
        # hs keeps every state (T + 1 slots): the cache reads y from it, so
        # the caller's y needs no copy (0.13 ms of the S3 float32 fwd+bwd)
        cache = EngineCache("rnn", lay, x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, hs_p=hs, act=act,
                            has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
    return RNNResult(y, h_n, cache)


def _engine_backward(cache, dy, dh_n):
    dy, dh, out = start_backward(cache, dy, dh_n, "rnn", "rnn_backward")
    T, B, H = dy.shape
    lay = cache.layout
    dhp = engine.padded(dh, lay)
    if T and B:
        dg = engine.gate_grads(T, B, lay, dh.dtype)
        hs = cache.hs_p
        engine.backward_pass(_fk.rnn_backward_steps,
                             (engine.pack_backward(cache.w_hh, lay),
                              engine.zeros(lay.Hq, dh.dtype), hs, dy, dhp, dg,
                              engine.empty((B, lay.Hq), dh.dtype), cache.act), B, lay, T,
                             (dg, dg, cache.x, hs[0], hs[1:], cache.w_ih, lay, out))
    return RNNGrads(out["dx"], dhp[:, :H].copy(), out["dw_ih"], out["dw_hh"],
                    *bias_grads(cache, out))

"""GRU forward and backward over a whole sequence (numpy arrays, CPU)."""
from collections import namedtuple

import numpy as np

from ..kernels.cpu import fused_gru as _fk
from ..kernels.cpu import fused_gru_reset_before as _fbk
from . import device, engine
from .checks import (EngineCache, bias_grads, bias_or_zeros, check_bool, check_weights,
                     start_backward, state)

GRUResult = namedtuple("GRUResult", "y h_n cache")
GRUGrads = namedtuple("GRUGrads", "dx dh0 dw_ih dw_hh db_ih db_hh")


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *, reset_after=False,
                training=False, check_finite=True):
    """Run a GRU layer over a whole sequence.

    Gates are stacked r, z, n; the update is h_t = (1 − z) h_{t−1} + z n_t
    (numbarnn's z is PyTorch's and Keras's 1 − z: negate the z rows of every
    weight and bias to import theirs, docs/math.md).

    Parameters
    ----------
    x : ndarray, shape (T, B, I)
        Input, time-major, float32 or float64.
    w_ih : ndarray, shape (3H, I)
    w_hh : ndarray, shape (3H, H)
    b_ih, b_hh : ndarray, shape (3H,), optional
        Biases; None means zeros.
    h0 : ndarray, shape (B, H), optional
        Initial state; None means zeros.
    reset_after : bool, default False
        False: the reset gate scales h before the candidate's recurrent
        product, n = tanh(w_in x + b_in + w_hn (r ⊙ h) + b_hn). True: the
        cuDNN/PyTorch form, n = tanh(w_in x + b_in + r ⊙ (w_hn h + b_hn)).
    training : bool, default False
        Keep the cache :func:`gru_backward` needs.
    check_finite : bool, default True
        Reject inputs containing NaN or Inf.

    Returns
    -------
    GRUResult
        ``(y, h_n, cache)``: y (T, B, H), h_n (B, H), cache None unless
        ``training``. With T == 0, y is empty and h_n equals h0.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import gru_forward
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    >>> w_ih = rng.standard_normal((9, 3)).astype(np.float32)
    >>> w_hh = rng.standard_normal((9, 3)).astype(np.float32)
    >>> y, h_n, _ = gru_forward(x, w_ih, w_hh, reset_after=True)
    >>> y.dtype, y.shape
    (dtype('float32'), (4, 2, 3))
    """
    training = check_bool("training", training)
    check_finite = check_bool("check_finite", check_finite)
    reset_after = check_bool("reset_after", reset_after)
    if device.on_device(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0):
        return GRUResult(*device.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, reset_after,
                                             training, check_finite))
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = check_weights(
        x, w_ih, w_hh, b_ih, b_hh, 3, "GRU", check_finite)
    dtype = x.dtype
    h0 = state("h0", h0, B, H, dtype, check_finite)
    return _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, training, reset_after)


def gru_backward(cache, dy=None, dh_n=None):
    """Backpropagate through time for :func:`gru_forward` (either form).

    Parameters
    ----------
    cache : object
        The cache of ``gru_forward(..., training=True)``.
    dy : ndarray, shape (T, B, H), optional
        Gradient of the loss with respect to y; None means zeros.
    dh_n : ndarray, shape (B, H), optional
        Gradient with respect to the final state; None means zeros.

    Returns
    -------
    GRUGrads
        ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)``; a bias gradient is None
        when that bias was None.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional import gru_forward, gru_backward
    >>> rng = np.random.default_rng(1)
    >>> x = rng.standard_normal((4, 2, 3))
    >>> w_ih, w_hh = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    >>> y, h_n, cache = gru_forward(x, w_ih, w_hh, training=True)
    >>> g = gru_backward(cache, dh_n=np.ones_like(h_n))
    >>> g.dx.shape, g.dh0.shape, g.db_ih is None
    ((4, 2, 3), (2, 2), True)
    """
    if device.is_device_cache(cache):
        return GRUGrads(*device.gru_backward(cache, dy, dh_n))
    # anything but a reset-after GRU cache goes the reset-before way, whose
    # first step (start_backward) rejects what is not a GRU cache at all
    if isinstance(cache, EngineCache) and getattr(cache, "reset_after", False) is True:
        return _engine_backward(cache, dy, dh_n)
    return _engine_backward_reset_before(cache, dy, dh_n)


def _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, training, reset_after):
    # either form on the engine (functional/engine.py); the kernels differ:
    # kernels/cpu/fused_gru.py (reset-after), fused_gru_reset_before.py
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    lay = engine.layout(3, H, dtype)
    Hp = lay.Hp
    y = np.empty((T, B, H), dtype)
    slots = T + 1 if training else 2
    (hs,) = engine.padded_states(slots, B, lay, dtype, h0)
    gates = engine.empty((T if training else 1, B, lay.C), dtype)
    aux = engine.empty((T if training else 1, B, Hp), dtype)
    if T and B:
        b_ih0, b_hh0 = bias_or_zeros(b_ih, 3 * H, dtype), bias_or_zeros(b_hh, 3 * H, dtype)
        Tc = engine.chunk_steps(T, B, lay)
        gx = engine.empty((Tc, B, lay.C), dtype)
        if reset_after:
            # b_hn stays on the recurrent side: it sits inside r ⊙ (w_hn h + b_hn)
            b_x, b_h = b_ih0.copy(), np.zeros_like(b_hh0)
            b_x[:2 * H] += b_hh0[:2 * H]
            b_h[2 * H:] = b_hh0[2 * H:]
            engine.run(_fk.gru_forward_steps,
                       (x, engine.pack_rows(w_ih, lay.cols, I), engine.pack_bias(b_x, lay.cols),
                        engine.pack_rows(w_hh, lay.cols, H), engine.pack_bias(b_h, lay.cols), hs,
                        gx, engine.empty((B, lay.C), dtype), gates, aux, y, Tc, training),
                       B, lay, T)
        else:
            # both biases on the input side: b_hn is outside r ⊙ (·) in this form
            _, lay_rz, lay_n = _reset_before_layouts(H, dtype)
            engine.run(_fbk.gru_reset_before_forward_steps,
                       (x, engine.pack_rows(w_ih, lay.cols, I),
                        engine.pack_bias(b_ih0 + b_hh0, lay.cols),
                        engine.pack_rows(w_hh[:2 * H], lay_rz.cols, H),
                        engine.pack_rows(w_hh[2 * H:], lay_n.cols, H),
                        engine.zeros(2 * Hp, dtype), hs, gx, engine.empty((B, 2 * Hp), dtype),
                        engine.empty((B, lay.Hq), dtype), gates, aux, y, Tc, training), B, lay,
                       T)
    h_n = hs[T % slots, :, :H].copy()
    cache = None
    if training:
        # hs keeps every state: the cache reads y from it (see rnn.py)
        cache = EngineCache("gru", lay, x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, gates_p=gates,
                            aux_p=aux, hs_p=hs, reset_after=reset_after,
                            has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
    return GRUResult(y, h_n, cache)


def _engine_backward(cache, dy, dh_n):
    dy, dh, out = start_backward(cache, dy, dh_n, "gru", "gru_backward")
    T, B, H = dy.shape
    lay = cache.layout
    carry = engine.padded(dh, lay)
    dhp = engine.zeros(carry.shape, carry.dtype)
    if T and B:
        dg = engine.gate_grads(T, B, lay, dh.dtype)
        dgh = engine.gate_grads(T, B, lay, dh.dtype)
        hs = cache.hs_p
        engine.backward_pass(_fk.gru_backward_steps,
                             (engine.pack_backward(cache.w_hh, lay),
                              engine.zeros(lay.Hq, dh.dtype), cache.gates_p, cache.aux_p, hs, dy,
                              dhp, carry, dg, dgh, engine.empty((B, lay.Hq), dh.dtype)), B, lay,
                             T, (dg, dgh, cache.x, hs[0], hs[1:], cache.w_ih, lay, out))
    else:
        dhp = carry
    return GRUGrads(out["dx"], dhp[:, :H].copy(), out["dw_ih"], out["dw_hh"],
                    *bias_grads(cache, out))


def _reset_before_layouts(H, dtype):
    # the input side in the three-gate layout; the recurrent weights in two
    # parts, W_hr/W_hz (one panel per unit block) and W_hn (by unit)
    return engine.layout(3, H, dtype), engine.layout(2, H, dtype), engine.layout(1, H, dtype)


def _engine_backward_reset_before(cache, dy, dh_n):
    dy, dh, out = start_backward(cache, dy, dh_n, "gru", "gru_backward")
    T, B, H = dy.shape
    dtype = dh.dtype
    lay, lay_rz, lay_n = _reset_before_layouts(H, dtype)
    Hp = lay.Hp
    dhp = engine.padded(dh, lay)
    if T and B:
        w_hh, w_ih = cache.w_hh, cache.w_ih
        dN = engine.gate_grads(T, B, lay_n, dtype)      # (T, B, Hq)
        dRZ = engine.gate_grads(T, B, lay_rz, dtype)    # (T, B, 2Hp)
        # the weight gradients of r, z (their rows multiply h_{t−1}) and of n
        # (its recurrent rows multiply r ⊙ h_{t−1}), each in its own layout
        # (the states and r ⊙ h are read in place, rows Hp apart)
        hs, rh = cache.hs_p, cache.aux_p
        engine.backward_pass(_fbk.gru_reset_before_backward_steps,
                             (engine.pack_backward(w_hh[:2 * H], lay_rz),
                              engine.pack_backward(w_hh[2 * H:], lay_n),
                              engine.zeros(2 * Hp, dtype), cache.gates_p, cache.aux_p,
                              cache.hs_p, dy, dhp, engine.empty((B, Hp), dtype), dN, dRZ,
                              engine.empty((B, lay.Hq), dtype)), B, lay, T,
                             (dRZ, dRZ, cache.x, hs[0], hs[1:], w_ih[:2 * H], lay_rz,
                              _rows(out, slice(0, 2 * H))),
                             (dN, dN, cache.x, rh[0], rh[1:], w_ih[2 * H:], lay_n,
                              _rows(out, slice(2 * H, 3 * H))))
    return GRUGrads(out["dx"], dhp[:, :H].copy(), out["dw_ih"], out["dw_hh"],
                    *bias_grads(cache, out))


def _rows(out, rows):
    # the gradient arrays restricted to some gate rows (views: adding into
    # them adds into out); dx is shared
    return {"dx": out["dx"], **{k: out[k][rows] for k in ("dw_ih", "dw_hh", "db_ih", "db_hh")}}

"""LSTM forward and backward over a whole sequence (numpy arrays, CPU)."""
from collections import namedtuple

import numpy as np

from ..kernels.cpu import fused_lstm as _fk
from ..kernels.cpu import fused_lstm_proj as _fpk
from . import buffers, device, engine
from .checks import (EngineCache, bias_grads, bias_or_zeros, check_bool,
                     check_projected_weights, check_weights, grad_input, start_backward,
                     state)

LSTMResult = namedtuple("LSTMResult", "y h_n c_n cache")
LSTMGrads = namedtuple("LSTMGrads", "dx dh0 dc0 dw_ih dw_hh db_ih db_hh")
#: What :func:`lstm_backward` returns for a forward pass with a projection
#: ``w_hr``: :class:`LSTMGrads`'s seven fields and ``dw_hr`` last.
LSTMProjGrads = namedtuple("LSTMProjGrads", "dx dh0 dc0 dw_ih dw_hh db_ih db_hh dw_hr")


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, *, w_hr=None,
                 training=False, check_finite=True):
    """Run an LSTM layer over a whole sequence.

    Gates are stacked in the order i, f, g, o (PyTorch's layout); the
    equations are in docs/math.md. With a projection ``w_hr`` (PyTorch's
    ``proj_size`` P), the cell computes m_t = o_t ⊙ tanh(c_t) and the
    hidden state is h_t = w_hr m_t, of size P; h_t is what the next step's
    gates and ``y`` see.

    Parameters
    ----------
    x : ndarray, shape (T, B, I)
        Input, time-major, float32 or float64; its dtype is the dtype of
        the work and of every output.
    w_ih : ndarray, shape (4H, I)
    w_hh : ndarray, shape (4H, H), or (4H, P) with ``w_hr``
    b_ih, b_hh : ndarray, shape (4H,), optional
        Biases; None means zeros.
    h0, c0 : ndarray, shape (B, H), optional
        Initial hidden and cell states; None means zeros. With ``w_hr``,
        h0 is (B, P) and c0 (B, H).
    w_hr : ndarray, shape (P, H), optional
        Projection of the hidden state (PyTorch's ``weight_hr_l0``), no
        bias, 0 < P < H. None: no projection. Not supported on the GPU.
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
        y is empty and the final states equal the initial ones. With
        ``w_hr``, y is (T, B, P) and h_n (B, P); c_n stays (B, H).

    Raises
    ------
    TypeError
        Non-float arrays, or arrays of different float dtypes.
    ValueError
        A shape that does not fit (including a ``w_hr`` with P ≥ H), or
        NaN/Inf with ``check_finite``.
    NotImplementedError
        ``w_hr`` with GPU arrays.

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

    With a projection to P = 2:

    >>> w_hr, w_hh2 = rng.standard_normal((2, H)), rng.standard_normal((4 * H, 2))
    >>> y, h_n, c_n, _ = lstm_forward(x, w_ih, w_hh2, w_hr=w_hr)
    >>> y.shape, h_n.shape, c_n.shape
    ((5, 2, 2), (2, 2), (2, 4))
    """
    training = check_bool("training", training)
    check_finite = check_bool("check_finite", check_finite)
    if device.on_device(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0, c0=c0,
                        w_hr=w_hr):
        if w_hr is not None:
            raise NotImplementedError("lstm_forward: the projection w_hr (proj_size) is not "
                                      "supported on the GPU yet; pass host (numpy) arrays "
                                      "to run it on the CPU")
        return LSTMResult(*device.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, training,
                                               check_finite))
    if w_hr is None:
        x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = check_weights(
            x, w_ih, w_hh, b_ih, b_hh, 4, "LSTM", check_finite)
        P = H
    else:
        x, w_ih, w_hh, b_ih, b_hh, w_hr, (T, B, I, H, P) = check_projected_weights(
            x, w_ih, w_hh, b_ih, b_hh, w_hr, check_finite)
    dtype = x.dtype
    h0 = state("h0", h0, B, P, dtype, check_finite)
    c0 = state("c0", c0, B, H, dtype, check_finite)
    if w_hr is None:
        return _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, training)
    return _projected_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, training)


def lstm_backward(cache, dy=None, dh_n=None, dc_n=None):
    """Backpropagate through time for :func:`lstm_forward`.

    Parameters
    ----------
    cache : object
        The cache of ``lstm_forward(..., training=True)``.
    dy : ndarray, shape (T, B, H), optional
        Gradient of the loss with respect to y; None means zeros. (T, B, P)
        after a forward pass with a projection ``w_hr``.
    dh_n, dc_n : ndarray, shape (B, H), optional
        Gradients with respect to the final states (what truncated BPTT
        carries in from the next chunk); None means zeros. With ``w_hr``,
        dh_n is (B, P).

    Returns
    -------
    LSTMGrads or LSTMProjGrads
        ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)``, fresh arrays in the
        dtype of the forward pass. ``dh0``/``dc0`` are returned even when the
        forward pass used the implicit zero state; a bias gradient is None
        when that bias was None. After a forward pass with ``w_hr`` the
        result is an ``LSTMProjGrads``: the same seven fields and ``dw_hr``
        (P, H) last, so unpack eight values there.

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
    >>> w_hr = rng.standard_normal((2, 4))
    >>> y, h_n, c_n, cache = lstm_forward(x, w_ih, w_hh[:, :2], w_hr=w_hr, training=True)
    >>> g = lstm_backward(cache, dy=np.ones_like(y))
    >>> type(g).__name__, g.dw_hr.shape, g.dh0.shape, g.dc0.shape
    ('LSTMProjGrads', (2, 4), (2, 2), (2, 4))
    """
    if device.is_device_cache(cache):
        return LSTMGrads(*device.lstm_backward(cache, dy, dh_n, dc_n))
    if getattr(cache, "w_hr", None) is not None:
        return _projected_backward(cache, dy, dh_n, dc_n)
    return _engine_backward(cache, dy, dh_n, dc_n)


def _engine_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, training):
    T, B, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    lay = engine.layout(4, H, dtype)
    # y is a plain array, not from the engine's pool: pooled (64-byte aligned),
    # the B = 1 LSTM forward (T = 1000, H = 32) took 5-7% longer, float32 and
    # float64, in one process against y from np.empty; T = 10 000 fwd+bwd
    # was level
    y = np.empty((T, B, H), dtype)
    slots = T + 1 if training else 2
    hs, cs = engine.padded_states(slots, B, lay, dtype, h0, c0)
    gates = engine.empty((T if training else 1, B, lay.C), dtype)
    if T and B:
        bias = bias_or_zeros(b_ih, 4 * H, dtype) + bias_or_zeros(b_hh, 4 * H, dtype)
        Tc = engine.chunk_steps(T, B, lay)
        engine.run(_fk.lstm_forward_steps,
                   (x, engine.pack_rows(w_ih, lay.cols, I), engine.pack_bias(bias, lay.cols),
                    engine.pack_rows(w_hh, lay.cols, H), engine.zeros(lay.C, dtype), hs, cs,
                    engine.empty((Tc, B, lay.C), dtype), engine.empty((B, lay.C), dtype), gates,
                    y, Tc,
                    training), B, lay, T)
    h_n = hs[T % slots, :, :H].copy()
    c_n = cs[T % slots, :, :H].copy()
    cache = None
    if training:
        # hs keeps every state: the cache reads y from it (see rnn.py)
        cache = EngineCache("lstm", lay, x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, c0=c0, hs_p=hs,
                            gates_p=gates, cs_p=cs, w_hr=None, has_b_ih=b_ih is not None,
                            has_b_hh=b_hh is not None)
    return LSTMResult(y, h_n, c_n, cache)


def _engine_backward(cache, dy, dh_n, dc_n):
    dy, dh, out = start_backward(cache, dy, dh_n, "lstm", "lstm_backward")
    T, B, H = dy.shape
    lay = cache.layout
    dc = grad_input("dc_n", dc_n, (B, H), dh.dtype)
    dhp, dcp = engine.padded(dh, lay), engine.padded(dc, lay)
    if T and B:
        dg = engine.gate_grads(T, B, lay, dh.dtype)
        hs = cache.hs_p
        engine.backward_pass(_fk.lstm_backward_steps,
                             (engine.pack_backward(cache.w_hh, lay),
                              engine.zeros(lay.Hq, dh.dtype), cache.gates_p, cache.cs_p, dy, dhp,
                              dcp, dg, engine.empty((B, lay.Hq), dh.dtype)), B, lay, T,
                             (dg, dg, cache.x, hs[0], hs[1:], cache.w_ih, lay, out))
    return LSTMGrads(out["dx"], dhp[:, :H].copy(), dcp[:, :H].copy(), out["dw_ih"],
                     out["dw_hh"], *bias_grads(cache, out))


def _projected_forward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, training):
    # the engine's LSTM pass with a second product per step, h_t = w_hr m_t
    # (kernels/cpu/fused_lstm_proj.py), split as the plain LSTM's is
    T, B, I = x.shape
    P, H = w_hr.shape
    dtype = x.dtype
    lay = engine.layout(4, H, dtype)
    # h_t is the output of a packed product: whole panels of columns
    hlay = engine.layout(1, P, dtype)
    y = np.empty((T, B, P), dtype)
    slots = T + 1 if training else 2
    hs, = engine.padded_states(slots, B, hlay, dtype, h0, width=hlay.C)
    cs, = engine.padded_states(slots, B, lay, dtype, c0)
    ms = engine.empty((T if training else 1, B, lay.Hp), dtype)
    gates = engine.empty((T if training else 1, B, lay.C), dtype)
    if T and B:
        bias = bias_or_zeros(b_ih, 4 * H, dtype) + bias_or_zeros(b_hh, 4 * H, dtype)
        Tc = engine.chunk_steps(T, B, lay)
        engine.run(_fpk.lstm_proj_forward_steps,
                   (x, engine.pack_rows(w_ih, lay.cols, I), engine.pack_bias(bias, lay.cols),
                    engine.pack_rows(w_hh, lay.cols, P), engine.pack_rows(w_hr, hlay.cols, H),
                    engine.zeros(lay.C, dtype), hs, cs, ms, engine.empty((Tc, B, lay.C), dtype),
                    engine.empty((B, lay.C), dtype), gates, y, Tc, training), B, lay, T)
    h_n = hs[T % slots, :, :P].copy()
    c_n = cs[T % slots, :, :H].copy()
    cache = None
    if training:
        cache = EngineCache("lstm", lay, x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, c0=c0, hs_p=hs,
                            gates_p=gates, cs_p=cs, ms_p=ms, w_hr=w_hr,
                            has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
    return LSTMResult(y, h_n, c_n, cache)


def _projected_backward(cache, dy, dh_n, dc_n):
    dy, dh, out = start_backward(cache, dy, dh_n, "lstm", "lstm_backward")
    T, B, P = dy.shape
    lay = cache.layout
    H = lay.H
    dtype = dh.dtype
    hlay = engine.layout(1, P, dtype)
    Pq = hlay.C
    dc = grad_input("dc_n", dc_n, (B, H), dtype)
    dhp, dcp = engine.padded(dh, hlay, width=Pq), engine.padded(dc, lay)
    w_hr = cache.w_hr
    out["dw_hr"] = buffers.zeros(w_hr.shape, dtype)
    if T and B:
        dg = engine.gate_grads(T, B, lay, dtype)
        dyh = engine.empty((T, B, Pq), dtype)
        hs, ms = cache.hs_p, cache.ms_p
        # w_hr's gradient Σ_t dyh_tᵀ m_t is the weight gradient of a one-gate
        # "cell" whose gate gradients are dyh, whose h_{t−1} is m_t (h0 = m_0,
        # then m_1 …) and which has no inputs
        proj = {"dx": np.empty((T, B, 0), dtype), "dw_ih": np.empty((P, 0), dtype),
                "dw_hh": out["dw_hr"], "db_ih": np.zeros(P, dtype), "db_hh": np.zeros(P, dtype)}
        engine.backward_pass(
            _fpk.lstm_proj_backward_steps,
            (engine.pack_transposed_rows(cache.w_hh, lay.cols, hlay.units),
             engine.pack_transposed_rows(w_hr, hlay.cols[:P], lay.units),
             engine.zeros(max(Pq, lay.Hq), dtype), cache.gates_p, cache.cs_p, dy, dhp, dcp, dg,
             dyh, engine.empty((B, Pq), dtype), engine.empty((B, lay.Hq), dtype)),
            B, lay, T,
            (dg, dg, cache.x, hs[0], hs[1:], cache.w_ih, lay, out),
            (dyh, dyh, proj["dx"], ms[0], ms[1:], proj["dw_ih"], hlay, proj))
    return LSTMProjGrads(out["dx"], dhp[:, :P].copy(), dcp[:, :H].copy(), out["dw_ih"],
                         out["dw_hh"], *bias_grads(cache, out), out["dw_hr"])

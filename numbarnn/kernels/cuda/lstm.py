"""LSTM forward and backward through time on the GPU (docs/math.md).

The per-pair steps that ``steps.py``'s time loops run, one launch per pass
(``forward_pair``/``backward_pair`` for the chunked loop, the ``fused_*``
hooks for the fused one). A pair is (batch row b, unit j); its thread forms
the four gate sums of rows j, H + j, 2H + j, 3H + j, so the cell update
needs nothing from other threads. Buffers, all owned by the caller:

``gates`` (T, B, 4H)
    the chunked loop: pre-activations in (from the input-projection GEMM);
    both: activations (i, f, g, o) out, the training cache.
``cs`` (T, B, H)
    cell states.
``w_hhT`` (H, 4H)
    w_hhᵀ, so that the threads of a warp (neighbouring units) read
    neighbouring addresses; the backward pass reads w_hh (4H, H) itself.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import lstm_cell, lstm_cell_backward, typed
from .steps import (backward_kernel, dot, forward_kernel, fused_backward_kernel,
                    fused_forward_kernel, lane_sum, put)


@cuda.jit(device=True)
def forward_pair(t, b, j, valid, lane, lanes, buf, off, y, arrs):
    gates, w_hhT, c0, cs = arrs
    H = y.shape[2]
    zero = typed(w_hhT[0, 0], 0.0)
    ai, af, ag, ao = zero, zero, zero, zero
    if valid:
        ai = dot(buf, off, w_hhT, j, H, lane, lanes)
        af = dot(buf, off, w_hhT, H + j, H, lane, lanes)
        ag = dot(buf, off, w_hhT, 2 * H + j, H, lane, lanes)
        ao = dot(buf, off, w_hhT, 3 * H + j, H, lane, lanes)
    ai = lane_sum(ai, lanes)
    af = lane_sum(af, lanes)
    ag = lane_sum(ag, lanes)
    ao = lane_sum(ao, lanes)
    h = zero
    if valid and lane == 0:
        g = gates[t, b]
        c_prev = c0[b, j] if t == 0 else cs[t - 1, b, j]
        i, f, n, o, c, h = lstm_cell(g[j] + ai, g[H + j] + af, g[2 * H + j] + ag,
                                     g[3 * H + j] + ao, c_prev)
        put(g, j, H, (i, f, n, o))
        cs[t, b, j] = c
        y[t, b, j] = h
    return h


@cuda.jit(device=True)
def backward_pair(t, s, b, j, valid, lane, lanes, buf, off, dh, arrs):
    w_hh, c0, gates, cs, dy, dc, dgates = arrs
    H = dh.shape[1]
    zero = typed(w_hh[0, 0], 0.0)
    rec = zero
    if valid and s > 0:
        rec = dot(buf, off, w_hh, j, 4 * H, lane, lanes)
    rec = lane_sum(rec, lanes)
    dai, daf, dag, dao = zero, zero, zero, zero
    if valid and lane == 0:
        if t < 0:
            dh[b, j] = rec
        else:
            g = gates[t, b]
            c_prev = c0[b, j] if t == 0 else cs[t - 1, b, j]
            d = dy[t, b, j] + (rec if s > 0 else dh[b, j])
            (dai, daf, dag, dao), dc[b, j] = _backward_cell(
                dgates[t, b], j, H, g[j], g[H + j], g[2 * H + j], g[3 * H + j], cs[t, b, j],
                c_prev, d, dc[b, j])
    return dai, daf, dag, dao


@cuda.jit(device=True)
def _backward_cell(dg, j, H, i, f, g, o, c, c_prev, d, dc):
    """The cell's backward step; writes unit j's four gate gradients into dg."""
    dai, daf, dag, dao, dc = lstm_cell_backward(i, f, g, o, c, c_prev, d, dc)
    put(dg, j, H, (dai, daf, dag, dao))
    return (dai, daf, dag, dao), dc


def lstm_forward(dtype, layout):
    """The forward kernel: ``k(y, h0, (gates, w_hhT, c0, cs), *plan.args())``."""
    return forward_kernel(forward_pair, dtype, layout)


def lstm_forward_fused(dtype, layout, kh=0, kx=0, xpt=1):
    """The fused forward kernel (``steps.fused_forward_kernel``); its ``arrs``
    are (b_ih, b_hh, has_b_ih, has_b_hh, c0, has_c0, gates, cs, c_n, training)."""
    return fused_forward_kernel(FUSED_FORWARD, 4, dtype, layout, kh, kx, xpt)


def lstm_backward_fused(dtype, layout, kb=0):
    """The fused BPTT kernel; ``arrs`` are (c0, has_c0, gates, cs, dy, dh_n,
    has_dh_n, dc_n, has_dc_n, dgates, dc0)."""
    return fused_backward_kernel(FUSED_BACKWARD, 4, dtype, layout, kb)


def lstm_backward(dtype, layout):
    """The BPTT kernel: ``k(dgates, dh, (w_hh, c0, gates, cs, dy, dc, dgates), *plan.args())``.

    ``dh`` and ``dc`` (B, H) hold dh_n and dc_n on entry, dh0 and dc0 on
    return; ``dgates`` (T, B, 4H) receives the pre-activation gradients.
    """
    return backward_kernel(backward_pair, dtype, layout, 4)


# -- hooks of the fused loops (steps.fused_*): state in registers --------------

@cuda.jit(device=True)
def fused_forward_init(b, j, H, valid, arrs, zero):
    """(c_{t−1}, the four gate biases) of pair (b, j)."""
    b_ih, b_hh, has_b_ih, has_b_hh, c0, has_c0, gates, cs, c_n, training = arrs
    c, q0, q1, q2, q3 = zero, zero, zero, zero, zero
    if valid:
        if has_c0:
            c = c0[b, j]
        if has_b_ih:
            q0, q1, q2, q3 = b_ih[j], b_ih[H + j], b_ih[2 * H + j], b_ih[3 * H + j]
        if has_b_hh:
            q0 += b_hh[j]
            q1 += b_hh[H + j]
            q2 += b_hh[2 * H + j]
            q3 += b_hh[3 * H + j]
    return c, q0, q1, q2, q3


@cuda.jit(device=True)
def fused_forward_step(t, b, j, hs, xs, st, h_prev, arrs):
    gates, cs, c_n, training = arrs[6], arrs[7], arrs[8], arrs[9]
    H = c_n.shape[1]
    c, q0, q1, q2, q3 = st
    i, f, n, o, c, h = lstm_cell(xs[0] + q0 + hs[0], xs[1] + q1 + hs[1], xs[2] + q2 + hs[2],
                                 xs[3] + q3 + hs[3], c)
    if training:
        put(gates[t, b], j, H, (i, f, n, o))
        cs[t, b, j] = c
    return h, (c, q0, q1, q2, q3)


@cuda.jit(device=True)
def fused_forward_final(b, j, st, arrs):
    arrs[8][b, j] = st[0]


@cuda.jit(device=True)
def fused_backward_load(t, b, j, valid, arrs, zero):
    """(dy, i, f, g, o, c_t, c_{t−1}) of step t."""
    c0, has_c0, gates, cs, dy = arrs[0], arrs[1], arrs[2], arrs[3], arrs[4]
    H = dy.shape[2]
    if not valid:
        return zero, zero, zero, zero, zero, zero, zero
    g = gates[t, b]
    cp = zero
    if t > 0:
        cp = cs[t - 1, b, j]
    elif has_c0:
        cp = c0[b, j]
    return dy[t, b, j], g[j], g[H + j], g[2 * H + j], g[3 * H + j], cs[t, b, j], cp


@cuda.jit(device=True)
def fused_backward_init(b, j, H, valid, arrs, zero):
    """(dc, the dh_n still to add at the last step)."""
    dh_n, has_dh_n, dc_n, has_dc_n = arrs[5], arrs[6], arrs[7], arrs[8]
    dc, dhn = zero, zero
    if valid and has_dc_n:
        dc = dc_n[b, j]
    if valid and has_dh_n:
        dhn = dh_n[b, j]
    return dc, dhn


@cuda.jit(device=True)
def fused_backward_step(t, b, j, rec, vals, st, arrs):
    dgates = arrs[9]
    H = dgates.shape[2] // 4
    dy, i, f, g, o, c, cp = vals
    dc, dhn = st
    out, dc = _backward_cell(dgates[t, b], j, H, i, f, g, o, c, cp, dy + rec + dhn, dc)
    return out, (dc, typed(dc, 0.0))


@cuda.jit(device=True)
def fused_backward_final(b, j, rec, st, dh, arrs):
    dh[b, j] = rec
    arrs[10][b, j] = st[0]


FUSED_FORWARD = (fused_forward_init, fused_forward_step, fused_forward_final)
FUSED_BACKWARD = (fused_backward_load, fused_backward_init, fused_backward_step,
                  fused_backward_final)

"""Elman RNN forward and backward through time on the GPU (docs/math.md).

The per-pair steps that ``steps.py``'s time loops run, one launch per pass:
``forward_pair``/``backward_pair`` for the chunked loop, where ``gates``
(T, B, H) holds the pre-activations w_ih x + b_ih + b_hh from a GEMM and
``w_hhT`` (H, H) is w_hhᵀ; the ``fused_*`` hooks for the fused loop, which
forms x's projection itself. ``act`` is the activation code of ``cellmath``.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import activation, activation_grad, typed
from .steps import (backward_kernel, dot, forward_kernel, fused_backward_kernel,
                    fused_forward_kernel, lane_sum)


@cuda.jit(device=True)
def forward_pair(t, b, j, valid, lane, lanes, buf, off, y, arrs):
    gates, w_hhT, act = arrs
    H = y.shape[2]
    a = typed(w_hhT[0, 0], 0.0)
    if valid:
        a = dot(buf, off, w_hhT, j, H, lane, lanes)
    a = lane_sum(a, lanes)
    h = a
    if valid and lane == 0:
        h = activation(gates[t, b, j] + a, act)
        y[t, b, j] = h
    return h


@cuda.jit(device=True)
def backward_pair(t, s, b, j, valid, lane, lanes, buf, off, dh, arrs):
    w_hh, y, dy, dgates, act = arrs
    H = dh.shape[1]
    rec = typed(w_hh[0, 0], 0.0)
    if valid and s > 0:
        rec = dot(buf, off, w_hh, j, H, lane, lanes)
    rec = lane_sum(rec, lanes)
    g = rec
    if valid and lane == 0:
        if t < 0:
            dh[b, j] = rec
        else:
            g = (dy[t, b, j] + (rec if s > 0 else dh[b, j])) * activation_grad(y[t, b, j], act)
            dgates[t, b, j] = g
    return (g,)


def rnn_forward(dtype, layout):
    """The forward kernel: ``k(y, h0, (gates, w_hhT, act), *plan.args())``."""
    return forward_kernel(forward_pair, dtype, layout)


def rnn_backward(dtype, layout):
    """The BPTT kernel: ``k(dgates, dh, (w_hh, y, dy, dgates, act), *plan.args())``.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return.
    """
    return backward_kernel(backward_pair, dtype, layout, 1)


# -- hooks of the fused loops (steps.fused_*): state in registers --------------

@cuda.jit(device=True)
def fused_forward_init(b, j, H, valid, arrs, zero):
    """The pair's bias, b_ih + b_hh."""
    b_ih, b_hh, has_b_ih, has_b_hh, act = arrs
    q = zero
    if valid and has_b_ih:
        q += b_ih[j]
    if valid and has_b_hh:
        q += b_hh[j]
    return q


@cuda.jit(device=True)
def fused_forward_step(t, b, j, hs, xs, st, h_prev, arrs):
    return activation(xs[0] + st + hs[0], arrs[4]), st


@cuda.jit(device=True)
def fused_forward_final(b, j, st, arrs):
    pass


@cuda.jit(device=True)
def fused_backward_load(t, b, j, valid, arrs, zero):
    """(dy, h_t) of step t."""
    y, dy = arrs[0], arrs[1]
    if not valid:
        return zero, zero
    return dy[t, b, j], y[t, b, j]


@cuda.jit(device=True)
def fused_backward_init(b, j, H, valid, arrs, zero):
    """The dh_n still to add at the last step."""
    dh_n, has_dh_n = arrs[2], arrs[3]
    return dh_n[b, j] if valid and has_dh_n else zero


@cuda.jit(device=True)
def fused_backward_step(t, b, j, rec, vals, st, arrs):
    dy, h = vals
    g = (dy + rec + st) * activation_grad(h, arrs[5])
    arrs[4][t, b, j] = g
    return (g,), typed(g, 0.0)


@cuda.jit(device=True)
def fused_backward_final(b, j, rec, st, dh, arrs):
    dh[b, j] = rec


FUSED_FORWARD = (fused_forward_init, fused_forward_step, fused_forward_final)
FUSED_BACKWARD = (fused_backward_load, fused_backward_init, fused_backward_step,
                  fused_backward_final)


def rnn_forward_fused(dtype, layout, kh=0, kx=0, xpt=1):
    """The fused forward kernel; ``arrs`` are (b_ih, b_hh, has_b_ih, has_b_hh, act)."""
    return fused_forward_kernel(FUSED_FORWARD, 1, dtype, layout, kh, kx, xpt)


def rnn_backward_fused(dtype, layout, kb=0):
    """The fused BPTT kernel; ``arrs`` are (y, dy, dh_n, has_dh_n, dgates, act)."""
    return fused_backward_kernel(FUSED_BACKWARD, 1, dtype, layout, kb)

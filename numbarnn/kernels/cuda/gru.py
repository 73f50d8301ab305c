"""GRU forward and backward through time on the GPU (docs/math.md).

Buffers owned by the caller, (T, B, ·): ``gates`` (3H: pre-activations in,
r, z, n out) and ``aux`` (H: r ⊙ h_{t−1} for reset-before, w_hn h_{t−1} +
b_hn for reset-after), as on the CPU. ``w_hhT`` (H, 3H) is w_hhᵀ, read
coalesced by the forward pass.

``reset_after=True`` (cuDNN's form) runs as per-pair steps in ``steps.py``'s
drivers, like the other cells: a thread owns the r, z and n rows of its
unit. ``reset_after=False`` needs every unit's r before the candidate's
product w_hn (r ⊙ h), a second exchange per step; it runs in
:func:`sequence_forward` / :func:`sequence_backward`, one block per
sequence, threads sharing the units, ``syncthreads`` between the phases.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh, typed
from .steps import (backward_kernel, dot, forward_kernel, fused_backward_kernel,
                    fused_forward_kernel, lane_sum, put)


@cuda.jit(device=True)
def forward_pair(t, b, j, valid, lane, lanes, buf, off, y, arrs):
    """Reset-after: r, z from w_ih x + w_hh h + biases, n = tanh(x_n + r ⊙ hn)."""
    gates, w_hhT, b_hh, aux = arrs
    H = y.shape[2]
    zero = typed(w_hhT[0, 0], 0.0)
    hr, hz, hn = zero, zero, zero
    if valid:
        hr = dot(buf, off, w_hhT, j, H, lane, lanes)
        hz = dot(buf, off, w_hhT, H + j, H, lane, lanes)
        hn = dot(buf, off, w_hhT, 2 * H + j, H, lane, lanes)
    hr = lane_sum(hr, lanes)
    hz = lane_sum(hz, lanes)
    hn = lane_sum(hn, lanes)
    h = zero
    if valid and lane == 0:
        g = gates[t, b]
        hr += b_hh[j]
        hz += b_hh[H + j]
        hn += b_hh[2 * H + j]
        r = sigmoid(g[j] + hr)
        z = sigmoid(g[H + j] + hz)
        n = tanh(g[2 * H + j] + r * hn)
        put(g, j, H, (r, z, n))
        aux[t, b, j] = hn
        h = gru_update(z, n, buf[off + j])
        y[t, b, j] = h
    return h


@cuda.jit(device=True)
def backward_pair(t, s, b, j, valid, lane, lanes, buf, off, dh, arrs):
    """Reset-after; ``dp`` (B, H) carries (1 − z) ⊙ dh, the direct path, to the next phase."""
    w_hh, h0, y, gates, aux, dy, dp, dgates, dgh = arrs
    H = dh.shape[1]
    zero = typed(w_hh[0, 0], 0.0)
    rec = zero
    if valid and s > 0:
        rec = dot(buf, off, w_hh, j, 3 * H, lane, lanes)
    rec = lane_sum(rec, lanes)
    dar, daz, dnr = zero, zero, zero
    if valid and lane == 0:
        if t < 0:
            dh[b, j] = rec + dp[b, j]
        else:
            g = gates[t, b]
            h_prev = h0[b, j] if t == 0 else y[t - 1, b, j]
            d = dy[t, b, j] + (rec + dp[b, j] if s > 0 else dh[b, j])
            (dar, daz, dnr), dp[b, j] = _backward_cell(
                dgates[t, b], dgh[t, b], j, H, g[j], g[H + j], g[2 * H + j], aux[t, b, j],
                h_prev, d)
    return dar, daz, dnr


@cuda.jit(device=True)
def _backward_cell(dg, dr, j, H, r, z, n, hn, h_prev, d):
    """Reset-after backward step of unit j: the input-side gate gradients into
    dg, the recurrent side's into dr; returns the latter and (1 − z) ⊙ d."""
    dan, daz, dhp = gru_update_backward(z, n, h_prev, d)
    dar = dan * hn * sigmoid_grad(r)
    put(dg, j, H, (dar, daz, dan))
    put(dr, j, H, (dar, daz, dan * r))
    return (dar, daz, dan * r), dhp


def gru_forward(dtype, layout):
    """Reset-after forward: ``k(y, h0, (gates, w_hhT, b_hh, aux), *plan.args())``.

    ``gates`` holds w_ih x + b_ih only: b_hh belongs inside r ⊙ (w_hn h + b_hn).
    """
    return forward_kernel(forward_pair, dtype, layout)


def gru_backward(dtype, layout):
    """Reset-after BPTT: ``k(dgh, dh, (w_hh, h0, y, gates, aux, dy, dp, dgates, dgh), …)``.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return; ``dp`` (B, H) is
    scratch; ``dgates`` receives the gradient of the input-side
    pre-activations, ``dgh`` that of the recurrent side, w_hh h + b_hh.
    """
    return backward_kernel(backward_pair, dtype, layout, 3)


@cuda.jit
def sequence_forward(gates, reset_after, w_hhT, b_hh, h0, y, aux):
    """Every step for sequence ``blockIdx.x``, writing y and aux.

    For reset-after, ``gates`` holds w_ih x + b_ih only: b_hh belongs inside
    r ⊙ (w_hn h + b_hn).
    """
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    for t in range(T):
        h_prev = h0[b] if t == 0 else y[t - 1, b]
        g, a = gates[t, b], aux[t, b]
        if reset_after:
            for j in range(tid, H, nt):
                hr, hz, hn = b_hh[j], b_hh[H + j], b_hh[2 * H + j]
                for k in range(H):
                    hk = h_prev[k]
                    w = w_hhT[k]
                    hr += hk * w[j]
                    hz += hk * w[H + j]
                    hn += hk * w[2 * H + j]
                r = sigmoid(g[j] + hr)
                z = sigmoid(g[H + j] + hz)
                n = tanh(g[2 * H + j] + r * hn)
                g[j] = r
                g[H + j] = z
                g[2 * H + j] = n
                a[j] = hn
                y[t, b, j] = gru_update(z, n, h_prev[j])
        else:
            for j in range(tid, H, nt):
                ar, az = g[j], g[H + j]
                for k in range(H):
                    hk = h_prev[k]
                    ar += hk * w_hhT[k, j]
                    az += hk * w_hhT[k, H + j]
                r = sigmoid(ar)
                g[j] = r
                g[H + j] = sigmoid(az)
                a[j] = r * h_prev[j]
            cuda.syncthreads()  # the candidate reads every unit's r ⊙ h
            for j in range(tid, H, nt):
                an = g[2 * H + j]
                for k in range(H):
                    an += a[k] * w_hhT[k, 2 * H + j]
                n = tanh(an)
                g[2 * H + j] = n
                y[t, b, j] = gru_update(g[H + j], n, h_prev[j])
        cuda.syncthreads()


@cuda.jit
def sequence_backward(reset_after, w_hh, h0, y, gates, aux, dy, dh, dh_prev, dgates, dgh):
    """The time loop of backpropagation for sequence ``blockIdx.x``.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return; ``dh_prev`` (B, H)
    is scratch. ``dgates`` (T, B, 3H) receives the gradient of the
    input-side pre-activations and, for reset-after, ``dgh`` that of the
    recurrent side, w_hh h + b_hh (for reset-before pass ``dgates`` again).
    """
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    d, dp = dh[b], dh_prev[b]
    for t in range(T - 1, -1, -1):
        h_prev = h0[b] if t == 0 else y[t - 1, b]
        g, a, dg = gates[t, b], aux[t, b], dgates[t, b]
        if reset_after:
            dr = dgh[t, b]
            for j in range(tid, H, nt):
                r = g[j]
                dan, daz, dhp = gru_update_backward(g[H + j], g[2 * H + j], h_prev[j],
                                                    d[j] + dy[t, b, j])
                dar = dan * a[j] * sigmoid_grad(r)
                dg[j] = dar
                dg[H + j] = daz
                dg[2 * H + j] = dan
                dr[j] = dar
                dr[H + j] = daz
                dr[2 * H + j] = dan * r
                dp[j] = dhp
            cuda.syncthreads()
            rows = 3 * H
        else:
            dr = dg
            for j in range(tid, H, nt):
                dan, daz, dhp = gru_update_backward(g[H + j], g[2 * H + j], h_prev[j],
                                                    d[j] + dy[t, b, j])
                dg[H + j] = daz
                dg[2 * H + j] = dan
                dp[j] = dhp
            cuda.syncthreads()
            # through the candidate's product: d(r ⊙ h) = dan @ w_hn
            for k in range(tid, H, nt):
                drh = typed(dp[k], 0.0)
                for j in range(H):
                    drh += dg[2 * H + j] * w_hh[2 * H + j, k]
                r = g[k]
                dg[k] = drh * h_prev[k] * sigmoid_grad(r)
                dp[k] += drh * r
            cuda.syncthreads()
            rows = 2 * H
        # dh_{t−1} = the direct path + the recurrent rows' gradients @ w_hh
        for k in range(tid, H, nt):
            s = dp[k]
            for q in range(rows):
                s += dr[q] * w_hh[q, k]
            d[k] = s
        cuda.syncthreads()


# -- hooks of the fused loops (steps.fused_*), reset-after ----------------------

@cuda.jit(device=True)
def fused_forward_init(b, j, H, valid, arrs, zero):
    """(b_ir + b_hr, b_iz + b_hz, b_in, b_hn) of unit j."""
    b_ih, b_hh, has_b_ih, has_b_hh = arrs[0], arrs[1], arrs[2], arrs[3]
    qr, qz, qn, hn = zero, zero, zero, zero
    if valid and has_b_ih:
        qr, qz, qn = b_ih[j], b_ih[H + j], b_ih[2 * H + j]
    if valid and has_b_hh:
        qr += b_hh[j]
        qz += b_hh[H + j]
        hn = b_hh[2 * H + j]
    return qr, qz, qn, hn


@cuda.jit(device=True)
def fused_forward_step(t, b, j, hs, xs, st, h_prev, arrs):
    gates, aux, training = arrs[4], arrs[5], arrs[6]
    H = aux.shape[2]
    qr, qz, qn, bn = st
    hn = hs[2] + bn
    r = sigmoid(xs[0] + qr + hs[0])
    z = sigmoid(xs[1] + qz + hs[1])
    n = tanh(xs[2] + qn + r * hn)
    if training:
        put(gates[t, b], j, H, (r, z, n))
        aux[t, b, j] = hn
    return gru_update(z, n, h_prev), st


@cuda.jit(device=True)
def fused_forward_final(b, j, st, arrs):
    pass


@cuda.jit(device=True)
def fused_backward_load(t, b, j, valid, arrs, zero):
    """(dy, r, z, n, w_hn h + b_hn, h_{t−1}) of step t."""
    h0, has_h0, y, gates, aux, dy = arrs[0], arrs[1], arrs[2], arrs[3], arrs[4], arrs[5]
    H = y.shape[2]
    if not valid:
        return zero, zero, zero, zero, zero, zero
    g = gates[t, b]
    hp = zero
    if t > 0:
        hp = y[t - 1, b, j]
    elif has_h0:
        hp = h0[b, j]
    return dy[t, b, j], g[j], g[H + j], g[2 * H + j], aux[t, b, j], hp


@cuda.jit(device=True)
def fused_backward_init(b, j, H, valid, arrs, zero):
    """The direct path (1 − z) ⊙ dh into h_{t−1}; dh_n before the first step."""
    dh_n, has_dh_n = arrs[6], arrs[7]
    return dh_n[b, j] if valid and has_dh_n else zero


@cuda.jit(device=True)
def fused_backward_step(t, b, j, rec, vals, st, arrs):
    dgates, dgh = arrs[8], arrs[9]
    H = dgh.shape[2] // 3
    dy, r, z, n, hn, hp = vals
    return _backward_cell(dgates[t, b], dgh[t, b], j, H, r, z, n, hn, hp, dy + rec + st)


@cuda.jit(device=True)
def fused_backward_final(b, j, rec, st, dh, arrs):
    dh[b, j] = rec + st


FUSED_FORWARD = (fused_forward_init, fused_forward_step, fused_forward_final)
FUSED_BACKWARD = (fused_backward_load, fused_backward_init, fused_backward_step,
                  fused_backward_final)


def gru_forward_fused(dtype, layout, kh=0, kx=0, xpt=1):
    """Reset-after fused forward; ``arrs`` are (b_ih, b_hh, has_b_ih, has_b_hh,
    gates, aux, training)."""
    return fused_forward_kernel(FUSED_FORWARD, 3, dtype, layout, kh, kx, xpt)


def gru_backward_fused(dtype, layout, kb=0):
    """Reset-after fused BPTT; ``arrs`` are (h0, has_h0, y, gates, aux, dy, dh_n,
    has_dh_n, dgates, dgh)."""
    return fused_backward_kernel(FUSED_BACKWARD, 3, dtype, layout, kb)

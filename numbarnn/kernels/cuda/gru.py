"""GRU forward and backward through time on the GPU (DESIGN.md §1).

One kernel launch per pass, one block per sequence, threads sharing the
hidden units (see ``rnn.py``); a thread owns the r, z and n rows of its
units. ``reset_after=False`` (the default form) needs two phases per step,
because the candidate's product w_hn (r ⊙ h) needs every unit's r first;
``reset_after=True`` needs one. Buffers owned by the caller, (T, B, ·):
``gates`` (3H: pre-activations in, r, z, n out) and ``aux`` (H: r ⊙ h_{t−1}
for reset-before, w_hn h_{t−1} + b_hn for reset-after), as on the CPU.
``w_hhT`` (H, 3H) is w_hhᵀ, read coalesced by the forward pass.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh, typed


@cuda.jit
def gru_forward(gates, reset_after, w_hhT, b_hh, h0, y, aux):
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
def gru_backward(reset_after, w_hh, h0, y, gates, aux, dy, dh, dh_prev, dgates, dgh):
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

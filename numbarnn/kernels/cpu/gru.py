"""GRU forward and backward through time on the CPU (DESIGN.md §1).

Two forms share this file. ``reset_after=False`` (the default) applies the
reset gate before the recurrent product of the candidate, so each step
needs two products: h @ w_hh[:2H]ᵀ for r and z, then (r ⊙ h) @ w_hh[2H:]ᵀ.
``reset_after=True`` (cuDNN/PyTorch) needs one product, h @ w_hhᵀ + b_hh,
whose candidate block ``ghn`` is kept for the backward pass.

Buffers owned by the caller, (Tc, B, ·), indexed modulo Tc (every step when
training): ``gates`` (3H: pre-activations in, r, z, n out) and ``aux`` (H:
r ⊙ h_{t−1} for reset-before, w_hn h_{t−1} + b_hn for reset-after).
``gh`` (B, 3H) is per-step scratch for reset-after.
"""
from ..._jit import kernel
from .blas import gemm
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh
from .common import (column_sum, fill_bias, hidden_weight_grad, input_grads,
                     input_projection, matmul_acc, matmul_grad)


@kernel
def _rz_row(g, h_prev, rh, H):
    # gate blocks as slices: g[H + j] would carry a negative-index check per
    # element and the loop would not vectorise
    gr, gz = g[:H], g[H:2 * H]
    for j in range(H):
        r = sigmoid(gr[j])
        gr[j] = r
        gz[j] = sigmoid(gz[j])
        rh[j] = r * h_prev[j]


@kernel
def _n_row(g, h_prev, h, H):
    gz, gn = g[H:2 * H], g[2 * H:]
    for j in range(H):
        n = tanh(gn[j])
        gn[j] = n
        h[j] = gru_update(gz[j], n, h_prev[j])


@kernel
def _after_row(g, gh, h_prev, ghn, h, H):
    gr, gz, gn = g[:H], g[H:2 * H], g[2 * H:]
    hr, hz, hn = gh[:H], gh[H:2 * H], gh[2 * H:]
    for j in range(H):
        r = sigmoid(gr[j] + hr[j])
        z = sigmoid(gz[j] + hz[j])
        n = tanh(gn[j] + r * hn[j])
        gr[j] = r
        gz[j] = z
        gn[j] = n
        ghn[j] = hn[j]
        h[j] = gru_update(z, n, h_prev[j])


@kernel
def gru_forward(x, w_ih, w_hh, w_hhT, b_ih, b_hh, h0, reset_after, y, h_n, gates, aux, gh):
    """Run the GRU over x (T, B, I), writing y (T, B, H) and h_n (B, H)."""
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    Tc = gates.shape[0]
    for t0 in range(0, T, Tc):
        n = min(Tc, T - t0)
        # reset-after keeps b_hh out of the input side: b_hn sits inside r ⊙ (·).
        fill_bias(gates, b_ih, b_hh, n * B, not reset_after)
        input_projection(x, t0, n, w_ih, gates)
        for t in range(t0, t0 + n):
            h_prev = h0 if t == 0 else y[t - 1]
            g = gates[t - t0]
            a = aux[t % Tc]
            if reset_after:
                fill_bias(gh, b_hh, b_hh, B, False)
                matmul_acc(h_prev, w_hh, w_hhT, gh, 3 * H, 3 * H)
                for b in range(B):
                    _after_row(g[b], gh[b], h_prev[b], a[b], y[t, b], H)
            else:
                matmul_acc(h_prev, w_hh, w_hhT, g, 3 * H, 2 * H)
                for b in range(B):
                    _rz_row(g[b], h_prev[b], a[b], H)
                matmul_acc(a, w_hh[2 * H:], w_hhT[:, 2 * H:], g.reshape(-1)[2 * H:], 3 * H, H)
                for b in range(B):
                    _n_row(g[b], h_prev[b], y[t, b], H)
    if T > 0:
        h_n[:] = y[T - 1]


@kernel
def _update_row_backward(g, h_prev, dh, dy, dg, dh_prev, H):
    gz, gn = g[H:2 * H], g[2 * H:]
    dz, dn = dg[H:2 * H], dg[2 * H:]
    for j in range(H):
        dan, daz, dhp = gru_update_backward(gz[j], gn[j], h_prev[j], dh[j] + dy[j])
        dz[j] = daz
        dn[j] = dan
        dh_prev[j] = dhp


@kernel
def _reset_row_backward(g, h_prev, drh, dg, dh_prev, H):
    for j in range(H):
        r = g[j]
        dg[j] = drh[j] * h_prev[j] * sigmoid_grad(r)
        dh_prev[j] += drh[j] * r


@kernel
def _after_row_backward(g, ghn, h_prev, dh, dy, dg, dgh, dh_prev, H):
    gr, gz, gn = g[:H], g[H:2 * H], g[2 * H:]
    dr, dz, dn = dg[:H], dg[H:2 * H], dg[2 * H:]
    hr, hz, hn = dgh[:H], dgh[H:2 * H], dgh[2 * H:]
    for j in range(H):
        r = gr[j]
        dan, daz, dhp = gru_update_backward(gz[j], gn[j], h_prev[j], dh[j] + dy[j])
        dar = dan * ghn[j] * sigmoid_grad(r)
        dr[j] = dar
        dz[j] = daz
        dn[j] = dan
        hr[j] = dar
        hz[j] = daz
        hn[j] = dan * r
        dh_prev[j] = dhp


@kernel
def gru_backward(x, w_ih, w_hh, h0, y, reset_after, gates, aux, dy, dh, dh_prev, drh,
                 dgates, dgh, dx, dw_ih, dw_hh, db_ih, db_hh):
    """Backward through time; ``dh`` holds dh_n on entry and dh0 on return.

    Scratch: ``dh_prev``, ``drh`` (B, H), ``dgates`` (T, B, 3H) and, for
    reset-after, ``dgh`` (T, B, 3H), the gradient on the recurrent side.
    dx and the parameter gradients accumulate.
    """
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else y[t - 1]
        g = gates[t]
        if reset_after:
            for b in range(B):
                _after_row_backward(g[b], aux[t, b], h_prev[b], dh[b], dy[t, b], dgates[t, b],
                                    dgh[t, b], dh_prev[b], H)
            matmul_grad(dgh[t], 3 * H, w_hh, 3 * H, dh_prev, 1.0)
        else:
            for b in range(B):
                _update_row_backward(g[b], h_prev[b], dh[b], dy[t, b], dgates[t, b],
                                     dh_prev[b], H)
            matmul_grad(dgates[t].reshape(-1)[2 * H:], 3 * H, w_hh[2 * H:], H, drh, 0.0)
            for b in range(B):
                _reset_row_backward(g[b], h_prev[b], drh[b], dgates[t, b], dh_prev[b], H)
            matmul_grad(dgates[t], 3 * H, w_hh, 2 * H, dh_prev, 1.0)
        dh[:] = dh_prev
    input_grads(x, w_ih, dgates, dx, dw_ih)
    column_sum(dgates, db_ih)
    if reset_after:
        hidden_weight_grad(dgh, 3 * H, 3 * H, h0, y, dw_hh)
        column_sum(dgh, db_hh)
    else:
        hidden_weight_grad(dgates, 3 * H, 2 * H, h0, y, dw_hh)
        # the candidate rows multiply r ⊙ h_{t−1}, kept in aux for every step
        gemm(True, False, H, H, T * B, 1.0, dgates.reshape(-1)[2 * H:], 3 * H, aux, H,
             1.0, dw_hh[2 * H:], H)
        column_sum(dgates, db_hh)

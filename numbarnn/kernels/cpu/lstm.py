"""LSTM forward and backward through time on the CPU (DESIGN.md §1).

Buffers, all owned by the caller:

``gates`` (Tc, B, 4H)
    pre-activations in, activations (i, f, g, o) out. With Tc == T the
    forward pass is a training pass and ``gates`` is the cache; with Tc < T
    it is a work buffer the input projection fills Tc steps at a time, so
    inference allocates nothing proportional to T.
``cs`` (Tc, B, H)
    cell states, indexed modulo Tc (all of them when training).
"""
from ..._jit import kernel
from .cell import lstm_cell, lstm_cell_backward
from .common import (column_sum, fill_bias, hidden_weight_grad, input_grads,
                     input_projection, matmul_acc, matmul_grad)


@kernel
def _cell_row(g, c_prev, c, h, H):
    # one slice per gate: g[H + j] would carry a negative-index check per
    # element and the loop would not vectorise
    gi, gf, gg, go = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
    for j in range(H):
        i, f, n, o, cj, hj = lstm_cell(gi[j], gf[j], gg[j], go[j], c_prev[j])
        gi[j] = i
        gf[j] = f
        gg[j] = n
        go[j] = o
        c[j] = cj
        h[j] = hj


@kernel
def lstm_forward(x, w_ih, w_hh, w_hhT, b_ih, b_hh, h0, c0, y, h_n, c_n, gates, cs):
    """Run the LSTM over x (T, B, I), writing y (T, B, H), h_n and c_n (B, H)."""
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    Tc = gates.shape[0]
    for t0 in range(0, T, Tc):
        n = min(Tc, T - t0)
        fill_bias(gates, b_ih, b_hh, n * B, True)
        input_projection(x, t0, n, w_ih, gates)
        for t in range(t0, t0 + n):
            h_prev = h0 if t == 0 else y[t - 1]
            c_prev = c0 if t == 0 else cs[(t - 1) % Tc]
            g = gates[t - t0]
            matmul_acc(h_prev, w_hh, w_hhT, g, 4 * H, 4 * H)
            c = cs[t % Tc]
            for b in range(B):
                _cell_row(g[b], c_prev[b], c[b], y[t, b], H)
    if T > 0:
        h_n[:] = y[T - 1]
        c_n[:] = cs[(T - 1) % Tc]


@kernel
def _cell_row_backward(g, c, c_prev, dh, dy, dc, dg, H):
    gi, gf, gg, go = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
    di, df, dn, do = dg[:H], dg[H:2 * H], dg[2 * H:3 * H], dg[3 * H:]
    for j in range(H):
        dai, daf, dag, dao, dcp = lstm_cell_backward(
            gi[j], gf[j], gg[j], go[j], c[j], c_prev[j], dh[j] + dy[j], dc[j])
        di[j] = dai
        df[j] = daf
        dn[j] = dag
        do[j] = dao
        dc[j] = dcp


@kernel
def lstm_backward(x, w_ih, w_hh, h0, c0, y, gates, cs, dy, dh, dc, dgates,
                  dx, dw_ih, dw_hh, db_ih, db_hh):
    """Backward through time from a training forward pass.

    ``dh`` and ``dc`` (B, H) hold dh_n and dc_n on entry and dh0 and dc0 on
    return. ``dgates`` (T, B, 4H) is scratch. dx and the weight and bias
    gradients accumulate.
    """
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else cs[t - 1]
        for b in range(B):
            _cell_row_backward(gates[t, b], cs[t, b], c_prev[b], dh[b], dy[t, b], dc[b],
                               dgates[t, b], H)
        matmul_grad(dgates[t], 4 * H, w_hh, 4 * H, dh, 0.0)
    input_grads(x, w_ih, dgates, dx, dw_ih)
    hidden_weight_grad(dgates, 4 * H, 4 * H, h0, y, dw_hh)
    column_sum(dgates, db_ih)
    column_sum(dgates, db_hh)

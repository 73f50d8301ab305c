"""LSTM forward and backward through time on the CPU (docs/math.md).

These are the time loops of a pass, over one share of the batch rows (the
input projection and the weight gradients are in ``common.py``). Buffers,
all owned by the caller:

``gates`` (Tc, B, 4H)
    pre-activations in (from ``project_inputs``), activations (i, f, g, o)
    out. With Tc == T the forward pass is a training pass and ``gates`` is
    the cache; with Tc < T it holds one chunk of steps, so inference
    allocates nothing proportional to T.
``cs`` (Tc, B, H)
    cell states, indexed modulo Tc (all of them when training).
``ms`` (Tc, B, H)
    with a projection only: m_t = o_t ⊙ tanh(c_t), indexed modulo Tc.

Projection (PyTorch's ``proj_size``): with ``w_hr`` (P, H), P < H, the
recurrent state is h_t = w_hr m_t (size P), and ``y``, ``h0``, ``w_hh``
(4H, P) have P columns. An empty ``w_hr`` (0, H) means no projection: then
m_t is h_t, written straight into ``y`` as before, and ``ms`` is not read.
"""
import numpy as np

from ..._jit import kernel
from .cell import lstm_cell, lstm_cell_backward
from .common import matmul_acc, matmul_grad, share


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
def lstm_forward(gates, t0, n, w_hh, w_hhT, w_hr, w_hrT, h0, c0, y, cs, ms, part, parts):
    """Steps t0 … t0+n−1 for this share of the batch rows, writing y and cs
    (and ms with a projection).

    ``w_hrT`` is the layout :func:`common.transposed_hidden_weights` chose
    for ``w_hr`` (P, H) (ignored without a projection).
    """
    b0, b1 = share(y.shape[1], part, parts)
    H = w_hh.shape[0] // 4
    P = y.shape[2]
    proj = w_hr.shape[0] > 0
    Tc = gates.shape[0]
    for t in range(t0, t0 + n):
        h_prev = (h0 if t == 0 else y[t - 1])[b0:b1]
        c_prev = (c0 if t == 0 else cs[(t - 1) % Tc])[b0:b1]
        g = gates[t - t0][b0:b1]
        matmul_acc(h_prev, w_hh, w_hhT, g, 4 * H, 4 * H)
        c = cs[t % Tc][b0:b1]
        # without a projection m_t is h_t: the cell writes y directly
        m = (ms[t % Tc] if proj else y[t])[b0:b1]
        for b in range(b1 - b0):
            _cell_row(g[b], c_prev[b], c[b], m[b], H)
        if proj:
            h = y[t][b0:b1]
            for b in range(b1 - b0):
                hb = h[b]
                for k in range(P):
                    hb[k] = 0.0
            matmul_acc(m, w_hr, w_hrT, h, P, P)


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
def lstm_backward(w_hh, w_hr, h0, c0, y, gates, cs, dy, dh, dc, dm, dyh, dgates, part,
                  parts):
    """The time loop of backpropagation for this share of the batch rows.

    ``dh`` (B, P) and ``dc`` (B, H) hold dh_n and dc_n on entry and dh0 and
    dc0 on return; ``dgates`` (T, B, 4H) receives the pre-activation
    gradients that ``common.weight_grads`` turns into dx and the weight
    gradients. With a projection, ``dm`` (B, H) is scratch and ``dyh``
    (T, B, P) receives dy_t + dh_t of every step (the gradient of h_t, which
    ``common.projection_grads`` turns into dw_hr); without one (``w_hr`` of
    shape (0, H)) neither is touched.
    """
    b0, b1 = share(y.shape[1], part, parts)
    T = y.shape[0]
    H = w_hh.shape[0] // 4
    P = y.shape[2]
    proj = w_hr.shape[0] > 0
    zero = np.zeros_like(dc[0])
    dhs, dcs = dh[b0:b1], dc[b0:b1]
    for t in range(T - 1, -1, -1):
        c_prev = (c0 if t == 0 else cs[t - 1])[b0:b1]
        g, c, d, dyt = gates[t][b0:b1], cs[t][b0:b1], dgates[t][b0:b1], dy[t][b0:b1]
        if proj:
            # h_t = w_hr m_t: the gradient of h_t goes to m_t through w_hr
            dht = dyh[t][b0:b1]
            for b in range(b1 - b0):
                for k in range(P):
                    dht[b, k] = dhs[b, k] + dyt[b, k]
            dms = dm[b0:b1]
            matmul_grad(dht, P, w_hr, P, dms, 0.0)
            for b in range(b1 - b0):
                _cell_row_backward(g[b], c[b], c_prev[b], dms[b], zero, dcs[b], d[b], H)
        else:
            for b in range(b1 - b0):
                _cell_row_backward(g[b], c[b], c_prev[b], dhs[b], dyt[b], dcs[b], d[b], H)
        matmul_grad(d, 4 * H, w_hh, 4 * H, dhs, 0.0)

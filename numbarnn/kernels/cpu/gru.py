"""GRU forward and backward through time on the CPU (docs/math.md), for the
reset-before form (``reset_after=False``, the default; the reset-after form
runs on the engine, ``fused_gru.py``).

Reset-before applies the reset gate before the recurrent product of the
candidate, so each step needs two products: h @ w_hh[:2H]ᵀ for r and z,
then (r ⊙ h) @ w_hh[2H:]ᵀ. The backward loop also still handles a
reset-after cache (one product, h @ w_hhᵀ + b_hh, whose candidate block
``ghn`` is kept), which only the engine makes now.

These are the time loops of a pass, over one share of the batch rows (the
input projection and the weight gradients are in ``common.py``). Buffers
owned by the caller, (Tc, B, ·), indexed modulo Tc (every step when
training): ``gates`` (3H: pre-activations in, r, z, n out) and ``aux`` (H:
r ⊙ h_{t−1} for reset-before, w_hn h_{t−1} + b_hn for reset-after).
"""
from ..._jit import kernel
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh
from .common import matmul_grad, share
from .packed import product
from .simd import ptr


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
def gru_forward(gates, t0, n, wp_rz, wp_n, zb, S, h0, y, aux, part, parts):
    """Reset-before steps t0 … t0+n−1 for this share of the batch rows,
    writing y and aux (r ⊙ h_{t−1}).

    The two recurrent products of a step, h_{t−1} · w_hh[:2H]ᵀ and then
    (r ⊙ h_{t−1}) · w_hh[2H:]ᵀ, run on the packed micro-kernel of
    ``packed.py``: ``wp_rz`` and ``wp_n`` are those rows packed (K = H,
    columns in their own order, zero padding), ``zb`` zeros as long as the
    wider, ``S`` (B, ≥ that width) scratch for a step's product. With a
    BLAS call per product and step instead, the S4 float64 forward ran at
    ~8 GFLOP/s (167 ms).
    """
    B, H = y.shape[1], y.shape[2]
    b0, b1 = share(B, part, parts)
    Tc = gates.shape[0]
    ldS = S.shape[1]
    pS, pzb, prz, pn = ptr(S), ptr(zb), ptr(wp_rz), ptr(wp_n)
    for t in range(t0, t0 + n):
        h_prev = h0 if t == 0 else y[t - 1]
        g = gates[t - t0]
        a = aux[t % Tc]
        h = y[t]
        product(ptr(h_prev), b0 * H, H, pS, b0 * ldS, ldS, b1 - b0, prz, 0, wp_rz.shape[0], H,
                pzb, False)
        for b in range(b0, b1):
            gb = g[b]
            sb = S[b]
            for j in range(2 * H):
                gb[j] += sb[j]
            _rz_row(gb, h_prev[b], a[b], H)
        product(ptr(a), b0 * H, H, pS, b0 * ldS, ldS, b1 - b0, pn, 0, wp_n.shape[0], H, pzb,
                False)
        for b in range(b0, b1):
            gn = g[b][2 * H:]
            sb = S[b]
            for j in range(H):
                gn[j] += sb[j]
            _n_row(g[b], h_prev[b], h[b], H)


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
def gru_backward(reset_after, w_hh, h0, y, gates, aux, dy, dh, dh_prev, drh,
                 dgates, dgh, part, parts):
    """The time loop of backpropagation for this share of the batch rows.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return; ``dh_prev`` and
    ``drh`` (B, H) are scratch. ``dgates`` (T, B, 3H) receives the gradient
    of the input-side pre-activations and, for reset-after, ``dgh`` that of
    the recurrent side, w_hh h + b_hh.
    """
    b0, b1 = share(y.shape[1], part, parts)
    T = y.shape[0]
    H = w_hh.shape[1]
    dhs, dps, drs = dh[b0:b1], dh_prev[b0:b1], drh[b0:b1]
    for t in range(T - 1, -1, -1):
        h_prev = (h0 if t == 0 else y[t - 1])[b0:b1]
        g, a, d, dyt = gates[t][b0:b1], aux[t][b0:b1], dgates[t][b0:b1], dy[t][b0:b1]
        if reset_after:
            dr = dgh[t][b0:b1]
            for b in range(b1 - b0):
                _after_row_backward(g[b], a[b], h_prev[b], dhs[b], dyt[b], d[b], dr[b],
                                    dps[b], H)
            matmul_grad(dr, 3 * H, w_hh, 3 * H, dps, 1.0)
        else:
            for b in range(b1 - b0):
                _update_row_backward(g[b], h_prev[b], dhs[b], dyt[b], d[b], dps[b], H)
            matmul_grad(d.reshape(-1)[2 * H:], 3 * H, w_hh[2 * H:], H, drs, 0.0)
            for b in range(b1 - b0):
                _reset_row_backward(g[b], h_prev[b], drs[b], d[b], dps[b], H)
            matmul_grad(d, 3 * H, w_hh, 2 * H, dps, 1.0)
        dhs[:] = dps

"""Pieces every CPU cell kernel shares: the input projection, the
per-step recurrent products, and the weight gradients over all steps.

Sizes are read from the arrays; all arrays are C-contiguous (the functional
layer guarantees it). Gradients accumulate (``+=``), as in llm.c: the caller
zeroes them, and a layer can sum over chunks of truncated BPTT for free.
"""
import numpy as np

from ..._jit import kernel
from .blas import gemm

# Below this many multiply-adds per step the BLAS call overhead (~0.2 µs)
# costs more than a vectorised loop over a transposed copy of W_hh.
SMALL_PRODUCT = 16384


def transposed_hidden_weights(w_hh, batch):
    """The W_hh layout the forward products want, decided in this one place.

    Returns a C-contiguous copy of w_hhᵀ when the per-step product is small
    enough for the vectorised loop, else an empty (0, G·H) array that tells
    the kernels to call BLAS on the stored layout.
    """
    rows, H = w_hh.shape
    if batch * H * rows <= SMALL_PRODUCT:
        return w_hh.T.copy()
    return np.empty((0, rows), dtype=w_hh.dtype)


@kernel
def fill_bias(gates, b_ih, b_hh, n_rows, with_hh):
    """Set every row of ``gates`` (first ``n_rows``) to b_ih (+ b_hh)."""
    g = gates.reshape((-1, gates.shape[-1]))
    cols = g.shape[1]
    for r in range(n_rows):
        row = g[r]
        if with_hh:
            for j in range(cols):
                row[j] = b_ih[j] + b_hh[j]
        else:
            for j in range(cols):
                row[j] = b_ih[j]


@kernel
def input_projection(x, t0, n, w_ih, gates):
    """gates[:n] += x[t0:t0+n] @ w_ihᵀ, one GEMM for n time steps."""
    B, I = x.shape[1], x.shape[2]
    GH = w_ih.shape[0]
    if I == 0:
        return
    gemm(False, True, n * B, GH, I, 1.0, x[t0], I, w_ih, I, 1.0, gates, GH)


@kernel
def matmul_acc(h, w, wT, out, ld_out, rows):
    """out[:, :rows] += h @ w[:rows]ᵀ for h (B, H), w (G·H, H).

    ``wT`` is wᵀ for the vectorised loop, or empty to use BLAS (see
    :func:`transposed_hidden_weights`). ``out`` may be a column block of a
    wider matrix (row stride ``ld_out``).
    """
    B, H = h.shape[0], h.shape[1]
    if wT.shape[0] > 0:
        o = out.reshape(-1)
        for b in range(B):
            # a slice per row: an index like o[base + j] gets a negative-index
            # check that stops the loop vectorising
            ob = o[b * ld_out:b * ld_out + rows]
            hb = h[b]
            for k in range(H):
                hk = hb[k]
                wrow = wT[k]
                for j in range(rows):
                    ob[j] += hk * wrow[j]
    else:
        gemm(False, True, B, rows, H, 1.0, h, H, w, H, 1.0, out, ld_out)


@kernel
def matmul_grad(da, ld_da, w, rows, dh, beta):
    """dh = beta·dh + da[:, :rows] @ w[:rows] for da (B, ≥rows), w (G·H, H)."""
    B, H = dh.shape[0], dh.shape[1]
    if B * H * rows <= SMALL_PRODUCT:
        d = da.reshape(-1)
        for b in range(B):
            dhb = dh[b]
            db = d[b * ld_da:b * ld_da + rows]
            if beta == 0.0:
                for k in range(H):
                    dhb[k] = 0.0
            for j in range(rows):
                a = db[j]
                wj = w[j]
                for k in range(H):
                    dhb[k] += a * wj[k]
    else:
        gemm(False, False, B, H, rows, 1.0, da, ld_da, w, H, beta, dh, H)


@kernel
def column_sum(dg, db):
    """db += Σ over all leading axes of dg (T, B, G·H)."""
    g = dg.reshape((-1, dg.shape[-1]))
    for r in range(g.shape[0]):
        row = g[r]
        for j in range(row.shape[0]):
            db[j] += row[j]


@kernel
def input_grads(x, w_ih, dg, dx, dw_ih):
    """dx += dg @ w_ih and dw_ih += dgᵀ x over all T·B rows at once."""
    T, B, I = x.shape[0], x.shape[1], x.shape[2]
    GH = w_ih.shape[0]
    if T * B == 0 or I == 0:
        return
    gemm(False, False, T * B, I, GH, 1.0, dg, GH, w_ih, I, 1.0, dx, I)
    gemm(True, False, GH, I, T * B, 1.0, dg, GH, x, I, 1.0, dw_ih, I)


@kernel
def hidden_weight_grad(dg, ld_dg, rows, h0, hs, dw_hh):
    """dw_hh[:rows] += Σ_t dg[t, :, :rows]ᵀ h_{t−1}, with h_{−1} = h0 and
    h_t = hs[t]: two GEMMs, one for t = 0 and one for every later step."""
    T, B, H = hs.shape[0], hs.shape[1], hs.shape[2]
    if T == 0 or B == 0:
        return
    gemm(True, False, rows, H, B, 1.0, dg, ld_dg, h0, H, 1.0, dw_hh, H)
    if T > 1:
        gemm(True, False, rows, H, (T - 1) * B, 1.0, dg.reshape(-1)[B * ld_dg:], ld_dg,
             hs, H, 1.0, dw_hh, H)

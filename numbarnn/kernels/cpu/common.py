"""Pieces every CPU cell kernel shares: the input projection, the
per-step recurrent products, and the weight gradients over all steps.

A pass over a sequence has three phases: the input projection of many steps
(one GEMM), the time loop (``kernels/cpu/<cell>.py``, the only phase that is
sequential in t), and, backward, the weight gradients (one GEMM each over all
steps). Every phase takes a share of the work (``part`` of ``parts``, or a
batch range ``b0:b1`` for the time loop) so that the functional layer can run
the shares on several threads; batch rows are independent sequences, so the
time loop needs no synchronisation between threads.

Sizes are read from the arrays; all arrays are C-contiguous (the functional
layer guarantees it). Gradients accumulate (``+=``), as in llm.c: the caller
zeroes them, and a layer can sum over chunks of truncated BPTT for free.
"""
import numpy as np

from ..._jit import kernel
from .blas import gemm

# Up to this many multiply-adds per step, h @ W_hhᵀ is faster as a plain
# (no-transpose) GEMM on a transposed copy of W_hh than on the stored
# layout: (8×64)@(64×256) 2.5 vs 7.9 µs, (32×128)@(128×512) 33 vs 35 µs in
# float32 on the project machine. Beyond it the stored layout wins in
# float32 (S4, S5: 5–10 %); in float64 the copy wins at every size measured.
# OpenBLAS's small-matrix path also beats a vectorised numba loop at every
# size tried, down to (1×16)@(16×64): 0.05 vs 0.08 µs.
TRANSPOSED_PRODUCT = 1 << 22


def transposed_hidden_weights(w_hh, batch):
    """The W_hh layout the forward products want, decided in this one place.

    Returns a C-contiguous copy of w_hhᵀ (for a no-transpose GEMM) when the
    per-step product is small enough for it to pay, else an empty (0, G·H)
    array that tells the kernels to call BLAS on the stored layout.
    """
    rows, H = w_hh.shape
    work = batch * H * rows
    if work <= TRANSPOSED_PRODUCT or w_hh.dtype == np.float64:
        return w_hh.T.copy()
    return np.empty((0, rows), dtype=w_hh.dtype)


@kernel
def share(n, part, parts):
    """The half-open range of ``n`` items that ``part`` of ``parts`` owns."""
    return n * part // parts, n * (part + 1) // parts


@kernel
def project_inputs(x, t0, n, w_ih, b_ih, b_hh, with_hh, gates, part, parts):
    """gates[:n] = b_ih (+ b_hh) + x[t0:t0+n] @ w_ihᵀ, rows of this share.

    The n·B rows of the chunk are split between shares; each is one GEMM.
    """
    B, I = x.shape[1], x.shape[2]
    GH = w_ih.shape[0]
    r0, r1 = share(n * B, part, parts)
    g = gates.reshape((-1, GH))
    for r in range(r0, r1):
        row = g[r]
        if with_hh:
            for j in range(GH):
                row[j] = b_ih[j] + b_hh[j]
        else:
            for j in range(GH):
                row[j] = b_ih[j]
    if I > 0 and r1 > r0:
        xr = x.reshape((-1, I))[t0 * B + r0:]
        gemm(False, True, r1 - r0, GH, I, 1.0, xr, I, w_ih, I, 1.0, g[r0:], GH)


@kernel
def matmul_acc(h, w, wT, out, ld_out, rows):
    """out[:, :rows] += h @ w[:rows]ᵀ for h (B, H), w (G·H, H).

    ``wT`` is wᵀ (for a no-transpose GEMM), or empty to use BLAS on ``w``
    (see :func:`transposed_hidden_weights`). ``out`` may be a column block of a
    wider matrix (row stride ``ld_out``).
    """
    B, H = h.shape[0], h.shape[1]
    if wT.shape[0] == 0:
        gemm(False, True, B, rows, H, 1.0, h, H, w, H, 1.0, out, ld_out)
    else:
        # wT may be a column block of a wider matrix: its row stride is the ld
        gemm(False, False, B, rows, H, 1.0, h, H, wT, wT.strides[0] // wT.itemsize, 1.0,
             out, ld_out)


@kernel
def matmul_grad(da, ld_da, w, rows, dh, beta):
    """dh = beta·dh + da[:, :rows] @ w[:rows] for da (B, ≥rows), w (G·H, H)."""
    B, H = dh.shape[0], dh.shape[1]
    gemm(False, False, B, H, rows, 1.0, da, ld_da, w, H, beta, dh, H)


@kernel
def weight_grads(x, w_ih, h0, y, aux, split, dg_x, dg_h, dx, dw_ih, dw_hh, db_ih, db_hh,
                 part, parts):
    """This share's part of dx, dw_ih, dw_hh and the bias gradients.

    ``dg_x`` (T, B, G·H) is the gradient of the input-side pre-activations,
    ``dg_h`` that of the recurrent side (the same array except for the
    reset-after GRU). Gate rows below ``split`` multiply h_{t−1} (h0, then
    y); rows from ``split`` on multiply ``aux[t]`` (the projected LSTM, the
    one pass left on these kernels, passes ``split`` = G·H: no such rows). dx is split by its T·B rows, the weight and bias gradients
    by gate rows, so shares never write the same element.
    """
    T, B, I = x.shape[0], x.shape[1], x.shape[2]
    GH, H = dw_hh.shape[0], dw_hh.shape[1]
    TB = T * B
    gx = dg_x.reshape((-1, GH))
    gh = dg_h.reshape((-1, GH))
    r0, r1 = share(TB, part, parts)
    if I > 0 and r1 > r0:
        gemm(False, False, r1 - r0, I, GH, 1.0, gx[r0:], GH, w_ih, I, 1.0,
             dx.reshape((-1, I))[r0:], I)
    g0, g1 = share(GH, part, parts)
    if g1 == g0:
        return
    if I > 0:
        gemm(True, False, g1 - g0, I, TB, 1.0, gx.reshape(-1)[g0:], GH, x, I, 1.0,
             dw_ih[g0:], I)
    for r in range(TB):
        rx = gx[r]
        rh = gh[r]
        for j in range(g0, g1):
            db_ih[j] += rx[j]
            db_hh[j] += rh[j]
    # rows multiplying h_{t−1}: t = 0 against h0, every later step against y
    s1 = min(g1, split)
    if s1 > g0:
        ghs = gh.reshape(-1)[g0:]
        gemm(True, False, s1 - g0, H, B, 1.0, ghs, GH, h0, H, 1.0, dw_hh[g0:], H)
        if T > 1:
            gemm(True, False, s1 - g0, H, (T - 1) * B, 1.0, ghs[B * GH:], GH, y, H, 1.0,
                 dw_hh[g0:], H)
    s0 = max(g0, split)
    if g1 > s0:
        gemm(True, False, g1 - s0, H, TB, 1.0, gh.reshape(-1)[s0:], GH, aux, H, 1.0,
             dw_hh[s0:], H)


@kernel
def projection_grads(dyh, ms, dw_hr, part, parts):
    """dw_hr += Σ_t dyh_tᵀ m_t over all T·B rows, this share's rows of dw_hr.

    ``dyh`` (T, B, P) is the gradient of the projected states h_t, ``ms``
    (T, B, H) the unprojected m_t (the LSTM's projection, ``w_hr`` (P, H)).
    One GEMM per share; shares own disjoint rows of ``dw_hr``.
    """
    P, H = dw_hr.shape[0], dw_hr.shape[1]
    TB = dyh.shape[0] * dyh.shape[1]
    p0, p1 = share(P, part, parts)
    if p1 > p0 and TB > 0:
        gemm(True, False, p1 - p0, H, TB, 1.0, dyh.reshape(-1)[p0:], P, ms, H, 1.0,
             dw_hr[p0:], H)

"""Weight gradients and dx of an engine pass, from packed gate gradients.

After the backward time loop, ``dg`` (T, B, C) holds the gradients of the
input-side pre-activations in the engine's packed column order and ``dgh``
those of the recurrent side (the same array except for the reset-after
GRU). Everything left is three large GEMMs over all T·B rows (BLAS, called
without allocating: ``blas.gemm``) and a scatter of packed rows into the
weights' gate order (``cols``: the gate row of each packed column, −1 for
padding). Gradients accumulate (``+=``), as in every kernel here.
"""
import numpy as np

from ..._jit import kernel
from .blas import gemm


@kernel
def packed_weight_grads(dg, dgh, x, h0, y, w_ihp, cols, dx, dw_ih, dw_hh, db_ih, db_hh,
                        scratch_i, scratch_h):
    """dx, dw_ih, dw_hh, db_ih, db_hh (all += ) from ``dg``/``dgh``.

    ``w_ihp`` (C, I) is w_ih gathered in packed order (zero rows for
    padding); ``scratch_i`` (C, I) and ``scratch_h`` (C, H) receive the
    packed weight gradients before the scatter.
    """
    T, B, I = x.shape
    C = dg.shape[2]
    H = y.shape[2]
    TB = T * B
    gx = dg.reshape((TB, C))
    gh = dgh.reshape((TB, C))
    if I > 0:
        gemm(False, False, TB, I, C, 1.0, gx, C, w_ihp, I, 1.0, dx, I)
        gemm(True, False, C, I, TB, 1.0, gx, C, x, I, 0.0, scratch_i, I)
    gemm(True, False, C, H, B, 1.0, gh, C, h0, H, 0.0, scratch_h, H)
    if T > 1:
        gemm(True, False, C, H, (T - 1) * B, 1.0, gh[B:], C, y, H, 1.0, scratch_h, H)
    # column sums row by row: reading a column of a row-major array strides
    # through memory
    sx = np.zeros(C, dg.dtype)
    sh = np.zeros(C, dg.dtype)
    for i in range(TB):
        rx = gx[i]
        rh = gh[i]
        for c in range(C):
            sx[c] += rx[c]
            sh[c] += rh[c]
    for c in range(C):
        r = cols[c]
        if r < 0:
            continue
        db_ih[r] += sx[c]
        db_hh[r] += sh[c]
        for k in range(I):
            dw_ih[r, k] += scratch_i[c, k]
        for k in range(H):
            dw_hh[r, k] += scratch_h[c, k]

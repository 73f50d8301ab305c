"""Weight gradients and dx of an engine pass, on the engine's workers.

After the backward time loop, ``dg`` (T, B, C) holds the gradients of the
input-side pre-activations in the engine's packed column order and ``dgh``
those of the recurrent side (the same array except for the reset-after
GRU). What is left is three products over all T·B rows and the bias sums.
They run here on the same workers as the time loops, split by packed
columns (weights, biases) and by rows (dx), with the register-tiled
micro-kernel of ``packed.py``:

    dW_hhᵀ (H, C) = Hprevᵀ (H, TB) · dgh (TB, C)      Hprev = [h0; y_0 … y_{T−2}]
    dW_ihᵀ (I, C) = Xᵀ (I, TB) · dg (TB, C)
    dx (TB, Ip)   = dg (TB, C) · W_ih,packed (C, Ip)

(with few inputs, dx is instead a dot product of each row of dg with each
input's column of W_ih: see :data:`numbarnn.functional.engine.DX_DOT_INPUTS`).

The transposed activations are built by the workers first (one barrier).
OpenBLAS did these products at ~135 GFLOP/s on two threads, but its threads
keep spinning after a call and then competed with the next pass's workers
(the S3 LSTM backward time loop ran 3x slower on two threads after it).
"""
import numpy as np

from ..._jit import kernel
from .packed import product, product_strided
from .simd import (barrier_wait, keep_alive, lanes_of, load, ptr, store, vfma, vload, vstore,
                   vsum)


@kernel
def weight_grads_part(dg, dgh, x, h0, y, xt, yt, wxt, wxc, dwt_ih, dwt_hh, db_ih, db_hh, dxp,
                      zb, G, counter, ub0, ub1, b0, b1, parts):
    """This worker's share (always split by unit blocks; ``b0:b1`` is the
    whole batch): columns of the unit blocks ``ub0:ub1`` for the
    weight and bias gradients (``dwt_*`` transposed, (·, C); ``db_*`` (C,)),
    its share of the T·B rows of ``dxp`` (TB, Ip), and its share of the
    transposes ``xt`` (I, TB) and ``yt`` (H, TB) that every worker reads.

    ``wxt`` is w_ih packed for dx = dg · w_ih (K = C, output columns the Ip
    padded inputs); ``zb`` zeros, at least max(C, Ip) long; G the gate count.
    If ``wxc`` (I, C) is not empty, dx comes from it instead: row i holds
    w_ih's column i in packed column order, and dx[r, i] is the dot product
    of row r of dg with it (then ``wxt`` is not read).
    """
    T, B, C = dg.shape
    I = x.shape[2]
    H = y.shape[2]
    TB = T * B
    px, py, ph0, pxt, pyt = ptr(x), ptr(y), ptr(h0), ptr(xt), ptr(yt)
    pdg, pdgh, pzb = ptr(dg), ptr(dgh), ptr(zb)
    L = lanes_of(pdg)
    W = 2 * L
    n_blocks = C // (G * L)
    # rows of T·B are shared out in proportion to the unit blocks
    r0 = TB * ub0 // n_blocks
    r1 = TB * ub1 // n_blocks
    # 1. transposes, rows of T·B split like the blocks; 32 rows at a time so
    # that a block of rows stays in L1 while its columns are written out
    for rb in range(r0, r1, 32):
        re = min(rb + 32, r1)
        for i in range(I):
            for r in range(rb, re):
                store(pxt, i * TB + r, load(px, r * I + i))
        for j in range(H):
            for r in range(rb, re):
                v = load(ph0, r * H + j) if r < B else load(py, (r - B) * H + j)
                store(pyt, j * TB + r, v)
    if parts > 1:
        barrier_wait(ptr(counter), parts, 1)
    # 2. weight gradients of this worker's packed columns (panels of 2L)
    p0 = ub0 * G * L // W
    p1 = ub1 * G * L // W
    # each panel of 2L columns is first copied out contiguous (TB × 2L, in
    # L2): read in place, with rows 4-8 KB apart, the product ran at ~33
    # GFLOP/s (a new page every other k); packed, at the micro-kernel's speed
    panel = np.empty(TB * W, dg.dtype)
    pp = ptr(panel)
    pwh, pwi = ptr(dwt_hh), ptr(dwt_ih)
    for p in range(p0, p1):
        for src, a, rows, dst in ((pdgh, pyt, H, pwh), (pdg, pxt, I, pwi)):
            if rows == 0:
                continue
            for r in range(TB):
                vstore(pp, r * W, vload(src, r * C + p * W))
                vstore(pp, r * W + L, vload(src, r * C + p * W + L))
            product_strided(a, 0, TB, dst, p * W, C, rows, pp, W, 0, 1, TB, pzb)
    # 3. bias gradients: column sums, row by row (vector adds)
    pbi, pbh = ptr(db_ih), ptr(db_hh)
    for c in range(p0 * W, p1 * W, L):
        si = vload(pzb, 0)
        sh = si
        for r in range(TB):
            si = si + vload(pdg, r * C + c)
            sh = sh + vload(pdgh, r * C + c)
        vstore(pbi, c, si)
        vstore(pbh, c, sh)
    # 4. dx for this worker's rows: dg rows · w_ih packed
    Ip = dxp.shape[1]
    pdx = ptr(dxp)
    if wxc.shape[0] == 0:
        product(pdg, r0 * C, C, pdx, r0 * Ip, Ip, r1 - r0, ptr(wxt), 0, Ip // W, C, pzb,
                False)
    else:
        pwc = ptr(wxc)
        for r in range(r0, r1):
            for i in range(I):
                acc = vload(pzb, 0)
                for c in range(0, C, L):
                    acc = vfma(vload(pdg, r * C + c), vload(pwc, i * C + c), acc)
                store(pdx, r * Ip + i, vsum(acc))
    keep_alive(panel)

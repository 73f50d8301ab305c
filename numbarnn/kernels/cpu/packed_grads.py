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

from ..._jit import inline, kernel
from .packed import product_call, product_strided, strided_block
from .simd import (atomic_add, barrier_wait, lanes_of, load, ptr, store, vfma, vload,
                   vstore, vstore_transposed, vsum, vzero, wait_until)


@inline
def _copy_panel(src, C, c0, TB, pp, db, d0):
    # columns c0 … c0 + 2L of src (TB, C) into pp (TB, 2L), and their sums
    # (row by row, vector adds) into db[d0 … d0 + 2L]
    L = lanes_of(src)
    W = 2 * L
    s0 = vzero(src)
    s1 = s0
    for r in range(TB):
        v0 = vload(src, r * C + c0)
        v1 = vload(src, r * C + c0 + L)
        vstore(pp, r * W, v0)
        vstore(pp, r * W + L, v1)
        s0 = s0 + v0
        s1 = s1 + v1
    vstore(db, d0, s0)
    vstore(db, d0 + L, s1)


@inline
def _add_sums(db, d0, W, cols, c0, out):
    # out[cols[c0 + c]] += db[d0 + c] for the panel's valid columns
    for c in range(W):
        r = cols[c0 + c]
        if r >= 0:
            out[r] += load(db, d0 + c)


#: Rows of dx a worker takes at a time (~0.1 ms of work for the S4 LSTM).
DX_ROWS = 64


@inline
def _add_transposed(tmp, n, W, cols, c0, out):
    # out[cols[c0 + c], j] += tmp[j, c] (tmp: n × W, one panel's product) for
    # the panel's valid columns: the gradient lands in PyTorch's (G·H, ·)
    # layout while the panel is in cache. A separate unpack of the whole
    # transposed gradient after the workers took 5.1 ms of the S5 LSTM's
    # float32 fwd+bwd (one thread, rows 2-8 KB apart in and out).
    for j0 in range(0, n, 16):
        j1 = min(j0 + 16, n)
        for c in range(W):
            r = cols[c0 + c]
            if r >= 0:
                for j in range(j0, j1):
                    out[r, j] += load(tmp, j * W + c)


@inline
def _transpose(src, so, n, ld, dst, TB, r0, r1, L):
    # dst[j·TB + r] = src[so + r·ld + j] for r0 <= r < r1, j < n
    nL = n - n % L
    r = r0
    while r + L <= r1:
        for j in range(0, nL, L):
            vstore_transposed(dst, j * TB + r, TB, strided_block(src, so + r * ld + j, ld))
        for j in range(nL, n):
            for i in range(r, r + L):
                store(dst, j * TB + i, load(src, so + i * ld + j))
        r += L
    for j in range(n):
        for i in range(r, r1):
            store(dst, j * TB + i, load(src, so + i * ld + j))


@inline
def _panel_grads(pdg, pdgh, C, p, r0, K, pp, pt, pyt, pxt, TB, H, I, cols, dw_ih, dw_hh, db_ih,
                 db_hh, shared, pzb):
    # panel p's weight and bias gradients over rows r0 … r0 + K of T·B,
    # added into dw_* and db_*: pp holds the panel's copy (K × 2L), pt its
    # products, then its column sums (after max(H, I) rows of 2L)
    W = 2 * lanes_of(pdg)
    sums = max(H, I) * W
    _copy_panel(pdgh, C, r0 * C + p * W, K, pp, pt, sums)
    _add_sums(pt, sums, W, cols, p * W, db_hh)
    if shared:
        _add_sums(pt, sums, W, cols, p * W, db_ih)
    if H > 0:
        product_strided(pyt, r0, TB, pt, 0, W, H, pp, W, 0, 1, K, pzb)
        _add_transposed(pt, H, W, cols, p * W, dw_hh)
    if not shared:
        _copy_panel(pdg, C, r0 * C + p * W, K, pp, pt, sums)
        _add_sums(pt, sums, W, cols, p * W, db_ih)
    if I > 0:
        product_strided(pxt, r0, TB, pt, 0, W, I, pp, W, 0, 1, K, pzb)
        _add_transposed(pt, I, W, cols, p * W, dw_ih)


@kernel
def weight_grads_part(dg, dgh, x, h0, y, xt, yt, wxt, wxc, cols, dw_ih, dw_hh, db_ih, db_hh,
                      dxp, zb, n_blocks, shared, panels, tmps, counter, ub0, ub1, b0, b1, parts):
    """One worker's part (``b0:b1`` is the whole batch): its share of the
    transposes ``xt`` (I, TB) and ``yt`` (H, TB) that every worker reads
    (the T·B rows in proportion to the unit blocks ``ub0:ub1``), then,
    after all workers have done theirs, panels of the weight gradients and
    rows of ``dxp`` (TB, Ip), taken in turn with the other workers until
    none is left. A panel's weight gradients are added into ``dw_ih``
    (G·H, I) and ``dw_hh`` (G·H, H) at the rows ``cols`` names (−1:
    padding, skipped), its bias gradients added into ``db_ih`` and
    ``db_hh`` (G·H,) the same way. ``counter`` is the call's
    (``workers.new_counter``): element 0 for the barrier, 2 and 3 count the
    panels and row groups taken, 4 the scratch rows.

    ``h0`` (B, S) and ``y`` (T, B, S) are the states h_{−1} and h_0 …
    h_{T−1} in their first H columns (H = ``dw_hh.shape[1]``; S > H for the
    engine's padded states, read in place).

    ``wxt`` is w_ih packed for dx = dg · w_ih (K = C, output columns the Ip
    padded inputs); ``zb`` zeros, at least max(C, Ip) long; ``n_blocks`` the unit blocks;
    ``shared``: ``dgh`` is ``dg`` (the bias gradients are then equal too).
    ``panels`` (≥ parts, T·B·2L) and ``tmps`` (≥ parts, (max(H, I) + 1)·2L)
    are scratch, a row for each worker (rows handed out through counter[4]).
    If ``wxc`` (I, C) is not empty, dx comes from it instead: row i holds
    w_ih's column i in packed column order, and the dot product of row r of
    dg with it is *added* into ``dxp[r, i]`` (then ``wxt`` is not read, and
    ``dxp`` is dx itself, (T·B, I)); with ``wxt`` the rows are written.
    """
    T, B, C = dg.shape
    I = x.shape[2]
    H = dw_hh.shape[1]
    # h0 and y may be padded states, (B, Hp) and (T, B, Hp): rows Hp apart
    ldh, ldy = h0.shape[1], y.shape[2]
    TB = T * B
    px, py, ph0, pxt, pyt = ptr(x), ptr(y), ptr(h0), ptr(xt), ptr(yt)
    pdg, pdgh, pzb = ptr(dg), ptr(dgh), ptr(zb)
    L = lanes_of(pdg)
    W = 2 * L
    # rows of T·B are shared out in proportion to the unit blocks
    r0 = TB * ub0 // n_blocks
    r1 = TB * ub1 // n_blocks
    # 1. transposes, rows of T·B split like the blocks: squares of L rows ×
    # L columns transposed in registers where L rows come from one array
    # (x; h0 or y), value by value elsewhere (the Elman RNN's float32 S3
    # fwd+bwd: 0.93x the time of value by value in blocks of 32 rows)
    _transpose(px, 0, I, I, pxt, TB, r0, r1, L)
    _transpose(ph0, 0, H, ldh, pyt, TB, r0, min(r1, B), L)
    _transpose(py, -B * ldy, H, ldy, pyt, TB, max(r0, B), r1, L)
    pc = ptr(counter)
    if parts > 1:
        barrier_wait(pc, parts, 1)
    # 2. weight gradients, a panel of 2L packed columns at a time; the
    # panels (then the rows of dx) are taken in turn through counter[2]
    # (counter[3]) rather than shared out in advance: the two virtual CPUs
    # of the project machine often run at different speeds for a while (one
    # took 5.2 ms for its half of the S3 LSTM's weight gradients, the other
    # 7.9), and every panel and row is computed the same way by any worker
    # each panel of 2L columns is first copied out contiguous (TB × 2L, in
    # L2): read in place, with rows 4-8 KB apart, the product ran at ~33
    # GFLOP/s (a new page every other k); packed, at the micro-kernel's speed.
    # The bias gradients are the panel's column sums, taken while it is in
    # cache. Where dgh is dg (all but the reset-after GRU) one copy and one
    # sum serve both weights: the S4 LSTM float32 copied 2 × 26 MB a pass
    # the scratch comes from the engine's pool: allocated here, each call's
    # 1.3 MB panel of the LSTM's T = 10 000, B = 1 pass was fresh pages,
    # ~300 page faults
    row = atomic_add(pc, 4, 1)
    if row >= panels.shape[0] or row >= tmps.shape[0]:
        # a part without a scratch row (more parts than the caller sized the
        # scratch for) takes no panels: the others take them all, and the
        # rows of dx, rather than this one writing past the scratch
        return
    pp = ptr(panels[row])
    pt = ptr(tmps[row])
    n_panels = C // W
    while True:
        p = atomic_add(pc, 2, 1)
        if p >= n_panels:
            break
        _panel_grads(pdg, pdgh, C, p, 0, TB, pp, pt, pyt, pxt, TB, H, I, cols, dw_ih, dw_hh,
                     db_ih, db_hh, shared, pzb)
    # 3. dx, DX_ROWS rows of T·B at a time: dg rows · w_ih packed
    Ip = dxp.shape[1]
    pdx = ptr(dxp)
    pwc = ptr(wxc)
    while True:
        ra = atomic_add(pc, 3, 1) * DX_ROWS
        if ra >= TB:
            break
        _dx_rows(pdg, C, pdx, Ip, ra, min(ra + DX_ROWS, TB), wxt, wxc, pwc, I, pzb)


@inline
def _dx_rows(pdg, C, pdx, Ip, ra, rb, wxt, wxc, pwc, I, pzb):
    # rows ra:rb of dx: written from the packed product, or added from the
    # dot products with wxc; nothing without inputs (dx is (T, B, 0): the
    # product's panel of zero weights would be thrown away)
    L = lanes_of(pdg)
    if I == 0:
        return
    if wxc.shape[0] == 0:
        product_call(pdg, ra * C, C, pdx, ra * Ip, Ip, rb - ra, ptr(wxt), 0, Ip // (2 * L), C,
                     pzb, False)
    else:
        for r in range(ra, rb):
            for i in range(I):
                acc = vload(pzb, 0)
                for c in range(0, C, L):
                    acc = vfma(vload(pdg, r * C + c), vload(pwc, i * C + c), acc)
                store(pdx, r * Ip + i, load(pdx, r * Ip + i) + vsum(acc))


@kernel
def weight_grads_chunks(dg, dgh, x, h0, y, xt, yt, wxt, wxc, cols, dw_ih, dw_hh, db_ih, db_hh,
                        dxp, zb, shared, panel, tmp, rows, counter, follow):
    """What :func:`weight_grads_part` computes, on one worker, in chunks of
    ``rows`` rows of T·B (whole steps) from the last row down.

    For passes whose time loop runs on one worker: a second one runs this
    alongside it (``follow``), taking each chunk as soon as the loop, which
    writes dg from its last step down, has finished the chunk's steps
    (``counter[5]`` counts them; the loop adds to it every ``counter[6]``
    steps). Without ``follow`` it runs after the loop. A chunk is computed
    the same way either way: each weight and bias gradient is the sum, chunk
    after chunk from the last, of each chunk's products and column sums.
    ``panel`` (≥ rows·2L) and ``tmp`` (≥ (max(H, I) + 1)·2L) are scratch;
    the other arguments are :func:`weight_grads_part`'s.
    """
    T, B, C = dg.shape
    I = x.shape[2]
    H = dw_hh.shape[1]
    ldh, ldy = h0.shape[1], y.shape[2]
    TB = T * B
    px, py, ph0, pxt, pyt = ptr(x), ptr(y), ptr(h0), ptr(xt), ptr(yt)
    pdg, pdgh, pzb, pc = ptr(dg), ptr(dgh), ptr(zb), ptr(counter)
    pp, pt, pdx, pwc = ptr(panel), ptr(tmp), ptr(dxp), ptr(wxc)
    L = lanes_of(pdg)
    W = 2 * L
    Ip = dxp.shape[1]
    r1 = TB
    while r1 > 0:
        r0 = max(0, r1 - rows)
        if follow and not wait_until(pc, 5, T - r0 // B):
            return
        _transpose(px, 0, I, I, pxt, TB, r0, r1, L)
        _transpose(ph0, 0, H, ldh, pyt, TB, r0, min(r1, B), L)
        _transpose(py, -B * ldy, H, ldy, pyt, TB, max(r0, B), r1, L)
        for p in range(C // W):
            _panel_grads(pdg, pdgh, C, p, r0, r1 - r0, pp, pt, pyt, pxt, TB, H, I, cols, dw_ih,
                         dw_hh, db_ih, db_hh, shared, pzb)
        _dx_rows(pdg, C, pdx, Ip, r0, r1, wxt, wxc, pwc, I, pzb)
        r1 = r0


"""Forward and backward time loops of the projected LSTM (PyTorch's
``proj_size``) on the persistent-thread engine.

With a projection ``w_hr`` (P, H), P < H, the cell computes m_t = o_t ⊙
tanh(c_t) and the recurrent state is h_t = w_hr m_t (size P): every step
has two products, h_{t−1} · W_hhᵀ (K = P) before the cell update and
m_t · W_hrᵀ (K = H) after it. A worker's share is cut as in
``fused_lstm.py`` (``functional/engine.py`` chooses):

by batch rows
    rows ``b0:b1``, every unit and every column of h: nobody waits, and a
    call covers steps ``ta`` … ``tb``−1 (backward: ``tb``−1 down to
    ``ta``), the state of its rows staying in the pass's buffers.
by hidden units
    all rows; the gate columns and cell update of unit blocks ``ub0:ub1``,
    and a share of h's columns (its panels in proportion to the blocks).
    The second product needs every unit of m_t and the next step's first
    every column of h_t, so the workers meet twice a step; backward, once
    after the gradient of h_t (their columns) and once after the gate
    gradients (their units).

Layouts (``functional/engine.py``): the gate columns are the LSTM's
(``C`` packed columns, unit blocks of ``L``); c_t and m_t are padded to
``Hp`` units; h_t, the output of the projection's packed product, to
``Pq`` columns (whole panels), the padding columns holding zeros (zero
weights).

Every product is ``packed.product``: no BLAS, so a pass changes no
library's thread count, and its results do not depend on the number of
workers or on how the work is cut.
"""
from ..._jit import kernel
from .fused_lstm import cell_block, cell_block_backward
from .packed import block_panels, product, project_chunk
from .simd import atomic_load, barrier_wait, lanes_of, load, ptr, publish, store, vload

G = 4


@kernel
def lstm_proj_forward_steps(x, wxp, bx, whp, wrp, zb, hs, cs, ms, gx, S, gates, y, Tc,
                            training, counter, ub0, ub1, b0, b1, ta, tb, parts):
    """Steps ``ta`` … ``tb``−1 for batch rows ``b0:b1`` and unit blocks
    ``ub0:ub1`` (one worker; the columns of h in proportion to the blocks).

    ``wxp``, ``whp`` are w_ih and w_hh packed by gate column (K = I and P),
    ``bx`` both biases packed, ``wrp`` w_hr packed with its P rows as
    columns (K = H), ``zb`` zeros (the products' bias, ≥ C). ``hs`` (slots,
    B, Pq) and ``cs`` (slots, B, Hp): slot 0 holds h0/c0, step t reads slot
    ``t % slots`` and writes ``(t + 1) % slots`` (T + 1 slots in training,
    2 otherwise). ``ms`` (T or 1, B, Hp) receives m_t at slot ``t %
    len(ms)``; ``gx`` (Tc, B, C) a chunk's input projections, ``S`` (B, C)
    a step's recurrent product, ``gates`` (T, B, C) the activations in
    training.
    """
    T, B, I = x.shape
    P = y.shape[2]
    slots, Pq = hs.shape[0], hs.shape[2]
    Hp = cs.shape[2]
    mslots = ms.shape[0]
    C = bx.shape[0]
    H = wrp.shape[1]
    px, pwx, pbx, pwh, pwr, pzb = ptr(x), ptr(wxp), ptr(bx), ptr(whp), ptr(wrp), ptr(zb)
    phs, pcs, pms, pgx, pS, pg, py = ptr(hs), ptr(cs), ptr(ms), ptr(gx), ptr(S), ptr(gates), \
        ptr(y)
    pcount = ptr(counter)
    L = lanes_of(pbx)
    W = 2 * L
    p0, p1 = block_panels(ub0, ub1, G)
    # this worker's panels of h: in proportion to its unit blocks
    n_blocks = Hp // L
    q0, q1 = wrp.shape[0] * ub0 // n_blocks, wrp.shape[0] * ub1 // n_blocks
    j1 = min(q1 * W, P)
    for t0 in range(ta, tb, Tc):
        n = min(Tc, tb - t0)
        project_chunk(px, I, t0, n, B, b0, b1, pgx, C, pwx, p0, p1, pbx)
        for s in range(n):
            t = t0 + s
            hprev = (t % slots) * B * Pq
            hcur = ((t + 1) % slots) * B * Pq
            cprev = (t % slots) * B * Hp
            ccur = ((t + 1) % slots) * B * Hp
            mo = (t % mslots) * B * Hp
            product(phs, hprev + b0 * Pq, Pq, pS, b0 * C, C, b1 - b0, pwh, p0, p1, P, pzb, False,
                    t % 2 == 1)
            for b in range(b0, b1):
                go = (s * B + b) * C
                so = b * C
                for ub in range(ub0, ub1):
                    c0 = ub * G * L
                    u = b * Hp + ub * L
                    cell_block(pgx, go, pS, so, c0, pcs, cprev + u, ccur + u, pms, mo + u, pg,
                               (t * B + b) * C + c0, training)
            if parts > 1:   # every unit of m_t
                barrier_wait(pcount, parts, 2 * t + 1)
            # h_t = w_hr m_t, this worker's columns, straight into the state buffer
            product(pms, mo + b0 * Hp, Hp, phs, hcur + b0 * Pq, Pq, b1 - b0, pwr, q0, q1, H,
                    pzb, False, t % 2 == 1)
            for b in range(b0, b1):
                yo = (t * B + b) * P
                ho = hcur + b * Pq
                for j in range(q0 * W, j1):
                    store(py, yo + j, load(phs, ho + j))
            if parts > 1:   # every column of h_t, for the next step's product
                barrier_wait(pcount, parts, 2 * t + 2)


@kernel
def lstm_proj_backward_steps(wbp, wrb, zb, gates, cs, dy, dh, dc, dg, dyh, S, Sm, counter,
                             ub0, ub1, b0, b1, ta, tb, parts):
    """Backpropagation through steps ``tb``−1 down to ``ta`` (and on to dh0
    when ``ta`` is 0) for batch rows ``b0:b1`` and unit blocks ``ub0:ub1``
    (and the columns of h in proportion to them).

    ``wbp`` is w_hh packed for dh = dg · w_hh (K = the C gate columns,
    output columns the Pq state columns), ``wrb`` w_hr packed for dm = dh ·
    w_hr (K = P, output columns the Hq units), ``zb`` zeros (≥ max(Pq,
    Hq)). ``dh`` (B, Pq) holds dh_n on entry and dh0 on return, ``dc`` (B,
    Hp) dc_n and dc0; ``dg`` (T, B, C) receives the gate pre-activations'
    gradients and ``dyh`` (T, B, Pq) the gradient of every h_t (dy_t plus
    what flows back from step t + 1; zeros in the padding columns), which
    the weight gradients of w_hr read. ``S`` (B, Pq) and ``Sm`` (B, Hq) are
    scratch. ``cs`` holds T + 1 slots (slot t + 1 is c_t).
    """
    T, B, C = dg.shape
    P = dy.shape[2]
    Pq = dh.shape[1]
    Hp = dc.shape[1]
    Hq = Sm.shape[1]
    pw, pwr, pg, pcs, pdy, pdh, pdc, pdg, pdyh, pS, pSm = (
        ptr(wbp), ptr(wrb), ptr(gates), ptr(cs), ptr(dy), ptr(dh), ptr(dc), ptr(dg), ptr(dyh),
        ptr(S), ptr(Sm))
    pzb = ptr(zb)
    pcount = ptr(counter)
    # steps per progress report for the weight gradients following this loop
    # (engine.backward_pass; 0: none)
    every = atomic_load(pcount, 6)
    published = 0
    L = lanes_of(pdh)
    W = 2 * L
    # this worker's panels of units (dm's columns) and of h (in proportion)
    u0, u1 = block_panels(ub0, ub1, 1)
    n_blocks = Hp // L
    q0, q1 = wbp.shape[0] * ub0 // n_blocks, wbp.shape[0] * ub1 // n_blocks
    j0, j1 = q0 * W, q1 * W
    jp = min(j1, P)
    # single rows sum k in interleaved chains only when the whole batch has
    # fewer than 4 rows, so that a row's bits do not depend on its group
    split = B < 4
    for t in range(tb - 1, ta - 2 if ta == 0 else ta - 1, -1):
        gen = 2 * (T - 1 - t)
        if t < T - 1:
            # the part of dh_t that flows back from step t + 1: dg_{t+1} · w_hh
            product(pdg, ((t + 1) * B + b0) * C, C, pS, b0 * Pq, Pq, b1 - b0, pw, q0, q1, C,
                    pzb, split, t % 2 == 1)
        if t < 0:
            for b in range(b0, b1):
                for j in range(j0, j1):
                    store(pdh, b * Pq + j, load(pS, b * Pq + j))
            break
        for b in range(b0, b1):
            yo = (t * B + b) * P
            ho = (t * B + b) * Pq
            if t < T - 1:
                for j in range(j0, jp):
                    store(pdyh, ho + j, load(pS, b * Pq + j) + load(pdy, yo + j))
            else:
                for j in range(j0, jp):
                    store(pdyh, ho + j, load(pdh, b * Pq + j) + load(pdy, yo + j))
            for j in range(max(P, j0), j1):
                store(pdyh, ho + j, 0.0)
        if parts > 1:   # every column of dh_t
            barrier_wait(pcount, parts, gen + 1)
        # h_t = w_hr m_t: dm_t = dh_t · w_hr, this worker's units
        product(pdyh, (t * B + b0) * Pq, Pq, pSm, b0 * Hq, Hq, b1 - b0, pwr, u0, u1, P, pzb,
                split, t % 2 == 1)
        for b in range(b0, b1):
            for ub in range(ub0, ub1):
                u = b * Hp + ub * L
                cell_block_backward(pg, (t * B + b) * C + ub * G * L, pcs, (t + 1) * B * Hp + u,
                                    t * B * Hp + u, vload(pSm, b * Hq + ub * L), pdc, u, pdg)
        published = publish(pcount, 5, tb - t, published, every, t == ta)
        if parts > 1:   # every gate gradient of step t, for the next product
            barrier_wait(pcount, parts, gen + 2)

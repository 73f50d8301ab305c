"""LSTM forward and backward time loops of the persistent-thread engine.

One call of a ``*_steps`` kernel is one worker's whole pass over its share,
cut one of two ways (``functional/engine.py`` chooses):

by hidden units
    the worker owns the units of blocks ``ub0:ub1`` (``L`` units a block,
    ``L`` the SIMD width) with all four gate rows of each, for every batch
    row, so the cell update needs nothing from the other workers; only h_t
    (forward) and the gate gradients (backward) are shared, through arrays
    every worker reads whole, and the workers meet at a spin barrier once
    per step (``parts`` > 1). Each worker's slice of W_hh stays in its
    core's cache: the split for large H.
by batch rows
    the worker owns rows ``b0:b1`` and every unit: the sequences are
    independent, nothing is shared and nobody waits (``parts`` == 1 in the
    kernel). Every worker reads all of W_hh: the split for small H, where
    W_hh fits each core's cache and exchanging h costs more than it saves.
    A call then covers a piece of the time loop, steps ``ta`` … ``tb``−1
    (backward: ``tb``−1 down to ``ta``): the state of its rows stays in the
    pass's buffers between pieces, so whichever worker takes the next piece
    carries on where this one stopped (``functional/engine.py``, ``run``).
    Split by units, a call covers the whole loop.

The layout (packed columns, padded widths, slots) is described in
``functional/engine.py``.

Forward, per step: the worker's columns of ``h_{t−1} · W_hhᵀ`` into the
scratch ``S`` (the packed micro-kernel), then for each batch row and unit
block the gate pre-activations ``gx + S`` are loaded as vectors, the cell
math of ``kernels/cellmath.py`` runs on them in registers, and c_t, h_t
(and in training the activations) are stored once.

Backward, per step (t from T−1 down): ``dh_t`` for the worker's units is
``dy_t`` plus the product of the next step's gate gradients (all columns,
all workers) with its slice of ``W_hh``; the cell's backward runs on
vectors and writes this step's gate gradients for the worker's columns.
"""
from ..._jit import inline, kernel
from .cell import lstm_cell, lstm_cell_backward
from .packed import block_panels, product, project_chunk
from .simd import (atomic_load, barrier_wait, lanes_of, load, ptr, publish, store, vload,
                   vstore)

G = 4


@inline
def cell_block(pgx, go, pS, so, c0, pcs, cp, cn, ph, hn, pg, k, training):
    """The cell update of one batch row's block of L units: the
    pre-activations ``gx + S`` at columns ``c0`` … (i, f, g, o, a vector
    each; chunk row ``go``, scratch row ``so``), c_{t−1} from ``pcs[cp]``;
    c_t to ``pcs[cn]``, o ⊙ tanh(c_t) to ``ph[hn]`` (h_t, or m_t with a
    projection) and in training the activations to ``pg[k]``. Shared with
    ``fused_lstm_proj.py``."""
    L = lanes_of(pgx)
    ai = vload(pgx, go + c0) + vload(pS, so + c0)
    af = vload(pgx, go + c0 + L) + vload(pS, so + c0 + L)
    ag = vload(pgx, go + c0 + 2 * L) + vload(pS, so + c0 + 2 * L)
    ao = vload(pgx, go + c0 + 3 * L) + vload(pS, so + c0 + 3 * L)
    i, f, g, o, c, h = lstm_cell(ai, af, ag, ao, vload(pcs, cp))
    vstore(pcs, cn, c)
    vstore(ph, hn, h)
    if training:
        vstore(pg, k, i)
        vstore(pg, k + L, f)
        vstore(pg, k + 2 * L, g)
        vstore(pg, k + 3 * L, o)


@inline
def cell_block_backward(pg, k, pcs, cur, prev, dh, pdc, u, pdg):
    """The cell's backward pass for one batch row's block of L units: the
    activations at ``pg[k]`` (i, f, g, o), c_t and c_{t−1} at ``pcs[cur]``
    and ``pcs[prev]``, the gradient ``dh`` (a vector) of o ⊙ tanh(c_t);
    the gate gradients to ``pdg[k]``, and ``pdc[u]`` from dc_t to dc_{t−1}.
    Shared with ``fused_lstm_proj.py``."""
    L = lanes_of(pg)
    dai, daf, dag, dao, dcp = lstm_cell_backward(
        vload(pg, k), vload(pg, k + L), vload(pg, k + 2 * L), vload(pg, k + 3 * L),
        vload(pcs, cur), vload(pcs, prev), dh, vload(pdc, u))
    vstore(pdg, k, dai)
    vstore(pdg, k + L, daf)
    vstore(pdg, k + 2 * L, dag)
    vstore(pdg, k + 3 * L, dao)
    vstore(pdc, u, dcp)


@kernel
def lstm_forward_steps(x, wxp, bx, whp, bh, hs, cs, gx, S, gates, y, Tc, training, counter,
                       ub0, ub1, b0, b1, ta, tb, parts):
    """Steps ``ta`` … ``tb``−1 for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``
    (one worker).

    ``hs``/``cs`` (slots, B, Hp): slot 0 holds h0/c0, step t reads slot
    ``t % slots`` and writes ``(t + 1) % slots``. Both keep T + 1 slots in
    training (the backward pass reads every c_t, the weight gradients every
    h_t), 2 otherwise. ``gx`` (Tc, B, C) holds a chunk's input projections,
    ``S`` (B, C) a step's recurrent product, ``gates`` (T, B, C) the
    activations in training.
    """
    T, B, I = x.shape
    H = y.shape[2]
    slots, Hp = cs.shape[0], cs.shape[2]
    C = bx.shape[0]
    px, pwx, pbx, pwh, pbh = ptr(x), ptr(wxp), ptr(bx), ptr(whp), ptr(bh)
    phs, pcs, pgx, pS, pg, py = ptr(hs), ptr(cs), ptr(gx), ptr(S), ptr(gates), ptr(y)
    pcount = ptr(counter)
    L = lanes_of(pbx)
    p0, p1 = block_panels(ub0, ub1, G)
    u0, u1 = ub0 * L, min(ub1 * L, H)
    for t0 in range(ta, tb, Tc):
        n = min(Tc, tb - t0)
        # this worker's columns of the chunk's input projections (+ both biases)
        project_chunk(px, I, t0, n, B, b0, b1, pgx, C, pwx, p0, p1, pbx)
        for s in range(n):
            t = t0 + s
            prev = (t % slots) * B * Hp
            cur = ((t + 1) % slots) * B * Hp
            hprev = prev
            hcur = cur
            product(phs, hprev + b0 * Hp, Hp, pS, b0 * C, C, b1 - b0, pwh, p0, p1, H, pbh, False,
                    t % 2 == 1)
            for b in range(b0, b1):
                go = (s * B + b) * C
                so = b * C
                for ub in range(ub0, ub1):
                    c0 = ub * G * L
                    u = b * Hp + ub * L
                    cell_block(pgx, go, pS, so, c0, pcs, prev + u, cur + u, phs, hcur + u, pg,
                               (t * B + b) * C + c0, training)
                yo = (t * B + b) * H
                ho = hcur + b * Hp
                for j in range(u0, u1):
                    store(py, yo + j, load(phs, ho + j))
            if parts > 1:
                barrier_wait(pcount, parts, t + 1)


@kernel
def lstm_backward_steps(wbp, zb, gates, cs, dy, dh, dc, dg, S, counter, ub0, ub1, b0, b1,
                        ta, tb, parts):
    """Backpropagation through steps ``tb``−1 down to ``ta`` (and on to dh0
    when ``ta`` is 0) for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``.

    ``wbp`` is W_hh packed for the backward product (K = C gate columns in
    packed order, output columns = hidden units, in panels of 2L). ``dh``
    (B, Hp) holds dh_n on entry and dh0 on return, ``dc`` (B, Hp) dc_n and
    dc0; ``dg`` (T, B, C) receives the pre-activation gradients; ``S``
    (B, Hq) is scratch and ``zb`` (Hq,) zeros (the product's bias), Hq being
    Hp rounded up to whole panels (an odd block count leaves half a panel).
    ``cs`` holds T + 1 slots (slot t + 1 is c_t).
    """
    T, B, C = dg.shape
    H = dy.shape[2]
    Hp = dh.shape[1]
    Hq = S.shape[1]
    pw, pg, pcs, pdy, pdh, pdc, pdg, pS = (ptr(wbp), ptr(gates), ptr(cs), ptr(dy), ptr(dh),
                                           ptr(dc), ptr(dg), ptr(S))
    pzb = ptr(zb)
    pcount = ptr(counter)
    # steps per progress report for the weight gradients following this loop
    # (engine.backward_pass; 0: none)
    every = atomic_load(pcount, 6)
    published = 0
    L = lanes_of(pdh)
    q0, q1 = block_panels(ub0, ub1, 1)  # output panels: 2L units each
    u0, u1 = ub0 * L, min(ub1 * L, H)
    # t = −1 only finishes dh0 = dg_0 · W_hh: the product has one call site
    # (each inlined copy of it added ~3 s to a kernel's compile)
    for t in range(tb - 1, ta - 2 if ta == 0 else ta - 1, -1):
        if t < T - 1:
            # dh_t (this worker's units) = dy_t + dg_{t+1} · W_hh[:, units]
            product(pdg, ((t + 1) * B + b0) * C, C, pS, b0 * Hq, Hq, b1 - b0, pw, q0, q1, C,
                    pzb, B < 4, t % 2 == 1)
        if t < 0:
            for b in range(b0, b1):
                for ub in range(ub0, ub1):
                    vstore(pdh, b * Hp + ub * L, vload(pS, b * Hq + ub * L))
            break
        for b in range(b0, b1):
            yo = (t * B + b) * H
            so = b * Hp
            if t < T - 1:
                for j in range(u0, u1):
                    store(pdh, so + j, load(pS, b * Hq + j) + load(pdy, yo + j))
            else:
                for j in range(u0, u1):
                    store(pdh, so + j, load(pdh, so + j) + load(pdy, yo + j))
            for ub in range(ub0, ub1):
                u = b * Hp + ub * L
                cell_block_backward(pg, (t * B + b) * C + ub * G * L, pcs, (t + 1) * B * Hp + u,
                                    t * B * Hp + u, vload(pdh, u), pdc, u, pdg)
        published = publish(pcount, 5, tb - t, published, every, t == ta)
        if parts > 1:
            barrier_wait(pcount, parts, T - t)

"""GRU (reset-before, numbarnn's default form) time loops of the CPU engine.

Same structure as ``fused_lstm.py`` (read its docstring first): a worker
owns the r, z and n rows of its unit blocks. The reset gate acts before the
candidate's recurrent product,

    r = σ(gx_r + h W_hrᵀ)    z = σ(gx_z + h W_hzᵀ)
    n = tanh(gx_n + (r ⊙ h) W_hnᵀ)    h' = h + z ⊙ (n − h)

(both biases are in the input projection ``gx``), so a step has two
recurrent products, and the second needs every worker's r ⊙ h: split by
hidden units, the workers meet twice a step. The recurrent weights are
packed in two parts with their own layouts (``functional/engine.py``):
W_hr and W_hz by unit block (``wrz``: one panel per block holds its r and
z rows), W_hn by unit (``wn``). The input side uses the three-gate layout
(``wxp``, columns r, z, n per block).

Backward, per step (t from T−1 down), for the worker's units:

    dn, dz, dh' = update backward (dh_t)              → dN_t, dRZ_t (z)
    [meet]  drh = dN_t W_hn                            (product over all units)
    dr = drh ⊙ h ⊙ σ'(r),  dh' += drh ⊙ r              → dRZ_t (r)
    [meet]  dh_{t−1} = dh' + dRZ_t [W_hr; W_hz]        (product over all units)

``dN`` (T, B, Hq) and ``dRZ`` (T, B, 2Hp) keep every step's gradients in the
two recurrent layouts, for the weight gradients afterwards (Hq: Hp rounded
up to whole panels; dN's padding columns are zeros).
"""
from ..._jit import kernel
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh
from .packed import block_panels, product, project_chunk
from .simd import (atomic_load, barrier_wait, lanes_of, load, ptr, publish, store, vload,
                   vstore)

G = 3


@kernel
def gru_reset_before_forward_steps(x, wxp, bx, wrz, wn, zb, hs, gx, Srz, Sn, gates, aux, y,
                                   Tc, training, counter, ub0, ub1, b0, b1, ta, tb,
                                   parts):
    """Steps ``ta`` … ``tb``−1 for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``.

    ``hs`` (slots, B, Hp) and ``gx`` (Tc, B, C) as in
    ``fused_lstm.lstm_forward_steps``; ``Srz`` (B, 2Hp) and ``Sn`` (B, Hq)
    hold a step's two recurrent products (Hq: Hp rounded up to whole
    panels, the units W_hn's panels cover); ``aux`` (slots, B, Hp) receives
    r ⊙ h_{t−1} (every step in training, slot t; else one slot), ``gates``
    (T, B, C) the activations r, z, n in training. ``zb`` zeros (≥ 2Hp).
    """
    T, B, I = x.shape
    H = y.shape[2]
    slots, Hp = hs.shape[0], hs.shape[2]
    Hq = Sn.shape[1]
    aslots = aux.shape[0]
    C = bx.shape[0]
    px, pwx, pbx, pwrz, pwn, pzb = ptr(x), ptr(wxp), ptr(bx), ptr(wrz), ptr(wn), ptr(zb)
    phs, pgx, pSrz, pSn, pg, pa, py = (ptr(hs), ptr(gx), ptr(Srz), ptr(Sn), ptr(gates),
                                       ptr(aux), ptr(y))
    pcount = ptr(counter)
    L = lanes_of(pbx)
    p0, p1 = block_panels(ub0, ub1, G)
    q0, q1 = block_panels(ub0, ub1, 1)  # W_hn's panels: 2L units each
    u0, u1 = ub0 * L, min(ub1 * L, H)
    for t0 in range(ta, tb, Tc):
        n = min(Tc, tb - t0)
        project_chunk(px, I, t0, n, B, b0, b1, pgx, C, pwx, p0, p1, pbx)
        for s in range(n):
            t = t0 + s
            prev = (t % slots) * B * Hp
            cur = ((t + 1) % slots) * B * Hp
            ra = (t % aslots) * B * Hp
            back = t % 2 == 1
            # r and z of the worker's blocks: one panel of W_hr/W_hz per block
            product(phs, prev + b0 * Hp, Hp, pSrz, b0 * 2 * Hp, 2 * Hp, b1 - b0, pwrz, ub0, ub1,
                    H, pzb, False, back)
            for b in range(b0, b1):
                go = (s * B + b) * C
                for ub in range(ub0, ub1):
                    c0 = go + ub * G * L
                    so = b * 2 * Hp + ub * 2 * L
                    u = b * Hp + ub * L
                    r = sigmoid(vload(pgx, c0) + vload(pSrz, so))
                    z = sigmoid(vload(pgx, c0 + L) + vload(pSrz, so + L))
                    # the chunk's r and z are not needed any more: keep the
                    # activations there for the second half of the step
                    vstore(pgx, c0, r)
                    vstore(pgx, c0 + L, z)
                    vstore(pa, ra + u, r * vload(phs, prev + u))
            if parts > 1:
                barrier_wait(pcount, parts, 2 * t + 1)
            # the candidate's product needs r ⊙ h_{t−1} of every unit
            product(pa, ra + b0 * Hp, Hp, pSn, b0 * Hq, Hq, b1 - b0, pwn, q0, q1, H, pzb,
                    False, back)
            for b in range(b0, b1):
                go = (s * B + b) * C
                for ub in range(ub0, ub1):
                    c0 = go + ub * G * L
                    u = b * Hp + ub * L
                    z = vload(pgx, c0 + L)
                    nn = tanh(vload(pgx, c0 + 2 * L) + vload(pSn, b * Hq + ub * L))
                    vstore(phs, cur + u, gru_update(z, nn, vload(phs, prev + u)))
                    if training:
                        k = (t * B + b) * C + ub * G * L
                        vstore(pg, k, vload(pgx, c0))
                        vstore(pg, k + L, z)
                        vstore(pg, k + 2 * L, nn)
                yo = (t * B + b) * H
                ho = cur + b * Hp
                for j in range(u0, u1):
                    store(py, yo + j, load(phs, ho + j))
            if parts > 1:
                barrier_wait(pcount, parts, 2 * t + 2)


@kernel
def gru_reset_before_backward_steps(wrzT, wnT, zb, gates, aux, hs, dy, dh, carry, dN, dRZ, S,
                                    counter, ub0, ub1, b0, b1, ta, tb, parts):
    """Backpropagation through steps ``tb``−1 down to ``ta`` (and on to dh0
    when ``ta`` is 0) for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``.

    ``wnT`` is W_hn packed for drh = dn · W_hn (K = the Hq units of dN,
    whose padding columns are zeros, output columns the units) and ``wrzT``
    W_hr, W_hz for (dr, dz) · [W_hr; W_hz] (K = the 2Hp columns of the r/z
    layout). ``dh`` (B, Hp) holds dh_n on entry and dh0 on return; ``carry``
    (B, Hp) and ``S`` (B, Hq) are scratch; ``gates`` (T, B, C), ``aux``
    (T, B, Hp) and ``hs`` (T + 1 slots) are the forward pass's.
    """
    T, B, C = gates.shape
    H = dy.shape[2]
    Hp = dh.shape[1]
    Hq = S.shape[1]
    prz, pn, pzb, pg, pa, phs = ptr(wrzT), ptr(wnT), ptr(zb), ptr(gates), ptr(aux), ptr(hs)
    pdy, pdh, pcar, pdN, pdRZ, pS = ptr(dy), ptr(dh), ptr(carry), ptr(dN), ptr(dRZ), ptr(S)
    pcount = ptr(counter)
    # steps per progress report for the weight gradients following this loop
    # (engine.backward_pass; 0: none)
    every = atomic_load(pcount, 6)
    published = 0
    L = lanes_of(pdh)
    q0, q1 = block_panels(ub0, ub1, 1)  # output panels: 2L units each
    u0, u1 = ub0 * L, min(ub1 * L, H)
    split = B < 4
    for t in range(tb - 1, ta - 1, -1):
        back = t % 2 == 1
        gen = 2 * (T - 1 - t)
        for b in range(b0, b1):
            yo = (t * B + b) * H
            so = b * Hp
            for j in range(u0, u1):
                store(pdh, so + j, load(pdh, so + j) + load(pdy, yo + j))
            for ub in range(ub0, ub1):
                k = (t * B + b) * C + ub * G * L
                u = b * Hp + ub * L
                dan, daz, dhp = gru_update_backward(
                    vload(pg, k + L), vload(pg, k + 2 * L), vload(phs, t * B * Hp + u),
                    vload(pdh, u))
                vstore(pdN, (t * B + b) * Hq + ub * L, dan)
                vstore(pdRZ, (t * B + b) * 2 * Hp + ub * 2 * L + L, daz)
                vstore(pcar, u, dhp)
        if parts > 1:
            barrier_wait(pcount, parts, gen + 1)
        # drh = dn · W_hn for the worker's units
        product(pdN, (t * B + b0) * Hq, Hq, pS, b0 * Hq, Hq, b1 - b0, pn, q0, q1, Hq, pzb,
                split, back)
        for b in range(b0, b1):
            for ub in range(ub0, ub1):
                k = (t * B + b) * C + ub * G * L
                u = b * Hp + ub * L
                r = vload(pg, k)
                drh = vload(pS, b * Hq + ub * L)
                vstore(pdRZ, (t * B + b) * 2 * Hp + ub * 2 * L,
                       drh * vload(phs, t * B * Hp + u) * sigmoid_grad(r))
                vstore(pcar, u, vload(pcar, u) + drh * r)
        if parts > 1:
            barrier_wait(pcount, parts, gen + 2)
        # dh_{t−1} = the direct part + (dr, dz) · [W_hr; W_hz]
        product(pdRZ, (t * B + b0) * 2 * Hp, 2 * Hp, pS, b0 * Hq, Hq, b1 - b0, prz, q0, q1,
                2 * Hp, pzb, split, back)
        for b in range(b0, b1):
            for ub in range(ub0, ub1):
                u = b * Hp + ub * L
                vstore(pdh, u, vload(pcar, u) + vload(pS, b * Hq + ub * L))
        published = publish(pcount, 5, tb - t, published, every, t == ta)

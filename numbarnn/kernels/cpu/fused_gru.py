"""GRU (reset-after, the cuDNN/PyTorch form) time loops of the CPU engine.

Same structure as ``fused_lstm.py`` (read its docstring first): a worker
owns the r, z and n rows of its unit blocks. The recurrent product carries
``b_hh`` as its bias only in the n rows (``bh``); the input projection
carries ``b_ih + b_hh`` for r and z and ``b_ih`` for n (``bx``), so

    r = σ(gx_r + S_r)    z = σ(gx_z + S_z)    n = tanh(gx_n + r ⊙ S_n)

with ``S_n = w_hn h + b_hn`` kept in training (``aux``) for the backward
pass. The gradient of h_{t−1} has a direct part ``dh ⊙ (1 − z)`` besides
the product; a worker keeps it for its own units in ``carry`` between
steps, as the LSTM keeps dc.

The reset-before GRU (numbarnn's default form) multiplies r ⊙ h_{t−1} by
w_hn, which needs every worker's r before that product (two barriers a
step): ``fused_gru_reset_before.py``.
"""
from ..._jit import kernel
from .cell import gru_update, gru_update_backward, sigmoid, sigmoid_grad, tanh
from .packed import block_panels, product, project_chunk
from .simd import (atomic_load, barrier_wait, lanes_of, load, ptr, publish, store, vload,
                   vstore)

G = 3


@kernel
def gru_forward_steps(x, wxp, bx, whp, bh, hs, gx, S, gates, aux, y, Tc, training, counter,
                      ub0, ub1, b0, b1, ta, tb, parts):
    """Steps ``ta`` … ``tb``−1 for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``
    (reset-after).

    Buffers as in ``fused_lstm.lstm_forward_steps``; ``aux`` (T, B, Hp)
    receives S_n in training.
    """
    T, B, I = x.shape
    H = y.shape[2]
    slots, Hp = hs.shape[0], hs.shape[2]
    C = bx.shape[0]
    px, pwx, pbx, pwh, pbh = ptr(x), ptr(wxp), ptr(bx), ptr(whp), ptr(bh)
    phs, pgx, pS, pg, pa, py = ptr(hs), ptr(gx), ptr(S), ptr(gates), ptr(aux), ptr(y)
    pcount = ptr(counter)
    L = lanes_of(pbx)
    p0, p1 = block_panels(ub0, ub1, G)
    u0, u1 = ub0 * L, min(ub1 * L, H)
    for t0 in range(ta, tb, Tc):
        n = min(Tc, tb - t0)
        project_chunk(px, I, t0, n, B, b0, b1, pgx, C, pwx, p0, p1, pbx)
        for s in range(n):
            t = t0 + s
            prev = (t % slots) * B * Hp
            cur = ((t + 1) % slots) * B * Hp
            product(phs, prev + b0 * Hp, Hp, pS, b0 * C, C, b1 - b0, pwh, p0, p1, H, pbh, False,
                    t % 2 == 1)
            for b in range(b0, b1):
                go = (s * B + b) * C
                so = b * C
                for ub in range(ub0, ub1):
                    c0 = ub * G * L
                    r = sigmoid(vload(pgx, go + c0) + vload(pS, so + c0))
                    z = sigmoid(vload(pgx, go + c0 + L) + vload(pS, so + c0 + L))
                    hn = vload(pS, so + c0 + 2 * L)
                    nn = tanh(vload(pgx, go + c0 + 2 * L) + r * hn)
                    u = b * Hp + ub * L
                    vstore(phs, cur + u, gru_update(z, nn, vload(phs, prev + u)))
                    if training:
                        k = (t * B + b) * C + c0
                        vstore(pg, k, r)
                        vstore(pg, k + L, z)
                        vstore(pg, k + 2 * L, nn)
                        vstore(pa, (t * B + b) * Hp + ub * L, hn)
                yo = (t * B + b) * H
                ho = cur + b * Hp
                for j in range(u0, u1):
                    store(py, yo + j, load(phs, ho + j))
            if parts > 1:
                barrier_wait(pcount, parts, t + 1)


@kernel
def gru_backward_steps(wbp, zb, gates, aux, hs, dy, dh, carry, dg, dgh, S, counter, ub0, ub1,
                       b0, b1, ta, tb, parts):
    """Backpropagation through steps ``tb``−1 down to ``ta`` (and on to dh0
    when ``ta`` is 0) for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``.

    ``dh`` (B, Hp) is scratch and receives dh0; ``carry`` (B, Hp) holds
    dh_n on entry (the gradient reaching h_{T−1} from outside). ``dg`` and
    ``dgh`` (T, B, C) receive the gradients of the input-side and
    recurrent-side pre-activations; ``hs`` holds T + 1 slots.
    """
    T, B, C = dg.shape
    H = dy.shape[2]
    Hp = dh.shape[1]
    Hq = S.shape[1]
    pw, pzb, pg, pa, phs = ptr(wbp), ptr(zb), ptr(gates), ptr(aux), ptr(hs)
    pdy, pdh, pcar, pdg, pdgh, pS = ptr(dy), ptr(dh), ptr(carry), ptr(dg), ptr(dgh), ptr(S)
    pcount = ptr(counter)
    # steps per progress report for the weight gradients following this loop
    # (engine.backward_pass; 0: none)
    every = atomic_load(pcount, 6)
    published = 0
    L = lanes_of(pdh)
    q0, q1 = block_panels(ub0, ub1, 1)  # output panels: 2L units each
    u0, u1 = ub0 * L, min(ub1 * L, H)
    # t = −1 only finishes dh0 = dgh_0 · W_hh + carry: the product has one
    # call site (each inlined copy of it added ~3 s to a kernel's compile)
    for t in range(tb - 1, ta - 2 if ta == 0 else ta - 1, -1):
        if t < T - 1:
            product(pdgh, ((t + 1) * B + b0) * C, C, pS, b0 * Hq, Hq, b1 - b0, pw, q0, q1, C,
                    pzb, B < 4, t % 2 == 1)
        if t < 0:
            for b in range(b0, b1):
                for j in range(u0, u1):
                    store(pdh, b * Hp + j, load(pS, b * Hq + j) + load(pcar, b * Hp + j))
            break
        for b in range(b0, b1):
            yo = (t * B + b) * H
            so = b * Hp
            for j in range(u0, u1):
                d = load(pcar, so + j) + load(pdy, yo + j)
                if t < T - 1:
                    d += load(pS, b * Hq + j)
                store(pdh, so + j, d)
            for ub in range(ub0, ub1):
                k = (t * B + b) * C + ub * G * L
                u = b * Hp + ub * L
                r = vload(pg, k)
                dan, daz, dhp = gru_update_backward(
                    vload(pg, k + L), vload(pg, k + 2 * L), vload(phs, t * B * Hp + u),
                    vload(pdh, u))
                dar = dan * vload(pa, t * B * Hp + u) * sigmoid_grad(r)
                vstore(pdg, k, dar)
                vstore(pdg, k + L, daz)
                vstore(pdg, k + 2 * L, dan)
                vstore(pdgh, k, dar)
                vstore(pdgh, k + L, daz)
                vstore(pdgh, k + 2 * L, dan * r)
                vstore(pcar, u, dhp)
        published = publish(pcount, 5, tb - t, published, every, t == ta)
        if parts > 1:
            barrier_wait(pcount, parts, T - t)

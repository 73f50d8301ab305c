"""Elman RNN time loops of the CPU engine.

Same structure as ``fused_lstm.py`` (read its docstring first), with one
gate: ``h_t = φ(gx + S)``, φ by activation code (``kernels/cellmath.py``:
0 tanh, 1 relu, 2 sigmoid). The input projection carries both biases.
"""
from ..._jit import kernel
from .cell import activation, activation_grad
from .packed import block_panels, product, project_chunk
from .simd import (atomic_load, barrier_wait, lanes_of, load, ptr, publish, store, vload,
                   vstore)

G = 1


@kernel
def rnn_forward_steps(x, wxp, bx, whp, bh, hs, gx, S, y, act, Tc, counter, ub0, ub1, b0, b1,
                      ta, tb, parts):
    """Steps ``ta`` … ``tb``−1 for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``;
    buffers as in
    ``fused_lstm.lstm_forward_steps`` (the states ``hs`` are the cache)."""
    T, B, I = x.shape
    H = y.shape[2]
    slots, Hp = hs.shape[0], hs.shape[2]
    C = bx.shape[0]
    px, pwx, pbx, pwh, pbh = ptr(x), ptr(wxp), ptr(bx), ptr(whp), ptr(bh)
    phs, pgx, pS, py = ptr(hs), ptr(gx), ptr(S), ptr(y)
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
                    c0 = ub * L
                    h = activation(vload(pgx, go + c0) + vload(pS, so + c0), act)
                    vstore(phs, cur + b * Hp + c0, h)
                yo = (t * B + b) * H
                ho = cur + b * Hp
                for j in range(u0, u1):
                    store(py, yo + j, load(phs, ho + j))
            if parts > 1:
                barrier_wait(pcount, parts, t + 1)


@kernel
def rnn_backward_steps(wbp, zb, hs, dy, dh, dg, S, act, counter, ub0, ub1, b0, b1, ta, tb,
                       parts):
    """Backpropagation through steps ``tb``−1 down to ``ta`` (and on to dh0
    when ``ta`` is 0) for the unit blocks ``ub0:ub1`` and batch rows ``b0:b1``.

    ``dh`` (B, Hp) holds dh_n on entry and dh0 on return; ``dg`` (T, B, C)
    receives the pre-activation gradients; ``hs`` holds T + 1 slots.
    """
    T, B, C = dg.shape
    H = dy.shape[2]
    Hp = dh.shape[1]
    Hq = S.shape[1]
    pw, pzb, phs, pdy, pdh, pdg, pS = ptr(wbp), ptr(zb), ptr(hs), ptr(dy), ptr(dh), ptr(dg), \
        ptr(S)
    pcount = ptr(counter)
    # steps per progress report for the weight gradients following this loop
    # (engine.backward_pass; 0: none)
    every = atomic_load(pcount, 6)
    published = 0
    L = lanes_of(pdh)
    q0, q1 = block_panels(ub0, ub1, G)  # output panels: 2L units each
    u0, u1 = ub0 * L, min(ub1 * L, H)
    # t = −1 only finishes dh0 = dg_0 · W_hh: the product has one call site
    # (each inlined copy of it added ~3 s to a kernel's compile)
    for t in range(tb - 1, ta - 2 if ta == 0 else ta - 1, -1):
        if t < T - 1:
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
            # dh_t = dy_t + the product (in S), or + dh_n at the last step
            src, sso = (pS, b * Hq) if t < T - 1 else (pdh, so)
            for j in range(u0, u1):
                store(pdh, so + j, load(src, sso + j) + load(pdy, yo + j))
            for ub in range(ub0, ub1):
                u = b * Hp + ub * L
                h = vload(phs, (t + 1) * B * Hp + u)
                vstore(pdg, (t * B + b) * C + ub * L, vload(pdh, u) * activation_grad(h, act))
        published = publish(pcount, 5, tb - t, published, every, t == ta)
        if parts > 1:
            barrier_wait(pcount, parts, T - t)

"""One time step for a few batch rows: the streaming path (``step``, cells).

A layer's ``step`` at B = 1 is a handful of dot products and one cell
update, far too little work for the engine's packing and workers. Each
kernel here reads the stored weights in place (so a layer validates them
once, not per call, and sees in-place updates), forms every gate row as a
SIMD dot product of a weight row with x and with h, and applies the cell
math of ``kernels/cellmath.py`` on vectors of L units (scalars for the
tail). It also reports non-finite inputs, so the caller needs no separate
scan. Sums are in a different order from the engine's, so a streamed
sequence matches one long call to rounding, not bit for bit.
"""
import numpy as np

from ..._jit import inline, kernel
from .cell import activation, gru_update, lstm_cell, sigmoid, tanh
from .simd import keep_alive, lanes_of, load, ptr, store, vfma, vload, vstore, vsum, vzero


@inline
def _dot(w, wo, v, vo, K, L):
    # Σ_k w[wo + k] v[vo + k]: one vector chain, a fixed lane tree, a scalar tail
    s = vsum(vzero(w))  # a zero of the weights' dtype (folded at compile time)
    k = 0
    if K >= L:
        acc = vzero(w)
        while k + L <= K:
            acc = vfma(vload(w, wo + k), vload(v, vo + k), acc)
            k += L
        s = vsum(acc)
    while k < K:
        s += load(w, wo + k) * load(v, vo + k)
        k += 1
    return s


@inline
def _gates(px, xo, ph, ho, pwi, pwh, pbi, pbh, pg, pgh, rows, I, H, split, L):
    # g[r] = b_ih + w_ih x (+ b_hh + w_hh h); rows from ``split`` keep the
    # recurrent part apart in gh (the reset-after GRU's candidate)
    for r in range(rows):
        a = load(pbi, r) + _dot(pwi, r * I, px, xo, I, L)
        hr = load(pbh, r) + _dot(pwh, r * H, ph, ho, H, L)
        if r < split:
            store(pg, r, a + hr)
        else:
            store(pg, r, a)
            store(pgh, r - split, hr)


@inline
def _count_nonfinite(p, start, n):
    bad = 0
    for i in range(start, start + n):
        v = load(p, i)
        if not (v - v == 0.0):
            bad += 1
    return bad


# Every kernel advances layer ``l`` of a stack: h, c and the outputs are
# (L, B, H); the layer's input is ``x`` read flat from element ``xo`` (the
# step's input (B, I) for layer 0, the layer below's new h after that), and
# only layer 0 checks it. The return value counts non-finite inputs and
# states (then nothing is computed).


@kernel
def lstm_step(x, xo, l, h, c, w_ih, w_hh, b_ih, b_hh, h_new, c_new):
    """One LSTM step of layer ``l`` for every batch row."""
    B, H = h.shape[1], h.shape[2]
    I = w_ih.shape[1]
    px, ph, pc, pho, pco = ptr(x), ptr(h), ptr(c), ptr(h_new), ptr(c_new)
    base = l * B * H
    bad = _count_nonfinite(ph, base, B * H) + _count_nonfinite(pc, base, B * H)
    if l == 0:
        bad += _count_nonfinite(px, xo, B * I)
    if bad:
        return bad
    g = np.empty(4 * H, h.dtype)
    pg = ptr(g)
    pwi, pwh, pbi, pbh = ptr(w_ih), ptr(w_hh), ptr(b_ih), ptr(b_hh)
    L = lanes_of(pg)
    for b in range(B):
        u = base + b * H
        _gates(px, xo + b * I, ph, u, pwi, pwh, pbi, pbh, pg, pg, 4 * H, I, H, 4 * H, L)
        j = 0
        while j + L <= H:
            i, f, n, o, cj, hj = lstm_cell(vload(pg, j), vload(pg, H + j), vload(pg, 2 * H + j),
                                           vload(pg, 3 * H + j), vload(pc, u + j))
            vstore(pco, u + j, cj)
            vstore(pho, u + j, hj)
            j += L
        while j < H:
            i, f, n, o, cj, hj = lstm_cell(load(pg, j), load(pg, H + j), load(pg, 2 * H + j),
                                           load(pg, 3 * H + j), load(pc, u + j))
            store(pco, u + j, cj)
            store(pho, u + j, hj)
            j += 1
    keep_alive(g)   # g is only used through pointers
    return 0


@kernel
def gru_step(x, xo, l, h, w_ih, w_hh, b_ih, b_hh, reset_after, h_new):
    """One GRU step (either form) of layer ``l`` for every batch row."""
    B, H = h.shape[1], h.shape[2]
    I = w_ih.shape[1]
    px, ph, pho = ptr(x), ptr(h), ptr(h_new)
    base = l * B * H
    bad = _count_nonfinite(ph, base, B * H)
    if l == 0:
        bad += _count_nonfinite(px, xo, B * I)
    if bad:
        return bad
    g = np.empty(5 * H, h.dtype)   # 3H gates, H recurrent candidate or r ⊙ h
    pg = ptr(g)
    pwi, pwh, pbi, pbh = ptr(w_ih), ptr(w_hh), ptr(b_ih), ptr(b_hh)
    L = lanes_of(pg)
    for b in range(B):
        u = base + b * H
        xb = xo + b * I
        if reset_after:
            _gates(px, xb, ph, u, pwi, pwh, pbi, pbh, pg, ptr(g[3 * H:]), 3 * H, I, H, 2 * H,
                   L)
            for j in range(H):
                r = sigmoid(load(pg, j))
                z = sigmoid(load(pg, H + j))
                n = tanh(load(pg, 2 * H + j) + r * load(pg, 3 * H + j))
                store(pho, u + j, gru_update(z, n, load(ph, u + j)))
        else:
            # r and z from h; the candidate's recurrent product reads r ⊙ h
            _gates(px, xb, ph, u, pwi, pwh, pbi, pbh, pg, pg, 2 * H, I, H, 2 * H, L)
            for j in range(H):
                r = sigmoid(load(pg, j))
                store(pg, H + j, sigmoid(load(pg, H + j)))
                store(pg, 4 * H + j, r * load(ph, u + j))
            for j in range(H):
                row = 2 * H + j
                a = load(pbi, row) + _dot(pwi, row * I, px, xb, I, L)
                a += load(pbh, row) + _dot(pwh, row * H, pg, 4 * H, H, L)
                store(pho, u + j, gru_update(load(pg, H + j), tanh(a), load(ph, u + j)))
    keep_alive(g)   # g is only used through pointers
    return 0


@kernel
def rnn_step(x, xo, l, h, w_ih, w_hh, b_ih, b_hh, act, h_new):
    """One Elman RNN step of layer ``l`` for every batch row."""
    B, H = h.shape[1], h.shape[2]
    I = w_ih.shape[1]
    px, ph, pho = ptr(x), ptr(h), ptr(h_new)
    base = l * B * H
    bad = _count_nonfinite(ph, base, B * H)
    if l == 0:
        bad += _count_nonfinite(px, xo, B * I)
    if bad:
        return bad
    g = np.empty(H, h.dtype)
    pg = ptr(g)
    pwi, pwh, pbi, pbh = ptr(w_ih), ptr(w_hh), ptr(b_ih), ptr(b_hh)
    L = lanes_of(pg)
    for b in range(B):
        u = base + b * H
        _gates(px, xo + b * I, ph, u, pwi, pwh, pbi, pbh, pg, pg, H, I, H, H, L)
        for j in range(H):
            store(pho, u + j, activation(load(pg, j), act))
    keep_alive(g)   # g is only used through pointers
    return 0

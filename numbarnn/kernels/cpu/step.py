"""One time step for a few batch rows: the streaming path (``step``, cells).

A layer's ``step`` at B = 1 is a handful of dot products and one cell
update, far too little work for the engine's packing and workers. Each
kernel here reads the stored weights in place (so a layer validates them
once, not per call, and sees in-place updates), forms every gate row as a
SIMD dot product of a weight row with x and with h, and applies the cell
math of ``kernels/cellmath.py`` on vectors of L units (scalars for the
tail). It also reports non-finite inputs, so the caller needs no separate
scan. Sums are in a different order from the engine's, so a streamed
sequence matches one long call to rounding, not bit for bit. From 32
(float32) or 16 (float64) batch rows, the gate rows are one product on the
engine's micro-kernel instead of dot products (``_dots_packed``): a batch
that large rounds differently from a smaller one.
"""
import numpy as np
from numba import types
from numba.extending import overload

from ..._jit import JIT_OPTIONS, helper, inline, kernel
from .cell import activation, gru_update, lstm_cell, sigmoid, tanh
from .packed import product_rows_outside
from .simd import (keep_alive, lanes_of, load, ptr, ptr_at, store, vfma, vload, vstore,
                   vstore_sums, vsum, vzero)


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
def _chain(pw, wo, pv, vo, KL, L):
    # _dot's vector chain for one weight row (no lane tree, no tail)
    acc = vzero(pw)
    for k in range(0, KL, L):
        acc = vfma(vload(pw, wo + k), vload(pv, vo + k), acc)
    return acc


@helper
def _dots_one(pw, wo, K, pv, vo, pout, oo, rows, L):
    # out[oo + r] = _dot(w row r, v) for every r < rows, bit for bit, for
    # one vector v: blocks of 16 rows reduce their 16 chains together
    # (vstore_sums) instead of one lane tree each, then add their scalar
    # tails in _dot's order. B = 1 LSTM step, H = 32, float32, the kernel
    # called in a loop inside numba: 1.0-1.6 µs -> 1.1-1.25 (one lane tree
    # each: 128 reductions of 4 shuffle levels; folded: 8 × 15 folds)
    KL = K - K % L
    r = 0
    if KL == 0:
        # K < L (a univariate input, I = 1): no chains to fold, only the
        # scalar tails, started from _dot's zero
        while r < rows:
            s = vsum(vzero(pw))
            for k in range(K):
                s += load(pw, wo + r * K + k) * load(pv, vo + k)
            store(pout, oo + r, s)
            r += 1
        return
    while r + 16 <= rows:
        w = wo + r * K
        vstore_sums(pout, oo + r, (
            _chain(pw, w, pv, vo, KL, L), _chain(pw, w + K, pv, vo, KL, L),
            _chain(pw, w + 2 * K, pv, vo, KL, L), _chain(pw, w + 3 * K, pv, vo, KL, L),
            _chain(pw, w + 4 * K, pv, vo, KL, L), _chain(pw, w + 5 * K, pv, vo, KL, L),
            _chain(pw, w + 6 * K, pv, vo, KL, L), _chain(pw, w + 7 * K, pv, vo, KL, L),
            _chain(pw, w + 8 * K, pv, vo, KL, L), _chain(pw, w + 9 * K, pv, vo, KL, L),
            _chain(pw, w + 10 * K, pv, vo, KL, L), _chain(pw, w + 11 * K, pv, vo, KL, L),
            _chain(pw, w + 12 * K, pv, vo, KL, L), _chain(pw, w + 13 * K, pv, vo, KL, L),
            _chain(pw, w + 14 * K, pv, vo, KL, L), _chain(pw, w + 15 * K, pv, vo, KL, L)))
        for j in range(16):
            s = load(pout, oo + r + j)
            for k in range(KL, K):
                s += load(pw, w + j * K + k) * load(pv, vo + k)
            store(pout, oo + r + j, s)
        r += 16
    while r < rows:
        store(pout, oo + r, _dot(pw, wo + r * K, pv, vo, K, L))
        r += 1


def _empty_for(p, n):
    """An empty array of n values of the pointer ``p``'s dtype (jitted code only)."""
    raise NotImplementedError


@overload(_empty_for, jit_options={k: v for k, v in JIT_OPTIONS.items() if k != "cache"})
def _ov_empty_for(p, n):
    dtype = np.float32 if p.dtype == types.float32 else np.float64
    return lambda p, n: np.empty(n, dtype)


@helper
def _dots_packed(pw, K, pv, vo, ldv, nb, pout, ldo, g0, G, H, u0, u1, L):
    # _dots as products on the register-tiled micro-kernel of packed.py,
    # with the roles turned round: the weight rows, contiguous in k and read
    # in place, are the broadcast operand, and the rows of v, packed into
    # panels of 2L (a copy of nb·K values, made once for all G gates), the
    # vector operand. Each result is one FMA chain over k, so these sums
    # round differently from _dot's lane tree (a batch of at least 2L rows
    # against a smaller one). The products come out (rows × batch) and are
    # transposed into out.
    # One step, eval mode, against torch's cell in the same process: LSTM
    # float32 B = 32, H = 128 (S3) 0.77x as dot products, 1.22-1.35x this
    # way; B = 64, H = 256 (S4) 0.45x -> 0.70x, float64 0.36x -> 0.68x
    # (torch's cell uses both threads, this kernel the calling one)
    W = 2 * L
    n_panels = -(-nb // W)
    Bp = n_panels * W
    nu = u1 - u0
    rows = G * nu
    vp = _empty_for(pw, K * Bp)
    t = _empty_for(pw, rows * Bp)
    z = _empty_for(pw, Bp)
    z[:] = 0
    pvp, pt, pz = ptr(vp), ptr(t), ptr(z)
    for p in range(n_panels):
        for j in range(W):
            b = p * W + j
            if b < nb:
                for k in range(K):
                    store(pvp, (p * K + k) * W + j, load(pv, vo + b * ldv + k))
            else:
                for k in range(K):
                    store(pvp, (p * K + k) * W + j, load(pz, 0))
    # weight-row tiles outside, panels inside: the weights are read once.
    # All units: the G gates' rows are one block
    runs, n = (1, rows) if nu == H else (G, nu)
    for g in range(runs):
        product_rows_outside(pw, ((g0 + g) * H + u0) * K, K, pt, g * nu * Bp, Bp, n, pvp,
                             n_panels, K, pz)
    # transposed into out in blocks of 8 batch rows × 16 weight rows: each
    # inner loop writes a line of out. Element by element along the batch
    # (rows of out 4 KB apart) it took 180 µs for (64 × 1024) float32, in
    # these blocks 43
    for b0 in range(0, nb, 8):
        b1 = min(b0 + 8, nb)
        for r0 in range(0, rows, 16):
            r1 = min(r0 + 16, rows)
            for b in range(b0, b1):
                for r in range(r0, r1):
                    store(pout, b * ldo + r, load(pt, r * Bp + b))
    keep_alive(vp)
    keep_alive(t)
    keep_alive(z)


@helper
def _dots(pw, K, pv, vo, ldv, nb, pout, ldo, g0, G, H, u0, u1, L):
    # out[b·ldo + g·nu + j] = Σ_k w[r·K + k] v[vo + b·ldv + k] with r =
    # (g0 + g)·H + u0 + j, for b < nb, g < G, j < nu = u1 − u0: the weight
    # rows of units u0:u1 of G consecutive gates (PyTorch's (out, in)
    # layout, read in place) against every row of v. From 2L rows of v (a
    # whole panel: 32 float32, 16 float64), products (:func:`_dots_packed`);
    # below, dot products (:func:`_dot_tiles`)
    if nb >= 2 * L:
        _dots_packed(pw, K, pv, vo, ldv, nb, pout, ldo, g0, G, H, u0, u1, L)
        return
    nu = u1 - u0
    runs, n = (1, G * nu) if nu == H else (G, nu)   # all units: one block of rows
    for g in range(runs):
        _dot_tiles(pw, ((g0 + g) * H + u0) * K, K, pv, vo, ldv, nb, pout, g * nu, ldo, n, L)


@inline
def _dot_tiles(pw, wo, K, pv, vo, ldv, nb, pout, oo, ldo, rows, L):
    # out[oo + b·ldo + r] = Σ_k w[wo + r·K + k] v[vo + b·ldv + k] for b < nb,
    # r < rows: every row of w (PyTorch's (out, in) layout, read in place)
    # against every row of v. Tiles of 4 weight rows × 4 rows of v keep 16
    # vector accumulators, so each weight row is read once per call rather
    # than once per batch row (B = 32, H = 128 LSTM step: 669 µs through the
    # general path, which packs the weights every call). Each sum is the one
    # chain of :func:`_dot` (a vector chain, a fixed lane tree, a scalar
    # tail), whatever tile computes it
    KL = K - K % L
    r = 0
    while r + 4 <= rows:
        w0 = wo + r * K
        w1 = w0 + K
        w2 = w1 + K
        w3 = w2 + K
        b = 0
        while b + 4 <= nb:
            v0 = vo + b * ldv
            v1 = v0 + ldv
            v2 = v1 + ldv
            v3 = v2 + ldv
            z = vzero(pw)
            a00, a01, a02, a03, a10, a11, a12, a13 = z, z, z, z, z, z, z, z
            a20, a21, a22, a23, a30, a31, a32, a33 = z, z, z, z, z, z, z, z
            for k in range(0, KL, L):
                x0 = vload(pv, v0 + k)
                x1 = vload(pv, v1 + k)
                x2 = vload(pv, v2 + k)
                x3 = vload(pv, v3 + k)
                y = vload(pw, w0 + k)
                a00 = vfma(y, x0, a00)
                a01 = vfma(y, x1, a01)
                a02 = vfma(y, x2, a02)
                a03 = vfma(y, x3, a03)
                y = vload(pw, w1 + k)
                a10 = vfma(y, x0, a10)
                a11 = vfma(y, x1, a11)
                a12 = vfma(y, x2, a12)
                a13 = vfma(y, x3, a13)
                y = vload(pw, w2 + k)
                a20 = vfma(y, x0, a20)
                a21 = vfma(y, x1, a21)
                a22 = vfma(y, x2, a22)
                a23 = vfma(y, x3, a23)
                y = vload(pw, w3 + k)
                a30 = vfma(y, x0, a30)
                a31 = vfma(y, x1, a31)
                a32 = vfma(y, x2, a32)
                a33 = vfma(y, x3, a33)
            o = oo + b * ldo + r
            _finish(pw, w0, pv, v0, KL, K, a00, pout, o)
            _finish(pw, w1, pv, v0, KL, K, a10, pout, o + 1)
            _finish(pw, w2, pv, v0, KL, K, a20, pout, o + 2)
            _finish(pw, w3, pv, v0, KL, K, a30, pout, o + 3)
            o += ldo
            _finish(pw, w0, pv, v1, KL, K, a01, pout, o)
            _finish(pw, w1, pv, v1, KL, K, a11, pout, o + 1)
            _finish(pw, w2, pv, v1, KL, K, a21, pout, o + 2)
            _finish(pw, w3, pv, v1, KL, K, a31, pout, o + 3)
            o += ldo
            _finish(pw, w0, pv, v2, KL, K, a02, pout, o)
            _finish(pw, w1, pv, v2, KL, K, a12, pout, o + 1)
            _finish(pw, w2, pv, v2, KL, K, a22, pout, o + 2)
            _finish(pw, w3, pv, v2, KL, K, a32, pout, o + 3)
            o += ldo
            _finish(pw, w0, pv, v3, KL, K, a03, pout, o)
            _finish(pw, w1, pv, v3, KL, K, a13, pout, o + 1)
            _finish(pw, w2, pv, v3, KL, K, a23, pout, o + 2)
            _finish(pw, w3, pv, v3, KL, K, a33, pout, o + 3)
            b += 4
        while b < nb:
            for j in range(4):
                store(pout, oo + b * ldo + r + j,
                      _dot(pw, wo + (r + j) * K, pv, vo + b * ldv, K, L))
            b += 1
        r += 4
    while r < rows:
        for b in range(nb):
            store(pout, oo + b * ldo + r, _dot(pw, wo + r * K, pv, vo + b * ldv, K, L))
        r += 1


@helper
def _finish(pw, wo, pv, vo, KL, K, acc, pout, o):
    # the lane tree and scalar tail of _dot for one accumulator
    s = vsum(acc) if KL > 0 else vsum(vzero(pw))
    for k in range(KL, K):
        s += load(pw, wo + k) * load(pv, vo + k)
    store(pout, o, s)


@helper
def _gates(px, xo, ph, ho, pwi, pwh, pbi, pbh, pg, pgh, pt, B, G, I, H, K, u0, u1, gsplit):
    # for each batch row b, gate g < G and unit u0 <= u < u1, at column
    # g·nu + u − u0 (nu = u1 − u0) of g (B, G·nu): b_ih + w_ih x_b + b_hh +
    # w_hh h_b (weight row g·H + u; h_b and the rows of w_hh have K values:
    # H, or P for a projected LSTM); gates from ``gsplit`` keep the
    # recurrent part apart, in gh (B, (G − gsplit)·nu) (the reset-after
    # GRU's candidate). ``pt`` is scratch for B × G·nu values. Every value is
    # the same whatever the unit range (a step split over workers by units
    # gives the bits of one computed whole)
    # called, not inlined by numba, once per dtype: callers pass G and gsplit
    # as np.int64 values, since each literal would compile it again (as a
    # literal 0 offset did _dots, three times per dtype: ~20 s)
    L = lanes_of(pg)
    zero = B - B
    nu = u1 - u0
    R = G * nu
    if B < 4:
        # no 4-row tile to fill: the rows of w against one vector at a time
        # (all units: the G gates' rows as one block, one call instead of G)
        runs, n = (1, R) if nu == H else (G, nu)
        for b in range(B):
            for g in range(runs):
                r = g * H + u0
                _dots_one(pwi, r * I, I, px, xo + b * I, pg, b * R + g * nu, n, L)
                _dots_one(pwh, r * K, K, ph, ho + b * K, pt, b * R + g * nu, n, L)
    else:
        _dots(pwi, I, px, xo, I, B, pg, R, zero, G, H, u0, u1, L)
        _dots(pwh, K, ph, ho, K, B, pt, R, zero, G, H, u0, u1, L)
    # the sums in vectors of L units, the same additions in the same order
    # as the scalar tail's, so the same bits. One LSTM float32 step, timeit
    # best of 11, alternating processes: B = 32, H = 128 (S3) 84 -> 73-76
    # µs; B = 64, H = 256 (S4) ~3% less
    Rh = (G - gsplit) * nu
    for b in range(B):
        for g in range(G):
            o = b * R + g * nu
            r = g * H + u0   # the gate's first bias
            j = 0
            if g < gsplit:
                while j + L <= nu:
                    vstore(pg, o + j, (vload(pbi, r + j) + vload(pg, o + j))
                           + (vload(pbh, r + j) + vload(pt, o + j)))
                    j += L
                while j < nu:
                    store(pg, o + j, (load(pbi, r + j) + load(pg, o + j))
                          + (load(pbh, r + j) + load(pt, o + j)))
                    j += 1
            else:
                oh = b * Rh + (g - gsplit) * nu
                while j + L <= nu:
                    vstore(pg, o + j, vload(pbi, r + j) + vload(pg, o + j))
                    vstore(pgh, oh + j, vload(pbh, r + j) + vload(pt, o + j))
                    j += L
                while j < nu:
                    store(pg, o + j, load(pbi, r + j) + load(pg, o + j))
                    store(pgh, oh + j, load(pbh, r + j) + load(pt, o + j))
                    j += 1


@inline
def _count_nonfinite(p, start, n):
    bad = 0
    for i in range(start, start + n):
        v = load(p, i)
        if not (v - v == 0.0):
            bad += 1
    return bad


@inline
def _nonfinite_inputs(px, xo, ph, base, B, H, I, l):
    # non-finite values in layer l's h and, for layer 0, in the step's input
    bad = _count_nonfinite(ph, base, B * H)
    if l == 0:
        bad += _count_nonfinite(px, xo, B * I)
    return bad


# Every kernel advances layer ``l`` of a stack: h, c and the outputs are
# (L, B, H); the layer's input is ``x`` read flat from element ``xo`` (the
# step's input (B, I) for layer 0, the layer below's new h after that), and
# only layer 0 checks it. ``weights`` (L, 7) int64 holds per layer the
# addresses of w_ih, w_hh, b_ih, b_hh (C-contiguous, the dtype of h), I and
# the hidden units u0:u1 the call computes (see ``weight_table``): one
# argument instead of four arrays, ~0.35 µs of a ~5 µs B = 1 LSTM step. A
# step split over workers by units gives each part its own table; every
# value is the same however the units are split. The return value counts
# non-finite inputs and states (then nothing is computed) where u0 is 0.


def weight_table(layers, u0=0, u1=None):
    """The ``weights`` argument of the step kernels for ``layers``, a list of
    (w_ih, w_hh, b_ih, b_hh) C-contiguous arrays of one dtype per layer,
    computing the hidden units ``u0:u1`` (all by default). The caller keeps
    the arrays alive as long as it uses the table.

    Per layer: the four addresses, I, u0 and u1 (a kernel argument each
    would cost every call ~0.1 µs of dispatch: ~2% of the B = 1 LSTM step).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.step import weight_table
    >>> w = [np.zeros((8, 3)), np.zeros((8, 2)), np.zeros(8), np.zeros(8)]
    >>> t = weight_table([w])
    >>> t.shape, int(t[0, 0]) == w[0].ctypes.data, t[0, 4:].tolist()
    ((1, 7), True, [3, 0, 2])
    """
    t = np.empty((len(layers), 7), np.int64)
    for row, (w_ih, w_hh, b_ih, b_hh) in zip(t, layers):
        row[:4] = [a.ctypes.data for a in (w_ih, w_hh, b_ih, b_hh)]
        row[4:] = w_ih.shape[1], u0, w_hh.shape[1] if u1 is None else u1
    return t


@inline
def _weights(weights, l, like):
    return (ptr_at(weights[l, 0], like), ptr_at(weights[l, 1], like),
            ptr_at(weights[l, 2], like), ptr_at(weights[l, 3], like), weights[l, 4],
            weights[l, 5], weights[l, 6])


@kernel
def lstm_step(x, xo, l, h, c, weights, h_new, c_new):
    """One LSTM step of layer ``l`` for every batch row and the units its
    row of ``weights`` names (the part with unit 0 checks the inputs)."""
    B, H = h.shape[1], h.shape[2]
    pwi, pwh, pbi, pbh, I, u0, u1 = _weights(weights, l, h)
    px, ph, pc, pho, pco = ptr(x), ptr(h), ptr(c), ptr(h_new), ptr(c_new)
    base = l * B * H
    if u0 == 0:
        bad = _nonfinite_inputs(px, xo, ph, base, B, H, I, l) + _count_nonfinite(pc, base, B * H)
        if bad:
            return bad
    nu = u1 - u0
    R = 4 * nu
    g = np.empty(2 * B * R, h.dtype)   # the gates (B, 4·nu), then scratch
    pg = ptr(g)
    L = lanes_of(pg)
    _gates(px, xo, ph, base, pwi, pwh, pbi, pbh, pg, pg, ptr(g[B * R:]), B, np.int64(4), I, H,
           H, u0, u1, np.int64(4))
    for b in range(B):
        u = base + b * H
        _lstm_cells(pg, b * R - u0, nu, pc, pco, u, pho, u, u0, u1, L)
    keep_alive(g)   # g is only used through pointers
    return 0


@inline
def _lstm_cells(pg, o, nu, pc, pco, u, ph, hu, j0, j1, L):
    # the cell update of units j0:j1 of one batch row: gate j's i, f, g, o
    # at pg[o + j], pg[o + nu + j], …; c_{t−1} at pc[u + j], c_t to
    # pco[u + j], o ⊙ tanh(c_t) to ph[hu + j]. Vectors of L units, then
    # scalars
    j = j0
    while j + L <= j1:
        i, f, n, q, cj, hj = lstm_cell(vload(pg, o + j), vload(pg, o + nu + j),
                                       vload(pg, o + 2 * nu + j), vload(pg, o + 3 * nu + j),
                                       vload(pc, u + j))
        vstore(pco, u + j, cj)
        vstore(ph, hu + j, hj)
        j += L
    while j < j1:
        i, f, n, q, cj, hj = lstm_cell(load(pg, o + j), load(pg, o + nu + j),
                                       load(pg, o + 2 * nu + j), load(pg, o + 3 * nu + j),
                                       load(pc, u + j))
        store(pco, u + j, cj)
        store(ph, hu + j, hj)
        j += 1


@kernel
def lstm_proj_step(x, xo, l, h, c, weights, projections, m, h_new, c_new):
    """One step of layer ``l`` of an LSTM with a projection (``proj_size``
    P): h and h_new are (L, B, P), c and c_new (L, B, H), ``projections``
    (L,) the addresses of each layer's w_hr (P, H), ``m`` (B, H) scratch
    for o ⊙ tanh(c). Every unit (the projection reads all of m)."""
    B, P = h.shape[1], h.shape[2]
    H = c.shape[2]
    pwi, pwh, pbi, pbh, I, u0, u1 = _weights(weights, l, h)
    pwr = ptr_at(projections[l], h)
    px, ph, pc, pm, pco = ptr(x), ptr(h), ptr(c), ptr(m), ptr(c_new)
    hb = l * B * P
    cb = l * B * H
    bad = _nonfinite_inputs(px, xo, ph, hb, B, P, I, l) + _count_nonfinite(pc, cb, B * H)
    if bad:
        return bad
    R = 4 * H
    g = np.empty(2 * B * R, h.dtype)   # the gates (B, 4H), then scratch
    pg = ptr(g)
    L = lanes_of(pg)
    _gates(px, xo, ph, hb, pwi, pwh, pbi, pbh, pg, pg, ptr(g[B * R:]), B, np.int64(4), I, H,
           P, u0, u1, np.int64(4))
    for b in range(B):
        # m_t of every unit, to the scratch
        _lstm_cells(pg, b * R, H, pc, pco, cb + b * H, pm, b * H, u0, u1, L)
    # h_t = w_hr m_t: P rows of w_hr (read in place) against each row of m
    zero = B - B  # not a literal 0: see _gates
    pho = ptr(h_new[l])
    if B < 4:
        for b in range(B):
            _dots_one(pwr, zero, H, pm, b * H, pho, b * P, P, L)
    else:
        _dots(pwr, H, pm, zero, H, B, pho, P, zero, zero + 1, P, zero, P, L)
    keep_alive(g)   # g is only used through pointers
    return 0


@kernel
def gru_step(x, xo, l, h, weights, reset_after, h_new):
    """One GRU step (either form) of layer ``l`` for every batch row and the
    units its row of ``weights`` names (all of them for the reset-before
    form, whose candidate reads r ⊙ h of every unit)."""
    B, H = h.shape[1], h.shape[2]
    pwi, pwh, pbi, pbh, I, u0, u1 = _weights(weights, l, h)
    px, ph, pho = ptr(x), ptr(h), ptr(h_new)
    base = l * B * H
    if u0 == 0:
        bad = _nonfinite_inputs(px, xo, ph, base, B, H, I, l)
        if bad:
            return bad
    nu = u1 - u0
    R = 3 * nu
    g = np.empty(3 * B * R, h.dtype)
    pg = ptr(g)
    L = lanes_of(pg)
    if reset_after:
        # gates (B, 3·nu); the candidate's recurrent part apart, (B, nu)
        pgh = ptr(g[B * R:])
        _gates(px, xo, ph, base, pwi, pwh, pbi, pbh, pg, pgh, ptr(g[2 * B * R:]), B,
               np.int64(3), I, H, H, u0, u1, np.int64(2))
        for b in range(B):
            u = base + b * H
            o = b * R - u0
            oh = b * nu - u0
            # in vectors of L units (a scalar loop over units u0:u1 was not
            # vectorized by LLVM, where one over all H had been: the S3
            # step took 199 µs against 59)
            j = u0
            while j + L <= u1:
                r = sigmoid(vload(pg, o + j))
                z = sigmoid(vload(pg, o + nu + j))
                n = tanh(vload(pg, o + 2 * nu + j) + r * vload(pgh, oh + j))
                vstore(pho, u + j, gru_update(z, n, vload(ph, u + j)))
                j += L
            while j < u1:
                r = sigmoid(load(pg, o + j))
                z = sigmoid(load(pg, o + nu + j))
                n = tanh(load(pg, o + 2 * nu + j) + r * load(pgh, oh + j))
                store(pho, u + j, gru_update(z, n, load(ph, u + j)))
                j += 1
    else:
        # r and z (B, 2H) from h; then the candidate, whose recurrent product
        # reads r ⊙ h (B, H)
        Z = 2 * H
        prh, pa, ph2 = ptr(g[2 * B * Z:]), ptr(g[2 * B * Z + B * H:]), \
            ptr(g[2 * B * Z + 2 * B * H:])
        zero = B - B  # not a literal 0: see _gates
        _gates(px, xo, ph, base, pwi, pwh, pbi, pbh, pg, pg, ptr(g[B * Z:]), B, np.int64(2), I,
               H, H, zero, H, np.int64(2))
        for b in range(B):
            u = base + b * H
            o = b * Z
            for j in range(H):
                r = sigmoid(load(pg, o + j))
                store(pg, o + H + j, sigmoid(load(pg, o + H + j)))
                store(prh, b * H + j, r * load(ph, u + j))
        one = zero + 1
        two = one + 1
        _dots(pwi, I, px, xo, I, B, pa, H, two, one, H, zero, H, L)
        _dots(pwh, H, prh, zero, H, B, ph2, H, two, one, H, zero, H, L)
        for b in range(B):
            u = base + b * H
            for j in range(H):
                a = load(pbi, Z + j) + load(pa, b * H + j)
                a += load(pbh, Z + j) + load(ph2, b * H + j)
                store(pho, u + j, gru_update(load(pg, b * Z + H + j), tanh(a), load(ph, u + j)))
    keep_alive(g)   # g is only used through pointers
    return 0


@kernel
def rnn_step(x, xo, l, h, weights, act, h_new):
    """One Elman RNN step of layer ``l`` for every batch row and the units
    its row of ``weights`` names."""
    B, H = h.shape[1], h.shape[2]
    pwi, pwh, pbi, pbh, I, u0, u1 = _weights(weights, l, h)
    px, ph, pho = ptr(x), ptr(h), ptr(h_new)
    base = l * B * H
    if u0 == 0:
        bad = _nonfinite_inputs(px, xo, ph, base, B, H, I, l)
        if bad:
            return bad
    nu = u1 - u0
    g = np.empty(2 * B * nu, h.dtype)
    pg = ptr(g)
    _gates(px, xo, ph, base, pwi, pwh, pbi, pbh, pg, pg, ptr(g[B * nu:]), B, np.int64(1), I, H,
           H, u0, u1, np.int64(1))
    for b in range(B):
        u = base + b * H
        o = b * nu - u0
        for j in range(u0, u1):
            store(pho, u + j, activation(load(pg, o + j), act))
    keep_alive(g)   # g is only used through pointers
    return 0

"""Weight-stationary products: weights packed once, register-tiled SIMD GEMM.

A recurrent layer multiplies the same weights by a new state at every step.
OpenBLAS re-packs its operands on every call; here a weight matrix is packed
once per pass into *panels* of ``2 × lanes`` output columns, each panel a
(K, 2·lanes) block read front to back, and every step's product reads the
panels in place:

    out[r, c] = bias[c] + Σ_k a[r, k] · w[col(c), k]

with ``col(c)`` the row of the stored weight (PyTorch's (out, in) layout)
that packed column ``c`` holds; padding columns hold zeros. The output
columns are therefore in *packed order*, chosen by the caller (the engine
orders them by hidden-unit block, then gate, so a cell update finds the G
pre-activations of ``lanes`` units side by side).

The micro-kernel keeps a tile of 8 rows × 2 vectors (16 accumulators) in
registers across the whole K loop: per k, two vector loads of weights, eight
broadcasts and sixteen fused multiply-adds. On one core of a Xeon (AVX-512,
2.3 GHz) such a kernel reached ~120 GFLOP/s on (32×128)·(128×512) float32 —
OpenBLAS's per-call speed, without its per-call packing; on an AMD EPYC
(Zen 4, one 16-lane FMA a cycle) 110–112. Rows beyond a multiple of 8 take
a 4-row tile, then 1-row tiles.

All arrays are C-contiguous and indexed flat; no bounds checks.
"""
import numpy as np
from numba import types
from numba.extending import overload

from ..._jit import JIT_OPTIONS, helper, inline, kernel
from .simd import (VECTOR_BYTES, lanes_of, load, ptr, store, vfma, vload, vsplat, vstore,
                   vstore_transposed, vzero)

#: Rows of the smaller register tile (the larger has 8).
TILE_ROWS = 4


def lanes(dtype):
    """Values per vector for ``dtype`` (16 for float32, 8 for float64)."""
    return VECTOR_BYTES // np.dtype(dtype).itemsize


def panel_width(dtype):
    """Packed columns per panel: two vectors."""
    return 2 * lanes(dtype)


@kernel
def pack(w, cols, wp, p0, p1):
    """Pack the rows ``cols`` of ``w`` (N, K) as panels ``wp`` (n_panels, K, 2L);
    this call fills panels ``p0:p1`` (the engine packs large weights on
    several workers, each its own range).

    ``cols[c]`` is the row of ``w`` that packed column c holds, or −1 for a
    zero padding column; ``len(cols) == n_panels · 2L``. ``w`` must be
    C-contiguous (it is read through a flat pointer).
    """
    # Blocks of L rows × L values of k: L vector loads along the rows, a
    # transpose in registers, L vector stores along the panel. Value by
    # value (a gather down the columns of w) it ran at 2.4-2.7 GB/s float32
    # on one core, this way at 8-14: the S5 LSTM's W_hh (2048 × 512
    # float32) 1.7 -> 0.5 ms
    n_panels, K, W = wp.shape
    pw, pp = ptr(w), ptr(wp)
    L = lanes_of(pw)
    KL = K - K % L
    for p in range(p0, p1):
        for c0 in range(p * W, p * W + W, L):
            o = p * K * W + c0 - p * W
            for k in range(0, KL, L):
                vstore_transposed(pp, o + k * W, W, _row_block(pw, cols, c0, K, k))
            for j in range(L):
                r = cols[c0 + j]
                for k in range(KL, K):
                    store(pp, o + k * W + j, load(pw, r * K + k) if r >= 0 else 0.0)


@inline
def _row_of(pw, cols, c, K, k):
    r = cols[c]
    return vload(pw, r * K + k) if r >= 0 else vzero(pw)


def strided_block(p, o, stride):
    """The L vectors ``p[o + r·stride : o + r·stride + L]``, r < L, as a
    tuple: a square block for :func:`simd.vstore_transposed` (jitted code
    only)."""
    raise NotImplementedError


@overload(strided_block, jit_options={k: v for k, v in JIT_OPTIONS.items() if k != "cache"})
def _ov_strided_block(p, o, stride):
    if p.dtype == types.float32:
        return lambda p, o, stride: (
            vload(p, o), vload(p, o + stride), vload(p, o + 2 * stride),
            vload(p, o + 3 * stride), vload(p, o + 4 * stride), vload(p, o + 5 * stride),
            vload(p, o + 6 * stride), vload(p, o + 7 * stride), vload(p, o + 8 * stride),
            vload(p, o + 9 * stride), vload(p, o + 10 * stride), vload(p, o + 11 * stride),
            vload(p, o + 12 * stride), vload(p, o + 13 * stride), vload(p, o + 14 * stride),
            vload(p, o + 15 * stride))
    return lambda p, o, stride: (
        vload(p, o), vload(p, o + stride), vload(p, o + 2 * stride), vload(p, o + 3 * stride),
        vload(p, o + 4 * stride), vload(p, o + 5 * stride), vload(p, o + 6 * stride),
        vload(p, o + 7 * stride))


def _row_block(pw, cols, c0, K, k):
    """The L vectors ``w[cols[c0 + j], k : k + L]`` (zeros where the column
    is padding), as a tuple (jitted code only)."""
    raise NotImplementedError


@overload(_row_block, jit_options={k: v for k, v in JIT_OPTIONS.items() if k != "cache"})
def _ov_row_block(pw, cols, c0, K, k):
    row = _row_of

    if pw.dtype == types.float32:
        return lambda pw, cols, c0, K, k: (
            row(pw, cols, c0, K, k), row(pw, cols, c0 + 1, K, k),
            row(pw, cols, c0 + 2, K, k), row(pw, cols, c0 + 3, K, k),
            row(pw, cols, c0 + 4, K, k), row(pw, cols, c0 + 5, K, k),
            row(pw, cols, c0 + 6, K, k), row(pw, cols, c0 + 7, K, k),
            row(pw, cols, c0 + 8, K, k), row(pw, cols, c0 + 9, K, k),
            row(pw, cols, c0 + 10, K, k), row(pw, cols, c0 + 11, K, k),
            row(pw, cols, c0 + 12, K, k), row(pw, cols, c0 + 13, K, k),
            row(pw, cols, c0 + 14, K, k), row(pw, cols, c0 + 15, K, k))
    return lambda pw, cols, c0, K, k: (
        row(pw, cols, c0, K, k), row(pw, cols, c0 + 1, K, k),
        row(pw, cols, c0 + 2, K, k), row(pw, cols, c0 + 3, K, k),
        row(pw, cols, c0 + 4, K, k), row(pw, cols, c0 + 5, K, k),
        row(pw, cols, c0 + 6, K, k), row(pw, cols, c0 + 7, K, k))


@kernel
def pack_transposed(w, kcols, ocols, wp, p0, p1):
    """Pack ``w``ᵀ: ``wp[p, k, j] = w[kcols[k], ocols[p·2L + j]]``, zero where
    either index is −1; panels ``p0:p1``. ``w`` must be C-contiguous.

    The backward products multiply by a weight matrix the other way round
    (K = the packed gate columns); packing it straight from ``w`` replaced
    a gather, a transposed copy and :func:`pack` (7.4 ms → 1.0 ms for
    the S5 LSTM's W_hh, 2048 × 512 float32).
    """
    # A vector of L values where their output columns are L consecutive
    # columns of w (the usual case: units in order), value by value where
    # not. The S5 LSTM's W_hh (2048 × 512 float32) on one core: 2.4 ms
    # (1.7 GB/s) value by value, 0.6 ms (6.8 GB/s) this way
    n_panels, K, W = wp.shape
    N = w.shape[1]
    pw, pp = ptr(w), ptr(wp)
    L = lanes_of(pw)
    z = vzero(pw)
    for p in range(p0, p1):
        for c0 in range(p * W, p * W + W, L):
            c = ocols[c0]
            run = c >= 0
            for j in range(1, L):
                run = run and ocols[c0 + j] == c + j
            o = p * K * W + c0 - p * W
            for k in range(K):
                r = kcols[k]
                if r < 0:
                    vstore(pp, o + k * W, z)
                elif run:
                    vstore(pp, o + k * W, vload(pw, r * N + c))
                else:
                    for j in range(L):
                        cj = ocols[c0 + j]
                        store(pp, o + k * W + j, load(pw, r * N + cj) if cj >= 0 else 0.0)


@kernel
def pack_bias(b, cols, bp):
    """``bp[c] = b[cols[c]]`` (0 for padding columns)."""
    for c in range(bp.shape[0]):
        r = cols[c]
        bp[c] = b[r] if r >= 0 else 0.0


@kernel
def gather_rows_transposed(w, cols, out):
    """``out[k, c] = w[cols[c], k]`` (0 for padding columns, ``cols[c]`` < 0):
    the rows ``cols`` of ``w`` as the columns of ``out`` (K, len(cols))."""
    for k in range(out.shape[0]):
        for c in range(out.shape[1]):
            r = cols[c]
            out[k, c] = w[r, k] if r >= 0 else 0.0


# The register tiles but one are called functions (``_jit.helper``), not
# inlined by numba: numba's inlining copies and re-types a function's IR at
# every call site, and the tiles, at every call site of the product in the
# time loops, were the largest share of the engine's cold compile (every
# kernel, both dtypes: 163-175 s inlined, 92-100 s called, minutes apart).
# LLVM inlines them back and every result keeps its bits (528 outputs: all
# cells, both dtypes, S1/S2/S3/S6, one and two threads). The exception is
# _tile1x4, the B = 1 forward pass's tile: called, the S1 LSTM float32
# forward took 6-7% longer (in one process against the inlined code, three
# runs); inlined it is level again, and the cold compile 100-124 s. A tile
# takes its lane count from its pointer's dtype, not as an argument, so that
# its offsets are constants in its own compile as well.
@helper
def _tile8(a, ai, lda, wp, wb, ks, K, bias, c, out, oi, ldo):
    # 8 rows × 2 vectors: 16 accumulators hide the FMA latency twice over
    L = lanes_of(wp)
    W = 2 * L
    b0 = vload(bias, c)
    b1 = vload(bias, c + L)
    a00, a01, a10, a11, a20, a21, a30, a31 = b0, b1, b0, b1, b0, b1, b0, b1
    a40, a41, a50, a51, a60, a61, a70, a71 = b0, b1, b0, b1, b0, b1, b0, b1
    h0 = ai
    h1 = h0 + lda
    h2 = h1 + lda
    h3 = h2 + lda
    h4 = h3 + lda
    h5 = h4 + lda
    h6 = h5 + lda
    h7 = h6 + lda
    for k in range(K):
        w0 = vload(wp, wb + k * ks)
        w1 = vload(wp, wb + k * ks + L)
        x = vsplat(load(a, h0 + k))
        a00 = vfma(x, w0, a00)
        a01 = vfma(x, w1, a01)
        x = vsplat(load(a, h1 + k))
        a10 = vfma(x, w0, a10)
        a11 = vfma(x, w1, a11)
        x = vsplat(load(a, h2 + k))
        a20 = vfma(x, w0, a20)
        a21 = vfma(x, w1, a21)
        x = vsplat(load(a, h3 + k))
        a30 = vfma(x, w0, a30)
        a31 = vfma(x, w1, a31)
        x = vsplat(load(a, h4 + k))
        a40 = vfma(x, w0, a40)
        a41 = vfma(x, w1, a41)
        x = vsplat(load(a, h5 + k))
        a50 = vfma(x, w0, a50)
        a51 = vfma(x, w1, a51)
        x = vsplat(load(a, h6 + k))
        a60 = vfma(x, w0, a60)
        a61 = vfma(x, w1, a61)
        x = vsplat(load(a, h7 + k))
        a70 = vfma(x, w0, a70)
        a71 = vfma(x, w1, a71)
    o = oi + c
    vstore(out, o, a00)
    vstore(out, o + L, a01)
    o += ldo
    vstore(out, o, a10)
    vstore(out, o + L, a11)
    o += ldo
    vstore(out, o, a20)
    vstore(out, o + L, a21)
    o += ldo
    vstore(out, o, a30)
    vstore(out, o + L, a31)
    o += ldo
    vstore(out, o, a40)
    vstore(out, o + L, a41)
    o += ldo
    vstore(out, o, a50)
    vstore(out, o + L, a51)
    o += ldo
    vstore(out, o, a60)
    vstore(out, o + L, a61)
    o += ldo
    vstore(out, o, a70)
    vstore(out, o + L, a71)


@helper
def _tile4(a, ai, lda, wp, wb, ks, K, bias, c, out, oi, ldo):
    # 4 rows × 2 vectors; per k: 2 loads, 4 broadcasts, 8 FMAs
    L = lanes_of(wp)
    W = 2 * L
    b0 = vload(bias, c)
    b1 = vload(bias, c + L)
    a00, a01, a10, a11, a20, a21, a30, a31 = b0, b1, b0, b1, b0, b1, b0, b1
    h0 = ai
    h1 = h0 + lda
    h2 = h1 + lda
    h3 = h2 + lda
    for k in range(K):
        w0 = vload(wp, wb + k * ks)
        w1 = vload(wp, wb + k * ks + L)
        x = vsplat(load(a, h0 + k))
        a00 = vfma(x, w0, a00)
        a01 = vfma(x, w1, a01)
        x = vsplat(load(a, h1 + k))
        a10 = vfma(x, w0, a10)
        a11 = vfma(x, w1, a11)
        x = vsplat(load(a, h2 + k))
        a20 = vfma(x, w0, a20)
        a21 = vfma(x, w1, a21)
        x = vsplat(load(a, h3 + k))
        a30 = vfma(x, w0, a30)
        a31 = vfma(x, w1, a31)
    o = oi + c
    vstore(out, o, a00)
    vstore(out, o + L, a01)
    o += ldo
    vstore(out, o, a10)
    vstore(out, o + L, a11)
    o += ldo
    vstore(out, o, a20)
    vstore(out, o + L, a21)
    o += ldo
    vstore(out, o, a30)
    vstore(out, o + L, a31)


@helper
def _tile1(a, ai, wp, wb, ks, K, bias, c, out, oi):
    # one row × 2 vectors. Every output element is one chain of FMAs over k
    # starting from its bias, in every tile shape, so results do not depend
    # on how rows fall into tiles (a training and a chunked inference pass
    # give the same bits)
    L = lanes_of(wp)
    W = 2 * L
    a0 = vload(bias, c)
    a1 = vload(bias, c + L)
    for k in range(K):
        x = vsplat(load(a, ai + k))
        a0 = vfma(x, vload(wp, wb + k * ks), a0)
        a1 = vfma(x, vload(wp, wb + k * ks + L), a1)
    vstore(out, oi + c, a0)
    vstore(out, oi + c + L, a1)


@helper
def _tile1x2(a, ai, wp, wb, K, bias, c, out, oi):
    # one row × two panels (4 vectors): four independent chains hide the FMA
    # latency that a single row's two chains would expose (B = 1)
    L = lanes_of(wp)
    W = 2 * L
    wb2 = wb + K * W
    a0 = vload(bias, c)
    a1 = vload(bias, c + L)
    a2 = vload(bias, c + W)
    a3 = vload(bias, c + W + L)
    for k in range(K):
        x = vsplat(load(a, ai + k))
        a0 = vfma(x, vload(wp, wb + k * W), a0)
        a1 = vfma(x, vload(wp, wb + k * W + L), a1)
        a2 = vfma(x, vload(wp, wb2 + k * W), a2)
        a3 = vfma(x, vload(wp, wb2 + k * W + L), a3)
    vstore(out, oi + c, a0)
    vstore(out, oi + c + L, a1)
    vstore(out, oi + c + W, a2)
    vstore(out, oi + c + W + L, a3)


@inline
def _tile1x4(a, ai, wp, wb, K, bias, c, out, oi):
    # one row × four panels (8 vectors): eight chains keep both FMA ports busy
    # at B = 1, where a 2-vector tile waits on FMA latency (S1 LSTM: 4 panels)
    L = lanes_of(wp)
    W = 2 * L
    KW = K * W
    a0 = vload(bias, c)
    a1 = vload(bias, c + L)
    a2 = vload(bias, c + W)
    a3 = vload(bias, c + W + L)
    a4 = vload(bias, c + 2 * W)
    a5 = vload(bias, c + 2 * W + L)
    a6 = vload(bias, c + 3 * W)
    a7 = vload(bias, c + 3 * W + L)
    for k in range(K):
        x = vsplat(load(a, ai + k))
        o = wb + k * W
        a0 = vfma(x, vload(wp, o), a0)
        a1 = vfma(x, vload(wp, o + L), a1)
        a2 = vfma(x, vload(wp, o + KW), a2)
        a3 = vfma(x, vload(wp, o + KW + L), a3)
        a4 = vfma(x, vload(wp, o + 2 * KW), a4)
        a5 = vfma(x, vload(wp, o + 2 * KW + L), a5)
        a6 = vfma(x, vload(wp, o + 3 * KW), a6)
        a7 = vfma(x, vload(wp, o + 3 * KW + L), a7)
    o = oi + c
    vstore(out, o, a0)
    vstore(out, o + L, a1)
    vstore(out, o + W, a2)
    vstore(out, o + W + L, a3)
    vstore(out, o + 2 * W, a4)
    vstore(out, o + 2 * W + L, a5)
    vstore(out, o + 3 * W, a6)
    vstore(out, o + 3 * W + L, a7)


@helper
def _tile1_split(a, ai, wp, wb, K, bias, c, out, oi):
    # one row × 2 vectors with k split four ways (8 chains, summed at the end):
    # the backward product at B = 1 has one or two panels and a long K = G·H.
    # Its sums are in a different order from the other tiles', so only
    # products that always give a row the same tile use it (see product)
    L = lanes_of(wp)
    W = 2 * L
    a0 = vload(bias, c)
    a1 = vload(bias, c + L)
    e0 = vzero(wp)
    e1 = e0
    f0 = e0
    f1 = e0
    g0 = e0
    g1 = e0
    k = 0
    while k + 4 <= K:
        o = wb + k * W
        x = vsplat(load(a, ai + k))
        a0 = vfma(x, vload(wp, o), a0)
        a1 = vfma(x, vload(wp, o + L), a1)
        x = vsplat(load(a, ai + k + 1))
        e0 = vfma(x, vload(wp, o + W), e0)
        e1 = vfma(x, vload(wp, o + W + L), e1)
        x = vsplat(load(a, ai + k + 2))
        f0 = vfma(x, vload(wp, o + 2 * W), f0)
        f1 = vfma(x, vload(wp, o + 2 * W + L), f1)
        x = vsplat(load(a, ai + k + 3))
        g0 = vfma(x, vload(wp, o + 3 * W), g0)
        g1 = vfma(x, vload(wp, o + 3 * W + L), g1)
        k += 4
    while k < K:
        x = vsplat(load(a, ai + k))
        a0 = vfma(x, vload(wp, wb + k * W), a0)
        a1 = vfma(x, vload(wp, wb + k * W + L), a1)
        k += 1
    vstore(out, oi + c, (a0 + e0) + (f0 + g0))
    vstore(out, oi + c + L, (a1 + e1) + (f1 + g1))


@inline
def product(a, a0, lda, out, o0, ldo, rows, wp, p0, p1, K, bias, split, descending=False):
    """out[r, c] = bias[c] + Σ_k a[r, k] w[col(c), k] for panels p0:p1.

    Every array operand is a pointer (:func:`simd.ptr`). Row r of ``a``
    starts at element ``a0 + r·lda``, row r of ``out`` at ``o0 + r·ldo``,
    for r < ``rows``; column c of ``out`` is packed column c (panel p covers
    columns p·2L … p·2L + 2L − 1) and ``bias`` is indexed by packed column.

    With ``descending`` the panels of the 8- and 4-row tiles are taken from
    p1 − 1 down to p0; the values are the same. The time loops alternate
    the direction from step to step, so that a step starts on the panels
    the previous one read last, which are still in cache when the panels
    do not all fit: (16×512)·(512×2048) float32, 4 MB of panels against a
    2 MB L2, 315 → 280 µs a product; 2 MB, 140 → 121 µs (one thread, the
    two orders interleaved in one process). A whole pass gains less, since
    the input projections' panels compete for the same cache: the S5 LSTM
    float32 forward on one thread 37.6 → 35.2 ms, on two within noise.

    Rows in tiles of 8 and 4, then one at a time. Every element is a single
    chain of FMAs over k from its bias, whatever tile computes it, so that
    the result of a row does not depend on the row count or the panel range
    (a chunked inference pass and a training pass, or one worker and three,
    give the same bits) — except with ``split``, where the single rows sum
    k in four interleaved chains (:func:`_tile1_split`); callers use it only
    when the whole batch has fewer than 4 rows, so that a row gets the same
    tile however the batch is shared out.
    """
    L = lanes_of(wp)
    W = 2 * L
    full8 = rows - rows % 8
    full = rows - rows % TILE_ROWS
    for i in range(p0, p1):
        p = p0 + p1 - 1 - i if descending else i
        wb = p * K * W
        for r in range(0, full8, 8):
            _tile8(a, a0 + r * lda, lda, wp, wb, W, K, bias, p * W, out, o0 + r * ldo, ldo)
        for r in range(full8, full, TILE_ROWS):
            _tile4(a, a0 + r * lda, lda, wp, wb, W, K, bias, p * W, out, o0 + r * ldo, ldo)
    for r in range(full, rows):
        p = p0
        if split:
            while p < p1:
                _tile1_split(a, a0 + r * lda, wp, p * K * W, K, bias, p * W, out,
                             o0 + r * ldo)
                p += 1
        while p + 4 <= p1:
            _tile1x4(a, a0 + r * lda, wp, p * K * W, K, bias, p * W, out, o0 + r * ldo)
            p += 4
        while p + 2 <= p1:
            _tile1x2(a, a0 + r * lda, wp, p * K * W, K, bias, p * W, out, o0 + r * ldo)
            p += 2
        if p < p1:
            _tile1(a, a0 + r * lda, wp, p * K * W, W, K, bias, p * W, out, o0 + r * ldo)


@inline
def product_rows_outside(a, a0, lda, out, o0, ldo, rows, wp, n_panels, K, bias):
    """:func:`product` over panels 0:n_panels with the loops the other way
    round: each tile of rows of ``a`` runs over every panel before the next
    tile, so ``a`` is read once and the panels (few and small) once per
    tile. For a large ``a`` and a few panels: the batched streaming step,
    whose weight rows are ``a`` (``step._dots_packed``); panels outside, the
    S4 float64 weights (2 MB) came from the L3 once per panel, 42 against
    58 GFLOP/s. Same values as :func:`product` (without ``split``).
    """
    L = lanes_of(wp)
    W = 2 * L
    full8 = rows - rows % 8
    full4 = rows - rows % TILE_ROWS
    for r in range(0, full8, 8):
        for p in range(n_panels):
            _tile8(a, a0 + r * lda, lda, wp, p * K * W, W, K, bias, p * W, out, o0 + r * ldo,
                   ldo)
    for r in range(full8, full4, TILE_ROWS):
        for p in range(n_panels):
            _tile4(a, a0 + r * lda, lda, wp, p * K * W, W, K, bias, p * W, out, o0 + r * ldo,
                   ldo)
    for r in range(full4, rows):
        for p in range(n_panels):
            _tile1(a, a0 + r * lda, wp, p * K * W, W, K, bias, p * W, out, o0 + r * ldo)


@inline
def block_panels(ub0, ub1, G):
    """Panels ``p0:p1`` holding the packed columns of the unit blocks
    ``ub0:ub1`` of a G-gate layout (G·L columns a block, 2L a panel).

    Workers own whole pairs of blocks, so ``ub0`` is even and p0 exact; an
    odd ``ub1`` is the layout's last block, and p1 rounds up over the
    padding columns that complete its panel. With G = 1 these are the panels
    of units, the outputs of the backward products.
    """
    return ub0 * G // 2, (ub1 * G + 1) // 2


#: :func:`product` as a called function, for call sites that run it once per
#: pass or chunk, where a call costs nothing.
product_call = helper(product.py_func)


@helper
def project_chunk(px, I, t0, n, B, b0, b1, pgx, C, pwx, p0, p1, pbx):
    """The input projections of steps t0 … t0 + n − 1 for batch rows b0:b1
    and panels p0:p1: ``gx[s, b] = x[t0 + s, b] · W_ihᵀ + bias`` into the
    chunk buffer ``pgx`` (n, B, C), from ``x`` (T, B, I) and ``pwx``/``pbx``
    packed (the first phase of every engine forward time loop).

    Called, not inlined: it runs once per chunk of steps, and the four
    forward kernels share one compiled copy per dtype."""
    for s in range(n):
        product(px, ((t0 + s) * B + b0) * I, I, pgx, (s * B + b0) * C, C, b1 - b0, pwx, p0,
                p1, I, pbx, False)


@helper
def product_strided(a, a0, lda, out, o0, ldo, rows, w, ks, p0, p1, K, bias):
    """:func:`product` with an unpacked right operand: ``w`` is a row-major
    (K, ·) matrix with row stride ``ks``, read in panels of 2L columns (panel
    p: columns p·2L …). Used for the weight gradients, whose right operand
    (the gate gradients of every step) is read once, not worth packing."""
    L = lanes_of(w)
    W = 2 * L
    full8 = rows - rows % 8
    full = rows - rows % TILE_ROWS
    for p in range(p0, p1):
        wb = p * W
        for r in range(0, full8, 8):
            _tile8(a, a0 + r * lda, lda, w, wb, ks, K, bias, p * W, out, o0 + r * ldo, ldo)
        for r in range(full8, full, TILE_ROWS):
            _tile4(a, a0 + r * lda, lda, w, wb, ks, K, bias, p * W, out, o0 + r * ldo, ldo)
        for r in range(full, rows):
            _tile1(a, a0 + r * lda, w, wb, ks, K, bias, p * W, out, o0 + r * ldo)


@kernel
def packed_matmul(a, wp, bias, out, p0, p1, descending=False):
    """A standalone call of :func:`product` (tests and benchmarks).

    ``a`` (M, K), ``wp`` (n_panels, K, 2L), ``bias`` (n_panels·2L,), ``out``
    (M, n_panels·2L), all C-contiguous.
    """
    M, K = a.shape
    product(ptr(a), 0, K, ptr(out), 0, out.shape[1], M, ptr(wp), p0, p1, K, ptr(bias), False,
            descending)

"""The time loop of every cell on the GPU: work split, layouts and drivers.

A step's recurrent product is a (B, H) × (H, G·H) matrix product followed by
the cell update of every (batch row, unit) pair. A thread owns pairs: it
forms all G gate sums of its unit for one batch row, so the cell update
needs nothing from other threads, and writes h (and c) of that pair. S
neighbouring lanes may split one pair's sums over k (k ≡ lane mod S) and
add them with warp shuffles, which shortens the dependent chain when there
are few pairs (B = 1). The rows a block reads (h_{t−1} forward, the
gradients of step t + 1 backward) sit in shared memory.

Two layouts:

``block``: a block owns whole batch rows and every unit, so a step needs
    only ``syncthreads``; h (or the gate gradients) stays in shared memory
    from one step to the next (double-buffered). Each block reads all of
    w_hh every step, through L1/L2, so this layout is for small H.
``grid``: blocks split the units (and the batch); h_{t−1} goes through
    global memory and steps are separated by a grid-wide barrier (a
    cooperative launch, the "persistent RNN"). At most one block per
    multiprocessor, so every block is resident and the barrier is safe; a
    block with more rows than threads walks them in chunks of ``rows``.

The drivers (:func:`forward_kernel`, :func:`backward_kernel`) hold each
layout's loop once; a cell supplies its per-pair step as a device function
(``rnn.py``, ``lstm.py``, ``gru.py``), so the loops are not repeated per cell.
"""
import functools

import numba
import numpy as np
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import typed
from .common import SIMULATOR, configured

BLOCK_LAYOUT_MAX_W_BYTES = 512 * 1024  # w_hh read per step and block, via L1/L2
SHARED_BYTES = 40 * 1024  # under the 48 KiB a block gets without opting in
#: Tests force a layout on small shapes: "block", "grid", or ("grid", units,
#: rows[, chunks]) for a grid layout with that many units and staged rows
#: per block (and row chunks per block; by default as few as fit).
FORCE_LAYOUT = None
#: False runs the chunked loops (input projection as a GEMM) even where the
#: fused ones fit: for tests and for timing one against the other.
FORCE_FUSED = None


class StepPlan:
    """How a time loop is laid out on the GPU (see the module docstring).

    ``lanes`` (S) lanes per pair, ``units`` per block, ``rows`` batch rows
    staged at a time, ``chunks`` row chunks per block, ``threads`` per block,
    ``blocks`` (batch groups, unit groups), ``shared_fwd``/``shared_bwd``
    bytes of dynamic shared memory for the forward and the backward pass.
    """

    def __init__(self, layout, lanes, units, rows, chunks, blocks, staged_fwd, staged_bwd,
                 itemsize):
        self.layout, self.lanes, self.units, self.rows = layout, lanes, units, rows
        self.chunks, self.blocks = chunks, blocks
        self.threads = _round_up(lanes * units * rows, 1 if SIMULATOR else 32)
        copies = 2 if layout == "block" else 1
        self.shared_fwd = copies * rows * staged_fwd * itemsize
        self.shared_bwd = copies * rows * staged_bwd * itemsize

    def args(self):
        """The plan's runtime arguments of the time-loop kernels."""
        return self.units, self.rows, self.chunks, self.lanes

    def __repr__(self):
        return (f"StepPlan({self.layout!r}, lanes={self.lanes}, units={self.units}, "
                f"rows={self.rows}, chunks={self.chunks}, blocks={self.blocks}, "
                f"threads={self.threads})")


def _round_up(n, m):
    return (n + m - 1) // m * m


def _pow2_at_most(n):
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


@functools.lru_cache(maxsize=None)
def multiprocessors():
    """Multiprocessors of the current GPU; 1 in the simulator, which runs
    blocks one after another and so cannot synchronise a grid of several."""
    if SIMULATOR:
        return 1
    return cuda.get_current_device().MULTIPROCESSOR_COUNT


def plan_steps(G, B, H, itemsize):
    """Choose the layout of a time loop with G gate rows per unit.

    Parameters
    ----------
    G : int
        Gate rows per unit (1 RNN, 3 GRU, 4 LSTM).
    B, H : int
        Batch size and hidden size.
    itemsize : int
        Bytes per element (4 or 8).

    Returns
    -------
    StepPlan

    Examples
    --------
    >>> from numbarnn.kernels.cuda.steps import plan_steps
    >>> plan = plan_steps(4, 1, 32, 4)  # an LSTM at B = 1, H = 32, float32
    >>> plan.layout, plan.blocks
    ('block', (1, 1))
    """
    per_block = 32 if SIMULATOR else 256
    # 256 threads: a kernel may then use all 255 registers a thread can have
    block_threads = 32 if SIMULATOR else 256
    # measured on an H200 (LSTM fwd+bwd, same code, layout forced): the block
    # layout wins at H = 128 (S3: 6.5 against 8.2 ms) and loses at H = 256
    # (S4: 32.4 against 15.2 ms), where every block streams all of w_hh
    block_max_h = 32 if SIMULATOR else 128
    layout = FORCE_LAYOUT
    if isinstance(layout, tuple):
        units, rows = layout[1], layout[2]
        n_sm = multiprocessors()
        unit_groups = -(-H // units)
        chunks = layout[3] if len(layout) > 3 else \
            max(1, -(-B // (rows * max(1, n_sm // unit_groups))))
        return StepPlan("grid", 1, units, rows, chunks, (-(-B // (rows * chunks)), unit_groups),
                        H, G * H, itemsize)
    if layout is None:
        small = G * H * H * itemsize <= BLOCK_LAYOUT_MAX_W_BYTES
        fits = 2 * G * H * itemsize <= SHARED_BYTES and H <= block_max_h
        layout = "block" if small and fits else "grid"
    # the simulator has no warp shuffles: one lane per pair there (the
    # device tests cover lanes > 1)
    max_lanes = 1 if SIMULATOR else 32
    if layout == "block":
        lanes = max(1, min(8, max_lanes, _pow2_at_most(max(1, block_threads // H)),
                           _pow2_at_most(H)))
        return StepPlan("block", lanes, H, 1, 1, (B, 1), H, G * H, itemsize)
    n_sm = multiprocessors()
    rows = max(1, min(8, SHARED_BYTES // (G * H * itemsize)))
    best = None
    for lanes in (1, 2, 4, 8, 16, 32):
        units = per_block // (lanes * rows)
        if units < 1 or lanes > max_lanes:
            break
        unit_groups = -(-H // units)
        if unit_groups > n_sm:
            continue
        chunks = 1
        while unit_groups * -(-B // (rows * chunks)) > n_sm:
            chunks += 1
        batch_groups = -(-B // (rows * chunks))
        # a thread's dependent work per step: its chunks' gate sums (4-way
        # unrolled) plus the shuffle reduction
        cost = chunks * (G * -(-H // lanes) / 4 + 8 * G * (lanes.bit_length() - 1))
        if best is None or cost < best[0]:
            best = (cost, StepPlan("grid", lanes, units, rows, chunks,
                                   (batch_groups, unit_groups), H, G * H, itemsize))
    if best is None:
        raise ValueError(f"hidden size {H} is too large for the GPU kernels "
                         f"({n_sm} multiprocessors)")
    return best[1]


@cuda.jit(device=True)
def dot(src, off, w, col, K, k0, step):
    """Σ src[off + k] · w[k, col] over k = k0, k0 + step, … < K.

    Four partial sums, so four loads are in flight at once (the loop is
    bound by load latency, not arithmetic).
    """
    zero = typed(w[0, col], 0.0)
    a0, a1, a2, a3 = zero, zero, zero, zero
    k = k0
    while k + 3 * step < K:
        a0 += src[off + k] * w[k, col]
        a1 += src[off + k + step] * w[k + step, col]
        a2 += src[off + k + 2 * step] * w[k + 2 * step, col]
        a3 += src[off + k + 3 * step] * w[k + 3 * step, col]
        k += 4 * step
    while k < K:
        a0 += src[off + k] * w[k, col]
        k += step
    return (a0 + a1) + (a2 + a3)


@cuda.jit(device=True)
def lane_sum(v, lanes):
    """Add v over each group of ``lanes`` neighbouring lanes (a power of two);
    the group's first lane gets the total. Every lane of the warp must call."""
    off = lanes // 2
    while off > 0:
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, off)
        off //= 2
    return v


@cuda.jit(device=True)
def pair_index(units, rows, chunks, lanes):
    """(lane, unit, row in chunk, first batch row) of this thread's pairs.

    Padding threads get a row ≥ ``rows``: they only join barriers and
    shuffles.
    """
    tid = cuda.threadIdx.x
    q = tid // lanes
    return tid % lanes, cuda.blockIdx.y * units + q % units, q // units, \
        cuda.blockIdx.x * rows * chunks


@cuda.jit(device=True)
def stage(buf, src, r0, rows):
    """buf[i·K + k] = src[r0 + i, k] for the ``rows`` rows from r0 (src (B, K))."""
    B, K = src.shape
    for e in range(cuda.threadIdx.x, rows * K, cuda.blockDim.x):
        r = r0 + e // K
        if r < B:
            buf[e] = src[r, e % K]


@cuda.jit(device=True)
def put(row, j, H, vals):
    """row[g·H + j] = vals[g] for each of the tuple's values (gate g of unit j)."""
    for g in range(len(vals)):
        row[g * H + j] = vals[g]


@cuda.jit(device=True)
def grid_sync():
    cuda.cg.this_grid().sync()


@cuda.jit(device=True)
def block_sync():
    cuda.syncthreads()


@functools.lru_cache(maxsize=None)
def forward_kernel(pair, dtype, layout):
    """The forward time loop around a cell's ``pair`` step, for one layout.

    ``pair(t, b, j, valid, lane, lanes, buf, off, y, arrs)`` forms the gate
    sums of unit j for batch row b from ``buf[off:off + H]`` (h_{t−1}),
    applies the cell, writes its outputs (y[t, b, j] among them) and returns
    h (the first lane of a valid pair; anything elsewhere). The kernel is
    ``kernel(y, h0, arrs, units, rows, chunks, lanes)``; ``arrs`` is the
    cell's tuple of arrays.
    """
    elem = numba.from_dtype(np.dtype(dtype))
    grid = layout == "grid"
    step_sync = grid_sync if grid else block_sync

    @cuda.jit
    def forward(y, h0, arrs, units, rows, chunks, lanes):
        buf = cuda.shared.array(0, elem)
        T, B, H = y.shape
        lane, j, bb, base = pair_index(units, rows, chunks, lanes)
        if grid:
            for t in range(T):
                for p in range(chunks):
                    r0 = base + p * rows
                    stage(buf, h0 if t == 0 else y[t - 1], r0, rows)
                    cuda.syncthreads()
                    b = r0 + bb
                    pair(t, b, j, j < H and bb < rows and b < B, lane, lanes, buf, bb * H,
                         y, arrs)
                    cuda.syncthreads()
                step_sync()
        else:
            # one batch row per block, h kept in shared memory between steps
            stage(buf, h0, base, 1)
            cuda.syncthreads()
            valid = j < H and bb < 1 and base < B
            for t in range(T):
                cur = (t % 2) * H
                h = pair(t, base, j, valid, lane, lanes, buf, cur, y, arrs)
                if valid and lane == 0:
                    buf[H - cur + j] = h
                cuda.syncthreads()

    return forward


@functools.lru_cache(maxsize=None)
def backward_kernel(pair, dtype, layout, G):
    """The backpropagation time loop around a cell's ``pair`` step.

    Phase s = 0 … T handles step t = T − 1 − s. ``pair(t, s, b, j, valid,
    lane, lanes, buf, off, dh, arrs)`` adds the recurrent gradient
    Σ_r dsrc[t + 1, b, r] · w_hh[r, j] (from ``buf[off:]``, none when
    s = 0, when dh holds dh_n), applies the cell's backward step, writes its
    gate gradients and returns the G values of unit j that the next phase's
    product needs (dsrc[t, b, g·H + j]); at t = −1 it writes dh0 into dh.
    The kernel is ``kernel(dsrc, dh, arrs, units, rows, chunks, lanes)``;
    ``dsrc`` (T, B, G·H) is the array that ``pair`` writes those values to.
    """
    elem = numba.from_dtype(np.dtype(dtype))
    grid = layout == "grid"
    step_sync = grid_sync if grid else block_sync

    @cuda.jit
    def backward(dsrc, dh, arrs, units, rows, chunks, lanes):
        buf = cuda.shared.array(0, elem)
        T, B, GH = dsrc.shape
        H = GH // G
        lane, j, bb, base = pair_index(units, rows, chunks, lanes)
        if grid:
            for s in range(T + 1):
                t = T - 1 - s
                for p in range(chunks):
                    r0 = base + p * rows
                    if s > 0:
                        stage(buf, dsrc[t + 1], r0, rows)
                    cuda.syncthreads()
                    b = r0 + bb
                    pair(t, s, b, j, j < H and bb < rows and b < B, lane, lanes, buf, bb * GH,
                         dh, arrs)
                    cuda.syncthreads()
                step_sync()
        else:
            valid = j < H and bb < 1 and base < B
            for s in range(T + 1):
                cur = (s % 2) * GH
                vals = pair(T - 1 - s, s, base, j, valid, lane, lanes, buf, cur, dh, arrs)
                if valid and lane == 0:
                    for g in range(G):
                        buf[GH - cur + g * H + j] = vals[g]
                cuda.syncthreads()

    return backward


def launch(kernel, plan, shared, *args):
    """Launch a driver's kernel with the plan's geometry and arguments."""
    configured(kernel, plan.blocks, plan.threads, shared)(*args, *plan.args())


# -- fused time loops: one pair per thread, state in registers -----------------
#
# When every pair has its own thread (``chunks == 1``) and a step's input
# rows fit the block (rows · I ≤ threads), the time loop also does the input
# projection (x_t's rows staged in shared memory, the next step's loaded
# into registers a step ahead), keeps the cell state of its pair in a
# register, and loads the next step's cached values while this step
# computes: nothing on a step's critical path waits for global memory except,
# in the grid layout, h_{t−1} itself. A cell supplies small hooks:
#
# forward:  ``init(b, j, H, valid, arrs, zero) -> st``;
#           ``step(t, b, j, hs, xs, st, h_prev, arrs) -> (h, st)`` with hs,
#           xs the G gate sums (≤ 4, zeros beyond G) of w_hh h_{t−1} and
#           w_ih x_t, writing what the cell caches; ``final(b, j, st, arrs)``
#           after the last step.
# backward: ``load(t, b, j, valid, arrs, zero) -> vals`` (step t's cached
#           values and dy, loaded one phase ahead); ``init(b, j, H, valid,
#           arrs, zero) -> st``; ``step(t, b, j, d, vals, st, arrs) -> (out, st)``
#           with d the recurrent gradient reaching h_t (dh_n at t = T − 1)
#           and out the G values of dsrc[t, b, g·H + j], written to global
#           memory by the hook; ``final(b, j, rec, st, dh, arrs)`` writes dh0
#           (and dc0) from the last product.


#: Most input elements a thread of the fused forward loop loads ahead per step.
X_PER_THREAD = 8


def x_per_thread(plan, I):
    """Input elements each thread of the fused forward loop loads per step."""
    return max(1, -(-plan.rows * I // plan.threads))


def fused_fits(plan, I, H, G, itemsize):
    """True when the fused forward loop can run this plan with I inputs."""
    shared = fused_shared(plan, I, H, G, itemsize, register_counts(plan, I, H, G))[0]
    return (FORCE_FUSED is not False and plan.chunks == 1 and plan.rows * I <= X_PER_THREAD * plan.threads
            and shared <= 48 * 1024)


#: Most weights a thread keeps in registers (a 4-gate LSTM over 16 k of h
#: and 4 of x; float64 then takes 160 of a thread's 255 registers).
REGISTER_WEIGHTS = 80


def register_counts(plan, I, H, G):
    """Weights per lane kept in registers: (k of w_hh, k of w_ih, rows of
    w_hh backward), 0 where the block layout does not apply or they do not
    fit (then the loops read the weights through L1)."""
    if plan.layout != "block":
        return 0, 0, 0
    lanes = plan.lanes
    kh, kx, kb = -(-H // lanes), -(-I // lanes), -(-G * H // lanes)
    fwd_ok = G * (kh + kx) <= REGISTER_WEIGHTS
    return (kh if fwd_ok else 0, kx if fwd_ok else 0, kb if kb <= REGISTER_WEIGHTS else 0)


def fused_shared(plan, I, H, G, itemsize, counts=(0, 0, 0)):
    """Dynamic shared memory of the fused forward and backward kernels (bytes)."""
    kh, kx, kb = counts
    Hs, Is, GHs = (kh * plan.lanes or H), (kx * plan.lanes or I), (kb * plan.lanes or G * H)
    copies = 2 if plan.layout == "block" else 1
    fwd = (copies * plan.rows * Hs + 2 * plan.rows * Is) * itemsize
    bwd = copies * plan.rows * GHs * itemsize
    return fwd, bwd


@cuda.jit(device=True)
def dot_rows(src, off, w, j, H, G, K, k0, step, zero):
    """(Σ_k src[off + k] · w[g·H + j, k] for g < G), a 4-tuple (zeros past
    G), over k = k0, k0 + step, … < K: one shared load feeds every gate."""
    a0, a1, a2, a3 = zero, zero, zero, zero
    for k in range(k0, K, step):
        v = src[off + k]
        a0 += v * w[j, k]
        if G > 1:
            a1 += v * w[H + j, k]
        if G > 2:
            a2 += v * w[2 * H + j, k]
        if G > 3:
            a3 += v * w[3 * H + j, k]
    return a0, a1, a2, a3


@functools.lru_cache(maxsize=None)
def _row_sums(G, kp):
    """(load, sums) device functions for the gate sums of a pair.

    ``kp > 0``: ``load`` keeps w[g·H + j, lane + q·lanes] for q < kp in the
    local array ``wr`` (constant trip counts, so it lives in registers) and
    ``sums`` reads only h from shared memory (rows padded with zeros to
    kp·lanes). ``kp == 0``: ``load`` does nothing and ``sums`` is
    :func:`dot_rows`, reading the weights through L1.
    """
    if kp == 0:
        @cuda.jit(device=True)
        def load0(wr, w, j, H, K, lane, lanes, valid, zero):
            pass

        @cuda.jit(device=True)
        def sums0(wr, w, src, off, j, H, K, lane, lanes, zero):
            return dot_rows(src, off, w, j, H, G, K, lane, lanes, zero)

        return load0, sums0

    @cuda.jit(device=True)
    def load(wr, w, j, H, K, lane, lanes, valid, zero):
        for g in range(G):
            for q in range(kp):
                k = lane + q * lanes
                wr[g * kp + q] = w[g * H + j, k] if valid and k < K else zero

    @cuda.jit(device=True)
    def sums(wr, w, src, off, j, H, K, lane, lanes, zero):
        a0, a1, a2, a3 = zero, zero, zero, zero
        for q in range(kp):
            v = src[off + lane + q * lanes]
            a0 += v * wr[q]
            if G > 1:
                a1 += v * wr[kp + q]
            if G > 2:
                a2 += v * wr[2 * kp + q]
            if G > 3:
                a3 += v * wr[3 * kp + q]
        return a0, a1, a2, a3

    return load, sums


@functools.lru_cache(maxsize=None)
def _column_sum(kp):
    """(load, sum) for Σ_r src[off + r] · w[r, j] (the backward product),
    with w[lane + q·lanes, j] in registers when kp > 0 (see _row_sums)."""
    if kp == 0:
        @cuda.jit(device=True)
        def load0(wr, w, j, K, lane, lanes, valid, zero):
            pass

        @cuda.jit(device=True)
        def sum0(wr, w, src, off, j, K, lane, lanes, zero):
            return dot(src, off, w, j, K, lane, lanes)

        return load0, sum0

    @cuda.jit(device=True)
    def load(wr, w, j, K, lane, lanes, valid, zero):
        for q in range(kp):
            r = lane + q * lanes
            wr[q] = w[r, j] if valid and r < K else zero

    @cuda.jit(device=True)
    def total(wr, w, src, off, j, K, lane, lanes, zero):
        a0, a1 = zero, zero
        for q in range(0, kp - 1, 2):
            a0 += src[off + lane + q * lanes] * wr[q]
            a1 += src[off + lane + (q + 1) * lanes] * wr[q + 1]
        if kp % 2:
            a0 += src[off + lane + (kp - 1) * lanes] * wr[kp - 1]
        return a0 + a1

    return load, total


@cuda.jit(device=True)
def lane_sum8(a, b, lanes):
    """lane_sum of two 4-tuples, the eight shuffles of a level issued together."""
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    off = lanes // 2
    while off > 0:
        a0 += cuda.shfl_down_sync(0xFFFFFFFF, a0, off)
        a1 += cuda.shfl_down_sync(0xFFFFFFFF, a1, off)
        a2 += cuda.shfl_down_sync(0xFFFFFFFF, a2, off)
        a3 += cuda.shfl_down_sync(0xFFFFFFFF, a3, off)
        b0 += cuda.shfl_down_sync(0xFFFFFFFF, b0, off)
        b1 += cuda.shfl_down_sync(0xFFFFFFFF, b1, off)
        b2 += cuda.shfl_down_sync(0xFFFFFFFF, b2, off)
        b3 += cuda.shfl_down_sync(0xFFFFFFFF, b3, off)
        off //= 2
    return (a0, a1, a2, a3), (b0, b1, b2, b3)


@cuda.jit(device=True)
def stage_rows(buf, off, stride, src, r0, rows, B, K, has):
    """buf[off + i·stride + k] = src[r0 + i, k] for i < rows, k < stride (0
    for k ≥ K, past the batch's B rows, or everywhere when not ``has``: src
    may be a stand-in). Row by row, so no thread divides (64-bit division
    is slow on a GPU)."""
    zero = typed(buf[0], 0.0)
    for i in range(rows):
        r = r0 + i
        for k in range(cuda.threadIdx.x, stride, cuda.blockDim.x):
            buf[off + i * stride + k] = src[r, k] if has and r < B and k < K else zero


@functools.lru_cache(maxsize=None)
def fused_forward_kernel(hooks, G, dtype, layout, kh=0, kx=0, xpt=1):
    """The fused forward loop for a cell's ``hooks`` = (init, step, final).

    ``kernel(x, w_ih, w_hh, h0, has_h0, y, h_n, arrs, units, rows, chunks,
    lanes)``; ``h0`` is read only when ``has_h0``. ``kh``/``kx`` > 0 keep
    that many w_hh/w_ih weights per gate and lane in registers
    (:func:`register_counts`); each thread loads ``xpt`` elements of the
    next step's inputs (:func:`x_per_thread`).
    """
    init, cell_step, final = hooks
    elem = numba.from_dtype(np.dtype(dtype))
    grid = layout == "grid"
    step_sync = grid_sync if grid else block_sync
    load_h, sums_h = _row_sums(G, kh)
    load_x, sums_x = _row_sums(G, kx)
    nwh, nwx = max(1, G * kh), max(1, G * kx)

    @cuda.jit
    def forward(x, w_ih, w_hh, h0, has_h0, y, h_n, arrs, units, rows, chunks, lanes):
        sh = cuda.shared.array(0, elem)
        wh = cuda.local.array(nwh, elem)
        wx = cuda.local.array(nwx, elem)
        T, B, H = y.shape
        I = x.shape[2]
        tid = cuda.threadIdx.x
        lane, j, bb, base = pair_index(units, rows, 1, lanes)
        b = base + bb
        valid = j < H and bb < rows and b < B
        zero = typed(w_hh[0, 0], 0.0)
        Hs = kh * lanes if kh else H  # row strides in shared memory
        Is = kx * lanes if kx else I
        hn = rows * Hs
        xoff = hn if grid else 2 * hn
        xn = rows * Is
        load_h(wh, w_hh, j, H, H, lane, lanes, valid, zero)
        load_x(wx, w_ih, j, H, I, lane, lanes, valid, zero)
        stage_rows(sh, 0, Hs, h0, base, rows, B, H, has_h0)
        if not grid:
            stage_rows(sh, hn, Hs, h0, base, rows, B, H, False)
        stage_rows(sh, xoff, Is, x[0], base, rows, B, I, True)
        stage_rows(sh, xoff + xn, Is, x[0], base, rows, B, I, False)
        # this thread's elements of the next step's input rows, e = tid + q·nt
        nt = cuda.blockDim.x
        xrow = cuda.local.array(xpt, numba.int32)
        xcol = cuda.local.array(xpt, numba.int32)
        xv = cuda.local.array(xpt, elem)
        for q in range(xpt):
            e = tid + q * nt
            xrow[q] = e // I if I > 0 and e < rows * I else -1
            xcol[q] = e % I if I > 0 else 0
        st = init(b, j, H, valid, arrs, zero)
        cuda.syncthreads()
        for t in range(T):
            cur = t % 2
            for q in range(xpt):
                xv[q] = zero
                r = xrow[q]
                if t + 1 < T and r >= 0 and base + r < B:
                    # consumed next step: the load's latency hides behind this step
                    xv[q] = x[t + 1, base + r, xcol[q]]
            hoff = 0 if grid else cur * hn
            hs = sums_h(wh, w_hh, sh, hoff + bb * Hs, j, H, H, lane, lanes, zero) if valid \
                else (zero, zero, zero, zero)
            xs = sums_x(wx, w_ih, sh, xoff + cur * xn + bb * Is, j, H, I, lane, lanes, zero) \
                if valid else (zero, zero, zero, zero)
            hs, xs = lane_sum8(hs, xs, lanes)
            h = zero
            if valid and lane == 0:
                h, st = cell_step(t, b, j, hs, xs, st, sh[hoff + bb * Hs + j], arrs)
                y[t, b, j] = h
                if t == T - 1:
                    h_n[b, j] = h
                    final(b, j, st, arrs)
            if not grid and valid and lane == 0:
                sh[(1 - cur) * hn + bb * Hs + j] = h
            for q in range(xpt):
                if xrow[q] >= 0:
                    sh[xoff + (1 - cur) * xn + xrow[q] * Is + xcol[q]] = xv[q]
            step_sync()
            if grid:
                stage_rows(sh, 0, Hs, y[t], base, rows, B, H, True)
                cuda.syncthreads()

    return forward


@functools.lru_cache(maxsize=None)
def fused_backward_kernel(hooks, G, dtype, layout, kb=0):
    """The fused backpropagation loop for ``hooks`` = (load, init, step, final).

    ``kernel(w_hh, dsrc, dh, arrs, units, rows, chunks, lanes)``; phase
    s = 0 … T handles step t = T − 1 − s, the last phase only the product
    that gives dh0. ``kb`` > 0 keeps that many rows of w_hh's column j per
    lane in registers.
    """
    load, init, cell_step, final = hooks
    elem = numba.from_dtype(np.dtype(dtype))
    grid = layout == "grid"
    step_sync = grid_sync if grid else block_sync
    load_w, total = _column_sum(kb)
    nw = max(1, kb)

    @cuda.jit
    def backward(w_hh, dsrc, dh, arrs, units, rows, chunks, lanes):
        sh = cuda.shared.array(0, elem)
        wr = cuda.local.array(nw, elem)
        T, B, GH = dsrc.shape
        H = GH // G
        lane, j, bb, base = pair_index(units, rows, 1, lanes)
        b = base + bb
        valid = j < H and bb < rows and b < B
        zero = typed(w_hh[0, 0], 0.0)
        GHs = kb * lanes if kb else GH
        n = rows * GHs
        load_w(wr, w_hh, j, GH, lane, lanes, valid, zero)
        if not grid:  # zero both buffers: their padding is read, never written
            stage_rows(sh, 0, GHs, dsrc[0], base, 2 * rows, B, GH, False)
        st = init(b, j, H, valid, arrs, zero)
        vals = load(T - 1, b, j, valid and T > 0, arrs, zero)
        cuda.syncthreads()
        for s in range(T + 1):
            t = T - 1 - s
            cur = s % 2
            nxt = load(t - 1, b, j, valid and t >= 1, arrs, zero)
            soff = 0 if grid else cur * n
            rec = zero
            if valid and s > 0:
                rec = total(wr, w_hh, sh, soff + bb * GHs, j, GH, lane, lanes, zero)
            rec = lane_sum(rec, lanes)
            if valid and lane == 0:
                if t >= 0:
                    out, st = cell_step(t, b, j, rec, vals, st, arrs)
                    if not grid:
                        o = (1 - cur) * n + bb * GHs + j
                        for g in range(G):
                            sh[o + g * H] = out[g]
                else:
                    final(b, j, rec, st, dh, arrs)
            vals = nxt
            step_sync()
            if grid and t >= 0:
                stage_rows(sh, 0, GHs, dsrc[t], base, rows, B, GH, True)
                cuda.syncthreads()

    return backward

"""The CPU engine: packed weights, persistent workers, fused time loops.

A pass over a sequence runs as ``parts`` workers (``functional/workers.py``)
each executing the whole time loop of one cell kernel
(``kernels/cpu/fused_<cell>.py``) for its own hidden units, meeting at a
spin barrier once per step. Everything a worker touches in its hot loop is
laid out here, once per call:

Unit blocks
    Hidden units are grouped in blocks of ``L`` (the SIMD width: 16 in
    float32, 8 in float64); ``Hp`` is the padded width. Workers own whole
    pairs of blocks (the last one an odd last block too).
Packed columns
    The G·H gate rows of ``w_ih``/``w_hh`` become ``G·Hp`` columns,
    ordered by unit block, then gate, then lane: the G pre-activations of L
    units sit side by side, one vector each. With an odd gate count and an
    odd number of blocks that is not a whole number of panels, and ``C``
    adds one vector of padding columns (zeros) at the end. Rounding the
    blocks up to pairs instead made an H = 16 float32 layer compute 32
    units.
Panels
    Weights are packed into panels of 2L columns (``kernels/cpu/packed.py``)
    once per call and stay where they are for all T steps; a worker reads
    only its own panels, so its slice of W_hh stays in its core's cache.

Buffers
    Every large buffer a pass uses, including the caches and gradients it
    returns (not y: see ``lstm.py``), comes from a pool
    (``functional/buffers.py``), which hands a buffer out again once nothing
    made from it is alive: a loop of passes over the same shapes reuses the
    same memory instead of faulting fresh pages in.

The input projection of a chunk of steps is part of the worker's loop (its
own columns), so a forward pass calls no BLAS at all; backward, the weight
gradients and dx are three large products after the time loop, or, for a
long pass whose loop runs on one worker, computed in chunks of steps by a
second worker that follows the loop (:func:`backward_pass`).

Results do not depend on the number of parts: every output element is the
same sequence of operations whichever worker computes it.
"""
import functools
import threading
from collections import namedtuple

import numpy as np

from ..kernels.cpu import packed as _packed
from ..kernels.cpu.simd import VECTOR_BYTES
from ..kernels.cpu import handoff as _handoff
from ..kernels.cpu import packed_grads as _grads
from . import workers
from .buffers import empty, zeros  # the passes allocate through engine.empty/zeros
from .schedule import get_num_threads

#: Rows a batch share should have at least (a register tile's worth).
TILE_ROWS_MIN = 4

#: A pass split by batch rows hands the rows out in groups (and the steps in
#: pieces: see :data:`PIECE_WORK`), each worker taking the next piece when
#: it is done with one, instead of half the batch each: the two virtual
#: CPUs of the project machine often run at different speeds for tens of
#: milliseconds (the same half of an S3 LSTM pass took 3.7 ms on one and
#: 5.0 on the other), and a static split waits for the slower. A group is
#: a quarter of the batch, in whole 8-row register tiles, at most this many
#: rows (4 rows below a batch of 16): one thread running
#: the S4 LSTM's training forward in groups of 8 rows took 7% longer than
#: in one piece, in groups of 16 no longer. Every row is computed the same
#: way in any group (see ``packed.product``). A short pass over a large batch
#: takes larger groups (:func:`row_groups`).
GROUP_ROWS = 16


#: A group of a batch-split pass holds at least this many multiply-adds over
#: the whole pass where the batch allows (:func:`row_groups`): a piece of
#: less costs about as much in hand-off as in arithmetic.
MIN_GROUP_WORK = 1 << 21


def row_groups(B, steps=None, lay=None, parts=1):
    """Bounds of the row groups of a batch-split pass of B rows.

    With ``steps`` (the pass's length), ``lay`` and ``parts`` (its workers),
    a group grows, in whole 8-row tiles, until it holds
    :data:`MIN_GROUP_WORK` multiply-adds over the whole pass, but no further
    than to leave two groups a worker. In groups of 16 rows a closed-loop
    step of 1000 paths (T = 1, H = 32, float64: ``LatentAR``'s forecast
    intervals) was 63 pieces of a few µs of arithmetic and ~20 µs of
    hand-off each.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import layout, row_groups
    >>> row_groups(32), row_groups(64), row_groups(12)
    ([0, 8, 16, 24, 32], [0, 16, 32, 48, 64], [0, 4, 8, 12])
    >>> row_groups(1000, steps=1, lay=layout(4, 32, np.float64), parts=2)
    [0, 248, 496, 744, 992, 1000]
    """
    g = max(8, min(GROUP_ROWS, B // 32 * 8)) if B >= 16 else TILE_ROWS_MIN
    if steps is not None and B >= 16:
        want = -(-MIN_GROUP_WORK // max(1, steps * lay.C * lay.H))
        g = max(g, min(-(-want // 8) * 8, B // (2 * parts) // 8 * 8))
    return list(range(0, B, g)) + [B]

#: Below this many multiply-adds per step the barrier (~0.2 µs) and the
#: hand-off (~20 µs a call) cost more than a second thread saves.
THREADED_STEP_WORK = 1 << 16

#: ... and below this many bytes of multiply-adds in a whole pass (T·B·C·H
#: times the itemsize: 2^22 float32 or 2^21 float64 multiply-adds, roughly
#: 0.15 ms of one core), so does the pass's hand-off to a second worker.
#: Two threads against one, interleaved in one process, every cell, float32
#: and float64, T 20-200, B 8-64, H 16-128, I = 8, forward and fwd+bwd,
#: medians of 9-41 calls. With hand-offs that blocked (40-110 µs each), the
#: line was at 2^25: of the 51 passes below it that the per-step rule split,
#: 47 were slower on two threads in one mode or both (median 0.88x, down to
#: 0.50x). Since the hand-offs spin (functional/workers.py), the passes from
#: 2^24 to 2^25 gain (27 passes: forward median 1.24x float32, 1.31x
#: float64, fwd+bwd 1.08x and 1.16x; one of them 0.96x in fwd+bwd) and those
#: below 2^24 still lose (12 of 17 slower in one mode or both, fwd+bwd
#: median 0.95x float32, down to 0.71x); from 2^25 on, all 137 are faster
#: (fwd+bwd median 1.44x float32, 1.60x float64).
THREADED_PASS_BYTES = 1 << 24

Layout = namedtuple("Layout", "G H L n_blocks Hp Hq C cols units valid rows")


def layout(G, H, dtype):
    """Unit blocks, padded sizes and the packed-column map for G gates × H units.

    ``Hp`` is the padded state width (``n_blocks`` · L), ``Hq`` that width
    rounded up to whole panels (2L: the backward product's outputs are
    units), ``C`` the packed gate columns (G·Hp rounded up to whole panels).
    ``cols[c]`` is the gate row (of G·H) packed column c holds, −1 for
    padding; ``units[u]`` (u < Hq) is u for u < H and −1 for padding units;
    ``valid`` is ``cols >= 0`` and ``rows`` is ``cols[valid]``. All are
    read-only: a layout is built once per (G, H, dtype) and shared
    by every later pass (building one takes ~30 µs of numpy calls, ~5% of a
    B = 1, T = 1000 LSTM forward pass; looking it up ~1 µs).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import layout
    >>> lay = layout(4, 20, np.float32)
    >>> lay.L, lay.Hp, lay.C, int(lay.cols[16]), int(lay.cols[64])
    (16, 32, 128, 20, 16)
    >>> one = layout(4, 16, np.float32)          # one block: 16 units, not 32
    >>> one.n_blocks, one.Hp, one.Hq, one.C
    (1, 16, 32, 64)
    >>> gru = layout(3, 16, np.float32)          # 48 gate columns + 16 of padding
    >>> gru.Hp, gru.C, int(gru.cols[47]), int(gru.cols[48])
    (16, 64, 47, -1)
    """
    return _layout(int(G), int(H), np.dtype(dtype))


@functools.lru_cache(maxsize=256)
def _layout(G, H, dtype):
    L = _packed.lanes(dtype)
    n_blocks = -(-H // L)
    Hp = n_blocks * L
    Hq = Hp + Hp % (2 * L)
    C = G * Hp + (G * Hp) % (2 * L)
    c = np.arange(C)
    block, rest = np.divmod(c, G * L)
    gate, lane = np.divmod(rest, L)
    unit = block * L + lane
    cols = np.where((unit < H) & (block < n_blocks), gate * H + unit, -1).astype(np.int64)
    units = np.where(np.arange(Hq) < H, np.arange(Hq), -1).astype(np.int64)
    valid = cols >= 0
    rows = cols[valid]
    for a in (cols, units, valid, rows):
        a.flags.writeable = False
    return Layout(G, H, L, n_blocks, Hp, Hq, C, cols, units, valid, rows)


#: Weights of at least this many bytes are packed on the workers, each
#: filling its own range of panels. Packing was a gather at ~1.5 ns a value
#: on one core (the S5 LSTM float32 spent 2.3 ms of its forward pass and
#: 4.5 ms of its fwd+bwd packing on one thread), then blocks transposed in
#: registers at ~0.5 ns. A hand-off costs more than it saves below ~1 MB:
#: the S3 LSTM's 256 KB W_hh took 0.1 ms on one thread and 0.13-0.25 ms on
#: two (the second starts 50-120 µs late). After the faster packing, 1, 2,
#: 4 MB and never (S4 and S5, LSTM float32 and float64 GRU, two threads,
#: interleaved in one process) were within 3% of each other.
PARALLEL_PACK_BYTES = 1 << 20


def _pack(fn, args, wp):
    # fn(w, *rest, wp, p0, p1) over the panels of wp, on the workers when
    # large; the packing kernels read w through a flat pointer
    args = (np.ascontiguousarray(args[0]), *args[1:])
    n = wp.shape[0]
    if wp.nbytes < PARALLEL_PACK_BYTES:
        fn(*args, wp, 0, n)   # on this thread (through run_parts: ~1.5 µs more)
        return wp
    workers.run_parts(min(get_num_threads(), n), lambda part, k, counter: (
        fn, (*args, wp, n * part // k, n * (part + 1) // k)))
    return wp


def pack_rows(w, cols, K):
    """Panels (C/2L, K, 2L) of the rows ``cols`` of ``w`` (rows, K)."""
    W = 2 * _packed.lanes(w.dtype)
    return _pack(_packed.pack, (w, cols), empty((cols.shape[0] // W, K, W), w.dtype))


def pack_plain(w):
    """Panels of ``w`` (N, K) with its rows as packed columns in their own
    order (zero columns pad N to a whole panel).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import pack_plain
    >>> w = np.arange(6.0).reshape(3, 2)          # N = 3 rows, K = 2
    >>> wp = pack_plain(w)                        # float64: panels of 16 columns
    >>> wp.shape, wp[0, :, :4].tolist()
    ((1, 2, 16), [[0.0, 2.0, 4.0, 0.0], [1.0, 3.0, 5.0, 0.0]])
    """
    W = 2 * _packed.lanes(w.dtype)
    N = w.shape[0]
    cols = np.full(-(-N // W) * W, -1, np.int64)
    cols[:N] = np.arange(N)
    return pack_rows(w, cols, w.shape[1])


def pack_bias(b, cols):
    out = empty(cols.shape[0], b.dtype)
    _packed.pack_bias(b, cols, out)
    return out


def pack_backward(w_hh, lay):
    """W_hh for dh = dg · W_hh: K = the C packed gate columns, output columns
    the Hq (padded) units, in panels of 2L units."""
    return pack_transposed_rows(w_hh, lay.cols, lay.units)


def pack_transposed_rows(w, kcols, ocols):
    """Panels of ``w``ᵀ for ``out = a · w``: K = ``len(kcols)`` (row
    ``kcols[k]`` of ``w``, −1 a zero row), output columns ``ocols`` (columns
    of ``w``, −1 a zero column; a whole number of panels).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import pack_transposed_rows
    >>> w = np.arange(6.0).reshape(2, 3)             # out = a · w: K = 2, 3 outputs
    >>> ocols = np.full(16, -1); ocols[:3] = [0, 1, 2]   # one panel of 16 float64 columns
    >>> wp = pack_transposed_rows(w, np.array([0, 1]), ocols)
    >>> wp.shape, wp[0, :, :4].tolist()
    ((1, 2, 16), [[0.0, 1.0, 2.0, 0.0], [3.0, 4.0, 5.0, 0.0]])
    """
    W = 2 * _packed.lanes(w.dtype)
    return _pack(_packed.pack_transposed, (w, kcols, ocols),
                 empty((ocols.shape[0] // W, kcols.shape[0], W), w.dtype))


#: The input projections of a chunk of steps are computed together; a chunk
#: holds about this many values, so it stays in L2 while the steps read it
#: back (training included: the gate cache is a separate array). All T steps
#: at once made the S3 LSTM's training forward 2.4x slower than inference.
CHUNK_VALUES = 1 << 17


def chunk_steps(T, B, lay):
    """Steps per chunk of input projections."""
    return max(1, min(T, CHUNK_VALUES // max(1, B * lay.C)))


#: Largest packed W_hh (bytes) for which a pass splits the batch rather than
#: the hidden units: up to it every core holds all of W_hh in its L2 (2 MB a
#: core on the project machine's Intel host, where these were measured; 1 MB
#: on its Zen 4 host, whose 32 MB L3 then serves the rest), and the per-step
#: exchange of h between cores (unit split) cost more than it saved. S3 LSTM
#: float32, W_hh 256 KB, two threads against one: forward 1.13x split by
#: units, 2.4x split by rows; the backward time loop 0.8x and 1.7x.
#: At 1-2 MB, two threads, by rows against by units: S4 LSTM float64 (2 MB)
#: forward 52 ms against 65, fwd+bwd 186 against 199; S4 GRU float32 forward
#: 15.9 against 19.9; S5 RNN float64 (2 MB) 8.0 against 8.2. Above (S5 LSTM,
#: 4 MB float32), by units: forward 19.5 ms against 23.7.
BATCH_SPLIT_BYTES = 1 << 21


def plan(B, lay, itemsize, steps=None):
    """``(parts, by_units)``: how many workers a pass of ``steps`` steps
    (None: the per-step rule alone) asks for and how it is cut.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import layout, plan
    >>> lay = layout(4, 32, np.float32)     # B = 16: 2^16 multiply-adds a step,
    >>> plan(16, lay, 4, steps=20)          # but 20 steps are too few to share
    (1, True)
    """
    pairs = lay.n_blocks // 2
    work = B * lay.C * lay.H
    if work < THREADED_STEP_WORK or (steps is not None
                                     and steps * work * itemsize < THREADED_PASS_BYTES):
        return 1, True
    threads = get_num_threads()
    if lay.C * lay.H * itemsize <= BATCH_SPLIT_BYTES and B >= 2 * TILE_ROWS_MIN:
        return max(1, min(threads, B // TILE_ROWS_MIN)), False
    if pairs < 2:
        return 1, True
    return max(1, min(threads, pairs)), True


def plan_parts(B, lay, steps=None):
    """How many workers a pass (of ``steps`` steps) asks for."""
    return plan(B, lay, VECTOR_BYTES // lay.L, steps=steps)[0]


def unit_parts(B, lay, steps=None):
    """How many workers a pass split by units (a time loop's, or the weight
    gradients') asks for: a worker owns whole pairs of unit blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import layout, unit_parts
    >>> unit_parts(1, layout(4, 32, np.float32))     # a B = 1 step is too small to share
    1
    """
    return min(plan_parts(B, lay, steps), max(1, lay.n_blocks // 2))


def block_range(part, parts, lay):
    """Unit blocks ``ub0:ub1`` that ``part`` of ``parts`` owns: whole pairs,
    and the last part also an odd last block.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import block_range, layout
    >>> lay = layout(4, 80, np.float32)           # 5 blocks of 16 units
    >>> [block_range(p, 2, lay) for p in range(2)]
    [(0, 2), (2, 5)]
    """
    pairs = lay.n_blocks // 2
    end = lay.n_blocks if part == parts - 1 else 2 * (pairs * (part + 1) // parts)
    return 2 * (pairs * part // parts), end


#: A time loop split by batch rows is handed out in pieces of steps as
#: well as groups of rows: a piece is about this many multiply-adds of the
#: recurrent product (~0.5 ms of float32 work on one core). With whole
#: groups, the two virtual CPUs running at different speeds left the faster
#: one idle at the end: in one S3 LSTM float32 training pass, 8-row groups
#: took 1.3-1.4 ms forward on one CPU and 2.0 on the other, every time,
#: and the pass waited for the slower one's second group. Whole groups
#: against pieces, interleaved in one process, two threads, every cell and
#: dtype at S3 and S4, forward and fwd+bwd: medians 0.85-1.02x, geometric
#: mean 0.95x. The S3 LSTM float32 forward took 4.19 ms in whole groups,
#: 3.60 in pieces of 2^25 (64 steps), 3.63 of 2^24 (32 steps); smaller
#: pieces cost more hand-offs (~10 µs each).
PIECE_WORK = 1 << 25


def piece_steps(T, rows, lay):
    """Steps per piece of a batch-split time loop over groups of ``rows``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import layout, piece_steps
    >>> piece_steps(100, 8, layout(4, 128, np.float32))    # S3 LSTM: 64 and 36 steps
    64
    >>> piece_steps(10, 8, layout(4, 8, np.float32))       # a tiny layer: one piece
    10
    """
    return max(1, min(T, -(-PIECE_WORK // max(1, rows * lay.C * lay.H))))


def run(fn, args, B, lay, steps=None, backward=False):
    """Run the kernel ``fn`` on its workers; returns the number of parts that ran.

    A time loop (``steps`` = T) is called as ``fn(*args, counter, ub0, ub1,
    b0, b1, ta, tb, parties)``, any other kernel as ``fn(*args, counter,
    ub0, ub1, b0, b1, parties)`` (``parties``: how many meet at the
    barrier, 1 for none); ``backward``: the loop runs from step T − 1
    down.

    Split by units, each worker makes one call for its blocks and all
    steps. Split by rows, the rows come in groups (:func:`row_groups`) and
    the steps in pieces (:func:`piece_steps`); a worker takes the next
    piece of the group that is furthest behind and not being worked on,
    so that the faster worker does more of the work and every group
    advances, and a group's pieces run in order, whoever runs them.
    """
    parts, job = _job(fn, args, B, lay, steps, backward)
    return workers.run_parts(parts, job)


def _job(fn, args, B, lay, steps=None, backward=False):
    # (parts asked for, job(part, n, counter) -> (callable, args)) of run()
    parts, units = plan(B, lay, VECTOR_BYTES // lay.L, steps=steps)
    span = () if steps is None else (0, steps)
    if units or parts <= 1:
        return parts, lambda part, n, counter: (
            fn, (*args, counter, *block_range(part, n, lay), 0, B, *span, n) if units
            else (*args, counter, 0, lay.n_blocks, 0, B, *span, 1))
    if steps is None:
        raise ValueError("engine.run: a kernel split by batch rows is a time loop; pass steps")
    bounds = row_groups(B, steps, lay, parts)
    groups = len(bounds) - 1
    piece = piece_steps(steps, max(bounds[1] - bounds[0], 1), lay)
    done = [0] * groups         # steps of each group finished (from its first step)
    busy = [False] * groups
    failed = [False]
    lock = threading.Lock()

    def take(last):
        # the next piece: (group, first, end) counted from the loop's start,
        # or None when no group is free. A worker that finds none stops
        # rather than waiting for one: every group left is being worked on,
        # and its next piece can only start when its worker's piece ends, so
        # that worker takes it as soon as anyone could. (Waiting on a
        # condition cost the caller a wake-up, 20-40 µs here, at the end of
        # every batch-split loop.)
        with lock:
            if failed[0]:
                return None
            free = [g for g in range(groups) if not busy[g] and done[g] < steps]
            if not free:
                return None
            g = min(free, key=lambda g: (done[g], g != last))
            busy[g] = True
            return g, done[g], min(steps, done[g] + piece)

    def pieces(counter):
        g = None
        while (got := take(g)) is not None:
            g, s0, s1 = got
            ta, tb = (steps - s1, steps - s0) if backward else (s0, s1)
            try:
                fn(*args, counter, 0, lay.n_blocks, bounds[g], bounds[g + 1], ta, tb, 1)
            except BaseException:
                failed[0] = True  # no more pieces for anyone: the call raises this
                raise
            with lock:
                done[g] = s1
                busy[g] = False

    return parts, lambda part, n, counter: (pieces, (counter,))


def unpack_columns(a, lay):
    """(…, C) in packed order → (…, G·H) in the weights' gate order."""
    out = np.empty(a.shape[:-1] + (lay.G * lay.H,), a.dtype)
    out[..., lay.rows] = a[..., lay.valid]
    return out


#: Up to this many inputs, dx is a dot product per (row, input) instead of the
#: packed product, which computes a whole panel of 2L input columns (32 in
#: float32) and would throw away all but I of them. Whole fwd+bwd with I = 1,
#: the two ways interleaved in one process: LSTM float32 (T = 1000, H = 32)
#: 1.80 → 1.75 ms, float64 2.52 → 2.45 ms; GRU float32 (T = 10000, H = 16)
#: 18.7 → 17.0 ms.
#: (I = 0 keeps the packed product: one panel of zero weights, so the
#: kernel never reads an empty w_ih.)
DX_DOT_INPUTS = 4


def _grads_job(dg, dgh, x, h0, y, w_ih, lay, out, first=True):
    # dx, dw_ih, dw_hh, db_ih, db_hh (added into ``out``; dx written by the
    # ``first`` set of a pass, see _grads_args) from the packed
    # gate gradients, split by units (kernels/cpu/packed_grads.py): (parts,
    # job(part, n, counter) as run_parts takes it (counter: the set's own,
    # not shared with a time loop's barrier), what to do after the kernel)
    # the thread count is read once: the scratch has a row for each part,
    # and another thread's set_num_threads between sizing it and running
    # the parts made more parts than rows (they wrote past the scratch)
    B = x.shape[1]
    parts = unit_parts(B, lay, x.shape[0])
    args, finish = _grads_args(dg, dgh, x, h0, y, w_ih, lay, out, parts, first=first)
    return parts, lambda part, n, counter: (
        _grads.weight_grads_part, (*args, counter, *block_range(part, n, lay), 0, B, n)), finish


#: A long pass whose time loop runs on one worker (:data:`THREADED_STEP_WORK`)
#: computes its weight gradients in chunks of steps holding about this many
#: gate gradients, on a second worker that follows the backward time loop
#: chunk by chunk (after it where no second worker is free).
FOLLOW_VALUES = 1 << 14
#: ... from this many gate gradients (T·B·C) on: below, handing the chunks
#: to the second worker and collecting them cost what the overlap saves.
#: Following against not, interleaved in one process, fwd+bwd, two threads,
#: B = 1-2, every cell, float32 and float64: at 9 600-38 400 gate gradients
#: (T = 300, H = 32) 0.76-0.99x the time; from 64 000 on (T = 1000, H = 32
#: LSTM and GRU, H = 64 Elman RNN; T = 3000; B = 2) 1.04-1.23x, medians
#: 1.11x, in one run of the Elman RNN at B = 2 0.52x (both threads on one
#: CPU for the run; 0.95-1.14x in three more). On one thread (the chunks
#: after the loop) the same passes took 0.95-1.00x as long. (At 4096 rows
#: of T·B, as the rule stood while hand-offs blocked, S1 did not follow:
#: 1.00-1.12x then.)
FOLLOW_GATE_VALUES = 1 << 16


def follows(T, B, lay):
    """Whether a backward pass's weight gradients follow its time loop in
    chunks (:func:`backward_pass`): long passes whose loop runs on one
    worker, whatever the thread count (the chunks sum in their own order).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.engine import follows, layout
    >>> lay = layout(4, 32, np.float32)                  # 128 gate columns
    >>> follows(1000, 1, lay), follows(300, 1, lay)      # S1 follows, T = 300 does not
    (True, False)
    """
    return T * B * lay.C >= FOLLOW_GATE_VALUES and B * lay.C * lay.H < THREADED_STEP_WORK


def backward_pass(fn, args, B, lay, T, *grads):
    """The backward time loop ``fn(*args, …)`` (as :func:`run` calls it),
    then the weight gradients of each set in ``grads``, a tuple of
    arguments (dg, dgh, x, h0, y, w_ih, layout, out) of :func:`_grads_job`:
    one for most cells, two for the reset-before GRU (its candidate's
    recurrent rows multiply r ⊙ h) and the projected LSTM (w_hr's gradient
    is the second set: see ``lstm.py``).

    The loop and the weight gradients are one hand-off to the workers:
    each worker goes from its share of the loop to its part of the weight
    gradients once every part of the loop is done.

    For a long pass whose loop runs on one worker (:func:`follows`), a
    second worker computes the weight gradients alongside it, chunk by
    chunk as the loop finishes their steps
    (``packed_grads.weight_grads_chunks``), one set after the other; the
    loop runs first and the chunks after it if no second worker is free.
    The results are the same either way.
    """
    if not follows(T, B, lay):
        _loop_then_grads(fn, args, B, lay, T, grads)
        return
    steps = max(1, FOLLOW_VALUES // max(1, B * lay.C))
    sets = [_grads_args(*g, None, steps * B, first=i == 0) for i, g in enumerate(grads)]

    def chunks(counter, follow):
        # weight_grads_chunks of every set in turn, as _in_turn takes them
        return tuple(x for gargs, _ in sets
                     for x in (_grads.weight_grads_chunks, (*gargs, counter, follow)))

    def job(part, parts, counter):
        if part:
            return _in_turn, chunks(counter, True)
        counter[6] = steps if parts > 1 else 0   # the loop reports its progress
        loop = (*args, counter, 0, lay.n_blocks, 0, B, 0, T, 1)
        if parts > 1:
            return fn, loop
        return _in_turn, (fn, loop, *chunks(counter, False))

    workers.run_parts(min(2, get_num_threads()), job)
    for _, finish in sets:
        finish()


def _in_turn(*calls):
    # calls = (f, fargs, g, gargs, …): each in turn
    for f, fargs in zip(calls[::2], calls[1::2]):
        f(*fargs)


def _loop_then_grads(fn, args, B, lay, T, grads):
    # The backward time loop and then each set of weight gradients, in one
    # hand-off to the workers: each part, its share of the loop done,
    # arrives at a gate, and the parts that have weight gradients to do
    # wait there for all the others (a part split by rows stops when no
    # piece is left for it, while another may still be running one), then
    # do their part of the first set, then of the next. Two hand-offs (the
    # loop's, then the gradients') cost the S3 Elman RNN's float32 backward
    # pass ~80 µs more on two threads.
    loop_parts, loop = _job(fn, args, B, lay, T, backward=True)
    sets = [_grads_job(*g, first=i == 0) for i, g in enumerate(grads)]
    parts = max(loop_parts, *(asked for asked, _, _ in sets))
    if parts == 1:
        # the calling thread alone, in turn (a gate and the abort flags
        # were 8% of a T = 1, B = 1 LSTM backward's 32 µs)
        for f, fargs in [loop(0, 1, workers.new_counter())] + [
                grads_job(0, 1, workers.new_counter()) for _, grads_job, _ in sets]:
            f(*fargs)
    else:
        gate = workers.new_counter()   # counts the parts done with the loop
        counters = [gate] + [workers.new_counter() for _ in sets]

        def job(part, n, counter):
            looping = min(n, loop_parts)
            grads_parts = [min(n, asked) for asked, _, _ in sets]
            calls = list(loop(part, looping, counter)) if part < looping else []
            calls.extend((_handoff.gate, (gate, looping, part < looping,
                                          part < max(grads_parts))))
            for (_, grads_job, _), set_parts, c in zip(sets, grads_parts, counters[1:]):
                if part < set_parts:
                    calls.extend(grads_job(part, set_parts, c))
            return _in_turn_or_abort, (counters, *calls)

        workers.run_parts(parts, job)
    for _, _, finish in sets:
        finish()


def _in_turn_or_abort(counters, *calls):
    # _in_turn, setting the abort flag of every counter if a call raises:
    # the other parts may be waiting at a barrier of any of them
    try:
        _in_turn(*calls)
    except BaseException:
        for c in counters:
            c[1] = 1
        raise


def _grads_args(dg, dgh, x, h0, y, w_ih, lay, out, parts, rows=None, first=True):
    # the arguments of weight_grads_part (scratch rows for ``parts``
    # workers), or with ``rows`` those of weight_grads_chunks; and what to
    # do after the kernel. out["dx"] arrives unset (start_backward): the
    # ``first`` set of a pass writes it, later ones (the reset-before GRU's
    # second) add to it
    T, B, I = x.shape
    # the width of h: the layout's units, or P for the projected LSTM
    H, C = out["dw_hh"].shape[1], lay.C
    dtype = x.dtype
    TB = T * B
    W = 2 * lay.L
    Ip = -(-max(I, 1) // W) * W
    # w_ih for dx = dg · w_ih: K = the packed gate columns, outputs the inputs
    dots = 0 < I <= DX_DOT_INPUTS
    # the product writes whole panels of Ip inputs: into dx itself where
    # that is all of it (I a multiple of 2L), saving a zero fill and an
    # add of dx (~20 µs of the serial set-up of an S3 backward pass)
    direct = first and not dots and Ip == I
    if dots:
        if first:
            out["dx"].fill(0)
        wxt = empty((0, C, W), dtype)
        wxc = np.empty((I, C), dtype)
        # (numpy's w_ih[lay.rows].T into a masked slice: 3 µs of a B = 1
        # backward pass's ~40 µs of set-up)
        _packed.gather_rows_transposed(w_ih, lay.cols, wxc)
        # the dot products are added into dx in place (a view: raises
        # rather than copy)
        dxp = out["dx"].view()
        dxp.shape = (TB, I)
    else:
        inputs = np.where(np.arange(Ip) < I, np.arange(Ip), -1).astype(np.int64)
        wxt = _pack(_packed.pack_transposed, (w_ih, lay.cols, inputs),
                    empty((Ip // W, C, W), dtype))
        wxc = np.empty((0, C), dtype)
        if direct:
            dxp = out["dx"].view()
            dxp.shape = (TB, I)
        else:
            dxp = empty((TB, Ip), dtype)
    common = (dg, dgh, x, h0, y, empty((I, TB), dtype), empty((H, TB), dtype), wxt, wxc,
              lay.cols, out["dw_ih"], out["dw_hh"], out["db_ih"], out["db_hh"], dxp,
              zeros(max(C, Ip), dtype))
    tmp = (max(H, I) + 1) * W   # a product's result and a panel's sums
    if rows is None:
        # a panel of dg and a tmp for each worker
        args = (*common, lay.n_blocks, dgh is dg, empty((parts, TB * W), dtype),
                empty((parts, tmp), dtype))
    else:
        args = (*common, dgh is dg, empty(min(rows, TB) * W, dtype), empty(tmp, dtype), rows)

    def finish():
        if dots or direct:
            return
        if first:
            out["dx"][...] = dxp[:, :I].reshape(T, B, I)
        else:
            out["dx"] += dxp[:, :I].reshape(T, B, I)
    return args, finish


def gate_grads(T, B, lay, dtype):
    """(T, B, C) for the gate gradients of a backward pass: the time loop
    writes the columns of the unit blocks, and the padding columns are
    zeros (the backward product multiplies them by zero weights, and
    whatever memory held before could be NaN)."""
    out = empty((T, B, lay.C), dtype)
    out[..., lay.G * lay.Hp:] = 0
    return out


def padded_states(slots, B, lay, dtype, *initial, width=None):
    """(slots, B, Hp) buffers per state (``width`` columns instead of Hp when
    given), slot 0 holding the initial state and zeros in the padding units
    (they must stay zero: see the kernels).

    Only slot 0 is initialised: a pass writes every unit (padding included)
    of every later slot before reading it. Zeroing all T + 1 slots of a
    training pass took 1.1 ms (13 MB) of the S4 Elman RNN's float64 forward.
    """
    out = []
    for s0 in initial:
        buf = empty((slots, B, lay.Hp if width is None else width), dtype)
        buf[0, :, lay.H:] = 0
        buf[0, :, :lay.H] = s0
        out.append(buf)
    return out


def padded(a, lay, width=None):
    """(B, H) → (B, Hp) (or (B, ``width``)) with zero padding units."""
    out = zeros((a.shape[0], lay.Hp if width is None else width), a.dtype)
    out[:, :lay.H] = a
    return out

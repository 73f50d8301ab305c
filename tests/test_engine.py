"""The CPU engine (functional/engine.py, kernels/cpu/fused_*.py, packed.py,
simd.py, functional/workers.py): packed products against numpy, threaded
passes against the numpy oracle and against the one-thread pass bit for
bit, concurrent callers, and a failing part that must not hang the others.

Real shapes only run threaded when the per-step work is large, so these
tests lower the threshold to force workers on small, fast shapes.
"""
import os
import threading

import numba
import numpy as np
import pytest

import numbarnn
from numbarnn.functional import buffers, engine, workers
from numbarnn.kernels.cpu import packed
from numbarnn.kernels.cpu.simd import barrier_wait, lanes_of, ptr, vload, vstore_sums, vsum

from helpers import (DTYPE_PARAMS, VARIANT_PARAMS, VARIANTS, assert_all_close,
                     check_against_reference, rng_for)

#: engine.THREADED_PASS_BYTES as the library sets it (split_small_passes lowers it)
REAL_PASS_BYTES = engine.THREADED_PASS_BYTES

# the thread tests split small shapes on purpose (conftest.py)
pytestmark = pytest.mark.usefixtures("split_small_passes")


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (3, 7, 40), (4, 16, 64), (9, 33, 100),
                                   (1, 32, 128), (0, 5, 32), (13, 20, 100)])
def test_packed_product_matches_numpy(M, K, N, dtype):
    rng = rng_for("packed", M, K, N)
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    W = packed.panel_width(dtype)
    n_panels = -(-N // W)
    cols = np.full(n_panels * W, -1, np.int64)
    cols[:N] = np.arange(N)
    wp = np.empty((n_panels, K, W), dtype)
    packed.pack(w, cols, wp, 0, n_panels)
    bp = np.empty(n_panels * W, dtype)
    packed.pack_bias(b, cols, bp)
    out = np.full((M, n_panels * W), np.nan, dtype)
    packed.packed_matmul(a, wp, bp, out, 0, n_panels)
    want = a.astype(np.float64) @ w.T.astype(np.float64) + b
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[:, :N], want, rtol=tol, atol=tol * max(K, 1))
    np.testing.assert_array_equal(out[:, N:], 0.0)  # padding columns: zero weights, zero bias
    # the time loops take the panels in descending order every other step:
    # the same bits, whichever order
    back = np.full_like(out, np.nan)
    packed.packed_matmul(a, wp, bp, back, 0, n_panels, True)
    np.testing.assert_array_equal(back, out)
    # and with the row tiles outside the panels (the batched step's order)
    rows_out = np.full_like(out, np.nan)
    _rows_outside(a, wp, bp, rows_out)
    np.testing.assert_array_equal(rows_out, out)


@numba.njit
def _rows_outside(a, wp, bias, out):
    M, K = a.shape
    packed.product_rows_outside(ptr(a), 0, K, ptr(out), 0, out.shape[1], M, ptr(wp),
                                wp.shape[0], K, ptr(bias))


@numba.njit
def _sums_both_ways(a, one, folded):
    # a: (16, lanes); one[r] = vsum(row r); folded: the 16 at once
    p = ptr(a)
    L = lanes_of(p)
    for r in range(16):
        one[r] = vsum(vload(p, r * L))
    vstore_sums(ptr(folded), 0, (
        vload(p, 0), vload(p, L), vload(p, 2 * L), vload(p, 3 * L), vload(p, 4 * L),
        vload(p, 5 * L), vload(p, 6 * L), vload(p, 7 * L), vload(p, 8 * L), vload(p, 9 * L),
        vload(p, 10 * L), vload(p, 11 * L), vload(p, 12 * L), vload(p, 13 * L),
        vload(p, 14 * L), vload(p, 15 * L)))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_folded_lane_sums_are_vsum_bit_for_bit(dtype):
    # the streaming step reduces 16 dot products at once; each sum must be
    # the one lane tree of vsum (magnitudes 1e-8..1e8, so another order of
    # additions rounds differently), and equal to a float64 sum to rounding
    rng = rng_for("vstore_sums", np.dtype(dtype).name)
    L = packed.lanes(dtype)
    a = (rng.standard_normal((16, L)) * 10.0 ** rng.integers(-8, 9, (16, L))).astype(dtype)
    one, folded = np.full(16, np.nan, dtype), np.full(16, np.nan, dtype)
    _sums_both_ways(a, one, folded)
    np.testing.assert_array_equal(folded, one)
    tree = a.copy()
    while tree.shape[1] > 1:   # the halving tree, in numpy
        h = tree.shape[1] // 2
        tree = tree[:, :h] + tree[:, h:]
    np.testing.assert_array_equal(folded, tree[:, 0])
    # and not a trivial agreement: a left-to-right sum differs somewhere
    assert not np.array_equal(np.cumsum(a, axis=1, dtype=dtype)[:, -1], folded)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_transposed_pack_matches_numpy_indexing(dtype):
    # the backward products' operand: wᵀ packed by gate column, filled one
    # range of panels at a time (as the workers do) or all at once
    lay = engine.layout(3, 20, dtype)
    rng = rng_for("transposed-pack")
    w = rng.standard_normal((60, 20)).astype(dtype)
    W = 2 * lay.L
    n = lay.Hq // W
    rows = np.zeros((lay.C, lay.Hq), dtype)
    rows[lay.cols >= 0, :20] = w[lay.cols[lay.cols >= 0]]
    want = rows.reshape(lay.C, n, W).transpose(1, 0, 2)
    for cuts in ([0, n], [0, 1, n]):
        wp = np.full((n, lay.C, W), np.nan, dtype)
        for p0, p1 in zip(cuts, cuts[1:]):
            packed.pack_transposed(w, lay.cols, lay.units, wp, p0, p1)
        np.testing.assert_array_equal(wp, want)
    # output columns out of order, or consecutive from an odd start (the
    # kernel copies a vector only where L of them are consecutive columns)
    w2 = rng.standard_normal((60, 3 * W)).astype(dtype)
    for ocols in (rng.permutation(2 * W), np.r_[np.arange(5, 5 + W + 3), -1, np.arange(W - 4)]):
        ocols = ocols.astype(np.int64)
        kcols = lay.cols
        want = np.where((kcols[:, None] >= 0) & (ocols[None, :] >= 0),
                        w2[kcols][:, ocols], 0).reshape(lay.C, 2, W).transpose(1, 0, 2)
        wp = np.full((2, lay.C, W), np.nan, dtype)
        packed.pack_transposed(w2, kcols, ocols, wp, 0, 2)
        np.testing.assert_array_equal(wp, want)


def test_large_weights_are_packed_on_the_workers(monkeypatch):
    # above PARALLEL_PACK_BYTES the panels are shared out among the workers;
    # the packed result is the same array as one thread's
    rng = rng_for("parallel-pack")
    lay = engine.layout(4, 100, np.float64)
    w = rng.standard_normal((400, 100))
    one = engine.pack_rows(w, lay.cols, 100)
    calls = []
    real = engine.workers.run_parts
    monkeypatch.setattr(engine.workers, "run_parts",
                        lambda parts, job: calls.append(parts) or real(parts, job))
    monkeypatch.setattr(engine, "PARALLEL_PACK_BYTES", 0)
    old = numbarnn.set_num_threads(3)
    try:
        many = engine.pack_rows(w, lay.cols, 100)
        back = engine.pack_backward(w, lay)
    finally:
        numbarnn.set_num_threads(old)
    assert calls == [3, 3]
    np.testing.assert_array_equal(many, one)
    W = 2 * lay.L
    assert lay.n_blocks == 13 and lay.Hq == lay.Hp + lay.L   # an odd block: half a panel
    rows = np.zeros((lay.C, lay.Hq))
    rows[lay.cols >= 0, :100] = w[lay.cols[lay.cols >= 0]]
    np.testing.assert_array_equal(back, rows.reshape(lay.C, lay.Hq // W, W).transpose(1, 0, 2))


def test_layout_maps_packed_columns_to_gate_rows():
    lay = engine.layout(3, 20, np.float64)   # L = 8: 3 blocks of 8 units
    # 72 gate columns, padded to whole panels (16 columns) with 8 zero columns
    assert (lay.L, lay.n_blocks, lay.Hp, lay.Hq, lay.C) == (8, 3, 24, 32, 80)
    # block 0: r units 0-7, z units 0-7, n units 0-7; block 2 holds units 16-19 + padding
    np.testing.assert_array_equal(lay.cols[:24], np.r_[0:8, 20:28, 40:48])
    np.testing.assert_array_equal(lay.cols[48:56], [16, 17, 18, 19, -1, -1, -1, -1])
    np.testing.assert_array_equal(lay.cols[72:], -1)
    assert sorted(lay.cols[lay.cols >= 0].tolist()) == list(range(60))
    # two gates (the reset-before GRU's r/z rows) fill a panel a block: no padding columns
    assert engine.layout(2, 20, np.float64).C == 48
    # built once per (G, H, dtype) and shared by every pass, so nobody may write it
    assert engine.layout(3, 20, "float64") is lay
    assert not lay.cols.flags.writeable and not lay.units.flags.writeable


def test_padding_memory_is_never_read(monkeypatch):
    # every buffer the engine leaves uninitialised starts as NaN here: a pass
    # that read any of it (a padding column of the gate gradients, say) would
    # turn its results into NaN. Odd block counts, and every cell
    real = engine.empty
    monkeypatch.setattr(engine, "empty", lambda shape, dtype: _nan(real(shape, dtype)))
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    old = numbarnn.set_num_threads(2)
    try:
        for variant in VARIANTS:
            for dtype, H in ((np.float32, 40), (np.float64, 20), (np.float32, 5)):
                check_against_reference(variant, (4, 6, 3, H), dtype, tag=("nan-poison", H))
    finally:
        numbarnn.set_num_threads(old)


def _nan(a):
    a.fill(np.nan)
    return a


@pytest.fixture
def threaded(monkeypatch, request):
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    old = numbarnn.set_num_threads(request.param)
    yield request.param
    numbarnn.set_num_threads(old)


# H = 100: float32 blocks of 16 → 7 blocks (3 pairs and a block the last
# worker also owns), float64 blocks of 8 → 13
SHAPE = (6, 5, 4, 100)


@pytest.mark.parametrize("threaded", [2, 3], indirect=True)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_threaded_pass_matches_reference(variant, dtype, threaded):
    lay = engine.layout(variant.gates, SHAPE[3], dtype)
    assert engine.plan_parts(SHAPE[1], lay) == threaded
    check_against_reference(variant, SHAPE, dtype, tag=("engine", threaded))


@pytest.mark.parametrize("dot_inputs", [0, 8], ids=["packed-product", "dot-products"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_both_ways_to_dx_match_reference(variant, dtype, dot_inputs, monkeypatch):
    # I = 7: one padded panel of inputs for the packed product, or seven dot
    # products per row; either way on three parts
    monkeypatch.setattr(engine, "DX_DOT_INPUTS", dot_inputs)
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    old = numbarnn.set_num_threads(3)
    try:
        check_against_reference(variant, (6, 5, 7, 70), dtype, tag=("dx", dot_inputs))
    finally:
        numbarnn.set_num_threads(old)


@pytest.mark.parametrize("inputs", ["panel", "dots", "padded"])
@pytest.mark.parametrize("split", ["units", "batch", "follows"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_dx_from_uninitialised_memory_matches_reference(variant, dtype, split, inputs,
                                                        monkeypatch):
    # dx comes uninitialised from the buffer pool and the weight gradients'
    # first set writes it: the packed product straight into dx where I is
    # one whole panel (2L), dot products added to it after a zero fill
    # (I <= 4), a padded scratch copied into it otherwise; the reset-before
    # GRU's second set adds to it. Every pooled buffer starts as NaN here,
    # so a row left unwritten, or added to instead of written, shows
    I = {"panel": 2 * packed.lanes(dtype), "dots": 3, "padded": 7}[inputs]
    T, B, H = {"units": (6, 5, 100), "batch": (6, 9, 20), "follows": (40, 1, 20)}[split]
    lay = engine.layout(variant.gates, H, dtype)
    if split == "follows":   # the loop on one worker, the weight gradients on another
        monkeypatch.setattr(engine, "FOLLOW_GATE_VALUES", 8)
        monkeypatch.setattr(engine, "FOLLOW_VALUES", 7 * lay.C)
    else:
        monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    assert engine.follows(T, B, lay) == (split == "follows")
    assert engine.plan(B, lay, np.dtype(dtype).itemsize)[1] == (split != "batch")
    real = buffers.empty
    for module in (buffers, engine):   # checks.start_backward's dx, the passes' scratch
        monkeypatch.setattr(module, "empty", lambda shape, dtype: _nan(real(shape, dtype)))
    old = numbarnn.set_num_threads(2)
    try:
        check_against_reference(variant, (T, B, I, H), dtype, tag=("dx", split, inputs))
    finally:
        numbarnn.set_num_threads(old)


# B = 9, H = 20: W_hh small enough for the batch split (rows 0-3 and 4-8)
BATCH_SHAPE = (5, 9, 4, 20)
# a short pass over a wide batch: its groups grow past 16 rows (row_groups)
WIDE_SHAPE = (2, 200, 3, 20)


@pytest.mark.parametrize("threaded", [2], indirect=True)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_batch_split_pass_matches_reference(variant, dtype, threaded):
    lay = engine.layout(variant.gates, BATCH_SHAPE[3], dtype)
    assert engine.plan(BATCH_SHAPE[1], lay, np.dtype(dtype).itemsize) == (2, False)
    check_against_reference(variant, BATCH_SHAPE, dtype, tag=("engine-batch", threaded))


@pytest.mark.parametrize("shape,piece_work", [(SHAPE, None), (BATCH_SHAPE, None),
                                               (BATCH_SHAPE, 1), (WIDE_SHAPE, None)],
                         ids=["units", "batch", "batch-in-1-step-pieces", "batch-short-wide"])
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_part_count_does_not_change_a_bit(variant, dtype, shape, piece_work, monkeypatch):
    T, B, I, H = shape
    rng = rng_for("engine-parts", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H, dtype)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    serial = variant.forward_backward(inp, cot)
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    if piece_work is not None:  # every step a piece of its own, taken by any worker
        monkeypatch.setattr(engine, "PIECE_WORK", piece_work)
    old = numbarnn.set_num_threads(3)
    try:
        split = variant.forward_backward(inp, cot)
        infer = variant.outputs(variant.forward(inp))
    finally:
        numbarnn.set_num_threads(old)
    for a, b in zip(serial, split):
        for name in a:
            if a[name] is not None:
                np.testing.assert_array_equal(b[name], a[name], err_msg=name)
    np.testing.assert_array_equal(infer["y"], serial[0]["y"])


def test_a_short_pass_over_a_wide_batch_takes_larger_groups():
    lay = engine.layout(4, 32, np.float64)            # C = 128, H = 32
    # T = 1, 1000 rows (LatentAR's interval paths): 16-row groups would be
    # 63 pieces of 2^16 multiply-adds; 2^21 would take 512 rows, so the
    # groups stop at two a worker, in whole 8-row tiles
    assert engine.row_groups(1000, 1, lay, 2) == [0, 248, 496, 744, 992, 1000]
    # T = 5, 256 rows: 2^21 / (5 · 128 · 32) -> 103 rows, 104 in tiles;
    # two a worker for 3 workers: 42 -> 40 rows
    assert engine.row_groups(256, 5, lay, 2) == [0, 64, 128, 192, 256]
    assert engine.row_groups(256, 5, lay, 3) == [0, 40, 80, 120, 160, 200, 240, 256]
    # T = 20, 256 rows: 2^21 / (20 · 128 · 32) -> 26 rows, 32 in tiles
    assert engine.row_groups(256, 20, lay, 2) == list(range(0, 257, 32))
    # the bench's batch-split shapes keep their groups
    for T, B, H in [(100, 32, 128), (100, 64, 256), (200, 8, 64), (50, 16, 512)]:
        for G in (1, 3, 4):
            lay = engine.layout(G, H, np.float32)
            assert engine.row_groups(B, T, lay, 2) == engine.row_groups(B)


def test_a_short_wide_pass_makes_few_hand_offs(monkeypatch):
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    lay = engine.layout(4, 32, np.float64)
    calls = []

    def kernel(counter, ub0, ub1, b0, b1, ta, tb, parties):
        calls.append((b0, b1))

    old = numbarnn.set_num_threads(2)
    try:
        assert engine.run(kernel, (), 1000, lay, 1) == 2
    finally:
        numbarnn.set_num_threads(old)
    assert sorted(calls) == [(0, 248), (248, 496), (496, 744), (744, 992), (992, 1000)]


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
def test_batch_split_runs_each_group_in_order(backward, monkeypatch):
    # engine.run's pieces: every group's steps exactly once, in the loop's
    # direction, whichever worker takes them, and never two pieces of one
    # group at the same time
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    monkeypatch.setattr(engine, "PIECE_WORK", 1)
    lay = engine.layout(4, 20, np.float32)
    T, B = 7, 9
    log, running = [], set()
    lock = threading.Lock()

    def kernel(counter, ub0, ub1, b0, b1, ta, tb, parties):
        with lock:
            assert b0 not in running
            running.add(b0)
        log.append((b0, b1, ta, tb, parties))
        with lock:
            running.discard(b0)

    old = numbarnn.set_num_threads(3)
    try:
        assert engine.run(kernel, (), B, lay, T, backward=backward) == 2  # B = 9: 2 parts
    finally:
        numbarnn.set_num_threads(old)
    bounds = engine.row_groups(B, T, lay, 2)
    for g0, g1 in zip(bounds, bounds[1:]):
        spans = [(ta, tb) for b0, b1, ta, tb, parties in log if (b0, b1) == (g0, g1)]
        steps = [t for ta, tb in spans for t in (range(tb - 1, ta - 1, -1) if backward
                                                  else range(ta, tb))]
        assert steps == (list(range(T - 1, -1, -1)) if backward else list(range(T)))
    assert all(parties == 1 for *_, parties in log)


def test_a_failing_piece_stops_the_pass(monkeypatch):
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    monkeypatch.setattr(engine, "PIECE_WORK", 1)
    lay = engine.layout(4, 20, np.float32)
    calls = []

    def kernel(counter, ub0, ub1, b0, b1, ta, tb, parties):
        calls.append(ta)
        if ta == 2:
            raise ZeroDivisionError("piece")

    old = numbarnn.set_num_threads(2)
    try:
        with pytest.raises(ZeroDivisionError):
            engine.run(kernel, (), 16, lay, 50)
    finally:
        numbarnn.set_num_threads(old)
    assert len(calls) < 10  # of 100 pieces: the others were not handed out


def test_concurrent_callers_get_their_own_results(monkeypatch):
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    old = numbarnn.set_num_threads(2)
    F = numbarnn.functional
    rng = np.random.default_rng(0)
    H = 64
    w_ih, w_hh = rng.standard_normal((4 * H, 3)) * 0.3, rng.standard_normal((4 * H, H)) * 0.1
    xs = [rng.standard_normal((20, b, 3)) for b in (2, 3, 5, 8)]
    try:
        want = [F.lstm_forward(x, w_ih, w_hh).y for x in xs]
        errors, got = [], {}

        def call(i):
            try:
                for _ in range(5):
                    got[i] = F.lstm_forward(xs[i], w_ih, w_hh).y
                    np.testing.assert_array_equal(got[i], want[i])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(xs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors
    finally:
        numbarnn.set_num_threads(old)


@numba.njit(nogil=True)
def _wait_twice(counter, parts):
    c = ptr(counter)
    barrier_wait(c, parts, 1)
    barrier_wait(c, parts, 2)
    return 0


def test_a_failing_part_releases_the_others():
    def job(part, parts, counter):
        if part == 0:
            return _wait_twice, (counter, parts)   # would wait forever without the abort flag
        return (lambda: 1 / 0), ()

    with pytest.raises(ZeroDivisionError):
        workers.run_parts(2, job)
    # the pool still works afterwards
    assert workers.run_parts(2, lambda p, n, c: (_wait_twice, (c, n))) == 2


@pytest.mark.parametrize("spin", [True, False], ids=["spinning", "blocking"])
def test_a_failing_part_releases_the_others_either_way(spin, monkeypatch):
    # the caller waits for the parts spinning, or blocking where it does not
    # spin (WAIT_PAUSES = 0 falls through to the blocking wait at once); a
    # failing worker must release it either way
    if not spin:
        monkeypatch.setattr(workers, "WAIT_PAUSES", 0)
        monkeypatch.setattr(workers, "LINGER_PAUSES", 0)
    for failing in (0, 1):
        def job(part, parts, counter):
            if part == failing:
                return (lambda: 1 / 0), ()
            return _wait_twice, (counter, parts)

        with pytest.raises(ZeroDivisionError):
            workers.run_parts(2, job)
    assert workers.run_parts(2, lambda p, n, c: (_wait_twice, (c, n))) == 2


def test_hand_offs_that_spin_and_block_run_every_part_once(monkeypatch):
    # back-to-back calls (a lingering worker takes the next part without
    # blocking) mixed with calls whose caller blocks and whose workers do
    # not linger: every part of every call runs once, on the call's parts
    seen = []
    for i in range(300):
        monkeypatch.setattr(workers, "WAIT_PAUSES", 0 if i % 3 == 0 else 40000)
        monkeypatch.setattr(workers, "LINGER_PAUSES", 0 if i % 5 == 0 else 20000)
        n = workers.run_parts(2, lambda p, parts, c, i=i: (seen.append, ((i, p, parts),)))
        assert n == 2
    assert sorted(seen) == [(i, p, 2) for i in range(300) for p in range(2)]


def test_the_caller_spins_only_where_every_part_has_a_cpu(monkeypatch):
    # waiting for its workers spinning, a caller held to one CPU would take
    # that CPU from the parts it waits for: it blocks instead
    spins = []
    real = workers.wait_count
    monkeypatch.setattr(workers, "wait_count", lambda *a: spins.append(a[1]) or real(*a))
    monkeypatch.setattr(workers, "_cpus", lambda n: ({0, 1}, 2))
    assert workers.run_parts(2, lambda p, n, c: (int, ())) == 2
    monkeypatch.setattr(workers, "_cpus", lambda n: ({0}, 1))
    assert workers.run_parts(2, lambda p, n, c: (int, ())) == 2
    assert spins == [1]     # the two-CPU call waited for its one worker


def test_weight_gradients_wait_for_every_part_of_the_backward_loop(monkeypatch):
    # the backward loop and the weight gradients run in one hand-off; split
    # by rows, a part stops when no piece is left for it while another part
    # may still be running one, so the weight gradients (here on the
    # calling thread alone: H = 20 is one pair of unit blocks) must wait at
    # the gate for the whole loop. The workers' pieces are made slow: without
    # the gate, the caller's weight gradients read gate gradients not yet
    # written
    from numbarnn.functional import rnn_backward, rnn_forward
    from numbarnn.kernels.cpu import fused_rnn

    real = fused_rnn.rnn_backward_steps
    main = threading.main_thread()

    def slow_on_workers(*args):
        if threading.current_thread() is not main:
            threading.Event().wait(0.05)
        return real(*args)

    T, B, I, H = BATCH_SHAPE
    rng = rng_for("gate")
    x = rng.standard_normal((T, B, I))
    w_ih, w_hh = rng.standard_normal((H, I)) * 0.5, rng.standard_normal((H, H)) * 0.5
    dy = rng.standard_normal((T, B, H))
    old = numbarnn.set_num_threads(1)
    try:
        want = rnn_backward(rnn_forward(x, w_ih, w_hh, training=True).cache, dy)
    finally:
        numbarnn.set_num_threads(old)
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    monkeypatch.setattr(fused_rnn, "rnn_backward_steps", slow_on_workers)
    old = numbarnn.set_num_threads(2)
    try:
        cache = rnn_forward(x, w_ih, w_hh, training=True).cache
        assert engine.plan(B, cache.layout, 8, steps=T) == (2, False)   # split by rows
        assert engine.unit_parts(B, cache.layout, T) == 1
        got = rnn_backward(cache, dy)
    finally:
        numbarnn.set_num_threads(old)
    for name in ("dx", "dw_ih", "dw_hh"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_capped_pool_runs_with_fewer_parts(monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKERS", workers._alive[0])
    monkeypatch.setattr(workers, "_idle", [])
    seen = []
    n = workers.run_parts(3, lambda p, parts, c: (seen.append, ((p, parts),)))
    assert n == 1 and seen == [(0, 1)]


_linux_masks = pytest.mark.skipif(
    workers._getcpu is None or len(os.sched_getaffinity(0)) < 2,
    reason="thread CPU masks: Linux with at least two usable CPUs")


_real_getaffinity = getattr(os, "sched_getaffinity", None)


def _masks_seen(parts):
    # each part's CPU mask, read by the thread that runs it (the tests fake
    # what the caller reads)
    seen = {}
    workers.run_parts(parts, lambda p, n, c: (
        lambda: seen.__setitem__(p, _real_getaffinity(0)), ()))
    return seen


@_linux_masks
def test_workers_run_off_the_callers_cpu(monkeypatch):
    # the caller's CPU is pinned (a fake one, so that the test does not move
    # the thread running it): every worker may use the caller's CPUs but that
    # one, and the caller's own mask stays as it was
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    monkeypatch.setattr(workers, "_getcpu", lambda: cpu)
    parts = min(len(allowed), 3)     # no more parts than CPUs
    seen = _masks_seen(parts)
    assert seen[0] == allowed
    assert all(seen[p] == allowed - {cpu} for p in range(1, parts))
    assert os.sched_getaffinity(0) == allowed


@_linux_masks
def test_worker_masks_follow_the_caller(monkeypatch):
    # a caller that may use fewer CPUs hands its workers its own set (minus
    # its CPU)
    allowed = os.sched_getaffinity(0)
    two = set(sorted(allowed)[:2])
    monkeypatch.setattr(workers, "_getcpu", lambda: min(two))
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(two))
    assert _masks_seen(2)[1] == two - {min(two)}
    # more parts than CPUs: the workers may use all of the caller's CPUs
    seen = _masks_seen(3)
    assert seen[1] == seen[2] == two
    # a caller held to one CPU holds its workers there (the other CPU
    # this time, so that the test sees the mask move)
    monkeypatch.setattr(workers, "_getcpu", lambda: max(two))
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {max(two)})
    assert _masks_seen(2)[1] == {max(two)}


def test_parts_run_where_cpu_masks_cannot_be_set(monkeypatch):
    # a sandbox that refuses sched_setaffinity: the parts still run
    def refuse(*args):
        raise PermissionError("not here")

    monkeypatch.setattr(workers, "_getcpu", lambda: 0)
    monkeypatch.setattr(workers.os, "sched_setaffinity", refuse, raising=False)
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    seen = []
    assert workers.run_parts(2, lambda p, n, c: (seen.append, (p,))) == 2
    assert sorted(seen) == [0, 1]


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_nan_in_is_nan_out_without_the_finiteness_check(variant):
    # the vector exponential clamps its argument: the clamp must keep NaN
    T, B, I, H = 4, 2, 3, 20
    inp = variant.make_inputs(rng_for("nan", variant.id), T, B, I, H)
    inp["x"] = inp["x"].copy()
    inp["x"][1, 0, 0] = np.nan
    y = variant.outputs(variant.forward(inp, check_finite=False))["y"]
    assert np.isnan(y[1:, 0]).all() and np.isfinite(y[0]).all() and np.isfinite(y[:, 1]).all()


def test_layers_take_check_finite():
    layer = numbarnn.GRU(2, 3, seed=0)
    x = np.ones((3, 1, 2))
    x[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.forward(x)
    y, _ = layer.forward(x, check_finite=False)
    assert np.isnan(y).all()
    with pytest.raises(TypeError, match="check_finite"):
        layer.forward(x, check_finite="no")


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_reset_before_gru_runs_on_the_engine(dtype):
    # numbarnn's default GRU form: its training cache is the engine's (two
    # recurrent layouts, kernels/cpu/fused_gru_reset_before.py), and the
    # activations it keeps, unpacked, are the oracle's r, z and n
    from numbarnn.functional import gru_forward
    from numbarnn.functional.checks import EngineCache
    from reference import gru as ref

    T, B, I, H = 4, 3, 5, 20
    rng = rng_for("reset-before-engine")
    x = rng.standard_normal((T, B, I)).astype(dtype)
    w_ih = (0.5 * rng.standard_normal((3 * H, I))).astype(dtype)
    w_hh = (0.5 * rng.standard_normal((3 * H, H))).astype(dtype)
    b_ih, b_hh = rng.standard_normal((2, 3 * H)).astype(dtype)
    cache = gru_forward(x, w_ih, w_hh, b_ih, b_hh, training=True).cache
    assert isinstance(cache, EngineCache) and not cache.reset_after
    steps = ref._run(x, w_ih, w_hh, b_ih, b_hh, None, False)[4]
    want = np.stack([np.concatenate([r, z, n], axis=-1) for r, z, n, _ in steps])
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(cache.gates, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_no_inputs_match_reference(variant, dtype):
    # I = 0: dx is empty and w_ih has no columns; the recurrence alone (with a
    # non-zero initial state) still has gradients, checked against the oracle
    check_against_reference(variant, (4, 3, 0, 20), dtype, tag=("no-inputs",))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_outputs_edited_in_place_do_not_change_the_gradients(variant, dtype):
    # the cache holds its own record of the states (for RNN and GRU, the
    # padded states the pass wrote, not the y handed out): overwriting y
    # after the forward pass must leave the backward pass's results alone
    rng = rng_for("y-in-place", variant.id)
    inp = variant.make_inputs(rng, 6, 3, 5, 21, dtype)
    cot = variant.make_cotangents(rng, 6, 3, 21, dtype)
    res = variant.forward(inp, training=True)
    want = variant.backward(res.cache, cot)
    res = variant.forward(inp, training=True)
    res.y[...] = np.nan
    got = variant.backward(res.cache, cot)
    for w, g in zip(want, got):
        if w is not None:
            np.testing.assert_array_equal(g, w)
    assert np.isfinite(res.cache.y).all() and res.cache.y.shape == (6, 3, 21)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_packing_takes_weights_in_any_layout(dtype):
    # the packing kernels read w through a flat pointer: a transposed or
    # strided view must be packed by its values, not by its memory
    rng = rng_for("pack-layout", np.dtype(dtype).name)
    lay = engine.layout(4, 20, dtype)
    w = rng.standard_normal((80, 20)).astype(dtype)
    for view in (np.asfortranarray(w), np.ascontiguousarray(w.T).T, w.repeat(2, 1)[:, ::2]):
        np.testing.assert_array_equal(engine.pack_rows(view, lay.cols, 20),
                                      engine.pack_rows(w, lay.cols, 20))
        np.testing.assert_array_equal(engine.pack_backward(view, lay), engine.pack_backward(w, lay))


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_weight_grads_following_the_loop_match_on_any_thread_count(variant, dtype, B,
                                                                   monkeypatch):
    # a long pass whose time loop runs on one worker computes its weight
    # gradients in chunks of steps (here 5), on a second worker that follows
    # the loop (two threads) or after the loop (one): the same bits, and the
    # reference's numbers
    T, I, H = 23, 3, 20
    lay = engine.layout(variant.gates, H, dtype)
    monkeypatch.setattr(engine, "FOLLOW_GATE_VALUES", 8)
    monkeypatch.setattr(engine, "FOLLOW_VALUES", 5 * B * lay.C)
    assert engine.follows(T, B, lay)
    rng = rng_for("follow", variant.id, B, np.dtype(dtype).name)
    inp = variant.make_inputs(rng, T, B, I, H, dtype)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    got = {}
    for threads in (1, 2):
        old = numbarnn.set_num_threads(threads)
        try:
            got[threads] = variant.forward_backward(inp, cot)[1]
        finally:
            numbarnn.set_num_threads(old)
    for name, value in got[1].items():
        if value is not None:
            np.testing.assert_array_equal(got[2][name], value, err_msg=name)
    assert_all_close(got[2], variant.ref_backward(inp, cot), dtype)


@pytest.mark.parametrize("variant", [v for v in VARIANT_PARAMS if v.id in ("lstm", "gru")])
def test_weight_grads_wait_for_the_loop(variant, monkeypatch):
    # long enough that the second worker starts while the loop still runs:
    # a chunk taken before the loop finished its steps would read gate
    # gradients not yet written (here stale NaN from the pool). The
    # reset-before GRU follows with two sets of weight gradients, one after
    # the other
    from numbarnn.functional import buffers

    T, B, I, H = 5000, 1, 2, 16
    lay = engine.layout(variant.gates, H, np.float64)
    monkeypatch.setattr(engine, "FOLLOW_VALUES", 20 * lay.C)
    assert engine.follows(T, B, lay)
    rng = rng_for("follow-wait")
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    real = buffers.empty
    monkeypatch.setattr(engine, "empty", lambda shape, dtype: _nan(real(shape, dtype)))
    got = {}
    for threads in (1, 2):
        old = numbarnn.set_num_threads(threads)
        try:
            got[threads] = [variant.forward_backward(inp, cot)[1] for _ in range(3)]
        finally:
            numbarnn.set_num_threads(old)
    for run in got[2]:
        for name, value in got[1][0].items():
            if value is not None:
                np.testing.assert_array_equal(run[name], value, err_msg=name)


MARK = 12345.0
# where weight_grads_part takes its scratch rows (panels, tmps), by name
_SCRATCH = tuple(engine._grads.weight_grads_part.py_func.__code__.co_varnames.index(n)
                 for n in ("panels", "tmps"))


def _backward_with_weight_grads(monkeypatch, threads_before, threads_after_sizing,
                                scratch_parts=None):
    # an LSTM fwd+bwd whose weight gradients can run in parts (B = 16,
    # H = 128 float32: 8 unit blocks, up to 4 parts); the process-wide
    # thread count reads ``threads_before`` until the weight gradients' scratch is sized, then
    # ``threads_after_sizing``, as if another thread called set_num_threads
    # in between. ``scratch_parts`` sizes the scratch for that many parts
    # whatever the count. Fails if anything was written past the scratch;
    # returns the grads, the (asked parts, scratch rows of both arrays) of
    # each weight-gradient kernel run, and the reference.
    variant = next(v for v in VARIANTS if v.id == "lstm")
    threads = [threads_before]
    monkeypatch.setattr(engine, "get_num_threads", lambda: threads[0])
    real_args = engine._grads_args

    beyond = []  # the memory right after each scratch array, filled with a marker

    def sized(*args, **kwargs):
        if scratch_parts is not None:
            k = real_args.__code__.co_varnames.index("parts")
            args = (*args[:k], scratch_parts, *args[k + 1:])
        kargs, finish = real_args(*args, **kwargs)
        kargs = list(kargs)
        for i in _SCRATCH:  # each a view of a larger array
            rows = kargs[i].shape[0]
            room = np.full((rows + 4, kargs[i].shape[1]), MARK, kargs[i].dtype)
            kargs[i] = room[:rows]
            beyond.append(room[rows:])
        threads[0] = threads_after_sizing
        return tuple(kargs), finish

    monkeypatch.setattr(engine, "_grads_args", sized)
    runs = set()
    real_part = engine._grads.weight_grads_part

    def spy(*args):
        # each part's call: its part count (the last argument) and the
        # scratch's rows
        runs.add((args[-1], *(args[i].shape[0] for i in _SCRATCH)))
        return real_part(*args)

    monkeypatch.setattr(engine._grads, "weight_grads_part", spy)
    rng = rng_for("scratch rows", threads_before, threads_after_sizing, scratch_parts)
    # T = 64: enough panels' work that every part takes some
    inp = variant.make_inputs(rng, 64, 16, 5, 128, np.float32)
    cot = variant.make_cotangents(rng, 64, 16, 128, np.float32)
    grads = variant.forward_backward(inp, cot)[1]
    for after in beyond:  # nothing was written past the scratch
        np.testing.assert_array_equal(after, MARK)
    return grads, runs, variant.ref_backward(inp, cot)


def test_weight_grads_scratch_has_a_row_for_every_part(monkeypatch):
    # the part count is read once: more threads set after the scratch was
    # sized used to run more parts than it has rows (they wrote past it:
    # heap corruption when user threads changed set_num_threads)
    grads, runs, want = _backward_with_weight_grads(monkeypatch, 1, 2)
    assert runs and all(parts <= min(rows, tmps) for parts, rows, tmps in runs), runs
    assert_all_close(grads, want, np.float32)


def test_a_weight_grads_part_without_a_scratch_row_takes_no_panels(monkeypatch):
    # the kernel's own guard, behind the single read: 2 parts on a scratch
    # sized for 1 still give the reference's gradients, and the part without
    # a row writes nothing (unguarded, it wrote its panels past the scratch)
    grads, runs, want = _backward_with_weight_grads(monkeypatch, 2, 2, scratch_parts=1)
    assert runs == {(2, 1, 1)}, runs
    assert_all_close(grads, want, np.float32)


@pytest.mark.parametrize("shape", [(5, 24, 5, 64), (3, 8, 5, 380), (40, 1, 3, 20)],
                         ids=["batch-split", "unit-split", "follows"])
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_a_thread_count_that_changes_at_every_read_changes_no_bit(variant, shape, monkeypatch):
    # every read of the thread count inside a pass returns another number
    # (1, 2, 3, 4, 1, …), as if other threads kept calling set_num_threads:
    # whatever a pass sizes from one read and runs with another must still
    # give the one-thread bits (the weight gradients' scratch did not)
    T, B, I, H = shape
    dtype = np.float32
    rng = rng_for("rising", variant.id, *shape)
    inp = variant.make_inputs(rng, T, B, I, H, dtype)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    if shape[1] == 1:   # a long B = 1 pass: the weight gradients follow the loop
        monkeypatch.setattr(engine, "FOLLOW_GATE_VALUES", 8)
        monkeypatch.setattr(engine, "FOLLOW_VALUES", 5 * engine.layout(variant.gates, H,
                                                                       dtype).C)
    old = numbarnn.set_num_threads(1)
    try:
        want = variant.forward_backward(inp, cot)
    finally:
        numbarnn.set_num_threads(old)
    reads = iter(range(10 ** 9))
    monkeypatch.setattr(engine, "get_num_threads", lambda: 1 + next(reads) % 4)
    got = variant.forward_backward(inp, cot)
    # the count was read (and changed) at each threaded phase: forward,
    # backward and weight gradients; the long B = 1 pass reads it once
    assert next(reads) >= (1 if B == 1 else 3)
    for w, g in zip(want, got):
        for name, value in w.items():
            if value is not None:
                np.testing.assert_array_equal(g[name], value, err_msg=name)


def test_small_passes_run_on_one_worker(monkeypatch):
    # steps large enough to share (2^16 multiply-adds each) in a pass too
    # short to pay for the hand-off to a second worker run on the calling
    # thread alone; a longer pass of the same steps is shared
    monkeypatch.setattr(engine, "THREADED_PASS_BYTES", REAL_PASS_BYTES)
    calls = []
    real = workers.run_parts
    monkeypatch.setattr(workers, "run_parts", lambda n, job: calls.append(n) or real(n, job))
    variant = next(v for v in VARIANTS if v.id == "lstm")
    lay = engine.layout(4, 32, np.float32)
    assert 16 * lay.C * lay.H == engine.THREADED_STEP_WORK
    old = numbarnn.set_num_threads(2)
    try:
        for T, shared in ((20, False), (200, True)):
            assert 16 * lay.C * lay.H * T * 4 >= REAL_PASS_BYTES if shared else \
                16 * lay.C * lay.H * T * 4 < REAL_PASS_BYTES
            rng = rng_for("small-pass", T)
            inp = variant.make_inputs(rng, T, 16, 1, 32, np.float32)
            cot = variant.make_cotangents(rng, T, 16, 32, np.float32)
            calls.clear()
            got = variant.forward_backward(inp, cot)
            assert calls and (max(calls) == 2 if shared else max(calls) == 1), (T, calls)
            assert_all_close(got[1], variant.ref_backward(inp, cot), np.float32)
    finally:
        numbarnn.set_num_threads(old)

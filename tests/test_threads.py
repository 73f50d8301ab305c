"""The multi-threaded schedule: a pass split over batch shares (and, for the
input projection and the weight gradients, over rows) gives the oracle's
numbers, and the serial pass's numbers, whatever the share count.

Real shapes only split when the work is large, so these tests lower the
thresholds to force the split on small, fast shapes.
"""
import contextlib
import os

import numpy as np
import pytest

import numbarnn
from numbarnn.functional import checks, schedule

from helpers import DTYPE_PARAMS, VARIANT_PARAMS, check_against_reference, rng_for


@pytest.fixture
def threads(monkeypatch, request):
    monkeypatch.setattr(schedule, "PARALLEL_WORK", 0)
    monkeypatch.setattr(schedule, "SPLIT_STEP_WORK", 1 << 62)
    old = numbarnn.set_num_threads(request.param)
    yield request.param
    numbarnn.set_num_threads(old)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_split_pass_matches_reference(variant, dtype, threads, monkeypatch):
    T, B, I, H = 6, 5, 4, 7   # B not a multiple of the share count: uneven shares
    assert schedule.parts_for(T, B, I, H, variant.gates * H) == threads
    inp, outs = check_against_reference(variant, (T, B, I, H), dtype, tag=("threads", threads))
    # inference runs the steps in chunks: force chunks of two steps
    monkeypatch.setattr(checks, "CHUNK_ELEMENTS", 2 * B * variant.gates * H)
    infer = variant.outputs(variant.forward(inp))
    np.testing.assert_allclose(infer["y"], outs["y"], rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_share_count_does_not_change_results(variant, monkeypatch):
    T, B, I, H = 5, 6, 3, 9
    rng = rng_for("threads-vs-serial", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    serial = variant.forward_backward(inp, cot)
    monkeypatch.setattr(schedule, "PARALLEL_WORK", 0)
    monkeypatch.setattr(schedule, "SPLIT_STEP_WORK", 1 << 62)
    old = numbarnn.set_num_threads(2)
    try:
        split = variant.forward_backward(inp, cot)
    finally:
        numbarnn.set_num_threads(old)
    for a, b in zip(serial, split):
        for name in a:
            if a[name] is not None:
                np.testing.assert_allclose(b[name], a[name], rtol=1e-13, atol=1e-14,
                                           err_msg=name)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="at least 1"):
        numbarnn.set_num_threads(0)


# -- several user threads at once (issue 10, items 7 to 9) -------------------

def _lstm_inputs(B, T=12, I=4, H=16):
    rng = np.random.default_rng(1000 + B)
    x = rng.standard_normal((T, B, I))
    w_ih = rng.standard_normal((4 * H, I)) * 0.3
    w_hh = rng.standard_normal((4 * H, H)) * 0.3
    return x, w_ih, w_hh


@pytest.fixture
def forced_split(monkeypatch):
    """Split every pass, and restore the thread setting and pool afterwards."""
    monkeypatch.setattr(schedule, "PARALLEL_WORK", 0)
    monkeypatch.setattr(schedule, "SPLIT_STEP_WORK", 1 << 62)
    monkeypatch.setitem(schedule._state, "pool", schedule._state["pool"])
    old = numbarnn.set_num_threads(1)
    yield
    numbarnn.set_num_threads(old)


def _hammer(work, chaos, n_workers):
    """Run ``work(k)`` on ``n_workers`` threads while ``chaos()`` (if given)
    loops on another; return the exceptions raised anywhere."""
    import threading

    errors, done = [], threading.Event()

    def worker(k):
        try:
            work(k)
        except BaseException as exc:  # noqa: B902 - collected and reported
            errors.append(exc)

    def chaos_loop():
        try:
            while not done.is_set():
                chaos()
        except BaseException as exc:  # noqa: B902
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(n_workers)]
    stirrer = threading.Thread(target=chaos_loop if chaos else done.wait)
    stirrer.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    stirrer.join()
    return errors


def test_concurrent_passes_while_thread_count_changes(forced_split):
    """Item 7: user threads looping lstm_forward with different batch sizes
    while set_num_threads changes and fresh pools are forced get the serial
    numbers and no "cannot schedule new futures after shutdown"."""
    from numbarnn.functional import lstm_forward

    sizes = list(range(2, 9))
    inputs = {B: _lstm_inputs(B) for B in sizes}
    serial = {B: lstm_forward(*inputs[B]).y for B in sizes}   # one thread
    wrong = []
    counts = iter(range(10 ** 9))

    def work(k):
        for i in range(40):
            B = sizes[(k * 3 + i) % len(sizes)] if k else 2
            y = lstm_forward(*inputs[B]).y
            if not np.allclose(y, serial[B], rtol=1e-13, atol=1e-14):
                wrong.append(B)

    def chaos():
        numbarnn.set_num_threads(2 + next(counts) % 7)
        schedule._state["pool"] = None   # force the next pass to make a pool

    errors = _hammer(work, chaos, n_workers=3)
    assert errors == []
    assert wrong == []


def test_concurrent_training_passes_while_thread_count_changes():
    """User threads running the engine's fwd+bwd while another changes
    set_num_threads get the one-thread bits: the weight gradients (split
    by units over up to 4 parts at B = 16, H = 128) size their per-part
    scratch from the same thread count they run with (read twice, a raised
    count ran more parts than the scratch had rows, and the process died of
    heap corruption)."""
    from helpers import VARIANTS

    variant = next(v for v in VARIANTS if v.id == "lstm")
    rng = rng_for("threads", "training", "chaos")
    inp = variant.make_inputs(rng, 6, 16, 5, 128, np.float32)
    cot = variant.make_cotangents(rng, 6, 16, 128, np.float32)
    old = numbarnn.set_num_threads(1)
    try:
        serial = variant.forward_backward(inp, cot)[1]
        wrong = []
        counts = iter(range(10 ** 9))

        def work(k):
            for _ in range(30):
                grads = variant.forward_backward(inp, cot)[1]
                for name, value in serial.items():
                    if value is not None and not np.array_equal(grads[name], value):
                        wrong.append(name)

        def chaos():
            numbarnn.set_num_threads(1 + next(counts) % 5)

        errors = _hammer(work, chaos, n_workers=3)
    finally:
        numbarnn.set_num_threads(old)
    assert errors == []
    assert wrong == []


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"}


def test_concurrent_passes_restore_blas_threads(forced_split):
    """Item 8: after many concurrent split passes from several threads every
    BLAS library is back at its thread count from before."""
    pytest.importorskip("threadpoolctl")
    import scipy.linalg.cython_blas  # noqa: F401  (so that its BLAS is listed)
    from threadpoolctl import threadpool_limits

    from numbarnn.functional import gru_forward, lstm_forward

    numbarnn.set_num_threads(3)
    inputs = [_lstm_inputs(B) for B in range(2, 7)]

    def work(k):
        for i in range(60):
            x, w_ih, w_hh = inputs[(k + i) % 5]
            if k % 2:
                lstm_forward(x, w_ih, w_hh)
            else:
                gru_forward(x, w_ih[: 3 * 16], w_hh[: 3 * 16])

    # Where BLAS runs one thread anyway, raise it (a limit entered here, on
    # the main thread) so that a count left at one shows.
    before = _blas_threads()
    with contextlib.ExitStack() as stack:
        if all(n == 1 for n in before.values()):
            stack.enter_context(threadpool_limits(limits=2, user_api="blas"))
            before = _blas_threads()
        assert before and all(n >= 2 for n in before.values())
        errors = _hammer(work, None, n_workers=4)
        assert errors == []
        assert _blas_threads() == before


def test_split_pass_leaves_numpys_blas_alone(forced_split):
    """Item 8: while shares run, only the BLAS numba calls (scipy's) is held
    at one thread; numpy's own copy, where it has one, is not touched."""
    pytest.importorskip("threadpoolctl")
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_limits

    scipy_home = os.path.realpath(os.path.dirname(scipy.__file__))
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        others = [p for p in before if not os.path.realpath(p).startswith(scipy_home)]
        if len(others) == len(before):
            pytest.skip("scipy has no BLAS of its own here")
        with schedule.Schedule(2):
            during = _blas_threads()
        assert _blas_threads() == before
    for path, n in during.items():
        assert n == (2 if path in others else 1), path


@pytest.mark.skipif(schedule.workers._getcpu is None or len(os.sched_getaffinity(0)) < 2,
                    reason="thread CPU masks: Linux with at least two usable CPUs")
def test_shares_run_off_the_callers_cpu(monkeypatch):
    # the pool's threads take the CPUs the engine's workers would get: the
    # caller's set without the caller's CPU (faked, so that the test does not
    # move the thread running it); the caller's own mask stays as it was
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    monkeypatch.setattr(schedule.workers, "_getcpu", lambda: cpu)
    seen = {}
    with schedule.Schedule(2) as run:
        run(lambda part, parts: seen.__setitem__(part, os.sched_getaffinity(0)))
    assert seen == {0: allowed, 1: allowed - {cpu}}
    # a caller with two CPUs and three shares: the pool's two may use both
    two = set(sorted(allowed)[:2])
    monkeypatch.setattr(schedule.workers, "_getcpu", lambda: min(two))
    real = os.sched_getaffinity
    monkeypatch.setattr(schedule.workers.os, "sched_getaffinity", lambda pid: set(two))
    with schedule.Schedule(3) as run:
        run(lambda part, parts: seen.__setitem__(part, real(0)))
    assert seen[1] == seen[2] == two


@pytest.mark.parametrize("bad", [2.7, "3", True, np.True_, None, 3.0, np.float64(2)])
def test_set_num_threads_rejects_non_integers(bad):
    """Item 9: only integers; bools are not integers here."""
    with pytest.raises(TypeError, match="n must be an integer"):
        numbarnn.set_num_threads(bad)


@pytest.mark.parametrize("bad", [0, -3, np.int64(0)])
def test_set_num_threads_rejects_below_one(bad):
    with pytest.raises(ValueError, match="at least 1"):
        numbarnn.set_num_threads(bad)


def test_set_num_threads_accepts_numpy_integers_and_caps():
    """Item 9: numpy integers count; a huge value is capped at 4 threads per
    usable core (documented in set_num_threads)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    old = numbarnn.set_num_threads(np.int32(2))
    try:
        assert numbarnn.get_num_threads() == 2
        numbarnn.set_num_threads(100000)
        assert numbarnn.get_num_threads() == 4 * cores
    finally:
        numbarnn.set_num_threads(old)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_runs_split_passes(forced_split, monkeypatch):
    """A child made by fork() (multiprocessing's default start method on
    Linux) has none of its parent's worker threads or thread pool; a child
    that handed them a part waited forever. Both passes below use them in
    the parent first: the engine's LSTM (split by batch rows) and the
    projected LSTM (the thread pool)."""
    from numbarnn.functional import engine, lstm_forward

    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
    numbarnn.set_num_threads(2)
    x, w_ih, w_hh = _lstm_inputs(16, H=32)
    w_hr = np.random.default_rng(7).standard_normal((8, 32)) * 0.3

    def both():
        return (lstm_forward(x, w_ih, w_hh).y,
                lstm_forward(x, w_ih, w_hh[:, :8], w_hr=w_hr).y)

    expected = both()
    assert engine.plan_parts(16, engine.layout(4, 32, x.dtype)) == 2
    assert _in_forked_child(lambda: all(np.array_equal(a, b)
                                        for a, b in zip(both(), expected))) == b"1"


def _in_forked_child(check):
    """b"1" or b"0" as ``check()`` in a child made by fork() says, or b"hung"
    when it does not answer within 60 s (the child is then killed)."""
    import select
    import signal
    import warnings

    r, w = os.pipe()
    with warnings.catch_warnings():   # Python >= 3.12 warns of fork() with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:   # the child: report, and leave without pytest's teardown
        try:
            os.write(w, b"1" if check() else b"0")
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        return os.read(r, 1) if ready else b"hung"
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_can_close_local_clusters():
    """numbarnn.parallel's lock, held by the parent at the fork (as by a
    thread starting a cluster), is a new one in the child."""
    from numbarnn.parallel import _local, close_local_clusters

    with _local._LOCK:
        answer = _in_forked_child(lambda: close_local_clusters() is None)
    assert answer == b"1"

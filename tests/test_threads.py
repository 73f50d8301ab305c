"""Threads: several user threads calling numbarnn at once, the thread-count
setting changing under them, forked children, and nothing process-wide
(BLAS thread counts) touched by a pass. (That a pass split over workers
gives the one-thread bits and the oracle's numbers is in test_engine.py.)

Real shapes only split when the work is large, so these tests lower the
engine's threshold to force the split on small, fast shapes.
"""
import os

import numpy as np
import pytest

import numbarnn
from numbarnn.functional import engine

from helpers import rng_for

# the thread tests split small shapes on purpose (conftest.py)
pytestmark = pytest.mark.usefixtures("split_small_passes")


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
    """Split every pass that has the rows for it, and restore the thread
    setting afterwards."""
    monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
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
    """User threads looping lstm_forward (plain and projected) with different
    batch sizes while set_num_threads changes get the one-thread bits."""
    from numbarnn.functional import lstm_forward

    sizes = list(range(2, 17, 2))
    inputs = {B: _lstm_inputs(B) for B in sizes}
    w_hr = np.random.default_rng(3).standard_normal((6, 16)) * 0.3

    def both(B):
        x, w_ih, w_hh = inputs[B]
        return lstm_forward(x, w_ih, w_hh).y, lstm_forward(x, w_ih, w_hh[:, :6], w_hr=w_hr).y

    serial = {B: both(B) for B in sizes}   # one thread
    wrong = []
    counts = iter(range(10 ** 9))

    def work(k):
        for i in range(40):
            B = sizes[(k * 3 + i) % len(sizes)] if k else 2
            for a, b in zip(both(B), serial[B]):
                if not np.array_equal(a, b):
                    wrong.append(B)

    def chaos():
        numbarnn.set_num_threads(1 + next(counts) % 7)

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


def test_passes_leave_blas_thread_counts_alone(forced_split):
    """While user threads run split passes of every cell (the projected
    LSTM too, which used to hold the BLAS numba calls at one thread while
    its shares ran), every BLAS library keeps its thread count throughout,
    as read from another thread."""
    pytest.importorskip("threadpoolctl")
    import threading

    import scipy.linalg.cython_blas  # noqa: F401  (so that its BLAS is listed)
    from threadpoolctl import threadpool_limits

    from numbarnn.functional import gru_forward, lstm_backward, lstm_forward, rnn_forward

    numbarnn.set_num_threads(2)
    x, w_ih, w_hh = _lstm_inputs(16, T=40, H=64)
    w_hr = np.random.default_rng(4).standard_normal((24, 64)) * 0.2
    assert engine.plan(16, engine.layout(4, 64, x.dtype), 8, steps=40) == (2, False)

    def work(k):
        for i in range(15):
            if k == 0:
                *_, cache = lstm_forward(x, w_ih, w_hh[:, :24], w_hr=w_hr, training=True)
                lstm_backward(cache, np.ones((40, 16, 24)))
            elif k == 1:
                lstm_forward(x, w_ih, w_hh)
            else:
                gru_forward(x, w_ih[:192], w_hh[:192])
                rnn_forward(x, w_ih[:64], w_hh[:64])

    # a count of one would not show a hold: raise it first (a limit entered
    # here, on the main thread)
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and all(n == 2 for n in before.values())
        readings, done = [], threading.Event()

        def watch():
            while not done.is_set():
                readings.append(_blas_threads())

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            errors = _hammer(work, None, n_workers=3)
        finally:
            done.set()
            watcher.join()
        assert errors == []
        assert len(readings) > 3
        assert all(r == before for r in readings)


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
    Linux) has none of its parent's worker threads; a child that handed
    them a part waited forever. Both passes below use them in
    the parent first: the engine's LSTM and the projected LSTM, both split
    by batch rows (the same plan: the projection's sizes do not enter it)."""
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

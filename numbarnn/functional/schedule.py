"""How one pass is spread over threads.

Every kernel phase takes ``(part, parts)`` and does its share; batch rows
are independent sequences, so even the time loop splits with no per-step
synchronisation. The shares run on a small pool of Python threads (the
kernels release the GIL). While they run, the BLAS library numba calls is
held to one thread per call: two shares each calling a two-thread GEMM on
two cores would oversubscribe them.

Any number of user threads may run passes at once. They share one pool,
which is never shut down (a thread still submitting to a pool that another
thread shut down would fail), and one BLAS hold, counted under a lock: the
first pass to split saves the BLAS thread counts, the last one to finish
restores them, so the process is left as it was found.
"""
import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..kernels.cpu.common import project_inputs, weight_grads
from . import workers

# Below this many multiply-adds in a pass, one thread finishes before the
# others would have started (a dispatch costs ~30 µs).
PARALLEL_WORK = 1 << 21
# Above this many multiply-adds per step, splitting the batch stops paying:
# measured on 2 cores, each share then streams all of W_hh through its own
# cache and the per-step GEMMs scale < 1.1x, while a two-thread BLAS splits
# W_hh between the cores (S4, S5: 1.5x). Below it the batch split wins (S2:
# 1.4x on the forward pass), because a two-thread BLAS call on a small
# product is mostly synchronisation.
SPLIT_STEP_WORK = 1 << 21
# set_num_threads caps its argument at this many threads per usable core:
# beyond it, threads only add switching cost (100000 once spawned ~900
# threads for one call).
THREADS_PER_CORE = 4

_lock = threading.Lock()
# "pool": the shared executor; replaced (never shut down) only if it is too
# small. "blas": the BLAS libraries numba calls; "held": how many passes hold
# them at one thread; "saved": their thread counts before the first hold.
_state = {"threads": None, "pool": None, "blas": None, "held": 0, "saved": None}


def _forget_pool():
    # after fork(), in the child: the pool's threads do not exist there (a
    # task submitted to it would wait forever), and the lock may have been
    # held by a parent thread; the child makes its own when it needs them
    global _lock
    _lock = threading.Lock()
    _state["pool"] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_threads():
    """The most threads :func:`set_num_threads` allows: 4 per usable core.

    Examples
    --------
    >>> from numbarnn.functional.schedule import max_threads
    >>> max_threads() >= 4
    True
    """
    return THREADS_PER_CORE * _default_threads()


def get_num_threads():
    """The number of threads a pass may use (default: the usable cores).

    Examples
    --------
    >>> import numbarnn
    >>> numbarnn.get_num_threads() >= 1
    True
    """
    return _state["threads"] or _default_threads()


def set_num_threads(n):
    """Set the number of threads a pass may use; returns the previous value.

    The setting is shared by all threads of the process; passes already
    running keep the share count they started with.

    Parameters
    ----------
    n : int
        An integer (Python or numpy, not a bool) of at least 1. Values above
        4 threads per usable core (``numbarnn.functional.schedule.max_threads()``)
        are reduced to that cap: more threads than that only add switching
        cost. Work is split over the batch, so a batch of B sequences uses
        at most B threads.

    Returns
    -------
    int
        The previous setting.

    Raises
    ------
    TypeError
        If ``n`` is not an integer (floats, strings and booleans included).
    ValueError
        If ``n`` is less than 1.

    Examples
    --------
    >>> import numbarnn
    >>> old = numbarnn.set_num_threads(1)
    >>> numbarnn.get_num_threads()
    1
    >>> from numbarnn.functional.schedule import max_threads
    >>> _ = numbarnn.set_num_threads(10 ** 6)   # capped
    >>> numbarnn.get_num_threads() == max_threads()
    True
    >>> _ = numbarnn.set_num_threads(old)
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer (int or numpy integer), got {type(n).__name__} "
                        f"{n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    n = min(n, max_threads())
    with _lock:
        old = get_num_threads()
        _state["threads"] = n
    return old


def parts_for(T, B, I, H, gate_rows):
    """How many shares a pass over x (T, B, I) with G·H = ``gate_rows`` gets."""
    per_step = B * gate_rows * H
    if B < 2 or T * B * gate_rows * (I + H) < PARALLEL_WORK or per_step > SPLIT_STEP_WORK:
        return 1
    return max(1, min(get_num_threads(), B))


def _pool(workers):
    """A pool with room for ``workers`` threads, shared by all callers.

    A pool that is too small is replaced, not shut down: a caller may still
    be submitting to it. Once nobody holds the old pool it is collected and
    its idle threads exit. The new pool is sized for the cap, so this
    happens at most once unless the cap grows (more usable cores); its
    threads start only as they are needed.
    """
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers < workers:
            size = max(workers, max_threads() - 1)
            pool = _state["pool"] = ThreadPoolExecutor(size, "numbarnn")
        return pool


def _blas_libraries():
    """The threadpoolctl controllers of the BLAS library numba calls.

    numba calls scipy's BLAS (``scipy.linalg.cython_blas``). Where scipy
    ships its own copy (wheels) only that copy is held, so numpy's BLAS is
    never touched; otherwise (one shared BLAS, unknown layout) every BLAS
    threadpoolctl finds is.
    """
    with _lock:
        if _state["blas"] is None:
            # scipy's BLAS must be loaded for threadpoolctl to find it
            import scipy
            import scipy.linalg.cython_blas  # noqa: F401
            from threadpoolctl import ThreadpoolController

            blas = ThreadpoolController().select(user_api="blas").lib_controllers
            home = os.path.realpath(os.path.dirname(scipy.__file__))
            own = [lib for lib in blas if os.path.realpath(lib.filepath).startswith(
                (home + os.sep, home + ".libs" + os.sep))]
            _state["blas"] = own or blas
        return _state["blas"]


def _set_blas_threads(lib, n):
    # threadpoolctl (>= 3.6) lets only the first Python thread that limits a
    # pthreads OpenBLAS change it and silently ignores the others; the hold
    # is counted across threads here, so it must reach the library from
    # any of them, without taking that control away from the user.
    getattr(lib, "_real_set_num_threads", lib.set_num_threads)(n)


def _hold_blas():
    libs = _blas_libraries()
    with _lock:
        if _state["held"] == 0:
            _state["saved"] = [lib.num_threads for lib in libs]
            for lib in libs:
                _set_blas_threads(lib, 1)
        _state["held"] += 1


def _release_blas():
    with _lock:
        _state["held"] -= 1
        if _state["held"] == 0:
            for lib, n in zip(_state["blas"], _state["saved"]):
                _set_blas_threads(lib, n)
            _state["saved"] = None


def _on_cpus(cpus, fn, *args):
    workers.hold_to(cpus)
    return fn(*args)


class Schedule:
    """Run kernel phases in ``parts`` shares; a context manager.

    Examples
    --------
    >>> from numbarnn.functional.schedule import Schedule
    >>> seen = []
    >>> with Schedule(1) as run:
    ...     run(lambda tag, part, parts: seen.append((tag, part, parts)), "a")
    >>> seen
    [('a', 0, 1)]
    """

    def __init__(self, parts):
        self.parts = parts
        self._held = False

    def __enter__(self):
        if self.parts > 1:
            _hold_blas()
            self._held = True
        return self.run

    def __exit__(self, *exc):
        if self._held:
            self._held = False
            _release_blas()
        return False

    def run(self, fn, *args):
        """Call ``fn(*args, part, parts)`` for every share; return when all are done."""
        parts = self.parts
        if parts == 1:
            fn(*args, 0, 1)
            return
        pool = _pool(parts - 1)
        # the shares run off the caller's CPU, as the engine's workers do
        # (workers._place): the projected LSTM float32 forward (T = 100,
        # B = 32, I = 32, H = 128, P = 64) on two threads, interleaved in one
        # process after 0.25 s pauses, 5.8-6.0 -> 4.8-4.9 ms (one thread: 5.0)
        cpus = workers.worker_cpus(parts - 1)
        futures = [pool.submit(_on_cpus, cpus, fn, *args, p, parts) for p in range(1, parts)]
        try:
            fn(*args, 0, parts)  # the calling thread takes a share too
        finally:
            # never return (or raise) while a share still writes the outputs
            for f in futures:
                f.exception()
        for f in futures:
            f.result()


def forward_pass(x, w_ih, w_hh, b_ih, b_hh, with_hh, gates, step, *step_args):
    """Project the inputs and run the time loop ``step``, chunk by chunk.

    ``gates`` (Tc, B, G·H) holds one chunk of Tc steps (all T when
    training); ``step(gates, t0, n, *step_args, part, parts)`` is the cell's
    time loop.
    """
    T, B, I = x.shape
    GH, H = w_hh.shape
    Tc = gates.shape[0]
    with Schedule(parts_for(T, B, I, H, GH)) as run:
        for t0 in range(0, T, Tc):
            n = min(Tc, T - t0)
            run(project_inputs, x, t0, n, w_ih, b_ih, b_hh, with_hh, gates)
            run(step, gates, t0, n, *step_args)


def backward_pass(cache, step, step_args, aux, split, dg_x, dg_h, grads, *more):
    """Run the backward time loop ``step``, then the weight gradients.

    ``more`` holds further phases ``(fn, *args)`` to run after the weight
    gradients, as ``fn(*args, part, parts)`` (the LSTM projection's
    gradient).
    """
    x, w_hh = cache.x, cache.w_hh
    T, B, I = x.shape
    GH, H = w_hh.shape
    with Schedule(parts_for(T, B, I, H, GH)) as run:
        run(step, *step_args)
        run(weight_grads, x, cache.w_ih, cache.h0, cache.y, aux, split, dg_x, dg_h,
            grads["dx"], grads["dw_ih"], grads["dw_hh"], grads["db_ih"], grads["db_hh"])
        for fn, *args in more:
            run(fn, *args)

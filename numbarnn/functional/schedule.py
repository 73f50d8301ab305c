"""How one pass is spread over threads.

Every kernel phase takes ``(part, parts)`` and does its share; batch rows
are independent sequences, so even the time loop splits with no per-step
synchronisation. The shares run on a small pool of Python threads (the
kernels release the GIL). While they run, the BLAS library numba calls is
held to one thread per call: two shares each calling a two-thread GEMM on
two cores would oversubscribe them.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ..kernels.cpu.common import project_inputs, weight_grads

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

_lock = threading.Lock()
_state = {"threads": None, "pool": None, "blas": None}


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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

    Parameters
    ----------
    n : int
        At least 1. Work is split over the batch, so a batch of B sequences
        uses at most B threads.

    Examples
    --------
    >>> import numbarnn
    >>> old = numbarnn.set_num_threads(1)
    >>> numbarnn.get_num_threads()
    1
    >>> _ = numbarnn.set_num_threads(old)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
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
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers < workers:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = _state["pool"] = ThreadPoolExecutor(workers, "numbarnn")
        return pool


def _blas_limiter():
    # Created on first use: scipy's BLAS must already be loaded for
    # threadpoolctl to find it.
    if _state["blas"] is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library numba calls)
        from threadpoolctl import ThreadpoolController

        _state["blas"] = ThreadpoolController().select(user_api="blas")
    return _state["blas"]


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
        self._limit = None

    def __enter__(self):
        if self.parts > 1:
            self._limit = _blas_limiter().limit(limits=1)
            self._limit.__enter__()
        return self.run

    def __exit__(self, *exc):
        if self._limit is not None:
            self._limit.__exit__(*exc)
        return False

    def run(self, fn, *args):
        """Call ``fn(*args, part, parts)`` for every share; return when all are done."""
        parts = self.parts
        if parts == 1:
            fn(*args, 0, 1)
            return
        pool = _pool(parts - 1)
        futures = [pool.submit(fn, *args, p, parts) for p in range(1, parts)]
        fn(*args, 0, parts)  # the calling thread takes a share too
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

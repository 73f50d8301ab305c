"""Persistent worker threads for the engine's time loops.

A pass runs as ``parts`` copies of one ``nogil`` kernel, each over its own
hidden units, that meet at a spin barrier once per step (``kernels/cpu/
simd.barrier_wait``). That only works if every copy is running at the same
time, so a call *owns* its workers for its whole duration: it takes idle
threads from a shared list (starting new ones when none are idle, up to a
cap), hands each one its part, runs part 0 itself, and puts them back. Two
user threads calling at once therefore never share a worker, and no part
ever waits behind another call's part.

A child process made by ``fork()`` forgets its parent's workers (they do
not exist there) and starts its own.

If a part raises (a kernel compiling for new types in a worker can fail),
the call sets the abort flag its barrier watches, so the other parts stop
waiting; the call then raises that error.

Measured on the project machine: handing a part to a waiting worker and
collecting it costs ~15–30 µs per call; the barrier ~0.2 µs per step.
"""
import os
import queue
import threading

import numpy as np

#: Workers alive at most, over all concurrent calls; a call that finds none
#: idle at the cap runs with fewer parts (results do not depend on it).
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))

_lock = threading.Lock()
_idle = []
_alive = [0]


class _Worker:
    def __init__(self):
        self.jobs = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="numbarnn-worker", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            fn, args, done, errors, counter = self.jobs.get()
            try:
                fn(*args)
            except BaseException as exc:  # reported to the caller, never lost
                errors.append(exc)
                counter[1] = 1  # abort: the other parts stop waiting at the barrier
            finally:
                done.release()


def _forget_workers():
    # A child process made by fork() has only the thread that forked: the
    # parent's workers do not exist there, and handing them a part would wait
    # forever (multiprocessing's default start method on Linux does this).
    # The child starts its own workers when it needs them.
    global _lock
    _lock = threading.Lock()
    _idle.clear()
    _alive[0] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _acquire(n):
    with _lock:
        got = _idle[len(_idle) - min(n, len(_idle)):]
        del _idle[len(_idle) - len(got):]
        while len(got) < n and _alive[0] < MAX_WORKERS:
            _alive[0] += 1
            got.append(None)
    # start new workers outside the lock
    return [w if w is not None else _Worker() for w in got]


def _release(workers):
    with _lock:
        _idle.extend(workers)


def new_counter():
    """A fresh barrier counter: element 0 counts arrivals, element 1 is the
    abort flag; padded to a cache line of its own."""
    return np.zeros(8, np.int64)


def run_parts(parts, job):
    """Run ``job(part, parts, counter)`` → ``(fn, args)`` on ``parts`` threads.

    ``job`` is called once per part to build that part's kernel call (so it
    can depend on the number of parts actually granted, which may be lower
    than asked). Returns the number of parts that ran.

    Examples
    --------
    >>> from numbarnn.functional.workers import run_parts
    >>> seen = []
    >>> run_parts(2, lambda part, parts, counter: (seen.append, ((part, parts),)))
    2
    >>> sorted(seen)
    [(0, 2), (1, 2)]
    """
    if parts <= 1:  # the calling thread alone: no hand-off to set up
        fn, args = job(0, 1, new_counter())
        fn(*args)
        return 1
    workers = _acquire(parts - 1)
    parts = 1 + len(workers)
    counter = new_counter()
    calls = [job(p, parts, counter) for p in range(parts)]
    done = threading.Semaphore(0)
    errors = []
    for w, (fn, args) in zip(workers, calls[1:]):
        w.jobs.put((fn, args, done, errors, counter))
    try:
        fn, args = calls[0]
        fn(*args)
    except BaseException as exc:
        errors.append(exc)
        counter[1] = 1
    finally:
        for _ in workers:
            done.acquire()
        _release(workers)
    if errors:
        raise errors[0]
    return parts

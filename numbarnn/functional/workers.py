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

Hand-offs spin rather than block where they can (``kernels/cpu/
handoff.py``): a worker that finishes a part says so from ``nogil`` code
and keeps watching for its next part for ~0.5 ms (:data:`LINGER_PAUSES`)
before it blocks on its queue, and the caller, its own part done, watches
for the workers' parts (:data:`WAIT_PAUSES`) before it blocks on them. On
the project machine a blocked thread's CPU halts and takes 20-40 µs to
wake; two parts of an empty kernel, back to back: 73 µs a call blocking,
27 µs spinning (with 16 µs of work in each part: 57 µs over the work
against 10).

If a part raises (a kernel compiling for new types in a worker can fail),
the call sets the abort flag its barrier watches, so the other parts stop
waiting; the call then raises that error.

Measured on the project machine: handing a part to a waiting worker and
collecting it costs ~15–30 µs per call; the barrier ~0.2 µs per step.

Before a call hands out its parts, each worker is allowed every CPU the
calling thread may use except the one the caller runs on (all of them when
the call has as many workers as those CPUs, or more; Linux; see
:func:`_place`): Linux's scheduler otherwise often woke a worker on the
caller's CPU and left the two sharing it for tens of milliseconds while
the other CPU idled, most of all after the process had been idle. Only the
workers' own CPU masks change, never the caller's or the process's.
"""
import ctypes
import os
import queue
import threading

import numpy as np

from ..kernels.cpu.handoff import linger, wait_count

#: Workers alive at most, over all concurrent calls; a call that finds none
#: idle at the cap runs with fewer parts (results do not depend on it).
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))

#: Pauses a worker spins for its next part before it blocks (~0.5 ms on
#: the project machine: the next hand-off of a training step, from the
#: forward pass to the backward pass or from one layer to the next, and
#: the next call of a loop of calls, come sooner).
LINGER_PAUSES = 20000

#: Pauses the caller spins for its workers' parts before it blocks (~1 ms
#: on the project machine: the parts of a pass end together, or a piece of
#: a time loop apart).
WAIT_PAUSES = 40000

_lock = threading.Lock()
_idle = []
_alive = [0]
_NO_FLAGS = np.zeros(0, np.int64)


class _Worker:
    def __init__(self):
        self.jobs = queue.SimpleQueue()
        self.mask = None  # the CPUs this worker was last allowed (_place)
        # nonzero: a part is on its way (set before the part is queued, so
        # that clearing it after taking the part never hides the next one)
        self.wake = np.zeros(8, np.int64)
        # released once per part, taken once per part by the call that
        # handed it out. A semaphore made per call cost ~2 µs to make (~18 on
        # the cold caches a pass leaves behind); two parts of an empty kernel,
        # back to back, went from 32 µs a call to 13-28 (the passes: within
        # noise)
        self.done = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._loop, name="numbarnn-worker", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            fn, args, errors, counter, flags = self.jobs.get()
            self.wake[0] = 0
            try:
                fn(*args)
            except BaseException as exc:  # reported to the caller, never lost
                errors.append(exc)
                counter[1] = 1  # abort: the other parts stop waiting at the barrier
            finally:
                self.done.release()
            # counts this part done in flags, then watches for the next one
            linger(flags, self.wake, LINGER_PAUSES if flags.shape[0] else 0)


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


def _sched_getcpu():
    # glibc's and musl's sched_getcpu (a vDSO call); None where there is none
    try:
        fn = ctypes.CDLL(None).sched_getcpu
    except (AttributeError, OSError, TypeError):
        return None
    fn.argtypes, fn.restype = [], ctypes.c_int
    return fn


_getcpu = _sched_getcpu() if hasattr(os, "sched_setaffinity") else None


def worker_cpus(n):
    """The CPUs that ``n`` helper threads of the calling thread may use, or
    None to leave their masks alone (not Linux, or no mask to read).

    Every CPU the calling thread may use but the one it is on; all of them
    when there are as many helpers as those CPUs, or more (see
    :func:`_place`).

    Examples
    --------
    >>> from numbarnn.functional.workers import worker_cpus
    >>> cpus = worker_cpus(1)
    >>> cpus is None or len(cpus) >= 1
    True
    """
    return _cpus(n)[0]


def _cpus(n):
    # (worker_cpus(n), how many CPUs the calling thread may use), or
    # (None, None)
    if _getcpu is None:
        return None, None
    try:
        allowed = os.sched_getaffinity(0)
    except OSError:
        return None, None
    return (set(allowed) if n >= len(allowed) else allowed - {_getcpu()}), len(allowed)


def _place(workers):
    """Let ``workers`` run on any CPU the calling thread may use but its own.

    Why: on the project machine (two virtual CPUs, Linux 6.18), waking a
    worker from the calling thread put both on one CPU in a third to half of
    the two-part calls after the process had idled for 0.25 s (the S3 LSTM
    float32 forward, split by batch rows): the pass then took as long as on
    one thread (5.6–6.4 ms), and the load balancer took tens of ms to move
    one of them. With the workers kept off the caller's CPU: 3.6 ms median
    (p90 3.8–3.9 against 6.4–6.5, 120 calls each after such pauses), and no
    call found both on one CPU. The caller's own mask is left as it is, and
    where the masks cannot be set nothing changes. With as many workers as
    the caller has CPUs, or more, the workers may use all of them: kept off
    one CPU they would crowd the others (a pass split by hidden units waits
    at every step for the slowest part); a caller held to one CPU thus
    holds its workers there too.

    Returns the number of CPUs the calling thread may use (None if unknown).
    """
    cpus, allowed = _cpus(len(workers))
    if cpus is None:
        return None
    try:
        for w in workers:
            if w.mask != cpus:  # the same as last time: no system call
                w.mask = None   # unknown until the call succeeds
                os.sched_setaffinity(w.thread.native_id, cpus)
                w.mask = cpus
    except OSError:  # a cpuset or a sandbox that forbids it: leave the masks
        pass
    return allowed


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
    cpus = _place(workers)
    errors = []
    # flags[0] counts the workers' finished parts; the caller spins on it
    # only where every part can have a CPU (the caller's CPUs, or the
    # machine's where the masks are unknown), else it would take a CPU from
    # a part it waits for
    spin = parts <= (cpus or os.cpu_count() or 1)
    flags = np.zeros(8, np.int64) if spin else _NO_FLAGS
    for w, (fn, args) in zip(workers, calls[1:]):
        w.wake[0] = 1
        w.jobs.put((fn, args, errors, counter, flags))
    try:
        fn, args = calls[0]
        fn(*args)
    except BaseException as exc:
        errors.append(exc)
        counter[1] = 1
    finally:
        if spin:
            # a worker releases its semaphore before it counts its part: once
            # the count is complete, taking the releases below does not block
            wait_count(flags, len(workers), WAIT_PAUSES)
        for w in workers:
            w.done.acquire()
        _release(workers)
    if errors:
        raise errors[0]
    return parts

"""Spin-waits for handing parts of a pass to the engine's workers and back.

On the project machine (a KVM guest with two virtual CPUs) a thread that
blocks, in a queue, a semaphore or the GIL, lets its CPU halt, and waking
it again took 20-40 µs: a pass split over two workers paid that two to
four times per hand-off (~60 µs in all, back to back; the S3 Elman RNN's
float32 fwd+bwd spent 487 µs of ~2.6 ms outside its kernels on two
threads, ~300 after this). The workers therefore wait for their next part
spinning (:func:`linger`) for a while after each one, and the caller waits
for the parts spinning (:func:`wait_count`); both are ``nogil`` kernels,
so the other threads have the GIL meanwhile, and both give the CPU away
every ``YIELD_EVERY`` pauses, so a busy machine's scheduler can run
whatever else wants it. (``functional/workers.py`` uses them.)
"""
from ..._jit import inline, kernel
from .simd import atomic_add, atomic_load, ptr, sched_yield, spin_pause, wait_until

#: Pauses (~25 ns each on the project machine) between yields of the CPU.
YIELD_EVERY = 100


@inline
def _spin_for(p, target, budget):
    # spin until p[0] (an int64 pointer) reaches target (True) or budget
    # pauses have passed (False)
    k = 0
    for _ in range(budget):
        if atomic_load(p, 0) >= target:
            return True
        spin_pause()
        k += 1
        if k >= YIELD_EVERY:
            sched_yield()
            k = 0
    return atomic_load(p, 0) >= target


@kernel
def wait_count(flags, n, budget):
    """Spin until ``flags[0]`` (int64) reaches ``n``, or ``budget`` pauses
    have passed; True if it did.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.handoff import wait_count
    >>> wait_count(np.array([2], np.int64), 2, 10), wait_count(np.zeros(1, np.int64), 1, 10)
    (True, False)
    """
    return _spin_for(ptr(flags), n, budget)


@kernel
def linger(flags, wake, budget):
    """Add 1 to ``flags[0]`` (a part is done: the caller may go on, and the
    GIL is already released), then spin until ``wake[0]`` is nonzero (a
    new part is on its way: it is set to 1) or ``budget`` pauses have
    passed; True if woken. An empty ``flags`` adds nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.handoff import linger
    >>> done = np.zeros(1, np.int64)
    >>> linger(done, np.ones(1, np.int64), 10), int(done[0])
    (True, 1)
    """
    if flags.shape[0]:
        atomic_add(ptr(flags), 0, 1)
    return _spin_for(ptr(wake), 1, budget)


@kernel
def gate(counter, n, arriving, waiting):
    """A one-time barrier for parts that do not all take part in it: with
    ``arriving``, count this part's arrival in ``counter[0]`` (int64); with
    ``waiting``, wait until all ``n`` have arrived. False if the abort flag
    ``counter[1]`` was set instead (a part failed).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.handoff import gate
    >>> c = np.zeros(8, np.int64)
    >>> gate(c, 2, True, False), gate(c, 2, True, True), gate(c, 2, False, True), int(c[0])
    (True, True, True, 2)
    """
    p = ptr(counter)
    if arriving:
        atomic_add(p, 0, 1)
    return wait_until(p, 0, n) if waiting else True

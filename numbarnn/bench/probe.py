"""How much a second thread adds to pure arithmetic, on this machine, now.

The bench's two-thread figures depend on the machine as much as on the
code. On the project's 2-vCPU virtual machine, two threads doing the same
arithmetic at once delivered 1.5-1.9x one thread's throughput in most
stretches, and in others ~1.0x (the host then ran both vCPUs at about half
speed: the two halves of the S5 LSTM float32 forward, run at once without
a barrier, took 20.0 and 20.1 ms each, against 22.8 ms for the whole pass
on one thread; minutes earlier 10.5-11.3 ms each). No code scales better
than this, so ``python -m numbarnn bench`` measures it before and after its
table and prints both.

The same product gives the bench its *peak*: :func:`peak_rate`, the
micro-kernel's GFLOP/s on the bench's threads at once, per dtype, against
which the table's ``%peak`` column puts numbarnn's rate on the recurrent
products.

The work is the engine's packed micro-kernel (``kernels/cpu/packed.py``)
on private data, repeated inside one ``nogil`` call per thread: a Python
loop of short calls takes the GIL between them, which measured 1.13-1.45x
where this gives 1.5-1.7x.
"""
import numbers
import threading
import time

import numpy as np

from .._jit import kernel
from ..kernels.cpu.packed import pack, pack_bias, packed_matmul, panel_width

#: The product each thread repeats: one step of the S3 LSTM float32
#: (32 × 128 · 128 × 512, W_hh 256 KB: it stays in each core's cache).
SHAPE = (32, 128, 512)


@kernel
def repeat_product(a, wp, bias, out, n_panels, repeat):
    """``repeat`` products in one call (the GIL is released for all of them).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.bench.probe import operands, repeat_product
    >>> a, wp, bias, out, n_panels = operands(4, 8, 32, np.float32, 0)
    >>> repeat_product(a, wp, bias, out, n_panels, 2)
    >>> w = np.random.default_rng(0)
    >>> _ = w.standard_normal((4, 8))                     # operands drew a first
    >>> bool(np.allclose(out, a @ w.standard_normal((32, 8)).astype(np.float32).T, atol=1e-5))
    True
    """
    for _ in range(repeat):
        packed_matmul(a, wp, bias, out, 0, n_panels)


def operands(M, K, N, dtype, seed):
    """Arguments of :func:`repeat_product` (without ``repeat``) for an
    (M, K) · (K, N) product of random values.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.bench.probe import operands
    >>> a, wp, bias, out, n_panels = operands(4, 8, 40, np.float32, 0)
    >>> wp.shape, out.shape, n_panels                 # 40 columns: two panels of 32
    ((2, 8, 32), (4, 64), 2)
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    W = panel_width(dtype)
    n_panels = -(-N // W)
    cols = np.full(n_panels * W, -1, np.int64)
    cols[:N] = np.arange(N)
    wp = np.empty((n_panels, K, W), dtype)
    pack(w, cols, wp, 0, n_panels)
    bp = np.empty(n_panels * W, dtype)
    pack_bias(np.zeros(N, dtype), cols, bp)
    return a, wp, bp, np.empty((M, n_panels * W), dtype), n_panels


def arithmetic_scaling(repeat=500, rounds=5, shape=SHAPE, report=None):
    """Throughput of two threads over one, on the packed micro-kernel.

    Each round times ``repeat`` products on one thread, then the same on
    each of two threads at once. The result compares the fastest round of
    each kind (a round slowed by another process would otherwise pass for
    scaling): 2.0 is two whole cores; about 1.0, one core's worth.

    Parameters
    ----------
    repeat : int, optional
        Products per thread per round (500: ~20 ms on one core).
    rounds : int, optional
    shape : tuple of int, optional
        (M, K, N) of the float32 product.
    report : callable, optional
        Called as ``report(one, two)`` with the seconds of each round.

    Returns
    -------
    float

    Examples
    --------
    >>> from numbarnn.bench.probe import arithmetic_scaling
    >>> 0.2 < arithmetic_scaling(repeat=20, rounds=2) < 4
    True
    """
    data = [operands(*shape, np.float32, seed) for seed in range(2)]
    _at_once(data[:1], repeat)
    # an untimed round of each: the first two-thread round of a process ran
    # at ~1.0x where the next ones gave 1.4-1.5x
    _at_once(data, repeat)
    ones, twos = [], []
    for _ in range(rounds):
        one = _at_once(data[:1], repeat)
        two = _at_once(data, repeat)
        ones.append(one)
        twos.append(two)
        if report is not None:
            report(one, two)
    return 2 * min(ones) / min(twos)


def _at_once(data, repeat):
    # seconds for len(data) threads, each repeating the product on its own
    # operands; one operand set runs on this thread
    if len(data) == 1:
        t = time.perf_counter()
        repeat_product(*data[0], repeat)
        return time.perf_counter() - t
    threads = [threading.Thread(target=repeat_product, args=(*d, repeat)) for d in data]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def peak_rate(dtype, threads, repeat=500, rounds=5, shape=SHAPE, report=None):
    """GFLOP/s of the packed micro-kernel on ``threads`` threads at once.

    Each thread repeats the (M, K) · (K, N) product of ``shape`` on its own
    operands, in one ``nogil`` call; the rate is the work of all threads
    over the fastest round's wall time (after an untimed round). It is the
    peak the bench compares numbarnn's rate with: the engine's time loops
    run this micro-kernel, so no pass of theirs does its products faster,
    on this machine at this time. (Not the processor's nominal peak, which
    a virtual machine's clock and neighbours make unknowable from inside.)

    Parameters
    ----------
    dtype : {"float32", "float64"} or numpy dtype
    threads : int
        Threads at once, ≥ 1 (the bench passes its ``--threads``).
    repeat : int, optional
        Products per thread per round (500: ~20 ms float32 on one core).
    rounds : int, optional
    shape : tuple of int, optional
        (M, K, N); the default is one step of the S3 LSTM.
    report : callable, optional
        Called as ``report(seconds)`` after each timed round.

    Returns
    -------
    float

    Examples
    --------
    >>> from numbarnn.bench.probe import peak_rate
    >>> peak_rate("float32", 1, repeat=20, rounds=2) > 0.1
    True
    """
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"peak_rate: threads must be an int >= 1, got {threads!r}")
    data = [operands(*shape, np.dtype(dtype), seed) for seed in range(int(threads))]
    _at_once(data, repeat)
    times = []
    for _ in range(rounds):
        times.append(_at_once(data, repeat))
        if report is not None:
            report(times[-1])
    M, K, N = shape
    return 2 * M * K * N * repeat * threads / min(times) / 1e9

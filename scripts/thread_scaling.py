"""How much a second thread adds: to pure arithmetic, and to numbarnn's passes.

1. The packed micro-kernel (``kernels/cpu/packed.py``) on private data:
   one thread alone, then two threads at once, each doing the same work.
   ``scaling`` is the throughput of two threads over one: 2.0 on two real
   cores, less where the CPUs share their arithmetic units (SMT siblings, a
   VM's vCPUs). Each thread repeats the product inside one ``nogil`` call:
   a Python loop of short calls, which takes the GIL between them, measured
   1.13-1.45 on the project's VM where this gives 1.5-1.7.
2. With ``--passes``, numbarnn's forward + backward passes of the bench
   shapes (``python -m numbarnn bench``) on one and on two threads, the two
   settings interleaved call by call, medians of the rounds.

On the project's 2-core VM (32x128 . 128x512 float32): 1.5-1.7, with
(16x512) . (512x2048), whose 4 MB of weights stream from the L3, ~1.2.

Usage::

    python scripts/thread_scaling.py [--repeat 3000] [--passes S3,S4,S5]
"""
import argparse
import statistics
import threading
import time

import numpy as np

from numbarnn._jit import kernel
from numbarnn.kernels.cpu.packed import pack, pack_bias, packed_matmul, panel_width


@kernel(cache=False)
def repeat_product(a, wp, bias, out, n_panels, repeat):
    """``repeat`` products in one call (the GIL is released for all of them)."""
    for _ in range(repeat):
        packed_matmul(a, wp, bias, out, 0, n_panels)


def operands(M, K, N, dtype, seed):
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


def arithmetic(repeat, rounds):
    shape = (32, 128, 512)
    data = [operands(*shape, np.float32, seed) for seed in range(2)]

    def work(i):
        repeat_product(*data[i], repeat)

    work(0)
    work(1)  # compiled and warm
    ones, twos = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        work(0)
        one = time.perf_counter() - t
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        two = time.perf_counter() - t
        ones.append(one)
        twos.append(two)
        print(f"{shape} float32: 1 thread {one:.3f} s, 2 threads (same work each) {two:.3f} s")
    # best against best: a slow round (another process, a clock change) would
    # otherwise pass for scaling
    print(f"scaling (fastest rounds): {2 * min(ones) / min(twos):.2f}")


def passes(shapes, rounds):
    import numbarnn
    from numbarnn.bench import Case, make_callable, make_data

    old = numbarnn.get_num_threads()
    try:
        for shape in shapes:
            for cell in ("rnn", "lstm", "gru"):
                for dtype in ("float32", "float64"):
                    case = Case(cell, dtype, "fwdbwd", shape)
                    fn = make_callable("numbarnn", case, make_data(case))
                    times = {1: [], 2: []}
                    for _ in range(rounds):
                        for n in (1, 2):
                            numbarnn.set_num_threads(n)
                            fn()  # the first call after a change wakes the workers
                            t = time.perf_counter()
                            fn()
                            times[n].append(time.perf_counter() - t)
                    one, two = (statistics.median(times[n]) for n in (1, 2))
                    print(f"{case.group}: 1 thread {one * 1e3:.2f} ms, 2 threads "
                          f"{two * 1e3:.2f} ms, scaling {one / two:.2f}")
    finally:
        numbarnn.set_num_threads(old)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--passes", default="",
                   help="comma list of bench shapes whose fwd+bwd passes to time (e.g. S3,S4,S5)")
    args = p.parse_args()
    arithmetic(args.repeat, args.rounds)
    if args.passes:
        passes([s.strip() for s in args.passes.split(",") if s.strip()], args.rounds)


if __name__ == "__main__":
    main()

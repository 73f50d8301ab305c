"""How much a second thread adds to pure arithmetic on this machine.

Runs numbarnn's packed micro-kernel (``kernels/cpu/packed.py``) on private
data: first one thread alone, then two threads at once, each doing the same
amount of work. ``scaling`` is the throughput of two threads over one: 2.0
on two real cores, less where the CPUs share their arithmetic units (SMT
siblings, a VM's vCPUs). A compute-bound pass cannot scale much better; one
whose split brings the weights into each core's cache can.

On the project's 2-core VM: 1.13-1.74 between runs, most often 1.2-1.45
(32x128 . 128x512 float32).

Usage::

    python scripts/thread_scaling.py [--repeat 3000]
"""
import argparse
import threading
import time

import numpy as np

from numbarnn.kernels.cpu.packed import pack, pack_bias, packed_matmul, panel_width


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    shape = (32, 128, 512)
    data = [operands(*shape, np.float32, seed) for seed in range(2)]

    def work(i):
        a, wp, bp, out, n_panels = data[i]
        for _ in range(args.repeat):
            packed_matmul(a, wp, bp, out, 0, n_panels)

    work(0)
    work(1)  # compiled and warm
    ones, twos = [], []
    for _ in range(args.rounds):
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


if __name__ == "__main__":
    main()

"""How much a second thread adds: to pure arithmetic, and to numbarnn's passes.

1. The packed micro-kernel (``kernels/cpu/packed.py``) on private data:
   one thread alone, then two threads at once, each doing the same work
   (``numbarnn.bench.probe``, which the bench also runs before and after
   its table). ``scaling`` is the throughput of two threads over one: 2.0
   on two real cores, less where the CPUs share their arithmetic units (SMT
   siblings, a VM's vCPUs).
2. With ``--passes``, numbarnn's forward + backward passes of the bench
   shapes (``python -m numbarnn bench``) on one and on two threads, the two
   settings interleaved call by call, medians of the rounds.

On the project's 2-core VM (32x128 . 128x512 float32): 1.5-1.9 in most
stretches, ~1.0 in others (the host runs both vCPUs at half speed); with
(16x512) . (512x2048), whose 4 MB of weights stream from the L3, ~1.2.

Usage::

    python scripts/thread_scaling.py [--repeat 3000] [--passes S3,S4,S5]
"""
import argparse
import statistics
import time

from numbarnn.bench.probe import SHAPE, arithmetic_scaling


def arithmetic(repeat, rounds):
    def report(one, two):
        print(f"{SHAPE} float32: 1 thread {one:.3f} s, 2 threads (same work each) {two:.3f} s")

    print(f"scaling (fastest rounds): {arithmetic_scaling(repeat, rounds, report=report):.2f}")


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

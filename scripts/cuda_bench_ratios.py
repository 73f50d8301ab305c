"""cuDNN / numbarnn time ratios for the GPU benchmarks.

``python scripts/cuda_bench_ratios.py bench_cuda.json`` reads the JSON of
``bench/test_bench_cuda.py`` (pytest-benchmark); ``--time [OUT.json]`` times
the same cases with a plain loop instead (quicker; medians of at least
NUMBARNN_CUDA_BENCH_ROUNDS calls and NUMBARNN_CUDA_BENCH_BUDGET seconds per
case and contender), optionally saving the medians.
One line per case: median times of both contenders and cuDNN/numbarnn
(above 1: numbarnn is faster), the figure issue 5 asks for.
"""
import json
import os
import sys
import time


def table(medians):
    print(f"{'case':32s} {'numbarnn ms':>12s} {'cudnn ms':>10s} {'cudnn/numbarnn':>15s}")
    for group, t in sorted(medians.items()):
        nb, cu = t.get("numbarnn"), t.get("cudnn")
        ratio = f"{cu / nb:15.2f}" if nb and cu else f"{'-':>15s}"
        fmt = lambda v: f"{v * 1e3:.3f}" if v else "-"  # noqa: E731
        print(f"{group:32s} {fmt(nb):>12s} {fmt(cu):>10s} {ratio}", flush=True)


def from_json(path):
    with open(path) as f:
        benches = json.load(f)["benchmarks"]
    medians = {}
    for b in benches:
        medians.setdefault(b["group"], {})[b["extra_info"]["contender"]] = b["stats"]["median"]
    return medians


def timed(rounds=None, budget_s=None):
    rounds = rounds or int(os.environ.get("NUMBARNN_CUDA_BENCH_ROUNDS", 5))
    budget_s = budget_s or float(os.environ.get("NUMBARNN_CUDA_BENCH_BUDGET", 1.0))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:0] = [root, os.path.join(root, "bench")]
    import test_bench_cuda as tb

    medians = {}
    for p in tb.PARAMS:
        cell, dtype, mode, shape = p.values
        group = f"{cell}-{dtype}-{mode}-{shape}"
        for contender, make in (("numbarnn", tb._numbarnn), ("cudnn", tb._cudnn)):
            try:
                run = make(cell, mode, tb._host_data(cell, dtype, shape))
            except BaseException as exc:  # pytest.skip when torch lacks CUDA
                print(f"{group} {contender}: skipped ({exc})", flush=True)
                continue
            run()
            times, start = [], time.perf_counter()
            while len(times) < rounds or time.perf_counter() - start < budget_s:
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
                if len(times) >= 100:
                    break
            medians.setdefault(group, {})[contender] = sorted(times)[len(times) // 2]
        table({group: medians[group]})
    return medians


if __name__ == "__main__":
    if sys.argv[1:2] == ["--time"]:
        medians = timed()
        table(medians)
        if len(sys.argv) > 2:  # --time OUT.json: keep the medians
            with open(sys.argv[2], "w") as f:
                json.dump(medians, f, indent=1, sort_keys=True)
    else:
        table(from_json(sys.argv[1]))

"""cuDNN / numbarnn time ratios for the GPU benchmarks.

``python scripts/cuda_bench_ratios.py bench_cuda.json`` reads the JSON of
``bench/test_bench_cuda.py`` (pytest-benchmark); ``--time [OUT.json]`` times
the same cases with a plain loop instead (``numbarnn.bench.gpu``, what
``python -m numbarnn bench --device cuda`` runs: quicker; medians of at
least NUMBARNN_CUDA_BENCH_ROUNDS calls and NUMBARNN_CUDA_BENCH_BUDGET
seconds per case and contender, shapes from NUMBARNN_CUDA_BENCH_SHAPES),
optionally saving the medians. One line per case: median times of both
contenders and cuDNN/numbarnn (above 1: numbarnn is faster).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numbarnn.bench import gpu  # noqa: E402


def from_json(path):
    with open(path) as f:
        benches = json.load(f)["benchmarks"]
    medians = {}
    for b in benches:
        medians.setdefault(b["group"], {})[b["extra_info"]["contender"]] = b["stats"]["median"]
    return medians


def table(medians):
    print(gpu.table_header())
    for group, t in sorted(medians.items()):
        print(gpu.table_line(group, t), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--time"]:
        spec = os.environ.get("NUMBARNN_CUDA_BENCH_SHAPES")
        medians = gpu.time_cases(
            list(gpu.GATES), ["float32", "float64"], list(gpu.GPU_MODES),
            spec.split(",") if spec else gpu.DEFAULT_SHAPES,
            int(os.environ.get("NUMBARNN_CUDA_BENCH_ROUNDS", 5)),
            float(os.environ.get("NUMBARNN_CUDA_BENCH_BUDGET", 1.0)),
            out=lambda line: print(line, flush=True))
        table(medians)
        if len(sys.argv) > 2:
            with open(sys.argv[2], "w") as f:
                json.dump(medians, f, indent=1, sort_keys=True)
    else:
        table(from_json(sys.argv[1]))

#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (issue 5): the CUDA tests on
# the real device, then the GPU benchmarks against PyTorch + cuDNN.
# Everything lands under $OUT (default ./device-out): env.txt, tests.txt,
# tests.xml, bench.txt, bench_cuda.json and ratios.txt (cuDNN/numbarnn).
#
#   bash scripts/device_check.sh                       # all shapes, S1-S7
#   NUMBARNN_CUDA_BENCH_SHAPES=S1,S2,S6 bash scripts/device_check.sh
#   TEST_TIMEOUT=240 BENCH_TIMEOUT=300 bash scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
export PYTHONDONTWRITEBYTECODE=1
unset NUMBA_ENABLE_CUDASIM
# -W: harmless once setup.cfg registers the `cuda` marker
PYTEST=(python -m pytest -p no:cacheprovider -W "ignore::pytest.PytestUnknownMarkWarning")

{
  python - <<'PY'
import sys, numpy, numba
from numba import cuda
print(sys.version)
print("numpy", numpy.__version__, "numba", numba.__version__,
      "cuda target", getattr(cuda, "implementation", "?"))
print("gpu available:", cuda.is_available())
cuda.detect()
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
          "cudnn", torch.backends.cudnn.version())
except ImportError:
    print("torch: not installed")
PY
  nvidia-smi || true
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== CUDA tests on the device =="
timeout "${TEST_TIMEOUT:-300}" "${PYTEST[@]}" -q -m cuda --junitxml="$OUT/tests.xml" \
  tests/test_cuda_kernels.py tests/test_cuda_dispatch.py tests/test_cuda_compat.py \
  2>&1 | tee "$OUT/tests.txt"
tests_rc=${PIPESTATUS[0]}

echo "== GPU benchmarks =="
if python -c "import pytest_benchmark" 2>/dev/null; then
  timeout "${BENCH_TIMEOUT:-420}" "${PYTEST[@]}" -q bench/test_bench_cuda.py \
    --bench-pause=0.02 --benchmark-warmup=off --benchmark-min-rounds=3 \
    --benchmark-max-time=0.3 --benchmark-json="$OUT/bench_cuda.json" \
    --benchmark-columns=median,min,rounds --benchmark-group-by=group \
    2>&1 | tee "$OUT/bench.txt"
  [ -s "$OUT/bench_cuda.json" ] && python scripts/cuda_bench_ratios.py "$OUT/bench_cuda.json" \
    | tee "$OUT/ratios.txt"
else
  echo "pytest-benchmark missing: timing with a plain loop" | tee "$OUT/bench.txt"
  timeout "${BENCH_TIMEOUT:-420}" python scripts/cuda_bench_ratios.py --time | tee "$OUT/ratios.txt"
fi
exit "$tests_rc"

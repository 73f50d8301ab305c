#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (issue 5): the CUDA tests on
# the real device, a probe of the device facts the kernels rely on, then
# numbarnn's GPU kernels timed against PyTorch + cuDNN in the same process.
# Everything lands under $OUT (default ./device-out): env.txt, tests.txt,
# probe.txt, ratios.txt (cuDNN/numbarnn per case) and ratios.json (medians).
#
#   bash scripts/device_check.sh                       # all shapes, S1-S7
#   NUMBARNN_CUDA_BENCH_SHAPES=S1,S2,S6 bash scripts/device_check.sh
#   TEST_TIMEOUT=240 BENCH_TIMEOUT=300 bash scripts/device_check.sh
#   BENCH=pytest bash scripts/device_check.sh   # pytest-benchmark instead
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
unset NUMBA_ENABLE_CUDASIM
PYTEST=(python3 -m pytest -p no:cacheprovider -W "ignore::pytest.PytestUnknownMarkWarning")

{
  python3 - <<'PY'
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
head -5 "$OUT/env.txt"

echo "== CUDA tests on the device =="
# xdist when present (compilation dominates); pytest-benchmark off, it
# warns under xdist and the suite turns warnings into errors
XDIST=()
python3 -c "import xdist" 2>/dev/null && XDIST=(-n "${TEST_WORKERS:-8}")
timeout "${TEST_TIMEOUT:-300}" "${PYTEST[@]}" -q -p no:benchmark "${XDIST[@]}" -m cuda -rfE \
  tests/test_cuda_*.py 2>&1 | tail -60 | tee "$OUT/tests.txt"
tests_rc=${PIPESTATUS[0]}

echo "== GPU timings against cuDNN =="
if [ "${BENCH:-loop}" = pytest ]; then
  timeout "${BENCH_TIMEOUT:-420}" "${PYTEST[@]}" -q bench/test_bench_cuda.py \
    --bench-pause=0.02 --benchmark-warmup=off --benchmark-min-rounds=3 \
    --benchmark-max-time=0.3 --benchmark-json="$OUT/bench_cuda.json" \
    --benchmark-columns=median,min,rounds --benchmark-group-by=group \
    2>&1 | tail -5
  [ -s "$OUT/bench_cuda.json" ] && python3 scripts/cuda_bench_ratios.py "$OUT/bench_cuda.json" \
    | tee "$OUT/ratios.txt"
else
  timeout "${BENCH_TIMEOUT:-420}" python3 scripts/cuda_bench_ratios.py --time "$OUT/ratios.json" \
    2>&1 | grep -v "^case" | tee "$OUT/ratios.txt"
fi
echo "== device probe =="
timeout "${PROBE_TIMEOUT:-120}" python3 scripts/cuda_probe.py 2>&1 | tee "$OUT/probe.txt"

exit "$tests_rc"

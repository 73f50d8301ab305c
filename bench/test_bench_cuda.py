"""GPU timings: numbarnn's CUDA kernels against PyTorch + cuDNN.

The cases of ``python -m numbarnn bench --device cuda``
(``numbarnn/bench/gpu.py``) under pytest-benchmark: every cell x dtype x
mode x shape x contender, each benchmark's group the case
(``"lstm-float32-fwdbwd-S7"``), so ``--benchmark-group-by=group`` puts the
two contenders side by side and ``scripts/cuda_bench_ratios.py`` turns the
JSON into cuDNN/numbarnn ratios. ``NUMBARNN_CUDA_BENCH_SHAPES=S1,S7``
selects shapes. Skipped without a real GPU (the simulator would take hours).
"""
import os

import pytest

cuda = pytest.importorskip("numba.cuda")
if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or not cuda.is_available():
    pytest.skip("GPU benchmarks need a real CUDA GPU", allow_module_level=True)

from numbarnn.bench import gpu  # noqa: E402

_spec = os.environ.get("NUMBARNN_CUDA_BENCH_SHAPES")
SELECTED = _spec.split(",") if _spec else gpu.DEFAULT_SHAPES
PARAMS = [pytest.param(cell, dtype, mode, shape, id=f"{cell}-{dtype}-{mode}-{shape}")
          for shape in SELECTED for cell in gpu.GATES for dtype in ("float32", "float64")
          for mode in gpu.GPU_MODES]


@pytest.mark.cuda
@pytest.mark.parametrize("contender", list(gpu.RUNNERS))
@pytest.mark.parametrize("cell,dtype,mode,shape", PARAMS)
def test_gpu(benchmark, cell, dtype, mode, shape, contender):
    try:
        run = gpu.RUNNERS[contender](cell, mode, gpu.host_data(cell, dtype, shape))
    except (ImportError, RuntimeError) as exc:
        pytest.skip(str(exc))
    run()  # compile, cuDNN plan selection, first-touch allocations: untimed
    benchmark.group = f"{cell}-{dtype}-{mode}-{shape}"
    benchmark.extra_info.update(contender=contender, cell=cell, dtype=dtype, mode=mode,
                                shape=shape, dims=list(gpu.GPU_SHAPES[shape]))
    benchmark(run)

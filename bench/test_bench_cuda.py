"""GPU timings: numbarnn's CUDA kernels against PyTorch + cuDNN.

Every cell x dtype x mode x shape x contender, each benchmark's group the
case (``"lstm-float32-fwdbwd-S7"``), so ``--benchmark-group-by=group`` puts
the two contenders side by side and ``scripts/cuda_bench_ratios.py`` turns
the JSON into cuDNN/numbarnn ratios. Shapes are the CPU suite's S1-S6 plus
S7 (100, 256, 512, 1024) of issue 5; ``NUMBARNN_CUDA_BENCH_SHAPES=S1,S7``
selects some. Each timed call ends with a device synchronisation. Skipped
without a real GPU (the simulator would take hours).
"""
import os

import numpy as np
import pytest

from numbarnn.bench.cases import SHAPES, Shape

cuda = pytest.importorskip("numba.cuda")
if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or not cuda.is_available():
    pytest.skip("GPU benchmarks need a real CUDA GPU", allow_module_level=True)

from numbarnn import functional as F  # noqa: E402

GPU_SHAPES = dict(SHAPES, S7=Shape(100, 256, 512, 1024))
_spec = os.environ.get("NUMBARNN_CUDA_BENCH_SHAPES")
SELECTED = _spec.split(",") if _spec else list(GPU_SHAPES)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CONTENDERS = ("numbarnn", "cudnn")
PARAMS = [pytest.param(cell, dtype, mode, shape, id=f"{cell}-{dtype}-{mode}-{shape}")
          for shape in SELECTED for cell in GATES for dtype in ("float32", "float64")
          for mode in ("fwd", "fwdbwd")]


def _host_data(cell, dtype, shape):
    T, B, I, H = GPU_SHAPES[shape]
    G = GATES[cell]
    rng = np.random.default_rng(0)
    k = 1.0 / np.sqrt(H)
    arrays = dict(x=rng.standard_normal((T, B, I)), w_ih=rng.uniform(-k, k, (G * H, I)),
                  w_hh=rng.uniform(-k, k, (G * H, H)), b_ih=rng.uniform(-k, k, G * H),
                  b_hh=rng.uniform(-k, k, G * H), dy=rng.standard_normal((T, B, H)))
    return {n: a.astype(dtype) for n, a in arrays.items()}


def _numbarnn(cell, mode, data):
    d = {n: cuda.to_device(a) for n, a in data.items()}
    fwd = getattr(F, cell + "_forward")
    bwd = getattr(F, cell + "_backward")
    opts = {"gru": {"reset_after": True}}.get(cell, {})  # cuDNN's GRU form
    args = (d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    # check_finite=False: the check costs a device round trip per call,
    # which cuDNN does not make either
    if mode == "fwd":
        def run():
            fwd(*args, **opts, check_finite=False)
            cuda.synchronize()
    else:
        def run():
            res = fwd(*args, **opts, training=True, check_finite=False)
            bwd(res.cache, d["dy"])
            cuda.synchronize()
    return run


def _cudnn(cell, mode, data):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    T, B, I = data["x"].shape
    H = data["w_hh"].shape[1]
    dtype = getattr(torch, str(data["x"].dtype))
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    mod = cls(I, H).to(device="cuda", dtype=dtype)
    x = torch.as_tensor(data["x"], device="cuda").requires_grad_(mode == "fwdbwd")
    dy = torch.as_tensor(data["dy"], device="cuda")
    if mode == "fwd":
        def run():
            with torch.no_grad():
                mod(x)
            torch.cuda.synchronize()
    else:
        def run():
            y = mod(x)[0]
            y.backward(dy)
            torch.cuda.synchronize()
    return run


@pytest.mark.cuda
@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("cell,dtype,mode,shape", PARAMS)
def test_gpu(benchmark, cell, dtype, mode, shape, contender):
    data = _host_data(cell, dtype, shape)
    run = (_numbarnn if contender == "numbarnn" else _cudnn)(cell, mode, data)
    run()  # compile, cuDNN plan selection, first-touch allocations: untimed
    benchmark.group = f"{cell}-{dtype}-{mode}-{shape}"
    benchmark.extra_info.update(contender=contender, cell=cell, dtype=dtype, mode=mode,
                                shape=shape, dims=list(GPU_SHAPES[shape]))
    benchmark(run)

"""pytest-benchmark: a 2-layer bidirectional LSTM, GRU and projected LSTM
(``proj_size`` = H/2), forward + backward.

The layer figure of issue 3: ``numbarnn.LSTM``/``numbarnn.GRU`` (layers
over the functional API: stacking, reversal, concatenation) against
``torch.nn.LSTM``/``torch.nn.GRU`` with the same weights (converted with
``numbarnn.interop.to_torch``, so the GRU is the ``reset_after=True`` form
both compute) and the same thread count. Each call computes the input
gradient and every parameter gradient of a fixed random ``dy``. Benchmarks
are grouped by case (``"lstm2bi-float32-fwdbwd-S3"``), so
``--benchmark-group-by=group`` gives the ratio; ``test_layers_agree``
checks first that both compute the same thing.

Shapes: S2 and S3 when timing; S2s under ``--benchmark-disable`` (smoke);
``--bench-shapes`` selects among S2, S3 and S2s.

    python -m pytest bench/test_bench_layers.py --benchmark-group-by=group
"""

import numpy as np
import pytest

import numbarnn
from numbarnn.bench import (SHAPES, SMOKE_SHAPES, numbarnn_threads, set_threads, torch_or_none,
                            warm_up)
from numbarnn.interop import to_torch

CELLS = ["lstm", "gru", "lstmproj"]
DTYPES = ["float32", "float64"]
CONTENDERS = ["numbarnn", "torch"]
LAYER_SHAPES = ("S2", "S3", "S2s")
_TOL = {"float32": 1e-4, "float64": 1e-10}
# torch's float32 CPU LSTM says it falls back from oneDNN for projections
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def pytest_generate_tests(metafunc):
    # the conftest's shape option, restricted to the shapes of this figure
    if "shape" not in metafunc.fixturenames:
        return
    spec = metafunc.config.getoption("--bench-shapes")
    if spec is None:
        smoke = metafunc.config.getoption("benchmark_disable", default=False)
        names = ["S2s"] if smoke else ["S2", "S3"]
    else:
        names = [s.strip() for s in spec.split(",")] if spec not in ("all", "smoke") else (
            ["S2s"] if spec == "smoke" else ["S2", "S3"])
        names = [n for n in names if n in LAYER_SHAPES]
    metafunc.parametrize("shape", names)


@pytest.fixture(scope="module", autouse=True)
def _same_threads():
    set_threads(numbarnn_threads())


def _dims(shape):
    return SHAPES.get(shape) or SMOKE_SHAPES[shape]


def _numbarnn(cell, dtype, shape):
    T, B, I, H = _dims(shape)
    kw = dict(num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    layer = {"lstm": lambda: numbarnn.LSTM(I, H, **kw),
             "lstmproj": lambda: numbarnn.LSTM(I, H, proj_size=H // 2, **kw),
             "gru": lambda: numbarnn.GRU(I, H, reset_after=True, **kw)}[cell]()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, 2 * (layer.proj_size or H))).astype(dtype)

    def call():
        layer.zero_grad()
        y, _ = layer.forward(x)
        dx = layer.backward(dy)
        return dx, layer.grads

    return call, layer, x, dy


def _torch(cell, dtype, shape):
    torch = torch_or_none()
    if torch is None:
        pytest.skip("torch is not installed")
    _, layer, x, dy = _numbarnn(cell, dtype, shape)
    module = to_torch(layer)
    tx = torch.from_numpy(x).requires_grad_(True)
    tdy = torch.from_numpy(dy)

    def call():
        module.zero_grad()
        tx.grad = None
        module(tx)[0].backward(tdy)
        return tx.grad, {n: p.grad for n, p in module.named_parameters()}

    return call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_layers_agree(cell, dtype):
    if torch_or_none() is None:
        pytest.skip("torch is not installed")
    dx, grads = _numbarnn(cell, dtype, "S2s")[0]()
    tdx, tgrads = _torch(cell, dtype, "S2s")()
    scale = np.abs(dx).max()
    assert np.abs(dx - tdx.numpy()).max() <= _TOL[dtype] * scale
    H = _dims("S2s").H
    for name, g in grads.items():
        t = tgrads[name].numpy().copy()
        if cell == "gru":
            t[H:2 * H] *= -1  # torch's z is numbarnn's 1 - z
        assert np.abs(g - t).max() <= _TOL[dtype] * max(np.abs(g).max(), 1.0), name


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_layer_fwdbwd(benchmark, cell, dtype, shape, contender):
    fn = _numbarnn(cell, dtype, shape)[0] if contender == "numbarnn" else \
        _torch(cell, dtype, shape)
    warm_up(fn)  # JIT compile and first-touch allocations, untimed
    benchmark.group = f"{cell}2bi-{dtype}-fwdbwd-{shape}"
    benchmark.extra_info.update(contender=contender, cell=cell, dtype=dtype, shape=shape,
                                dims=list(_dims(shape)), num_layers=2, bidirectional=True)
    benchmark(fn)

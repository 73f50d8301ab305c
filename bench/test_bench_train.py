"""pytest-benchmark: one full training step of a small LSTM forecaster.

The step of issue 3: a 1-layer LSTM (H=32) with a linear readout on a
univariate series of 1,000 steps (B=1): forward, MSE loss, backward, Adam
update. numbarnn (``numbarnn.LSTM`` + ``numbarnn.train``) against torch.nn +
torch.optim with the same weights and the same thread count. Benchmarks are
grouped by dtype, so ``--benchmark-group-by=group`` gives the ratio;
``test_train_step_agrees`` checks first that both take the same step.

    python -m pytest bench/test_bench_train.py --benchmark-group-by=group
"""

import numpy as np
import pytest

import numbarnn
from numbarnn.bench import numbarnn_threads, set_threads, torch_or_none, warm_up
from numbarnn.train import Adam, Linear, mse

T, B, I, H, O = 1000, 1, 1, 32, 1
DTYPES = ["float32", "float64"]
CONTENDERS = ["numbarnn", "torch"]
# Observed 1e-15 (float64); float32 differs by the order of summation.
_TOL = {"float32": 1e-4, "float64": 1e-10}


@pytest.fixture(scope="module", autouse=True)
def _same_threads():
    set_threads(numbarnn_threads())


def _data(dtype):
    rng = np.random.default_rng(0)
    s = np.sin(np.arange(T + 1) / 8.0) + 0.1 * rng.standard_normal(T + 1)
    return s[:-1].reshape(T, B, I).astype(dtype), s[1:].reshape(T, B, O).astype(dtype)


def _numbarnn_step(dtype):
    x, y = _data(dtype)
    lstm = numbarnn.LSTM(I, H, dtype=dtype, seed=0)
    readout = Linear(H, O, dtype=dtype, seed=1)
    opt = Adam([lstm, readout], lr=1e-3)

    def step():
        opt.zero_grad()
        hidden, _ = lstm.forward(x)
        loss, dpred = mse(readout.forward(hidden), y)
        lstm.backward(readout.backward(dpred))
        opt.step()
        return loss

    return step, [lstm, readout]


def _torch_step(dtype):
    torch = torch_or_none()
    if torch is None:
        pytest.skip("torch is not installed")
    x, y = (torch.from_numpy(a) for a in _data(dtype))
    _, (lstm_np, readout_np) = _numbarnn_step(dtype)
    tdtype = getattr(torch, dtype)
    lstm = torch.nn.LSTM(I, H, dtype=tdtype)
    readout = torch.nn.Linear(H, O, dtype=tdtype)
    with torch.no_grad():
        # The same start as numbarnn; copy_ keeps torch's flat weight buffer.
        for name, p in lstm.named_parameters():
            p.copy_(torch.from_numpy(lstm_np.params[name]))
        for name, p in readout.named_parameters():
            p.copy_(torch.from_numpy(readout_np.params[name]))
    opt = torch.optim.Adam([*lstm.parameters(), *readout.parameters()], lr=1e-3)

    def step():
        opt.zero_grad()
        hidden, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(readout(hidden), y)
        loss.backward()
        opt.step()
        return loss.item()

    params = lambda: [p.detach().numpy() for m in (lstm, readout) for p in m.parameters()]  # noqa: E731
    return step, params


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step_agrees(dtype):
    ours, modules = _numbarnn_step(dtype)
    theirs, their_params = _torch_step(dtype)
    for _ in range(3):
        a, b = ours(), theirs()
        assert a == pytest.approx(b, rel=_TOL[dtype])
    mine = [p for m in modules for p in m.params.values()]
    for p, q in zip(mine, their_params()):
        np.testing.assert_allclose(p, q, rtol=_TOL[dtype], atol=_TOL[dtype])


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_step(benchmark, dtype, contender):
    step = (_numbarnn_step if contender == "numbarnn" else _torch_step)(dtype)[0]
    warm_up(step)  # JIT compile and first-touch allocations, untimed
    benchmark.group = f"train-step-lstm-H{H}-T{T}-{dtype}"
    benchmark.extra_info.update(contender=contender, dtype=dtype, dims=[T, B, I, H, O],
                                threads=numbarnn_threads())
    benchmark(step)

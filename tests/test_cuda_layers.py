"""Layers and cells on the GPU (``.to("cuda")``) against the same module on the CPU.

The oracle is the CPU layer: a twin built from the same configuration and
seed (same parameters, same dropout generator) runs the same forward and
backward passes on numpy arrays; outputs, final states, input and state
gradients and every parameter gradient must agree to 1e-12 relative in
float64. Without a GPU the device tests run in numba's simulator
(``NUMBA_ENABLE_CUDASIM=1``), which executes every GPU thread in Python:
shapes are tiny. They are skipped when there is neither; the tests of the
errors raised without a GPU run everywhere.
"""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import numbarnn
from helpers import rel_error

cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.cuda
# the guard of test_cuda_kernels.py, per test: the no-GPU tests below run anywhere
gpu = pytest.mark.skipif(not cuda.is_available(),
                         reason="needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")

from numbarnn.functional.checks import is_device_array  # noqa: E402

CPU_AGREEMENT = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
KINDS = {
    "rnn": lambda I, H, **kw: numbarnn.RNN(I, H, nonlinearity="tanh", **kw),
    "lstm": lambda I, H, **kw: numbarnn.LSTM(I, H, **kw),
    "gru": lambda I, H, **kw: numbarnn.GRU(I, H, **kw),
    "gru_after": lambda I, H, **kw: numbarnn.GRU(I, H, reset_after=True, **kw),
}


def pair(kind, I, H, **kw):
    """The same layer twice (same seed: same parameters and dropout masks):
    one on the CPU, one moved to the GPU."""
    make = KINDS[kind]
    return make(I, H, seed=7, **kw), make(I, H, seed=7, **kw).to("cuda")


def dev(a):
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(dev(v) for v in a)
    return cuda.to_device(a)


def host(a, name="result"):
    if isinstance(a, tuple):
        return tuple(host(v, name) for v in a)
    assert is_device_array(a), f"{name}: {type(a).__name__} is not a device array"
    return a.copy_to_host()


def as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


def assert_agree(got, want, dtype, name):
    for g, w in zip(as_tuple(got), as_tuple(want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (name, g.dtype, g.shape, w.shape)
        err = rel_error(g, w)
        assert err <= CPU_AGREEMENT[np.dtype(dtype)], (name, err)


def random_state(layer, rng, B, dtype):
    n = layer.num_layers * layer.num_directions
    h = rng.standard_normal((n, B, layer.hidden_size)).astype(dtype)
    if layer.kind == "lstm":
        return h, rng.standard_normal((n, B, layer.hidden_size)).astype(dtype)
    return h


def run_both(kind, T=3, B=2, I=3, H=2, dtype=np.float64, with_state=True, twice=False, **kw):
    """Forward and backward on both devices; compare everything."""
    cpu, gpu = pair(kind, I, H, dtype=dtype, **kw)
    rng = np.random.default_rng(len(kind) * 31 + T)
    batch_first = kw.get("batch_first", False)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    state = random_state(cpu, rng, B, dtype) if with_state else None
    for _ in range(2 if twice else 1):  # twice: gradients accumulate
        y, s = cpu.forward(x, state)
        dy = rng.standard_normal(y.shape).astype(dtype)
        ds = random_state(cpu, rng, B, dtype) if with_state else None
        dx, ds0 = cpu.backward(dy, ds, return_dstate=True)
        yd, sd = gpu.forward(dev(x), dev(state))
        dxd, ds0d = gpu.backward(dev(dy), dev(ds), return_dstate=True)
        assert_agree(host(yd, "y"), y, dtype, "y")
        assert_agree(host(sd, "state"), s, dtype, "state")
        assert_agree(host(dxd, "dx"), dx, dtype, "dx")
        assert_agree(host(ds0d, "dstate0"), ds0, dtype, "dstate0")
    for name, g in cpu.grads.items():
        assert is_device_array(gpu.grads[name]), name
        assert_agree(host(gpu.grads[name], name), g, dtype, name)
    return cpu, gpu


# -- agreement with the CPU -----------------------------------------------------

@gpu
@pytest.mark.parametrize("kind", list(KINDS))
def test_one_layer_matches_cpu(kind):
    run_both(kind)


@gpu
@pytest.mark.parametrize("kind", list(KINDS))
def test_stacked_bidirectional_batch_first_dropout_matches_cpu(kind):
    """Two layers, both directions, batch-first, dropout between the layers in
    training mode: the masks come from the same seeded generator."""
    cpu, gpu = run_both(kind, T=2, B=2, I=2, H=2, num_layers=2, bidirectional=True,
                        batch_first=True, dropout=0.5)
    # the generators advanced alike: the next masks are the same too
    assert cpu.dropout_rng.random() == gpu.dropout_rng.random()


@gpu
@pytest.mark.skipif(bool(numba.config.ENABLE_CUDASIM), reason="too slow for the simulator")
@pytest.mark.parametrize("kind", ["lstm", "gru_after"])
def test_larger_shapes_match_cpu(kind):
    """On a real GPU: more units than a block has threads, several blocks per
    helper launch, and enough steps for differences to grow."""
    run_both(kind, T=20, B=5, I=7, H=300, num_layers=2, bidirectional=True, batch_first=True,
             dropout=0.3)


@gpu
def test_gradients_accumulate_and_zero_grad_on_the_device():
    cpu, gpu = run_both("gru", T=2, B=1, I=2, H=2, num_layers=2, twice=True)
    gpu.zero_grad()
    assert all(is_device_array(g) and not host(g).any() for g in gpu.grads.values())


@gpu
def test_float32_matches_cpu():
    run_both("lstm", T=2, B=2, I=2, H=3, dtype=np.float32, bidirectional=True)


@gpu
def test_no_state_and_eval_mode():
    cpu, gpu = pair("rnn", 2, 3, num_layers=2, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    cpu.eval(), gpu.eval()  # no dropout, no cache
    y, h = cpu.forward(x)
    yd, hd = gpu.forward(dev(x))
    assert_agree(host(yd), y, np.float64, "y")
    assert_agree(host(hd), h, np.float64, "h_n")
    with pytest.raises(RuntimeError, match="keep"):
        gpu.backward(yd)


@gpu
def test_step_by_step_equals_one_call():
    cpu, gpu = pair("lstm", 2, 3, batch_first=True)
    gpu.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 2))
    y, (h, c) = gpu.forward(dev(x))
    xd, state, ys = dev(x), None, []
    for t in range(3):
        y_t, state = gpu.step(xd[:, t], state)  # a strided device view
        ys.append(host(y_t))
    np.testing.assert_allclose(np.stack(ys, axis=1), host(y), rtol=0, atol=1e-15)
    np.testing.assert_allclose(host(state[1]), host(c), rtol=0, atol=1e-15)


@gpu
@pytest.mark.parametrize("cls,opts", [(numbarnn.RNNCell, {"nonlinearity": "relu"}),
                                      (numbarnn.LSTMCell, {}),
                                      (numbarnn.GRUCell, {"reset_after": True})],
                         ids=["rnn", "lstm", "gru_after"])
def test_cells_match_cpu(cls, opts):
    """Two steps forward, two backward (BPTT by hand), on both devices."""
    cpu, gpu = cls(3, 2, seed=3, **opts), cls(3, 2, seed=3, **opts).to("cuda")
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((2, 2, 3))
    lstm = cls is numbarnn.LSTMCell
    s, sd = None, None
    for t in range(2):
        s = cpu.forward(xs[t], s)
        sd = gpu.forward(dev(xs[t]), sd)
    assert_agree(host(sd), s, np.float64, "state")
    g = tuple(rng.standard_normal((2, 2)) for _ in range(2 if lstm else 1))
    g = g if lstm else g[0]
    gd = dev(g)
    for t in range(2):
        dx, g = cpu.backward(g)
        dxd, gd = gpu.backward(gd)
        assert_agree(host(dxd), dx, np.float64, "dx")
    assert_agree(host(gd), g, np.float64, "dstate")
    for name, want in cpu.grads.items():
        assert_agree(host(gpu.grads[name], name), want, np.float64, name)


@gpu
def test_empty_sequence():
    gpu = numbarnn.LSTM(2, 3, bidirectional=True, batch_first=True, seed=0).to("cuda")
    y, (h, c) = gpu.forward(dev(np.zeros((2, 0, 2))))
    assert y.shape == (2, 0, 6) and not host(h).any() and not host(c).any()
    assert gpu.backward(None).shape == (2, 0, 2)
    assert not any(host(g).any() for g in gpu.grads.values())


# -- moving, saving, loading ----------------------------------------------------

@gpu
@pytest.mark.parametrize("kind", ["lstm", "gru_after"])
def test_round_trip_is_bit_exact(kind):
    layer = KINDS[kind](3, 4, num_layers=2, bidirectional=True, seed=0)
    for g in layer.grads.values():
        g[...] = np.random.default_rng(0).standard_normal(g.shape)
    params = {k: v.copy() for k, v in layer.params.items()}
    grads = {k: v.copy() for k, v in layer.grads.items()}
    params_dict = layer.params
    assert layer.to("cuda") is layer and layer.device == "cuda"
    assert layer.params is params_dict  # the same dicts, new arrays
    assert all(is_device_array(p) for p in layer.parameters())
    assert all(is_device_array(g) for g in layer.grads.values())
    assert layer.to("cuda") is layer  # already there: nothing to do
    assert layer.to("cpu") is layer and layer.device == "cpu"
    for name in params:
        assert type(layer.params[name]) is np.ndarray
        np.testing.assert_array_equal(layer.params[name], params[name])
        np.testing.assert_array_equal(layer.grads[name], grads[name])


@gpu
def test_state_dict_save_and_load_state_dict(tmp_path):
    cpu = numbarnn.GRU(2, 3, num_layers=2, seed=0)
    gpu = numbarnn.GRU(2, 3, num_layers=2, seed=0).to("cuda")
    sd = gpu.state_dict()
    assert all(type(a) is np.ndarray for a in sd.values())
    for name, a in cpu.state_dict().items():
        np.testing.assert_array_equal(sd[name], a)
    path = tmp_path / "gru.npz"
    gpu.save(path)
    loaded = numbarnn.GRU.load(path)
    assert loaded.device == "cpu"
    for name, a in cpu.params.items():
        np.testing.assert_array_equal(loaded.params[name], a)
    # loading onto a module on the GPU copies to the device, in place
    other = numbarnn.GRU(2, 3, num_layers=2, seed=1).to("cuda")
    before = other.params["weight_hh_l1"]
    other.load_state_dict(cpu.state_dict())
    assert other.params["weight_hh_l1"] is before and is_device_array(before)
    for name, a in cpu.params.items():
        np.testing.assert_array_equal(host(other.params[name]), a)
    other.load_state_dict(gpu.params)  # device arrays are accepted too
    with pytest.raises(TypeError, match="dtype"):
        other.load_state_dict({k: v.astype(np.float32) for k, v in sd.items()})


# -- errors ---------------------------------------------------------------------

@gpu
def test_host_and_device_arrays_do_not_mix():
    gpu = numbarnn.LSTM(2, 3, seed=0).to("cuda")
    x = np.zeros((2, 1, 2))
    with pytest.raises(TypeError, match="x is a host array.*on the GPU"):
        gpu.forward(x)
    h = np.zeros((1, 1, 3))
    with pytest.raises(TypeError, match="state \\(h\\) is a host array"):
        gpu.forward(dev(x), (h, dev(h)))
    y, _ = gpu.forward(dev(x))
    with pytest.raises(TypeError, match="dy is a host array"):
        gpu.backward(np.zeros((2, 1, 3)))
    with pytest.raises(TypeError, match="dtype float32"):
        gpu.forward(dev(x.astype(np.float32)))
    with pytest.raises(ValueError, match="shape"):
        gpu.forward(dev(np.zeros((2, 1, 3))))
    cpu = numbarnn.LSTM(2, 3, seed=0)
    with pytest.raises(TypeError, match="x is a GPU array.*on the CPU"):
        cpu.forward(dev(x))
    cell = numbarnn.GRUCell(2, 3, seed=0).to("cuda")
    with pytest.raises(TypeError, match="x is a host array"):
        cell.forward(np.zeros((1, 2)))
    with pytest.raises(TypeError, match="x is a GPU array"):
        numbarnn.GRUCell(2, 3, seed=0).forward(dev(np.zeros((1, 2))))


@gpu
def test_cpu_only_options_are_not_implemented_on_the_gpu():
    gpu = numbarnn.GRU(2, 3, seed=0).to("cuda")
    x = dev(np.zeros((2, 2, 2)))
    with pytest.raises(NotImplementedError, match="lengths"):
        gpu.forward(x, lengths=[2, 1])
    with pytest.raises(NotImplementedError, match="return_gates"):
        gpu.forward(x, return_gates=True)
    proj = numbarnn.LSTM(2, 3, proj_size=2, seed=0)
    with pytest.raises(NotImplementedError, match="proj_size"):
        proj.to("cuda")
    assert proj.device == "cpu" and type(proj.params["weight_hr_l0"]) is np.ndarray


def test_bad_device_is_a_value_error():
    layer = numbarnn.RNN(2, 3, seed=0)
    for bad in ("gpu", "CUDA", "cuda:0", None, 0):
        with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
            layer.to(bad)
    assert layer.device == "cpu" and layer.to("cpu") is layer


def test_to_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    from numbarnn.functional import device

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    device.cuda_modules.cache_clear()
    try:
        layer = numbarnn.LSTM(2, 3, seed=0)
        with pytest.raises(RuntimeError, match="no CUDA GPU.*NUMBA_ENABLE_CUDASIM"):
            layer.to("cuda")
        assert layer.device == "cpu" and type(layer.params["weight_ih_l0"]) is np.ndarray
    finally:
        device.cuda_modules.cache_clear()


def test_cpu_layers_never_import_numba_cuda():
    code = ("import sys, numpy as np, numbarnn\n"
            "layer = numbarnn.GRU(2, 3, seed=0).to('cpu')\n"
            "y, h = layer.forward(np.ones((2, 1, 2)))\n"
            "layer.backward(y); layer.zero_grad(); layer.state_dict()\n"
            "assert layer.device == 'cpu'\n"
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda imported'\n")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)

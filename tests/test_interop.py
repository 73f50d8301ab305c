"""PyTorch and Keras conversion.

torch stays optional: importing numbarnn (interop included) must not import
it. Keras conversion is checked against a numpy transcription of the Keras
layers' equations (TensorFlow is not needed).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import numbarnn
from numbarnn.interop import from_keras_weights, keras_arrays

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_numbarnn_never_imports_torch():
    code = ("import sys, numbarnn, numbarnn.nn, numbarnn.interop; "
            "numbarnn.LSTM(2, 3, seed=0).forward(__import__('numpy').ones((2, 1, 2))); "
            "sys.exit('torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=REPO)
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


# -- PyTorch ----------------------------------------------------------------

def torch_modules():
    torch = pytest.importorskip("torch")
    return torch, {"rnn_tanh": lambda **k: torch.nn.RNN(3, 4, **k),
                   "rnn_relu": lambda **k: torch.nn.RNN(3, 4, nonlinearity="relu", **k),
                   "lstm": lambda **k: torch.nn.LSTM(3, 4, **k),
                   "gru": lambda **k: torch.nn.GRU(3, 4, **k)}


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_from_torch_to_torch(kind, num_layers, bidirectional, bias, batch_first):
    torch, make = torch_modules()
    torch.manual_seed(0)
    tm = make[kind](num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                    batch_first=batch_first, dtype=torch.float64)
    layer = numbarnn.interop.from_torch(tm)
    assert isinstance(layer, {"r": numbarnn.RNN, "l": numbarnn.LSTM,
                              "g": numbarnn.GRU}[kind[0]])
    assert (layer.num_layers, layer.bidirectional, layer.bias, layer.batch_first) == \
        (num_layers, bidirectional, bias, batch_first)
    x = np.random.default_rng(0).standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    with torch.no_grad():
        ty, tstate = tm(torch.from_numpy(x))
    y, state = layer.forward(x)
    np.testing.assert_allclose(y, ty.numpy(), rtol=0, atol=1e-12)
    for a, b in zip(state if kind == "lstm" else (state,),
                    tstate if kind == "lstm" else (tstate,)):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)
    back = numbarnn.interop.to_torch(layer)
    assert type(back) is type(tm)
    for (n1, p1), (n2, p2) in zip(tm.named_parameters(), back.named_parameters()):
        assert n1 == n2
        assert torch.equal(p1, p2), n1  # the z negation is exactly undone


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_both_ways(kind):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, kind)(3, 4).double().eval()
    cell = numbarnn.interop.from_torch(tm)
    assert type(cell).__name__ == kind and not cell.training
    x = np.random.default_rng(1).standard_normal((2, 3))
    with torch.no_grad():
        th = tm(torch.from_numpy(x))
    h = cell.forward(x)
    for a, b in zip(h if kind == "LSTMCell" else (h,), th if kind == "LSTMCell" else (th,)):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)
    back = numbarnn.interop.to_torch(cell)
    assert all(torch.equal(p, q) for p, q in zip(tm.parameters(), back.parameters()))


def test_dtype_mode_and_dropout_carry_over():
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.3)  # float32, training mode
    layer = numbarnn.interop.from_torch(tm.eval())
    assert layer.dtype == np.float32 and layer.dropout == pytest.approx(0.3)
    assert not layer.training
    back = numbarnn.interop.to_torch(layer.train())
    assert back.training and back.dropout == pytest.approx(0.3)
    assert back.weight_ih_l0.dtype == torch.float32


def test_conversion_refusals():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="reset_after=False"):
        numbarnn.interop.to_torch(numbarnn.GRU(3, 4))
    with pytest.raises(ValueError, match="sigmoid"):
        numbarnn.interop.to_torch(numbarnn.RNN(3, 4, nonlinearity="sigmoid"))
    with pytest.raises(TypeError, match="Linear"):
        numbarnn.interop.from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(TypeError, match="float16"):
        numbarnn.interop.from_torch(torch.nn.GRU(3, 4).half())
    with pytest.raises(TypeError):
        numbarnn.interop.to_torch(object())


# -- Keras (numpy transcription of the Keras layers) -------------------------

def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def keras_run(kind, x, kernel, rec, bias, reset_after=True, act=np.tanh):
    """Keras SimpleRNN / LSTM / GRU over x (B, T, I), zero initial state."""
    B, T, _ = x.shape
    H = rec.shape[0]
    h, c, ys = np.zeros((B, H)), np.zeros((B, H)), []
    for t in range(T):
        xt = x[:, t]
        if kind == "rnn":
            h = act(xt @ kernel + h @ rec + (0 if bias is None else bias))
        elif kind == "lstm":
            z = xt @ kernel + h @ rec + (0 if bias is None else bias)
            i, f, cc, o = (z[:, k * H:(k + 1) * H] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
        else:
            ib = np.zeros(3 * H) if bias is None else (bias[0] if reset_after else bias)
            rb = np.zeros(3 * H) if bias is None or not reset_after else bias[1]
            xz, xr, xh = (xt @ kernel[:, k * H:(k + 1) * H] + ib[k * H:(k + 1) * H]
                          for k in range(3))
            if reset_after:
                inner = h @ rec + rb
                z = sigmoid(xz + inner[:, :H])
                r = sigmoid(xr + inner[:, H:2 * H])
                hh = np.tanh(xh + r * inner[:, 2 * H:])
            else:
                z = sigmoid(xz + h @ rec[:, :H])
                r = sigmoid(xr + h @ rec[:, H:2 * H])
                hh = np.tanh(xh + (r * h) @ rec[:, 2 * H:])
            h = z * h + (1 - z) * hh
        ys.append(h)
    return np.stack(ys, axis=1)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind, reset_after, act", [
    ("rnn", True, "tanh"), ("rnn", True, "relu"), ("lstm", True, "tanh"),
    ("gru", True, "tanh"), ("gru", False, "tanh")],
    ids=["rnn_tanh", "rnn_relu", "lstm", "gru_after", "gru_before"])
def test_keras_weights_give_keras_outputs(kind, reset_after, act, use_bias):
    rng = np.random.default_rng(2)
    I, H, G = 3, 4, {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    kernel = 0.5 * rng.standard_normal((I, G * H))
    rec = 0.5 * rng.standard_normal((H, G * H))
    bias = None
    if use_bias:
        bias = rng.standard_normal((2, G * H) if kind == "gru" and reset_after else G * H)
    x = rng.standard_normal((2, 6, I))
    layer = from_keras_weights(kind, kernel, rec, bias, reset_after=reset_after,
                               nonlinearity=act)
    fn = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}[act]
    want = keras_run(kind, x, kernel, rec, bias, reset_after, fn)
    np.testing.assert_allclose(layer.forward(x)[0], want, rtol=0, atol=1e-12)


def test_keras_arrays_checks_shapes():
    k, r = np.ones((3, 12)), np.ones((4, 12))
    with pytest.raises(ValueError, match="recurrent_kernel"):
        keras_arrays("lstm", k, r)
    with pytest.raises(ValueError, match=r"bias .*\(2, 12\)"):
        keras_arrays("gru", k, r, np.ones(12), reset_after=True)
    with pytest.raises(ValueError, match="kernel must have shape"):
        keras_arrays("gru", np.ones((3, 9)), r)
    with pytest.raises(TypeError, match="float32"):
        keras_arrays("gru", k.astype(np.float32), r)
    w_ih, w_hh, b_ih, b_hh = keras_arrays("gru", k.astype(np.float32), r.astype(np.float32))
    assert w_ih.dtype == np.float32 and b_ih is None and w_ih.shape == (12, 3)

"""Modules for the training-kit tests, and the tests of those modules.

``FunctionalLSTM`` wraps ``numbarnn.functional.lstm_forward/backward`` in the
module protocol the kit programs against (``params``/``grads`` dicts,
``forward(x, state) -> (y, state)``, ``backward(dy, dstate) -> dx``,
``zero_grad``). :func:`make_lstm` returns ``numbarnn.LSTM`` once the layers
exist, this stand-in until then, so the kit is tested against both.
"""
import math

import numpy as np
import pytest

import numbarnn
from numbarnn import functional as F
from helpers import fd_gradient, rel_error


class FunctionalLSTM:
    """One LSTM layer over the functional API, with PyTorch's parameter names."""

    def __init__(self, input_size, hidden_size, *, dtype=np.float64, seed=None):
        rng = np.random.default_rng(seed)
        H, bound = hidden_size, 1.0 / math.sqrt(hidden_size)
        shapes = {"weight_ih_l0": (4 * H, input_size), "weight_hh_l0": (4 * H, H),
                  "bias_ih_l0": (4 * H,), "bias_hh_l0": (4 * H,)}
        self.params = {k: rng.uniform(-bound, bound, s).astype(dtype) for k, s in shapes.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.hidden_size = H
        self._cache = None

    def forward(self, x, state=None):
        p = self.params
        h0 = c0 = None
        if state is not None:
            h0, c0 = state[0][0], state[1][0]
        y, h_n, c_n, self._cache = F.lstm_forward(
            x, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"],
            h0, c0, training=True)
        return y, (h_n[None], c_n[None])

    def backward(self, dy, dstate=None):
        dh_n = dc_n = None
        if dstate is not None:
            dh_n, dc_n = dstate[0][0], dstate[1][0]
        g = F.lstm_backward(self._cache, dy, dh_n, dc_n)
        for key, d in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                          (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)):
            self.grads[key] += d
        return g.dx

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0


def make_lstm(input_size, hidden_size, seed=0):
    """``numbarnn.LSTM`` when it exists, else the functional stand-in."""
    layer = getattr(numbarnn, "LSTM", None)
    if layer is None:
        return FunctionalLSTM(input_size, hidden_size, seed=seed)
    return layer(input_size, hidden_size, seed=seed)


def noisy_sine(T=300, period=20.0, noise=0.05, seed=0):
    """One-step-ahead prediction data: x_t = s_t, target s_{t+1}, shape (T, 1, 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1)
    s = np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(T + 1)
    return s[:-1].reshape(T, 1, 1), s[1:].reshape(T, 1, 1)


@pytest.mark.parametrize("make", [FunctionalLSTM, make_lstm], ids=["functional", "layer"])
def test_lstm_module_gradient_matches_finite_differences(make):
    rng = np.random.default_rng(1)
    lstm = make(2, 3, seed=0)
    x = rng.standard_normal((6, 2, 2))
    w = rng.standard_normal((6, 2, 3))
    state = (rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 2, 3)))

    def loss():
        y, _ = lstm.forward(x, state)
        return float((w * y).sum())

    lstm.zero_grad()
    lstm.forward(x, state)
    lstm.backward(w)
    for name in ("weight_hh_l0", "bias_ih_l0"):
        fd = fd_gradient(loss, lstm.params, name)
        assert rel_error(lstm.grads[name], fd) < 1e-7, name


def test_lstm_module_state_carries():
    rng = np.random.default_rng(2)
    lstm = FunctionalLSTM(1, 4, seed=0)
    x = rng.standard_normal((10, 1, 1))
    y, state = lstm.forward(x)
    y1, s1 = lstm.forward(x[:4])
    y2, s2 = lstm.forward(x[4:], s1)
    np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s2[1], state[1], rtol=1e-12, atol=1e-14)

"""Diagnostics: the vanishing/exploding claims on seeded random weights,
gradient_flow against finite differences, check_gradients on layers and models."""
import numpy as np
import pytest

import numbarnn
from numbarnn.diagnostics import GradCheckResult, check_gradients, gradient_flow
from numbarnn.diagnostics.flow import _flat, _unflat

T, H = 60, 16


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal((T, 1, 2))


def _log_slope(flow, which="jacobian_norm"):
    """Slope and R² of a straight line through log(norm) against distance."""
    keep = flow.distance >= 1           # the last step's own norm is special
    d, y = flow.distance[keep], np.log(getattr(flow, which)[keep])
    slope, intercept = np.polyfit(d, y, 1)
    resid = y - (slope * d + intercept)
    return slope, 1 - resid.var() / y.var()


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid"])
def test_tanh_and_sigmoid_gradients_vanish_geometrically(x, nonlinearity):
    flow = gradient_flow(numbarnn.RNN(2, H, nonlinearity=nonlinearity, seed=0), x)
    for which in ("jacobian_norm", "grad_norm"):
        slope, r2 = _log_slope(flow, which)
        assert slope < -0.3          # a factor below e^-0.3 = 0.74 per step
        assert r2 > 0.95             # and a straight line in log scale: geometric
    assert flow.grad_norm[0] < 1e-8 * flow.grad_norm[-1]
    assert flow.rate() == pytest.approx(np.exp(_log_slope(flow)[0]))


def test_relu_with_positive_weights_explodes(x):
    rnn = numbarnn.RNN(2, H, nonlinearity="relu", seed=0)
    rng = np.random.default_rng(1)
    for name, p in rnn.params.items():
        p[...] = np.abs(p)
    # Positive recurrent weights with spectral radius about 1.2 (H * mean).
    rnn.params["weight_hh_l0"][...] = rng.uniform(0.0, 2.4 / H, (H, H))
    flow = gradient_flow(rnn, np.abs(x))   # positive inputs: every unit active
    slope, r2 = _log_slope(flow)
    assert slope > 0.1 and r2 > 0.95
    assert flow.grad_norm[0] > 1e3 * flow.grad_norm[-1]


def test_lstm_with_forget_gate_near_one_keeps_the_gradient(x):
    lstm = numbarnn.LSTM(2, H, seed=0)
    lstm.params["bias_ih_l0"][H:2 * H] = 10.0   # σ(10) ≈ 0.99995
    kept = gradient_flow(lstm, x)
    assert 0.97 < kept.rate() < 1.1
    assert kept.jacobian_norm[0] > 0.3
    # Same weights without the large forget bias: it vanishes like a tanh RNN.
    lstm.params["bias_ih_l0"][H:2 * H] = 0.0
    assert gradient_flow(lstm, x).rate() < 0.8


def _run_from(layer, x, t, s_flat):
    """Top-layer outputs of steps t+1.. started from flat state s_flat after step t."""
    lstm = layer.kind == "lstm"
    y, s = layer.forward(x[t + 1:], _unflat(s_flat[None], layer, lstm), keep_cache=False)
    return y, _flat(s, lstm)[0]


@pytest.mark.parametrize("make", [
    lambda: numbarnn.RNN(2, 3, seed=0),
    lambda: numbarnn.GRU(2, 3, num_layers=2, seed=0),
    lambda: numbarnn.LSTM(2, 3, seed=0),
])
def test_gradient_flow_matches_finite_differences(make):
    layer = make().eval()
    lstm = layer.kind == "lstm"
    xs = np.random.default_rng(2).standard_normal((6, 1, 2))
    flow = gradient_flow(layer, xs)
    Tn = xs.shape[0]
    # The states after each step, from an independent whole-sequence run.
    states = []
    for t in range(Tn):
        _, s = layer.forward(xs[:t + 1], keep_cache=False)
        states.append(_flat(s, lstm)[0])
    u = np.ones(layer.hidden_size) / np.sqrt(layer.hidden_size)
    eps = 1e-6
    for t in range(Tn - 1):
        n = states[t].size
        jac = np.empty((n, n))
        grad = np.empty(n)
        for i in range(n):
            e = np.zeros(n)
            e[i] = eps
            y_p, s_p = _run_from(layer, xs, t, states[t] + e)
            y_m, s_m = _run_from(layer, xs, t, states[t] - e)
            jac[:, i] = (s_p - s_m) / (2 * eps)
            grad[i] = u @ (y_p[-1, 0] - y_m[-1, 0]) / (2 * eps)
        assert flow.jacobian_norm[t] == pytest.approx(np.linalg.norm(jac, 2), rel=1e-6)
        assert flow.grad_norm[t] == pytest.approx(np.linalg.norm(grad), rel=1e-6)
        P = np.eye(n)
        for j in range(Tn - 1, t, -1):
            P = P @ flow.step_jacobians[j]
        np.testing.assert_allclose(P, jac, rtol=1e-5, atol=1e-9)


def test_gradient_flow_leaves_the_layer_alone(x):
    gru = numbarnn.GRU(2, 4, seed=0)
    y, _ = gru.forward(x)
    gru.backward(np.ones_like(y))
    before = {k: g.copy() for k, g in gru.grads.items()}
    gradient_flow(gru, x)
    assert gru.training
    for k, g in gru.grads.items():
        np.testing.assert_array_equal(g, before[k])


def test_gradient_flow_of_a_latent_model():
    s = numbarnn.datasets.noisy_sine(80, seed=0)
    m = numbarnn.LatentAR("lstm", 4, seed=0).fit(s, epochs=2, progress=False)
    flow = gradient_flow(m, s)
    assert flow.grad_norm.shape == (80,) and flow.step_jacobians.shape == (80, 8, 8)
    assert flow.kind == "lstm" and np.all(np.isfinite(flow.grad_norm))


@pytest.mark.parametrize("make", [
    lambda: numbarnn.RNN(2, 3, num_layers=2, nonlinearity="tanh", seed=0),
    lambda: numbarnn.RNN(2, 3, nonlinearity="sigmoid", seed=0),
    lambda: numbarnn.GRU(2, 3, num_layers=2, reset_after=True, seed=0),
    lambda: numbarnn.LSTM(2, 3, num_layers=2, seed=0),
    lambda: numbarnn.train.Linear(2, 3, seed=0),
])
def test_check_gradients_on_layers(make):
    layer = make()
    xs = np.random.default_rng(3).standard_normal((5, 2, 2))
    result = check_gradients(layer, xs)
    assert result.passed(1e-6), str(result)
    assert "x" in result.errors and result.n_checked > 20


def test_check_gradients_catches_a_wrong_gradient():
    class Wrong(numbarnn.train.Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["weight"] *= 1.01     # 1% off
            return dx

    result = check_gradients(Wrong(2, 2, seed=0), np.ones((3, 2)))
    assert result.worst[0] == "weight"
    assert 5e-3 < result.max_rel_error < 2e-2
    assert not result.passed()


def test_check_gradients_restores_gradients_and_rejects_float32():
    lstm = numbarnn.LSTM(2, 3, seed=0)
    lstm.grads["weight_hh_l0"][...] = 7.0
    check_gradients(lstm, np.ones((3, 1, 2)), max_entries=3)
    assert (lstm.grads["weight_hh_l0"] == 7.0).all() and lstm.training
    with pytest.raises(TypeError, match="float64"):
        check_gradients(numbarnn.GRU(2, 3, seed=0, dtype=np.float32),
                        np.ones((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="stencil"):
        check_gradients(lstm, np.ones((3, 1, 2)), stencil=4)


def test_result_repr_is_readable():
    r = GradCheckResult(3e-9, ("bias_hh_l0", (2,)), {"bias_hh_l0": 3e-9, "x": 1e-10}, 40,
                        1e-3)
    assert repr(r) == ("GradCheckResult(max_rel_error=3e-09 at bias_hh_l0[2]; 2 arrays, "
                       "40 entries, eps=0.001)")
    assert "bias_hh_l0" in str(r).splitlines()[2]

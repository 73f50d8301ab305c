"""The scipy bridge: flat vector round trips, the objective's gradient vs
finite differences, and L-BFGS training a small LSTM."""
import numpy as np
import pytest

from numbarnn.train import (Linear, flatten, flatten_grads, gaussian_nll_packed,
                            make_objective, minimize, mse, unflatten)
from helpers import rel_error
from test_train_helpers import make_lstm, noisy_sine


def test_flatten_unflatten_round_trip():
    lstm, readout = make_lstm(2, 3, seed=0), Linear(3, 2, seed=1)
    mods = [lstm, readout]
    theta = flatten(mods)
    n = sum(p.size for m in mods for p in m.params.values())
    assert theta.shape == (n,) and theta.dtype == np.float64
    ids = [id(p) for m in mods for p in m.params.values()]
    new = np.random.default_rng(0).standard_normal(n)
    unflatten(new, mods)
    np.testing.assert_array_equal(flatten(mods), new)
    assert [id(p) for m in mods for p in m.params.values()] == ids   # written in place
    # The order is modules, then each params dict.
    first = next(iter(lstm.params.values()))
    np.testing.assert_array_equal(first.ravel(), new[:first.size])
    np.testing.assert_array_equal(readout.params["bias"], new[-2:])
    unflatten(theta, mods)
    np.testing.assert_array_equal(flatten(mods), theta)
    assert flatten_grads(mods).shape == (n,)


def test_flatten_float32():
    lin = Linear(3, 2, dtype=np.float32, seed=0)
    theta = flatten(lin)
    assert theta.dtype == np.float64
    unflatten(theta + 1, lin)
    assert lin.params["weight"].dtype == np.float32


def test_unflatten_checks_length():
    with pytest.raises(ValueError, match=r"vector must have shape \(8,\)"):
        unflatten(np.zeros(7), Linear(3, 2, seed=0))


@pytest.mark.parametrize("loss", ["mse", "gaussian_nll"])
def test_objective_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(1)
    T, B, I, H = 8, 2, 2, 3
    O = 2 if loss == "mse" else 4
    lstm, readout = make_lstm(I, H, seed=2), Linear(H, O, seed=3)
    x, y = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, 2))
    state = (rng.standard_normal((1, B, H)), rng.standard_normal((1, B, H)))
    f = make_objective(lstm, readout, loss, x, y, state)
    theta = flatten([lstm, readout])
    loss0, grad = f(theta)
    eps, fd = 1e-6, np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        fd[i] = (f(theta + e)[0] - f(theta - e)[0]) / (2 * eps)
    assert rel_error(grad, fd) < 1e-7
    assert f(theta)[0] == loss0     # deterministic, and theta is restored by the call


def test_minimize_passes_options_and_leaves_the_solution():
    x, y = noisy_sine(T=60)
    lstm, readout = make_lstm(1, 4, seed=0), Linear(4, 1, seed=0)
    seen = []
    res = minimize(lstm, readout, mse, x, y, options={"maxiter": 5},
                   callback=lambda xk: seen.append(xk.copy()))
    assert res.nit <= 5 and len(seen) == res.nit
    np.testing.assert_array_equal(flatten([lstm, readout]), res.x)
    with pytest.raises(ValueError, match="jac=True"):
        minimize(lstm, readout, mse, x, y, jac=False)


def test_lbfgs_trains_a_small_lstm_on_a_noisy_sine():
    # One-step-ahead prediction of sin(2πt/20) + N(0, 0.05²): the series has
    # variance 0.5, the noise floor of the MSE is 0.0025.
    x, y = noisy_sine(T=300, seed=0)
    lstm, readout = make_lstm(1, 8, seed=0), Linear(8, 1, seed=0)
    start = minimize(lstm, readout, mse, x, y, options={"maxiter": 0}).fun
    res = minimize(lstm, readout, mse, x, y, options={"maxiter": 100})
    assert start > 0.1
    assert res.fun < 0.01, res.fun
    assert res.fun == pytest.approx(mse(readout.forward(lstm.forward(x)[0]), y)[0], rel=1e-12)


def test_gaussian_nll_readout_learns_the_noise_level():
    # A readout with mean and log-variance heads: the fitted variance of the
    # residual approaches the noise variance.
    x, y = noisy_sine(T=300, noise=0.1, seed=1)
    lstm, readout = make_lstm(1, 8, seed=1), Linear(8, 2, seed=1)
    minimize(lstm, readout, gaussian_nll_packed, x, y, options={"maxiter": 150})
    pred = readout.forward(lstm.forward(x)[0])
    sigma = np.exp(0.5 * pred[..., 1]).mean()
    assert 0.07 < sigma < 0.13, sigma

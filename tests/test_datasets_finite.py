"""Generators never return non-finite data (issue 10 item 6).

Oracles: scipy.signal.lfilter's own answer for an explosive AR filter (it
overflows), numpy's polynomial roots, and the generators' recurrences run
by hand in plain Python.
"""
import numpy as np
import pytest

from numbarnn import datasets


@pytest.mark.parametrize("order", [15, 16, 30])
def test_narma_high_order_is_refused(order):
    with pytest.raises(ValueError, match="order"):
        datasets.narma(1000, order=order, seed=0)


def _narma_by_hand(u, order):
    y = [0.0] * len(u)
    for t in range(order - 1, len(u) - 1):
        y[t + 1] = (0.3 * y[t] + 0.05 * y[t] * sum(y[t - order + 1:t + 1])
                    + 1.5 * u[t - order + 1] * u[t] + 0.1)
    return np.array(y)


@pytest.mark.parametrize("order, seed", [(11, s) for s in range(6)] + [(12, 0), (14, 3)])
def test_narma_diverging_seed_raises_else_matches_the_recurrence(order, seed):
    u = np.random.default_rng(seed).uniform(0.0, 0.5, 1500)
    with np.errstate(over="ignore", invalid="ignore"):
        want = _narma_by_hand(u.tolist(), order)
    if np.isfinite(want).all() and want.max() < 10:
        np.testing.assert_allclose(datasets.narma(1500, order=order, seed=seed)[1], want,
                                   rtol=1e-12, atol=1e-15)
    else:
        with pytest.raises(ValueError, match="diverged"):
            datasets.narma(1500, order=order, seed=seed)


@pytest.mark.parametrize("dt", [1.0, 0.5, 0.2])
def test_lorenz_large_step_raises(dt):
    with pytest.raises(ValueError, match="dt"):
        datasets.lorenz(200, dt=dt)


def test_lorenz_and_mackey_glass_parameter_checks():
    for kwargs in ({"dt": 0.0}, {"dt": -0.01}, {"dt": float("nan")}, {"x0": (1, np.inf, 1)},
                   {"rho": float("inf")}):
        with pytest.raises(ValueError):
            datasets.lorenz(10, **kwargs)
    with pytest.raises(TypeError, match="dt"):
        datasets.lorenz(10, dt="0.01")
    with pytest.raises(ValueError, match="dt"):
        datasets.mackey_glass(10, dt=float("inf"))
    with pytest.raises(ValueError, match="period"):
        datasets.noisy_sine(10, period=0.0)
    with pytest.raises(ValueError, match="concentration"):
        datasets.markov_source(n=10, concentration=float("nan"))


@pytest.mark.parametrize("ar", [[1.1], [0.5, 0.6], [-1.5], [0.0, 0.0, 1.2]])
def test_explosive_arma_is_refused(ar):
    roots = np.roots(np.r_[1.0, -np.asarray(ar)][::-1])
    assert np.abs(roots).min() < 1  # explosive by construction
    with pytest.raises(ValueError, match="explosive"):
        datasets.arma(ar, [0.3], n=20000)


def test_arma_accepts_unit_root_and_stationary_and_checks_sigma():
    x = datasets.arma([1.0], [], n=500, seed=0, burn=0)  # a random walk
    eps = np.random.default_rng(0).standard_normal(500)
    np.testing.assert_allclose(x, np.cumsum(eps), rtol=1e-12, atol=1e-12)
    assert np.isfinite(datasets.arma([0.5, 0.3], [0.4], n=1000)).all()
    with pytest.raises(ValueError, match="sigma"):
        datasets.arma([0.5], [], n=10, sigma=-1.0)
    with pytest.raises(ValueError, match="finite"):
        datasets.arma([np.nan], [], n=10)

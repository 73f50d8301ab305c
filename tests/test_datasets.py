"""numbarnn.datasets: shapes, determinism and the known properties of each source."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from numbarnn import AutoRegressive, MarkovChain, datasets

SEEDED = {
    "noisy_sine": lambda seed: datasets.noisy_sine(100, seed=seed),
    "mackey_glass": lambda seed: datasets.mackey_glass(100, seed=seed),
    "lorenz": lambda seed: datasets.lorenz(100, seed=seed),
    "narma": lambda seed: datasets.narma(100, seed=seed),
    "arma": lambda seed: datasets.arma([0.5], [0.2], 100, seed=seed),
    "adding_problem": lambda seed: datasets.adding_problem(4, 20, seed=seed),
    "copy_task": lambda seed: datasets.copy_task(4, 5, seed=seed),
    "markov_source": lambda seed: datasets.markov_source(n=100, seed=seed),
}


def _flat(out):
    return np.concatenate([np.ravel(a) for a in (out if isinstance(out, tuple) else (out,))])


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_deterministic_and_seeded(name):
    make = SEEDED[name]
    a, b, c = _flat(make(1)), _flat(make(1)), _flat(make(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, _flat(make(np.random.default_rng(1))))


def test_all_exported():
    assert sorted(datasets.__all__) == sorted(SEEDED)


# -- real-valued series ---------------------------------------------------------
def test_noisy_sine():
    x = datasets.noisy_sine(1000, period=50.0, amplitude=2.0, noise=0.0)
    np.testing.assert_allclose(x, 2.0 * np.sin(2 * np.pi * np.arange(1000) / 50.0))
    resid = datasets.noisy_sine(20000, noise=0.3, seed=0) - datasets.noisy_sine(20000, noise=0.0)
    assert resid.std() == pytest.approx(0.3, rel=0.02)


def test_mackey_glass_range_and_shape():
    x = datasets.mackey_glass(5000)
    assert x.shape == (5000,) and x[0] == 1.2
    # The τ=17 attractor: inside [0.2, 1.4], and it spans most of it (0.42 to 1.32).
    assert 0.2 < x.min() < 0.5 and 1.25 < x.max() < 1.4
    y = datasets.mackey_glass(1000, discard=500)
    np.testing.assert_allclose(y, datasets.mackey_glass(1500)[500:], rtol=0)


def test_mackey_glass_rk4_is_fourth_order_without_delay_feedback():
    # With a = 0 the equation is dx/dt = -b x: x(t) = x0 exp(-b t).
    x = datasets.mackey_glass(50, a=0.0, b=0.1, x0=1.0)
    np.testing.assert_allclose(x, np.exp(-0.1 * np.arange(50.0)), rtol=1e-9)


def test_mackey_glass_converges_as_dt_shrinks():
    coarse = datasets.mackey_glass(60, dt=0.1, every=10)
    fine = datasets.mackey_glass(60, dt=0.01, every=100)
    # Chaos magnifies any difference, so compare a short horizon.
    np.testing.assert_allclose(coarse, fine, atol=1e-4)
    with pytest.raises(ValueError, match="tau"):
        datasets.mackey_glass(10, tau=17.05, dt=0.1)


def test_lorenz_against_solve_ivp():
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0

    def rate(t, s):
        x, y, z = s
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    t = np.arange(201) * 0.01  # every 0.01 up to t = 2
    ref = solve_ivp(rate, (0, 2.0), [1.0, 1.0, 1.0], method="DOP853", t_eval=t,
                    rtol=1e-13, atol=1e-13).y.T
    err = {}
    for dt, every in ((0.01, 1), (0.005, 2)):
        xyz = datasets.lorenz(201, dt=dt, every=every)
        assert xyz.shape == (201, 3)
        err[dt] = np.abs(xyz - ref).max()
    assert err[0.005] < 1e-4
    assert 12 < err[0.01] / err[0.005] < 20  # fourth order: halving dt gains 2**4


def test_lorenz_stays_on_the_attractor():
    xyz = datasets.lorenz(20000, seed=3)
    assert np.abs(xyz[:, :2]).max() < 30 and 0 < xyz[1000:, 2].min() and xyz[:, 2].max() < 55


def test_narma_follows_its_recurrence():
    u, y = datasets.narma(300, seed=4)
    assert u.shape == y.shape == (300,) and 0 <= u.min() and u.max() <= 0.5
    ref = np.zeros(300)
    for t in range(9, 299):
        ref[t + 1] = (0.3 * ref[t] + 0.05 * ref[t] * ref[t - 9:t + 1].sum()
                      + 1.5 * u[t - 9] * u[t] + 0.1)
    np.testing.assert_allclose(y, ref, rtol=1e-14)
    _, y20 = datasets.narma(300, order=5, seed=4)
    assert not np.allclose(y20, y)


def test_arma_follows_its_recurrence():
    ar, ma = [0.5, -0.2], [0.4]
    x = datasets.arma(ar, ma, 50, seed=0, burn=0, sigma=2.0)
    eps = 2.0 * np.random.default_rng(0).standard_normal(50)
    ref = np.zeros(50)
    for t in range(50):
        ref[t] = eps[t] + sum(a * ref[t - 1 - i] for i, a in enumerate(ar) if t - 1 - i >= 0)
        ref[t] += 0.4 * eps[t - 1] if t else 0.0
    np.testing.assert_allclose(x, ref, rtol=1e-12)


def test_ar_fit_recovers_arma_coefficients():
    x = datasets.arma([0.75, -0.5, 0.2], [], 100_000, seed=11)
    np.testing.assert_allclose(AutoRegressive(3).fit(x).coef_, [0.75, -0.5, 0.2], atol=0.01)


# -- tasks --------------------------------------------------------------------------
def test_adding_problem():
    x, y = datasets.adding_problem(500, 30, seed=0)
    assert x.shape == (30, 500, 2) and y.shape == (500, 1)
    marks = x[:, :, 1]
    assert set(np.unique(marks)) == {0.0, 1.0} and (marks.sum(axis=0) == 2).all()
    assert (marks[:15].sum(axis=0) == 1).all()  # one mark in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * marks).sum(axis=0))
    assert 0 <= x[:, :, 0].min() and x[:, :, 0].max() < 1


def test_copy_task():
    x, y = datasets.copy_task(6, delay=20, length=10, n_symbols=8, seed=0)
    assert x.shape == y.shape == (40, 6) and x.dtype == np.int64
    assert (1 <= x[:10]).all() and (x[:10] <= 8).all()
    assert (x[10:29] == 0).all() and (x[29] == 9).all() and (x[30:] == 0).all()
    assert (y[:30] == 0).all()
    np.testing.assert_array_equal(y[30:], x[:10])


def test_markov_source_converges_to_its_transitions():
    errors = []
    for n in (10_000, 1_000_000):
        x, P = datasets.markov_source(order=2, n_states=4, n=n, seed=0)
        assert x.shape == (n,) and P.shape == (4, 4, 4) and x.min() >= 0 and x.max() < 4
        np.testing.assert_allclose(P.sum(-1), 1.0)
        errors.append(np.abs(MarkovChain(order=2, n_states=4).fit(x).transition_ - P).max())
    assert errors[1] < 0.01 and errors[1] < errors[0] / 3  # ~1/√n


def test_markov_source_order_zero_and_short():
    x, P = datasets.markov_source(order=0, n_states=3, n=50_000, seed=1)
    np.testing.assert_allclose(np.bincount(x, minlength=3) / 50_000, P, atol=0.01)
    assert datasets.markov_source(order=3, n=2, seed=0)[0].shape == (2,)


@pytest.mark.parametrize("call", [
    lambda: datasets.noisy_sine(-1),
    lambda: datasets.mackey_glass(10, every=0),
    lambda: datasets.lorenz(2.5),
    lambda: datasets.narma(10, order=0),
    lambda: datasets.arma([[0.5]], [], 10),
    lambda: datasets.adding_problem(3, 1),
    lambda: datasets.copy_task(3, 0),
    lambda: datasets.markov_source(order=12, n_states=5),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()

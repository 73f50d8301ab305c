"""AutoRegressive against statsmodels AutoReg and VAR, and its own claims.

statsmodels is a test-only dependency: the cross-checks skip without it.
Its shipped datasets (sunspots, macrodata) are read from the installed
package, nothing is downloaded.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbarnn
from numbarnn import AutoRegressive, datasets

RTOL = 1e-8


def _sunspots():
    sm = pytest.importorskip("statsmodels.api")
    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=float)


def _macro():
    """Quarterly growth rates of real GDP, consumption and investment."""
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.macrodata.load_pandas().data[["realgdp", "realcons", "realinv"]]
    return np.diff(np.log(data.to_numpy(dtype=float)), axis=0)


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


# -- univariate: statsmodels AutoReg -------------------------------------------
# (order 0 with no trend has no regressors: statsmodels cannot fit it, so
# that pair is not generated)
@pytest.mark.parametrize("trend, order", [(t, k) for t in ("n", "c", "ct") for k in (0, 1, 2, 9)
                                          if (t, k) != ("n", 0)])
def test_matches_autoreg_on_sunspots(trend, order):
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.ar_model import AutoReg

    y = _sunspots()
    res = AutoReg(y, lags=order, trend=trend).fit()
    m = AutoRegressive(order, trend=trend).fit(y)
    kt = {"n": 0, "c": 1, "ct": 2}[trend]
    params = np.asarray(res.params)
    if kt:
        _close(m.intercept_, params[0])
    else:
        assert m.intercept_ == 0.0
    if kt == 2:
        _close(m.trend_coef_, params[1])
    _close(m.coef_, params[kt:])
    _close(m.sigma2_, res.sigma2)
    _close(m.llf_, res.llf)
    _close(m.log_likelihood(y, t0=0), res.llf)
    _close(m.aic(y, t0=0), res.aic)
    _close(m.bic(y, t0=0), res.bic)
    assert m.nobs_ == res.nobs
    assert m.n_params == res.df_model + 1
    _close(m.predict(y, t0=0), np.asarray(res.fittedvalues), rtol=1e-10)
    _close(m.forecast(12), np.asarray(res.forecast(12)))


@pytest.mark.parametrize("ic", ["aic", "bic"])
@pytest.mark.parametrize("trend", ["c", "n"])
def test_select_order_matches_ar_select_order(ic, trend):
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.ar_model import ar_select_order

    y = _sunspots()
    sel = ar_select_order(y, 12, ic=ic, trend=trend)
    m = AutoRegressive.select_order(y, 12, ic=ic, trend=trend)
    assert m.order == max(sel.ar_lags or [0])
    theirs = getattr(sel, ic)
    # ar_select_order counts OLS's df_model + 1, and OLS's df_model leaves
    # out the constant; AutoReg's own aic (which ours equals) keeps it. One
    # parameter's penalty apart with trend="c", the same for every order.
    penalty = 0.0 if trend == "n" else 2.0 if ic == "aic" else np.log(len(y) - 12)
    for p, value in m.ic_values_.items():
        _close(value - penalty, np.squeeze(theirs[tuple(range(1, p + 1)) if p else 0]))
    # The winner is refitted on the whole series.
    _close(m.coef_, AutoRegressive(m.order, trend).fit(y).coef_, rtol=0)


# -- multivariate: statsmodels VAR ---------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 4])
def test_matches_var_on_macrodata(order):
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.api import VAR

    d = _macro()
    res = VAR(d).fit(order)
    m = AutoRegressive(order).fit(d)
    assert m.coef_.shape == (order, 3, 3) and m.sigma_.shape == (3, 3)
    _close(m.coef_, res.coefs)
    _close(m.intercept_, res.intercept)
    _close(m.sigma_, res.sigma_u_mle)
    df = m.nobs_ - 3 * order - 1
    _close(m.sigma_ * m.nobs_ / df, res.sigma_u)
    _close(m.llf_, res.llf)
    _close(m.log_likelihood(d), res.llf)
    _close(m.predict(d), res.fittedvalues, rtol=1e-10)
    _close(m.forecast(8), res.forecast(d[-order:], 8))
    # statsmodels' VAR aic is log det Σ + 2 k/nobs (k: the lag and trend
    # parameters); ours is -2 llf + 2 n_params with the D(D+1)/2 = 6 noise
    # parameters: an affine map of theirs, so both rank orders alike.
    logdet_part = (m.aic(d) - 2 * 6) / m.nobs_ - 3 * (np.log(2 * np.pi) + 1)
    _close(logdet_part, res.aic)


def test_var_trend_ct_matches_statsmodels():
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.api import VAR

    d, p = _macro(), 2
    res = VAR(d).fit(p, trend="ct")
    m = AutoRegressive(p, trend="ct").fit(d)
    _close(m.intercept_, res.params[0])  # the same time origin: t = 1 at series[0]
    _close(m.trend_coef_, res.params[1])
    _close(m.coef_, res.coefs)
    _close(m.llf_, res.llf)


@pytest.mark.parametrize("ic", ["aic", "bic"])
def test_var_select_order_matches(ic):
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.api import VAR

    d = _macro()
    want = VAR(d).select_order(8).selected_orders[ic]
    assert AutoRegressive.select_order(d, 8, ic=ic).order == want


# -- properties that need no peer ----------------------------------------------
def test_recovers_arma_coefficients():
    x = datasets.arma([0.5, -0.25, 0.1], [], n=200_000, seed=3)
    m = AutoRegressive(3).fit(x)
    np.testing.assert_allclose(m.coef_, [0.5, -0.25, 0.1], atol=0.01)
    assert abs(m.intercept_) < 0.01 and m.sigma2_ == pytest.approx(1.0, abs=0.01)


def test_var_recovers_simulated_coefficients():
    A = np.array([[0.5, 0.1], [-0.2, 0.3]])
    c, cov = np.array([0.1, -0.1]), np.array([[1.0, 0.3], [0.3, 0.5]])
    eps = np.random.default_rng(0).multivariate_normal(np.zeros(2), cov, 100_000)
    x = np.zeros((100_000, 2))
    for t in range(1, 100_000):  # the recursion by hand, the oracle
        x[t] = c + A @ x[t - 1] + eps[t]
    m = AutoRegressive(1).fit(x)
    np.testing.assert_allclose(m.coef_[0], A, atol=0.01)
    np.testing.assert_allclose(m.intercept_, c, atol=0.01)
    np.testing.assert_allclose(m.sigma_, cov, atol=0.02)
    # ...and the model's own simulation reproduces it.
    again = AutoRegressive(1).fit(m.simulate(100_000, seed=1))
    np.testing.assert_allclose(again.coef_, m.coef_, atol=0.015)
    np.testing.assert_allclose(again.sigma_, m.sigma_, atol=0.02)


def test_forecast_predict_and_history():
    x = datasets.arma([0.7, -0.2], [], n=500, seed=1) + 3.0
    m = AutoRegressive(2).fit(x)
    f = m.forecast(5)
    np.testing.assert_allclose(f, m.forecast(5, history=x), rtol=0)
    # Closed loop by hand: each forecast feeds the next.
    hist = list(x[-2:])
    for step in range(5):
        hist.append(m.intercept_ + m.coef_ @ hist[::-1][:2])
        assert f[step] == pytest.approx(hist[-1], rel=1e-13)
    # One step ahead = a one-step forecast from each history.
    p = m.predict(x)
    assert p.shape == (498,)
    for t in (2, 100, 499):
        assert p[t - 2] == pytest.approx(m.forecast(1, history=x[:t])[0], rel=1e-13)
    assert m.forecast(0).shape == (0,)


def test_simulate_is_seeded_and_stationary():
    m = AutoRegressive(2).fit(datasets.arma([0.6, -0.3], [], n=3000, seed=0) + 1.0)
    a, b = m.simulate(50_000, seed=5), m.simulate(50_000, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    mean = m.intercept_ / (1 - m.coef_.sum())
    assert a.mean() == pytest.approx(mean, abs=0.03)
    refit = AutoRegressive(2).fit(a)
    np.testing.assert_allclose(refit.coef_, m.coef_, atol=0.02)
    assert m.simulate(0, seed=0).shape == (0,)


def test_log_likelihood_on_new_data_is_the_gaussian_density():
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2)).cumsum(0) * 0.1
    m = AutoRegressive(2).fit(x)
    new = rng.standard_normal((30, 2))
    resid = new[2:] - m.predict(new)
    want = multivariate_normal(np.zeros(2), m.sigma_).logpdf(resid).sum()
    assert m.log_likelihood(new) == pytest.approx(want, rel=1e-12)


def test_shapes_for_d_equal_one():
    x = datasets.noisy_sine(300, seed=0)
    m1, m2 = AutoRegressive(2).fit(x), AutoRegressive(2).fit(x[:, None])
    assert m2.coef_.shape == (2, 1, 1) and m2.sigma_.shape == (1, 1)
    np.testing.assert_allclose(m2.coef_[:, 0, 0], m1.coef_, rtol=1e-12)
    assert m2.llf_ == pytest.approx(m1.llf_, rel=1e-12)
    assert m2.forecast(3).shape == (3, 1)


def test_bad_inputs():
    x = np.arange(20.0)
    with pytest.raises(ValueError, match="order"):
        AutoRegressive(-1).fit(x)
    with pytest.raises(ValueError, match="trend"):
        AutoRegressive(1, trend="t").fit(x)
    with pytest.raises(ValueError, match="NaN"):
        AutoRegressive(1).fit(np.r_[x, np.nan])
    with pytest.raises(TypeError, match="real"):
        AutoRegressive(1).fit(x.astype(complex))
    with pytest.raises(ValueError, match="shape"):
        AutoRegressive(1).fit(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="too few"):
        AutoRegressive(5).fit(np.arange(8.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        AutoRegressive(1).forecast(3)
    m = AutoRegressive(2).fit(np.sin(x))
    with pytest.raises(ValueError, match=r"\(T,\)"):
        m.predict(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="history"):
        m.forecast(2, history=[1.0])
    with pytest.raises(ValueError, match="steps"):
        m.forecast(-1)
    with pytest.raises(ValueError, match="ic"):
        AutoRegressive.select_order(x, 2, ic="hqic")
    before = x.copy()
    AutoRegressive(1).fit(x)
    np.testing.assert_array_equal(x, before)


@settings(max_examples=25, deadline=None)
@given(order=st.integers(0, 3), D=st.integers(1, 3), trend=st.sampled_from(["n", "c", "ct"]),
       T=st.integers(30, 60), seed=st.integers(0, 2 ** 16))
def test_hypothesis_shapes_and_normal_equations(order, D, trend, T, seed):
    x = np.random.default_rng(seed).standard_normal((T, D))
    m = AutoRegressive(order, trend).fit(x)
    assert m.coef_.shape == (order, D, D) and m.intercept_.shape == (D,)
    resid = x[order:] - m.predict(x, t0=0)
    # Least squares: residuals orthogonal to every lag regressor.
    for j in range(1, order + 1):
        np.testing.assert_allclose(x[order - j:T - j].T @ resid, 0, atol=1e-9)
    np.testing.assert_allclose(m.sigma_, resid.T @ resid / (T - order), rtol=1e-10)
    assert m.forecast(4).shape == (4, D) and m.simulate(7, seed=seed).shape == (7, D)


def test_exported_from_package():
    assert numbarnn.AutoRegressive is AutoRegressive

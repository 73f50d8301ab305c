"""AutoRegressive as time-series people use it, each checked against statsmodels.

Issue 10 item 3 (time-trend clock ``t0``) and issue 12 items 1-4 and 6 for
AR/VAR: pandas in and out, exogenous inputs, standard errors and intervals,
simulation from a history, save/load and scikit-learn's ``clone``.
statsmodels' datasets (co2, sunspots, macrodata) ship with it.
"""
import os

import numpy as np
import pytest

from numbarnn import AutoRegressive

sm = pytest.importorskip("statsmodels.api")
pd = pytest.importorskip("pandas")
from statsmodels.tsa.ar_model import AutoReg  # noqa: E402
from statsmodels.tsa.api import VAR  # noqa: E402


def _close(a, b, rtol=1e-8, atol=0.0):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _co2():
    """Monthly co2 (Mauna Loa), gaps interpolated, with a monthly DatetimeIndex."""
    s = sm.datasets.co2.load_pandas().data["co2"]
    return s.resample("MS").mean().interpolate()


def _sunspots():
    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=float)


def _macro_frame():
    data = sm.datasets.macrodata.load_pandas().data
    index = pd.period_range("1959Q1", periods=len(data), freq="Q")
    levels = pd.DataFrame(np.log(data[["realgdp", "realcons", "realinv"]].to_numpy(float)),
                          index=index, columns=["realgdp", "realcons", "realinv"])
    return levels.diff().iloc[1:]


# -- issue 10 item 3: a time-trend model knows its clock ---------------------------
def test_time_trend_held_out_predictions_match_statsmodels_apply():
    s = _co2().to_numpy()
    n_train, p = 400, 13  # the split of the report: RMSE 0.36 right, 0.78 restarted
    train = s[:n_train]
    res = AutoReg(train, p, trend="ct").fit()
    m = AutoRegressive(p, trend="ct").fit(train)
    # statsmodels' apply() on the whole series keeps the training clock:
    # its fitted values past the training end are the held-out predictions.
    want = np.asarray(res.apply(s).fittedvalues)[n_train - p:]
    given = s[n_train - p:]
    with pytest.raises(ValueError, match="t0"):
        m.predict(given)
    got = m.predict(given, t0=n_train - p)
    _close(got, want, rtol=1e-10)
    rmse_right = np.sqrt(np.mean((got - s[n_train:]) ** 2))
    rmse_restarted = np.sqrt(np.mean((m.predict(given, t0=0) - s[n_train:]) ** 2))
    assert rmse_right < 0.4 and rmse_restarted > 0.7  # the clock matters on co2
    # log_likelihood of the later slice: Gaussian density of statsmodels' residuals.
    from scipy.stats import norm
    ll = norm(0, np.sqrt(res.sigma2)).logpdf(s[n_train:] - want).sum()
    _close(m.log_likelihood(given, t0=n_train - p), ll, rtol=1e-9)
    with pytest.raises(ValueError, match="t0"):
        m.log_likelihood(given)
    with pytest.raises(ValueError, match="t0"):
        m.aic(given)
    # Forecasting from a given history continues the clock too.
    k = 450
    want_f = np.asarray(res.apply(s[:k]).forecast(12))
    _close(m.forecast(12, history=s[k - 20:k], t0=k - 20), want_f, rtol=1e-10)
    with pytest.raises(ValueError, match="t0"):
        m.forecast(12, history=s[k - 20:k])
    with pytest.raises(TypeError, match="t0"):
        m.predict(given, t0=1.5)
    # The training series is t0=0, and forecasting from its end needs no t0.
    _close(m.predict(train, t0=0), np.asarray(res.fittedvalues), rtol=1e-10)
    _close(m.forecast(5), np.asarray(res.forecast(5)), rtol=1e-10)


def test_models_without_time_trend_ignore_t0():
    y = _sunspots()
    m = AutoRegressive(2).fit(y[:200])
    _close(m.predict(y[150:], t0=150), m.predict(y[150:]), rtol=0)
    _close(m.forecast(4, history=y[:250], t0=0), m.forecast(4, history=y[:250]), rtol=0)
    with pytest.raises(ValueError, match="t0: only meaningful with history"):
        m.forecast(4, t0=10)


# -- issue 12 item 1: pandas in, pandas out ------------------------------------------
def test_pandas_series_in_and_out_matches_statsmodels_index():
    s = _co2()[:300]
    res = AutoReg(s, 2).fit()
    m = AutoRegressive(2).fit(s)
    pred = m.predict(s)
    assert isinstance(pred, pd.Series) and pred.name == "co2"
    pd.testing.assert_index_equal(pred.index, res.fittedvalues.index)
    _close(pred, res.fittedvalues, rtol=1e-10)
    f = m.forecast(6)
    want = res.forecast(6)
    assert isinstance(f, pd.Series) and f.name == "co2"
    pd.testing.assert_index_equal(f.index, want.index)
    assert f.index.freqstr == "MS"
    _close(f, want, rtol=1e-10)
    # a history continues its own index
    fh = m.forecast(3, history=s[:100])
    assert fh.index[0] == s.index[100]
    # numpy in stays numpy out
    assert type(m.predict(s.to_numpy())) is np.ndarray
    assert type(AutoRegressive(2).fit(s.to_numpy()).forecast(3)) is np.ndarray


def test_pandas_dataframe_var_keeps_columns_and_period_index():
    d = _macro_frame()
    res = VAR(d).fit(2)
    m = AutoRegressive(2).fit(d)
    pred = m.predict(d)
    assert list(pred.columns) == list(d.columns)
    pd.testing.assert_index_equal(pred.index, d.index[2:])
    _close(pred, res.fittedvalues, rtol=1e-10)
    f = m.forecast(4)
    assert list(f.columns) == list(d.columns)
    assert list(f.index.astype(str)) == ["2009Q4", "2010Q1", "2010Q2", "2010Q3"]
    _close(f, res.forecast(d.to_numpy()[-2:], 4), rtol=1e-10)
    assert m.param_names_[:4] == ["const", "L1.realgdp", "L1.realcons", "L1.realinv"]


# -- issue 12 item 2: exogenous inputs ---------------------------------------------------
def test_arx_matches_autoreg_exog():
    y = _sunspots()
    X = np.random.default_rng(0).standard_normal((len(y) + 7, 2)) * [1.0, 10.0]
    n = len(y)
    for trend in ("n", "c", "ct"):
        res = AutoReg(y, 3, trend=trend, exog=X[:n]).fit()
        m = AutoRegressive(3, trend=trend).fit(y, exog=X[:n])
        _close(m.params_, res.params, rtol=1e-8)
        _close(m.exog_coef_, res.params[-2:], rtol=1e-8)
        _close(m.llf_, res.llf, rtol=1e-10)
        _close(m.predict(y, exog=X[:n], t0=0), res.fittedvalues, rtol=1e-10)
        _close(m.forecast(7, exog=X[n:]), res.forecast(7, exog=X[n:]), rtol=1e-10)
        assert m.n_params == res.df_model + 1
        _close(m.aic(y, exog=X[:n], t0=0), res.aic, rtol=1e-10)
    assert m.param_names_ == ["const", "trend", "y.L1", "y.L2", "y.L3", "x1", "x2"]


def test_pandas_exog_names_and_alignment():
    s = _co2()[:200]
    X = pd.DataFrame({"sin": np.sin(np.arange(203) / 2.0), "lin": np.arange(203) % 7},
                     index=pd.date_range(s.index[0], periods=203, freq="MS"))
    res = AutoReg(s, 2, exog=X[:200]).fit()
    m = AutoRegressive(2).fit(s, exog=X[:200])
    assert m.param_names_ == list(res.params.index) == ["const", "co2.L1", "co2.L2", "sin",
                                                        "lin"]
    _close(m.params_, res.params, rtol=1e-8)
    f = m.forecast(3, exog=X[200:])
    want = res.forecast(3, exog=X[200:])
    pd.testing.assert_index_equal(f.index, want.index)
    _close(f, want, rtol=1e-10)
    with pytest.raises(ValueError, match="exog: its index does not match"):
        AutoRegressive(2).fit(s, exog=X[3:203])
    with pytest.raises(ValueError, match="exog: its index does not match"):
        m.forecast(3, exog=X[197:200])
    with pytest.raises(ValueError, match="exog: its index does not match"):
        m.predict(s, exog=X[1:201])


def test_exog_errors_are_clear():
    y = _sunspots()
    X = np.ones((len(y), 1)) + np.arange(len(y))[:, None] % 3
    m = AutoRegressive(2).fit(y, exog=X)
    with pytest.raises(ValueError, match="exog.*fitted with 1 exogenous"):
        m.forecast(3)
    with pytest.raises(ValueError, match=r"exog: expected 3 row"):
        m.forecast(3, exog=X[:2])
    with pytest.raises(ValueError, match=r"exog: expected 1 column"):
        m.forecast(3, exog=np.ones((3, 2)))
    with pytest.raises(ValueError, match="exog"):
        m.predict(y)
    with pytest.raises(ValueError, match="without exog"):
        AutoRegressive(2).fit(y).forecast(3, exog=X[:3])
    with pytest.raises(ValueError, match="exog: expected 309 row"):
        AutoRegressive(2).fit(y, exog=X[:10])
    with pytest.raises(TypeError, match="exog"):
        AutoRegressive(2).fit(y, exog=np.array(["a"] * len(y)))
    with pytest.raises(ValueError, match="history"):
        m.simulate(5, seed=0)


def test_varx_matches_statsmodels_var_exog():
    d = _macro_frame().to_numpy()
    X = np.random.default_rng(1).standard_normal((len(d) + 3, 2))
    n = len(d)
    for trend in ("c", "ct"):
        res = VAR(d, exog=X[:n]).fit(2, trend=trend)
        m = AutoRegressive(2, trend=trend).fit(d, exog=X[:n])
        _close(m.params_, res.params, rtol=1e-8)
        _close(m.bse_, res.bse, rtol=1e-6)
        _close(m.sigma_u_, res.sigma_u, rtol=1e-8)
        _close(m.forecast(3, exog=X[n:]), res.forecast(d[-2:], 3, exog_future=X[n:]),
               rtol=1e-8)
        f = m.forecast(3, exog=X[n:], alpha=0.1)
        _, lo, hi = res.forecast_interval(d[-2:], 3, alpha=0.1, exog_future=X[n:])
        _close(f.lower, lo, rtol=1e-6)
        _close(f.upper, hi, rtol=1e-6)


# -- issue 12 item 3: inference and uncertainty ----------------------------------------------
@pytest.mark.parametrize("trend", ["n", "c", "ct"])
def test_standard_errors_match_autoreg(trend):
    y = _sunspots()
    res = AutoReg(y, 4, trend=trend).fit()
    m = AutoRegressive(4, trend=trend).fit(y)
    _close(m.params_, res.params, rtol=1e-8)
    _close(m.bse_, res.bse, rtol=1e-6)
    _close(m.tvalues_, res.tvalues, rtol=1e-6)
    _close(m.pvalues_, res.pvalues, rtol=1e-6, atol=1e-300)
    for alpha in (0.05, 0.2):
        _close(m.conf_int(alpha), res.conf_int(alpha), rtol=1e-6)
    assert m.param_names_ == list(res.model.exog_names)


def _summary_rows(text, names):
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0] in names:
            rows.setdefault(parts[0], []).append([float(v) for v in parts[1:]])
    return rows


def test_summary_numbers_match_autoreg_summary():
    y = _sunspots()
    res = AutoReg(y, 2, trend="ct").fit()
    text = AutoRegressive(2, trend="ct").fit(y).summary()
    theirs = _summary_rows(str(res.summary()), res.model.exog_names)
    ours = _summary_rows(text, res.model.exog_names)
    assert ours.keys() == theirs.keys() and len(ours) == 4
    for name in ours:  # the same numbers at the printed precision
        np.testing.assert_allclose(ours[name], theirs[name], atol=6e-4)
    assert f"{res.llf:.3f}" in text and f"{res.aic:.3f}" in text and f"{res.bic:.3f}" in text


def test_var_inference_matches_varresults():
    from scipy.stats import norm

    d = _macro_frame().to_numpy()
    res = VAR(d).fit(3)
    m = AutoRegressive(3).fit(d)
    _close(m.params_, res.params, rtol=1e-8)
    _close(m.bse_, res.bse, rtol=1e-6)
    _close(m.tvalues_, res.tvalues, rtol=1e-6)
    _close(m.pvalues_, res.pvalues, rtol=1e-6)
    _close(m.sigma_u_, res.sigma_u, rtol=1e-8)
    z = norm.ppf(0.95)
    ci = m.conf_int(0.1)
    assert ci.shape == (1 + 3 * 3, 3, 2)
    _close(ci[..., 0], res.params - z * res.bse, rtol=1e-6)
    _close(ci[..., 1], res.params + z * res.bse, rtol=1e-6)
    assert m.param_names_ == list(res.model.exog_names)
    text = m.summary()
    assert "Equation y3" in text and "Correlation matrix of residuals" in text
    rows = _summary_rows(text, m.param_names_)
    row = m.param_names_.index("L2.y2")
    np.testing.assert_allclose([r[1] for r in rows["L2.y2"]], res.bse[row], atol=6e-7)


@pytest.mark.parametrize("trend", ["c", "ct"])
def test_forecast_intervals_match_get_prediction(trend):
    y = _sunspots()
    n, h = len(y), 10
    res = AutoReg(y, 3, trend=trend).fit()
    m = AutoRegressive(3, trend=trend).fit(y)
    for alpha in (0.05, 0.32):
        frame = res.get_prediction(n, n + h - 1, dynamic=True).summary_frame(alpha=alpha)
        f = m.forecast(h, alpha=alpha)
        assert f._fields == ("mean", "lower", "upper")
        _close(f.mean, frame["mean"], rtol=1e-10)
        _close(f.lower, frame["mean_ci_lower"], rtol=1e-6)
        _close(f.upper, frame["mean_ci_upper"], rtol=1e-6)
    plain = m.forecast(h)
    assert type(plain) is np.ndarray and plain.shape == (h,)
    with pytest.raises(ValueError, match="alpha"):
        m.forecast(3, alpha=1.5)
    with pytest.raises(TypeError, match="alpha"):
        m.forecast(3, alpha="0.05")


def test_forecast_intervals_pandas_and_var():
    s = _co2()[:200]
    f = AutoRegressive(2).fit(s).forecast(4, alpha=0.05)
    want = AutoReg(s, 2).fit().get_prediction(200, 203, dynamic=True).summary_frame()
    for part in f:
        assert isinstance(part, pd.Series) and part.name == "co2"
        pd.testing.assert_index_equal(part.index, want.index)
    _close(f.upper, want["mean_ci_upper"], rtol=1e-6)
    d = _macro_frame()
    res = VAR(d.to_numpy()).fit(2)
    g = AutoRegressive(2).fit(d).forecast(5, alpha=0.05)
    mean, lo, hi = res.forecast_interval(d.to_numpy()[-2:], 5, alpha=0.05)
    assert list(g.lower.columns) == list(d.columns)
    _close(g.mean, mean, rtol=1e-10)
    _close(g.lower, lo, rtol=1e-6)
    _close(g.upper, hi, rtol=1e-6)


def test_simulate_from_history():
    y = _sunspots()
    n, h = len(y), 4
    m = AutoRegressive(2).fit(y)
    hist = y[:150]
    a = m.simulate(h, seed=3, history=hist)
    np.testing.assert_array_equal(a, m.simulate(h, seed=3, history=hist))
    assert a.shape == (h,)
    # Paths from the end of the data: their mean and spread are the forecast's
    # (statsmodels' analytic intervals; Monte Carlo tolerance).
    rng = np.random.default_rng(0)
    paths = np.array([m.simulate(h, seed=rng, history=y) for _ in range(4000)])
    frame = AutoReg(y, 2).fit().get_prediction(n, n + h - 1, dynamic=True).summary_frame()
    np.testing.assert_allclose(paths.mean(0), frame["mean"], atol=4 * frame["mean_se"].max()
                               / np.sqrt(4000))
    np.testing.assert_allclose(paths.std(0), frame["mean_se"], rtol=0.05)
    # a time-trend model needs the history's place on the clock
    mt = AutoRegressive(2, trend="ct").fit(y)
    with pytest.raises(ValueError, match="t0"):
        mt.simulate(3, seed=0, history=hist)
    s = pd.Series(y, index=pd.RangeIndex(1700, 1700 + n))
    out = AutoRegressive(2).fit(s).simulate(3, seed=0, history=s)
    assert list(out.index) == [1700 + n, 1701 + n, 1702 + n]


# -- issue 12 items 4 and 6: saving, scikit-learn ---------------------------------------------
@pytest.mark.parametrize("case", ["ar", "ct-exog", "var-exog", "order0"])
def test_save_load_round_trip_is_bit_identical(tmp_path, case):
    import numbarnn

    y, d = _sunspots(), _macro_frame()
    X = np.random.default_rng(2).standard_normal((len(y) + 5, 2))
    Xd = X[:len(d) + 5]
    if case == "ar":
        m, fut, kw = AutoRegressive(3).fit(y), None, {}
    elif case == "ct-exog":
        m, fut, kw = AutoRegressive(2, "ct").fit(y, exog=X[:-5]), X[-5:], {"t0": 0}
    elif case == "var-exog":
        m, fut, kw = AutoRegressive(2).fit(d, exog=Xd[:-5]), Xd[-5:], {}
    else:
        m, fut, kw = AutoRegressive(0, "c").fit(y), None, {}
    path = os.path.join(tmp_path, "ar.npz")
    m.save(path)
    for again in (AutoRegressive.load(path), numbarnn.nn.load(path)):
        assert type(again) is AutoRegressive and again.get_params() == m.get_params()
        f0, f1 = m.forecast(5, exog=fut, alpha=0.05), again.forecast(5, exog=fut, alpha=0.05)
        for a, b in zip(f0, f1):
            np.testing.assert_array_equal(np.asarray(a), b)
        for name in ("params_", "bse_", "pvalues_", "coef_", "intercept_"):
            np.testing.assert_array_equal(getattr(again, name), getattr(m, name))
        assert again.llf_ == m.llf_ and again.summary() == m.summary()
        data = y if case != "var-exog" else d.to_numpy()
        ex = None if fut is None else (X[:-5] if case == "ct-exog" else Xd[:-5])
        np.testing.assert_array_equal(again.predict(data, exog=ex, **kw),
                                      np.asarray(m.predict(data, exog=ex, **kw)))


def test_load_state_dict_validates():
    y = _sunspots()
    state = AutoRegressive(2).fit(y).state_dict()
    with pytest.raises(ValueError, match="order=3"):
        AutoRegressive(3).load_state_dict(state)
    with pytest.raises(ValueError, match="coef"):
        AutoRegressive(2, trend="ct").load_state_dict(state)
    bad = dict(state, coef=state["coef"].astype(np.float32))
    with pytest.raises(TypeError, match="coef"):
        AutoRegressive(2).load_state_dict(bad)
    with pytest.raises(ValueError, match="keys"):
        AutoRegressive(2).load_state_dict({k: v for k, v in state.items() if k != "last"})
    with pytest.raises(ValueError, match="NaN"):
        AutoRegressive(2).load_state_dict(dict(state, sigma=np.full((1, 1), np.nan)))


def test_sklearn_clone():
    base = pytest.importorskip("sklearn.base")
    y = _sunspots()
    m = AutoRegressive(3, trend="ct").fit(y)
    c = base.clone(m)
    assert type(c) is AutoRegressive and c.get_params() == {"order": 3, "trend": "ct"}
    assert not hasattr(c, "coef_")
    _close(c.fit(y).coef_, m.coef_, rtol=0)
    c.set_params(order=1)
    assert c.fit(y).coef_.shape == (1,)


def test_pickle_and_deepcopy_of_a_pandas_fit():
    import copy
    import pickle

    s = _co2()[:120]
    m = AutoRegressive(2).fit(s)
    for again in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        f = again.forecast(3)
        pd.testing.assert_series_equal(f, m.forecast(3))

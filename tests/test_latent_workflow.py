"""LatentAR in a time-series workflow: forecasts that follow the parameters,
option checks, pandas in/out, covariates, intervals, save/load, warm starts,
scikit-learn's protocol and streaming updates (issues 10 and 12).

Oracles: the model's own numpy path on the same weights (pandas results
must carry exactly those values), pandas' own index arithmetic, scipy's
normal quantiles, numpy quantiles of the sample paths, and plain numpy
re-runs of the layer and readout.
"""
import numpy as np
import pytest

from numbarnn import LatentAR, datasets
from numbarnn.train import Adam


@pytest.fixture(scope="module")
def x():
    return datasets.noisy_sine(160, noise=0.1, seed=0)


def _fit(data, cell="gru", h=5, epochs=3, **kw):
    fit_kw = {k: kw.pop(k) for k in ("exog", "window") if k in kw}
    return LatentAR(cell, h, seed=0, **kw).fit(data, epochs=epochs, progress=False,
                                               **fit_kw)


# -- issue 10 item 2: forecast(n) follows the current parameters ------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forecast_reflects_training_after_fit(x, cell):
    m = _fit(x, cell)
    before = m.forecast(10)
    opt = Adam(m, lr=0.05)
    for _ in range(5):
        m.zero_grad()
        m.loss_and_grad(x)
        opt.step()
    after = m.forecast(10)
    assert np.abs(after - before).max() > 1e-3  # the parameters did move
    np.testing.assert_array_equal(after, m.forecast(10, history=x))
    # an in-place edit of one weight is seen too
    m.readout_.params["bias"][0] += 0.5
    np.testing.assert_array_equal(m.forecast(10), m.forecast(10, history=x))


# -- issue 10 items 4 and 13: real booleans, clean dtype errors -----------------
@pytest.mark.parametrize("kw", [{"reset_after": "False"}, {"reset_after": 0},
                                {"warm_start": "yes"}, {"warm_start": 1}])
def test_boolean_options_reject_non_booleans(kw):
    with pytest.raises(TypeError, match=next(iter(kw))):
        LatentAR("gru", 3, **kw)


def test_boolean_options_accept_numpy_bools_and_check_call_flags(x):
    m = LatentAR("gru", 3, reset_after=np.bool_(True), warm_start=np.bool_(False), seed=0)
    m.fit(x[:30], epochs=1, progress=np.bool_(False))
    assert m.layer_.reset_after
    with pytest.raises(TypeError, match="progress"):
        m.fit(x[:30], epochs=1, progress="False")
    with pytest.raises(TypeError, match="return_std"):
        m.predict(x[:30], return_std=1)
    m.set_params(reset_after="True")
    with pytest.raises(TypeError, match="reset_after"):
        m.fit(x[:30], epochs=1, progress=False)


@pytest.mark.parametrize("dtype", ["floaty", None, np.int64, "int32", True, object, "c16"])
def test_bad_dtype_is_a_clean_error(dtype):
    with pytest.raises(TypeError, match="dtype"):
        LatentAR(dtype=dtype)


def test_dtype_strings_work(x):
    m = LatentAR("rnn", 3, dtype="float32", seed=0).fit(x[:40], epochs=1, progress=False)
    assert m.layer_.dtype == np.float32 and m.get_params()["dtype"] == "float32"


# -- issue 12 item 1: pandas in and out ------------------------------------------
def test_pandas_series_matches_numpy_and_continues_a_datetime_index(x):
    pd = pytest.importorskip("pandas")
    idx = pd.date_range("2000-01-01", periods=x.size, freq="MS")
    s = pd.Series(x, index=idx, name="y")
    mp, mn = _fit(s), _fit(x)
    np.testing.assert_array_equal(mp.layer_.params["weight_hh_l0"],
                                  mn.layer_.params["weight_hh_l0"])
    pred = mp.predict(s)
    assert isinstance(pred, pd.Series) and pred.index.equals(idx) and pred.name == "y"
    np.testing.assert_array_equal(pred.to_numpy(), mn.predict(x))
    mean, std = mp.predict(s[100:], history=s[:100], return_std=True)
    assert mean.index.equals(idx[100:]) and std.index.equals(idx[100:])
    assert mp.log_likelihood(s) == mn.log_likelihood(x)
    f = mp.forecast(5)
    want = pd.date_range(idx[-1] + pd.DateOffset(months=1), periods=5, freq="MS")
    assert isinstance(f, pd.Series) and f.index.equals(want) and f.name == "y"
    np.testing.assert_array_equal(f.to_numpy(), mn.forecast(5))
    np.testing.assert_array_equal(mn.forecast(5, history=s).index, want)


def test_pandas_dataframe_columns_and_lists(x):
    pd = pytest.importorskip("pandas")
    X = np.c_[x, np.cos(0.2 * np.arange(x.size))]
    df = pd.DataFrame(X, columns=["a", "b"])  # RangeIndex
    mp, mn = _fit(df), _fit(X)
    f = mp.forecast(4)
    assert list(f.columns) == ["a", "b"] and list(f.index) == [160, 161, 162, 163]
    np.testing.assert_array_equal(f.to_numpy(), mn.forecast(4))
    with pytest.raises(ValueError, match="columns"):
        mp.predict(df[["b", "a"]])
    parts = [df.iloc[:70], df.iloc[70:]]
    ml, mnl = _fit(parts), _fit([X[:70], X[70:]])
    preds = ml.predict(parts)
    assert [p.index.equals(q.index) for p, q in zip(preds, parts)] == [True, True]
    np.testing.assert_array_equal(preds[1].to_numpy(), mnl.predict([X[:70], X[70:]])[1])
    assert ml.log_likelihood(parts) == pytest.approx(mnl.log_likelihood([X[:70], X[70:]]),
                                                     rel=1e-15)


def test_pandas_categorical_series():
    pd = pytest.importorskip("pandas")
    seq = pd.Series(np.tile([0, 1, 2, 1], 20), index=pd.RangeIndex(10, 90))
    m = LatentAR("gru", 4, readout="categorical", seed=0).fit(seq, epochs=2, progress=False)
    n = LatentAR("gru", 4, readout="categorical", seed=0).fit(seq.to_numpy(), epochs=2,
                                                              progress=False)
    proba = m.predict(seq)
    assert isinstance(proba, pd.DataFrame) and proba.index.equals(seq.index)
    np.testing.assert_array_equal(proba.to_numpy(), n.predict(seq.to_numpy()))
    assert list(m.forecast(3).index) == [90, 91, 92]


def test_pandas_index_that_cannot_continue_is_refused(x):
    pd = pytest.importorskip("pandas")
    s = pd.Series(x[:20], index=pd.Index(list("abcdefghijklmnopqrst")))
    m = _fit(s, epochs=1)
    assert m.predict(s).index.equals(s.index)
    with pytest.raises(ValueError, match="index"):
        m.forecast(3)


# -- issue 12 item 2: covariates ---------------------------------------------------
def _exog_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, 2))
    y = 0.3 * np.sin(0.2 * np.arange(n)) + 2.0 * u[:, 0] - u[:, 1] \
        + 0.05 * rng.standard_normal(n)
    return y, u


def test_exog_joins_the_inputs_as_plain_numpy_computes_it():
    y, u = _exog_data(80)
    m = _fit(y, "lstm", exog=u)
    assert m.n_exog_ == 2 and m.layer_.input_size == 3
    z = (y - m.mean_) / m.scale_
    inputs = np.c_[np.r_[0.0, z[:-1]], (u - u.mean(0)) / u.std(0)]
    h, _ = m.layer_.forward(inputs[:, None], keep_cache=False)
    out = h[:, 0] @ m.readout_.params["weight"].T + m.readout_.params["bias"]
    np.testing.assert_allclose(m.predict(y, exog=u), m.mean_ + m.scale_ * out[:, 0],
                               rtol=1e-12)


def test_exog_helps_where_the_series_depends_on_it():
    y, u = _exog_data()
    with_u = LatentAR("gru", 8, seed=0).fit(y[:250], exog=u[:250], window=50, epochs=40,
                                            progress=False)
    without = LatentAR("gru", 8, seed=0).fit(y[:250], window=50, epochs=40, progress=False)
    err_u = with_u.predict(y[250:], history=y[:250], exog=u[250:], history_exog=u[:250])
    err = without.predict(y[250:], history=y[:250])
    rmse_u = np.sqrt(np.mean((err_u - y[250:]) ** 2))
    rmse = np.sqrt(np.mean((err - y[250:]) ** 2))
    assert rmse_u < 0.5 * rmse


def test_exog_forecast_feeds_means_with_future_covariates_and_errors():
    y, u = _exog_data(100)
    m = _fit(y[:90], "gru", exog=u[:90])
    f = m.forecast(4, exog=u[90:94])
    # the mean path: each step is the one-step prediction after the previous means
    for k in range(4):
        p = m.predict(np.r_[y[:90], f[:k + 1]], exog=u[:91 + k])
        assert p[-1] == pytest.approx(f[k], rel=1e-10)
    np.testing.assert_array_equal(m.forecast(4, exog=u[90:]), f)  # extra rows unused
    with pytest.raises(ValueError, match="exog.*exogenous"):
        m.forecast(4)
    with pytest.raises(ValueError, match="at least 4 row"):
        m.forecast(4, exog=u[90:92])
    with pytest.raises(ValueError, match="2 column"):
        m.forecast(4, exog=u[90:94, :1])
    with pytest.raises(ValueError, match="history_exog"):
        m.forecast(4, history=y[:50], exog=u[90:94])
    with pytest.raises(ValueError, match="exog"):
        m.predict(y[:90])
    with pytest.raises(ValueError, match="90 row"):
        m.predict(y[:90], exog=u[:89])
    with pytest.raises(ValueError, match="without exogenous"):
        _fit(y, epochs=1).predict(y, exog=u)


# -- issue 12 item 3: forecast intervals --------------------------------------------
def test_forecast_interval_namedtuple(x):
    stats = pytest.importorskip("scipy.stats")
    m = _fit(x, "lstm", epochs=5)
    fc = m.forecast(6, alpha=0.1, n_paths=400, seed=3)
    assert type(fc).__name__ == "Forecast" and fc._fields == ("mean", "lower", "upper")
    np.testing.assert_array_equal(fc.mean, m.forecast(6))
    # step 1 is exactly Gaussian: the analytic interval
    mu, sd = m.predict(np.r_[x, 0.0], return_std=True)
    z = stats.norm.ppf(0.95)
    assert fc.lower[0] == pytest.approx(mu[-1] - z * sd[-1], rel=1e-12)
    assert fc.upper[0] == pytest.approx(mu[-1] + z * sd[-1], rel=1e-12)
    # later steps: quantiles of the very sample paths forecast(n_paths=) draws
    _, paths = m.forecast(6, n_paths=400, seed=3)
    np.testing.assert_allclose(fc.lower[1:], np.quantile(paths, 0.05, axis=0)[1:], rtol=1e-12)
    np.testing.assert_allclose(fc.upper[1:], np.quantile(paths, 0.95, axis=0)[1:], rtol=1e-12)
    assert np.all(fc.lower < fc.upper)


def test_forecast_interval_pandas_and_errors(x):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.c_[x, -x], columns=["p", "q"],
                      index=pd.period_range("1990-01", periods=x.size, freq="M"))
    m = _fit(df)
    fc = m.forecast(3, alpha=0.2, seed=0)
    for part in fc:
        assert list(part.columns) == ["p", "q"]
        assert part.index.equals(pd.period_range("2003-05", periods=3, freq="M"))
    for bad in (0.0, 1.0, True, "0.1", -0.5):
        with pytest.raises(ValueError, match="alpha"):
            m.forecast(3, alpha=bad)
    c = LatentAR("gru", 3, readout="categorical", seed=0).fit([0, 1] * 10, epochs=1,
                                                             progress=False)
    with pytest.raises(ValueError, match="alpha.*categorical"):
        c.forecast(3, alpha=0.1)


# -- issue 12 item 4: save and load --------------------------------------------------
@pytest.mark.parametrize("cell,dtype", [("lstm", np.float64), ("gru", np.float32),
                                        ("rnn", np.float64)])
def test_save_load_forecasts_bit_identically(tmp_path, x, cell, dtype):
    m = LatentAR(cell, 4, num_layers=2, seed=0, dtype=dtype).fit(x[:120], epochs=2,
                                                                 progress=False)
    m.update(x[120:])
    path = tmp_path / "m.npz"
    m.save(path)
    r = LatentAR.load(path)
    assert r.get_params() == {**m.get_params(), "dtype": np.dtype(dtype).name}
    np.testing.assert_array_equal(r.forecast(20), m.forecast(20))
    np.testing.assert_array_equal(r.forecast(5, n_paths=3, seed=1)[1],
                                  m.forecast(5, n_paths=3, seed=1)[1])
    np.testing.assert_array_equal(r.predict(x), m.predict(x))
    assert r.log_likelihood(x) == m.log_likelihood(x)
    np.testing.assert_array_equal(r.sample(8, seed=2), m.sample(8, seed=2))


def test_save_load_exog_categorical_and_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    y, u = _exog_data(60)
    s = pd.Series(y, index=pd.date_range("2020-01-01", periods=60, freq="D"), name="load")
    m = _fit(s, "lstm", exog=u)
    m.save(tmp_path / "e.npz")
    r = LatentAR.load(tmp_path / "e.npz")
    fu = np.ones((3, 2))
    pd.testing.assert_series_equal(r.forecast(3, exog=fu), m.forecast(3, exog=fu))
    c = LatentAR("gru", 3, readout="categorical", seed=0).fit([0, 1, 2, 0] * 10, epochs=2,
                                                             progress=False)
    c.save(tmp_path / "c.npz")
    np.testing.assert_array_equal(LatentAR.load(tmp_path / "c.npz").forecast(4), c.forecast(4))
    LatentAR("gru", 3).save(tmp_path / "unfitted.npz")
    assert not hasattr(LatentAR.load(tmp_path / "unfitted.npz"), "layer_")


def test_load_state_dict_checks_before_changing(x):
    m = _fit(x, "gru")
    sd = m.state_dict()
    other = LatentAR("gru", 6)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(sd)
    assert not hasattr(other, "layer_")
    bad = dict(sd, end_u=sd["end_u"].astype(np.float32))
    with pytest.raises(TypeError, match="end_u"):
        LatentAR("gru", 5).load_state_dict(bad)
    bad = dict(sd)
    del bad["mean_"]
    with pytest.raises(ValueError, match="missing"):
        LatentAR("gru", 5).load_state_dict(bad)


# -- issue 12 item 5: warm start ----------------------------------------------------
def test_warm_start_continues_from_the_fitted_weights(x):
    warm = LatentAR("gru", 6, seed=0, warm_start=True).fit(x, window=40, epochs=30,
                                                           progress=False)
    fitted = {k: v.copy() for k, v in warm.params.items()}
    ll_first = warm.log_likelihood(x)
    warm.fit(x, epochs=0, progress=False)
    for k, v in warm.params.items():
        np.testing.assert_array_equal(v, fitted[k])
    warm.fit(x, window=40, epochs=5, lr=0.002, progress=False)
    assert warm.log_likelihood(x) > ll_first - 5.0  # not thrown away
    cold = LatentAR("gru", 6, seed=0).fit(x, window=40, epochs=30, progress=False)
    cold.fit(x, epochs=0, progress=False)
    fresh = LatentAR("gru", 6, seed=0).fit(x, epochs=0, progress=False)
    for k, v in cold.params.items():
        np.testing.assert_array_equal(v, fresh.params[k])
    assert cold.log_likelihood(x) < ll_first - 50.0
    warm.set_params(hidden_size=4)
    with pytest.raises(ValueError, match="warm_start"):
        warm.fit(x, epochs=1, progress=False)


# -- issue 12 item 6: scikit-learn's protocol ------------------------------------------
def test_get_set_params_and_sklearn_clone(x):
    base = pytest.importorskip("sklearn.base")
    m = LatentAR("gru", 5, num_layers=2, reset_after=True, seed=3, warm_start=True)
    params = m.get_params()
    assert params["hidden_size"] == 5 and params["reset_after"] is True
    assert params["warm_start"] is True and params["dtype"] is np.float64
    assert m.set_params(hidden_size=7, cell="lstm") is m and m.hidden_size == 7
    with pytest.raises(ValueError, match="unknown"):
        m.set_params(hiden_size=3)
    m.fit(x[:50], epochs=1, progress=False)
    c = base.clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "layer_")
    c.fit(x[:50], epochs=1, progress=False)
    np.testing.assert_array_equal(c.predict(x[:50]), m.predict(x[:50]))


# -- issue 12 item 9: streaming updates ------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_update_then_forecast_equals_forecast_from_the_whole_history(x, cell):
    A, B = x[:100], x[100:]
    m = _fit(A, cell)
    m.update(B[:20]).update(B[20:])
    np.testing.assert_array_equal(m.forecast(15), m.forecast(15, history=x))
    # after more training the end state is recomputed over A and B
    opt = Adam(m, lr=0.05)
    m.zero_grad()
    m.loss_and_grad(x)
    opt.step()
    np.testing.assert_array_equal(m.forecast(15), m.forecast(15, history=x))


def test_update_with_exog_and_pandas():
    pd = pytest.importorskip("pandas")
    y, u = _exog_data(100)
    idx = pd.date_range("2021-01-01", periods=100, freq="h")
    s = pd.Series(y, index=idx)
    m = _fit(s[:70], "lstm", exog=u[:70])
    m.update(s[70:90], exog=u[70:90])
    m.update(y[90:], exog=u[90:])  # numpy rows continue the index
    f = m.forecast(3, exog=u[:3])
    assert f.index.equals(pd.date_range(idx[-1] + pd.Timedelta(hours=1), periods=3, freq="h"))
    np.testing.assert_array_equal(f.to_numpy(),
                                  m.forecast(3, history=y, history_exog=u, exog=u[:3]))
    with pytest.raises(ValueError, match="exog"):
        m.update(y[:5])


# -- issue 11 item 4: the closed loop does not re-validate per step -----------------------
def test_forecast_and_sample_check_the_weights_once_not_per_step(x, monkeypatch):
    from numbarnn.functional import lstm as lstm_module
    from numbarnn.nn import _fast_step
    m = _fit(x, "lstm")
    want, paths = m.forecast(12), m.sample(12, seed=0)
    checks, plans = [], []
    real_check, real_plan = lstm_module.check_weights, _fast_step.StepPlan.__init__
    monkeypatch.setattr(lstm_module, "check_weights",
                        lambda *a: checks.append(1) or real_check(*a))
    monkeypatch.setattr(_fast_step.StepPlan, "__init__",
                        lambda *a, **k: plans.append(1) or real_plan(*a, **k))
    np.testing.assert_array_equal(m.forecast(12), want)
    np.testing.assert_array_equal(m.sample(12, seed=0), paths)
    # the layer's streaming path, whose plan was made by the first forecast
    assert not checks and not plans
    m.layer_.params["weight_hh_l0"] = m.layer_.params["weight_hh_l0"].copy()
    np.testing.assert_array_equal(m.forecast(12), want)
    assert not checks and len(plans) == 1          # a replaced array: a new plan, once
    m.readout_.params["weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.forecast(3)


def test_grid_search_with_a_time_series_split(x):
    ms = pytest.importorskip("sklearn.model_selection")
    grid = ms.GridSearchCV(LatentAR("gru", seed=0), {"hidden_size": [2, 6]},
                           cv=ms.TimeSeriesSplit(n_splits=2))
    grid.fit(x, epochs=2, progress=False)
    assert grid.best_params_["hidden_size"] in (2, 6)
    # the score is the held-out mean log-likelihood
    split = list(ms.TimeSeriesSplit(n_splits=2).split(x))[0]
    m = LatentAR("gru", 2, seed=0).fit(x[split[0]], epochs=2, progress=False)
    assert grid.cv_results_["split0_test_score"][0] == pytest.approx(
        m.log_likelihood(x[split[1]]) / len(split[1]), rel=1e-12)


def test_a_failed_refit_leaves_the_model_as_it_was(x):
    m = _fit(x, "gru")
    want = m.forecast(5)
    with pytest.raises(ValueError, match="window"):
        m.fit(10.0 * np.c_[x, x], window=0, progress=False)
    assert m.n_features_ == 1
    np.testing.assert_array_equal(m.forecast(5), want)


def test_saved_pandas_index_with_time_zone_or_inferred_frequency(tmp_path, x):
    pd = pytest.importorskip("pandas")
    berlin = pd.date_range("2020-03-01", periods=x.size, freq="D", tz="Europe/Berlin")
    weekly = pd.DatetimeIndex(pd.date_range("2020-01-05", periods=x.size, freq="W").to_numpy())
    assert weekly.freq is None  # a frequency pandas must infer
    for index, want in ((berlin, pd.date_range(berlin[-1], periods=4, freq="D")[1:]),
                        (weekly, pd.date_range(weekly[-1], periods=4, freq="W")[1:])):
        m = _fit(pd.Series(x, index=index), epochs=1)
        assert m.forecast(3).index.equals(want)
        m.save(tmp_path / "m.npz")
        pd.testing.assert_series_equal(LatentAR.load(tmp_path / "m.npz").forecast(3),
                                       m.forecast(3))


def test_a_model_fitted_on_pandas_pickles_and_deep_copies(x):
    pd = pytest.importorskip("pandas")
    import copy
    import pickle
    m = _fit(pd.Series(x, index=pd.date_range("2001-01-01", periods=x.size, freq="D")))
    for r in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        pd.testing.assert_series_equal(r.forecast(4), m.forecast(4))


@pytest.mark.parametrize("readout", ["gaussian", "categorical"])
def test_exog_gradient_against_finite_differences(readout):
    y, u = _exog_data(40)
    data = y if readout == "gaussian" else (y > 0).astype(int)
    m = LatentAR("lstm", 3, readout=readout, seed=0).fit(data, exog=u, epochs=1,
                                                        progress=False)
    m.zero_grad()
    loss = m.loss_and_grad(data, exog=u)
    assert loss == pytest.approx(-m.log_likelihood(data, exog=u), rel=1e-12)
    w, g = m.params["layer.weight_ih_l0"], m.grads["layer.weight_ih_l0"]
    for i, j in [(0, 1), (5, 2), (11, 1), (7, 0)]:  # columns 1, 2: the covariates
        old, eps = w[i, j], 1e-6
        w[i, j] = old + eps
        up = -m.log_likelihood(data, exog=u)
        w[i, j] = old - eps
        down = -m.log_likelihood(data, exog=u)
        w[i, j] = old
        assert g[i, j] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


def test_update_categorical_with_exog_then_save(tmp_path):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((120, 1))
    s = (u[:, 0] > 0).astype(int) + np.tile([0, 2], 60) % 3
    m = LatentAR("lstm", 4, readout="categorical", seed=0).fit(s[:90], exog=u[:90], epochs=2,
                                                               progress=False)
    m.update(s[90:], exog=u[90:])
    f = m.forecast(3, exog=u[:3])
    np.testing.assert_array_equal(f, m.forecast(3, history=s, history_exog=u, exog=u[:3]))
    np.testing.assert_allclose(f.sum(axis=1), 1.0)
    m.save(tmp_path / "c.npz")
    np.testing.assert_array_equal(LatentAR.load(tmp_path / "c.npz").forecast(3, exog=u[:3]), f)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        m.update([5], exog=u[:1])


def test_load_checks_shapes_before_allocating_the_model(x):
    m = _fit(x, "gru")
    sd = m.state_dict()
    big = LatentAR("gru", 30000)
    with pytest.raises(ValueError, match="weight_ih_l0.*expected \\(90000, 1\\)"):
        big.load_state_dict(sd)  # a 30000-unit GRU would need 20 GiB

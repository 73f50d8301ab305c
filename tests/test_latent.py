"""LatentAR: fit quality, likelihoods checked against independent densities,
the scaling's change of variables, closed-loop shapes, gradients."""
import math

import numpy as np
import pytest

from numbarnn import LatentAR, MarkovChain, datasets
from numbarnn.diagnostics import check_gradients

LOG_2PI = math.log(2 * math.pi)


def _gauss_logpdf(x, mean, std):
    return -0.5 * (LOG_2PI + 2 * np.log(std) + ((x - mean) / std) ** 2)


@pytest.fixture(scope="module")
def sine():
    x = datasets.noisy_sine(600, noise=0.1, seed=0)
    return x[:500], x[500:]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_noisy_sine_held_out_nrmse(sine, cell):
    train, test = sine
    m = LatentAR(cell, 8, seed=0).fit(train, window=50, epochs=60, batch_size=4,
                                      progress=False)
    pred = m.predict(test, history=train)
    nrmse = np.sqrt(np.mean((pred - test) ** 2)) / test.std()
    # The noise alone gives 0.1 / std(sine) = 0.14: within 0.2 is near the floor.
    assert nrmse < 0.2


def test_fit_returns_self_and_sets_fitted_attributes(sine):
    m = LatentAR("gru", 4, seed=0)
    assert m.fit(sine[0], epochs=2, progress=False) is m
    for name in ("layer_", "readout_", "mean_", "scale_", "history_", "n_obs_",
                 "n_features_"):
        assert hasattr(m, name)
    assert m.n_obs_ == 500 and m.history_.epochs == 2
    assert repr(m) == "LatentAR(cell='gru', hidden_size=4)"


@pytest.mark.parametrize("shape", [(80,), (80, 2)])
def test_log_likelihood_equals_sum_of_gaussian_densities(shape):
    rng = np.random.default_rng(1)
    x = 3.0 + 2.0 * rng.standard_normal(shape).cumsum(axis=0) / 5
    m = LatentAR("lstm", 5, seed=0).fit(x, window=20, epochs=5, progress=False)
    mean, std = m.predict(x, return_std=True)
    expected = _gauss_logpdf(x, mean, std).sum()
    assert m.log_likelihood(x) == pytest.approx(expected, rel=1e-10)
    # With history: only the later observations are scored, from the carried state.
    mean2, std2 = m.predict(x[30:], history=x[:30], return_std=True)
    np.testing.assert_allclose(mean2, mean[30:], rtol=1e-12)
    assert m.log_likelihood(x[30:], history=x[:30]) == pytest.approx(
        _gauss_logpdf(x[30:], mean[30:], std[30:]).sum(), rel=1e-10)


def test_scaling_change_of_variables(sine):
    train = sine[0]
    a = LatentAR("gru", 6, seed=3).fit(train, window=50, epochs=10, progress=False)
    b = LatentAR("gru", 6, seed=3).fit(10.0 * train + 3.0, window=50, epochs=10,
                                       progress=False)
    # The network sees the same standardised data, so only the Jacobian differs.
    np.testing.assert_allclose(b.scale_, 10.0 * a.scale_)
    assert b.log_likelihood(10.0 * train + 3.0) == pytest.approx(
        a.log_likelihood(train) - train.size * math.log(10.0), rel=1e-7)
    np.testing.assert_allclose(b.predict(10.0 * train + 3.0), 10.0 * a.predict(train) + 3.0,
                               rtol=1e-7)


def test_categorical_log_likelihood_and_beats_uniform():
    seq, _ = datasets.markov_source(order=2, n_states=3, n=3000, seed=1)
    train, test = seq[:2500], seq[2500:]
    m = LatentAR("gru", 8, readout="categorical", seed=0).fit(train, window=50, epochs=15,
                                                              progress=False)
    proba = m.predict(test)
    assert proba.shape == (500, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    ll = m.log_likelihood(test)
    assert ll == pytest.approx(np.log(proba[np.arange(500), test]).sum(), rel=1e-10)
    bits = -ll / (test.size * math.log(2))
    assert bits < math.log2(3) - 0.1  # uniform: log2(3) = 1.585
    # On the same scale as a Markov chain: order 0 cannot see the structure.
    assert ll > MarkovChain(order=0, alpha=0.5).fit(train).log_likelihood(test)


def test_forecast_and_sample_shapes():
    x = np.c_[np.sin(0.3 * np.arange(120.0)), np.cos(0.3 * np.arange(120.0))]
    m = LatentAR("lstm", 6, seed=0).fit(x, window=40, epochs=3, progress=False)
    assert m.forecast(7).shape == (7, 2)
    mean, paths = m.forecast(7, history=x[:50], n_paths=4, seed=0)
    assert mean.shape == (7, 2) and paths.shape == (4, 7, 2)
    assert m.forecast(0).shape == (0, 2)
    assert m.sample(9, seed=1).shape == (9, 2)
    assert m.sample(9, seed=1, n_paths=3).shape == (3, 9, 2)
    np.testing.assert_array_equal(m.sample(9, seed=1), m.sample(9, seed=1))

    m1 = LatentAR("rnn", 4, seed=0).fit(x[:, 0], epochs=2, progress=False)
    assert m1.forecast(5).shape == (5,) and m1.predict(x[:, 0]).shape == (120,)

    c = LatentAR("gru", 4, readout="categorical", seed=0).fit([0, 1, 2, 3] * 30, epochs=2,
                                                             progress=False)
    probs = c.forecast(6)
    assert probs.shape == (6, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    s = c.sample(11, seed=0, n_paths=2)
    assert s.shape == (2, 11) and s.dtype == np.int64 and s.min() >= 0 and s.max() < 4


def test_forecast_mean_path_feeds_back_its_own_means():
    x = datasets.noisy_sine(200, seed=2)
    m = LatentAR("gru", 5, seed=0).fit(x, window=50, epochs=5, progress=False)
    f = m.forecast(3, history=x)
    # Row t of predict is the prediction of element t from the ones before, so
    # the last row of history + the first k means is the mean path's step k.
    for k in range(3):
        assert m.predict(np.r_[x, f[:k + 1]])[-1] == pytest.approx(f[k], rel=1e-10)
    np.testing.assert_allclose(m.forecast(3), f)  # default: continue the fitted series


def test_list_of_series_of_different_lengths():
    rng = np.random.default_rng(0)
    series = [np.sin(0.2 * np.arange(n) + rng.uniform(0, 6)) for n in (60, 45, 80)]
    m = LatentAR("gru", 4, seed=0).fit(series, epochs=3, progress=False)
    assert m.n_obs_ == 185
    # Padding never leaks: the list's likelihood is the sum of the parts'.
    assert m.log_likelihood(series) == pytest.approx(
        sum(m.log_likelihood(s) for s in series), rel=1e-10)
    preds = m.predict(series)
    assert [p.shape for p in preds] == [(60,), (45,), (80,)]


def test_information_criteria_on_the_markov_scale():
    x = datasets.noisy_sine(100, seed=0)
    m = LatentAR("rnn", 3, seed=0).fit(x, epochs=2, progress=False)
    assert m.n_params == 3 * 1 + 3 * 3 + 3 + 3 + 2 * 3 + 2
    ll = m.log_likelihood(x)
    assert m.aic(x) == pytest.approx(-2 * ll + 2 * m.n_params)
    assert m.bic(x) == pytest.approx(-2 * ll + math.log(100) * m.n_params)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_gradient_check_of_whole_model(cell):
    x = np.c_[datasets.noisy_sine(40, seed=0), datasets.noisy_sine(40, seed=1)]
    m = LatentAR(cell, 3, num_layers=2, seed=0).fit(x, epochs=2, progress=False)
    result = check_gradients(m, x, max_entries=15)
    assert result.passed(1e-6), str(result)
    m.zero_grad()
    assert m.loss_and_grad(x) == pytest.approx(-m.log_likelihood(x), rel=1e-10)


def test_gradient_check_categorical():
    seq, _ = datasets.markov_source(order=1, n_states=3, n=40, seed=0)
    m = LatentAR("lstm", 4, readout="categorical", seed=0).fit(seq, epochs=2, progress=False)
    assert check_gradients(m, seq, max_entries=15).passed(1e-6)


def test_validation_split_and_early_stopping(sine):
    m = LatentAR("gru", 4, seed=0).fit(sine[0], window=50, epochs=30, validation_split=0.2,
                                       patience=3, progress=False)
    h = m.history_
    assert h.monitor == "val_loss" and len(h.val_loss) == h.epochs
    assert h.stop_reason in ("early_stopping", "epochs")


def test_float32_model():
    x = datasets.noisy_sine(100, seed=0)
    m = LatentAR("lstm", 4, seed=0, dtype=np.float32).fit(x, window=25, epochs=3,
                                                          progress=False)
    assert m.layer_.dtype == np.float32
    assert np.isfinite(m.log_likelihood(x)) and m.forecast(4).shape == (4,)


def test_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        LatentAR().predict(np.zeros(5))
    with pytest.raises(ValueError, match="cell"):
        LatentAR("transformer").fit(np.zeros(5), progress=False)
    with pytest.raises(ValueError, match="readout"):
        LatentAR(readout="poisson").fit(np.zeros(5), progress=False)
    with pytest.raises(ValueError, match="window"):
        LatentAR("rnn", 2).fit(np.zeros(5), window=0, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        LatentAR("rnn", 2).fit(np.array([0.0, np.nan]), progress=False)
    m = LatentAR("rnn", 2, seed=0).fit(np.zeros((10, 2)), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        m.predict(np.zeros((10, 3)))
    c = LatentAR("rnn", 2, readout="categorical", n_states=3, seed=0).fit(
        [0, 1, 2], epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        c.log_likelihood([0, 5])
    with pytest.raises(TypeError, match="integer"):
        c.log_likelihood([0.5, 1.0])

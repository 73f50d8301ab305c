"""fit: trains, validates, stops early and restores the best parameters,
is reproducible, shows (or hides) a progress bar; History.plot."""
import functools
import sys

import numpy as np
import pytest

from numbarnn.train import SGD, History, Linear, fit, flatten, mse
from test_train_helpers import make_lstm, noisy_sine


class Identity:
    """A parameter-free stand-in for a recurrent layer (the readout learns)."""

    params, grads = {}, {}

    def forward(self, x, state=None):
        return x, state

    def backward(self, dy, dstate=None):
        return dy


def test_adam_trains_a_small_lstm_on_a_noisy_sine():
    # One-step-ahead prediction of sin(2πt/20) + N(0, 0.05²): the series has
    # variance 0.5, the noise floor of the MSE is 0.0025.
    x, y = noisy_sine(T=300, seed=0)
    lstm, readout = make_lstm(1, 8, seed=0), Linear(8, 1, seed=0)
    hist = fit(lstm, readout, x, y, lr=0.02, epochs=60, k=50, seed=0, progress=False)
    assert hist.epochs == 60 and hist.stop_reason == "epochs"
    assert hist.train_loss[0] > 0.1
    final = mse(readout.forward(lstm.forward(x)[0]), y)[0]
    assert final < 0.01, final


def test_full_bptt_minibatches_and_validation():
    rng = np.random.default_rng(0)
    x, _ = noisy_sine(T=40 * 8, seed=1)
    # Eight series of 40 steps; validation on two more.
    xs = x.reshape(8, 40).T[:, :, None].copy()
    xv = xs[:, :2] + 0.01 * rng.standard_normal((40, 2, 1))
    lstm, readout = make_lstm(1, 6, seed=1), Linear(6, 1, seed=1)
    hist = fit(lstm, readout, xs[:-1], xs[1:], lr=0.02, epochs=40, batch_size=3,
               validation=(xv[:-1], xv[1:]), seed=0, progress=False)
    assert len(hist.val_loss) == 40 and hist.monitor == "val_loss"
    assert hist.val_loss[-1] < 0.5 * hist.val_loss[0]
    assert hist.best_epoch == int(np.argmin(hist.val_loss))
    assert hist.best_loss == min(hist.val_loss)


def test_same_seed_same_run():
    x, y = noisy_sine(T=60, seed=2)
    xs, ys = np.repeat(x, 4, axis=1), np.repeat(y, 4, axis=1)
    runs = []
    for _ in range(2):
        lstm, readout = make_lstm(1, 4, seed=3), Linear(4, 1, seed=3)
        hist = fit(lstm, readout, xs, ys, lr=0.01, epochs=3, batch_size=3, seed=7,
                   progress=False)
        runs.append((hist.train_loss, flatten([lstm, readout])))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_validation_split_holds_out_the_last_steps():
    x = np.random.default_rng(3).standard_normal((20, 2, 1))
    y = 2 * x
    y[15:] = 100.0               # only the held-out part is unlearnable
    readout = Linear(1, 1, seed=0)
    hist = fit(Identity(), readout, x, y, lr=0.05, epochs=100, validation_split=0.25,
               progress=False)
    assert hist.train_loss[-1] < 1e-2        # the last 5 steps were not trained on
    assert min(hist.val_loss) > 1000


def test_early_stopping_restores_the_best_parameters():
    # Validation targets that disagree with training: the validation loss
    # falls, then rises, so training stops early at the best epoch's weights.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((30, 2, 1))
    readout = Linear(1, 1, seed=0)
    readout.params["weight"][...] = 0.0
    readout.params["bias"][...] = 0.0
    hist = fit(Identity(), readout, x, 3 * x, optimizer=SGD(readout, lr=0.05), epochs=200,
               validation=(x, 1.0 * x), patience=3, progress=False)
    assert hist.stop_reason == "early_stopping"
    assert hist.epochs == hist.best_epoch + 1 + 3
    # The restored weights are the best epoch's: they reproduce its val loss.
    val = mse(readout.forward(x), 1.0 * x)[0]
    assert val == pytest.approx(hist.val_loss[hist.best_epoch], rel=1e-12)
    assert val < hist.val_loss[-1]


def test_min_delta_and_train_loss_monitor():
    x = np.random.default_rng(5).standard_normal((10, 1, 1))
    hist = fit(Identity(), Linear(1, 1, seed=0), x, x, optimizer="sgd", lr=1e-4, epochs=50,
               patience=2, min_delta=1.0, progress=False)
    assert hist.monitor == "train_loss"
    assert hist.best_epoch == 0 and hist.epochs == 3


def test_non_finite_loss_stops():
    x = np.ones((5, 1, 1))

    def diverged(pred, target):
        return float("nan"), np.zeros_like(pred)

    hist = fit(Identity(), Linear(1, 1, seed=0), x, x, loss=diverged, epochs=5,
               progress=False)
    assert hist.stop_reason == "non-finite loss" and hist.epochs == 1


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    x = np.random.default_rng(6).standard_normal((10, 1, 1))
    fit(Identity(), Linear(1, 1, seed=0), x, x, epochs=3, validation_split=0.2)
    err = capsys.readouterr().err
    assert "3/3" in err and "val_loss" in err
    fit(Identity(), Linear(1, 1, seed=0), x, x, epochs=3, progress=False)
    assert capsys.readouterr().err == ""


def test_history_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    hist = History(train_loss=[3.0, 2.0, 2.5], val_loss=[3.5, 2.5, 2.7], best_epoch=1,
                   best_loss=2.5)
    ax = hist.plot()
    assert len(ax.get_lines()) == 3
    plt.close("all")


def test_history_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        History(train_loss=[1.0]).plot()


def test_bad_arguments():
    x = np.zeros((10, 1, 1))
    args = (Identity(), Linear(1, 1, seed=0), x, x)
    with pytest.raises(ValueError, match="not both"):
        fit(*args, validation=(x, x), validation_split=0.2, progress=False)
    with pytest.raises(ValueError, match="validation_split must lie"):
        fit(*args, validation_split=1.5, progress=False)
    with pytest.raises(ValueError, match="leaves no training"):
        fit(*args, validation_split=0.01, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(*args, epochs=-1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(*args, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="patience"):
        fit(*args, patience=-1, progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        fit(*args, optimizer="lbfgs", progress=False)
    with pytest.raises(ValueError, match="must return a scalar loss"):
        fit(*args, loss=functools.partial(mse, reduction="none"), progress=False)
    with pytest.raises(TypeError, match="epochs must be an int"):
        fit(*args, epochs=2.0, progress=False)

"""Failures that must be clean (issue 10, items 10 and 13): a diverging fit
stops, restores the best finite weights and returns its History; NaN/Inf
targets and loss weights are refused with a message about them; a huge
broadcast input fails at once, not after a scan of every element."""
import functools
import time

import numpy as np
import pytest

import numbarnn
from numbarnn import functional as F
from numbarnn.train import (SGD, Linear, cross_entropy, fit, flatten, gaussian_nll,
                            gaussian_nll_packed, mse, tbptt)


def _series(seed=0, T=30, B=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, 1))
    return x, np.cumsum(x, axis=0) * 0.1


def _relu_rnn():
    return numbarnn.RNN(1, 8, nonlinearity="relu", seed=0), Linear(8, 1, seed=0)


@pytest.mark.parametrize("patience", [2, None])
def test_divergence_stops_and_restores_the_best_weights(patience):
    # The run: SGD with lr=1e6 explodes in its second or third epoch.
    x, y = _series()
    model, readout = _relu_rnn()
    hist = fit(model, readout, x, y, optimizer="sgd", lr=1e6, epochs=5, patience=patience,
               progress=False)
    assert hist.stop_reason == "non-finite loss"
    assert np.isnan(hist.train_loss[-1]) and np.isfinite(hist.train_loss[:-1]).all()
    assert hist.best_epoch == int(np.argmin(hist.train_loss[:-1]))
    # The restored weights are those after the best epoch: a run stopped
    # there by its epoch count ends on the same weights.
    ref_model, ref_readout = _relu_rnn()
    fit(ref_model, ref_readout, x, y, optimizer="sgd", lr=1e6, epochs=hist.best_epoch + 1,
        progress=False)
    np.testing.assert_array_equal(flatten([model, readout]), flatten([ref_model, ref_readout]))
    assert np.isfinite(flatten([model, readout])).all()
    assert not any(g.any() for g in model.grads.values())


def test_divergence_in_the_first_epoch_restores_the_initial_weights():
    x, y = _series(1)
    model, readout = _relu_rnn()
    start = flatten([model, readout])
    opt = SGD([model, readout], lr=1e12, momentum=0.5)
    hist = fit(model, readout, x, y, optimizer=opt, epochs=3, batch_size=1, progress=False)
    assert hist.stop_reason == "non-finite loss" and hist.epochs == 1
    assert hist.best_epoch == -1
    np.testing.assert_array_equal(flatten([model, readout]), start)
    # the optimizer is back at its start as well: nothing of the divergence is kept
    assert opt.steps == 0 and all(not st for st in opt.state)


def test_divergence_with_truncated_bptt_and_validation():
    x, y = _series(2)
    model, readout = _relu_rnn()
    hist = fit(model, readout, x, y, optimizer="sgd", lr=1e6, epochs=6, k=10,
               validation_split=0.2, progress=False)
    assert hist.stop_reason == "non-finite loss"
    assert np.isfinite(flatten([model, readout])).all()


def test_a_nan_gradient_with_a_finite_loss_stops_too():
    x, y = _series(3)

    def bad_gradient(pred, target):
        loss, d = mse(pred, target)
        return loss, np.full_like(d, np.inf)

    model, readout = _relu_rnn()
    start = flatten([model, readout])
    hist = fit(model, readout, x, y, loss=bad_gradient, epochs=2, progress=False)
    assert hist.stop_reason == "non-finite loss"
    np.testing.assert_array_equal(flatten([model, readout]), start)


def test_tbptt_raises_floating_point_error_naming_the_chunk():
    x, y = _series(4)
    model, readout = _relu_rnn()
    with pytest.raises(FloatingPointError, match=r"diverged.*chunk of steps"):
        tbptt(model, readout, mse, x, y, 10, SGD([model, readout], lr=1e12))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_targets_are_refused_up_front(bad):
    x, y = _series(5)
    y[7, 2, 0] = bad
    model, readout = _relu_rnn()
    start = flatten([model, readout])
    with pytest.raises(ValueError, match=r"y \(the targets\) contains NaN or Inf"):
        fit(model, readout, x, y, epochs=2, progress=False)
    with pytest.raises(ValueError, match=r"y_val \(the targets\) contains NaN"):
        fit(model, readout, x, np.zeros_like(y), validation=(x, y), progress=False)
    with pytest.raises(ValueError, match=r"target \(the targets\) contains NaN"):
        tbptt(model, readout, mse, x, y, 5)
    np.testing.assert_array_equal(flatten([model, readout]), start)
    # minibatches from an iterable are checked as they come
    with pytest.raises(ValueError, match=r"minibatch 1 \(the targets\) contains NaN"):
        fit(model, readout, [(x[:, :2], y[:, :2]), (x[:, 2:], y[:, 2:])], progress=False)


def test_a_loss_of_ones_own_may_mask_nan_targets():
    x, y = _series(6)
    y[10:, 0] = np.nan

    def masked(pred, target):
        keep = ~np.isnan(target)
        return mse(pred, np.where(keep, target, 0.0), weights=keep)

    model, readout = _relu_rnn()
    hist = fit(model, readout, x, y, loss=masked, lr=0.01, epochs=2, progress=False)
    assert hist.stop_reason == "epochs" and np.isfinite(hist.train_loss).all()

    def unmasked(pred, target):          # a loss of one's own that does not mask
        return mse(pred, target)
    with pytest.raises(ValueError, match="targets contain NaN"):
        fit(model, readout, x, y, loss=unmasked, progress=False)
    # functools.partial of a built-in loss is still checked up front
    with pytest.raises(ValueError, match=r"y \(the targets\) contains NaN"):
        fit(model, readout, x, y, loss=functools.partial(mse, reduction="sum"),
            progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_every_loss_refuses_bad_weights(bad):
    rng = np.random.default_rng(7)
    pred, target = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    weights = [1.0, bad, 1.0]
    match = "non-negative" if bad == -1.0 else "finite"
    with pytest.raises(ValueError, match=match):
        mse(pred, target, weights=weights)
    with pytest.raises(ValueError, match=match):
        gaussian_nll(pred, pred, target, weights=weights)
    with pytest.raises(ValueError, match=match):
        gaussian_nll_packed(np.concatenate([pred, pred], -1), target, weights=weights)
    with pytest.raises(ValueError, match=match):
        cross_entropy(pred, np.array([0, 1, 1]), weights=weights)


def _memory_bytes():
    """RAM + swap, or None where that is unknown or the kernel overcommits freely."""
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            if f.read().strip() == "1":
                return None
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info["MemTotal"] + info.get("SwapTotal", 0)
    except (OSError, KeyError, ValueError):
        return None


@pytest.mark.skipif(_memory_bytes() is None,
                    reason="needs Linux that refuses an allocation larger than the machine")
def test_a_huge_broadcast_input_fails_fast():
    # A broadcast view of one value with half as many elements as the
    # machine has bytes (the 10^10 on 24 GB): a float64 copy needs
    # 4x the machine and cannot be made, and that must be found out before
    # any scan of the elements (a scan of this view took 11 s and
    # allocated half the memory before the copy failed).
    n = _memory_bytes() // 2
    big = (max(n // 10 ** 5, 1), 10 ** 3, 100)
    x = np.broadcast_to(np.zeros((1, 1, 1)), big)
    y = np.broadcast_to(np.zeros((1, 1, 1)), big[:2] + (1,))
    layer = numbarnn.LSTM(100, 2, seed=0)
    start = time.perf_counter()
    with pytest.raises(MemoryError):
        fit(layer, Linear(2, 1, seed=0), x, y, epochs=1, progress=False)
    with pytest.raises(MemoryError):
        F.lstm_forward(x, layer.params["weight_ih_l0"], layer.params["weight_hh_l0"])
    assert time.perf_counter() - start < 1.0

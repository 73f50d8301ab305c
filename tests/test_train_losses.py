"""Losses: gradients vs finite differences and vs torch autograd, reductions,
masks and weights, stability, bad input."""
import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbarnn.train import (LOSSES, cross_entropy, gaussian_nll, gaussian_nll_packed,
                            get_loss, mse)
from helpers import fd_gradient, rel_error

REDUCTIONS = ["mean", "sum"]
WEIGHTINGS = ["none", "mask", "weights"]


def _weights(kind, shape, rng):
    if kind == "none":
        return None
    if kind == "mask":
        m = rng.random(shape) > 0.4
        m.flat[0] = True
        return m
    return rng.random(shape) * 2


def _check_fd(fn, arrays, analytic, tol=1e-7):
    for name, grad in analytic.items():
        fd = fd_gradient(fn, arrays, name)
        assert rel_error(grad, fd) < tol, name


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_mse_gradient(reduction, weighting):
    rng = np.random.default_rng(0)
    arrays = {"pred": rng.standard_normal((5, 3, 2)), "target": rng.standard_normal((5, 3, 2))}
    w = _weights(weighting, (5, 3), rng)   # (T, B) mask over (T, B, D) predictions
    kw = dict(weights=w, reduction=reduction)
    loss, dpred = mse(arrays["pred"], arrays["target"], **kw)
    _check_fd(lambda: mse(arrays["pred"], arrays["target"], **kw)[0], arrays, {"pred": dpred})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_gaussian_nll_gradient(reduction, weighting):
    rng = np.random.default_rng(1)
    arrays = {k: rng.standard_normal((4, 3, 2)) for k in ("mean", "logvar", "target")}
    kw = dict(weights=_weights(weighting, (4, 3, 2), rng), reduction=reduction)

    def loss():
        return gaussian_nll(arrays["mean"], arrays["logvar"], arrays["target"], **kw)[0]

    _, dmean, dlogvar = gaussian_nll(arrays["mean"], arrays["logvar"], arrays["target"], **kw)
    _check_fd(loss, arrays, {"mean": dmean, "logvar": dlogvar})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_cross_entropy_gradient(reduction, weighting):
    rng = np.random.default_rng(2)
    arrays = {"logits": 3 * rng.standard_normal((4, 3, 5))}
    targets = rng.integers(0, 5, (4, 3))
    kw = dict(weights=_weights(weighting, (4, 3), rng), reduction=reduction)
    _, dlogits = cross_entropy(arrays["logits"], targets, **kw)
    _check_fd(lambda: cross_entropy(arrays["logits"], targets, **kw)[0], arrays,
              {"logits": dlogits})


def test_gaussian_nll_is_the_normal_log_density():
    scipy_stats = pytest.importorskip("scipy.stats")
    mean, logvar, target = np.array([0.3, -1.0]), np.array([0.2, -0.7]), np.array([1.0, 0.5])
    loss, _, _ = gaussian_nll(mean, logvar, target, reduction="sum")
    expected = -scipy_stats.norm.logpdf(target, mean, np.exp(0.5 * logvar)).sum()
    assert loss == pytest.approx(expected, rel=1e-14)
    short, _, _ = gaussian_nll(mean, logvar, target, reduction="sum", full=False)
    assert loss - short == pytest.approx(math.log(2 * math.pi), rel=1e-14)


def test_gaussian_nll_packed_equals_two_heads():
    rng = np.random.default_rng(3)
    mean, logvar, target = (rng.standard_normal((6, 2, 3)) for _ in range(3))
    loss, dmean, dlogvar = gaussian_nll(mean, logvar, target)
    loss_p, dpred = gaussian_nll_packed(np.concatenate([mean, logvar], -1), target)
    assert loss_p == loss
    np.testing.assert_array_equal(dpred, np.concatenate([dmean, dlogvar], -1))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["none"])
def test_against_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    pred, target = rng.standard_normal((7, 3, 2)), rng.standard_normal((7, 3, 2))
    logvar = rng.standard_normal((7, 3, 2))
    logits, classes = rng.standard_normal((7, 3, 4)), rng.integers(0, 4, (7, 3))

    def tt(a):
        return torch.tensor(a, dtype=torch.float64, requires_grad=True)

    # MSE
    tp = tt(pred)
    tl = torch.nn.functional.mse_loss(tp, torch.tensor(target), reduction=reduction)
    tl.sum().backward()             # "none": each element's gradient, as documented
    loss, dpred = mse(pred, target, reduction=reduction)
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(dpred, tp.grad.numpy(), rtol=1e-12, atol=1e-15)

    # Gaussian NLL: torch takes the variance; eps far below every variance here.
    tm, tv = tt(pred), tt(logvar)
    tl = torch.nn.functional.gaussian_nll_loss(tm, torch.tensor(target), tv.exp(), full=True,
                                               eps=1e-12, reduction=reduction)
    tl.sum().backward()
    loss, dmean, dlogvar = gaussian_nll(pred, logvar, target, reduction=reduction)
    np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(dmean, tm.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dlogvar, tv.grad.numpy(), rtol=1e-12, atol=1e-15)

    # Cross-entropy over the last axis (torch wants classes on axis 1).
    tz = tt(logits)
    tl = torch.nn.functional.cross_entropy(tz.reshape(-1, 4), torch.tensor(classes).reshape(-1),
                                           reduction=reduction)
    tl.sum().backward()
    loss, dlogits = cross_entropy(logits, classes, reduction=reduction)
    np.testing.assert_allclose(np.reshape(loss, -1), tl.detach().numpy().reshape(-1),
                               rtol=1e-13)
    np.testing.assert_allclose(dlogits, tz.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["none"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7, 1.0])
def test_cross_entropy_label_smoothing_matches_torch(reduction, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    logits, classes = 3 * rng.standard_normal((6, 5, 4)), rng.integers(0, 4, (6, 5))
    tz = torch.tensor(logits.reshape(-1, 4), requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(classes.reshape(-1)),
                                           reduction=reduction, label_smoothing=eps)
    tl.sum().backward()
    loss, dlogits = cross_entropy(logits, classes, reduction=reduction, label_smoothing=eps)
    if reduction == "none":
        assert loss.shape == classes.shape
    np.testing.assert_allclose(np.reshape(loss, -1), tl.detach().numpy().reshape(-1),
                               rtol=1e-13)
    np.testing.assert_allclose(dlogits.reshape(-1, 4), tz.grad.numpy(), rtol=1e-12,
                               atol=1e-15)
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\]"):
        cross_entropy(logits, classes, label_smoothing=1.5)
    with pytest.raises(TypeError, match="label_smoothing must be a float"):
        cross_entropy(logits, classes, label_smoothing="0.1")


def test_reduction_none_with_weights_is_weighted_elementwise():
    rng = np.random.default_rng(9)
    pred, target, w = (rng.standard_normal((5, 3)) for _ in range(3))
    w = np.abs(w)
    loss, dpred = mse(pred, target, weights=w, reduction="none")
    np.testing.assert_allclose(loss, w * (pred - target) ** 2, rtol=1e-15)
    np.testing.assert_allclose(dpred, 2 * w * (pred - target), rtol=1e-15)


def test_cross_entropy_class_weights_match_torch():
    # torch's per-class weights are per-target weights w[target], normalised
    # by their sum under "mean": the same rule as numbarnn's weights.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    logits, classes = rng.standard_normal((20, 3)), rng.integers(0, 3, 20)
    class_w = np.array([0.2, 1.0, 3.0])
    tz = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(classes),
                                           weight=torch.tensor(class_w))
    tl.backward()
    loss, dlogits = cross_entropy(logits, classes, weights=class_w[classes])
    assert loss == pytest.approx(tl.item(), rel=1e-13)
    np.testing.assert_allclose(dlogits, tz.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_mask_selects_elements():
    rng = np.random.default_rng(6)
    pred, target = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 3))
    mask = np.zeros((6, 2), bool)
    mask[:3] = True
    loss, dpred = mse(pred, target, weights=mask)
    loss_sub, dsub = mse(pred[:3], target[:3])
    assert loss == pytest.approx(loss_sub, rel=1e-14)
    np.testing.assert_allclose(dpred[:3], dsub, rtol=1e-14)
    assert not dpred[3:].any()


def test_all_masked_gives_zero_not_nan():
    loss, dpred = mse(np.ones((3, 2)), np.zeros((3, 2)), weights=np.zeros(3, bool))
    assert loss == 0.0 and not dpred.any()
    loss, dpred = mse(np.ones((0, 2)), np.ones((0, 2)))
    assert loss == 0.0 and dpred.shape == (0, 2)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4 + 1.0]])
    loss, d = cross_entropy(logits, np.array([1, 2]), reduction="sum")
    assert np.isfinite(loss) and np.isfinite(d).all()
    assert loss == pytest.approx(1e4 + math.log1p(2 * math.exp(-1.0)), rel=1e-12)


def test_gaussian_nll_is_stable_for_extreme_logvar():
    loss, dmean, dlogvar = gaussian_nll(np.zeros(2), np.array([-600.0, 600.0]), np.zeros(2))
    assert np.isfinite([loss, *dmean, *dlogvar]).all()


@pytest.mark.parametrize("fn", [mse, gaussian_nll_packed])
def test_float32_stays_float32(fn):
    pred = np.ones((3, 1, 2), np.float32)
    target = np.zeros((3, 1, 2 if fn is mse else 1), np.float32)
    loss, dpred = fn(pred, target)
    assert dpred.dtype == np.float32 and isinstance(loss, float)
    _, d = cross_entropy(pred, np.zeros((3, 1), int))
    assert d.dtype == np.float32


def test_bad_input():
    with pytest.raises(ValueError, match="target must have the shape"):
        mse(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(TypeError, match="pred must be a float"):
        mse(np.ones(3, int), np.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        mse(np.ones(3), np.ones(3), reduction="avg")
    with pytest.raises(ValueError, match="non-negative"):
        mse(np.ones(3), np.ones(3), weights=-np.ones(3))
    with pytest.raises(ValueError, match="do not broadcast"):
        mse(np.ones((3, 2)), np.ones((3, 2)), weights=np.ones(4))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\)"):
        cross_entropy(np.ones((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="integer class indices"):
        cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="logits.shape"):
        cross_entropy(np.ones((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="means then log-variances"):
        gaussian_nll_packed(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")


def test_get_loss():
    assert get_loss("cross_entropy") is cross_entropy
    assert get_loss("gaussian_nll") is gaussian_nll_packed
    assert set(LOSSES) == {"mse", "gaussian_nll", "cross_entropy"}
    summed = functools.partial(mse, reduction="sum")
    assert get_loss(summed) is summed


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       classes=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_sum_is_size_times_mean_any_shape(shape, classes, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    for fn, args in ((mse, (pred, target)),
                     (cross_entropy, (rng.standard_normal(shape + (classes,)),
                                      rng.integers(0, classes, shape)))):
        loss_m, d_m = fn(*args)
        loss_s, d_s = fn(*args, reduction="sum")
        n = int(np.prod(shape))
        assert loss_s == pytest.approx(n * loss_m, rel=1e-12)
        np.testing.assert_allclose(d_s, n * d_m, rtol=1e-12)
        # Unit weights change nothing.
        loss_w, d_w = fn(*args, weights=np.ones(shape))
        assert loss_w == pytest.approx(loss_m, rel=1e-12)
        np.testing.assert_allclose(d_w, d_m, rtol=1e-12, atol=1e-15)

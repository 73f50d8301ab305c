"""Numerical robustness: saturated gates (pre-activations ~ ±1e3) give finite
outputs and gradients without warnings or floating-point errors, in both
dtypes (a naive exp(a)/(1+exp(a)) gives inf/inf = NaN there)."""
import warnings

import numpy as np
import pytest

from helpers import DTYPE_PARAMS, VARIANT_PARAMS, assert_all_close, rng_for


def saturating_inputs(variant, dtype, T=6, B=3, I=4, H=5):
    rng = rng_for(variant.id, "saturate")
    inp = variant.make_inputs(rng, T, B, I, H, np.float64)
    signs = rng.choice([-1.0, 1.0], size=variant.gates * H)
    inp["b_ih"] = 1e3 * signs                      # every gate pinned at ±1e3 ...
    inp["x"] = rng.choice([-1e3, 1e3], size=(T, B, I)) * (rng.random((T, B, I)) < 0.3)
    inp = {n: a.astype(dtype) for n, a in inp.items()}  # ... and some steps pushed further
    return inp, variant.make_cotangents(rng, T, B, H, dtype)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_saturated_gates_are_finite_and_silent(variant, dtype):
    inp, cot = saturating_inputs(variant, dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        outs, grads = variant.forward_backward(inp, cot)
    for name, value in {**outs, **grads}.items():
        assert np.all(np.isfinite(value)), name
    if variant.id != "rnn_relu":  # relu does not saturate: values ~1e3 and up
        assert np.all(np.abs(outs["y"]) <= 1)
    ref_outs, ref_grads = variant.ref_forward(inp), variant.ref_backward(inp, cot)
    assert_all_close(outs, ref_outs, dtype)
    assert_all_close(grads, ref_grads, dtype)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_sigmoid_rnn_limits(dtype):
    """σ(±1e3) is exactly 0 or 1 to working precision, never NaN."""
    from helpers import functional
    H = 4
    x = np.zeros((1, 2, 1), dtype)
    w_ih = np.zeros((H, 1), dtype)
    w_hh = np.zeros((H, H), dtype)
    b = np.array([-1e3, 1e3, -90.0, 90.0], dtype)  # ±90 overflows exp in float32
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        res = functional().rnn_forward(x, w_ih, w_hh, b, None, nonlinearity="sigmoid",
                                       training=True)
        grads = functional().rnn_backward(res.cache, np.ones_like(res.y))
    expected = np.array([0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(res.y[0], np.broadcast_to(expected, (2, H)), atol=1e-30)
    assert np.all(np.isfinite(grads.db_ih)) and np.all(np.abs(grads.db_ih) <= 1e-30)

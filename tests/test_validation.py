"""Bad input is rejected before any kernel runs, with an exception that
names the argument (docs/math.md, Conventions)."""
import re

import numpy as np
import pytest

from helpers import KIND_PARAMS, KIND_VARIANTS, functional, rng_for

T, B, I, H = 4, 3, 2, 5


def named(*names):
    """A regex matching any of the argument names as a whole word."""
    return "|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in names)


def good_inputs(variant):
    rng = rng_for(variant.id, "validation")
    return variant.make_inputs(rng, T, B, I, H), variant.make_cotangents(rng, T, B, H)


def gate_rows(v):
    return v.gates * H


# (id, argument, new value as a function of (variant, inputs), exception, names in message)
BAD_FORWARD = [
    ("x_2d", "x", lambda v, a: a["x"][0], ValueError, ("x",)),
    ("x_4d", "x", lambda v, a: a["x"][None], ValueError, ("x",)),
    ("w_ih_1d", "w_ih", lambda v, a: a["w_ih"].ravel(), ValueError, ("w_ih",)),
    ("w_ih_cols", "w_ih", lambda v, a: np.ones((gate_rows(v), I + 1)), ValueError, ("w_ih",)),
    ("w_ih_rows", "w_ih", lambda v, a: np.ones((gate_rows(v) + 1, I)), ValueError, ("w_ih",)),
    ("w_ih_rows_short", "w_ih", lambda v, a: np.ones((gate_rows(v) - H, I)), ValueError,
     ("w_ih",)),
    ("w_hh_3d", "w_hh", lambda v, a: a["w_hh"][None], ValueError, ("w_hh",)),
    ("w_hh_rows", "w_hh", lambda v, a: np.ones((gate_rows(v) + 1, H)), ValueError, ("w_hh",)),
    # H comes from w_hh.shape[1]; then w_ih's rows no longer fit: either may be blamed
    ("w_hh_cols", "w_hh", lambda v, a: np.ones((gate_rows(v), H + 1)), ValueError,
     ("w_hh", "w_ih")),
    ("b_ih_len", "b_ih", lambda v, a: np.ones(gate_rows(v) + 1), ValueError, ("b_ih",)),
    ("b_ih_2d", "b_ih", lambda v, a: a["b_ih"][None], ValueError, ("b_ih",)),
    ("b_hh_len", "b_hh", lambda v, a: np.ones(gate_rows(v) - 1), ValueError, ("b_hh",)),
    ("h0_batch", "h0", lambda v, a: np.ones((B + 1, H)), ValueError, ("h0",)),
    ("h0_3d", "h0", lambda v, a: a["h0"][None], ValueError, ("h0",)),
    ("h0_hidden", "h0", lambda v, a: np.ones((B, H - 1)), ValueError, ("h0",)),
    ("c0_hidden", "c0", lambda v, a: np.ones((B, H + 1)), ValueError, ("c0",)),
    ("c0_1d", "c0", lambda v, a: np.ones(H), ValueError, ("c0",)),
    # dtypes: one argument differs from the rest, which are float64
    ("x_f32", "x", lambda v, a: a["x"].astype(np.float32), TypeError, ("x",)),
    ("w_hh_f32", "w_hh", lambda v, a: a["w_hh"].astype(np.float32), TypeError, ("w_hh",)),
    ("b_ih_f32", "b_ih", lambda v, a: a["b_ih"].astype(np.float32), TypeError, ("b_ih",)),
    ("b_hh_f32", "b_hh", lambda v, a: a["b_hh"].astype(np.float32), TypeError, ("b_hh",)),
    ("h0_f32", "h0", lambda v, a: a["h0"].astype(np.float32), TypeError, ("h0",)),
    ("c0_f32", "c0", lambda v, a: a["c0"].astype(np.float32), TypeError, ("c0",)),
    ("x_int", "x", lambda v, a: np.ones(a["x"].shape, np.int64), TypeError, ("x",)),
    ("w_ih_int32", "w_ih", lambda v, a: np.ones(a["w_ih"].shape, np.int32), TypeError,
     ("w_ih",)),
    ("x_bool", "x", lambda v, a: a["x"] > 0, TypeError, ("x",)),
    ("w_ih_complex", "w_ih", lambda v, a: a["w_ih"].astype(complex), TypeError, ("w_ih",)),
    ("h0_object", "h0", lambda v, a: a["h0"].astype(object), TypeError, ("h0",)),
    ("x_object", "x", lambda v, a: a["x"].astype(object), TypeError, ("x",)),
]


def with_value(a, name, index, value):
    a = np.array(a[name], copy=True)
    a[index] = value
    return a


NON_FINITE = [
    ("x_nan", "x", lambda v, a: with_value(a, "x", (T - 1, 1, 0), np.nan)),
    ("x_inf", "x", lambda v, a: with_value(a, "x", (0, 0, 0), np.inf)),
    ("w_ih_inf", "w_ih", lambda v, a: with_value(a, "w_ih", (0, 1), -np.inf)),
    ("w_hh_nan", "w_hh", lambda v, a: with_value(a, "w_hh", (-1, -1), np.nan)),
    ("b_ih_nan", "b_ih", lambda v, a: with_value(a, "b_ih", -1, np.nan)),
    ("b_hh_inf", "b_hh", lambda v, a: with_value(a, "b_hh", 0, np.inf)),
    ("h0_nan", "h0", lambda v, a: with_value(a, "h0", (1, 2), np.nan)),
    ("c0_inf", "c0", lambda v, a: with_value(a, "c0", (0, 0), np.inf)),
]


def cases(table):
    """(variant, *case) for every kind that has the case's argument."""
    return [pytest.param(v, *case[1:], id=f"{v.kind}-{case[0]}")
            for v in KIND_VARIANTS.values() for case in table
            if case[1] in v.input_names + v.cot_names]


@pytest.mark.parametrize("variant,arg,bad,exc,names", cases(BAD_FORWARD))
def test_bad_forward_argument(variant, arg, bad, exc, names):
    inp, _ = good_inputs(variant)
    inp[arg] = bad(variant, inp)
    with pytest.raises(exc, match=named(*names)):
        variant.forward(inp)
    with pytest.raises(exc, match=named(*names)):
        variant.forward(inp, training=True, check_finite=False)


@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_unsupported_float_dtype(variant):
    inp, _ = good_inputs(variant)
    inp = {n: a.astype(np.float16) for n, a in inp.items()}
    with pytest.raises(TypeError, match=named("x", "float16")):
        variant.forward(inp)


@pytest.mark.parametrize("variant,arg,bad", cases(NON_FINITE))
def test_non_finite_rejected_by_default(variant, arg, bad):
    inp, _ = good_inputs(variant)
    inp[arg] = bad(variant, inp)
    with pytest.raises(ValueError, match=named(arg)):
        variant.forward(inp)
    with pytest.raises(ValueError, match=named(arg)):
        variant.forward(inp, training=True, check_finite=True)
    variant.forward(inp, training=True, check_finite=False)  # the check is skipped


@pytest.mark.parametrize("bad", ["softplus", "", "tanh2"])
def test_bad_nonlinearity(bad):
    v = KIND_VARIANTS["rnn"]
    inp, _ = good_inputs(v)
    args = [inp[n] for n in v.input_names]
    with pytest.raises(ValueError, match="nonlinearity"):
        functional().rnn_forward(*args, nonlinearity=bad)


BAD_BACKWARD = [
    ("dy_shape", "dy", lambda: np.ones((T, B, H + 1)), ValueError),
    ("dy_time", "dy", lambda: np.ones((T + 1, B, H)), ValueError),
    ("dy_2d", "dy", lambda: np.ones((B, H)), ValueError),
    ("dh_n_shape", "dh_n", lambda: np.ones((B + 1, H)), ValueError),
    ("dh_n_3d", "dh_n", lambda: np.ones((1, B, H)), ValueError),
    ("dc_n_shape", "dc_n", lambda: np.ones((B, H - 1)), ValueError),
    ("dy_f32", "dy", lambda: np.ones((T, B, H), np.float32), TypeError),
    ("dh_n_int", "dh_n", lambda: np.ones((B, H), np.int64), TypeError),
    ("dc_n_complex", "dc_n", lambda: np.ones((B, H), complex), TypeError),
]


@pytest.mark.parametrize("variant,arg,bad,exc", cases(BAD_BACKWARD))
def test_bad_backward_argument(variant, arg, bad, exc):
    inp, cot = good_inputs(variant)
    cache = variant.forward(inp, training=True).cache
    cot[arg] = bad()
    with pytest.raises(exc, match=named(arg)):
        variant.backward(cache, cot)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_scan_agrees_with_numpy_everywhere(dtype):
    # the SIMD scan behind check_finite: a bad value in the vector body, in
    # the scalar tail, at a block edge, in any lane; every size class
    from numbarnn.kernels.cpu.finite import all_finite
    rng = np.random.default_rng(7)
    big = np.finfo(dtype).max
    for n in (1, 5, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 9000):
        a = (rng.standard_normal(n) * 1e3).astype(dtype)
        a[0] = big
        assert all_finite(a) is True
        for k in {0, n // 3, n // 2, n - 1, min(n - 1, 4096)}:
            for bad in (np.nan, np.inf, -np.inf):
                b = a.copy()
                b[k] = bad
                assert all_finite(b) is bool(np.isfinite(b).all()) is False
    assert all_finite(np.ones((3, 4, 5), dtype)) is True

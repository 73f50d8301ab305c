"""Hypothesis: random small shapes, dtypes and optional arguments agree with
the oracle; random malformed shapes and dtypes are rejected naming the
argument. Examples are few and deadlines off because of JIT compile time."""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import VARIANTS, assert_all_close

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
variants = st.sampled_from(VARIANTS)
dtypes = st.sampled_from([np.float32, np.float64])
sizes = st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 5), st.integers(1, 6))
optional = st.sampled_from([True, False, "b_ih", "b_hh"])
states = st.sampled_from([True, False, "h0", "c0"])


@SETTINGS
@given(variant=variants, dtype=dtypes, shape=sizes, bias=optional, state=states,
       seed=st.integers(0, 2**32 - 1))
def test_random_shapes_agree_with_reference(variant, dtype, shape, bias, state, seed):
    T, B, I, H = shape
    rng = np.random.default_rng(seed)
    inp = variant.make_inputs(rng, T, B, I, H, dtype, bias, state)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    outs, grads = variant.forward_backward(inp, cot)
    assert_all_close(outs, variant.ref_forward(inp), dtype)
    assert_all_close(grads, variant.ref_backward(inp, cot), dtype)


# Dimensions an argument owns: changing one of them makes that argument, and
# only it, wrong. (x's sizes define T, B and I, and w_hh's columns define H,
# so those are changed only in their number of dimensions.)
OWNED_AXES = {"x": (), "w_ih": (0, 1), "w_hh": (0,), "b_ih": (0,), "b_hh": (0,),
              "h0": (0, 1), "c0": (0, 1)}


@st.composite
def bad_shapes(draw):
    variant = draw(variants)
    arg = draw(st.sampled_from(variant.input_names))
    T, B, I, H = draw(sizes)
    inp = variant.make_inputs(np.random.default_rng(0), T, B, I, H)
    shape = list(inp[arg].shape)
    how = draw(st.sampled_from(["drop", "add"] + (["resize"] if OWNED_AXES[arg] else [])))
    if how == "drop":
        shape = shape[1:]
    elif how == "add":
        shape = [draw(st.integers(1, 3))] + shape
    else:
        axis = draw(st.sampled_from(OWNED_AXES[arg]))
        shape[axis] = draw(st.integers(0, shape[axis] + 3).filter(lambda n: n != shape[axis]))
    inp[arg] = np.ones(shape)
    return variant, arg, inp


@SETTINGS
@given(case=bad_shapes())
def test_random_bad_shapes_are_rejected_naming_the_argument(case):
    variant, arg, inp = case
    with pytest.raises(ValueError, match=rf"(?<!\w){re.escape(arg)}(?!\w)"):
        variant.forward(inp, training=True)


BAD_DTYPES = [np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_,
              np.complex128, object]


@SETTINGS
@given(variant=variants, data=st.data(), bad=st.sampled_from(BAD_DTYPES),
       base=st.sampled_from([np.float32, np.float64]))
def test_random_bad_dtypes_are_rejected_naming_the_argument(variant, data, bad, base):
    arg = data.draw(st.sampled_from(variant.input_names))
    if np.dtype(bad) == np.dtype(base):
        bad = np.float64 if base == np.float32 else np.float32
    inp = variant.make_inputs(np.random.default_rng(1), 3, 2, 3, 4, base)
    inp[arg] = inp[arg].astype(bad)
    with pytest.raises(TypeError, match=rf"(?<!\w){re.escape(arg)}(?!\w)"):
        variant.forward(inp)

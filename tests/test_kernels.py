"""numbarnn against the plain-numpy oracle, every variant, dtype and shape.

Also: one step at a time equals the whole sequence, and truncated BPTT in
chunks (carrying dh0/dc0 into the previous chunk's dh_n/dc_n) equals
backpropagation through the whole sequence.
"""
import numpy as np
import pytest

from helpers import (DTYPE_PARAMS, SHAPE_PARAMS, VARIANT_PARAMS, assert_all_close,
                     check_against_reference, rng_for)

BIAS_STATE = [(True, True), (False, False), (True, False), (False, True),
              ("b_ih", "h0"), ("b_hh", "c0")]


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("shape", SHAPE_PARAMS)
@pytest.mark.parametrize("bias,state", [(True, True), (False, False)], ids=["full", "bare"])
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_matches_reference(variant, shape, dtype, bias, state):
    check_against_reference(variant, shape, dtype, bias, state)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("bias,state", BIAS_STATE[2:], ids=str)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_partial_biases_and_states_match_reference(variant, dtype, bias, state):
    check_against_reference(variant, (7, 3, 5, 4), dtype, bias, state)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_long_inference_matches_reference(variant, dtype):
    """A long sequence at a large B·H: inference may stream through a bounded
    buffer (no cache to keep), training keeps every step; both must agree
    with the oracle."""
    T, B, I, H = 135, 32, 3, 64
    inp = variant.make_inputs(rng_for(variant.id, "long", np.dtype(dtype).name), T, B, I, H, dtype)
    expected = variant.ref_forward(inp)
    inference = variant.forward(inp)
    training = variant.forward(inp, training=True)
    assert inference.cache is None and training.cache is not None
    assert_all_close(variant.outputs(inference), expected, dtype)
    assert_all_close(variant.outputs(training), expected, dtype)


def run_in_chunks(variant, inp, bounds):
    """Forward over x[a:b] for consecutive (a, b), carrying the state."""
    state = {s: inp[s] for s in variant.state_names}
    results = []
    for a, b in bounds:
        res = variant.forward(dict(inp, x=inp["x"][a:b], **state), training=True)
        results.append(res)
        state = {"h0": res.h_n, **({"c0": res.c_n} if variant.has_cell else {})}
    return results


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_one_step_at_a_time_equals_whole_sequence(variant, dtype):
    T, B, I, H = 9, 3, 4, 6
    inp = variant.make_inputs(rng_for(variant.id, "steps"), T, B, I, H, dtype)
    whole = variant.forward(inp)
    steps = run_in_chunks(variant, inp, [(t, t + 1) for t in range(T)])
    # bit-identical is expected; allow a few ulp for a different summation order
    tol = dict(rtol=0, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.concatenate([r.y for r in steps]), whole.y, **tol)
    for name in variant.out_names[1:]:
        np.testing.assert_allclose(getattr(steps[-1], name), getattr(whole, name), **tol)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_truncated_bptt_chunks_equal_whole_sequence(variant):
    T, B, I, H = 8, 2, 3, 5
    rng = rng_for(variant.id, "chunks")
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    _, whole = variant.forward_backward(inp, cot)
    bounds = [(0, 3), (3, 4), (4, 8)]
    results = run_in_chunks(variant, inp, bounds)
    carry = {n: cot[n] for n in variant.cot_names[1:]}  # dh_n (, dc_n) of the last chunk
    dx, total = [], {}
    for (a, b), res in zip(reversed(bounds), reversed(results)):
        grads = variant.backward(res.cache, dict(carry, dy=cot["dy"][a:b]))
        g = dict(zip(variant.grad_names, grads))
        dx.insert(0, g["dx"])
        carry = {"dh_n": g["dh0"], **({"dc_n": g["dc0"]} if variant.has_cell else {})}
        for name in ("dw_ih", "dw_hh", "db_ih", "db_hh"):
            total[name] = total.get(name, 0) + g[name]
    tol = dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.concatenate(dx), whole["dx"], **tol)
    np.testing.assert_allclose(carry["dh_n"], whole["dh0"], **tol)
    if variant.has_cell:
        np.testing.assert_allclose(carry["dc_n"], whole["dc0"], **tol)
    for name, value in total.items():
        np.testing.assert_allclose(value, whole[name], err_msg=name, **tol)


@pytest.mark.parametrize("kind_ids", [("rnn_tanh", "rnn_relu", "rnn_sigmoid"),
                                      ("gru", "gru_reset_after")], ids=["rnn", "gru"])
def test_options_select_different_math(kind_ids):
    """The nonlinearity / reset_after switches are honoured, not ignored."""
    variants = [p.values[0] for p in VARIANT_PARAMS if p.values[0].id in kind_ids]
    inp = variants[0].make_inputs(rng_for(kind_ids), 4, 2, 3, 5)
    ys = [v.forward(inp).y for v in variants]
    for i in range(len(ys)):
        for j in range(i):
            assert not np.allclose(ys[i], ys[j])

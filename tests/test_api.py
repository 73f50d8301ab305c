"""The functional API's contract (docs/math.md, Conventions): result types, the
cache, optional cotangents, dtypes, empty sizes, memory layout,
immutability of inputs and determinism."""
import numpy as np
import pytest

from helpers import (DTYPE_PARAMS, KIND_VARIANTS, VARIANT_PARAMS, assert_all_close,
                     assert_identical, copies, rng_for)


def setup(variant, shape=(5, 3, 4, 6), dtype=np.float64, bias=True, state=True, tag=""):
    T, B, I, H = shape
    rng = rng_for(variant.id, shape, np.dtype(dtype).name, tag)
    return (variant.make_inputs(rng, T, B, I, H, dtype, bias, state),
            variant.make_cotangents(rng, T, B, H, dtype))


def run(variant, inp, cot, **kw):
    """All outputs and gradients of one forward+backward, as a flat dict."""
    res = variant.forward(inp, training=True, **kw)
    grads = variant.backward(res.cache, cot)
    return {**variant.outputs(res), **dict(zip(variant.grad_names, grads))}


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_results_are_namedtuples(variant):
    inp, cot = setup(variant)
    res = variant.forward(inp, training=True)
    assert isinstance(res, tuple) and res._fields == variant.out_names + ("cache",)
    *outs, cache = res
    for name, value in zip(variant.out_names, outs):
        assert getattr(res, name) is value
    assert res.cache is cache is not None
    grads = variant.backward(cache, cot)
    assert isinstance(grads, tuple) and grads._fields == variant.grad_names
    for name, value in zip(variant.grad_names, grads):
        assert getattr(grads, name) is value


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_keyword_arguments_equal_positional(variant):
    from helpers import functional
    inp, cot = setup(variant)
    fwd = getattr(functional(), variant.kind + "_forward")
    bwd = getattr(functional(), variant.kind + "_backward")
    res = fwd(**inp, **variant.options, training=True, check_finite=True)
    grads = bwd(cache=res.cache, **cot)
    by_keyword = {**variant.outputs(res), **grads._asdict()}
    assert_identical(by_keyword, run(variant, inp, cot))


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_cache_only_when_training(variant):
    inp, _ = setup(variant)
    assert variant.forward(inp).cache is None
    assert variant.forward(inp, training=False).cache is None


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_backward_needs_a_training_cache(variant):
    inp, cot = setup(variant)
    with pytest.raises(ValueError):
        variant.backward(None, cot)
    with pytest.raises(ValueError):
        variant.backward(variant.forward(inp).cache, cot)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_backward_rejects_another_cells_cache(kind):
    """A cache is opaque but typed: an LSTM cache must never reach the GRU kernel."""
    other = KIND_VARIANTS["lstm" if kind != "lstm" else "gru"]
    inp, _ = setup(other)
    cache = other.forward(inp, training=True).cache
    with pytest.raises((TypeError, ValueError)):
        KIND_VARIANTS[kind].backward(cache)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_absent_cotangents_mean_zeros(variant):
    inp, cot = setup(variant)
    cache = variant.forward(inp, training=True).cache
    zeros = {n: np.zeros_like(a) for n, a in cot.items()}
    expected = variant.backward(cache, zeros)._asdict()
    assert_identical(variant.backward(cache)._asdict(), expected)
    assert all(np.all(g == 0) for g in expected.values() if g is not None)
    for name in variant.cot_names:  # each one absent in turn
        partial = dict(cot, **{name: None})
        expected = variant.backward(cache, dict(cot, **{name: zeros[name]}))._asdict()
        assert_identical(variant.backward(cache, partial)._asdict(), expected)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_every_output_has_the_input_dtype(variant, dtype):
    inp, cot = setup(variant, dtype=dtype, bias="b_ih", state=False)
    out = run(variant, inp, cot)
    assert out.pop("db_hh") is None
    for name, value in out.items():
        assert isinstance(value, np.ndarray) and value.dtype == dtype, name
    B, H = inp["x"].shape[1], inp["w_hh"].shape[1]
    for s in variant.state_names:  # gradients of the implicit zero state
        assert out["d" + s].shape == (B, H)


@pytest.mark.parametrize("with_state", [True, False], ids=["state", "nostate"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_zero_length_sequence(variant, dtype, with_state):
    T, B, I, H = 0, 3, 4, 5
    inp, cot = setup(variant, (T, B, I, H), dtype, state=with_state)
    res = variant.forward(inp, training=True)
    assert res.y.shape == (0, B, H) and res.y.dtype == dtype
    for s, name in zip(variant.state_names, variant.out_names[1:]):
        expected = inp[s] if with_state else np.zeros((B, H), dtype)
        np.testing.assert_array_equal(getattr(res, name), expected)
        assert getattr(res, name).dtype == dtype
    grads = variant.backward(res.cache)._asdict()
    shapes = {"dx": (0, B, I), "dh0": (B, H), "dc0": (B, H), "dw_ih": inp["w_ih"].shape,
              "dw_hh": inp["w_hh"].shape, "db_ih": (variant.gates * H,),
              "db_hh": (variant.gates * H,)}
    for name, g in grads.items():
        assert g.shape == shapes[name] and g.dtype == dtype and not g.any(), name
    # with T == 0, h_n is h0, so the carried-in gradients pass straight through
    grads = variant.backward(res.cache, cot)._asdict()
    for s in variant.state_names:
        np.testing.assert_array_equal(grads["d" + s], cot["d" + s.replace("0", "_n")])
    assert not grads["dw_ih"].any() and not grads["dw_hh"].any() and not grads["db_ih"].any()


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_empty_batch(variant):
    T, B, I, H = 4, 0, 3, 5
    inp, cot = setup(variant, (T, B, I, H))
    out = run(variant, inp, cot)
    shapes = {"y": (T, 0, H), "h_n": (0, H), "c_n": (0, H), "dx": (T, 0, I),
              "dh0": (0, H), "dc0": (0, H), "dw_ih": inp["w_ih"].shape,
              "dw_hh": inp["w_hh"].shape, "db_ih": (variant.gates * H,),
              "db_hh": (variant.gates * H,)}
    for name, value in out.items():
        assert value.shape == shapes[name], name
        if name.startswith(("dw", "db")):
            assert not value.any(), name


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_zero_input_size(variant):
    """I == 0: no input projection; the recurrence alone drives the state."""
    inp, cot = setup(variant, (4, 2, 0, 5))
    out = run(variant, inp, cot)
    assert out["dx"].shape == (4, 2, 0) and out["dw_ih"].shape == (variant.gates * 5, 0)
    assert_all_close({n: out[n] for n in variant.out_names}, variant.ref_forward(inp),
                     np.float64)
    grads = variant.ref_backward(inp, cot)
    assert_all_close({n: out[n] for n in variant.grad_names}, grads, np.float64)


def strided(a, kind):
    """The same values in a non-contiguous layout."""
    if a is None:
        return None
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "reversed":  # negative strides along the first axis
        return a[::-1].copy()[::-1]
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)  # every other element
    wide[..., ::2] = a
    return wide[..., ::2]


@pytest.mark.parametrize("layout", ["fortran", "reversed", "every_other"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_non_contiguous_inputs_give_identical_results(variant, dtype, layout):
    inp, cot = setup(variant, dtype=dtype)
    expected = run(variant, inp, cot)
    inp2 = {n: strided(a, layout) for n, a in inp.items()}
    cot2 = {n: strided(a, layout) for n, a in cot.items()}
    if layout != "reversed":
        assert not inp2["x"].flags.c_contiguous and not inp2["w_ih"].flags.c_contiguous
    # x[:, ::2] from a wider batch, as in the contract
    wide_x = np.repeat(inp["x"], 2, axis=1)
    inp3 = dict(inp, x=wide_x[:, ::2], w_hh=np.asfortranarray(inp["w_hh"]))
    assert_identical(run(variant, inp2, cot2), expected)
    assert_identical(run(variant, inp3, cot), expected)


@pytest.mark.parametrize("check_finite", [True, False])
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_inputs_are_never_modified(variant, check_finite):
    inp, cot = setup(variant)
    inp_before, cot_before = copies(inp), copies(cot)
    res = variant.forward(inp, training=True, check_finite=check_finite)
    outs_before = copies(variant.outputs(res))
    first = variant.backward(res.cache, cot)._asdict()
    second = variant.backward(res.cache, cot)._asdict()  # the cache is reusable
    assert_identical(inp, inp_before)
    assert_identical(cot, cot_before)
    assert_identical(variant.outputs(res), outs_before)
    assert_identical(first, second)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_repeated_runs_are_bit_identical(variant):
    inp, cot = setup(variant, (13, 8, 9, 33))
    assert_identical(run(variant, inp, cot), run(variant, inp, cot))


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_check_finite_false_skips_the_check(variant):
    inp, _ = setup(variant)
    expected = variant.forward(inp)
    assert_identical(variant.outputs(variant.forward(inp, check_finite=False)),
                     variant.outputs(expected))
    inp["x"][1, 0, 0] = np.nan
    res = variant.forward(inp, check_finite=False)  # no exception; NaN is the user's choice
    assert res.y.shape == expected.y.shape

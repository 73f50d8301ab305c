"""The CUDA kernels against the plain-numpy oracle and the CPU kernels.

The CPU tests' cases (``helpers.VARIANTS``, the oracle in ``reference/``),
run through the same functional API with device arrays. Without a GPU they
run in numba's simulator (``NUMBA_ENABLE_CUDASIM=1``), which executes every
thread in Python: shapes are kept tiny. Skipped when there is neither.
"""
import numba
import numpy as np
import pytest

from helpers import (DTYPE_PARAMS, GRAD_OF, TOL, VARIANT_PARAMS, assert_all_close, copies,
                     fd_gradient, rel_error, rng_for)

cuda = pytest.importorskip("numba.cuda")
if not cuda.is_available():
    pytest.skip("needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)
pytestmark = pytest.mark.cuda

from numbarnn.functional.checks import is_device_array  # noqa: E402

# (T, B, I, H): the simulator runs each thread in Python, so its shapes are
# tiny; a real GPU also gets shapes with more units than a block has threads,
# several warps and enough steps for errors to grow.
SHAPES = [(1, 1, 1, 1), (3, 2, 3, 4), (4, 1, 2, 3)]
if not numba.config.ENABLE_CUDASIM:
    SHAPES += [(20, 4, 8, 64), (5, 3, 7, 300), (7, 33, 5, 40)]
SHAPE_PARAMS = [pytest.param(s, id="T{}B{}I{}H{}".format(*s)) for s in SHAPES]
CPU_AGREEMENT = 1e-12  # float64, relative to the largest magnitude


def to_device(d):
    return {k: None if a is None else cuda.to_device(a) for k, a in d.items()}


def to_host(d):
    out = {}
    for k, a in d.items():
        assert a is None or is_device_array(a), f"{k}: {type(a)} is not a device array"
        out[k] = None if a is None else a.copy_to_host()
    return out


def device_forward_backward(variant, inp, cot):
    res = variant.forward(to_device(inp), training=True)
    grads = variant.backward(res.cache, to_device(cot))
    return to_host(variant.outputs(res)), to_host(dict(zip(variant.grad_names, grads)))


def check(variant, shape, dtype, bias=True, state=True):
    T, B, I, H = shape
    rng = rng_for("cuda", variant.id, shape, np.dtype(dtype).name, bias, state)
    inp = variant.make_inputs(rng, T, B, I, H, dtype, bias, state)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    before = copies(inp)
    outs, grads = device_forward_backward(variant, inp, cot)
    for name, a in inp.items():  # inputs are never modified
        assert (a is None) == (before[name] is None)
        if a is not None:
            np.testing.assert_array_equal(a, before[name], err_msg=name)
    assert_all_close(outs, variant.ref_forward(inp), dtype)
    assert_all_close(grads, variant.ref_backward(inp, cot), dtype)
    cpu_outs, cpu_grads = variant.forward_backward(inp, cot)
    for name, want in {**cpu_outs, **cpu_grads}.items():
        got = {**outs, **grads}[name]
        if want is None:
            assert got is None, name
        elif np.dtype(dtype) == np.float64:
            assert rel_error(got, want) <= CPU_AGREEMENT, (name, rel_error(got, want))
        else:
            np.testing.assert_allclose(got, want, err_msg=name, **TOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("shape", SHAPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_matches_reference_and_cpu(variant, shape, dtype):
    check(variant, shape, dtype)


@pytest.mark.parametrize("bias,state", [(False, False), ("b_hh", "h0"), ("b_ih", "c0")],
                         ids=["bare", "b_hh-h0", "b_ih-c0"])
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_absent_biases_and_states(variant, bias, state):
    check(variant, (3, 2, 2, 3), np.float64, bias, state)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_gradients_match_finite_differences(variant):
    """The device backward pass against central differences of the oracle's
    forward pass (independent of both numbarnn forward passes)."""
    T, B, I, H = 3, 2, 2, 2
    rng = rng_for("cuda-fd", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    _, grads = device_forward_backward(variant, inp, cot)
    arrays = copies(inp)
    errors = {}
    for gname, iname in GRAD_OF.items():
        if gname in grads:
            fd = fd_gradient(lambda: variant.loss(variant.ref_forward(arrays), cot), arrays, iname)
            errors[gname] = rel_error(grads[gname], fd)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_empty_sequence(variant):
    inp = variant.make_inputs(rng_for("cuda-empty", variant.id), 0, 2, 3, 2)
    res = variant.forward(to_device(inp), training=True)
    outs = to_host(variant.outputs(res))
    assert outs["y"].shape == (0, 2, 2)
    np.testing.assert_array_equal(outs["h_n"], inp["h0"])
    grads = to_host(dict(zip(variant.grad_names, variant.backward(res.cache))))
    assert grads["dx"].shape == (0, 2, 3)
    assert not np.any(grads["dw_hh"]) and not np.any(grads["db_ih"])


@pytest.mark.parametrize("variant", VARIANT_PARAMS[3:])
def test_strided_device_inputs(variant):
    """Non-contiguous device views (here x and w_ih transposed) give the
    results of their contiguous copies."""
    T, B, I, H = 2, 2, 3, 2
    inp = variant.make_inputs(rng_for("cuda-strided", variant.id), T, B, I, H)
    want = to_host(variant.outputs(variant.forward(to_device(inp))))
    dev = to_device(inp)
    # every other column of a twice-as-wide device array (a numba device
    # array's .T is a copy, not a view)
    for name in ("x", "w_ih"):
        wide = np.repeat(inp[name], 2, axis=-1)
        dev[name] = cuda.to_device(wide)[(slice(None),) * (wide.ndim - 1) + (slice(0, None, 2),)]
        assert not dev[name].is_c_contiguous()
    got = to_host(variant.outputs(variant.forward(dev)))
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize("variant", VARIANT_PARAMS[:1] + VARIANT_PARAMS[3:4])
def test_inference_keeps_no_cache_and_training_outputs_are_copies(variant):
    T, B, I, H = 2, 1, 2, 2
    rng = rng_for("cuda-cache", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    assert variant.forward(to_device(inp)).cache is None
    res = variant.forward(to_device(inp), training=True)
    before = to_host(dict(zip(variant.grad_names, variant.backward(res.cache, to_device(cot)))))
    res.y.copy_to_device(np.full(res.y.shape, 7.0))  # the user's y is theirs to change
    after = to_host(dict(zip(variant.grad_names, variant.backward(res.cache, to_device(cot)))))
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


# Each layout of the time loops (kernels/cuda/steps.py), forced on a small
# shape: "block" (weights in registers, or read through L1, or the chunked
# loop instead of the fused one); "grid" with one block holding every pair (the fused loop);
# and "grid" with one staged row, so the block walks the batch in three
# chunks (the chunked loop). A real GPU also runs grids of several blocks
# (the simulator runs blocks one after another, so a grid barrier there
# only works for one block).
LAYOUTS = ["block", "block-weights-in-L1", ("grid", 5, 3), ("grid", 5, 1, 3), "block-chunked"]
if not numba.config.ENABLE_CUDASIM:
    LAYOUTS += [("grid", 2, 1), ("grid", 2, 2), ("grid", 1, 3), ("grid", 2, 1, 2)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_each_time_loop_layout(variant, layout, monkeypatch):
    from numbarnn.kernels.cuda import steps

    if layout == "block-weights-in-L1":  # no weights kept in registers
        layout = "block"
        monkeypatch.setattr(steps, "REGISTER_WEIGHTS", 0)
    if layout == "block-chunked":  # the chunked loops where the fused ones would run
        layout = "block"
        monkeypatch.setattr(steps, "FORCE_FUSED", False)
    monkeypatch.setattr(steps, "FORCE_LAYOUT", layout)
    check(variant, (4, 3, 2, 5), np.float64)

"""float64 central finite-difference checks of every gradient, every variant.

The loss is L = sum(dy*y) + sum(dh_n*h_n) (+ sum(dc_n*c_n)); the finite
differences use a forward pass only (numbarnn's with training=False, or the
oracle's), so they are independent of the backward pass being checked.
"""
import numpy as np
import pytest

from helpers import GRAD_OF, VARIANT_PARAMS, copies, fd_gradient, rel_error, rng_for

FD_SHAPES = [(3, 2, 3, 2), (4, 1, 2, 3)]  # (T, B, I, H)
MAX_REL_ERROR = 1e-6


def worst_fd_error(variant, inp, cot, impl):
    """Worst relative error over all gradients, and a per-gradient table."""
    if impl == "numbarnn":
        res = variant.forward(inp, training=True)
        grads = dict(zip(variant.grad_names, variant.backward(res.cache, cot)))

        def outputs(a):
            return variant.outputs(variant.forward(a, training=False))
    else:
        grads = variant.ref_backward(inp, cot)
        outputs = variant.ref_forward
    # Absent states are differentiated as explicit zeros; absent biases have no gradient.
    B, H = inp["x"].shape[1], inp["w_hh"].shape[1]
    arrays = copies(inp)
    for s in variant.state_names:
        if arrays[s] is None:
            arrays[s] = np.zeros((B, H))
    errors = {}
    for gname, iname in GRAD_OF.items():
        if gname not in grads:
            continue
        if arrays[iname] is None:
            assert grads[gname] is None, f"{gname} should be None for an absent {iname}"
            continue
        assert grads[gname] is not None and grads[gname].shape == arrays[iname].shape, gname
        fd = fd_gradient(lambda: variant.loss(outputs(arrays), cot), arrays, iname)
        errors[gname] = rel_error(grads[gname], fd)
    return max(errors.values()), errors


@pytest.mark.parametrize("impl", ["reference", "numbarnn"])
@pytest.mark.parametrize("bias,state", [(True, True), (False, False), ("b_hh", "h0")],
                         ids=["full", "bare", "partial"])
@pytest.mark.parametrize("shape", FD_SHAPES, ids=str)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_gradients_match_finite_differences(variant, shape, bias, state, impl, record_property):
    rng = rng_for(variant.id, shape, bias, state)
    T, B, I, H = shape
    inp = variant.make_inputs(rng, T, B, I, H, np.float64, bias, state)
    cot = variant.make_cotangents(rng, T, B, H)
    worst, errors = worst_fd_error(variant, inp, cot, impl)
    record_property("worst_rel_error", worst)
    table = ", ".join(f"{k}={v:.1e}" for k, v in errors.items())
    assert worst < MAX_REL_ERROR, f"worst relative FD error {worst:.2e} ({table})"

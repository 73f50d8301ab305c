"""Dispatch and validation on the GPU path of the functional API.

Device arguments are checked exactly as host ones (the tables of
``test_validation.py``, reused), host and device arrays never mix, and
results are device arrays. Runs on a GPU or in numba's simulator
(``NUMBA_ENABLE_CUDASIM=1``); skipped when there is neither.
"""
import numpy as np
import pytest

from helpers import KIND_PARAMS, KIND_VARIANTS, rng_for
from test_validation import BAD_BACKWARD, BAD_FORWARD, NON_FINITE, B, H, I, T, cases, named

cuda = pytest.importorskip("numba.cuda")
if not cuda.is_available():
    pytest.skip("needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)
pytestmark = pytest.mark.cuda

from numbarnn.functional.checks import is_device_array  # noqa: E402


def inputs(variant):
    """Inputs of the validation tables' sizes (T, B, I, H) = (4, 3, 2, 5)."""
    rng = rng_for("cuda-dispatch", variant.id)
    return variant.make_inputs(rng, T, B, I, H), variant.make_cotangents(rng, T, B, H)


def on_device(d):
    return {k: None if a is None else cuda.to_device(a) for k, a in d.items()}


@pytest.fixture(scope="module")
def device_caches():
    """One training forward pass on the device per kind, shared by the
    backward tests (a backward pass leaves its cache unchanged)."""
    return {kind: v.forward(on_device(inputs(v)[0]), training=True).cache
            for kind, v in KIND_VARIANTS.items()}


@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_results_are_device_arrays(variant, device_caches):
    inp, cot = inputs(variant)
    res = variant.forward(on_device(inp))
    assert all(is_device_array(a) for a in tuple(res)[:-1])
    grads = variant.backward(device_caches[variant.kind], on_device(cot))
    assert all(a is None or is_device_array(a) for a in grads)
    assert type(grads).__name__ == variant.kind.upper() + "Grads" and grads.dx.shape == (T, B, I)


@pytest.mark.parametrize("arg", ["x", "w_hh", "b_ih", "h0"])
@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_mixing_host_and_device_forward_is_a_type_error(variant, arg):
    inp, _ = inputs(variant)
    mixed = dict(inp, **{arg: cuda.to_device(inp[arg])})
    with pytest.raises(TypeError, match=named(arg)):
        variant.forward(mixed)
    mixed = dict(on_device(inp), **{arg: inp[arg]})
    with pytest.raises(TypeError, match=named(arg)):
        variant.forward(mixed)


@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_mixing_host_and_device_backward_is_a_type_error(variant, device_caches):
    inp, cot = inputs(variant)
    with pytest.raises(TypeError, match="dy"):
        variant.backward(device_caches[variant.kind], cot)
    host_cache = variant.forward(inp, training=True).cache
    with pytest.raises(TypeError, match="dy"):
        variant.backward(host_cache, on_device(cot))


def _device_or_skip(a):
    if a.dtype == object:
        pytest.skip("object arrays cannot live on a GPU")
    return cuda.to_device(np.ascontiguousarray(a))


def _same_message(variant, inp, dev, exc, **kw):
    """The device path raises what the host path raises, word for word."""
    with pytest.raises(exc) as host_err:
        variant.forward(inp, **kw)
    with pytest.raises(exc) as dev_err:
        variant.forward(dev, **kw)
    assert str(dev_err.value) == str(host_err.value)


@pytest.mark.parametrize("variant,arg,bad,exc,names", cases(BAD_FORWARD))
def test_bad_forward_argument(variant, arg, bad, exc, names):
    inp, _ = inputs(variant)
    inp[arg] = bad(variant, inp)
    dev = on_device({k: v for k, v in inp.items() if k != arg})
    dev[arg] = _device_or_skip(inp[arg])
    _same_message(variant, inp, dev, exc)


# With the check skipped, Inf meets 0 in the kernels; the simulator does that
# arithmetic on NumPy scalars, which warn (compiled kernels do not).
@pytest.mark.filterwarnings("ignore:.*invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("variant,arg,bad", cases(NON_FINITE))
def test_non_finite_rejected_by_default(variant, arg, bad):
    inp, _ = inputs(variant)
    inp[arg] = bad(variant, inp)
    dev = on_device(inp)
    _same_message(variant, inp, dev, ValueError)
    variant.forward(dev, check_finite=False)  # the check is skipped


@pytest.mark.parametrize("variant,arg,bad,exc", cases(BAD_BACKWARD))
def test_bad_backward_argument(variant, arg, bad, exc, device_caches):
    _, cot = inputs(variant)
    cot = on_device(cot)
    cot[arg] = cuda.to_device(bad())
    with pytest.raises(exc, match=named(arg)):
        variant.backward(device_caches[variant.kind], cot)


def test_non_finite_incoming_gradient_rejected(device_caches):
    v = KIND_VARIANTS["lstm"]
    _, cot = inputs(v)
    cot["dc_n"][0, 0] = np.nan
    with pytest.raises(ValueError, match=named("dc_n")):
        v.backward(device_caches["lstm"], on_device(cot))


def test_backward_rejects_another_cells_cache(device_caches):
    with pytest.raises(ValueError, match="gru_forward"):
        KIND_VARIANTS["lstm"].backward(device_caches["gru"])

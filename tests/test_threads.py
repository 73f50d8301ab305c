"""The multi-threaded schedule: a pass split over batch shares (and, for the
input projection and the weight gradients, over rows) gives the oracle's
numbers, and the serial pass's numbers, whatever the share count.

Real shapes only split when the work is large, so these tests lower the
thresholds to force the split on small, fast shapes.
"""
import numpy as np
import pytest

import numbarnn
from numbarnn.functional import checks, schedule

from helpers import DTYPE_PARAMS, VARIANT_PARAMS, check_against_reference, rng_for


@pytest.fixture
def threads(monkeypatch, request):
    monkeypatch.setattr(schedule, "PARALLEL_WORK", 0)
    monkeypatch.setattr(schedule, "SPLIT_STEP_WORK", 1 << 62)
    old = numbarnn.set_num_threads(request.param)
    yield request.param
    numbarnn.set_num_threads(old)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_split_pass_matches_reference(variant, dtype, threads, monkeypatch):
    T, B, I, H = 6, 5, 4, 7   # B not a multiple of the share count: uneven shares
    assert schedule.parts_for(T, B, I, H, variant.gates * H) == threads
    inp, outs = check_against_reference(variant, (T, B, I, H), dtype, tag=("threads", threads))
    # inference runs the steps in chunks: force chunks of two steps
    monkeypatch.setattr(checks, "CHUNK_ELEMENTS", 2 * B * variant.gates * H)
    infer = variant.outputs(variant.forward(inp))
    np.testing.assert_allclose(infer["y"], outs["y"], rtol=0, atol=0)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_share_count_does_not_change_results(variant, monkeypatch):
    T, B, I, H = 5, 6, 3, 9
    rng = rng_for("threads-vs-serial", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H)
    cot = variant.make_cotangents(rng, T, B, H)
    serial = variant.forward_backward(inp, cot)
    monkeypatch.setattr(schedule, "PARALLEL_WORK", 0)
    monkeypatch.setattr(schedule, "SPLIT_STEP_WORK", 1 << 62)
    old = numbarnn.set_num_threads(2)
    try:
        split = variant.forward_backward(inp, cot)
    finally:
        numbarnn.set_num_threads(old)
    for a, b in zip(serial, split):
        for name in a:
            if a[name] is not None:
                np.testing.assert_allclose(b[name], a[name], rtol=1e-13, atol=1e-14,
                                           err_msg=name)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="at least 1"):
        numbarnn.set_num_threads(0)

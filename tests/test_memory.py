"""Inference (training=False) allocates nothing proportional to T beyond
the output: the input projection runs in chunks of bounded size.

numpy reports its allocations to tracemalloc, so the peak of a forward pass
is measured directly; the peak minus the output's size must not grow with T.
The engine's buffer pool is off here: a pass would otherwise reuse what the
one before it allocated, and allocate (so trace) nothing.
"""
import tracemalloc

import numpy as np
import pytest

from helpers import KIND_PARAMS, rng_for

from numbarnn.functional import buffers


@pytest.fixture(autouse=True)
def unpooled(monkeypatch):
    monkeypatch.setattr(buffers, "POOL_BYTES", 0)
    buffers.release()


def peak_beyond_output(variant, T, training):
    B, I, H = 3, 2, 16
    rng = rng_for("memory", variant.id)
    inp = variant.make_inputs(rng, T, B, I, H)
    variant.forward(inp, training=training)  # compile / load outside the measurement
    tracemalloc.start()
    try:
        res = variant.forward(inp, training=training)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - res.y.nbytes


@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_inference_memory_does_not_grow_with_T(variant, monkeypatch):
    from numbarnn.functional import checks, engine

    # chunks of 64 steps: the sequences below span 1 and 40 chunks (the
    # batch-split kernels read CHUNK_ELEMENTS, the engine CHUNK_VALUES over its
    # padded gate columns)
    monkeypatch.setattr(checks, "CHUNK_ELEMENTS", 64 * 3 * variant.gates * 16)
    lay = engine.layout(variant.gates, 16, np.float64)
    monkeypatch.setattr(engine, "CHUNK_VALUES", 64 * 3 * lay.C)
    short = peak_beyond_output(variant, 64, training=False)
    long = peak_beyond_output(variant, 64 * 40, training=False)
    assert long <= short + 4096, (short, long)


@pytest.mark.parametrize("variant", KIND_PARAMS)
def test_training_keeps_every_step(variant):
    # the cache is what grows: a check that the measurement sees growth at all
    short = peak_beyond_output(variant, 64, training=True)
    long = peak_beyond_output(variant, 64 * 40, training=True)
    assert long > 20 * short

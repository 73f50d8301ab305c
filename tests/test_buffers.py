"""The engine's buffer pool (numbarnn/functional/buffers.py).

A pooled buffer may be handed out again only when nothing made from it is
alive. These tests hold results, caches and views of them across later
passes and check every number against the numpy reference: a buffer reused
while busy would overwrite them.
"""
import numpy as np
import pytest

from helpers import VARIANT_PARAMS, assert_all_close, rng_for, run_in_threads

from numbarnn.functional import buffers

# large enough that every cell's packed weights, gate buffers and states are
# pooled (SMALL_BYTES), two float64 unit blocks and a half
SHAPE = (30, 6, 5, 20)


def _pass(variant, seed, dtype=np.float64):
    T, B, I, H = SHAPE
    rng = rng_for("buffers", variant.id, seed)
    inp = variant.make_inputs(rng, T, B, I, H, dtype)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    return inp, cot


def test_a_buffer_is_reused_only_when_nothing_holds_it():
    buffers.release()
    a = buffers.empty((64, 64), np.float64)
    where = a.ctypes.data
    b = buffers.empty((64, 64), np.float64)
    assert not np.shares_memory(a, b)
    view = a[10:].reshape(-1)     # a view keeps a's buffer busy
    del a
    c = buffers.empty((64, 64), np.float64)
    assert not np.shares_memory(c, view)
    del view, c
    assert buffers.empty((64, 64), np.float64).ctypes.data == where
    d = buffers.empty((64, 64), np.float64)
    assert d.ctypes.data % buffers.ALIGN == 0
    assert not np.shares_memory(d, b)


def test_small_buffers_are_plain_arrays(monkeypatch):
    before = buffers.pooled_bytes()[0]
    a = buffers.empty(buffers.SMALL_BYTES // 8 - 1, np.float64)
    assert a.base is None and buffers.pooled_bytes()[0] == before
    # a request seen before takes the short way: still a new plain array
    again = [buffers.empty(buffers.SMALL_BYTES // 8 - 1, np.float64) for _ in range(2)]
    assert all(b.base is None and not np.shares_memory(a, b) for b in again)
    assert not np.shares_memory(*again) and buffers.pooled_bytes()[0] == before
    # the requests it remembers are bounded; a large one is never among them
    monkeypatch.setattr(buffers, "_small", set())
    monkeypatch.setattr(buffers, "_SMALL_KEYS", 3)
    for n in range(1, 10):
        assert buffers.empty((n, 2), np.float32).shape == (n, 2)
    big = buffers.empty(buffers.SMALL_BYTES, np.uint8)
    assert len(buffers._small) == 3 and big.base is not None


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_results_held_across_later_passes_stay_right(variant):
    # pass 1's outputs, its cache and a view of its y stay alive while pass 2
    # (same shapes: the same pooled buffers, were they free) runs, then pass
    # 1's backward runs: all of it must still match the reference
    inp1, cot1 = _pass(variant, 1)
    res1 = variant.forward(inp1, training=True)
    outs1 = variant.outputs(res1)
    y_view = res1.y[2:, 1:]
    inp2, cot2 = _pass(variant, 2)
    outs2, grads2 = variant.forward_backward(inp2, cot2)
    variant.forward(inp2, training=False)
    grads1 = dict(zip(variant.grad_names, variant.backward(res1.cache, cot1)))
    assert_all_close(outs1, variant.ref_forward(inp1), np.float64)
    assert_all_close(grads1, variant.ref_backward(inp1, cot1), np.float64)
    assert_all_close({"y": y_view}, {"y": variant.ref_forward(inp1)["y"][2:, 1:]}, np.float64)
    assert_all_close(outs2, variant.ref_forward(inp2), np.float64)
    assert_all_close(grads2, variant.ref_backward(inp2, cot2), np.float64)


@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_stale_contents_of_pooled_buffers_are_never_read(variant):
    # what a pass leaves in a free buffer is arbitrary: NaN in every free
    # pooled buffer before a pass would turn any value read from it into NaN
    inp, cot = _pass(variant, 3, np.float32)
    variant.forward_backward(inp, cot)
    with buffers._lock:
        for arrs in buffers._pool.values():
            for a in arrs:
                if buffers._refs(a) == buffers._FREE:
                    a.base.view(np.uint8).fill(0xFF)   # NaN in float32 and float64
    outs, grads = variant.forward_backward(inp, cot)
    assert_all_close(outs, variant.ref_forward(inp), np.float32)
    assert_all_close(grads, variant.ref_backward(inp, cot), np.float32)


def test_concurrent_passes_in_user_threads():
    from helpers import KIND_VARIANTS
    variant = KIND_VARIANTS["lstm"]
    jobs = [_pass(variant, 10 + k) for k in range(4)]
    expected = [variant.forward_backward(inp, cot) for inp, cot in jobs]
    errors = []

    def work(k):
        try:
            for _ in range(15):
                outs, grads = variant.forward_backward(*jobs[k])
                for name, value in {**outs, **grads}.items():
                    want = {**expected[k][0], **expected[k][1]}[name]
                    if not np.array_equal(value, want):
                        errors.append((k, name))
        except BaseException as exc:   # reported below, never lost
            errors.append(exc)

    run_in_threads(work, 4)
    assert not errors, errors[:5]


def test_the_pool_keeps_at_most_POOL_BYTES(monkeypatch):
    from helpers import KIND_VARIANTS
    variant = KIND_VARIANTS["gru"]
    buffers.release()
    cap = 1 << 20
    monkeypatch.setattr(buffers, "POOL_BYTES", buffers.pooled_bytes()[0] + cap)
    held = []
    for T in (10, 40, 80, 10, 160):
        inp, cot = _pass(variant, T)
        inp["x"] = np.resize(inp["x"], (T,) + inp["x"].shape[1:])
        cot["dy"] = np.resize(cot["dy"], (T,) + cot["dy"].shape[1:])
        outs, grads = variant.forward_backward(inp, cot)
        held.append(outs)
        assert buffers.pooled_bytes()[0] <= buffers.POOL_BYTES
        assert_all_close(outs, variant.ref_forward(inp), np.float64)
        assert_all_close(grads, variant.ref_backward(inp, cot), np.float64)


def test_release_drops_the_free_buffers():
    keep = buffers.empty((128, 128), np.float64)
    buffers.empty((256, 128), np.float64)
    buffers.release()
    held, free = buffers.pooled_bytes()
    assert free == 0 and held >= keep.base.nbytes
    del keep
    assert buffers.pooled_bytes()[1] > 0
    buffers.release()
    assert buffers.pooled_bytes()[1] == 0

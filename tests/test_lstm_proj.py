"""LSTM with a projection (PyTorch's ``proj_size``) in the functional API:
the oracle ``reference.lstm.forward_proj``/``backward_proj``, finite
differences of every gradient, torch autograd, the threaded split (the same
bits as one thread), inference against the training pass, and the shape
checks.
"""
import numpy as np
import pytest

import numbarnn
from numbarnn.functional import (LSTMGrads, LSTMProjGrads, checks, engine, lstm_backward,
                                 lstm_forward)
from reference import lstm as ref

from helpers import DTYPE_PARAMS, TOL, fd_gradient, rel_error, rng_for

# (T, B, I, H, P): tiny, odd, a P of 1, several unit blocks, and B = 11 (an
# 8-row register tile and single rows) with H and P of several blocks and
# panels in both dtypes
SHAPES = [(1, 1, 1, 2, 1), (7, 3, 5, 6, 4), (5, 2, 3, 9, 1), (6, 4, 5, 40, 24),
          (3, 8, 4, 64, 48), (4, 11, 3, 70, 33)]
SHAPE_IDS = ["T{}B{}I{}H{}P{}".format(*s) for s in SHAPES]
NAMES = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0", "w_hr")
# torch's float32 CPU LSTM says it falls back from oneDNN for projections
# (and the thread tests split small shapes on purpose: conftest.py)
pytestmark = [pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning"),
    pytest.mark.usefixtures("split_small_passes")]
GRAD_OF = dict(dx="x", dh0="h0", dc0="c0", dw_ih="w_ih", dw_hh="w_hh", db_ih="b_ih",
               db_hh="b_hh", dw_hr="w_hr")


def make_inputs(rng, T, B, I, H, P, dtype=np.float64, bias=True):
    scale = 1.0 / np.sqrt(H)
    a = dict(x=rng.standard_normal((T, B, I)),
             w_ih=rng.uniform(-scale, scale, (4 * H, I)) * 2,
             w_hh=rng.uniform(-scale, scale, (4 * H, P)) * 2,
             b_ih=rng.standard_normal(4 * H) * 0.5 if bias else None,
             b_hh=rng.standard_normal(4 * H) * 0.5 if bias else None,
             h0=rng.standard_normal((B, P)) * 0.5, c0=rng.standard_normal((B, H)) * 0.5,
             w_hr=rng.uniform(-scale, scale, (P, H)) * 2)
    return {k: None if v is None else v.astype(dtype) for k, v in a.items()}


def make_cot(rng, T, B, H, P, dtype=np.float64):
    return dict(dy=rng.standard_normal((T, B, P)).astype(dtype),
                dh_n=rng.standard_normal((B, P)).astype(dtype),
                dc_n=rng.standard_normal((B, H)).astype(dtype))


def run(inp, cot, **kw):
    w = {k: inp[k] for k in NAMES if k != "x"}
    y, h_n, c_n, cache = lstm_forward(inp["x"], **{k: w[k] for k in NAMES[1:7]},
                                      w_hr=w["w_hr"], training=True, **kw)
    return (y, h_n, c_n), lstm_backward(cache, cot["dy"], cot["dh_n"], cot["dc_n"])


def ref_args(inp):
    return [None if inp[k] is None else inp[k].astype(np.float64)
            for k in ("x", "w_ih", "w_hh", "w_hr", "b_ih", "b_hh", "h0", "c0")]


def check_against_reference(inp, cot, dtype):
    outs, grads = run(inp, cot)
    args = ref_args(inp)
    tol = TOL[np.dtype(dtype)]
    for name, a, b in zip(("y", "h_n", "c_n"), outs, ref.forward_proj(*args)):
        assert a.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **tol)
    want = ref.backward_proj(*args, *(cot[k].astype(np.float64) for k in ("dy", "dh_n", "dc_n")))
    assert isinstance(grads, LSTMProjGrads)
    for name, a, b in zip(LSTMProjGrads._fields, grads, want):
        if b is None:
            assert a is None, name
            continue
        assert a.dtype == dtype and a.shape == inp[GRAD_OF[name]].shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **tol)
    return outs, grads


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_matches_reference(shape, dtype, bias):
    T, B, I, H, P = shape
    rng = rng_for("proj-ref", shape, np.dtype(dtype).name, bias)
    check_against_reference(make_inputs(rng, *shape, dtype, bias), make_cot(rng, T, B, H, P, dtype),
                            dtype)


def test_reference_with_identity_like_projection_is_plain_lstm():
    """The oracle itself: w_hr = [I 0] makes h the first P units of m, so a
    plain LSTM whose w_hh has zero columns past P computes the same c."""
    rng = np.random.default_rng(5)
    T, B, I, H, P = 4, 2, 3, 5, 3
    inp = make_inputs(rng, T, B, I, H, P)
    w_hr = np.eye(P, H)
    w_hh_full = np.zeros((4 * H, H))
    w_hh_full[:, :P] = inp["w_hh"]
    h0_full = np.zeros((B, H))
    h0_full[:, :P] = inp["h0"]
    y, h, c = ref.forward_proj(inp["x"], inp["w_ih"], inp["w_hh"], w_hr, inp["b_ih"],
                               inp["b_hh"], inp["h0"], inp["c0"])
    y2, h2, c2 = ref.forward(inp["x"], inp["w_ih"], w_hh_full, inp["b_ih"], inp["b_hh"],
                             h0_full, inp["c0"])
    np.testing.assert_allclose(y, y2[..., :P], atol=1e-14)
    np.testing.assert_allclose(c, c2, atol=1e-14)


@pytest.mark.parametrize("shape", [(4, 2, 3, 5, 2), (3, 3, 2, 4, 3)])
def test_finite_differences(shape):
    """Central differences of L = Σ dy·y + Σ dh_n·h_n + Σ dc_n·c_n, float64."""
    T, B, I, H, P = shape
    rng = rng_for("proj-fd", shape)
    inp = make_inputs(rng, *shape)
    cot = make_cot(rng, T, B, H, P)

    def loss():
        y, h_n, c_n, _ = lstm_forward(inp["x"], *(inp[k] for k in NAMES[1:7]),
                                      w_hr=inp["w_hr"])
        return float((cot["dy"] * y).sum() + (cot["dh_n"] * h_n).sum()
                     + (cot["dc_n"] * c_n).sum())

    _, grads = run(inp, cot)
    for name, g in zip(LSTMProjGrads._fields, grads):
        num = fd_gradient(loss, inp, GRAD_OF[name])
        assert rel_error(g, num) < 1e-7, (name, rel_error(g, num))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_matches_torch(dtype, bias):
    torch = pytest.importorskip("torch")
    T, B, I, H, P = 6, 3, 4, 7, 3
    rng = rng_for("proj-torch", np.dtype(dtype).name, bias)
    inp = make_inputs(rng, T, B, I, H, P, dtype, bias)
    cot = make_cot(rng, T, B, H, P, dtype)
    outs, grads = run(inp, cot)

    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    mod = torch.nn.LSTM(I, H, bias=bias, proj_size=P).to(tdtype)
    with torch.no_grad():
        names = dict(weight_ih_l0="w_ih", weight_hh_l0="w_hh", weight_hr_l0="w_hr",
                     bias_ih_l0="b_ih", bias_hh_l0="b_hh")
        for name, p in mod.named_parameters():
            p.copy_(torch.from_numpy(inp[names[name]]))
    tx = torch.tensor(inp["x"], requires_grad=True)
    th0 = torch.tensor(inp["h0"][None], requires_grad=True)
    tc0 = torch.tensor(inp["c0"][None], requires_grad=True)
    ty, (th, tc) = mod(tx, (th0, tc0))
    loss = ((ty * torch.from_numpy(cot["dy"])).sum() + (th[0] * torch.from_numpy(cot["dh_n"])).sum()
            + (tc[0] * torch.from_numpy(cot["dc_n"])).sum())
    loss.backward()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    for name, a, b in zip(("y", "h_n", "c_n"), outs, (ty, th[0], tc[0])):
        np.testing.assert_allclose(a, b.detach().numpy(), err_msg=name, **tol)
    np.testing.assert_allclose(grads.dx, tx.grad.numpy(), err_msg="dx", **tol)
    np.testing.assert_allclose(grads.dh0, th0.grad[0].numpy(), err_msg="dh0", **tol)
    np.testing.assert_allclose(grads.dc0, tc0.grad[0].numpy(), err_msg="dc0", **tol)
    for name, p in mod.named_parameters():
        ours = getattr(grads, "d" + names[name])
        np.testing.assert_allclose(ours, p.grad.numpy(), err_msg=name, **tol)


@pytest.mark.parametrize("mode", ["rows", "one-step-pieces", "units", "follow"])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_threaded_pass_matches_reference_and_the_serial_bits(mode, dtype, monkeypatch):
    """Split over three workers by batch rows (in groups, or every step a
    piece of its own taken by any worker) or by hidden units (each worker
    its gate columns and a share of h's: an uneven one, and none for one
    worker in float32), or, for a long pass whose loop runs on one worker,
    the weight gradients following the loop on a second: the oracle's
    numbers and exactly the one-thread bits."""
    T, B, I, H, P = {"rows": (6, 13, 4, 40, 37), "one-step-pieces": (6, 13, 4, 40, 37),
                     "units": (6, 5, 4, 100, 37), "follow": (23, 3, 4, 20, 5)}[mode]
    rng = rng_for("proj-threads", mode, np.dtype(dtype).name)
    inp = make_inputs(rng, T, B, I, H, P, dtype)
    cot = make_cot(rng, T, B, H, P, dtype)
    lay = engine.layout(4, H, dtype)
    if mode == "follow":   # chunks of 5 steps, after the loop on one thread
        monkeypatch.setattr(engine, "FOLLOW_GATE_VALUES", 8)
        monkeypatch.setattr(engine, "FOLLOW_VALUES", 5 * B * lay.C)
        assert engine.follows(T, B, lay)
    else:
        monkeypatch.setattr(engine, "THREADED_STEP_WORK", 0)
        if mode == "one-step-pieces":
            monkeypatch.setattr(engine, "PIECE_WORK", 1)
    old = numbarnn.set_num_threads(1)
    try:
        serial = run(inp, cot)
        numbarnn.set_num_threads(3)
        if mode != "follow":
            assert engine.plan(B, lay, np.dtype(dtype).itemsize, steps=T) == \
                (3, mode == "units")
        outs, grads = check_against_reference(inp, cot, dtype)
        infer = lstm_forward(inp["x"], *(inp[k] for k in NAMES[1:7]), w_hr=inp["w_hr"])
    finally:
        numbarnn.set_num_threads(old)
    for name, a, b in zip(("y", "h_n", "c_n") + LSTMProjGrads._fields, outs + tuple(grads),
                          serial[0] + tuple(serial[1])):
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(infer.y, serial[0][0])


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_inference_equals_training_forward(dtype, monkeypatch):
    T, B, I, H, P = 9, 3, 4, 6, 2
    rng = rng_for("proj-infer", np.dtype(dtype).name)
    inp = make_inputs(rng, T, B, I, H, P, dtype)
    args = [inp[k] for k in NAMES[:7]]
    trained = lstm_forward(*args, w_hr=inp["w_hr"], training=True)
    # inference projects the inputs in chunks of steps: force chunks of two
    monkeypatch.setattr(engine, "CHUNK_VALUES", 2 * B * engine.layout(4, H, dtype).C)
    assert engine.chunk_steps(T, B, engine.layout(4, H, dtype)) == 2
    infer = lstm_forward(*args, w_hr=inp["w_hr"])
    assert infer.cache is None
    for a, b in zip(infer[:3], trained[:3]):
        np.testing.assert_array_equal(a, b)


def test_step_by_step_equals_whole_sequence():
    T, B, I, H, P = 5, 2, 3, 6, 4
    inp = make_inputs(np.random.default_rng(7), T, B, I, H, P)
    w = [inp[k] for k in NAMES[1:5]]
    y, h_n, c_n, _ = lstm_forward(inp["x"], *w, inp["h0"], inp["c0"], w_hr=inp["w_hr"])
    h, c = inp["h0"], inp["c0"]
    for t in range(T):
        yt, h, c, _ = lstm_forward(inp["x"][t:t + 1], *w, h, c, w_hr=inp["w_hr"])
        np.testing.assert_allclose(yt[0], y[t], rtol=0, atol=1e-14)
    np.testing.assert_allclose(h, h_n, rtol=0, atol=1e-14)
    np.testing.assert_allclose(c, c_n, rtol=0, atol=1e-14)


def test_empty_sequence_and_batch():
    T, B, I, H, P = 0, 2, 3, 5, 2
    inp = make_inputs(np.random.default_rng(8), T, B, I, H, P)
    y, h_n, c_n, cache = lstm_forward(*(inp[k] for k in NAMES[:7]), w_hr=inp["w_hr"],
                                      training=True)
    assert y.shape == (0, B, P)
    np.testing.assert_array_equal(h_n, inp["h0"])
    g = lstm_backward(cache, dh_n=np.ones((B, P)), dc_n=np.ones((B, H)))
    assert isinstance(g, LSTMProjGrads) and not g.dw_hr.any()
    np.testing.assert_array_equal(g.dh0, np.ones((B, P)))
    x = np.zeros((3, 0, I))
    y, h_n, c_n, cache = lstm_forward(x, inp["w_ih"], inp["w_hh"], w_hr=inp["w_hr"],
                                      training=True)
    assert y.shape == (3, 0, P) and c_n.shape == (0, H)
    assert lstm_backward(cache).dw_hr.shape == (P, H)


def test_no_projection_keeps_the_seven_field_grads():
    rng = np.random.default_rng(9)
    x, w_ih, w_hh = rng.standard_normal((3, 2, 2)), rng.standard_normal((8, 2)), \
        rng.standard_normal((8, 2))
    y, h_n, c_n, cache = lstm_forward(x, w_ih, w_hh, training=True)
    g = lstm_backward(cache, np.ones_like(y))
    assert type(g) is LSTMGrads and len(g) == 7
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = g
    assert "P=" not in repr(cache)


T0, B0, I0, H0, P0 = 3, 2, 4, 5, 2


def _good():
    return make_inputs(np.random.default_rng(11), T0, B0, I0, H0, P0)


@pytest.mark.parametrize("changes, exc, message", [
    (dict(w_hr=np.zeros((H0, H0))), ValueError, "smaller than"),
    (dict(w_hr=np.zeros((H0 + 1, H0))), ValueError, "smaller than"),
    (dict(w_hr=np.zeros((0, H0))), ValueError, "0 < P < H"),
    (dict(w_hr=np.zeros((P0, H0 + 1))), ValueError, "w_hr must have shape"),
    (dict(w_hr=np.zeros(P0)), ValueError, "w_hr must be 2-D"),
    (dict(w_hr=np.zeros((P0, H0), np.float32)), TypeError, "w_hr has dtype float32"),
    (dict(w_hr=np.full((P0, H0), np.nan)), ValueError, "w_hr contains NaN"),
    (dict(w_hh=np.zeros((4 * H0, H0))), ValueError, r"w_hh must have shape \(4\*H, P\)"),
    (dict(w_hh=np.zeros((4 * H0 + 1, P0))), ValueError, "w_hh must have shape"),
    (dict(h0=np.zeros((B0, H0))), ValueError, "h0 must have shape"),
    (dict(c0=np.zeros((B0, P0))), ValueError, "c0 must have shape"),
    (dict(w_ih=np.zeros((4 * H0, I0 + 1))), ValueError, "w_ih must have shape"),
    (dict(b_ih=np.zeros(4 * P0)), ValueError, "b_ih must have shape"),
])
def test_bad_shapes(changes, exc, message):
    inp = dict(_good(), **changes)
    with pytest.raises(exc, match=message):
        lstm_forward(*(inp[k] for k in NAMES[:7]), w_hr=inp["w_hr"])


@pytest.mark.parametrize("changes, message", [
    (dict(dy=np.zeros((T0, B0, H0))), "dy must have shape"),
    (dict(dh_n=np.zeros((B0, H0))), "dh_n must have shape"),
    (dict(dc_n=np.zeros((B0, P0))), "dc_n must have shape"),
])
def test_bad_gradient_shapes(changes, message):
    inp = _good()
    *_, cache = lstm_forward(*(inp[k] for k in NAMES[:7]), w_hr=inp["w_hr"], training=True)
    with pytest.raises(ValueError, match=message):
        lstm_backward(cache, **changes)


def test_gpu_arrays_with_projection_are_refused(monkeypatch):
    """The CUDA kernels have no projection step: a clear NotImplementedError."""
    from numbarnn.functional import device
    inp = _good()
    monkeypatch.setattr(device, "on_device", lambda **arrays: True)
    with pytest.raises(NotImplementedError, match="w_hr"):
        lstm_forward(*(inp[k] for k in NAMES[:7]), w_hr=inp["w_hr"])

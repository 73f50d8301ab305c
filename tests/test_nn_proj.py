"""numbarnn.LSTM(proj_size=P) against torch autograd (float64, atol 1e-10)
over bias × bidirectional × num_layers × (equal, ragged) lengths, plus the
layer features that must carry the projection: dropout, return_gates,
streaming, save/load, init, and the from_torch → to_torch round trip.
"""
import zlib

import numpy as np
import pytest

import numbarnn
from numbarnn.nn import init, load

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")

ATOL = 1e-10
T, B, I, H, P = 5, 4, 3, 5, 2
RAGGED = np.array([3, 5, 1, 3])


def make(**kw):
    """The numbarnn layer and its torch twin with the same weights (copied by name)."""
    kw = dict(kw, proj_size=P)
    ours = numbarnn.LSTM(I, H, dtype=np.float64, seed=zlib.crc32(repr(kw).encode()), **kw)
    theirs = torch.nn.LSTM(I, H, **kw).double()
    tparams = dict(theirs.named_parameters())
    assert list(tparams) == list(ours.params)
    with torch.no_grad():
        for name, p in ours.params.items():
            assert tuple(tparams[name].shape) == p.shape, name
            tparams[name].copy_(torch.from_numpy(p))
    return ours, theirs


def torch_run(module, x, state, lengths, batch_first=False):
    x = torch.tensor(x, requires_grad=True)
    hx = tuple(torch.tensor(s, requires_grad=True) for s in state)
    inp = x
    if lengths is not None:
        inp = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=batch_first,
                                   enforce_sorted=False)
    y, st = module(inp, hx)
    if lengths is not None:
        y, _ = pad_packed_sequence(y, batch_first=batch_first, total_length=x.shape[0])
    return x, hx, y, st


def close(a, b, name, atol=ATOL):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    assert a.shape == b.shape, (name, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("ragged", [False, True], ids=["equal", "ragged"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_layer_matches_torch(bias, bidirectional, num_layers, ragged):
    ours, theirs = make(num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    rng = np.random.default_rng(zlib.crc32(repr((bias, bidirectional, num_layers,
                                                 ragged)).encode()))
    D, L = 2 if bidirectional else 1, num_layers
    x = rng.standard_normal((T, B, I))
    lengths = RAGGED if ragged else None
    state = [0.5 * rng.standard_normal((L * D, B, P)), 0.5 * rng.standard_normal((L * D, B, H))]
    dy = rng.standard_normal((T, B, D * P))
    dstate = [rng.standard_normal((L * D, B, P)), rng.standard_normal((L * D, B, H))]

    y, (h, c) = ours.forward(x, tuple(state), lengths=lengths)
    dx, (dh0, dc0) = ours.backward(dy, tuple(dstate), return_dstate=True)
    assert y.shape == (T, B, D * P) and h.shape == (L * D, B, P) and c.shape == (L * D, B, H)

    tx, thx, ty, (th, tc) = torch_run(theirs, x, state, lengths)
    loss = (ty * torch.from_numpy(dy)).sum()
    loss = (loss + (th * torch.from_numpy(dstate[0])).sum()
            + (tc * torch.from_numpy(dstate[1])).sum())
    loss.backward()

    close(y, ty, "y")
    close(h, th, "h_n")
    close(c, tc, "c_n")
    close(dx, tx.grad, "dx")
    close(dh0, thx[0].grad, "dh0")
    close(dc0, thx[1].grad, "dc0")
    for name, p in theirs.named_parameters():
        close(ours.grads[name], p.grad.numpy(), "grad " + name)


def test_batch_first_and_parameter_shapes():
    ours, theirs = make(num_layers=2, bidirectional=True, batch_first=True)
    assert ours.params["weight_hr_l1_reverse"].shape == (P, H)
    assert ours.params["weight_ih_l1"].shape == (4 * H, 2 * P)
    assert ours.params["weight_hh_l0"].shape == (4 * H, P)
    x = np.random.default_rng(1).standard_normal((B, T, I))
    y, (h, c) = ours.forward(x)
    with torch.no_grad():
        ty, (th, tc) = theirs(torch.from_numpy(x))
    close(y, ty, "y")
    close(h, th, "h_n")
    close(c, tc, "c_n")


def test_dropout_masks_have_the_projected_width():
    layer = numbarnn.LSTM(I, H, num_layers=2, dropout=0.5, proj_size=P, seed=0)
    x = np.random.default_rng(2).standard_normal((T, B, I))
    y, _ = layer.forward(x)
    assert layer._tape.masks[0].shape == (T, B, P)
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and layer.grads["weight_hr_l1"].any()
    # eval mode: no dropout, a torch twin agrees
    ours, theirs = make(num_layers=2, dropout=0.5)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        close(ours.forward(x)[0], theirs(torch.from_numpy(x))[0], "y (eval)")


def test_return_gates_have_the_cell_width():
    layer = numbarnn.LSTM(I, H, bidirectional=True, proj_size=P, seed=0)
    x = np.random.default_rng(3).standard_normal((T, B, I))
    y, (h, c), gates = layer.forward(x, lengths=RAGGED, return_gates=True)
    g = gates["l0_reverse"]
    assert all(a.shape == (T, B, H) for a in g.values())
    m = g["o"] * np.tanh(g["c"])   # y = w_hr (o ⊙ tanh c)
    np.testing.assert_allclose(y[..., P:], m @ layer.params["weight_hr_l0_reverse"].T,
                               rtol=0, atol=1e-14)


def test_step_equals_forward():
    layer = numbarnn.LSTM(I, H, num_layers=2, proj_size=P, seed=0).eval()
    x = np.random.default_rng(4).standard_normal((T, B, I))
    y, (h, c) = layer.forward(x)
    state = None
    for t in range(T):
        y_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(y_t, y[t], rtol=0, atol=1e-14)
    np.testing.assert_allclose(state[0], h, rtol=0, atol=1e-14)
    np.testing.assert_allclose(state[1], c, rtol=0, atol=1e-14)


def test_save_load_round_trip(tmp_path):
    layer = numbarnn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=P, seed=0)
    path = tmp_path / "proj.npz"
    layer.save(path)
    back = load(path)
    assert back.proj_size == P
    assert list(back.params) == list(layer.params)
    for name, p in layer.params.items():
        np.testing.assert_array_equal(back.params[name], p)
    x = np.random.default_rng(5).standard_normal((T, B, I))
    np.testing.assert_array_equal(back.forward(x)[0], layer.forward(x)[0])


def test_init_schemes_cover_weight_hr():
    layer = numbarnn.LSTM(I, H, proj_size=P, seed=0)
    bound = 1 / np.sqrt(H)
    w = layer.params["weight_hr_l0"]
    assert w.any() and np.abs(w).max() <= bound
    keras = numbarnn.LSTM(I, H, proj_size=P, init="keras", seed=0)
    w = keras.params["weight_hr_l0"]
    assert w.any() and np.abs(w).max() <= np.sqrt(6 / (H + P))
    for j in range(4):   # recurrent blocks (H, P): orthonormal columns
        blk = keras.params["weight_hh_l0"][j * H:(j + 1) * H]
        np.testing.assert_allclose(blk.T @ blk, np.eye(P), atol=1e-12)
    init.orthogonal_recurrent_(layer, seed=1)


@pytest.mark.parametrize("proj_size, message", [
    (H, "smaller than hidden_size"), (H + 3, "smaller than hidden_size"),
    (-1, "positive integer or zero"), (1.5, "positive integer or zero"),
])
def test_bad_proj_size(proj_size, message):
    with pytest.raises(ValueError, match=message):
        numbarnn.LSTM(I, H, proj_size=proj_size)


def test_state_shapes_are_checked():
    layer = numbarnn.LSTM(I, H, proj_size=P, seed=0)
    x = np.zeros((T, B, I))
    with pytest.raises(ValueError, match=r"state \(h\) must have shape \(1, 4, 2\)"):
        layer.forward(x, (np.zeros((1, B, H)), np.zeros((1, B, H))))
    with pytest.raises(ValueError, match=r"state \(c\) must have shape \(1, 4, 5\)"):
        layer.forward(x, (np.zeros((1, B, P)), np.zeros((1, B, P))))
    layer.forward(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        layer.backward(np.zeros((T, B, H)))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_interop_round_trip(bidirectional):
    from numbarnn.interop import from_torch, to_torch
    tl = torch.nn.LSTM(I, H, num_layers=2, bidirectional=bidirectional, proj_size=P).double()
    ours = from_torch(tl)
    assert ours.proj_size == P
    back = to_torch(ours)
    assert back.proj_size == P
    for (n1, p1), (n2, p2) in zip(tl.named_parameters(), back.named_parameters()):
        assert n1 == n2
        assert torch.equal(p1, p2), n1
    x = np.random.default_rng(6).standard_normal((T, B, I))
    with torch.no_grad():
        ty, (th, tc) = tl(torch.from_numpy(x))
    y, (h, c) = ours.forward(x)
    close(y, ty, "y", atol=1e-12)
    close(h, th, "h_n", atol=1e-12)
    close(c, tc, "c_n", atol=1e-12)
    f32 = from_torch(torch.nn.LSTM(I, H, proj_size=P))
    assert f32.dtype == np.float32 and to_torch(f32).weight_hr_l0.dtype == torch.float32

"""Layers and cells against torch autograd, in the spirit of PyTorch's own
``_test_RNN_cpu_vs_cudnn``: float64, over bias × bidirectional × batch_first
× num_layers × (equal, ragged) lengths, comparing outputs, final states and
every parameter, input and initial-state gradient (atol 1e-10).

Ragged batches are compared with torch's ``pack_padded_sequence(...,
enforce_sorted=False)``. Parameters are copied by name here (not through
``numbarnn.interop``) so this test does not share a bug with the converter.
"""
import zlib

import numpy as np
import pytest

import numbarnn

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

ATOL = 1e-10
T, B, I, H = 5, 4, 3, 4
RAGGED = np.array([3, 5, 1, 3])  # duplicates, the full length and a length 1
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make(kind, cells=False, **kw):
    """The numbarnn layer (or cell) and its torch twin with the same weights."""
    kw = dict(kw, dtype=np.float64, seed=zlib.crc32(repr((kind, kw)).encode()))
    tkw = {k: v for k, v in kw.items() if k not in ("dtype", "seed")}
    if kind.startswith("rnn"):
        nl = kind.split("_")[1]
        ours = (numbarnn.RNNCell if cells else numbarnn.RNN)(I, H, nonlinearity=nl, **kw)
        theirs = (torch.nn.RNNCell if cells else torch.nn.RNN)(I, H, nonlinearity=nl, **tkw)
    elif kind == "lstm":
        ours = (numbarnn.LSTMCell if cells else numbarnn.LSTM)(I, H, **kw)
        theirs = (torch.nn.LSTMCell if cells else torch.nn.LSTM)(I, H, **tkw)
    else:
        ours = (numbarnn.GRUCell if cells else numbarnn.GRU)(I, H, reset_after=True, **kw)
        theirs = (torch.nn.GRUCell if cells else torch.nn.GRU)(I, H, **tkw)
    theirs = theirs.double()
    tparams = dict(theirs.named_parameters())
    assert list(tparams) == list(ours.params)  # same names, same order
    with torch.no_grad():
        for name, p in ours.params.items():
            assert tuple(tparams[name].shape) == p.shape, name
            tparams[name].copy_(torch.from_numpy(z_negated(kind, p)))
    return ours, theirs


def z_negated(kind, a):
    """numbarnn's GRU z is torch's 1 − z: negate rows H:2H (self-inverse)."""
    a = np.array(a, copy=True)
    if kind == "gru":
        a[H:2 * H] *= -1
    return a


def rand(rng, *shape):
    return rng.standard_normal(shape)


def torch_run(module, x, state, lengths, batch_first):
    x = torch.tensor(x, requires_grad=True)
    hx = tuple(torch.tensor(s, requires_grad=True) for s in state)
    inp = x
    if lengths is not None:
        inp = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=batch_first,
                                   enforce_sorted=False)
    y, st = module(inp, hx if len(hx) == 2 else hx[0])
    if lengths is not None:
        y, _ = pad_packed_sequence(y, batch_first=batch_first, total_length=T)
    return x, hx, y, (st if isinstance(st, tuple) else (st,))


def close(a, b, name):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    assert a.shape == b.shape, (name, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("ragged", [False, True], ids=["equal", "ragged"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch(kind, bias, bidirectional, batch_first, num_layers, ragged):
    ours, theirs = make(kind, num_layers=num_layers, bias=bias, batch_first=batch_first,
                        bidirectional=bidirectional)
    rng = np.random.default_rng(zlib.crc32(repr((kind, bias, bidirectional, batch_first,
                                                 num_layers, ragged)).encode()))
    D = 2 if bidirectional else 1
    x = rand(rng, B, T, I) if batch_first else rand(rng, T, B, I)
    lengths = RAGGED if ragged else None
    nstate = 2 if kind == "lstm" else 1
    state = [0.5 * rand(rng, num_layers * D, B, H) for _ in range(nstate)]
    dy = rand(rng, *(x.shape[:2] + (D * H,)))
    dstate = [rand(rng, num_layers * D, B, H) for _ in range(nstate)]

    pack = tuple if kind == "lstm" else (lambda s: s[0])
    y, st = ours.forward(x, pack(state), lengths=lengths)
    dx, dst0 = ours.backward(dy, pack(dstate), return_dstate=True)
    st, dst0 = (st, dst0) if kind == "lstm" else ((st,), (dst0,))

    tx, thx, ty, tst = torch_run(theirs, x, state, lengths, batch_first)
    loss = (ty * torch.from_numpy(dy)).sum()
    loss = loss + sum((s * torch.from_numpy(g)).sum() for s, g in zip(tst, dstate))
    loss.backward()

    close(y, ty, "y")
    for i in range(nstate):
        close(st[i], tst[i], f"state[{i}]")
        close(dst0[i], thx[i].grad, f"dstate0[{i}]")
    close(dx, tx.grad, "dx")
    for name, p in theirs.named_parameters():
        close(ours.grads[name], z_negated(kind, p.grad.numpy()), "grad " + name)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", KINDS)
def test_cell_bptt_matches_torch(kind, bias):
    """A hand-written loop of cell steps, backpropagated step by step."""
    ours, theirs = make(kind, cells=True, bias=bias)
    rng = np.random.default_rng(3)
    x = rand(rng, T, B, I)
    lstm = kind == "lstm"
    state = (rand(rng, B, H), rand(rng, B, H)) if lstm else rand(rng, B, H)
    s = state
    for t in range(T):
        s = ours.forward(x[t], s)
    dh_n = rand(rng, B, H)
    ds = (dh_n, np.zeros((B, H))) if lstm else dh_n
    dxs = []
    for t in reversed(range(T)):
        dx, ds = ours.backward(ds)
        dxs.append(dx)
    dx = np.array(dxs[::-1])

    tx = torch.tensor(x, requires_grad=True)
    tstate = tuple(torch.tensor(a, requires_grad=True) for a in (state if lstm else (state,)))
    ts = tstate if lstm else tstate[0]
    for t in range(T):
        ts = theirs(tx[t], ts)
    ((ts[0] if lstm else ts) * torch.from_numpy(dh_n)).sum().backward()

    close((s[0] if lstm else s), (ts[0] if lstm else ts), "h_n")
    close(dx, tx.grad, "dx")
    close(ds[0] if lstm else ds, tstate[0].grad, "dh0")
    for name, p in theirs.named_parameters():
        close(ours.grads[name], z_negated(kind, p.grad.numpy()), "grad " + name)


def test_lengths_shorter_than_T_everywhere():
    """Every sequence shorter than the padded T: the tail is all padding."""
    ours, theirs = make("lstm", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(4)
    x, lengths = rand(rng, T, B, I), np.array([2, 4, 1, 4])
    zeros = [np.zeros((4, B, H))] * 2
    y, (h, c) = ours.forward(x, lengths=lengths)
    _, _, ty, (th, tc) = torch_run(theirs, x, zeros, lengths, False)
    close(y, ty, "y")
    close(h, th, "h_n")
    close(c, tc, "c_n")
    assert not y[4:].any()

"""Issue 12 item 8 for the layers: unbatched input against PyTorch's
no-batch-dimension mode, and Keras-style ``mask`` against a plain numpy loop
over the reference cells (tests/reference) and finite differences."""
import numpy as np
import pytest

import numbarnn
from reference import gru as ref_gru
from reference import lstm as ref_lstm
from reference import rnn as ref_rnn

I, H = 3, 4


def make(kind, **kw):
    if kind == "lstm":
        return numbarnn.LSTM(I, H, seed=1, **kw)
    if kind == "gru":
        return numbarnn.GRU(I, H, reset_after=True, seed=2, **kw)
    if kind == "gru_before":
        return numbarnn.GRU(I, H, seed=3, **kw)
    return numbarnn.RNN(I, H, nonlinearity="relu", seed=4, **kw)


KINDS = ["lstm", "gru", "gru_before", "rnn"]


def torch_grad(kind, p):
    """PyTorch's gradient in numbarnn's convention (its GRU z is 1 − z)."""
    g = p.grad.numpy().copy()
    if kind == "gru":
        g[H:2 * H] *= -1
    return g


# -- unbatched: PyTorch's no-batch-dimension mode -----------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_layer_matches_torch(kind, batch_first):
    torch = pytest.importorskip("torch")
    from numbarnn.interop import to_torch

    layer = make(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    net = to_torch(layer)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, I))
    h0 = rng.standard_normal((4, H))
    state = (h0, rng.standard_normal((4, H))) if kind == "lstm" else h0
    y, s = layer.forward(x, state)
    xt = torch.tensor(x, requires_grad=True)
    tstate = tuple(torch.tensor(a) for a in state) if kind == "lstm" else torch.tensor(state)
    ty, ts = net(xt, tstate)
    assert y.shape == tuple(ty.shape) == (6, 2 * H)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(s if kind == "lstm" else (s,), ts if kind == "lstm" else (ts,)):
        assert a.shape == tuple(b.shape) == (4, H)
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    (ty * torch.tensor(dy)).sum().backward()
    assert dx.shape == (6, I)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(layer.grads[name], torch_grad(kind, p), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_unbatched_cell_matches_torch(kind):
    torch = pytest.importorskip("torch")
    from numbarnn.interop import to_torch

    cell = {"lstm": numbarnn.LSTMCell(I, H, seed=0),
            "gru": numbarnn.GRUCell(I, H, reset_after=True, seed=0),
            "rnn": numbarnn.RNNCell(I, H, seed=0)}[kind]
    net = to_torch(cell)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(I)
    h = rng.standard_normal(H)
    state = (h, rng.standard_normal(H)) if kind == "lstm" else h
    out = cell.forward(x, state)
    xt = torch.tensor(x, requires_grad=True)
    tout = net(xt, tuple(torch.tensor(a) for a in state) if kind == "lstm"
               else torch.tensor(state))
    outs = out if kind == "lstm" else (out,)
    touts = tout if kind == "lstm" else (tout,)
    for a, b in zip(outs, touts):
        assert a.shape == tuple(b.shape) == (H,)
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-12)
    ds = tuple(rng.standard_normal(H) for _ in outs)
    dx, dprev = cell.backward(ds if kind == "lstm" else ds[0])
    sum((t * torch.tensor(d)).sum() for t, d in zip(touts, ds)).backward()
    assert dx.shape == (I,)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(cell.grads[name], torch_grad(kind, p), rtol=1e-10,
                                   atol=1e-12)


def test_unbatched_step_and_refusals():
    lstm = numbarnn.LSTM(I, H, num_layers=2, seed=0).eval()
    x = np.random.default_rng(2).standard_normal((5, I))
    y_all, _ = lstm.forward(x)
    state = None
    for t in range(5):
        y_t, state = lstm.step(x[t], state)
    assert y_t.shape == (H,) and state[0].shape == (2, H)
    np.testing.assert_allclose(y_t, y_all[-1], rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="lengths"):
        lstm.forward(x, lengths=[5])
    with pytest.raises(ValueError, match="state"):
        lstm.forward(x, (np.zeros((2, 1, H)), np.zeros((2, 1, H))))


# -- mask: Keras semantics ----------------------------------------------------------
def keras_direction(kind, x, mask, w, state0):
    """Keras's masked loop over one direction, on the reference cells: a
    masked step keeps the state and repeats the previous output (zeros
    before the first valid step)."""
    T, B, _ = x.shape
    state = [np.array(s, float) for s in state0]
    out = np.zeros((B, w[1].shape[1]))
    ys = []
    for t in range(T):
        if kind == "lstm":
            _, h, c = ref_lstm.forward(x[t:t + 1], *w, state[0], state[1])
            new = [h, c]
        elif kind.startswith("gru"):
            _, h = ref_gru.forward(x[t:t + 1], *w, state[0], reset_after=(kind == "gru"))
            new = [h]
        else:
            _, h = ref_rnn.forward(x[t:t + 1], *w, state[0], nonlinearity="relu")
            new = [h]
        m = mask[t][:, None]
        state = [np.where(m, n, s) for n, s in zip(new, state)]
        out = np.where(m, new[0], out)
        ys.append(out)
    return np.array(ys), state


def keras_layer(layer, kind, x, mask, state0):
    """A stacked (bidirectional) layer, Keras-style: the reverse direction runs on
    the time-reversed input and mask and its outputs are reversed back."""
    L, D = layer.num_layers, layer.num_directions
    inp, finals = x, []
    for layer_i in range(L):
        outs = []
        for d in range(D):
            s = layer._suffix(layer_i, d)
            w = [layer.params[n + s] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            st0 = [a[layer_i * D + d] for a in state0]
            xi, mi = (inp[::-1], mask[::-1]) if d else (inp, mask)
            y, st = keras_direction(kind, xi, mi, w, st0)
            outs.append(y[::-1] if d else y)
            finals.append(st)
        inp = np.concatenate(outs, axis=2)
    return inp, [np.array([f[j] for f in finals]) for j in range(len(state0))]


def random_mask(rng, T, B):
    mask = rng.random((T, B)) < 0.6
    mask[:, 0] = False        # a sequence with no valid step at all
    mask[:, 1] = True         # one with every step
    mask[0, 2] = False        # a leading hole
    mask[-1, 2] = False       # a trailing one
    return mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mask_matches_keras_semantics(kind, bidirectional, batch_first):
    rng = np.random.default_rng(3)
    T, B = 7, 5
    layer = make(kind, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    n = 2 * layer.num_directions
    x = rng.standard_normal((T, B, I))
    mask = random_mask(rng, T, B)
    parts = 2 if kind == "lstm" else 1
    state0 = [rng.standard_normal((n, B, H)) for _ in range(parts)]
    want_y, want_s = keras_layer(layer, kind, x, mask, state0)
    xin = x.transpose(1, 0, 2) if batch_first else x
    y, s = layer.forward(xin, tuple(state0) if parts == 2 else state0[0],
                         mask=mask.T if batch_first else mask)
    y = y.transpose(1, 0, 2) if batch_first else y
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-13)
    for a, b in zip(s if parts == 2 else (s,), want_s):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_mask_backward_matches_finite_differences(kind):
    rng = np.random.default_rng(4)
    T, B = 6, 4
    layer = make(kind, num_layers=2, bidirectional=True)
    x = rng.standard_normal((T, B, I))
    mask = random_mask(rng, T, B)
    dy = rng.standard_normal((T, B, 2 * H))
    parts = 2 if kind == "lstm" else 1
    ds = [rng.standard_normal((4, B, H)) for _ in range(parts)]
    s0 = [rng.standard_normal((4, B, H)) for _ in range(parts)]

    def loss(x, s0):
        y, s = layer.forward(x, tuple(s0) if parts == 2 else s0[0], mask=mask,
                             keep_cache=False)
        s = s if parts == 2 else (s,)
        return float((y * dy).sum() + sum((a * b).sum() for a, b in zip(s, ds)))

    layer.zero_grad()
    layer.forward(x, tuple(s0) if parts == 2 else s0[0], mask=mask)
    dx, dstate0 = layer.backward(dy, tuple(ds) if parts == 2 else ds[0], return_dstate=True)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (loss(xp, s0) - loss(xm, s0)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)
    assert not dx[~mask].any()  # masked inputs are never read
    dstate0 = dstate0 if parts == 2 else (dstate0,)
    for j in range(parts):
        num_s = np.zeros_like(s0[j])
        for idx in np.ndindex(s0[j].shape):
            sp = [a.copy() for a in s0]
            sm = [a.copy() for a in s0]
            sp[j][idx] += eps
            sm[j][idx] -= eps
            num_s[idx] = (loss(x, sp) - loss(x, sm)) / (2 * eps)
        np.testing.assert_allclose(dstate0[j], num_s, rtol=1e-6, atol=1e-8)
    name = "weight_hh_l0_reverse"
    w = layer.params[name]
    num_w = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        w[idx] = old + eps
        up = loss(x, s0)
        w[idx] = old - eps
        down = loss(x, s0)
        w[idx] = old
        num_w[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(layer.grads[name], num_w, rtol=1e-6, atol=1e-8)


def test_all_true_mask_is_the_plain_forward_and_lengths_pads_with_zeros():
    rng = np.random.default_rng(5)
    lstm = make("lstm", bidirectional=True)
    x = rng.standard_normal((5, 3, I))
    y, _ = lstm.forward(x, keep_cache=False)
    ym, _ = lstm.forward(x, mask=np.ones((5, 3), bool), keep_cache=False)
    np.testing.assert_array_equal(y, ym)
    trailing = np.arange(5)[:, None] < np.array([5, 3, 1])
    ym, _ = lstm.forward(x, mask=trailing, keep_cache=False)
    yl, _ = lstm.forward(x, lengths=[5, 3, 1], keep_cache=False)
    # same valid steps: the forward half repeats its last output where lengths
    # pads with zeros; the reverse half is zero before... identical on valid steps
    np.testing.assert_array_equal(ym[trailing], yl[trailing])
    assert not yl[~trailing].any() and ym[~trailing][:, :H].any()


def test_unbatched_mask():
    rng = np.random.default_rng(6)
    gru = make("gru")
    x = rng.standard_normal((6, I))
    m = np.array([True, False, True, True, False, True])
    y, h = gru.forward(x, mask=m)
    yb, hb = gru.forward(x[:, None], mask=m[:, None])
    np.testing.assert_array_equal(y, yb[:, 0])
    np.testing.assert_array_equal(h, hb[:, 0])


def test_mask_refusals():
    gru = make("gru")
    x = np.ones((4, 2, I))
    with pytest.raises(TypeError, match="mask"):
        gru.forward(x, mask=np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"mask must have shape \(T, B\)"):
        gru.forward(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="not both"):
        gru.forward(x, mask=np.ones((4, 2), bool), lengths=[4, 4])
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        make("gru", batch_first=True).forward(x, mask=np.ones((2, 4), bool))

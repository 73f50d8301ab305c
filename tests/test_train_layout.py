"""fit and tbptt honour the layer's batch_first (issue 10, item 1): the same
minibatches, chunks and losses as the time-major run, and the losses of
PyTorch training the same batch-first model."""
import numpy as np
import pytest

import numbarnn
from numbarnn.train import Adam, Linear, fit, flatten, mse, tbptt

T, N, I, H = 24, 6, 1, 5


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, I))
    y = np.cumsum(x, axis=0) * 0.3 + 0.1 * rng.standard_normal((T, N, 1))
    return x, y


def _pair(kind="LSTM"):
    layer = getattr(numbarnn, kind)
    tm = layer(I, H, seed=0), Linear(H, 1, seed=1)
    bf = layer(I, H, batch_first=True, seed=0), Linear(H, 1, seed=1)
    return tm, bf


@pytest.mark.parametrize("k", [None, 7])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_fit_batch_first_equals_time_major(k, kind):
    x, y = _data()
    (tm, tm_out), (bf, bf_out) = _pair(kind)
    kw = dict(lr=0.01, epochs=4, batch_size=4, k=k, seed=3, validation_split=0.25,
              progress=False)
    h_tm = fit(tm, tm_out, x, y, **kw)
    h_bf = fit(bf, bf_out, x.transpose(1, 0, 2), y.transpose(1, 0, 2), **kw)
    np.testing.assert_allclose(h_bf.train_loss, h_tm.train_loss, rtol=1e-12)
    np.testing.assert_allclose(h_bf.val_loss, h_tm.val_loss, rtol=1e-12)
    np.testing.assert_allclose(flatten([bf, bf_out]), flatten([tm, tm_out]), rtol=1e-11,
                               atol=1e-14)


def test_tbptt_batch_first_equals_time_major():
    x, y = _data(1)
    (tm, tm_out), (bf, bf_out) = _pair()
    a = tbptt(tm, tm_out, mse, x, y, 5, Adam([tm, tm_out], lr=0.01))
    b = tbptt(bf, bf_out, mse, x.transpose(1, 0, 2), y.transpose(1, 0, 2), 5,
              Adam([bf, bf_out], lr=0.01))
    assert b.steps.tolist() == [5, 5, 5, 5, 4]
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-12)
    for s, t in zip(b.state, a.state):
        np.testing.assert_allclose(s, t, rtol=1e-12, atol=1e-14)


def test_batch_first_shapes_are_checked_in_its_layout():
    x, y = _data()
    _, (bf, bf_out) = _pair()
    with pytest.raises(ValueError, match=r"y must start with the \(B, T\)"):
        fit(bf, bf_out, x.transpose(1, 0, 2), y, progress=False)
    with pytest.raises(ValueError, match=r"batch-first with shape \(B, T, I\)"):
        tbptt(bf, bf_out, mse, x[0], y[0], 5)


@pytest.mark.parametrize("k", [None, 8])
def test_batch_first_training_matches_torch(k):
    # PyTorch trains the same batch-first LSTM + Linear with Adam on the
    # whole batch (chunks of k steps, state detached between chunks): the
    # losses per epoch and the final weights agree.
    torch = pytest.importorskip("torch")
    from numbarnn.interop import to_torch
    x, y = _data(2)
    xb, yb = x.transpose(1, 0, 2).copy(), y.transpose(1, 0, 2).copy()
    lstm, readout = numbarnn.LSTM(I, H, batch_first=True, seed=4), Linear(H, 1, seed=5)
    tlstm = to_torch(lstm)
    tlin = torch.nn.Linear(H, 1, dtype=torch.float64)
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(readout.params["weight"]))
        tlin.bias.copy_(torch.from_numpy(readout.params["bias"]))
    hist = fit(lstm, readout, xb, yb, lr=0.02, epochs=5, k=k, progress=False)

    opt = torch.optim.Adam(list(tlstm.parameters()) + list(tlin.parameters()), lr=0.02)
    tx, ty = torch.from_numpy(xb), torch.from_numpy(yb)
    chunk = T if k is None else k
    expected = []
    for _ in range(5):
        state, losses, steps = None, [], []
        for s in range(0, T, chunk):
            opt.zero_grad()
            out, state = tlstm(tx[:, s:s + chunk], state)
            state = tuple(t.detach() for t in state)
            loss = torch.nn.functional.mse_loss(tlin(out), ty[:, s:s + chunk])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps.append(min(chunk, T - s))
        expected.append(np.dot(losses, steps) / sum(steps))
    np.testing.assert_allclose(hist.train_loss, expected, rtol=1e-10)
    for name, p in tlstm.named_parameters():
        np.testing.assert_allclose(lstm.params[name], p.detach().numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(readout.params["weight"], tlin.weight.detach().numpy(),
                               rtol=1e-9, atol=1e-12)

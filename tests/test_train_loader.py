"""fit from any iterable of (x, y) minibatches (issue 12, item 8): a torch
DataLoader gives the run PyTorch makes on the same batches; lists,
functions returning iterators and one-shot generators work as documented."""
import numpy as np
import pytest

import numbarnn
from numbarnn.train import Linear, fit, flatten

N, T, I, H = 10, 12, 2, 4


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, I))
    return x, np.cumsum(x[..., :1], axis=1) * 0.3


def _model():
    return numbarnn.LSTM(I, H, batch_first=True, seed=0), Linear(H, 1, seed=1)


def test_a_torch_dataloader_trains_as_torch_does():
    torch = pytest.importorskip("torch")
    from numbarnn.interop import to_torch
    x, y = _data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=4, shuffle=False)
    lstm, readout = _model()
    tlstm, tlin = to_torch(lstm), torch.nn.Linear(H, 1, dtype=torch.float64)
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(readout.params["weight"]))
        tlin.bias.copy_(torch.from_numpy(readout.params["bias"]))
    hist = fit(lstm, readout, loader, lr=0.01, epochs=3, validation=loader, progress=False)

    opt = torch.optim.Adam(list(tlstm.parameters()) + list(tlin.parameters()), lr=0.01)
    losses = []
    for _ in range(3):
        total = count = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(tlin(tlstm(xb)[0]), yb)
            loss.backward()
            opt.step()
            total, count = total + loss.item() * xb.shape[0], count + xb.shape[0]
        losses.append(total / count)
    np.testing.assert_allclose(hist.train_loss, losses, rtol=1e-10)
    with torch.no_grad():
        val = torch.nn.functional.mse_loss(tlin(tlstm(torch.from_numpy(x))[0]),
                                           torch.from_numpy(y)).item()
    assert hist.val_loss[-1] == pytest.approx(val, rel=1e-10)
    for name, p in tlstm.named_parameters():
        np.testing.assert_allclose(lstm.params[name], p.detach().numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_lists_functions_and_generators_give_the_same_run():
    x, y = _data(1)
    pairs = [(x[:5], y[:5]), (x[5:], y[5:])]

    def gen():
        yield from pairs

    runs = []
    for data, epochs in ((pairs, 3), (gen, 3), (tuple(pairs), 3)):
        lstm, readout = _model()
        hist = fit(lstm, readout, data, lr=0.01, epochs=epochs, progress=False)
        runs.append((hist.train_loss, flatten([lstm, readout])))
    for losses, weights in runs[1:]:
        assert losses == runs[0][0]
        np.testing.assert_array_equal(weights, runs[0][1])
    # a one-shot generator serves one epoch
    lstm, readout = _model()
    hist = fit(lstm, readout, gen(), lr=0.01, epochs=1, progress=False)
    assert hist.train_loss == runs[0][0][:1]
    with pytest.raises(ValueError, match="one-shot iterator"):
        fit(lstm, readout, gen(), epochs=2, progress=False)


def test_loader_arguments_are_checked():
    x, y = _data(2)
    lstm, readout = _model()
    with pytest.raises(ValueError, match="y is required"):
        fit(lstm, readout, x, progress=False)
    with pytest.raises(ValueError, match="apply to arrays"):
        fit(lstm, readout, [(x, y)], batch_size=2, progress=False)
    with pytest.raises(ValueError, match="yielded no minibatches"):
        fit(lstm, readout, [], progress=False)
    with pytest.raises(TypeError, match=r"\(x, y\) pairs; item 0"):
        fit(lstm, readout, [x], progress=False)
    with pytest.raises(TypeError, match="iterable of"):
        fit(lstm, readout, 3, progress=False)

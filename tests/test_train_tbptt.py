"""Truncated BPTT: k >= T is full BPTT, chunks carry the state, each chunk's
gradient stops at its boundary, optimizer steps happen per chunk."""
import numpy as np
import pytest

import numbarnn
from numbarnn.train import SGD, Adam, Linear, clip_grad_norm, mse, tbptt
from test_train_helpers import FunctionalLSTM, make_lstm

T, B, I, H, O = 23, 3, 2, 5, 2


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I))
    target = rng.standard_normal((T, B, O))
    return make_lstm(I, H, seed=seed), Linear(H, O, seed=seed + 1), x, target


def _grads(*modules):
    return {f"{i}.{k}": g.copy() for i, m in enumerate(modules) for k, g in m.grads.items()}


def _zero(*modules):
    for m in modules:
        m.zero_grad()


@pytest.mark.parametrize("k", [T, T + 7])
def test_k_at_least_T_is_full_bptt(k):
    lstm, readout, x, target = _setup()
    _zero(lstm, readout)
    res = tbptt(lstm, readout, mse, x, target, k)
    got = _grads(lstm, readout)

    _zero(lstm, readout)
    hidden, state = lstm.forward(x)
    loss, dpred = mse(readout.forward(hidden), target)
    lstm.backward(readout.backward(dpred))
    want = _grads(lstm, readout)
    assert res.losses.tolist() == [loss] and res.steps.tolist() == [T]
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-13, atol=1e-15, err_msg=key)
    for a, b in zip(res.state, state):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [1, 4, 10])
def test_chunks_carry_the_state(k):
    lstm, readout, x, target = _setup(1)
    preds = []

    def recording_loss(pred, tgt):
        preds.append(pred.copy())
        return 0.0, np.zeros_like(pred)

    res = tbptt(lstm, readout, recording_loss, x, target, k)
    hidden, state = lstm.forward(x)
    np.testing.assert_allclose(np.concatenate(preds), readout.forward(hidden),
                               rtol=1e-12, atol=1e-14)
    for a, b in zip(res.state, state):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert res.steps.tolist() == [min(k, T - s) for s in range(0, T, k)]


def test_gradient_stops_at_chunk_boundaries():
    # The truncated gradient is the sum over chunks of each chunk's own BPTT
    # gradient, started from the (constant) state the previous chunk left.
    k = 6
    lstm, readout, x, target = _setup(2)
    _zero(lstm, readout)
    tbptt(lstm, readout, mse, x, target, k)
    got = _grads(lstm, readout)

    _zero(lstm, readout)
    state = None
    for s in range(0, T, k):
        hidden, new_state = lstm.forward(x[s:s + k], state)
        _, dpred = mse(readout.forward(hidden), target[s:s + k])
        lstm.backward(readout.backward(dpred))
        state = new_state
    want = _grads(lstm, readout)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-13, atol=1e-15, err_msg=key)

    _zero(lstm, readout)
    tbptt(lstm, readout, mse, x, target, T)
    full = _grads(lstm, readout)
    assert not np.allclose(full["0.weight_hh_l0"], got["0.weight_hh_l0"])


def test_state_argument_continues_a_series():
    lstm, readout, x, target = _setup(3)
    whole = tbptt(lstm, readout, mse, x, target, 5)
    first = tbptt(lstm, readout, mse, x[:10], target[:10], 5)
    second = tbptt(lstm, readout, mse, x[10:], target[10:], 5, state=first.state)
    np.testing.assert_allclose(np.concatenate([first.losses, second.losses]), whole.losses,
                               rtol=1e-12)


def test_state_is_not_aliased():
    lstm, readout, x, target = _setup(4)
    state = (np.zeros((1, B, H)), np.zeros((1, B, H)))
    res = tbptt(lstm, readout, mse, x, target, 5, state=state)
    assert not state[0].any() and not state[1].any()
    assert all(not np.shares_memory(a, b) for a, b in zip(res.state, state))


def test_optimizer_steps_once_per_chunk_on_that_chunk_gradient():
    lstm, readout, x, target = _setup(5)
    lstm_ref = FunctionalLSTM(I, H, seed=5)
    for key in lstm.params:              # same start even if make_lstm is the real layer
        lstm_ref.params[key][...] = lstm.params[key]
    readout_ref = Linear(H, O, seed=6)
    opt = SGD([lstm, readout], lr=0.1)
    res = tbptt(lstm, readout, mse, x, target, 10, optimizer=opt, clip=0.5)
    assert opt.steps == 3 and len(res.losses) == 3

    # The same by hand.
    state = None
    opt_ref = SGD([lstm_ref, readout_ref], lr=0.1)
    for s in range(0, T, 10):
        opt_ref.zero_grad()
        hidden, state = lstm_ref.forward(x[s:s + 10], state)
        _, dpred = mse(readout_ref.forward(hidden), target[s:s + 10])
        lstm_ref.backward(readout_ref.backward(dpred))
        clip_grad_norm([lstm_ref, readout_ref], 0.5)
        opt_ref.step()
    for a, b in ((lstm, lstm_ref), (readout, readout_ref)):
        for key in a.params:
            np.testing.assert_allclose(a.params[key], b.params[key], rtol=1e-12, atol=1e-14)


def test_readout_none_and_loss_by_name():
    lstm, _, x, _ = _setup(6)
    target = np.zeros((T, B, H))
    res = tbptt(lstm, None, "mse", x, target, 8, optimizer=Adam(lstm, lr=0.01))
    assert res.losses.shape == (3,) and np.isfinite(res.losses).all()


def test_bad_arguments():
    lstm, readout, x, target = _setup()
    with pytest.raises(ValueError, match="k must be a positive int"):
        tbptt(lstm, readout, mse, x, target, 0)
    with pytest.raises(ValueError, match="k must be a positive int"):
        tbptt(lstm, readout, mse, x, target, 2.5)
    with pytest.raises(ValueError, match="clip needs an optimizer"):
        tbptt(lstm, readout, mse, x, target, 5, clip=1.0)
    with pytest.raises(ValueError, match=r"x must be time-major"):
        tbptt(lstm, readout, mse, x[0], target, 5)
    with pytest.raises(ValueError, match="target must start with"):
        tbptt(lstm, readout, mse, x, target[:-1], 5)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_real_layers_stacked(kind):
    # Array states (RNN, GRU) and tuple states (LSTM), two layers: the kit
    # never looks inside the state.
    layer = getattr(numbarnn, kind, None)
    if layer is None:
        pytest.skip(f"numbarnn.{kind} does not exist yet")
    rng = np.random.default_rng(7)
    x, target = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, O))
    model, readout = layer(I, H, num_layers=2, seed=0), Linear(H, O, seed=1)
    whole = tbptt(model, readout, mse, x, target, T)
    chunked = tbptt(model, readout, mse, x, target, 4)
    hidden, state = model.forward(x)
    assert whole.losses[0] == pytest.approx(mse(readout.forward(hidden), target)[0], rel=1e-12)
    pairs = zip(chunked.state, state) if kind == "LSTM" else [(chunked.state, state)]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    opt = Adam([model, readout], lr=0.01)
    res = tbptt(model, readout, mse, x, target, 5, optimizer=opt, clip=1.0)
    assert np.isfinite(res.losses).all() and opt.steps == 5

"""Initialisers: ranges, orthogonality per gate block, Glorot bounds, the
unit forget bias, seeding and in-place application."""
import numpy as np
import pytest

import numbarnn
from numbarnn.nn import init


def test_pytorch_default_range_and_spread():
    layer = numbarnn.GRU(16, 64, num_layers=2, bidirectional=True, seed=0)
    k = 1 / np.sqrt(64)
    values = np.concatenate([p.ravel() for p in layer.parameters()])
    assert np.abs(values).max() <= k
    # uniform on (-k, k): mean 0, variance k²/3 (loose bounds, many samples)
    assert abs(values.mean()) < 0.02 * k
    assert abs(values.var() / (k * k / 3) - 1) < 0.05


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (numbarnn.LSTM(3, 4, num_layers=2, seed=s) for s in (1, 1, 2))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
        assert not np.array_equal(a.params[name], c.params[name])


def test_seed_accepts_a_generator():
    a = numbarnn.RNN(3, 4, seed=np.random.default_rng(5))
    b = numbarnn.RNN(3, 4, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.params["weight_hh_l0"], b.params["weight_hh_l0"])


@pytest.mark.parametrize("cls, G", [(numbarnn.RNN, 1), (numbarnn.LSTM, 4), (numbarnn.GRU, 3)])
def test_orthogonal_recurrent_per_gate_block(cls, G):
    layer = cls(3, 5, num_layers=2, bidirectional=True, seed=0)
    before = layer.params["weight_ih_l0"].copy()
    init.orthogonal_recurrent_(layer, gain=2.0, seed=1)
    np.testing.assert_array_equal(layer.params["weight_ih_l0"], before)  # untouched
    for name, w in layer.params.items():
        if name.startswith("weight_hh"):
            for j in range(G):
                blk = w[j * 5:(j + 1) * 5]
                np.testing.assert_allclose(blk @ blk.T, 4.0 * np.eye(5), atol=1e-12)


def test_glorot_input_bounds_per_layer():
    layer = numbarnn.LSTM(7, 5, num_layers=2, bidirectional=True, seed=0)
    init.glorot_uniform_input_(layer, seed=0)
    for name, fan_in in (("weight_ih_l0", 7), ("weight_ih_l1_reverse", 10)):
        bound = np.sqrt(6 / (fan_in + 20))
        w = layer.params[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_unit_forget_bias_and_keras_scheme():
    layer = numbarnn.LSTM(3, 4, num_layers=2, init="keras", seed=0)
    for s in ("_l0", "_l1"):
        total = layer.params["bias_ih" + s] + layer.params["bias_hh" + s]
        np.testing.assert_array_equal(total, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
        w = layer.params["weight_hh" + s][8:12]
        np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-12)
    gru = numbarnn.GRU(3, 4, init="keras", seed=0)
    assert not gru.params["bias_hh_l0"].any()
    with pytest.raises(ValueError, match="LSTM"):
        init.unit_forget_bias_(gru)
    with pytest.raises(ValueError, match="bias"):
        init.unit_forget_bias_(numbarnn.LSTM(3, 4, bias=False))


def test_callable_init_and_cells():
    def constant(module, rng):
        for p in module.parameters():
            p.fill(0.25)

    layer = numbarnn.GRU(3, 4, init=constant)
    assert all((p == 0.25).all() for p in layer.parameters())
    assert layer.get_config()["init"] is None  # a callable is not saved
    cell = numbarnn.LSTMCell(3, 4, init="keras", seed=0)
    assert (cell.params["bias_ih"][4:8] == 1).all()
    w = cell.params["weight_hh"][:4]
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-12)


def test_initialisers_work_in_place():
    layer = numbarnn.RNN(3, 4, seed=0)
    refs = layer.parameters()
    init.keras_(layer, seed=3)
    assert all(a is b for a, b in zip(refs, layer.parameters()))

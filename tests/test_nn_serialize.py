"""save/load: bit-exact round trips, refusal of truncated, corrupt and
mismatched files, and atomic writes."""
import os

import numpy as np
import pytest

import numbarnn
from numbarnn.nn import load, save, serialize

MODULES = [
    lambda: numbarnn.RNN(3, 4, num_layers=2, nonlinearity="sigmoid", bidirectional=True,
                         seed=0),
    lambda: numbarnn.LSTM(3, 4, num_layers=3, batch_first=True, dropout=0.25, seed=1),
    lambda: numbarnn.GRU(3, 4, bias=False, reset_after=True, seed=2),
    lambda: numbarnn.GRU(3, 4, dtype=np.float32, seed=3),
    lambda: numbarnn.RNNCell(3, 4, nonlinearity="relu", seed=4),
    lambda: numbarnn.LSTMCell(3, 4, seed=5),
    lambda: numbarnn.GRUCell(3, 4, reset_after=True, dtype=np.float32, seed=6),
]
IDS = ["rnn", "lstm", "gru_after", "gru32", "rnncell", "lstmcell", "grucell32"]


@pytest.mark.parametrize("make", MODULES, ids=IDS)
def test_round_trip_is_bit_exact(make, tmp_path):
    module = make()
    for p in module.parameters():  # not the initial weights a seed would recreate
        p += np.asarray(np.pi, p.dtype)
    path = tmp_path / "m.npz"
    module.save(path)
    back = type(module).load(path)
    assert type(back) is type(module) and back.get_config() == module.get_config()
    assert list(back.params) == list(module.params)
    for name, p in module.params.items():
        assert back.params[name].dtype == p.dtype
        np.testing.assert_array_equal(back.params[name], p)
    assert serialize.params_digest(back.params) == serialize.params_digest(module.params)
    with np.load(path) as npz:  # an ordinary .npz
        np.testing.assert_array_equal(npz[next(iter(module.params))],
                                      next(iter(module.params.values())))


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "lstm.npz"
    # small on purpose: every byte of it is flipped below
    save(numbarnn.LSTM(1, 2, seed=0), path)
    return path.read_bytes()


def test_truncated_files_are_refused(good_file, tmp_path):
    path = tmp_path / "cut.npz"
    for n in range(0, len(good_file), 10):
        path.write_bytes(good_file[:n])
        with pytest.raises(ValueError):
            load(path)


def test_every_flipped_byte_is_refused(good_file, tmp_path):
    path = tmp_path / "flip.npz"
    for i in range(len(good_file)):
        data = bytearray(good_file)
        data[i] ^= 1 << (i % 8)  # every byte, each bit position in turn
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError):
            load(path)


def test_refusals_say_why(good_file, tmp_path):
    path = tmp_path / "f.npz"
    data = bytearray(good_file)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        load(path)
    path.write_bytes(good_file[:-1])
    with pytest.raises(ValueError, match="truncated"):
        load(path)
    np.savez(path, weight_ih_l0=np.zeros((12, 2)))  # a foreign .npz
    with pytest.raises(ValueError, match="not a numbarnn"):
        load(path)


def test_mismatched_class_and_shapes_are_refused(tmp_path):
    path = tmp_path / "gru.npz"
    numbarnn.GRU(2, 3, seed=0).save(path)
    with pytest.raises(ValueError, match="holds a GRU, not a LSTM"):
        numbarnn.LSTM.load(path)
    assert isinstance(numbarnn.nn.Module.load(path), numbarnn.GRU)
    lstm = numbarnn.LSTM(2, 3, seed=0)
    before = lstm.state_dict()
    bad = dict(before, weight_hh_l0=np.zeros((12, 4)))
    with pytest.raises(ValueError, match="weight_hh_l0.*shape"):
        lstm.load_state_dict(bad)
    bad = dict(before, bias_ih_l0=np.zeros(12, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        lstm.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        lstm.load_state_dict({k: v for k, v in before.items() if k != "bias_hh_l0"})
    bad = dict(before, weight_hr_l0=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unexpected"):
        lstm.load_state_dict(bad)
    for name, p in lstm.params.items():  # every failed load left it unchanged
        np.testing.assert_array_equal(p, before[name])


def test_a_file_whose_parameters_do_not_fit_its_config_is_refused(tmp_path, monkeypatch):
    module = numbarnn.GRU(2, 3, seed=0)
    real = module.get_config
    monkeypatch.setattr(module, "get_config", lambda: dict(real(), hidden_size=5))
    module.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="does not describe a valid GRU"):
        load(tmp_path / "bad.npz")


def test_other_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "VERSION", 99)
    save(numbarnn.RNN(2, 3, seed=0), tmp_path / "v99.npz")
    monkeypatch.setattr(serialize, "VERSION", 1)
    with pytest.raises(ValueError, match="version 99"):
        load(tmp_path / "v99.npz")


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = numbarnn.GRU(2, 3, seed=0)
    old.save(path)
    original = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        numbarnn.GRU(2, 3, seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    numbarnn.GRU(2, 3, seed=1).save(path)
    assert path.read_bytes() != original

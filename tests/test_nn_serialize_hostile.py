"""Issue 10 items 11-12 and issue 12 item 4: ``load`` of an untrusted file is
bounded before it reads or allocates; ``save`` behaves like a plain
``open()`` (umask, symlinks) and leaves no temporaries; ``numbarnn.save`` /
``numbarnn.load`` round-trip layers, cells and registered models."""
import hashlib
import io
import json
import os
import stat
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

import numbarnn
from numbarnn.models._base import ModelBase
from numbarnn.nn import load, save, serialize


def members_of(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def reseal(members, path, compression=zipfile.ZIP_STORED):
    """Write ``members`` as a numbarnn file with a valid digest: what an
    attacker who knows the format can always do."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.comment = serialize._TRAILER + b"0" * serialize._DIGEST_LEN
    data = bytearray(buf.getvalue())
    data[-64:] = hashlib.sha256(data[:-64]).hexdigest().encode()
    path.write_bytes(bytes(data))


def npy(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def read_meta(members):
    return json.loads(str(np.lib.format.read_array(io.BytesIO(members["__meta__.npy"]))[()]))


@pytest.fixture
def gru_members(tmp_path):
    path = tmp_path / "gru.npz"
    save(numbarnn.GRU(2, 3, seed=0), path)
    return members_of(path)


def test_resealed_original_still_loads(gru_members, tmp_path):
    reseal(gru_members, tmp_path / "x.npz")
    assert isinstance(load(tmp_path / "x.npz"), numbarnn.GRU)


def test_compressed_member_is_refused_before_inflating(gru_members, tmp_path):
    reseal(gru_members, tmp_path / "z.npz", zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="compressed"):
        load(tmp_path / "z.npz")


def test_huge_config_is_refused_without_allocating(gru_members, tmp_path):
    meta = read_meta(gru_members)
    meta["config"]["hidden_size"] = 30000
    gru_members["__meta__.npy"] = npy(json.dumps(meta))
    reseal(gru_members, tmp_path / "big.npz")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="implies"):
            load(tmp_path / "big.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # the GRU itself would be 30000·90000·8 bytes = 21.6 GB


def test_huge_declared_header_is_refused(gru_members, tmp_path):
    # a header promising far more data than the member holds
    header = npy(np.zeros((9, 2)))
    fake = header.replace(b"(9, 2)", b"(9000000, 2000)")
    gru_members["weight_ih_l0.npy"] = fake.split(b"\n", 1)[0] + b"\n" + b"\0" * 144
    reseal(gru_members, tmp_path / "hdr.npz")
    with pytest.raises(ValueError):
        load(tmp_path / "hdr.npz")


def test_bad_dtype_in_config_names_dtype(gru_members, tmp_path):
    meta = read_meta(gru_members)
    meta["config"]["dtype"] = "floaty"
    gru_members["__meta__.npy"] = npy(json.dumps(meta))
    reseal(gru_members, tmp_path / "dt.npz")
    with pytest.raises(ValueError, match="dtype"):
        load(tmp_path / "dt.npz")


def test_object_arrays_are_refused(gru_members, tmp_path):
    meta = read_meta(gru_members)
    gru_members["__meta__.npy"] = npy(json.dumps(meta))
    gru_members["weight_ih_l0.npy"] = b"\x93NUMPY\x01\x00v\x00" + (
        b"{'descr': '|O', 'fortran_order': False, 'shape': (9, 2), }".ljust(117) + b"\n")
    reseal(gru_members, tmp_path / "obj.npz")
    with pytest.raises(ValueError):
        load(tmp_path / "obj.npz")


def test_padding_beyond_the_arrays_is_refused(gru_members, tmp_path):
    meta = read_meta(gru_members)
    gru_members["__meta__.npy"] = npy(json.dumps(meta) + " " * 2_000_000)
    reseal(gru_members, tmp_path / "pad.npz")
    with pytest.raises(ValueError, match="__meta__"):
        load(tmp_path / "pad.npz")


@pytest.mark.parametrize("where", ["dir", "devzero"])
def test_non_regular_files_are_refused(where, tmp_path):
    path = tmp_path if where == "dir" else "/dev/zero"
    if where == "devzero" and not os.path.exists(path):
        pytest.skip("no /dev/zero")
    with pytest.raises(ValueError, match="regular file"):
        load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_is_refused_without_hanging(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    caught = []

    def attempt():
        try:
            load(path)
        except ValueError as exc:
            caught.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the hung reader so the test process can end
        with open(path, "wb"):
            pass
        pytest.fail("load of a FIFO hangs")
    assert caught and "regular file" in str(caught[0])


# -- models: no config-implied shapes -----------------------------------------
class _Toy(ModelBase):
    """A registered model: a constructor argument and one fitted array."""

    def __init__(self, width=2):
        self.width = width
        self.coef_ = None

    def state_dict(self):
        return {"coef": np.asarray(self.coef_)}

    def load_state_dict(self, arrays):
        if arrays["coef"].shape != (self.width,):
            raise ValueError("coef does not fit width")
        self.coef_ = arrays["coef"].copy()


def test_registered_models_round_trip_through_top_level_save_load(tmp_path):
    toy = _Toy(3)
    toy.coef_ = np.array([1.5, -2.0, np.pi])
    numbarnn.save(toy, tmp_path / "toy.npz")
    back = numbarnn.load(tmp_path / "toy.npz")
    assert type(back) is _Toy and back.width == 3
    np.testing.assert_array_equal(back.coef_, toy.coef_)


@pytest.mark.parametrize("make", [lambda: numbarnn.LSTM(2, 3, num_layers=2, seed=0),
                                  lambda: numbarnn.GRUCell(2, 3, seed=0)])
def test_top_level_load_returns_the_saved_layer(make, tmp_path):
    module = make()
    numbarnn.save(module, tmp_path / "m.npz")
    back = numbarnn.load(tmp_path / "m.npz")
    assert type(back) is type(module) and back.get_config() == module.get_config()
    for name, p in module.params.items():
        np.testing.assert_array_equal(back.params[name], p)


def test_model_file_with_inconsistent_header_is_refused(tmp_path):
    toy = _Toy(2)
    toy.coef_ = np.array([1.0, 2.0])
    save(toy, tmp_path / "toy.npz")
    members = members_of(tmp_path / "toy.npz")
    members["coef.npy"] = members["coef.npy"].replace(b"(2,)", b"(9000000000,)")
    reseal(members, tmp_path / "toy2.npz")
    with pytest.raises(ValueError, match="declares"):
        load(tmp_path / "toy2.npz")


# -- save (item 12) -------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_save_honours_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        save(numbarnn.RNN(1, 2, seed=0), tmp_path / "m.npz")
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_save_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "m.npz"
    save(numbarnn.RNN(1, 2, seed=0), path)
    os.chmod(path, 0o640)
    save(numbarnn.RNN(1, 2, seed=1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.npz"
    link = tmp_path / "link.npz"
    save(numbarnn.GRU(1, 2, seed=0), target)
    os.symlink(target, link)
    save(numbarnn.GRU(1, 2, seed=7), link)
    assert os.path.islink(link)
    back = load(target)
    np.testing.assert_array_equal(back.params["weight_hh_l0"],
                                  numbarnn.GRU(1, 2, seed=7).params["weight_hh_l0"])
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_interrupted_save_leaves_no_temporary(exc, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(numbarnn.RNN(1, 2, seed=0), path)
    before = path.read_bytes()

    def boom(fd):
        raise exc("interrupted")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(exc):
        save(numbarnn.RNN(1, 2, seed=1), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.npz"] and path.read_bytes() == before


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "m.npz"
    dead = tmp_path / ".m.npz.999999999-0123abcd.numbarnn-tmp"   # no such pid
    live = tmp_path / f".m.npz.{os.getppid()}-0123abcd.numbarnn-tmp"  # a live writer
    other = tmp_path / ".other.npz.999999999-0123abcd.numbarnn-tmp"  # another target
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    save(numbarnn.RNN(1, 2, seed=0), path)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz", live.name, other.name])

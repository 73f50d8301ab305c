"""Issue 10 items 4, 5 and 13 for the layers and cells: flags are real
booleans, dtypes are checked cleanly, empty batches work, and one layer
shared by several training threads gives every thread its serial answer."""
import threading

import numpy as np
import pytest

import numbarnn

FLAG_CASES = [
    (numbarnn.GRU, (3, 5), "batch_first"), (numbarnn.GRU, (3, 5), "bias"),
    (numbarnn.LSTM, (3, 5), "bidirectional"), (numbarnn.GRU, (3, 5), "reset_after"),
    (numbarnn.RNN, (3, 5), "batch_first"), (numbarnn.RNNCell, (3, 5), "bias"),
    (numbarnn.LSTMCell, (3, 5), "bias"), (numbarnn.GRUCell, (3, 5), "reset_after"),
]


@pytest.mark.parametrize("cls, args, flag", FLAG_CASES)
@pytest.mark.parametrize("bad", ["False", 0, 1, None, 1.0, np.int64(1)])
def test_flags_must_be_real_booleans(cls, args, flag, bad):
    with pytest.raises(TypeError, match=flag):
        cls(*args, **{flag: bad}, seed=0)


@pytest.mark.parametrize("cls, args, flag", FLAG_CASES)
def test_flags_accept_numpy_bools(cls, args, flag):
    a = cls(*args, **{flag: np.bool_(True)}, seed=0)
    assert getattr(a, flag) is True and a.get_config()[flag] is True


def test_forward_flags_must_be_real_booleans():
    gru = numbarnn.GRU(2, 3, seed=0)
    x = np.ones((4, 1, 2))
    with pytest.raises(TypeError, match="return_gates"):
        gru.forward(x, return_gates="yes")
    with pytest.raises(TypeError, match="keep_cache"):
        gru.forward(x, keep_cache=1)
    y, _ = gru.forward(x)
    with pytest.raises(TypeError, match="retain_cache"):
        gru.backward(np.ones_like(y), retain_cache="False")
    with pytest.raises(TypeError, match="mode"):
        gru.train("False")


@pytest.mark.parametrize("cls", [numbarnn.LSTM, numbarnn.GRU, numbarnn.RNN, numbarnn.LSTMCell])
@pytest.mark.parametrize("bad", ["floaty", None, "int64", np.int32, "f16"])
def test_bad_dtype_is_a_type_error_naming_dtype(cls, bad):
    with pytest.raises(TypeError, match="dtype"):
        cls(2, 3, dtype=bad)


def test_empty_batch_with_empty_lengths():
    gru = numbarnn.GRU(2, 3, seed=0)
    y, h = gru.forward(np.ones((4, 0, 2)), lengths=[])
    assert y.shape == (4, 0, 3) and h.shape == (1, 0, 3)
    dx = gru.backward(np.ones_like(y))
    assert dx.shape == (4, 0, 2)


# -- threads (issue 10 item 5) ----------------------------------------------
def _make(kind):
    if kind == "lstm":
        return numbarnn.LSTM(4, 16, num_layers=2, bidirectional=True, seed=0)
    if kind == "gru":
        return numbarnn.GRU(4, 16, num_layers=2, reset_after=True, seed=0)
    return numbarnn.RNN(4, 16, seed=0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_threads_sharing_one_layer_get_the_serial_answer(kind):
    n_threads, rounds = 6, 4
    rng = np.random.default_rng(1)
    # different batch sizes and lengths per thread: a mix-up cannot go unnoticed
    xs = [rng.standard_normal((30 + 3 * k, 2 + k, 4)) for k in range(n_threads)]
    dys = [rng.standard_normal((x.shape[0], x.shape[1], 32 if kind == "lstm" else 16))
           for x in xs]
    serial = _make(kind)
    expected_dx = []
    for x, dy in zip(xs, dys):
        serial.forward(x)
        expected_dx.append(serial.backward(dy))
    layer = _make(kind)
    got = [[None] * rounds for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads, timeout=60)  # a failing thread breaks it
    errors = []

    def work(k):
        try:
            for r in range(rounds):
                barrier.wait()
                layer.forward(xs[k])
                if r % 2 == 0:  # every forward before any backward: the worst interleaving
                    barrier.wait()
                got[k][r] = layer.backward(dys[k])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(n_threads):
        for r in range(rounds):
            np.testing.assert_allclose(got[k][r], expected_dx[k], rtol=1e-12, atol=1e-12)
    for name, g in serial.grads.items():  # gradients sum, as in PyTorch
        np.testing.assert_allclose(layer.grads[name], rounds * g, rtol=1e-10, atol=1e-10)


def test_threads_sharing_one_cell_get_the_serial_answer():
    cell = numbarnn.LSTMCell(3, 5, seed=0)
    serial = numbarnn.LSTMCell(3, 5, seed=0)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((8, 2 + k, 3)) for k in range(4)]

    def bptt(c, x):
        state, states = None, []
        for t in range(len(x)):
            state = c.forward(x[t], state)
            states.append(state)
        dh, dc = np.ones_like(state[0]), np.zeros_like(state[1])
        dxs = []
        for t in reversed(range(len(x))):
            dx, (dh, dc) = c.backward((dh + 1.0, dc))
            dxs.append(dx)
        return dxs

    expected = [bptt(serial, x) for x in xs]
    got = [None] * len(xs)
    barrier = threading.Barrier(len(xs))

    def work(k):
        barrier.wait()
        got[k] = bptt(cell, xs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for name, g in serial.grads.items():
        np.testing.assert_allclose(cell.grads[name], g, rtol=1e-10, atol=1e-12)


def test_backward_in_another_thread_sees_no_forward():
    layer = numbarnn.GRU(2, 3, seed=0)
    y, _ = layer.forward(np.ones((3, 1, 2)))
    caught = []
    t = threading.Thread(target=lambda: caught.append(
        pytest.raises(RuntimeError, layer.backward, np.ones_like(y))))
    t.start()
    t.join()
    assert caught and layer.backward(np.ones_like(y)).shape == (3, 1, 2)


def test_copies_of_a_layer_work():
    import copy
    import pickle

    layer = numbarnn.LSTM(2, 3, seed=0)
    layer.forward(np.ones((3, 1, 2)))
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        with pytest.raises(RuntimeError):
            other.backward(None)
        y, _ = other.forward(np.ones((3, 1, 2)))
        other.backward(np.ones_like(y))

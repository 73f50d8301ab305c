"""Layer behaviour that needs no torch: streaming, lengths, dropout, modes,
gradient accumulation and argument checks."""
import numpy as np
import pytest

import numbarnn

T, B, I, H = 6, 3, 2, 3


def layers(**kw):
    """One layer of every kind and form, built with the same options."""
    return [numbarnn.RNN(I, H, nonlinearity="tanh", seed=1, **kw),
            numbarnn.RNN(I, H, nonlinearity="sigmoid", seed=2, **kw),
            numbarnn.LSTM(I, H, seed=3, **kw),
            numbarnn.GRU(I, H, seed=4, **kw),
            numbarnn.GRU(I, H, reset_after=True, seed=5, **kw)]


LAYER_IDS = ["rnn_tanh", "rnn_sigmoid", "lstm", "gru", "gru_after"]


def twin(layer):
    other = type(layer)(**layer.get_config())
    other.load_state_dict(layer.state_dict())
    return other


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def assert_states_equal(a, b, **tol):
    for u, v in zip(as_tuple(a), as_tuple(b)):
        np.testing.assert_allclose(u, v, rtol=0, atol=tol.get("atol", 1e-13))


@pytest.mark.parametrize("i", range(5), ids=LAYER_IDS)
def test_step_by_step_equals_one_call(i):
    layer = layers(num_layers=2)[i]
    x = np.random.default_rng(0).standard_normal((T, B, I))
    y, final = layer.forward(x)
    state, ys = None, []
    for t in range(T):
        y_t, state = layer.step(x[t], state)
        ys.append(y_t)
    np.testing.assert_allclose(np.array(ys), y, rtol=0, atol=1e-13)
    assert_states_equal(state, final)


@pytest.mark.parametrize("i", range(5), ids=LAYER_IDS)
def test_chunks_carrying_state_equal_one_call_with_gradients(i):
    """Stateful use across calls, and backward across the chunk boundary
    (the initial-state gradient of chunk 2 is the final-state gradient of
    chunk 1): exactly the full-sequence gradients."""
    full = layers(num_layers=2, batch_first=True)[i]
    a, b = twin(full), twin(full)
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((B, T, I)), rng.standard_normal((B, T, H))
    y, final = full.forward(x)
    dx = full.backward(dy)
    y1, s1 = a.forward(x[:, :2])
    y2, s2 = b.forward(x[:, 2:], s1)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=0, atol=1e-13)
    assert_states_equal(s2, final)
    dx2, ds = b.backward(dy[:, 2:], return_dstate=True)
    dx1 = a.backward(dy[:, :2], ds)
    np.testing.assert_allclose(np.concatenate([dx1, dx2], axis=1), dx, rtol=0, atol=1e-12)
    for name in full.grads:
        np.testing.assert_allclose(a.grads[name] + b.grads[name], full.grads[name],
                                   rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("i", [2, 3], ids=["lstm", "gru"])
def test_ragged_batch_equals_each_sequence_alone(i):
    """PackedSequence semantics, checked without torch (reset-before GRU is
    not in torch): outputs, final states and summed gradients."""
    layer = layers(num_layers=2, bidirectional=True)[i]
    rng = np.random.default_rng(2)
    lengths = np.array([4, 6, 0])
    x = rng.standard_normal((T, B, I))
    dy = rng.standard_normal((T, B, 2 * H))
    n = 2 if layer.kind == "lstm" else 1
    h0 = [rng.standard_normal((4, B, H)) for _ in range(n)]
    pack = tuple if n == 2 else (lambda s: s[0])
    y, st = layer.forward(x, pack(h0), lengths=lengths)
    dx, ds0 = layer.backward(dy, return_dstate=True)
    assert not y[4:, 0].any() and not y[:, 2].any() and not dx[:, 2].any()
    np.testing.assert_array_equal(as_tuple(st)[0][:, 2], h0[0][:, 2])  # length 0
    total = {k: np.zeros_like(g) for k, g in layer.grads.items()}
    for b in range(2):
        alone = twin(layer)
        L = lengths[b]
        yb, sb = alone.forward(x[:L, b:b + 1], pack([h[:, b:b + 1] for h in h0]))
        dxb, dsb = alone.backward(dy[:L, b:b + 1], return_dstate=True)
        np.testing.assert_allclose(y[:L, b:b + 1], yb, rtol=0, atol=1e-13)
        np.testing.assert_allclose(dx[:L, b:b + 1], dxb, rtol=0, atol=1e-12)
        for u, v in zip(as_tuple(st), as_tuple(sb)):
            np.testing.assert_allclose(u[:, b:b + 1], v, rtol=0, atol=1e-13)
        for u, v in zip(as_tuple(ds0), as_tuple(dsb)):
            np.testing.assert_allclose(u[:, b:b + 1], v, rtol=0, atol=1e-12)
        for k in total:
            total[k] += alone.grads[k]
    for k in total:
        np.testing.assert_allclose(layer.grads[k], total[k], rtol=0, atol=1e-12, err_msg=k)


def test_dropout_off_in_eval_and_same_seed_same_mask():
    x = np.random.default_rng(3).standard_normal((T, B, I))
    a = numbarnn.LSTM(I, H, num_layers=3, dropout=0.5, seed=7)
    b = numbarnn.LSTM(I, H, num_layers=3, dropout=0.5, seed=7)
    c = numbarnn.LSTM(I, H, num_layers=3, dropout=0.5, seed=8)
    c.load_state_dict(a.state_dict())
    plain = numbarnn.LSTM(I, H, num_layers=3, seed=0)
    plain.load_state_dict(a.state_dict())
    ya, yb, yc = a.forward(x)[0], b.forward(x)[0], c.forward(x)[0]
    np.testing.assert_array_equal(ya, yb)                 # same seed, same masks
    assert not np.allclose(ya, yc)                        # another seed, other masks
    assert not np.allclose(ya, plain.forward(x)[0])       # dropout acts in training
    np.testing.assert_array_equal(a.eval().forward(x)[0], plain.forward(x)[0])


def test_dropout_not_after_last_layer_and_mask_reused_in_backward():
    """With p = 1 the second layer sees zeros, yet its own output is not
    dropped; the backward pass uses the forward pass's (all-zero) mask, so
    no gradient reaches the first layer or the input."""
    layer = numbarnn.GRU(I, H, num_layers=2, dropout=1.0, seed=0)
    top = numbarnn.GRU(H, H, seed=0)
    top.load_state_dict({k[:-1] + "0": v for k, v in layer.state_dict().items()
                         if k.endswith("l1")})
    y, _ = layer.forward(np.ones((T, B, I)))
    np.testing.assert_allclose(y, top.forward(np.zeros((T, B, H)))[0], rtol=0, atol=1e-14)
    assert y.any()
    dx = layer.backward(np.ones_like(y))
    assert not dx.any() and not layer.grads["weight_ih_l0"].any()
    assert not layer.grads["weight_ih_l1"].any()  # its input was all zero
    assert layer.grads["bias_ih_l1"].any()


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout"):
        numbarnn.RNN(I, H, dropout=0.2)


def test_gradients_accumulate_until_zero_grad():
    layer = numbarnn.LSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(4).standard_normal((T, B, I))
    for _ in range(2):
        y, _ = layer.forward(x)
        layer.backward(y)
    once = twin(layer)
    y, _ = once.forward(x)
    once.backward(y)
    for k in layer.grads:
        np.testing.assert_allclose(layer.grads[k], 2 * once.grads[k], rtol=1e-14, err_msg=k)
    layer.zero_grad()
    assert not any(g.any() for g in layer.grads.values())


def test_eval_keeps_no_cache_unless_asked():
    layer = numbarnn.GRU(I, H, seed=0).eval()
    x = np.ones((T, B, I))
    y, _ = layer.forward(x)
    with pytest.raises(RuntimeError, match="keep_cache"):
        layer.backward(y)
    y2, _ = layer.forward(x, keep_cache=True)
    np.testing.assert_array_equal(y, y2)
    layer.backward(y, retain_cache=True)
    layer.backward(y)  # retained once
    with pytest.raises(RuntimeError):
        layer.backward(y)


def test_return_gates_shapes_layout_and_training_mode_untouched():
    layer = numbarnn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True,
                          seed=0).eval()
    x = np.random.default_rng(5).standard_normal((B, T, I))
    y, (h, c), gates = layer.forward(x, lengths=[6, 2, 5], return_gates=True)
    assert sorted(gates) == ["l0", "l0_reverse", "l1", "l1_reverse"]
    assert sorted(gates["l1"]) == ["c", "f", "g", "i", "o"]
    assert all(a.shape == (B, T, H) for g in gates.values() for a in g.values())
    # y = [h of the forward direction, h of the reverse one], h = o tanh(c)
    g = gates["l1_reverse"]
    np.testing.assert_allclose(y[..., H:], g["o"] * np.tanh(g["c"]), rtol=0, atol=1e-14)
    assert not gates["l0"]["i"][1, 2:].any()
    with pytest.raises(RuntimeError):
        layer.backward(y)  # eval mode: return_gates does not keep a cache


@pytest.mark.parametrize("make, message", [
    (lambda: numbarnn.LSTM(I, H, proj_size=H), "proj_size"),
    (lambda: numbarnn.RNN(I, H, nonlinearity="gelu"), "nonlinearity"),
    (lambda: numbarnn.GRU(I, 0), "hidden_size"),
    (lambda: numbarnn.GRU(I, H, num_layers=0), "num_layers"),
    (lambda: numbarnn.GRU(I, H, num_layers=2, dropout=1.5), "dropout"),
    (lambda: numbarnn.GRU(I, H, dtype=np.int32), "dtype"),
    (lambda: numbarnn.GRU(I, H, init="glorot"), "init"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises((ValueError, TypeError, NotImplementedError), match=message):
        make()


def test_bad_call_arguments_name_the_argument():
    layer = numbarnn.LSTM(I, H, num_layers=2, seed=0)
    x = np.ones((T, B, I))
    cases = [
        (lambda: layer.forward(x.astype(np.float32)), TypeError, "x has dtype float32"),
        (lambda: layer.forward(np.ones((T, B, I + 1))), ValueError, r"x must have shape"),
        (lambda: layer.forward(x, lengths=[1, 2]), ValueError, "lengths"),
        (lambda: layer.forward(x, lengths=[1, 2, T + 1]), ValueError, "lengths"),
        (lambda: layer.forward(x, lengths=[1, -1, 2]), ValueError, "lengths"),
        (lambda: layer.forward(x, lengths=[1.0, 2.0, 3.0]), TypeError, "lengths"),
        (lambda: layer.forward(x, np.zeros((2, B, H))), TypeError, "pair"),
        (lambda: layer.forward(x, (np.zeros((1, B, H)),) * 2), ValueError, r"state \(h\)"),
        (lambda: numbarnn.GRU(I, H, bidirectional=True).step(x[0]), ValueError, "unidir"),
        (lambda: layer.backward(np.ones((T, B, H))), RuntimeError, "forward"),
    ]
    for call, exc, message in cases:
        with pytest.raises(exc, match=message):
            call()
    layer.forward(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        layer.backward(np.ones((T, B, 2 * H)))


def test_float32_layer_runs_in_float32():
    layer = numbarnn.GRU(I, H, num_layers=2, dtype=np.float32, seed=0)
    y, h = layer.forward(np.ones((T, B, I), np.float32), lengths=[6, 3, 1])
    dx = layer.backward(y)
    assert y.dtype == h.dtype == dx.dtype == layer.grads["weight_hh_l1"].dtype == np.float32


def test_empty_sequence_and_empty_batch():
    layer = numbarnn.LSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    y, (h, c) = layer.forward(np.ones((0, B, I)))
    assert y.shape == (0, B, 2 * H) and not h.any()
    assert layer.backward(y).shape == (0, B, I)
    y, (h, c) = layer.forward(np.ones((T, 0, I)), lengths=np.zeros(0, int))
    assert y.shape == (T, 0, 2 * H) and h.shape == (4, 0, H)


def test_parameters_are_live_references():
    layer = numbarnn.RNN(I, H, seed=0)
    w = layer.parameters()[1]
    w[...] = 0
    assert not layer.params["weight_hh_l0"].any()
    layer.load_state_dict({k: np.ones_like(v) for k, v in layer.params.items()})
    assert (w == 1).all()


def test_all_full_lengths_equal_no_lengths():
    layer = numbarnn.GRU(I, H, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(6).standard_normal((T, B, I))
    y, h = layer.forward(x)
    y2, h2 = layer.forward(x, lengths=np.full(B, T))
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h, h2)

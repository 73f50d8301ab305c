"""The streaming fast path (nn/_fast_step.py, kernels/cpu/step.py): eval-mode
``step`` and cell ``forward`` on the CPU against the general path and the
numpy oracle, weights seen when edited in place or replaced, bad inputs
refused, odd inputs handed to the general path."""

import numpy as np
import pytest

import numbarnn

from helpers import DTYPE_PARAMS, TOL, run_in_threads

LAYERS = [pytest.param(numbarnn.LSTM, {}, id="lstm"),
          pytest.param(numbarnn.LSTM, {"proj_size": 13}, id="lstm-proj"),
          pytest.param(numbarnn.GRU, {}, id="gru-before"),
          pytest.param(numbarnn.GRU, {"reset_after": True}, id="gru-after"),
          pytest.param(numbarnn.RNN, {"nonlinearity": "relu"}, id="rnn-relu"),
          pytest.param(numbarnn.RNN, {"nonlinearity": "sigmoid"}, id="rnn-sigmoid")]


@pytest.mark.parametrize("B", [2, 7, 17, 33])  # 17, 33: one product (float64; both)
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("cls, kw", LAYERS)
def test_streamed_steps_equal_one_forward_call(cls, kw, dtype, B):
    # B = 7: a block of 4 batch rows and 3 single rows; H = 37: gate rows
    # beyond a multiple of 4 (GRU, RNN) and dot products with a scalar tail
    layer = cls(3, 37, num_layers=2, dtype=dtype, seed=1, **kw).eval()
    x = np.random.default_rng(0).standard_normal((15, B, 3)).astype(dtype)
    y, final = layer.forward(x)
    state, ys = None, []
    for t in range(15):
        y_t, state = layer.step(x[t], state)
        ys.append(y_t)
    assert layer.__dict__.get("_step_plan") is not None   # the fast path ran
    np.testing.assert_allclose(np.stack(ys), y, **TOL[np.dtype(dtype)])
    for a, b in zip(state if isinstance(state, tuple) else (state,),
                    final if isinstance(final, tuple) else (final,)):
        np.testing.assert_allclose(a, b, **TOL[np.dtype(dtype)])


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_eval_cell_equals_training_cell(name):
    cell = getattr(numbarnn, name)(4, 9, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    s = cell.forward(x)                 # training mode: the general path
    want = cell.forward(x, s)
    cell.eval()
    got = cell.forward(x, s)
    for a, b in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_weights_edited_in_place_or_replaced_are_seen():
    layer = numbarnn.LSTM(2, 5, seed=0).eval()
    x = np.ones((1, 2))
    before, _ = layer.step(x)
    layer.params["weight_ih_l0"] *= 2.0                 # in place, as an optimizer does
    in_place, _ = layer.step(x)
    assert not np.allclose(in_place, before)
    np.testing.assert_allclose(in_place, layer.forward(x[None])[0][0], rtol=1e-12)
    layer.load_state_dict({**layer.state_dict(), "bias_hh_l0": np.full(20, 0.5)})  # replaced
    replaced, _ = layer.step(x)
    np.testing.assert_allclose(replaced, layer.forward(x[None])[0][0], rtol=1e-12)
    # a new array with the same values, then edited in place: the step must
    # read the new array (the plan compares arrays by identity, not value)
    layer.params["bias_ih_l0"] = layer.params["bias_ih_l0"].copy()
    layer.step(x)
    layer.params["bias_ih_l0"] += 1.0
    swapped, _ = layer.step(x)
    np.testing.assert_allclose(swapped, layer.forward(x[None])[0][0], rtol=1e-12)
    assert not np.allclose(swapped, replaced)


def test_non_finite_inputs_are_refused():
    layer = numbarnn.GRU(2, 4, seed=0).eval()
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.step(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.step(np.ones((1, 2)), np.full((1, 1, 4), np.inf))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("cls, kw", LAYERS)
def test_unchecked_steps_take_the_fast_path_with_its_bits(cls, kw, dtype, monkeypatch):
    # check_finite=False used to send every step to the general path (~40 µs
    # a B = 1 LSTM step against ~3.5): now the same kernels, the same bits
    layer = cls(3, 37, num_layers=2, dtype=dtype, seed=1, **kw).eval()
    x = np.random.default_rng(0).standard_normal((6, 5, 3)).astype(dtype)
    taken = _record_fast_path(monkeypatch)
    checked, unchecked = None, None
    for t in range(6):
        y1, checked = layer.step(x[t], checked)
        y2, unchecked = layer.step(x[t], unchecked, check_finite=False)
        assert np.array_equal(y1, y2)
    assert taken == [True] * 12
    # and the general path's forward (the oracle for the fast path) agrees
    np.testing.assert_allclose(y2, layer.forward(x)[0][-1], **TOL[np.dtype(dtype)])


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_unchecked_non_finite_inputs_go_through(name, monkeypatch):
    # the fast path's kernels stop at non-finite inputs; without the check the
    # general path computes the step instead, and NaN/Inf reach the outputs
    mod = getattr(numbarnn, name)(2, 4, seed=0).eval()
    step = mod.forward if name.endswith("Cell") else mod.step
    x = np.array([[np.nan, 1.0], [0.5, 1.0]])
    taken = _record_fast_path(monkeypatch)
    out = step(x, check_finite=False)
    y = (out[0] if name == "LSTMCell" else out) if name.endswith("Cell") else out[0]
    assert taken == [False]
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()
    want = step(x[1:], check_finite=False)   # row 1 alone, on the fast path
    assert taken == [False, True]
    np.testing.assert_allclose(
        y[1], (want[0] if name == "LSTMCell" else want)[0] if name.endswith("Cell")
        else want[0][0], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="NaN or Inf"):
        step(x)


_CELLS = [(numbarnn.LSTM, {}), (numbarnn.GRU, {}), (numbarnn.GRU, {"reset_after": True}),
          (numbarnn.RNN, {})]


@pytest.mark.parametrize("cls, kw, where", [
    (cls, kw, where) for cls, kw in _CELLS for where in ("x", "h of layer 2")]
    + [(numbarnn.LSTM, {}, "c of layer 2")])
def test_every_kernel_refuses_non_finite_inputs_of_any_layer(cls, kw, where):
    # each step kernel checks its layer's state (and layer 0 the input x)
    layer = cls(2, 4, num_layers=2, seed=0, **kw).eval()
    lstm = cls is numbarnn.LSTM
    x, h = np.ones((3, 2)), np.zeros((2, 3, 4))
    c = np.zeros((2, 3, 4))
    ok, _ = layer.step(x, (h, c) if lstm else h)
    assert np.isfinite(ok).all()
    if where == "x":
        x[1, 0] = np.nan
    else:
        (h if where.startswith("h") else c)[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.step(x, (h, c) if lstm else h)


def test_batches_above_the_limit_take_the_general_path(monkeypatch):
    from numbarnn.nn import _fast_step
    layer = numbarnn.LSTM(5, 20, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((_fast_step.STEP_MAX_BATCH + 1, 5))
    taken = _record_fast_path(monkeypatch)
    wide, (h, c) = layer.step(x)
    assert taken == [False]                          # the general path
    halves = [layer.step(x[:16]), layer.step(x[16:32]), layer.step(x[32:])]
    assert taken == [False, True, True, True]        # the fast path
    np.testing.assert_allclose(wide, np.concatenate([y for y, _ in halves]), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(c, np.concatenate([s[1] for _, s in halves], axis=1),
                               rtol=1e-12, atol=1e-14)


def _record_fast_path(monkeypatch):
    # a list of bools that grows by one per StepPlan.run: whether it answered
    from numbarnn.nn import _fast_step
    taken = []
    real = _fast_step.StepPlan.run

    def run(plan, *args, **kwargs):
        out = real(plan, *args, **kwargs)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(_fast_step.StepPlan, "run", run)
    return taken


@pytest.mark.parametrize("cls, kw", LAYERS)
def test_read_only_inputs_take_the_fast_path_and_unaligned_ones_the_general(cls, kw,
                                                                            monkeypatch):
    # the plan calls the kernels' compiled versions for writable aligned
    # arrays directly (no dispatch): a read-only x or state is only read, so
    # it gets the same bits there; an unaligned one is the general path's
    layer = cls(3, 20, num_layers=2, seed=0, **kw).eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    _, state = layer.step(x)
    want, want_state = layer.step(x, state)
    taken = _record_fast_path(monkeypatch)
    frozen = [a.copy() for a in (x, *(state if isinstance(state, tuple) else (state,)))]
    for a in frozen:
        a.flags.writeable = False
    got, got_state = layer.step(frozen[0], tuple(frozen[1:]) if len(frozen) == 3 else frozen[1])
    assert taken == [True]
    np.testing.assert_array_equal(got, want)
    for a, b in zip(got_state if isinstance(got_state, tuple) else (got_state,),
                    want_state if isinstance(want_state, tuple) else (want_state,)):
        np.testing.assert_array_equal(a, b)
    raw = np.zeros(x.nbytes + 1, np.uint8)
    odd = raw[1:].view(np.float64).reshape(x.shape)  # one byte off: not aligned
    odd[...] = x
    assert not odd.flags.aligned
    got, _ = layer.step(odd, state)
    assert taken == [True, False]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_odd_inputs_take_the_general_path():
    layer = numbarnn.RNN(3, 4, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((6, 3))
    want, _ = layer.step(np.ascontiguousarray(x[::2]))
    got, _ = layer.step(x[::2])                     # not contiguous
    np.testing.assert_allclose(got, want, rtol=1e-12)
    listed, _ = layer.step(x[:1].tolist())          # a list
    np.testing.assert_allclose(listed, layer.step(x[:1])[0], rtol=1e-12)
    with pytest.raises(TypeError):
        layer.step(x[:1].astype(np.float32))        # dtype: an error, never a cast


def test_threads_stepping_one_layer():
    layer = numbarnn.LSTM(2, 16, seed=0).eval()
    xs = np.random.default_rng(0).standard_normal((4, 30, 1, 2))
    want = [layer.forward(x)[0] for x in xs]
    got, errors = {}, []

    def run(i):
        try:
            state, out = None, []
            for t in range(30):
                y, state = layer.step(xs[i][t], state)
                out.append(y)
            got[i] = np.stack(out)
        except BaseException as exc:  # reported below
            errors.append(exc)

    run_in_threads(run, 4)
    assert not errors
    for i in range(4):
        np.testing.assert_allclose(got[i], want[i], rtol=1e-12, atol=1e-14)


def test_non_contiguous_weights_edited_in_place_are_seen():
    layer = numbarnn.RNN(3, 4, seed=0).eval()
    w = np.asfortranarray(layer.params["weight_hh_l0"])   # a view the plan must not copy
    layer.params["weight_hh_l0"] = w
    x = np.ones((1, 3))
    h = np.full((1, 1, 4), 0.5)
    layer.step(x, h)
    w *= 3.0                                               # in place, after the plan was made
    got, _ = layer.step(x, h)
    want = np.tanh(x @ layer.params["weight_ih_l0"].T + layer.params["bias_ih_l0"]
                   + h[0] @ w.T + layer.params["bias_hh_l0"])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("flag", ["training", "check_finite"])
def test_functional_flags_must_be_booleans(flag):
    F = numbarnn.functional
    x, w = np.ones((2, 1, 3)), np.ones((4, 3))
    with pytest.raises(TypeError, match=flag):
        F.rnn_forward(x, w, np.ones((4, 4)), **{flag: "False"})
    with pytest.raises(TypeError, match="reset_after"):
        F.gru_forward(x, np.ones((12, 3)), np.ones((12, 4)), reset_after="False")


SPLIT_LAYERS = [pytest.param(numbarnn.LSTM, {}, id="lstm"),
                pytest.param(numbarnn.GRU, {"reset_after": True}, id="gru-after"),
                pytest.param(numbarnn.RNN, {"nonlinearity": "tanh"}, id="rnn")]


@pytest.mark.parametrize("B", [3, 8, 40])  # 3: a row at a time; 40: one product
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("cls, kw", SPLIT_LAYERS)
def test_a_step_split_by_units_gives_the_bits_of_one_part(cls, kw, dtype, B, monkeypatch):
    # H = 150: 10 blocks of 16 float32 units (19 of 8 float64) and a tail;
    # three parts cut them unevenly. The general path's forward is the oracle
    # for the values, the unsplit step for the bits.
    from numbarnn.functional import workers
    from numbarnn.nn import _fast_step
    layer = cls(5, 150, num_layers=2, dtype=dtype, seed=3, **kw).eval()
    x = np.random.default_rng(2).standard_normal((4, B, 5)).astype(dtype)
    whole, state = [], None
    for t in range(4):
        y, state = layer.step(x[t], state)
        whole.append(y)
    parts = []
    real = workers.run_parts
    monkeypatch.setattr(workers, "run_parts", lambda n, job: parts.append(real(n, job)) or
                        parts[-1])
    monkeypatch.setattr(_fast_step, "SPLIT_STEP_BYTES", 1)
    old = numbarnn.get_num_threads()
    numbarnn.set_num_threads(3)
    try:
        # the same weights (seed) in a new layer, whose plan sees the new limit
        again = cls(5, 150, num_layers=2, dtype=dtype, seed=3, **kw).eval()
        split, state = [], None
        for t in range(4):
            y, state = again.step(x[t], state)
            split.append(y)
    finally:
        numbarnn.set_num_threads(old)
    assert parts and all(n >= 2 for n in parts)     # split, on two or three workers
    np.testing.assert_array_equal(np.stack(split), np.stack(whole))
    np.testing.assert_allclose(np.stack(split), layer.forward(x)[0], **TOL[np.dtype(dtype)])


def test_only_large_steps_are_split(monkeypatch):
    from numbarnn.functional import workers
    calls = []
    real = workers.run_parts
    monkeypatch.setattr(workers, "run_parts", lambda n, job: calls.append(n) or real(n, job))
    old = numbarnn.get_num_threads()
    numbarnn.set_num_threads(2)
    try:
        x = np.ones((64, 128), np.float32)
        numbarnn.LSTM(128, 256, dtype="float32", seed=0).eval().step(x)   # 1.5 MB × 64 rows
        assert calls == [2]
        numbarnn.LSTM(128, 256, dtype="float32", seed=0).eval().step(x[:4])
        numbarnn.LSTM(1, 32, dtype="float32", seed=0).eval().step(x[:1, :1])
        # the reset-before GRU's candidate needs r ⊙ h of every unit, the
        # projection of a projected LSTM every unit of m: never split
        numbarnn.GRU(128, 256, dtype="float32", seed=0).eval().step(x)
        numbarnn.LSTM(128, 256, proj_size=200, dtype="float32", seed=0).eval().step(x)
        assert calls == [2]
    finally:
        numbarnn.set_num_threads(old)


def test_non_finite_inputs_are_refused_by_a_split_step(monkeypatch):
    from numbarnn.nn import _fast_step
    monkeypatch.setattr(_fast_step, "SPLIT_STEP_BYTES", 1)
    old = numbarnn.get_num_threads()
    numbarnn.set_num_threads(2)
    try:
        layer = numbarnn.LSTM(3, 64, dtype="float32", seed=0).eval()
        x = np.ones((8, 3), np.float32)
        x[5, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or Inf"):
            layer.step(x)
    finally:
        numbarnn.set_num_threads(old)


@pytest.mark.parametrize("where", ["x", "h of layer 2", "c of layer 2"])
def test_the_projected_kernel_refuses_non_finite_inputs_of_any_layer(where):
    # h is (L, B, P), c (L, B, H): each layer checks both, layer 0 also x
    layer = numbarnn.LSTM(2, 6, num_layers=2, proj_size=4, seed=0).eval()
    x, h, c = np.ones((3, 2)), np.zeros((2, 3, 4)), np.zeros((2, 3, 6))
    ok, _ = layer.step(x, (h, c))
    assert layer._step_plan.proj_table is not None and np.isfinite(ok).all()
    if where == "x":
        x[1, 0] = np.nan
    else:
        (h if where.startswith("h") else c)[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.step(x, (h, c))


def test_projected_step_checks_its_weights_and_state_shapes():
    layer = numbarnn.LSTM(2, 6, proj_size=4, seed=0).eval()
    x = np.ones((3, 2))
    layer.params["weight_hr_l0"][0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_hr_l0 contains NaN or Inf"):
        layer.step(x)
    layer.params["weight_hr_l0"][0, 0] = 0.5
    y, (h, c) = layer.step(x)
    assert y.shape == (3, 4) and h.shape == (1, 3, 4) and c.shape == (1, 3, 6)
    # an h as wide as c (H, not P) goes to the general path, which names it
    with pytest.raises(ValueError, match="state"):
        layer.step(x, (np.zeros((1, 3, 6)), c))

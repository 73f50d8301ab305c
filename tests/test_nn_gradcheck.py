"""Finite-difference checks for what torch cannot cross-check: reset-before
GRU layers, the sigmoid RNN, dropout with a fixed mask; and the gates that
``return_gates`` reports against the equations of docs/math.md."""
import numpy as np
import pytest

import numbarnn

from helpers import fd_gradient

T, B, I, H = 5, 3, 2, 3
LENGTHS = np.array([5, 2, 4])


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


def fd_check(layer, batch_first=False, lengths=None, mask_seed=None, eps=1e-6, tol=1e-7):
    """Every gradient of L = Σ dy·y + Σ dstate·state against central differences.

    ``mask_seed`` fixes the dropout masks: the generator is reset before
    every forward pass, so each evaluation of L draws the same masks.
    """
    rng = np.random.default_rng(0)
    D = layer.num_directions
    n_state = 2 if layer.kind == "lstm" else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    state = [0.5 * rng.standard_normal((layer.num_layers * D, B, H)) for _ in range(n_state)]
    dy = rng.standard_normal(x.shape[:2] + (D * H,))
    ds = [rng.standard_normal(s.shape) for s in state]
    pack = tuple if n_state == 2 else (lambda s: s[0])

    def run():
        if mask_seed is not None:
            layer.dropout_rng = np.random.default_rng(mask_seed)
        return layer.forward(x, pack(state), lengths=lengths)

    def loss():
        y, st = run()
        return np.sum(dy * y) + sum(np.sum(g * s) for g, s in zip(ds, as_tuple(st)))

    layer.zero_grad()
    run()
    dx, d0 = layer.backward(dy, pack(ds), return_dstate=True)
    checks = [("x", x, dx)] + [(f"state{i}", s, g) for i, (s, g) in
                                enumerate(zip(state, as_tuple(d0)))]
    checks += [(name, p, layer.grads[name]) for name, p in layer.params.items()]
    worst = 0.0
    for name, a, grad in checks:
        num = fd_gradient(loss, {name: a}, name, eps)
        err = np.max(np.abs(num - grad), initial=0.0) / max(1.0, np.max(np.abs(num), initial=0))
        assert err < tol, f"{name}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst


@pytest.mark.parametrize("ragged", [False, True], ids=["equal", "ragged"])
def test_gru_reset_before_stacked_bidirectional(ragged):
    layer = numbarnn.GRU(I, H, num_layers=2, bidirectional=True, seed=0)
    fd_check(layer, lengths=LENGTHS if ragged else None)


def test_gru_reset_before_batch_first_no_bias():
    fd_check(numbarnn.GRU(I, H, num_layers=2, bias=False, batch_first=True, seed=1),
             batch_first=True, lengths=LENGTHS)


def test_sigmoid_rnn_stacked_bidirectional_ragged():
    layer = numbarnn.RNN(I, H, num_layers=2, nonlinearity="sigmoid", bidirectional=True,
                         seed=2)
    fd_check(layer, lengths=LENGTHS)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dropout_with_a_fixed_mask(kind):
    cls = {"lstm": numbarnn.LSTM, "gru": numbarnn.GRU, "rnn": numbarnn.RNN}[kind]
    layer = cls(I, H, num_layers=3, dropout=0.4, bidirectional=kind == "gru", seed=3)
    fd_check(layer, lengths=LENGTHS if kind == "lstm" else None, mask_seed=11)


def test_fixed_mask_really_drops_something():
    layer = numbarnn.LSTM(I, H, num_layers=2, dropout=0.4, seed=3)
    x = np.ones((T, B, I))
    layer.dropout_rng = np.random.default_rng(11)
    y1 = layer.forward(x)[0]
    layer.dropout_rng = np.random.default_rng(11)
    np.testing.assert_array_equal(layer.forward(x)[0], y1)
    assert not np.allclose(layer.eval().forward(x)[0], y1)


# -- return_gates against the equations ------------------------------------

def check_step_equations(kind, opts, g, y, x, w_ih, w_hh, b_ih, b_hh, h0, c0, L):
    """Each valid step of one sequence satisfies the equations of docs/math.md exactly."""
    h_prev, c_prev = h0, c0
    for t in range(L):
        gx = w_ih @ x[t] + b_ih
        gh = w_hh @ h_prev + b_hh
        a = gx + gh
        if kind == "lstm":
            i, f, gg, o = (a[k * H:(k + 1) * H] for k in range(4))
            want = dict(i=sigmoid(i), f=sigmoid(f), g=np.tanh(gg), o=sigmoid(o))
            want["c"] = want["f"] * c_prev + want["i"] * want["g"]
            h = want["o"] * np.tanh(want["c"])
            c_prev = want["c"]
        elif kind == "gru":
            r, z = sigmoid(a[:H]), sigmoid(a[H:2 * H])
            if opts["reset_after"]:
                n = np.tanh(gx[2 * H:] + r * gh[2 * H:])
            else:
                n = np.tanh(gx[2 * H:] + w_hh[2 * H:] @ (r * h_prev) + b_hh[2 * H:])
            want = dict(r=r, z=z, n=n)
            h = (1 - z) * h_prev + z * n
        else:
            h = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
                 "sigmoid": sigmoid}[opts["nonlinearity"]](a)
            want = dict(h=h)
        for name, v in want.items():
            np.testing.assert_allclose(g[name][t], v, rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(y[t], h, rtol=0, atol=1e-13)
        h_prev = h
    for name in g:  # zero past the length
        assert not g[name][L:].any(), name


@pytest.mark.parametrize("make", [
    lambda: numbarnn.LSTM(I, H, bidirectional=True, seed=0),
    lambda: numbarnn.GRU(I, H, bidirectional=True, seed=0),
    lambda: numbarnn.GRU(I, H, bidirectional=True, reset_after=True, seed=0),
    lambda: numbarnn.RNN(I, H, bidirectional=True, nonlinearity="relu", seed=0),
], ids=["lstm", "gru", "gru_after", "rnn_relu"])
def test_return_gates_satisfy_the_equations(make):
    layer = make()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, I))
    n = 2 if layer.kind == "lstm" else 1
    state = [rng.standard_normal((2, B, H)) for _ in range(n)]
    y, st, gates = layer.forward(x, tuple(state) if n == 2 else state[0], lengths=LENGTHS,
                                 return_gates=True)
    opts = dict(layer._options)
    for d, key in enumerate(["l0", "l0_reverse"]):
        w = [layer.params[p + "_" + key] for p in ("weight_ih", "weight_hh", "bias_ih",
                                                    "bias_hh")]
        for b, L in enumerate(LENGTHS):
            # the reverse direction reads each sequence backwards within its length
            xs = x[:L, b][::-1] if d else x[:L, b]
            g = {k: (np.concatenate([v[:L, b][::-1], v[L:, b]]) if d else v[:, b])
                 for k, v in gates[key].items()}
            ys = y[:L, b, d * H:(d + 1) * H]
            ys = ys[::-1] if d else ys
            c0 = state[1][d, b] if n == 2 else None
            check_step_equations(layer.kind, opts, g, ys, xs, *w, state[0][d, b], c0, L)

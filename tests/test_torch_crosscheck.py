"""Cross-checks against PyTorch autograd (skipped when torch is absent).

``impl="reference"`` validates the numpy oracle itself; ``impl="numbarnn"``
checks the library. torch has no sigmoid RNN and no reset-before GRU; those
are covered by the oracle and the finite-difference checks.
"""
import numpy as np
import pytest

from helpers import DTYPE_PARAMS, VARIANTS, assert_all_close

torch = pytest.importorskip("torch")

TORCH_VARIANTS = [pytest.param(v, id=v.id) for v in VARIANTS
                  if v.id in ("rnn_tanh", "rnn_relu", "lstm", "gru_reset_after")]
TORCH_SHAPES = [(7, 3, 5, 4), (13, 2, 3, 17)]


def z_rows_negated(a, H):
    """numbarnn's GRU z is torch's 1 - z: negate rows H:2H (a self-inverse map)."""
    if a is None:
        return None
    a = np.array(a, copy=True)
    a[H:2 * H] *= -1
    return a


def torch_forward_backward(variant, inp, cot):
    """Outputs and gradients of torch's single-layer module for numbarnn inputs."""
    x, w_hh = inp["x"], inp["w_hh"]
    H, I, bias = w_hh.shape[1], x.shape[2], inp["b_ih"] is not None
    ttype = torch.float64 if x.dtype == np.float64 else torch.float32
    gru = variant.kind == "gru"
    if variant.kind == "rnn":
        module = torch.nn.RNN(I, H, nonlinearity=variant.options["nonlinearity"],
                              bias=bias, dtype=ttype)
    else:
        module = getattr(torch.nn, variant.kind.upper())(I, H, bias=bias, dtype=ttype)
    params = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0",
              "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}
    with torch.no_grad():
        for name, attr in params.items():
            if inp[name] is not None:
                value = z_rows_negated(inp[name], H) if gru else inp[name]
                getattr(module, attr).copy_(torch.from_numpy(value))
    leaves = {"x": torch.tensor(x, requires_grad=True)}
    B = x.shape[1]
    for s in variant.state_names:  # torch always gets a state so it returns its grad
        value = np.zeros((B, H), x.dtype) if inp[s] is None else inp[s]
        leaves[s] = torch.tensor(value[None], requires_grad=True)
    states = tuple(leaves[s] for s in variant.state_names)
    y, state = module(leaves["x"], states if variant.has_cell else states[0])
    state = state if variant.has_cell else (state,)
    outs = dict(zip(variant.out_names, (y,) + tuple(s[0] for s in state)))
    loss = sum((outs[n] * torch.from_numpy(cot["d" + n])).sum() for n in variant.out_names)
    loss.backward()
    grads = {"dx": leaves["x"].grad.numpy()}
    for s in variant.state_names:
        grads["d" + s] = leaves[s].grad.numpy()[0]
    for name, attr in params.items():
        g = getattr(module, attr).grad if inp[name] is not None else None
        g = None if g is None else g.numpy()
        grads["d" + name] = z_rows_negated(g, H) if gru else g
    outs = {n: t.detach().numpy() for n, t in outs.items()}
    return outs, grads


@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@pytest.mark.parametrize("bias,state", [(True, True), (False, False)], ids=["full", "bare"])
@pytest.mark.parametrize("variant", TORCH_VARIANTS)
def test_reference_matches_torch(variant, shape, bias, state):
    T, B, I, H = shape
    rng = np.random.default_rng(11)
    inp = variant.make_inputs(rng, T, B, I, H, np.float64, bias, state)
    cot = variant.make_cotangents(rng, T, B, H, np.float64)
    outs, grads = torch_forward_backward(variant, inp, cot)
    assert_all_close(variant.ref_forward(inp), outs, np.float64)
    assert_all_close(variant.ref_backward(inp, cot), grads, np.float64)


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("shape", TORCH_SHAPES, ids=str)
@pytest.mark.parametrize("bias,state", [(True, True), (False, False)], ids=["full", "bare"])
@pytest.mark.parametrize("variant", TORCH_VARIANTS)
def test_numbarnn_matches_torch(variant, shape, bias, state, dtype):
    T, B, I, H = shape
    rng = np.random.default_rng(12)
    inp = variant.make_inputs(rng, T, B, I, H, dtype, bias, state)
    cot = variant.make_cotangents(rng, T, B, H, dtype)
    t_outs, t_grads = torch_forward_backward(variant, inp, cot)
    outs, grads = variant.forward_backward(inp, cot)
    assert_all_close(outs, t_outs, dtype)
    assert_all_close(grads, t_grads, dtype)


def test_gru_z_convention_differs_from_torch_without_conversion():
    """Guards the conversion above: unconverted weights must *not* match torch."""
    v = next(v for v in VARIANTS if v.id == "gru_reset_after")
    rng = np.random.default_rng(13)
    inp = v.make_inputs(rng, 4, 2, 3, 5)
    cot = v.make_cotangents(rng, 4, 2, 5)
    t_outs, _ = torch_forward_backward(v, inp, cot)
    flipped = dict(inp, **{n: z_rows_negated(inp[n], 5) for n in ("w_ih", "w_hh", "b_ih", "b_hh")})
    assert not np.allclose(v.ref_forward(flipped)["y"], t_outs["y"])

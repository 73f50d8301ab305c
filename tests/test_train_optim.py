"""Optimizers and clipping: step by step against torch.optim and
torch.nn.utils in float64, plus the ways parameters can be handed over."""
import numpy as np
import pytest

from numbarnn.train import (SGD, Adam, AdamW, Linear, clip_grad_norm, clip_grad_value,
                            make_optimizer)

SHAPES = {"w": (4, 3), "b": (4,), "v": (2, 2, 2)}

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.03, weight_decay=0.2, amsgrad=True)),
    # maximize=: ascend, as torch.optim does (issue 12, item 8)
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.03, weight_decay=0.2, maximize=True)),
]
OURS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


def _params(rng):
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch_optim(name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = _params(rng)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours = OURS[name]((params, grads), **kw)
    theirs = getattr(torch.optim, name)(list(tparams.values()), **kw)
    for _ in range(8):
        # Gradients that depend on the parameters (like a real loss), plus noise.
        for k in params:
            g = np.sin(params[k]) + 0.3 * rng.standard_normal(params[k].shape)
            grads[k][...] = g
            tparams[k].grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
        for k in params:
            np.testing.assert_allclose(params[k], tparams[k].detach().numpy(),
                                       rtol=1e-12, atol=1e-12, err_msg=k)
    assert ours.steps == 8


def test_accepts_modules_pairs_and_lists():
    a, b = Linear(3, 2, seed=0), Linear(2, 1, seed=1)
    pair = ({"x": np.ones(2)}, {"x": np.ones(2)})
    for params in (a, pair, [a, b], [a, None, pair], (a, b)):
        SGD(params, lr=0.1).step()
    opt = SGD([a, a, b], lr=0.1)         # listed twice, stepped once
    assert len(opt.triples) == 4
    before = a.params["weight"].copy()
    a.grads["weight"][...] = 1.0
    opt.step()
    np.testing.assert_allclose(a.params["weight"], before - 0.1)
    opt.zero_grad()
    assert not any(g.any() for m in (a, b) for g in m.grads.values())


def test_updates_in_place():
    lin = Linear(3, 2, seed=0)
    w = lin.params["weight"]
    lin.grads["weight"][...] = 1.0
    Adam(lin, lr=0.1).step()
    assert lin.params["weight"] is w
    assert np.allclose(w, Linear(3, 2, seed=0).params["weight"] - 0.1)


def test_float32_parameters_stay_float32():
    lin = Linear(3, 2, dtype=np.float32, seed=0)
    lin.grads["weight"][...] = 1.0
    for opt in (SGD(lin, lr=0.1, momentum=0.9), Adam(lin), AdamW(lin)):
        opt.step()
    assert all(p.dtype == np.float32 for p in lin.params.values())


def test_bad_arguments():
    lin = Linear(2, 1, seed=0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        SGD(lin, lr=-1.0)
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        SGD(lin, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam(lin, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="got no parameters"):
        Adam([])
    with pytest.raises(TypeError, match="must be a module"):
        Adam([object()])
    with pytest.raises(ValueError, match="without a gradient"):
        Adam(({"w": np.ones(2)}, {}))
    with pytest.raises(ValueError, match="gradient shape"):
        Adam(({"w": np.ones(2)}, {"w": np.ones(3)}))
    with pytest.raises(ValueError, match="read-only"):
        Adam(({"w": np.broadcast_to(np.ones(1), (2,))}, {"w": np.ones(2)}))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("rmsprop", lin, 0.1)
    opt = Adam(lin)
    assert make_optimizer(opt, lin) is opt
    with pytest.raises(ValueError, match="by name"):
        make_optimizer(opt, lin, lr=0.1)


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, np.inf])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    params = _params(rng)
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    tparams = [torch.tensor(v, requires_grad=True) for v in params.values()]
    for t, g in zip(tparams, grads.values()):
        t.grad = torch.tensor(g.copy())
    total = clip_grad_norm((params, grads), max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert total == pytest.approx(ttotal.item(), rel=1e-13)
    for t, g in zip(tparams, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    params = _params(rng)
    grads = {k: 2 * rng.standard_normal(v.shape) for k, v in params.items()}
    tparams = [torch.tensor(v, requires_grad=True) for v in params.values()]
    for t, g in zip(tparams, grads.values()):
        t.grad = torch.tensor(g.copy())
    clip_grad_value((params, grads), 0.7)
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for t, g in zip(tparams, grads.values()):
        np.testing.assert_array_equal(g, t.grad.numpy())


def test_clip_over_several_modules_is_global():
    a, b = Linear(2, 1, seed=0), Linear(1, 1, seed=1)
    a.grads["weight"][...] = 3.0          # two elements: 9 + 9
    b.grads["bias"][...] = 4.0            # one element: 16
    total = clip_grad_norm([a, b], 1.0)
    assert total == pytest.approx(np.sqrt(18 + 16))
    flat = np.concatenate([g.ravel() for m in (a, b) for g in m.grads.values()])
    assert np.linalg.norm(flat) == pytest.approx(1.0, rel=1e-5)


def test_clip_errors():
    grads = {"w": np.array([np.nan, 1.0])}
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm((grads, grads), 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm((grads, grads), -1.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value((grads, grads), -1.0)
    assert clip_grad_norm([], 1.0) == 0.0

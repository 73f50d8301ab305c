"""Saving, loading and resuming (issue 12, items 4 and 5): Linear and the
optimizers through numbarnn.nn.serialize; optimizer state_dict round trips
that continue a run exactly (checked against torch.optim on the same
gradients); fit with an optimizer instance that carries its state over."""
import os

import numpy as np
import pytest

import numbarnn
from numbarnn.nn import serialize
from numbarnn.train import SGD, Adam, AdamW, Linear, fit, flatten

SHAPES = {"w": (4, 3), "b": (4,)}
CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.2, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2)),
    ("AdamW", dict(lr=0.03, amsgrad=True, maximize=True)),
]
OURS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW}


def _grad(p, step):
    return np.sin(p + step) + 0.1 * np.cos(3 * p)


@pytest.mark.parametrize("via_file", [False, True])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_resume_from_state_dict_equals_one_run_and_torch(name, kw, via_file, tmp_path):
    # N steps in one go == k steps, state_dict round trip into a new
    # optimizer (and new parameter arrays), N - k steps; both equal
    # torch.optim on the same gradients.
    torch = pytest.importorskip("torch")
    N, k = 9, 4
    rng = np.random.default_rng(0)
    start = {n: rng.standard_normal(s) for n, s in SHAPES.items()}
    tparams = {n: torch.tensor(v.copy(), requires_grad=True) for n, v in start.items()}
    theirs = getattr(torch.optim, name)(list(tparams.values()), **kw)

    params = {n: v.copy() for n, v in start.items()}
    grads = {n: np.zeros_like(v) for n, v in params.items()}
    opt = OURS[name]((params, grads), **kw)
    for step in range(N):
        if step == k:
            path = os.path.join(tmp_path, "opt.npz")
            params = {n: v.copy() for n, v in params.items()}
            grads = {n: np.zeros_like(v) for n, v in params.items()}
            if via_file:
                opt.save(path)
                opt = OURS[name].load(path, (params, grads))
            else:
                again = OURS[name]((params, grads))
                again.load_state_dict(opt.state_dict())
                opt = again
            assert opt.steps == k and opt.lr == kw["lr"]
        for n in params:
            g = _grad(params[n], step)
            grads[n][...] = g
            tparams[n].grad = torch.tensor(g.copy())
        opt.step()
        theirs.step()
        for n in params:
            np.testing.assert_allclose(params[n], tparams[n].detach().numpy(), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{n} after step {step}")


def test_sgd_default_learning_rate_is_torchs():
    torch = pytest.importorskip("torch")
    import inspect
    default = inspect.signature(torch.optim.SGD).parameters["lr"].default
    assert inspect.signature(SGD).parameters["lr"].default == default
    p, g = {"w": np.ones(3)}, {"w": np.array([1.0, -2.0, 0.5])}
    tp = torch.tensor(p["w"].copy(), requires_grad=True)
    tp.grad = torch.tensor(g["w"].copy())
    theirs = torch.optim.SGD([tp])
    SGD((p, g)).step()
    theirs.step()
    np.testing.assert_allclose(p["w"], tp.detach().numpy(), rtol=1e-15)


def test_fit_with_an_optimizer_instance_continues_where_it_stopped(tmp_path):
    # 5 epochs in one call == 2 epochs, then 3 more with the same optimizer;
    # == 2 epochs, save model + optimizer, load both into new objects, 3 more.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 3, 2))
    y = np.cumsum(x[..., :1], axis=0) * 0.2

    def fresh():
        return numbarnn.GRU(2, 4, seed=0), Linear(4, 1, seed=1)

    model, readout = fresh()
    fit(model, readout, x, y, optimizer=Adam([model, readout], lr=0.01), epochs=5,
        progress=False)
    one_go = flatten([model, readout])

    model, readout = fresh()
    opt = Adam([model, readout], lr=0.01)
    first = fit(model, readout, x, y, optimizer=opt, epochs=2, progress=False)
    fit(model, readout, x, y, optimizer=opt, epochs=3, progress=False)
    np.testing.assert_array_equal(flatten([model, readout]), one_go)
    assert opt.steps == 5

    model, readout = fresh()
    opt = Adam([model, readout], lr=0.01)
    fit(model, readout, x, y, optimizer=opt, epochs=2, progress=False)
    paths = [os.path.join(tmp_path, f) for f in ("gru.npz", "readout.npz", "adam.npz")]
    for obj, path in zip((model, readout, opt), paths):
        numbarnn.nn.save(obj, path)
    model, readout, opt = (numbarnn.nn.load(p) for p in paths)
    assert opt.triples is None            # unbound until fit binds it
    again = fit(model, readout, x, y, optimizer=opt, epochs=3, progress=False)
    np.testing.assert_array_equal(flatten([model, readout]), one_go)
    assert first.train_loss[0] > again.train_loss[-1]


def test_fit_refuses_an_optimizer_of_other_parameters():
    x = np.zeros((5, 1, 1))
    model, readout = numbarnn.RNN(1, 2, seed=0), Linear(2, 1, seed=0)
    with pytest.raises(ValueError, match="exactly the parameters"):
        fit(model, readout, x, x, optimizer=Adam(readout), progress=False)
    with pytest.raises(ValueError, match="by name"):
        fit(model, readout, x, x, optimizer=Adam([model, readout]), lr=0.1, progress=False)


def test_linear_saves_and_loads_through_serialize(tmp_path):
    lin = Linear(3, 2, bias=False, dtype=np.float32, seed=4)
    path = os.path.join(tmp_path, "lin.npz")
    numbarnn.nn.save(lin, path)
    back = numbarnn.nn.load(path)
    assert type(back) is Linear and back.dtype == np.float32 and "bias" not in back.params
    np.testing.assert_array_equal(back.params["weight"], lin.params["weight"])
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), lin.forward(x))
    assert Linear.load(path).get_config() == lin.get_config()
    with pytest.raises(ValueError, match="not a Adam"):
        Adam.load(path)
    # the file is the layers' format: numpy reads it, its digest is checked
    with np.load(path) as npz:
        assert sorted(npz.files) == ["__meta__", "weight"]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 1
    with open(path, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        numbarnn.nn.load(path)


def test_linear_load_state_dict_checks_everything_first():
    lin = Linear(3, 2, seed=0)
    before = lin.state_dict()
    bad = {"weight": np.zeros((2, 3)), "bias": np.zeros(3)}
    with pytest.raises(ValueError, match="shape"):
        lin.load_state_dict(bad)
    with pytest.raises(TypeError, match="dtype"):
        lin.load_state_dict({"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(2)})
    with pytest.raises(ValueError, match="keys"):
        lin.load_state_dict({"weight": np.zeros((2, 3))})
    for k in before:
        np.testing.assert_array_equal(lin.params[k], before[k])
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Linear(2, 1, dtype="floaty")
    with pytest.raises(TypeError, match="bias must be a bool"):
        Linear(2, 1, bias="False")


def test_optimizer_state_is_checked_against_the_parameters(tmp_path):
    lin = Linear(3, 2, seed=0)
    opt = Adam(lin, lr=0.1)
    lin.grads["weight"][...] = 1.0
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="does not match"):
        Adam(Linear(2, 3, seed=0)).load_state_dict(state)
    with pytest.raises(ValueError, match="for 2 parameters"):
        Adam(Linear(3, 2, bias=False, seed=0)).load_state_dict(state)
    with pytest.raises(ValueError, match="state of a Adam, not of a SGD"):
        SGD(lin).load_state_dict(state)
    with pytest.raises(ValueError, match="unexpected entry"):
        Adam(lin).load_state_dict({**state, "state.0.bogus": np.zeros(1)})
    with pytest.raises(ValueError, match="lacks"):
        Adam(lin).load_state_dict({k: v for k, v in state.items() if "exp_avg_sq" not in k})
    # an unbound optimizer checks when it is bound
    path = os.path.join(tmp_path, "adam.npz")
    opt.save(path)
    loaded = serialize.load(path)
    with pytest.raises(ValueError, match="does not match"):
        loaded.bind(Linear(2, 3, seed=0))
    with pytest.raises(RuntimeError, match="not bound"):
        loaded.step()
    loaded.bind(lin)
    assert loaded.steps == 1
    np.testing.assert_array_equal(loaded.state[0]["exp_avg"], opt.state[0]["exp_avg"])


def test_flags_and_numbers_are_checked():
    lin = Linear(2, 1, seed=0)
    with pytest.raises(TypeError, match="maximize must be a bool"):
        Adam(lin, maximize="False")
    with pytest.raises(TypeError, match="nesterov must be a bool"):
        SGD(lin, momentum=0.9, nesterov=1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        SGD(lin, lr="0.1")
    with pytest.raises(ValueError, match="lr must be >= 0 and finite"):
        AdamW(lin, lr=np.inf)


def test_a_fresh_process_loads_a_saved_readout(tmp_path):
    # numbarnn.nn.load finds Linear and the optimizers without numbarnn.train
    # having been imported first.
    import subprocess
    import sys
    path = os.path.join(tmp_path, "lin.npz")
    Linear(2, 1, seed=0).save(path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys, numbarnn.nn; m = numbarnn.nn.load(sys.argv[1]); "
            "print(type(m).__module__, type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         cwd=root, check=True)
    assert out.stdout.split() == ["numbarnn.train.linear", "Linear"]

"""The three contenders as zero-argument callables over the same data.

``make_callable(contender, case, data)`` returns a function that performs
one full call of the case (a forward, or a training forward plus backward)
and returns the outputs that matter: ``y`` for a forward, the gradients
``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)`` for forward+backward. Everything a
call does not need to repeat (weight copies, tensor wrapping, module
construction) happens once, outside the callable.
"""

from __future__ import annotations

import importlib

import numpy as np

from .cases import CONTENDERS, GATES, Case, make_data
from .numpy_loop import numpy_backward, numpy_forward

__all__ = ["Unavailable", "check_agreement", "make_callable", "torch_or_none"]


class Unavailable(RuntimeError):
    """A contender that cannot run here (torch not installed, ...)."""


def torch_or_none():
    """The ``torch`` module, or None when it is not importable.

    Examples
    --------
    >>> from numbarnn.bench import torch_or_none
    >>> torch_or_none() is None or hasattr(torch_or_none(), "nn")
    True
    """
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def make_callable(contender: str, case: Case, data: dict):
    """A zero-argument function doing one call of ``case`` with ``contender``.

    Parameters
    ----------
    contender : {"numbarnn", "torch", "numpy"}
    case : Case
    data : dict
        From :func:`make_data`.

    Returns
    -------
    callable
        ``fn()`` returns ``y`` (forward) or the tuple of gradients
        ``(dx, dh0, dw_ih, dw_hh, db_ih, db_hh)`` (fwdbwd), as numpy arrays
        or torch tensors.

    Raises
    ------
    Unavailable
        When the contender's library cannot be imported.

    Examples
    --------
    >>> from numbarnn.bench import Case, make_callable, make_data
    >>> case = Case("rnn", "float64", "forward", "S2s")
    >>> fn = make_callable("numpy", case, make_data(case))
    >>> fn().shape
    (50, 8, 64)
    """
    builders = {"numbarnn": _numbarnn, "torch": _torch, "numpy": _numpy}
    if contender not in builders:
        raise ValueError(f"contender must be one of {CONTENDERS}, got {contender!r}")
    return builders[contender](case, data)


def _state_args(case, d):
    return (d["h0"], d["c0"]) if case.cell == "lstm" else (d["h0"],)


def _numbarnn(case, d):
    try:
        F = importlib.import_module("numbarnn.functional")
    except ImportError as exc:
        raise Unavailable(f"numbarnn.functional does not import: {exc}") from exc
    try:
        forward = getattr(F, f"{case.cell}_forward")
        backward = getattr(F, f"{case.cell}_backward")
    except AttributeError as exc:
        raise Unavailable(f"numbarnn.functional has no {exc.name}") from exc
    kw = {"rnn": {"nonlinearity": "tanh"}, "gru": {"reset_after": True}}.get(case.cell, {})
    args = (d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], *_state_args(case, d))
    dy = d["dy"]

    if case.mode == "step":
        import numbarnn

        _, _, I, H = case.dims
        layer = getattr(numbarnn, case.cell.upper())(I, H, dtype=case.dtype, **kw).eval()
        for ours, theirs in (("w_ih", "weight_ih_l0"), ("w_hh", "weight_hh_l0"),
                             ("b_ih", "bias_ih_l0"), ("b_hh", "bias_hh_l0")):
            layer.params[theirs][...] = d[ours]
        x_t = np.ascontiguousarray(d["x"][0])
        parts = tuple(np.ascontiguousarray(a[None]) for a in _state_args(case, d))
        state = parts if case.cell == "lstm" else parts[0]
        return lambda: layer.step(x_t, state)[0]

    if case.mode == "forward":
        return lambda: forward(*args, training=False, **kw)[0]

    def fwdbwd():
        cache = forward(*args, training=True, **kw)[-1]
        g = backward(cache, dy)
        # LSTM's tuple has dc0 third; drop it so every cell answers alike.
        return (g[0], g[1], *g[-4:])

    return fwdbwd


def _numpy(case, d):
    args = (case.cell, d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], d["h0"])
    c0 = d.get("c0")
    dy = d["dy"]

    if case.mode == "forward":
        return lambda: numpy_forward(*args, c0)[0]
    if case.mode == "step":
        args1 = (case.cell, d["x"][:1], *args[2:])
        return lambda: numpy_forward(*args1, c0)[0][0]

    def fwdbwd():
        cache = numpy_forward(*args, c0, training=True)[-1]
        dx, dh0, _, dw_ih, dw_hh, db_ih, db_hh = numpy_backward(cache, dy)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh

    return fwdbwd


def _gru_z_sign(case, H):
    """+1/-1 per gate row: numbarnn's GRU z is torch's 1 - z (docs/math.md).

    Negating the z rows (sigma(-a) = 1 - sigma(a)) makes torch compute
    exactly numbarnn's function, so outputs can be compared, not just timed.
    """
    sign = np.ones(GATES[case.cell] * H)
    if case.cell == "gru":
        sign[H : 2 * H] = -1.0
    return sign


def _torch(case, d):
    torch = torch_or_none()
    if torch is None:
        raise Unavailable("torch is not installed")
    _, _, I, H = case.dims
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[case.cell]
    kw = {"nonlinearity": "tanh"} if case.cell == "rnn" else {}
    dtype = getattr(torch, case.dtype)
    mod = cls(I, H, dtype=dtype, **kw)
    sign = _gru_z_sign(case, H)
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0",
             "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}
    with torch.no_grad():
        # copy_ into the existing parameters keeps torch's flat weight buffer.
        for ours, theirs in names.items():
            w = d[ours] * (sign[:, None] if d[ours].ndim == 2 else sign)
            getattr(mod, theirs).copy_(torch.from_numpy(w.astype(case.dtype)))
    x = torch.from_numpy(d["x"])
    state = [torch.from_numpy(a[None]) for a in _state_args(case, d)]
    hx = tuple(state) if case.cell == "lstm" else state[0]
    dy = torch.from_numpy(d["dy"])

    if case.mode == "forward":

        def forward():
            with torch.no_grad():
                return mod(x, hx)[0]

        return forward

    if case.mode == "step":
        cell_cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell,
                    "gru": torch.nn.GRUCell}[case.cell]
        cell = cell_cls(I, H, dtype=dtype, **kw)
        with torch.no_grad():
            for ours, theirs in names.items():
                w = d[ours] * (sign[:, None] if d[ours].ndim == 2 else sign)
                getattr(cell, theirs.replace("_l0", "")).copy_(
                    torch.from_numpy(w.astype(case.dtype)))
        x_t = x[0]
        hx1 = tuple(s[0] for s in state) if case.cell == "lstm" else state[0][0]

        def step():
            with torch.no_grad():
                out = cell(x_t, hx1)
            return out[0] if case.cell == "lstm" else out

        return step

    # numbarnn's backward returns dx and dh0 too, so torch must compute them.
    x.requires_grad_(True)
    for s in state:
        s.requires_grad_(True)
    params = [getattr(mod, theirs) for theirs in names.values()]
    leaves = [x, *state, *params]

    def fwdbwd():
        for t in leaves:
            t.grad = None
        mod(x, hx)[0].backward(dy)
        return (x.grad, state[0].grad[0], *(p.grad for p in params))

    return fwdbwd


def _to_numpy(a):
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def check_agreement(case: Case, contenders=CONTENDERS, data=None) -> dict:
    """Largest relative difference of each contender's outputs to numpy's.

    A benchmark is only meaningful if the contenders compute the same thing;
    this runs each contender once and compares ``y`` (forward) or every
    gradient (fwdbwd) with the plain-numpy peer, torch's GRU z rows mapped
    back to numbarnn's convention.

    Parameters
    ----------
    case : Case
    contenders : sequence of str, optional
    data : dict, optional
        From :func:`make_data`; made from ``case`` when None.

    Returns
    -------
    dict
        ``{contender: max over outputs of max|a - ref| / (max|ref| + tiny)}``;
        contenders that cannot run are left out.

    Examples
    --------
    >>> from numbarnn.bench import Case, check_agreement
    >>> err = check_agreement(Case("lstm", "float64", "fwdbwd", "S2s"), ["numpy"])
    >>> err["numpy"]
    0.0
    """
    data = make_data(case) if data is None else data
    ref = make_callable("numpy", case, data)()
    ref = (ref,) if case.mode == "forward" else ref
    sign = _gru_z_sign(case, case.dims.H)
    errors = {}
    for name in contenders:
        try:
            out = make_callable(name, case, data)()
        except Unavailable:
            continue
        out = [_to_numpy(a) for a in ((out,) if case.mode == "forward" else out)]
        if name == "torch" and case.mode == "fwdbwd":
            out[2:] = [g * (sign[:, None] if g.ndim == 2 else sign) for g in out[2:]]
        tiny = np.finfo(case.dtype).tiny
        errors[name] = max(
            float(np.max(np.abs(a - r)) / (np.max(np.abs(r)) + tiny)) for a, r in zip(out, ref)
        )
    return errors

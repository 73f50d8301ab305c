"""What every part of the training kit shares: finding the parameters and
gradients of "modules", and one forward/loss/backward pass.

A module is any object with ``params`` and ``grads`` (dicts with the same
keys, arrays of the same shapes), updated and accumulated in place. The kit
never looks further into it, so layers, readouts and user-written modules
are all handled alike.
"""
from collections.abc import Mapping

import numpy as np


def _is_pair(obj):
    return (isinstance(obj, tuple) and len(obj) == 2
            and all(isinstance(o, Mapping) for o in obj))


def collect(targets, name="modules"):
    """Flatten ``targets`` into a list of ``(label, param, grad)`` triples.

    ``targets`` is a module, a ``(params, grads)`` pair of dicts, or a list
    or tuple of those; None entries are skipped (a missing readout). Labels
    are ``"<index>.<key>"`` so error messages can say which array is wrong.
    """
    if targets is None:
        return []
    if _is_pair(targets) or hasattr(targets, "params"):
        targets = [targets]
    elif not isinstance(targets, (list, tuple)):
        raise TypeError(f"{name} must be a module (with .params and .grads), a "
                        f"(params, grads) pair of dicts or a list of those, got "
                        f"{type(targets).__name__}")
    triples, seen = [], set()
    for i, t in enumerate(targets):
        if t is None:
            continue
        if _is_pair(t):
            params, grads = t
        elif hasattr(t, "params") and hasattr(t, "grads"):
            params, grads = t.params, t.grads
        else:
            raise TypeError(f"{name}[{i}] must be a module (with .params and .grads) or a "
                            f"(params, grads) pair of dicts, got {type(t).__name__}")
        for key, p in params.items():
            if key not in grads:
                raise ValueError(f"{name}[{i}] has a parameter {key!r} without a gradient")
            g = grads[key]
            if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
                raise TypeError(f"{name}[{i}].{key}: parameters and gradients must be "
                                f"numpy arrays, got {type(p).__name__}/{type(g).__name__}")
            if p.shape != g.shape:
                raise ValueError(f"{name}[{i}].{key}: gradient shape {g.shape} differs "
                                 f"from the parameter shape {p.shape}")
            # The same module listed twice would be stepped twice.
            if id(p) in seen:
                continue
            seen.add(id(p))
            triples.append((f"{i}.{key}", p, g))
    return triples


def zero_grads(triples):
    for _, _, g in triples:
        g[...] = 0


def modules_of(model, readout):
    """The list the optimizers, clipping and the scipy bridge work on."""
    return [m for m in (model, readout) if m is not None]


def forward_backward(model, readout, loss_fn, x, target, state=None, backward=True):
    """One pass: forward, loss and (optionally) backward, accumulating grads.

    Returns ``(loss, new_state)``. The incoming ``state`` is treated as a
    constant (no gradient flows into it): that is what "detached" means for
    truncated BPTT.
    """
    y, new_state = model.forward(x, state)
    pred = y if readout is None else readout.forward(y)
    loss, dpred = loss_fn(pred, target)
    if backward:
        dy = dpred if readout is None else readout.backward(dpred)
        model.backward(dy)
    return float(loss), new_state

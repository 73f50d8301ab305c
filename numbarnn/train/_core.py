"""What every part of the training kit shares: finding the parameters and
gradients of "modules", and one forward/loss/backward pass.

A module is any object with ``params`` and ``grads`` (dicts with the same
keys, arrays of the same shapes), updated and accumulated in place. The kit
never looks further into it, so layers, readouts and user-written modules
are all handled alike.
"""
import math
from collections.abc import Mapping

import numpy as np


class _Diverged(FloatingPointError):
    """A loss, gradient or parameter became NaN or Inf during training.

    ``fit`` catches it and stops with ``stop_reason="non-finite loss"``;
    ``tbptt`` lets it through, so its caller sees a FloatingPointError that
    says what went non-finite and where.
    """


def all_finite(a):
    """True when no element of ``a`` is NaN or Inf (non-float arrays always are).

    A broadcast view repeats the same memory along its zero-stride axes, so
    only one slice along each of them is scanned: checking a (10^5, 10^3,
    100) view of a scalar costs one element, not 10^10.
    """
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return True
    idx = tuple(slice(0, 1) if st == 0 else slice(None) for st in a.strides)
    return bool(np.isfinite(a[idx]).all())


def check_finite_triples(triples, what, where=""):
    """Raise ``_Diverged`` naming the first parameter or gradient that is not finite."""
    pos = 1 if what == "parameter" else 2
    for t in triples:
        if not all_finite(t[pos]):
            raise _Diverged(f"training diverged: the {what} {t[0]} contains NaN or Inf"
                            f"{where}; lower the learning rate or clip the gradients")


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


def forward_backward(model, readout, loss_fn, x, target, state=None, backward=True,
                     guard=True):
    """One pass: forward, loss and (optionally) backward, accumulating grads.

    Returns ``(loss, new_state)``. The incoming ``state`` is treated as a
    constant (no gradient flows into it): that is what "detached" means for
    truncated BPTT. With ``guard``, a non-finite loss or incoming gradient
    raises ``_Diverged`` *before* the backward pass, which would otherwise
    fail inside the layer with a message about ``dy``.
    """
    y, new_state = model.forward(x, state)
    pred = y if readout is None else readout.forward(y)
    loss, dpred = loss_fn(pred, target)
    if np.ndim(loss) != 0:
        raise ValueError(f"the loss function must return a scalar loss, got one of shape "
                         f"{np.shape(loss)} (reduction='none' gives per-element losses, "
                         "which training cannot step on)")
    loss = float(loss)
    if guard and not math.isfinite(loss):
        if not all_finite(target):
            # a data problem, not a divergence: say so rather than stop quietly
            raise ValueError(f"the loss is {loss} and the targets contain NaN or Inf: "
                             "targets must be finite unless the loss masks them out")
        raise _Diverged(f"the loss is {loss}")
    if backward:
        if guard and not all_finite(dpred):
            raise _Diverged("the gradient of the loss contains NaN or Inf")
        dy = dpred if readout is None else readout.backward(dpred)
        if guard and readout is not None and not all_finite(dy):
            raise _Diverged("the gradient reaching the model's output contains NaN or Inf")
        model.backward(dy)
    return loss, new_state

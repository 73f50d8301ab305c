"""Optimizers that update parameter arrays in place: SGD, Adam, AdamW.

The update formulas are PyTorch's (``torch.optim``, single-tensor code
path), operation for operation, so a run reproduces a torch run to
rounding. Each optimizer works on whatever :func:`collect` finds: modules
(objects with ``params`` and ``grads``), ``(params, grads)`` pairs of dicts,
or a list of those.
"""
import math

import numpy as np

from ._core import collect, zero_grads

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "make_optimizer"]


def _nonneg(name, value):
    value = float(value)
    if not value >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class Optimizer:
    """Base class: holds the (label, param, grad) triples and per-array state.

    Parameters
    ----------
    params : module, (params, grads) pair, or list of those
    lr : float
        Learning rate; may be changed between steps (``opt.lr = ...``).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import SGD
    >>> p, g = {"w": np.ones(2)}, {"w": np.full(2, 0.5)}
    >>> opt = SGD((p, g), lr=0.1)
    >>> opt.step(); p["w"].tolist()
    [0.95, 0.95]
    >>> opt.zero_grad(); g["w"].tolist()
    [0.0, 0.0]
    """

    def __init__(self, params, lr):
        self.triples = collect(params, "params")
        if not self.triples:
            raise ValueError("the optimizer got no parameters")
        for label, p, _ in self.triples:
            if p.dtype.kind != "f":
                raise TypeError(f"parameter {label} must be a float array, got {p.dtype}")
            if not p.flags.writeable:
                raise ValueError(f"parameter {label} is read-only; optimizers update in place")
        self.lr = _nonneg("lr", lr)
        self.state = [dict() for _ in self.triples]
        self.steps = 0

    def zero_grad(self):
        """Set every gradient this optimizer steps to zero."""
        zero_grads(self.triples)

    def step(self):
        """Apply one update to every parameter, in place."""
        self.steps += 1
        for (_, p, g), st in zip(self.triples, self.state):
            self._update(p, g, st)

    def _update(self, p, g, st):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening and Nesterov.

    With ``d = grad + weight_decay * p``, the buffer ``b = d`` on the first
    step, then ``b = momentum * b + (1 - dampening) * d``; the step direction
    is ``d + momentum * b`` (Nesterov) or ``b``, and ``p -= lr * direction``.

    Parameters
    ----------
    params : module, (params, grads) pair, or list of those
    lr : float
    momentum, dampening, weight_decay : float, default 0
    nesterov : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import SGD
    >>> p, g = {"w": np.zeros(1)}, {"w": np.ones(1)}
    >>> opt = SGD((p, g), lr=1.0, momentum=0.9)
    >>> opt.step(); opt.step(); p["w"].tolist()
    [-2.9]
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _nonneg("momentum", momentum)
        self.dampening = float(dampening)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening == 0")

    def _update(self, p, g, st):
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = d.copy()
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= self.lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba), with torch.optim.Adam's update and options.

    ``m = β1 m + (1-β1) d``, ``v = β2 v + (1-β2) d²`` with
    ``d = grad + weight_decay * p`` (L2 penalty); then
    ``p -= lr / (1-β1^t) * m / (sqrt(v) / sqrt(1-β2^t) + eps)``.
    ``amsgrad`` uses the running maximum of ``v``.

    Parameters
    ----------
    params : module, (params, grads) pair, or list of those
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    amsgrad : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Adam
    >>> p, g = {"w": np.zeros(2)}, {"w": np.array([1.0, -3.0])}
    >>> Adam((p, g), lr=0.1).step()
    >>> np.round(p["w"], 6).tolist()                # the first step has size lr
    [-0.1, 0.1]
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, lr)
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {tuple(betas)}")
        self.betas = (b1, b2)
        self.eps = _nonneg("eps", eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)

    def _update(self, p, g, st):
        b1, b2 = self.betas
        if not st:
            st["step"] = 0
            st["exp_avg"] = np.zeros_like(p)
            st["exp_avg_sq"] = np.zeros_like(p)
            if self.amsgrad:
                st["max_exp_avg_sq"] = np.zeros_like(p)
        st["step"] += 1
        t = st["step"]
        if self.weight_decay:
            if self._decoupled:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        m, v = st["exp_avg"], st["exp_avg_sq"]
        # torch's lerp_(g, 1-β1): m + w (g - m) for weights below 0.5.
        m += (1.0 - b1) * (g - m)
        v *= b2
        v += (1.0 - b2) * (g * g)
        if self.amsgrad:
            np.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
            v = st["max_exp_avg_sq"]
        step_size = self.lr / (1.0 - b1 ** t)
        denom = np.sqrt(v) / math.sqrt(1.0 - b2 ** t)
        denom += self.eps
        p -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    Before the Adam update, ``p *= 1 - lr * weight_decay``; the gradient
    itself carries no penalty.

    Parameters
    ----------
    params : module, (params, grads) pair, or list of those
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    amsgrad : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import AdamW
    >>> p, g = {"w": np.ones(1)}, {"w": np.zeros(1)}
    >>> AdamW((p, g), lr=0.1, weight_decay=0.5).step()
    >>> p["w"].tolist()                             # decay only: 1 * (1 - 0.1 * 0.5)
    [0.95]
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(optimizer, params, lr=None, **kwargs):
    """An optimizer from a name (``"sgd"``, ``"adam"``, ``"adamw"``) or an instance.

    Parameters
    ----------
    optimizer : str or Optimizer
        An instance is returned unchanged (``lr`` and ``kwargs`` must then be
        empty).
    params : module, (params, grads) pair, or list of those
    lr : float, optional
        Required for ``"sgd"``; Adam's default is 1e-3.
    **kwargs
        Passed to the optimizer's constructor.

    Returns
    -------
    Optimizer

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import make_optimizer
    >>> pair = ({"w": np.zeros(1)}, {"w": np.zeros(1)})
    >>> type(make_optimizer("adamw", pair, lr=0.01)).__name__
    'AdamW'
    """
    if isinstance(optimizer, Optimizer):
        if lr is not None or kwargs:
            raise ValueError("lr and optimizer options apply to an optimizer given by name, "
                             "not to an Optimizer instance")
        return optimizer
    key = optimizer.lower() if isinstance(optimizer, str) else None
    if key not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or an Optimizer, "
                         f"got {optimizer!r}")
    if lr is None:
        if key == "sgd":
            raise ValueError("optimizer='sgd' needs a learning rate (lr)")
        return _OPTIMIZERS[key](params, **kwargs)
    return _OPTIMIZERS[key](params, lr=lr, **kwargs)

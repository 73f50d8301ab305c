"""Optimizers that update parameter arrays in place: SGD, Adam, AdamW.

The update formulas are PyTorch's (``torch.optim``, single-tensor code
path), operation for operation, so a run reproduces a torch run to
rounding. Each optimizer works on whatever :func:`collect` finds: modules
(objects with ``params`` and ``grads``), ``(params, grads)`` pairs of dicts,
or a list of those. Their state (moments, momentum buffers, step counts)
comes out of ``state_dict()`` and goes back in with ``load_state_dict()``,
as in torch.optim, and they save and load like layers.
"""
import math

import numpy as np

from ._core import zero_grads
from ._optim_state import StateMixin, check_flag, check_real

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "make_optimizer"]


class Optimizer(StateMixin):
    """Base class: holds the (label, param, grad) triples and per-array state.

    Parameters
    ----------
    params : module, (params, grads) pair, list of those, or None
        What to step. None makes an optimizer that is not yet bound to any
        parameters (as :func:`numbarnn.nn.load` returns one): bind it with
        :meth:`bind`, or hand it to :func:`~numbarnn.train.fit`, which binds
        it to the model and readout.
    lr : float
        Learning rate; may be changed between steps (``opt.lr = ...``).
    maximize : bool, default False
        Step up the gradient instead of down (torch.optim's ``maximize``).

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

    def __init__(self, params, lr, maximize=False):
        self.lr = check_real("lr", lr)
        self.maximize = check_flag("maximize", maximize)
        self.triples, self.state, self.steps = None, None, 0
        self._pending = None
        if params is not None:
            self.bind(params)

    def zero_grad(self):
        """Set every gradient this optimizer steps to zero."""
        zero_grads(self._bound("zero_grad"))

    def step(self):
        """Apply one update to every parameter, in place."""
        triples = self._bound("step")
        self.steps += 1
        for (_, p, g), st in zip(triples, self.state):
            self._update(p, -g if self.maximize else g, st)

    def _update(self, p, g, st):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening and Nesterov.

    With ``d = grad + weight_decay * p`` (``-grad`` with ``maximize``), the
    buffer ``b = d`` on the first step, then
    ``b = momentum * b + (1 - dampening) * d``; the step direction is
    ``d + momentum * b`` (Nesterov) or ``b``, and ``p -= lr * direction``.

    Parameters
    ----------
    params : module, (params, grads) pair, list of those, or None
        See :class:`Optimizer`.
    lr : float, default 1e-3
        torch.optim.SGD's default since torch 2.0.
    momentum, dampening, weight_decay : float, default 0
    nesterov : bool, default False
    maximize : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import SGD
    >>> p, g = {"w": np.zeros(1)}, {"w": np.ones(1)}
    >>> opt = SGD((p, g), lr=1.0, momentum=0.9)
    >>> opt.step(); opt.step(); p["w"].tolist()
    [-2.9]
    """

    def __init__(self, params=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, *, maximize=False):
        momentum = check_real("momentum", momentum)
        dampening = check_real("dampening", dampening, low=None)
        weight_decay = check_real("weight_decay", weight_decay)
        nesterov = check_flag("nesterov", nesterov)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening == 0")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        super().__init__(params, lr, maximize)

    def _hyperparameters(self):
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay,
                "maximize": self.maximize}

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
    ``d = grad + weight_decay * p`` (L2 penalty; ``-grad`` with
    ``maximize``); then
    ``p -= lr / (1-β1^t) * m / (sqrt(v) / sqrt(1-β2^t) + eps)``.
    ``amsgrad`` uses the running maximum of ``v``.

    Parameters
    ----------
    params : module, (params, grads) pair, list of those, or None
        See :class:`Optimizer`.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    amsgrad : bool, default False
    maximize : bool, default False

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

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"betas must be a pair of floats, got {betas!r}")
        b1, b2 = (check_real("betas", b) for b in betas)
        if not (b1 < 1.0 and b2 < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {tuple(betas)}")
        self.betas = (b1, b2)
        self.eps = check_real("eps", eps)
        self.weight_decay = check_real("weight_decay", weight_decay)
        self.amsgrad = check_flag("amsgrad", amsgrad)
        super().__init__(params, lr, maximize)

    def _hyperparameters(self):
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad,
                "maximize": self.maximize}

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
            if "max_exp_avg_sq" not in st:  # amsgrad switched on after a state load
                st["max_exp_avg_sq"] = np.zeros_like(p)
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
    params : module, (params, grads) pair, list of those, or None
        See :class:`Optimizer`.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    amsgrad : bool, default False
    maximize : bool, default False

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

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(optimizer, params, lr=None, **kwargs):
    """An optimizer from a name (``"sgd"``, ``"adam"``, ``"adamw"``) or an instance.

    Parameters
    ----------
    optimizer : str or Optimizer
        An instance is returned unchanged (``lr`` and ``kwargs`` must then be
        empty); one not yet bound to parameters is bound to ``params``.
    params : module, (params, grads) pair, or list of those
    lr : float, optional
        The optimizer's default when None (1e-3 for all three, as in torch).
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
        if optimizer.triples is None:
            optimizer.bind(params)
        return optimizer
    key = optimizer.lower() if isinstance(optimizer, str) else None
    if key not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or an Optimizer, "
                         f"got {optimizer!r}")
    if lr is None:
        return _OPTIMIZERS[key](params, **kwargs)
    return _OPTIMIZERS[key](params, lr=lr, **kwargs)

"""Training kit: losses, a linear readout, optimizers, clipping, truncated
BPTT, a ``fit`` loop and a bridge to ``scipy.optimize``.

Everything here works on *modules*: objects with ``params`` and ``grads``
(dicts of arrays with the same keys, gradients accumulated by ``backward``
until ``zero_grad()``), ``forward`` and ``backward``. numbarnn's layers are
modules; so is :class:`Linear`; so is anything written to the same protocol.
Optimizers and clipping also take ``(params, grads)`` pairs of dicts.

Examples
--------
>>> import numpy as np
>>> from numbarnn.train import Linear, Adam, mse
>>> rng = np.random.default_rng(0)
>>> h, target = rng.standard_normal((50, 4, 8)), rng.standard_normal((50, 4, 1))
>>> readout = Linear(8, 1, seed=0)
>>> opt = Adam(readout, lr=0.01)
>>> first = None
>>> for _ in range(100):
...     opt.zero_grad()
...     loss, dpred = mse(readout.forward(h), target)
...     _ = readout.backward(dpred)
...     opt.step()
...     first = loss if first is None else first
>>> loss < first
True
"""
from .clip import clip_grad_norm, clip_grad_value
from .fit import History, fit
from .linear import Linear
from .losses import LOSSES, cross_entropy, gaussian_nll, gaussian_nll_packed, get_loss, mse
from .optim import SGD, Adam, AdamW, Optimizer, make_optimizer
from .scipy_bridge import flatten, flatten_grads, make_objective, minimize, unflatten
from .tbptt import TBPTTResult, tbptt

__all__ = [
    "Adam", "AdamW", "History", "LOSSES", "Linear", "Optimizer", "SGD", "TBPTTResult",
    "clip_grad_norm", "clip_grad_value", "cross_entropy", "fit", "flatten", "flatten_grads",
    "gaussian_nll", "gaussian_nll_packed", "get_loss", "make_objective", "make_optimizer",
    "minimize", "mse",
    "tbptt", "unflatten",
]

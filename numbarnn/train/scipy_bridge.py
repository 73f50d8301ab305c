"""Between modules and ``scipy.optimize``: one flat parameter vector, exact gradients.

Quasi-Newton methods (L-BFGS) take far fewer, better steps than SGD-type
optimizers on small models and full-batch problems; they need the loss and
its gradient as functions of a single float64 vector.
"""
import numpy as np

from ._core import collect, forward_backward, modules_of, zero_grads
from .losses import get_loss

__all__ = ["flatten", "flatten_grads", "unflatten", "make_objective", "minimize"]


def _size(triples):
    return sum(p.size for _, p, _ in triples)


def flatten(modules):
    """Concatenate every parameter into one float64 vector.

    The order is the order of ``modules``, then of each ``params`` dict.

    Parameters
    ----------
    modules : module, (params, grads) pair, or list of those

    Returns
    -------
    ndarray, shape (n,), float64
        A copy.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, flatten
    >>> flatten(Linear(3, 2, seed=0)).shape         # 2*3 weights + 2 biases
    (8,)
    """
    triples = collect(modules)
    if not triples:
        return np.zeros(0)
    return np.concatenate([p.ravel() for _, p, _ in triples]).astype(np.float64, copy=False)


def flatten_grads(modules):
    """Concatenate every gradient, in the order of :func:`flatten`.

    Parameters
    ----------
    modules : module, (params, grads) pair, or list of those

    Returns
    -------
    ndarray, shape (n,), float64

    Examples
    --------
    >>> from numbarnn.train import Linear, flatten_grads
    >>> flatten_grads(Linear(3, 2, seed=0)).tolist() == [0.0] * 8
    True
    """
    triples = collect(modules)
    if not triples:
        return np.zeros(0)
    return np.concatenate([g.ravel() for _, _, g in triples]).astype(np.float64, copy=False)


def unflatten(vector, modules):
    """Write a flat vector back into the parameters, in place.

    Parameters
    ----------
    vector : array_like, shape (n,)
        As made by :func:`flatten`; cast to each parameter's dtype.
    modules : module, (params, grads) pair, or list of those

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, flatten, unflatten
    >>> lin = Linear(3, 2, seed=0)
    >>> unflatten(np.arange(8.0), lin)
    >>> lin.params["bias"].tolist(), bool(np.array_equal(flatten(lin), np.arange(8.0)))
    ([6.0, 7.0], True)
    """
    triples = collect(modules)
    vector = np.asarray(vector)
    n = _size(triples)
    if vector.shape != (n,):
        raise ValueError(f"vector must have shape ({n},) for these modules, got {vector.shape}")
    start = 0
    for _, p, _ in triples:
        p[...] = vector[start:start + p.size].reshape(p.shape)
        start += p.size


def make_objective(model, readout, loss_fn, x, y, state=None):
    """The loss and its exact gradient as a function of the flat parameters.

    Parameters
    ----------
    model : module
    readout : module or None
    loss_fn : str or callable
        See :func:`~numbarnn.train.get_loss`.
    x : ndarray, shape (T, B, I), or (B, T, I) when the model is batch_first
    y : ndarray, shape (T, B, ...), or (B, T, ...) when batch_first
    state : optional
        Initial state of the model (constant).

    Returns
    -------
    callable
        ``f(theta) -> (loss, grad)``: writes ``theta`` into the parameters
        (they keep it), runs forward, loss and BPTT over the whole series and
        returns the loss (float) and its gradient (float64, shaped like
        ``theta``). The modules' ``grads`` are overwritten.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, flatten, make_objective
    >>> class Identity:                  # a stand-in for a recurrent layer
    ...     params, grads = {}, {}
    ...     def forward(self, x, state=None): return x, state
    ...     def backward(self, dy, dstate=None): return dy
    >>> x = np.ones((4, 1, 1))
    >>> f = make_objective(Identity(), Linear(1, 1, seed=0), "mse", x, 2 * x)
    >>> loss, grad = f(np.zeros(2))                 # weight 0, bias 0: predicts 0
    >>> loss, grad.tolist()
    (4.0, [-4.0, -4.0])
    """
    loss_fn = get_loss(loss_fn)
    modules = modules_of(model, readout)
    triples = collect(modules)

    def objective(theta):
        unflatten(theta, modules)
        zero_grads(triples)
        loss, _ = forward_backward(model, readout, loss_fn, x, y, state, guard=False)
        return loss, flatten_grads(modules)

    return objective


def minimize(model, readout, loss_fn, x, y, *, method="L-BFGS-B", state=None, **kwargs):
    """Train with ``scipy.optimize.minimize`` over all parameters, exact gradients.

    Every evaluation runs the whole series forward, the loss and BPTT
    backward (``jac=True``), so this is full-batch optimisation: best for
    small models and series where L-BFGS converges in a few hundred
    evaluations. The model is left at the returned solution. The objective
    is :func:`make_objective`'s; it must be deterministic (no dropout).

    Parameters
    ----------
    model : module
        ``forward(x, state) -> (y, state)`` and ``backward(dy)``.
    readout : module or None
    loss_fn : str or callable
        See :func:`~numbarnn.train.get_loss`.
    x : ndarray, shape (T, B, I), or (B, T, I) when the model is batch_first
    y : ndarray, shape (T, B, ...), or (B, T, ...) when batch_first
    method : str, default "L-BFGS-B"
        Any gradient-based method of ``scipy.optimize.minimize``.
    state : optional
        Initial state of the model (constant).
    **kwargs
        Passed to ``scipy.optimize.minimize`` (``options={"maxiter": 200}``,
        ``tol``, ``callback``, ``bounds``...).

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x`` the flat parameters (see :func:`flatten`) and ``fun`` the
        final loss.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, minimize
    >>> class Identity:                  # a stand-in for a recurrent layer
    ...     params, grads = {}, {}
    ...     def forward(self, x, state=None): return x, state
    ...     def backward(self, dy, dstate=None): return dy
    >>> x = np.linspace(-1, 1, 20).reshape(20, 1, 1)
    >>> readout = Linear(1, 1, seed=0)
    >>> res = minimize(Identity(), readout, "mse", x, 3 * x - 1)
    >>> bool(res.success), np.round(readout.params["weight"], 6).tolist()
    (True, [[3.0]])
    """
    from scipy import optimize

    if "jac" in kwargs:
        raise ValueError("minimize supplies the exact gradient itself (jac=True)")
    modules = modules_of(model, readout)
    objective = make_objective(model, readout, loss_fn, x, y, state)
    result = optimize.minimize(objective, flatten(modules), jac=True, method=method, **kwargs)
    unflatten(result.x, modules)
    return result

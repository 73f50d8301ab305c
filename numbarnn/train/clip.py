"""Gradient clipping in place: by global norm and by value."""
import math

import numpy as np

from ._core import collect

__all__ = ["clip_grad_norm", "clip_grad_value"]


def clip_grad_norm(modules, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    Same rule as ``torch.nn.utils.clip_grad_norm_``: the norm is taken over
    every gradient array as if concatenated, and each gradient is multiplied
    by ``min(1, max_norm / (total_norm + 1e-6))``, which keeps the direction
    of the update and only shortens it (exploding gradients in BPTT).

    Parameters
    ----------
    modules : module, (params, grads) pair, or list of those
    max_norm : float
    norm_type : float, default 2
        ``p`` of the p-norm; ``numpy.inf`` for the largest absolute value.
    error_if_nonfinite : bool, default False
        Raise when the total norm is NaN or Inf instead of scaling by it.

    Returns
    -------
    float
        The total norm before clipping.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import clip_grad_norm
    >>> grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    >>> clip_grad_norm((grads, grads), max_norm=1.0)
    5.0
    >>> np.round([grads["a"][0], grads["b"][0]], 6).tolist()
    [0.6, 0.8]
    """
    max_norm, p = float(max_norm), float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    if not p > 0:
        raise ValueError(f"norm_type must be > 0, got {norm_type}")
    grads = [g for _, _, g in collect(modules)]
    if not grads:
        return 0.0
    if math.isinf(p):
        total = max(float(np.abs(g).max(initial=0.0)) for g in grads)
    else:
        # torch takes the norm of the per-array norms; with p = 2 this is
        # sqrt(sum of squares) up to rounding.
        norms = np.array([np.linalg.norm(g.ravel(), ord=p) for g in grads], dtype=np.float64)
        total = float(np.linalg.norm(norms, ord=p))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef
    return total


def clip_grad_value(modules, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    modules : module, (params, grads) pair, or list of those
    clip_value : float

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import clip_grad_value
    >>> grads = {"w": np.array([-3.0, 0.5, 2.0])}
    >>> clip_grad_value((grads, grads), 1.0); grads["w"].tolist()
    [-1.0, 0.5, 1.0]
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value}")
    for _, _, g in collect(modules):
        np.clip(g, -clip_value, clip_value, out=g)

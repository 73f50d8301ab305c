"""Losses with their gradients: ``loss, dpred = loss_fn(pred, target)``.

Every loss returns the scalar loss (a Python float) and the gradient of that
scalar with respect to each prediction array, ready to feed a backward pass.
Reductions follow PyTorch: ``"mean"`` averages over every element (or, with
``weights``, divides by the sum of the weights), ``"sum"`` adds them up, and
``"none"`` returns the element-wise losses (times the weights) as an array,
with the gradient of each element's loss with respect to its own prediction
(that is, of their sum).

``weights`` is a mask (booleans) or finite non-negative weights per element
of the element-wise loss (anything else raises a ValueError). It broadcasts
against that loss after trailing axes are appended, so a (T, B) mask applies
to every feature of (T, B, D) predictions.
"""
import functools
import math

import numpy as np

__all__ = ["mse", "gaussian_nll", "gaussian_nll_packed", "cross_entropy", "get_loss",
           "LOSSES"]

_LOG_2PI = math.log(2.0 * math.pi)


def _float_array(name, a):
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")
    return arr


def _same_shape(name, a, shape):
    if a.shape != shape:
        raise ValueError(f"{name} must have the shape of pred {shape}, got {a.shape}")


def _weights(weights, shape, dtype):
    """``weights`` broadcast to ``shape``, or None."""
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.dtype.kind not in "bfiu":
        raise TypeError(f"weights must be a boolean mask or real weights, got dtype {w.dtype}")
    # checked before broadcasting: a NaN weight would make the loss NaN
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        raise ValueError("weights must be finite, got NaN or Inf")
    if w.ndim > len(shape):
        raise ValueError(f"weights has {w.ndim} dimensions, more than the loss's {len(shape)} "
                         f"(shape {shape})")
    w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        w = np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"weights of shape {np.shape(weights)} do not broadcast to the "
                         f"element-wise loss of shape {shape}") from None
    if w.dtype.kind != "b" and (w < 0).any():
        raise ValueError("weights must be non-negative")
    return w.astype(dtype)


def _reduce(elementwise, weights, reduction):
    """The reduced loss and the factor each element's gradient is scaled by.

    The factor is an array (weights / normaliser) or a scalar, so callers
    write ``dpred = factor * d(elementwise)/dpred``. With ``"none"`` the
    "loss" is the (weighted) element-wise array and the factor the weights.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    w = _weights(weights, elementwise.shape, elementwise.dtype)
    if reduction == "none":
        return (elementwise, 1.0) if w is None else (w * elementwise, w)
    if w is None:
        total, scale = elementwise.sum(), 1.0
        if reduction == "mean":
            # An empty batch has loss 0 and no gradient, rather than 0/0.
            scale = 1.0 / max(elementwise.size, 1)
        return float(total * scale), scale
    total = (w * elementwise).sum()
    norm = w.sum() if reduction == "mean" else 1.0
    # All weights zero (a fully masked chunk): the loss is 0, not NaN.
    norm = norm if norm > 0 else 1.0
    return float(total / norm), w / norm


def mse(pred, target, *, weights=None, reduction="mean"):
    """Mean squared error and its gradient.

    Parameters
    ----------
    pred, target : ndarray
        Predictions and targets of the same shape.
    weights : array_like, optional
        Mask or non-negative weights per element (see the module notes).
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    loss : float (ndarray with ``reduction="none"``)
    dpred : ndarray
        d loss / d pred, shaped like ``pred``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import mse
    >>> loss, dpred = mse(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    >>> loss, dpred.tolist()
    (2.5, [1.0, 2.0])
    """
    pred = _float_array("pred", pred)
    target = _float_array("target", target)
    _same_shape("target", target, pred.shape)
    diff = pred - target
    loss, scale = _reduce(diff * diff, weights, reduction)
    return loss, (2.0 * scale) * diff


def gaussian_nll(mean, logvar, target, *, weights=None, reduction="mean", full=True):
    """Gaussian negative log-likelihood from mean and log-variance heads.

    Per element, ``0.5 * (logvar + (target - mean)**2 * exp(-logvar) + log 2π)``:
    the exact negative log-density, so summed losses compare with the
    ``log_likelihood`` of other models. Predicting the log-variance keeps the
    variance positive without clamping.

    Parameters
    ----------
    mean, logvar, target : ndarray
        Same shape.
    weights : array_like, optional
        Mask or non-negative weights per element.
    reduction : {"mean", "sum", "none"}
    full : bool, default True
        Include the constant ``0.5 log 2π``. PyTorch's ``GaussianNLLLoss``
        leaves it out by default (its ``full=False``).

    Returns
    -------
    loss : float (ndarray with ``reduction="none"``)
    dmean, dlogvar : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import gaussian_nll
    >>> loss, dmean, dlogvar = gaussian_nll(np.zeros(1), np.zeros(1), np.ones(1), full=False)
    >>> loss, dmean.tolist(), dlogvar.tolist()
    (0.5, [-1.0], [0.0])
    """
    mean = _float_array("mean", mean)
    logvar = _float_array("logvar", logvar)
    target = _float_array("target", target)
    _same_shape("logvar", logvar, mean.shape)
    _same_shape("target", target, mean.shape)
    diff = mean - target
    # exp(-logvar) rather than 1/exp(logvar): no overflow for very negative
    # logvar that a division would turn into inf/inf.
    inv_var = np.exp(-logvar)
    sq = diff * diff * inv_var
    elementwise = 0.5 * (logvar + sq)
    if full:
        elementwise = elementwise + 0.5 * _LOG_2PI
    loss, scale = _reduce(elementwise, weights, reduction)
    return loss, scale * diff * inv_var, (0.5 * scale) * (1.0 - sq)


def gaussian_nll_packed(pred, target, *, weights=None, reduction="mean", full=True):
    """:func:`gaussian_nll` with both heads in one array, for readouts.

    The last axis of ``pred`` holds the means, then the log-variances
    (``2 D`` columns for a ``D``-dimensional target), so one
    :class:`~numbarnn.train.Linear` readout with ``2 D`` outputs feeds it.

    Parameters
    ----------
    pred : ndarray, shape (..., 2 D)
    target : ndarray, shape (..., D)
    weights, reduction, full
        As in :func:`gaussian_nll`.

    Returns
    -------
    loss : float (ndarray with ``reduction="none"``)
    dpred : ndarray, shaped like ``pred``

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import gaussian_nll_packed
    >>> pred = np.array([[0.0, 0.0]])          # mean 0, log-variance 0
    >>> loss, dpred = gaussian_nll_packed(pred, np.array([[1.0]]), full=False)
    >>> loss, dpred.tolist()
    (0.5, [[-1.0, 0.0]])
    """
    pred = _float_array("pred", pred)
    target = _float_array("target", target)
    D = target.shape[-1] if target.ndim else 0
    if pred.shape != target.shape[:-1] + (2 * D,):
        raise ValueError(f"pred must have shape {target.shape[:-1] + (2 * D,)} (means then "
                         f"log-variances on the last axis) for target {target.shape}, "
                         f"got {pred.shape}")
    loss, dmean, dlogvar = gaussian_nll(pred[..., :D], pred[..., D:], target,
                                        weights=weights, reduction=reduction, full=full)
    return loss, np.concatenate([dmean, dlogvar], axis=-1)


def cross_entropy(logits, targets, *, weights=None, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of integer class targets under softmax(logits).

    Computed through a stable log-softmax (the maximum logit is subtracted
    first), so large logits neither overflow nor lose the gradient. With
    label smoothing ε the target distribution is ``(1 - ε) onehot + ε / C``,
    as in ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    logits : ndarray, shape (..., C)
    targets : ndarray of int, shape (...)
        Class indices in ``[0, C)``.
    weights : array_like, optional
        Mask or non-negative weights per target (shape ``(...)``). torch's
        per-class ``weight`` is ``weights=class_weight[targets]``; with label
        smoothing the two differ (torch weighs each class's term, these
        weigh each target's whole loss).
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1], default 0

    Returns
    -------
    loss : float (ndarray of shape ``(...)`` with ``reduction="none"``)
    dlogits : ndarray, shaped like ``logits``
        ``scale * (softmax(logits) - target distribution)``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import cross_entropy
    >>> loss, d = cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(loss, 6), d.tolist()
    (0.693147, [[0.5, -0.5]])
    >>> losses, _ = cross_entropy(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0]),
    ...                           reduction="none", label_smoothing=0.1)
    >>> np.round(losses, 4).tolist()
    [0.2269, 2.0269]
    """
    logits = _float_array("logits", logits)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if logits.ndim == 0 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape logits.shape[:-1] = {logits.shape[:-1]}, "
                         f"got {targets.shape}")
    if isinstance(label_smoothing, (bool, np.bool_)) or \
            not isinstance(label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"label_smoothing must be a float, got "
                        f"{type(label_smoothing).__name__}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    C = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= C):
        raise ValueError(f"targets must lie in [0, {C}), got values in "
                         f"[{targets.min()}, {targets.max()}]")
    shifted = logits - logits.max(axis=-1, keepdims=True) if logits.size else logits
    logsumexp = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_softmax = shifted - logsumexp
    idx = targets[..., None].astype(np.intp)
    elementwise = -np.take_along_axis(log_softmax, idx, axis=-1)[..., 0]
    grad = np.exp(log_softmax)
    if eps:
        elementwise = (1.0 - eps) * elementwise - (eps / C) * log_softmax.sum(axis=-1)
        grad -= eps / C
    np.put_along_axis(grad, idx, np.take_along_axis(grad, idx, axis=-1) - (1.0 - eps),
                      axis=-1)
    loss, scale = _reduce(elementwise, weights, reduction)
    scale = scale[..., None] if isinstance(scale, np.ndarray) else scale
    return loss, scale * grad


LOSSES = {"mse": mse, "gaussian_nll": gaussian_nll_packed, "cross_entropy": cross_entropy}


def needs_finite_targets(loss_fn):
    """True for the built-in losses (also under functools.partial): they cannot
    mask NaN targets, so training refuses those up front. A user's loss may
    (numbarnn's latent models pad with NaN and mask it)."""
    while isinstance(loss_fn, functools.partial):
        loss_fn = loss_fn.func
    return any(loss_fn is f for f in LOSSES.values())


def get_loss(loss):
    """A ``loss_fn(pred, target) -> (loss, dpred)`` from a name or a callable.

    Parameters
    ----------
    loss : {"mse", "gaussian_nll", "cross_entropy"} or callable
        ``"gaussian_nll"`` is :func:`gaussian_nll_packed` (means and
        log-variances side by side in ``pred``). A callable is returned
        unchanged; use :func:`functools.partial` to fix ``weights`` or
        ``reduction``.

    Returns
    -------
    callable

    Examples
    --------
    >>> from numbarnn.train import get_loss, mse
    >>> get_loss("mse") is mse
    True
    """
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable "
                         f"(pred, target) -> (loss, dpred), got {loss!r}") from None

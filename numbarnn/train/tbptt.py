"""Truncated backpropagation through time over a long series."""
from collections import namedtuple

import numpy as np

from ._core import (_Diverged, check_finite_triples, collect, forward_backward, modules_of,
                    zero_grads)
from ._data import axes, batch_first, check_series, take
from .clip import clip_grad_norm
from .losses import get_loss, needs_finite_targets

__all__ = ["tbptt", "TBPTTResult"]

TBPTTResult = namedtuple("TBPTTResult", "losses steps state")


def _detach(state):
    """A copy of the state that later forward calls cannot alias."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_detach(s) for s in state)
    return np.array(state, copy=True)


def tbptt(model, readout, loss_fn, x, target, k, optimizer=None, clip=None, state=None):
    """Truncated BPTT: run a long series in chunks of ``k`` steps.

    Each chunk runs forward from the state the previous chunk ended in, then
    backward within the chunk only: the state is carried forward but no
    gradient crosses a chunk boundary (the state is "detached"). Memory and
    the length of the backward pass are bounded by ``k``, not by T.

    Parameters
    ----------
    model : module
        ``forward(x, state) -> (y, state)`` and ``backward(dy) -> dx``,
        accumulating into ``model.grads`` (a numbarnn layer).
    readout : module or None
        ``forward(h) -> pred`` and ``backward(dpred) -> dh`` (e.g.
        :class:`~numbarnn.train.Linear`); None feeds the model's output
        straight to the loss.
    loss_fn : str or callable
        ``loss_fn(pred, target) -> (loss, dpred)`` or a name accepted by
        :func:`~numbarnn.train.get_loss`; it is applied per chunk, so a
        ``"mean"`` reduction averages within each chunk.
    x : ndarray, shape (T, B, I), or (B, T, I) when the model is ``batch_first``
        The layout is the model's: chunks are cut along its time axis.
    target : ndarray, shape (T, B, ...), or (B, T, ...) when ``batch_first``
        Whatever ``loss_fn`` compares with the predictions of each step.
        With a built-in loss, NaN or Inf targets raise a ValueError before
        anything runs.
    k : int
        Steps per chunk; the last chunk may be shorter. ``k >= T`` is full
        BPTT.
    optimizer : Optimizer, optional
        When given, each chunk starts from zeroed gradients and ends with
        ``optimizer.step()`` (after clipping). When None, gradients of all
        chunks *accumulate* into the modules' ``grads`` (zero them first),
        so with ``k >= T`` they equal the full BPTT gradient.
    clip : float, optional
        Clip the global gradient norm of model and readout to this value
        (:func:`~numbarnn.train.clip_grad_norm`) before each step; needs an
        optimizer.
    state : optional
        Initial state (the layer's state structure); None means zeros.

    Returns
    -------
    TBPTTResult
        ``(losses, steps, state)``: the loss of each chunk (ndarray), the
        number of time steps in each chunk (to average them), and the state
        after the last step, to carry into the next call.

    Raises
    ------
    FloatingPointError
        When a chunk's loss, the gradient entering the backward pass, a
        parameter gradient or (after a step) a parameter is NaN or Inf: the
        run has diverged. The message names the chunk; the chunks before it
        have been stepped.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, SGD, tbptt
    >>> class Identity:                  # a stand-in for a recurrent layer
    ...     params, grads = {}, {}
    ...     def forward(self, x, state=None): return x, state
    ...     def backward(self, dy, dstate=None): return dy
    >>> readout = Linear(1, 1, seed=0)
    >>> x = np.linspace(0, 1, 20).reshape(20, 1, 1)
    >>> opt = SGD(readout, lr=0.5)
    >>> res = tbptt(Identity(), readout, "mse", x, 2 * x + 1, k=5, optimizer=opt)
    >>> res.losses.shape, res.steps.tolist()
    ((4,), [5, 5, 5, 5])
    """
    loss_fn = get_loss(loss_fn)
    bf = batch_first(model)
    x, target = check_series(x, target, bf, finite=needs_finite_targets(loss_fn))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if clip is not None and optimizer is None:
        raise ValueError("clip needs an optimizer: gradients are clipped before each step")
    triples = collect(modules_of(model, readout))
    # Overflow inside a diverging run is reported as a FloatingPointError
    # below, not as a warning (an error under -W error) from deep inside.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _chunks(model, readout, loss_fn, x, target, k, optimizer, clip, state,
                       triples, axes(bf)[0])


def _chunks(model, readout, loss_fn, x, target, k, optimizer, clip, state, triples, t_axis):
    T = x.shape[t_axis]
    state = _detach(state)
    losses, steps = [], []
    for start in range(0, T, k):
        stop = min(start + k, T)
        where = f" in the chunk of steps {start}:{stop}"
        if optimizer is not None:
            zero_grads(triples)
        try:
            loss, state = forward_backward(model, readout, loss_fn,
                                           take(x, slice(start, stop), t_axis),
                                           take(target, slice(start, stop), t_axis), state)
        except _Diverged as exc:
            raise _Diverged(f"training diverged: {exc}{where}; lower the learning rate "
                            "or clip the gradients") from None
        state = _detach(state)
        check_finite_triples(triples, "gradient", where)
        if optimizer is not None:
            if clip is not None:
                clip_grad_norm(modules_of(model, readout), clip)
            optimizer.step()
            check_finite_triples(triples, "parameter", f" after the step{where}")
        losses.append(loss)
        steps.append(stop - start)
    return TBPTTResult(np.array(losses), np.array(steps, dtype=np.intp), state)

"""A training loop with validation, early stopping, divergence handling and a
progress bar."""
import math
import time

import numpy as np

from ._core import (_Diverged, check_finite_triples, collect, forward_backward, modules_of,
                    zero_grads)
from ._data import (Loader, axes, batch_first, batch_indices, check_series, is_pair_of_arrays,
                    take)
from .clip import clip_grad_norm
from .history import History
from .losses import get_loss, needs_finite_targets
from .optim import make_optimizer
from .tbptt import tbptt

__all__ = ["fit", "History"]


def _set_training(modules, training):
    # Layers with dropout switch it off for validation; modules without
    # train()/eval() have nothing to switch.
    for m in modules:
        method = getattr(m, "train" if training else "eval", None)
        if callable(method):
            method()


def _positive_int(name, value, allow_zero=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} int, got {value!r}")
    return int(value)


class _ArrayBatches:
    """The shuffled minibatches of arrays, epoch after epoch."""

    def __init__(self, x, y, bf, batch_size, rng):
        self.x, self.y, self.axis = x, y, axes(bf)[1]
        self.batch_size, self.rng = batch_size, rng

    def epoch(self, bf):
        for idx in batch_indices(self.x.shape[self.axis], self.batch_size, self.rng):
            if idx is None:
                yield self.x, self.y
            else:
                yield take(self.x, idx, self.axis), take(self.y, idx, self.axis)


def _validation_loss(model, readout, loss_fn, val, bf):
    """Mean loss over the validation data (steps ``skip:`` of arrays)."""
    if isinstance(val, Loader):
        total = weight = 0.0
        for xv, yv in val.epoch(bf):
            loss, n = _loss_of(model, readout, loss_fn, xv, yv, 0, bf)
            total, weight = total + loss * n, weight + n
        return total / weight
    return _loss_of(model, readout, loss_fn, *val, bf)[0]


def _loss_of(model, readout, loss_fn, x, y, skip, bf):
    hidden, _ = model.forward(x, None)
    pred = hidden if readout is None else readout.forward(hidden)
    t_axis, b_axis = axes(bf)
    loss, _ = loss_fn(take(pred, slice(skip, None), t_axis), take(y, slice(skip, None), t_axis))
    return float(loss), x.shape[b_axis] * (x.shape[t_axis] - skip)


def _train_epoch(model, readout, loss_fn, batches, opt, clip, k, triples, modules, bf):
    """Mean training loss of one epoch; raises ``_Diverged``."""
    t_axis, b_axis = axes(bf)
    total = weight = 0.0
    for xb, yb in batches.epoch(bf):
        B = xb.shape[b_axis]
        if k is None:
            zero_grads(triples)
            batch_loss, _ = forward_backward(model, readout, loss_fn, xb, yb)
            check_finite_triples(triples, "gradient")
            if clip is not None:
                clip_grad_norm(modules, clip)
            opt.step()
            check_finite_triples(triples, "parameter", " after a step")
            losses, steps = np.array([batch_loss]), np.array([xb.shape[t_axis]])
        else:
            losses, steps, _ = tbptt(model, readout, loss_fn, xb, yb, k, opt, clip)
        # Weight by the number of (step, series) pairs each loss averaged.
        total += float(np.dot(losses, steps)) * B
        weight += float(steps.sum()) * B
    return total / weight if weight else 0.0


def _optimizer(optimizer, modules, lr, triples):
    opt = make_optimizer(optimizer, modules, lr)
    want = {id(p) for _, p, _ in triples}
    have = {id(p) for _, p, _ in opt.triples}
    if have != want:
        raise ValueError("the optimizer must step exactly the parameters of model and readout "
                         f"({len(want)} arrays); it steps {len(have)}, "
                         f"{len(have & want)} of them the model's or readout's")
    return opt


def _snapshot(triples, opt):
    return [p.copy() for _, p, _ in triples], opt.state_dict()


def _restore(triples, opt, snapshot, optimizer_too):
    params, opt_state = snapshot
    for (_, p, _), saved in zip(triples, params):
        p[...] = saved
    if optimizer_too:
        opt.load_state_dict(opt_state)


def fit(model, readout, x, y=None, *, loss="mse", optimizer="adam", lr=None, epochs=10,
        batch_size=None, k=None, validation=None, validation_split=None, patience=None,
        min_delta=0.0, clip=None, seed=None, progress=True):
    """Train ``model`` (and ``readout``) on one dataset, epoch by epoch.

    Each epoch visits the series in minibatches along the batch axis
    (shuffled, seeded), or the ``(x, y)`` minibatches an iterable yields, and,
    for each minibatch, either runs full BPTT over all T steps and takes one
    optimizer step, or, with ``k``, runs :func:`~numbarnn.train.tbptt` and
    steps once per chunk of ``k`` steps.

    Parameters
    ----------
    model : module
        A recurrent layer (``forward(x, state) -> (y, state)``, ``backward``).
        Its ``batch_first`` flag, when it has one, sets the layout of ``x``
        and ``y``: minibatches are taken along its batch axis and chunks
        along its time axis.
    readout : module or None
        Maps the model's output to predictions (e.g.
        :class:`~numbarnn.train.Linear`); None uses the output itself.
    x : ndarray, shape (T, B, I) ((B, T, I) when the model is batch_first), or iterable
        Inputs; or, with ``y`` None, an iterable of ``(x, y)`` minibatches
        (a list, a DataLoader-style loader, a function returning a fresh
        iterator each epoch, or a generator when ``epochs=1``), which are
        used as they come (``batch_size`` and ``seed`` do not apply).
    y : ndarray, shape (T, B, ...) ((B, T, ...) when batch_first), optional
        Targets for the prediction at each step. With the built-in losses
        they must be finite (checked up front: ValueError); a loss of your
        own may mask NaN targets.
    loss : str or callable, default "mse"
        See :func:`~numbarnn.train.get_loss`.
    optimizer : {"adam", "adamw", "sgd"} or Optimizer, default "adam"
        An Optimizer instance keeps its state (moments, step counts) from
        call to call, so a second ``fit`` continues the first; it must step
        exactly the parameters of model and readout, or be unbound (made
        with ``params=None``, or loaded), and then fit binds it to them.
    lr : float, optional
        Learning rate for an optimizer given by name (default 1e-3, as
        torch.optim's).
    epochs : int, default 10
    batch_size : int, optional
        Series per minibatch; None uses all B at once.
    k : int, optional
        Truncated BPTT chunk length; None backpropagates through all T steps.
    validation : (x_val, y_val) or iterable, optional
        Validation data (arrays, or an iterable of minibatches), run from
        the zero state after each epoch.
    validation_split : float, optional
        Hold out this fraction of the *time steps* at the end of the series
        (time series are not shuffled). The validation loss is measured on
        those steps after running the model over the whole series, so they
        start from the state the training part leads to. Arrays only.
    patience : int, optional
        Early stopping: stop after this many epochs without an improvement
        of the monitored loss by more than ``min_delta``, and restore the
        parameters of the best epoch (also when all epochs ran).
    min_delta : float, default 0
    clip : float, optional
        Clip the global gradient norm before each step.
    seed : int, optional
        Seeds the minibatch shuffling (model initialisation is the model's).
    progress : bool, default True
        Show a tqdm progress bar with the latest losses.

    Returns
    -------
    History
        When a loss, a gradient or a parameter becomes NaN or Inf, training
        stops there with ``stop_reason="non-finite loss"`` and the
        parameters and the optimizer's state are restored to those at the
        end of the best epoch (or to where they started); overflow warnings
        inside such a run are not shown.

    Raises
    ------
    ValueError
        Bad arguments, NaN/Inf targets with a built-in loss, or a NaN loss on
        NaN targets with another loss.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear, fit
    >>> class Identity:                  # a stand-in for a recurrent layer
    ...     params, grads = {}, {}
    ...     def forward(self, x, state=None): return x, state
    ...     def backward(self, dy, dstate=None): return dy
    >>> x = np.random.default_rng(0).standard_normal((16, 4, 1))
    >>> readout = Linear(1, 1, seed=0)
    >>> hist = fit(Identity(), readout, x, 3 * x - 1, lr=0.05, epochs=300, patience=10,
    ...            validation_split=0.25, progress=False)
    >>> hist.stop_reason, hist.best_loss < 1e-4     # the best epoch's weights are restored
    ('early_stopping', True)
    >>> np.round(readout.params["weight"], 2).tolist()
    [[3.0]]

    Minibatches from an iterable, here a list of (x, y) pairs:

    >>> pairs = [(x[:, :2], 2 * x[:, :2]), (x[:, 2:], 2 * x[:, 2:])]
    >>> hist = fit(Identity(), readout, pairs, lr=0.05, epochs=200, progress=False)
    >>> np.round(readout.params["weight"], 2).tolist()
    [[2.0]]
    """
    loss_fn = get_loss(loss)
    bf = batch_first(model)
    strict = needs_finite_targets(loss_fn)
    epochs = _positive_int("epochs", epochs, allow_zero=True)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    if patience is not None:
        patience = _positive_int("patience", patience, allow_zero=True)
    if k is not None:
        k = _positive_int("k", k)
    if validation is not None and validation_split is not None:
        raise ValueError("give validation or validation_split, not both")
    rng = np.random.default_rng(seed)
    val = None
    if y is None:
        if hasattr(x, "shape"):
            raise ValueError("y is required when x is an array (give y, or x as an "
                             "iterable of (x, y) minibatches)")
        if batch_size is not None or validation_split is not None:
            raise ValueError("batch_size and validation_split apply to arrays, not to "
                             "minibatches from an iterable")
        batches = Loader(x, epochs, "x", strict)
    else:
        x, y = check_series(x, y, bf, "y", strict)
        t_axis = axes(bf)[0]
        T = x.shape[t_axis]
        x_train, y_train = x, y
        if validation_split is not None:
            if isinstance(validation_split, bool) or not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must lie in (0, 1), got "
                                 f"{validation_split}")
            skip = T - int(round(T * validation_split))
            if skip < 1 or skip >= T:
                raise ValueError(f"validation_split={validation_split} leaves no training or "
                                 f"no validation steps out of T={T}")
            val = (x, y, skip)
            x_train, y_train = take(x, slice(0, skip), t_axis), take(y, slice(0, skip), t_axis)
        batches = _ArrayBatches(x_train, y_train, bf, batch_size, rng)
    if validation is not None:
        if is_pair_of_arrays(validation) or y is not None:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise TypeError(f"validation must be a pair (x_val, y_val), got "
                                f"{type(validation).__name__}")
            val = check_series(*validation, bf, "y_val", strict) + (0,)
        else:
            val = Loader(validation, epochs, "validation", strict)

    modules = modules_of(model, readout)
    triples = collect(modules)
    opt = _optimizer(optimizer, modules, lr, triples)
    history = History()
    best = _snapshot(triples, opt)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # imported only when a bar is wanted
        bar = tqdm(total=epochs, unit="epoch", desc="fit")
    t0 = time.perf_counter()
    # fit watches every loss, gradient and parameter itself and reports a
    # divergence in History.stop_reason; numpy's overflow warnings on the way
    # there would only repeat that (and abort the run under -W error).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            _epochs(history, model, readout, loss_fn, batches, val, opt, clip, k, triples,
                    modules, bf, epochs, patience, min_delta, bar, best)
        finally:
            if bar is not None:
                bar.close()
    history.seconds = time.perf_counter() - t0
    return history


def _epochs(history, model, readout, loss_fn, batches, val, opt, clip, k, triples, modules,
            bf, epochs, patience, min_delta, bar, best):
    since_best = 0
    for _ in range(epochs):
        _set_training(modules, True)
        try:
            train_loss = _train_epoch(model, readout, loss_fn, batches, opt, clip, k, triples,
                                      modules, bf)
        except _Diverged:
            train_loss = math.nan
        history.train_loss.append(train_loss)
        monitored = train_loss
        if val is not None and math.isfinite(train_loss):
            _set_training(modules, False)
            monitored = _validation_loss(model, readout, loss_fn, val, bf)
            history.val_loss.append(monitored)
            _set_training(modules, True)
        if bar is not None:
            post = {"loss": f"{train_loss:.4g}"}
            if history.val_loss:
                post["val_loss"] = f"{monitored:.4g}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        if not (math.isfinite(train_loss) and math.isfinite(monitored)):
            history.stop_reason = "non-finite loss"
            zero_grads(triples)
            _restore(triples, opt, best, optimizer_too=True)
            return
        if monitored < history.best_loss - min_delta or history.best_epoch < 0:
            history.best_loss, history.best_epoch = monitored, history.epochs - 1
            since_best = 0
            best = _snapshot(triples, opt)
        else:
            since_best += 1
            if patience is not None and since_best >= patience:
                history.stop_reason = "early_stopping"
                break
    if patience is not None and history.best_epoch >= 0:
        _restore(triples, opt, best, optimizer_too=False)

"""A training loop with validation, early stopping and a progress bar."""
import dataclasses
import math
import time

import numpy as np

from ._core import collect, forward_backward, modules_of, zero_grads
from .clip import clip_grad_norm
from .losses import get_loss
from .optim import make_optimizer
from .tbptt import _check_series, tbptt

__all__ = ["fit", "History"]


@dataclasses.dataclass
class History:
    """What :func:`fit` did, epoch by epoch.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of each epoch (over the batches or chunks, while
        the parameters were changing, as Keras reports it).
    val_loss : list of float
        Validation loss after each epoch; empty without validation data.
    best_epoch : int
        Index (from 0) of the epoch with the lowest monitored loss (the
        validation loss if there is one, else the training loss).
    best_loss : float
        That loss.
    stop_reason : str
        ``"epochs"`` (all ran), ``"early_stopping"`` or ``"non-finite loss"``.
    seconds : float
        Wall time of the whole fit.

    Examples
    --------
    >>> from numbarnn.train import History
    >>> h = History(train_loss=[3.0, 2.0, 2.5], best_epoch=1, best_loss=2.0)
    >>> h.epochs, h.monitor
    (3, 'train_loss')
    """

    train_loss: list = dataclasses.field(default_factory=list)
    val_loss: list = dataclasses.field(default_factory=list)
    best_epoch: int = -1
    best_loss: float = math.inf
    stop_reason: str = "epochs"
    seconds: float = 0.0

    @property
    def epochs(self):
        """Number of epochs run."""
        return len(self.train_loss)

    @property
    def monitor(self):
        """Which loss early stopping and ``best_epoch`` watch."""
        return "val_loss" if self.val_loss else "train_loss"

    def plot(self, ax=None):
        """Plot the training (and validation) loss per epoch.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn on a new figure when None.

        Returns
        -------
        matplotlib Axes

        Raises
        ------
        ImportError
            When matplotlib is not installed (it is optional, and imported
            only here).

        Examples
        --------
        >>> import importlib.util
        >>> from numbarnn.train import History
        >>> h = History(train_loss=[3.0, 2.0], val_loss=[3.5, 2.5], best_epoch=1, best_loss=2.5)
        >>> if importlib.util.find_spec("matplotlib"):
        ...     import matplotlib
        ...     matplotlib.use("Agg")
        ...     ax = h.plot()
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from exc
        if ax is None:
            _, ax = plt.subplots()
        epochs = np.arange(1, self.epochs + 1)
        ax.plot(epochs, self.train_loss, label="train")
        if self.val_loss:
            ax.plot(epochs[:len(self.val_loss)], self.val_loss, label="validation")
        if self.best_epoch >= 0:
            ax.axvline(self.best_epoch + 1, color="grey", linestyle=":", label="best")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        return ax


def _set_training(modules, training):
    # Layers with dropout switch it off for validation; modules without
    # train()/eval() have nothing to switch.
    for m in modules:
        method = getattr(m, "train" if training else "eval", None)
        if callable(method):
            method()


def _validation_loss(model, readout, loss_fn, x, y, skip):
    """Loss on steps ``skip:`` after running the model over all of ``x``."""
    hidden, _ = model.forward(x, None)
    pred = hidden if readout is None else readout.forward(hidden)
    loss, _ = loss_fn(pred[skip:], y[skip:])
    return float(loss)


def _batches(B, batch_size, rng):
    if batch_size is None or batch_size >= B:
        return [None]
    order = rng.permutation(B)
    return [np.sort(order[i:i + batch_size]) for i in range(0, B, batch_size)]


def fit(model, readout, x, y, *, loss="mse", optimizer="adam", lr=None, epochs=10,
        batch_size=None, k=None, validation=None, validation_split=None, patience=None,
        min_delta=0.0, clip=None, seed=None, progress=True):
    """Train ``model`` (and ``readout``) on one dataset, epoch by epoch.

    Each epoch visits the series in minibatches along the batch axis
    (shuffled, seeded) and, for each minibatch, either runs full BPTT over
    all T steps and takes one optimizer step, or, with ``k``, runs
    :func:`~numbarnn.train.tbptt` and steps once per chunk of ``k`` steps.

    Parameters
    ----------
    model : module
        A recurrent layer (``forward(x, state) -> (y, state)``, ``backward``).
    readout : module or None
        Maps the model's output to predictions (e.g.
        :class:`~numbarnn.train.Linear`); None uses the output itself.
    x : ndarray, shape (T, B, I)
        Inputs, time-major.
    y : ndarray, shape (T, B, ...)
        Targets for the prediction at each step.
    loss : str or callable, default "mse"
        See :func:`~numbarnn.train.get_loss`.
    optimizer : {"adam", "adamw", "sgd"} or Optimizer, default "adam"
        An Optimizer instance must already hold the parameters of model and
        readout.
    lr : float, optional
        Learning rate for an optimizer given by name (Adam's default 1e-3).
    epochs : int, default 10
    batch_size : int, optional
        Series per minibatch; None uses all B at once.
    k : int, optional
        Truncated BPTT chunk length; None backpropagates through all T steps.
    validation : (x_val, y_val), optional
        Validation data, run from the zero state after each epoch.
    validation_split : float, optional
        Hold out this fraction of the *time steps* at the end of the series
        (time series are not shuffled). The validation loss is measured on
        those steps after running the model over the whole series, so they
        start from the state the training part leads to.
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
    """
    loss_fn = get_loss(loss)
    x, y = _check_series(x, y)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if patience is not None and (not isinstance(patience, (int, np.integer)) or patience < 0):
        raise ValueError(f"patience must be a non-negative int, got {patience!r}")
    if validation is not None and validation_split is not None:
        raise ValueError("give validation or validation_split, not both")
    T = x.shape[0]
    val, skip, x_train, y_train = None, 0, x, y
    if validation_split is not None:
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split must lie in (0, 1), got {validation_split}")
        skip = T - int(round(T * validation_split))
        if skip < 1 or skip >= T:
            raise ValueError(f"validation_split={validation_split} leaves no training or no "
                             f"validation steps out of T={T}")
        val, x_train, y_train = (x, y), x[:skip], y[:skip]
    elif validation is not None:
        val = _check_series(*validation)

    modules = modules_of(model, readout)
    triples = collect(modules)
    opt = make_optimizer(optimizer, modules, lr)
    rng = np.random.default_rng(seed)
    history, best_params, since_best = History(), None, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm  # imported only when a bar is wanted
        bar = tqdm(total=epochs, unit="epoch", desc="fit")
    t0 = time.perf_counter()
    try:
        for _ in range(epochs):
            _set_training(modules, True)
            total = weight = 0.0
            for idx in _batches(x_train.shape[1], batch_size, rng):
                xb = x_train if idx is None else x_train[:, idx]
                yb = y_train if idx is None else y_train[:, idx]
                if k is None:
                    zero_grads(triples)
                    batch_loss, _ = forward_backward(model, readout, loss_fn, xb, yb)
                    if clip is not None:
                        clip_grad_norm(modules, clip)
                    opt.step()
                    losses, steps = np.array([batch_loss]), np.array([xb.shape[0]])
                else:
                    losses, steps, _ = tbptt(model, readout, loss_fn, xb, yb, k, opt, clip)
                # Weight by the number of (step, series) pairs each loss averaged.
                total += float(np.dot(losses, steps)) * xb.shape[1]
                weight += float(steps.sum()) * xb.shape[1]
            history.train_loss.append(total / weight if weight else 0.0)
            monitored = history.train_loss[-1]
            if val is not None:
                _set_training(modules, False)
                monitored = _validation_loss(model, readout, loss_fn, *val, skip)
                history.val_loss.append(monitored)
                _set_training(modules, True)
            if bar is not None:
                post = {"loss": f"{history.train_loss[-1]:.4g}"}
                if history.val_loss:
                    post["val_loss"] = f"{monitored:.4g}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
            if not (math.isfinite(history.train_loss[-1]) and math.isfinite(monitored)):
                history.stop_reason = "non-finite loss"
                break
            if monitored < history.best_loss - min_delta or history.best_epoch < 0:
                history.best_loss, history.best_epoch = monitored, history.epochs - 1
                since_best = 0
                if patience is not None:
                    best_params = [p.copy() for _, p, _ in triples]
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    history.stop_reason = "early_stopping"
                    break
    finally:
        if bar is not None:
            bar.close()
    if best_params is not None:
        for (_, p, _), saved in zip(triples, best_params):
            p[...] = saved
    history.seconds = time.perf_counter() - t0
    return history

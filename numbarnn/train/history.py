"""What :func:`~numbarnn.train.fit` returns: the losses epoch by epoch."""
import dataclasses
import math

import numpy as np

__all__ = ["History"]


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
        ``"epochs"`` (all ran), ``"early_stopping"`` or ``"non-finite loss"``
        (training diverged: a loss, gradient or parameter became NaN or
        Inf; that epoch's ``train_loss`` is NaN and the parameters are
        restored to the best epoch's, or to the initial ones).
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

"""The module protocol of :class:`~numbarnn.LatentAR`: parameters, gradients
and the exact negative log-likelihood gradient (what the training kit and
:func:`numbarnn.diagnostics.check_gradients` work on).
"""
import numpy as np

from . import _latent_data as data_


class ModuleMixin:
    """``params``, ``grads``, ``zero_grad`` and ``loss_and_grad`` for LatentAR."""

    @property
    def params(self):
        """Live parameter arrays, keyed ``"layer.<name>"`` and ``"readout.<name>"``.

        With :attr:`grads` and :meth:`loss_and_grad` this makes the model a
        module of the training kit (and of
        :func:`numbarnn.diagnostics.check_gradients`).
        """
        self._check_fitted()
        return {**{f"layer.{k}": v for k, v in self.layer_.params.items()},
                **{f"readout.{k}": v for k, v in self.readout_.params.items()}}

    @property
    def grads(self):
        """Gradients matching :attr:`params` (accumulated by :meth:`loss_and_grad`)."""
        self._check_fitted()
        return {**{f"layer.{k}": v for k, v in self.layer_.grads.items()},
                **{f"readout.{k}": v for k, v in self.readout_.grads.items()}}

    def zero_grad(self):
        """Set every gradient in :attr:`grads` to zero."""
        self.layer_.zero_grad()
        self.readout_.zero_grad()

    def loss_and_grad(self, data, exog=None):
        """``-log_likelihood(data)``, accumulating its gradient into :attr:`grads`.

        Exact BPTT over whole series: the gradient :meth:`fit` follows.
        ``exog``: the covariates, for a model fitted with them.

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(np.arange(40.0))
        >>> m = LatentAR("lstm", hidden_size=4, seed=0).fit(x, epochs=1, progress=False)
        >>> m.zero_grad()
        >>> bool(np.isclose(m.loss_and_grad(x), -m.log_likelihood(x)))
        True
        """
        self._check_fitted()
        encoded, targets = self._series(data)
        ex = self._exog(exog, [e.shape[0] for e in encoded])
        ex = [None] * len(encoded) if ex is None else ex
        dtype = self.layer_.dtype
        x = data_.pack([self._inputs(e, c) for e, c in zip(encoded, ex)], 0.0, dtype)
        if self._categorical:
            y = data_.pack(targets, -1, np.int64)
            loss_fn = data_.masked_categorical
        else:
            y = data_.pack(targets, np.nan, dtype)
            loss_fn = data_.masked_gaussian
        h, _ = self.layer_.forward(x, keep_cache=True)
        loss, dpred = loss_fn(self.readout_.forward(h), y, reduction="sum")
        self.layer_.backward(self.readout_.backward(dpred))
        return loss + self._log_jacobian(encoded)

    def _flow_inputs(self, data, exog=None):
        """Inputs (T, 1, I) of one series and ∂(-log p(x_T | h_T))/∂y_T (H,).

        What :func:`numbarnn.diagnostics.gradient_flow` runs the layer on.
        """
        self._check_fitted()
        enc, tgt = self._series(data)
        if len(enc) != 1 or enc[0].shape[0] == 0:
            raise ValueError("data: expected one non-empty series")
        ex = self._exog(exog, [enc[0].shape[0]])
        inputs = self._inputs(enc[0], None if ex is None else ex[0])[:, None].astype(
            self.layer_.dtype)
        y, _ = self.layer_.forward(inputs, keep_cache=False)
        pred = self.readout_.forward(y[-1:])
        loss_fn = data_.masked_categorical if self._categorical else data_.masked_gaussian
        target = np.asarray(tgt[0][-1:])[:, None].astype(
            np.int64 if self._categorical else self.layer_.dtype)
        _, dpred = loss_fn(pred, target, reduction="sum")
        return inputs, (dpred @ self.readout_.params["weight"])[0, 0]

    def _log_jacobian(self, encoded):
        # Σ log scale_ per observation: -log p(x) = -log p(z) + Σ log scale_.
        if self._categorical:
            return 0.0
        return float(sum(e.shape[0] for e in encoded) * np.log(self.scale_).sum())

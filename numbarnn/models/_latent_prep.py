"""From user data to the network's inputs, for :class:`~numbarnn.LatentAR`.

A mixin so that ``latent.py`` keeps construction, fitting and scoring. The
network's input at step t is ``[encode(x_{t-1}), exog_t]``: the previous
observation (the start input before the first one) and, for a model fitted
with covariates, the covariates of step t (known when x_t is predicted, as
in an ARX regression), both standardised with the training data's moments.
"""
import numbers

import numpy as np

from . import _latent_data as data_
from . import _latent_io as io_


class PrepMixin:
    """Encoding, covariates, history and the training arrays of LatentAR."""

    # -- encoding ---------------------------------------------------------
    def _series(self, data, name="data"):
        """``data`` (numpy or pandas) as a list of encoded (T, I) arrays and targets."""
        values, frames, _ = io_.unpack(data)
        io_.check_columns(frames, getattr(self, "columns_", None), name)
        if self._categorical:
            seqs = data_.int_sequences(values, self.n_states_, name)
            eye = np.eye(self.n_states_)
            return [eye[s] for s in seqs], seqs
        series, flat = data_.real_series(values, name, self.n_features_, self.univariate_)
        z = [(s - self.mean_) / self.scale_ for s in series]
        return z, z

    def _exog(self, exog, lengths, name="exog", at_least=False):
        """Standardised covariates for series of ``lengths``, or None without exog."""
        K = getattr(self, "n_exog_", 0)
        if K == 0:
            if exog is not None:
                raise ValueError(f"{name}: this model was fitted without exogenous inputs "
                                 f"(fit(data, exog=...) adds them)")
            return None
        if exog is None:
            raise ValueError(f"{name}: this model was fitted with {K} exogenous input(s), "
                             f"so it needs their values here ({sum(lengths)} row(s))")
        arrays = io_.exog_arrays(exog, lengths, name, K, at_least)
        return [(a - self.exog_mean_) / self.exog_scale_ for a in arrays]

    def _inputs(self, enc, ex):
        """The network's inputs (T, I + K) for one encoded series and its covariates."""
        x = data_.shifted(enc)
        return x if ex is None else np.concatenate([x, ex], axis=1)

    def _prepared(self, data, history=None, exog=None, history_exog=None):
        """``(enc, targets, exog, skip, frames, single)`` with ``history`` prepended.

        ``skip`` is the number of history steps (they get no rows and no
        score); ``frames`` are those of ``data``.
        """
        _, frames, single = io_.unpack(data)
        enc, tgt = self._series(data)
        ex = self._exog(exog, [e.shape[0] for e in enc])
        if history is None:
            if history_exog is not None:
                raise ValueError("history_exog: given without history")
            return enc, tgt, ex, 0, frames, single
        if len(enc) != 1:
            raise ValueError("history: only for a single series")
        h_enc, h_tgt = self._series(history, "history")
        if len(h_enc) != 1:
            raise ValueError("history: expected one series")
        h_ex = self._exog(history_exog, [h_enc[0].shape[0]], "history_exog")
        skip = h_enc[0].shape[0]
        ex = None if ex is None else [np.concatenate([h_ex[0], ex[0]])]
        return ([np.concatenate([h_enc[0], enc[0]])],
                [np.concatenate([h_tgt[0], tgt[0]])], ex, skip, frames, single)

    def _outputs(self, encoded, ex):
        """Readout outputs (T_max, B, ·) over a list of encoded series, from the start."""
        ex = [None] * len(encoded) if ex is None else ex
        x = data_.pack([self._inputs(e, x) for e, x in zip(encoded, ex)], 0.0,
                       self.layer_.dtype)
        y, _ = self.layer_.forward(x, keep_cache=False)
        return self.readout_.forward(y).astype(np.float64)

    def _final_state(self, enc, ex):
        """(state after running over ``enc``, the next step's observation input)."""
        dtype = self.layer_.dtype
        if enc.shape[0] == 0:
            return None, np.zeros((1, self.n_features_), dtype)
        x = self._inputs(enc, ex)[:, None].astype(dtype)
        _, state = self.layer_.forward(x, keep_cache=False)
        return state, enc[-1:].astype(dtype)

    # -- training arrays -----------------------------------------------------
    def _training_arrays(self, encoded, targets, ex, window, stride, validation_split):
        """Packed (x, y) of the training part and the validation pair (or None)."""
        if window is not None and (isinstance(window, (bool, np.bool_)) or
                                   not isinstance(window, numbers.Integral) or window < 1):
            raise ValueError(f"window: expected a positive integer, got {window!r}")
        stride = window if stride is None else stride
        if window is not None and (isinstance(stride, (bool, np.bool_)) or
                                   not isinstance(stride, numbers.Integral) or stride < 1):
            raise ValueError(f"stride: expected a positive integer, got {stride!r}")
        if validation_split is not None and (
                isinstance(validation_split, (bool, np.bool_)) or
                not isinstance(validation_split, numbers.Real) or
                not 0.0 < validation_split < 1.0):
            raise ValueError(f"validation_split: expected a number in (0, 1), "
                             f"got {validation_split!r}")
        dtype = self.layer_.dtype
        fill = -1 if self._categorical else np.nan
        tdtype = np.int64 if self._categorical else dtype
        ex = [None] * len(encoded) if ex is None else ex
        pieces, val_targets, all_inputs = [], [], []
        for enc, tgt, x in zip(encoded, targets, ex):
            inputs = self._inputs(enc, x)
            all_inputs.append(inputs)
            n_train = enc.shape[0]
            if validation_split is not None:
                n_train = enc.shape[0] - int(round(enc.shape[0] * validation_split))
                if n_train < 1 or n_train >= enc.shape[0]:
                    raise ValueError(f"validation_split={validation_split} leaves no "
                                     f"training or no validation steps in a series of "
                                     f"{enc.shape[0]}")
                masked = np.array(tgt, dtype=tdtype)
                masked[:n_train] = fill
                val_targets.append(masked)
            if window is None:
                pieces.append((inputs[:n_train], tgt[:n_train]))
            else:
                pieces += data_.windows(inputs[:n_train], tgt[:n_train], window, stride)
        x = data_.pack([p[0] for p in pieces], 0.0, dtype)
        y = data_.pack([p[1] for p in pieces], fill, tdtype)
        validation = None
        if validation_split is not None:
            validation = (data_.pack(all_inputs, 0.0, dtype),
                          data_.pack(val_targets, fill, tdtype))
        return x, y, validation

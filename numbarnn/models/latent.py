"""Latent autoregressive models: a recurrent state with a probabilistic readout.

``h_t = g(h_{t-1}, x_{t-1})`` with g an Elman RNN, GRU or LSTM (stackable),
and ``p(x_t | h_t)`` Gaussian (mean and log-variance heads) or categorical
(softmax) (docs/math.md). The recurrence reads the previous observation, so
the model is a density over whole sequences, scored like the Markov and AR
models: ``log_likelihood`` is a natural-log sum over observations.
"""
import math
import numbers

import numpy as np

from .. import train as _train
from ..nn import GRU, LSTM, RNN
from . import _latent_data as data_
from ._latent_grad import ModuleMixin
from ._latent_loop import ClosedLoopMixin

_CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
_LOG_2PI = math.log(2.0 * math.pi)


class LatentAR(ModuleMixin, ClosedLoopMixin):
    """Latent autoregressive model over a recurrent network (docs/math.md).

    The model reads x_{t-1} and predicts x_t; before the first observation
    it reads the *start input*, zeros (the mean of the scaled data for
    real series, "no symbol" for discrete ones), from the zero state. So
    ``p(x_1..x_T) = Π_t p(x_t | h_t)`` covers every observation, the first
    one included (:meth:`log_likelihood`).

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}, default "lstm"
        The recurrent layer: :class:`numbarnn.LSTM`, :class:`numbarnn.GRU`
        or :class:`numbarnn.RNN`.
    hidden_size : int, default 32
    num_layers : int, default 1
    readout : {"gaussian", "categorical"}, default "gaussian"
        ``"gaussian"``: real series (T,) or (T, D), independent Gaussians
        per feature given h_t (a diagonal covariance), from a
        :class:`~numbarnn.train.Linear` head with D means and D
        log-variances. ``"categorical"``: integer sequences over
        ``0..S-1``, fed back one-hot, softmax readout.
    n_states : int, optional
        Alphabet size S (categorical); by default one more than the largest
        symbol :meth:`fit` sees.
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
        For ``cell="rnn"``.
    reset_after : bool, default False
        For ``cell="gru"`` (see :class:`numbarnn.GRU`).
    init : {"pytorch", "keras"}, default "pytorch"
        Initialisation of the recurrent layer (see :mod:`numbarnn.nn.init`).
    seed : int, optional
        Seeds the initialisation, the minibatch order and nothing else
        (sampling takes its own seed).
    dtype : {numpy.float64, numpy.float32}, default float64
        The dtype of the network; likelihoods are summed in float64.

    Attributes
    ----------
    layer_ : RNN, GRU or LSTM
        The fitted recurrent layer.
    readout_ : numbarnn.train.Linear
        The readout: H -> 2 D (means, then log-variances) or H -> S logits.
    mean_, scale_ : ndarray (D,)
        (Gaussian) the training data's mean and standard deviation. The
        network sees ``(x - mean_) / scale_``; predictions are mapped back,
        and likelihoods include the Jacobian ``-Σ log scale_`` per
        observation, so they are in the units of the data.
    n_features_ : int
        D (Gaussian) or S (categorical), the width of the network's input.
    n_states_ : int
        (Categorical) S.
    history_ : numbarnn.train.History
        Losses per epoch (mean negative log-likelihood per scaled element).
    n_obs_ : int
        Observations in the training data.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import LatentAR, datasets
    >>> x = datasets.noisy_sine(400, noise=0.05, seed=0)
    >>> m = LatentAR("gru", hidden_size=8, seed=0).fit(x, window=50, epochs=40, progress=False)
    >>> m.predict(x).shape, m.forecast(10).shape
    ((400,), (10,))
    >>> bool(m.log_likelihood(x) > 0)              # a good fit: density above 1 per step
    True
    """

    def __init__(self, cell="lstm", hidden_size=32, num_layers=1, readout="gaussian",
                 n_states=None, *, nonlinearity="tanh", reset_after=False, init="pytorch",
                 seed=None, dtype=np.float64):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.readout = readout
        self.n_states = n_states
        self.nonlinearity = nonlinearity
        self.reset_after = reset_after
        self.init = init
        self.seed = seed
        self.dtype = dtype

    def __repr__(self):
        args = [f"cell={self.cell!r}", f"hidden_size={self.hidden_size!r}"]
        if self.num_layers != 1:
            args.append(f"num_layers={self.num_layers!r}")
        if self.readout != "gaussian":
            args.append(f"readout={self.readout!r}")
        return f"LatentAR({', '.join(args)})"

    # -- construction ---------------------------------------------------------
    @property
    def _categorical(self):
        return self.readout == "categorical"

    def _build(self, n_in, rng):
        if self.cell not in _CELLS:
            raise ValueError(f"cell: expected one of {sorted(_CELLS)}, got {self.cell!r}")
        if self.readout not in ("gaussian", "categorical"):
            raise ValueError(f"readout: expected 'gaussian' or 'categorical', "
                             f"got {self.readout!r}")
        kwargs = {"nonlinearity": self.nonlinearity} if self.cell == "rnn" else {}
        if self.cell == "gru":
            kwargs["reset_after"] = self.reset_after
        seeds = [int(s) for s in rng.integers(0, 2 ** 31, 2)]
        layer = _CELLS[self.cell](n_in, self.hidden_size, self.num_layers, dtype=self.dtype,
                                  seed=seeds[0], init=self.init, **kwargs)
        n_out = n_in if self._categorical else 2 * n_in
        readout = _train.Linear(self.hidden_size, n_out, dtype=layer.dtype, seed=seeds[1])
        return layer, readout

    def _check_fitted(self):
        if not hasattr(self, "layer_"):
            raise RuntimeError("this LatentAR is not fitted yet; call fit first")

    # -- data ----------------------------------------------------------------
    def _series(self, data, name="data"):
        """``data`` as a list of encoded (T, I) arrays and their targets."""
        if self._categorical:
            seqs = data_.int_sequences(data, self.n_states_, name)
            eye = np.eye(self.n_states_)
            return [eye[s] for s in seqs], seqs
        series, flat = data_.real_series(data, name, self.n_features_, self.univariate_)
        z = [(s - self.mean_) / self.scale_ for s in series]
        return z, z

    def _encoded_with_history(self, data, history):
        """Encoded series of ``data`` with ``history`` prepended: (enc, targets, skip)."""
        enc, tgt = self._series(data)
        if history is None:
            return enc, tgt, 0
        if len(enc) != 1:
            raise ValueError("history: only for a single series")
        h_enc, h_tgt = self._series(history, "history")
        if len(h_enc) != 1:
            raise ValueError("history: expected one series")
        skip = h_enc[0].shape[0]
        return ([np.concatenate([h_enc[0], enc[0]])],
                [np.concatenate([h_tgt[0], tgt[0]])], skip)

    def _outputs(self, encoded):
        """Readout outputs (T_max, B, ·) over a list of encoded series, from the start."""
        x = data_.pack([data_.shifted(e) for e in encoded], 0.0, self.layer_.dtype)
        y, _ = self.layer_.forward(x, keep_cache=False)
        return self.readout_.forward(y).astype(np.float64)

    # -- fitting -------------------------------------------------------------
    def fit(self, data, *, epochs=100, lr=0.01, window=None, stride=None, k=None,
            batch_size=16, validation_split=None, patience=None, clip=1.0, progress=True):
        """Fit by maximum likelihood with Adam (:func:`numbarnn.train.fit`).

        Parameters
        ----------
        data : array_like, or list of them
            One series ((T,) or (T, D) real; (T,) integers for a
            categorical readout) or a list of series (lengths may differ;
            each becomes a column of the batch, padded and masked).
        epochs : int, default 100
        lr : float, default 0.01
            Adam's learning rate.
        window : int, optional
            Cut every series into windows of this many steps, each run from
            the zero state as its own column of the batch (fast, and the
            model learns to predict from short contexts, as
            :meth:`log_likelihood` asks of it at the start of a series).
            None trains on whole series.
        stride : int, optional
            Steps between window starts (default ``window``: no overlap).
        k : int, optional
            Truncated BPTT chunk length within each (window or) series.
        batch_size : int or None, default 16
            Columns (windows or series) per optimizer step, shuffled each
            epoch; None: all at once (one step per epoch).
        validation_split : float, optional
            Hold out the last fraction of every series. The validation loss
            is measured there after running the model over the whole series
            (so the held-out part starts from the state its past leads to);
            windows come from the rest only.
        patience : int, optional
            Early stopping on the validation (else training) loss; the best
            epoch's parameters are kept.
        clip : float or None, default 1.0
            Clip the global gradient norm before each step.
        progress : bool, default True
            Show a tqdm progress bar.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR, datasets
        >>> x = datasets.noisy_sine(300, seed=1)
        >>> m = LatentAR("rnn", hidden_size=8, seed=0).fit(
        ...     x, window=30, epochs=20, validation_split=0.2, patience=5, progress=False)
        >>> m.history_.monitor, m.n_obs_
        ('val_loss', 300)
        """
        rng = np.random.default_rng(self.seed)
        if not isinstance(self.hidden_size, numbers.Integral) or self.hidden_size < 1:
            raise ValueError(f"hidden_size: expected a positive integer, got "
                             f"{self.hidden_size!r}")
        if self._categorical:
            seqs = data_.int_sequences(data)
            S = self.n_states if self.n_states is not None else \
                int(max(s.max() for s in seqs if s.size)) + 1
            if not isinstance(S, numbers.Integral) or S < 2:
                raise ValueError(f"n_states: expected an integer >= 2, got {S!r}")
            data_.int_sequences(seqs, S)
            self.n_states_ = self.n_features_ = int(S)
        else:
            series, flat = data_.real_series(data)
            stacked = np.concatenate(series)
            self.mean_ = stacked.mean(axis=0)
            scale = stacked.std(axis=0)
            # A constant feature keeps unit scale rather than dividing by 0.
            self.scale_ = np.where(scale > 0, scale, 1.0)
            self.n_features_, self.univariate_ = stacked.shape[1], flat
        encoded, targets = self._series(data)
        if any(e.shape[0] == 0 for e in encoded):
            raise ValueError("data: every series needs at least one observation")
        self.n_obs_ = int(sum(e.shape[0] for e in encoded))
        self.layer_, self.readout_ = self._build(self.n_features_, rng)
        x, y, validation = self._training_arrays(encoded, targets, window, stride,
                                                 validation_split)
        loss = data_.masked_categorical if self._categorical else data_.masked_gaussian
        self.history_ = _train.fit(
            self.layer_, self.readout_, x, y, loss=loss, lr=lr, epochs=epochs,
            batch_size=batch_size, k=k, validation=validation, patience=patience, clip=clip,
            seed=int(rng.integers(0, 2 ** 31)), progress=progress)
        self.layer_.eval()
        # Where forecast() continues by default: the end of the last series.
        self._end = self._final_state(encoded[-1])
        return self

    def _training_arrays(self, encoded, targets, window, stride, validation_split):
        """Packed (x, y) of the training part and the validation pair (or None)."""
        if window is not None and (not isinstance(window, numbers.Integral) or window < 1):
            raise ValueError(f"window: expected a positive integer, got {window!r}")
        stride = window if stride is None else stride
        if window is not None and (not isinstance(stride, numbers.Integral) or stride < 1):
            raise ValueError(f"stride: expected a positive integer, got {stride!r}")
        if validation_split is not None and not 0.0 < validation_split < 1.0:
            raise ValueError(f"validation_split: expected a number in (0, 1), "
                             f"got {validation_split!r}")
        dtype = self.layer_.dtype
        fill = -1 if self._categorical else np.nan
        tdtype = np.int64 if self._categorical else dtype
        pieces, val_targets = [], []
        for enc, tgt in zip(encoded, targets):
            inputs = data_.shifted(enc)
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
            validation = (data_.pack([data_.shifted(e) for e in encoded], 0.0, dtype),
                          data_.pack(val_targets, fill, tdtype))
        return x, y, validation

    def _final_state(self, enc):
        """(state after running over ``enc``, next input) for continuing a series."""
        if enc.shape[0] == 0:
            return None, np.zeros((1, self.n_features_), self.layer_.dtype)
        x = data_.shifted(enc)[:, None].astype(self.layer_.dtype)
        _, state = self.layer_.forward(x, keep_cache=False)
        return state, enc[-1:].astype(self.layer_.dtype)

    # -- predictions ---------------------------------------------------------
    def _unscale(self, out):
        D = self.n_features_
        mean = self.mean_ + self.scale_ * out[..., :D]
        std = self.scale_ * np.exp(0.5 * out[..., D:])
        return mean, std

    def _shape(self, a):
        """(…, D) real outputs as the user's layout: drop D for 1-D series."""
        return a[..., 0] if not self._categorical and self.univariate_ else a

    def predict(self, data, *, history=None, return_std=False):
        """One-step-ahead predictions for every observation of ``data``.

        Row t is the prediction of ``data[t]`` from ``data[:t]`` (row 0 from
        the start state, or from the end of ``history``).

        Parameters
        ----------
        data : array_like, or list of them
        history : array_like, optional
            Observations that precede a single series ``data``: the model
            runs over them first; they get no rows.
        return_std : bool, default False
            (Gaussian) also return the predictive standard deviations.

        Returns
        -------
        mean : ndarray (T,) or (T, D)
            (Gaussian) predictive means, in the data's units. A list for a
            list of series.
        std : like ``mean``, with ``return_std``
        proba : ndarray (T, S)
            (Categorical) predictive probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(0.3 * np.arange(200.0))
        >>> m = LatentAR("gru", hidden_size=8, seed=0).fit(x, window=40, epochs=30,
        ...                                                progress=False)
        >>> mean, std = m.predict(x, return_std=True)
        >>> mean.shape, bool((std > 0).all())
        ((200,), True)
        """
        self._check_fitted()
        single = data_.is_single(data)
        enc, _, skip = self._encoded_with_history(data, history)
        out = self._outputs(enc)
        results = []
        for b, e in enumerate(enc):
            o = out[skip:e.shape[0], b]
            if self._categorical:
                results.append(np.exp(data_.log_softmax(o)))
                continue
            mean, std = self._unscale(o)
            results.append((self._shape(mean), self._shape(std)) if return_std
                           else self._shape(mean))
        return results[0] if single else results

    def log_likelihood(self, data, *, history=None):
        """Natural-log likelihood of ``data``, summed over observations and series.

        ``Σ_t log p(x_t | h_t)`` over every observation, the first one
        included: it is scored from the start state (zero state, zero start
        input), so the sum is ``log p(x_1..x_T)`` of the model and compares
        directly with :meth:`numbarnn.MarkovChain.log_likelihood` (which
        also scores the first symbols). For real data the density is that of
        the original units (the scaling's Jacobian is included).
        :meth:`numbarnn.AutoRegressive.log_likelihood` conditions on its
        first τ values instead; to compare on exactly the same observations,
        pass the preceding values as ``history``.

        Parameters
        ----------
        data : array_like, or list of them
        history : array_like, optional
            Observations preceding a single series: conditioned on, not
            scored.

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR, MarkovChain
        >>> x = np.tile([0, 1, 2, 1], 100)
        >>> m = LatentAR("lstm", 8, readout="categorical", seed=0).fit(
        ...     x, window=20, epochs=40, batch_size=4, progress=False)
        >>> bits = -m.log_likelihood(x) / np.log(2) / x.size
        >>> bool(bits < 0.6 < -MarkovChain(order=0).fit(x).log_likelihood(x) / np.log(2) / x.size)
        True
        """
        self._check_fitted()
        enc, tgt, skip = self._encoded_with_history(data, history)
        out = self._outputs(enc)
        total = 0.0
        for b, (e, t) in enumerate(zip(enc, tgt)):
            o, n = out[skip:e.shape[0], b], e.shape[0] - skip
            if self._categorical:
                total += float(data_.log_softmax(o)[np.arange(n), t[skip:]].sum())
                continue
            D = self.n_features_
            mu, logvar = o[:, :D], o[:, D:]
            total += float(-0.5 * np.sum(logvar + (t[skip:] - mu) ** 2 * np.exp(-logvar)
                                         + _LOG_2PI))
            total -= n * float(np.log(self.scale_).sum())
        return total

    # -- model size and information criteria ------------------------------------
    @property
    def n_params(self):
        """Free parameters: every weight and bias of the layer and the readout.

        The scaling's ``mean_`` and ``scale_`` are preprocessing, not counted.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> m = LatentAR("rnn", hidden_size=4, seed=0).fit(np.arange(10.0), epochs=0,
        ...                                               progress=False)
        >>> m.n_params                          # RNN 4*1+4*4+4+4, readout 2*4+2
        38
        """
        self._check_fitted()
        return int(sum(p.size for p in self.params.values()))

    def aic(self, data):
        """``-2 log L + 2 n_params`` on ``data`` (as the Markov and AR models).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(np.arange(50.0))
        >>> m = LatentAR("gru", hidden_size=3, seed=0).fit(x, epochs=2, progress=False)
        >>> bool(np.isclose(m.aic(x), -2 * m.log_likelihood(x) + 2 * m.n_params))
        True
        """
        return -2.0 * self.log_likelihood(data) + 2.0 * self.n_params

    def bic(self, data):
        """``-2 log L + ln(n) n_params``, n the observations (time steps) in ``data``.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(np.arange(50.0))
        >>> m = LatentAR("gru", hidden_size=3, seed=0).fit(x, epochs=2, progress=False)
        >>> bool(np.isclose(m.bic(x), -2 * m.log_likelihood(x) + np.log(50) * m.n_params))
        True
        """
        self._check_fitted()
        n = sum(e.shape[0] for e in self._series(data)[0])
        return -2.0 * self.log_likelihood(data) + np.log(n) * self.n_params

"""Latent autoregressive models: a recurrent state with a probabilistic readout.

``h_t = g(h_{t-1}, [x_{t-1}, exog_t])`` with g an Elman RNN, GRU or LSTM
(stackable), and ``p(x_t | h_t)`` Gaussian (mean and log-variance heads) or
categorical (softmax); the equations are in the docs' "The equations
numbarnn computes" page (section "Latent autoregressive models"). The
recurrence reads the previous observation, so the model is a density over
whole sequences, scored like the Markov and AR models: ``log_likelihood``
is a natural-log sum over observations.
"""
import math
import numbers

import numpy as np

from .. import train as _train
from ..nn import GRU, LSTM, RNN
from . import _latent_data as data_
from . import _latent_io as io_
from . import _pandas
from ._base import ModelBase
from ._latent_grad import ModuleMixin
from ._latent_loop import ClosedLoopMixin
from ._latent_prep import PrepMixin
from ._latent_state import StateMixin

_CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
_LOG_2PI = math.log(2.0 * math.pi)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_bool(v):
    return isinstance(v, (bool, np.bool_))


def _check_bool(name, v):
    if not _is_bool(v):
        raise TypeError(f"{name}: expected a bool, got {type(v).__name__} {v!r}")


def _check_int(name, v, minimum):
    if _is_bool(v) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {v!r}")


def float_dtype(dtype):
    """``dtype`` as numpy float32/float64, or a TypeError naming ``dtype``.

    ``None`` is refused rather than read as numpy's default (and never
    compared with a dtype: numpy 2 has ``np.dtype("f8") == None``).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models.latent import float_dtype
    >>> float_dtype("float32")
    dtype('float32')
    >>> float_dtype("floaty")
    Traceback (most recent call last):
    ...
    TypeError: dtype: expected float32 or float64, got 'floaty'
    """
    bad = TypeError(f"dtype: expected float32 or float64, got {dtype!r}")
    if dtype is None or _is_bool(dtype):
        raise bad
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise bad from None
    if not any(dt == f for f in _FLOATS):
        raise bad
    return dt


class LatentAR(ModelBase, PrepMixin, StateMixin, ModuleMixin, ClosedLoopMixin):
    """Latent autoregressive model over a recurrent network.

    The model reads x_{t-1} (and, when fitted with covariates, exog_t) and
    predicts x_t; before the first observation it reads the *start input*,
    zeros (the mean of the scaled data for real series, "no symbol" for
    discrete ones), from the zero state. So ``p(x_1..x_T) = Π_t p(x_t | h_t)``
    covers every observation, the first one included
    (:meth:`log_likelihood`). The equations are in the docs' math page,
    section "Latent autoregressive models".

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
    warm_start : bool, default False
        scikit-learn's meaning: a second :meth:`fit` continues from the
        fitted weights (and keeps the first fit's scaling) instead of
        starting afresh. Each fit starts a new Adam optimizer.

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
    exog_mean_, exog_scale_ : ndarray (K,)
        (With covariates) their training mean and standard deviation.
    n_features_ : int
        D (Gaussian) or S (categorical), the observation part of the input.
    n_exog_ : int
        K, the number of covariates (0 without).
    n_states_ : int
        (Categorical) S.
    columns_ : list or None
        The column names of a fitted DataFrame (checked on later input).
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

    # The public methods the mixins provide, named in the class body so that the
    # API reference (autodoc lists a class's own members) shows them here.
    forecast = ClosedLoopMixin.forecast
    sample = ClosedLoopMixin.sample
    update = StateMixin.update
    state_dict = StateMixin.state_dict
    load_state_dict = StateMixin.load_state_dict
    params = ModuleMixin.params
    grads = ModuleMixin.grads
    zero_grad = ModuleMixin.zero_grad
    loss_and_grad = ModuleMixin.loss_and_grad
    get_params = ModelBase.get_params
    set_params = ModelBase.set_params
    save = ModelBase.save
    load = ModelBase.__dict__["load"]

    def __init__(self, cell="lstm", hidden_size=32, num_layers=1, readout="gaussian",
                 n_states=None, *, nonlinearity="tanh", reset_after=False, init="pytorch",
                 seed=None, dtype=np.float64, warm_start=False):
        # stored as given (scikit-learn's clone compares them by identity)
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
        self.warm_start = warm_start
        self._check_options()

    def _check_options(self):
        """Validate the constructor arguments (again at fit: set_params may change them)."""
        if not isinstance(self.cell, str) or self.cell not in _CELLS:
            raise ValueError(f"cell: expected one of {sorted(_CELLS)}, got {self.cell!r}")
        if self.readout not in ("gaussian", "categorical"):
            raise ValueError(f"readout: expected 'gaussian' or 'categorical', "
                             f"got {self.readout!r}")
        _check_int("hidden_size", self.hidden_size, 1)
        _check_int("num_layers", self.num_layers, 1)
        if self.n_states is not None:
            _check_int("n_states", self.n_states, 2)
        _check_bool("reset_after", self.reset_after)
        _check_bool("warm_start", self.warm_start)
        if self.seed is not None and (_is_bool(self.seed) or
                                      not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"seed: expected an int or None, got {self.seed!r}")
        return float_dtype(self.dtype)

    def get_config(self):
        """The constructor arguments as JSON values (what :meth:`save` writes).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> LatentAR("gru", 4, dtype=np.float32).get_config()["dtype"]
        'float32'
        """
        config = self.get_params()
        config["dtype"] = float_dtype(self.dtype).name
        for name in ("hidden_size", "num_layers", "n_states", "seed"):
            if config[name] is not None:
                config[name] = int(config[name])
        for name in ("reset_after", "warm_start"):
            config[name] = bool(config[name])
        return config

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (only scikit-learn calls this, so it imports it).

        A plain estimator that needs no target: what ``GridSearchCV`` and
        pipelines ask of a model before fitting it.
        """
        from sklearn.utils import Tags, TargetTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=None, regressor_tags=None, classifier_tags=None)

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

    def _structure(self):
        """What the fitted weights' meaning depends on (checked by a warm start)."""
        return {"cell": self.cell, "hidden_size": int(self.hidden_size),
                "num_layers": int(self.num_layers), "readout": self.readout,
                "nonlinearity": self.nonlinearity if self.cell == "rnn" else None,
                "reset_after": bool(self.reset_after) if self.cell == "gru" else None,
                "dtype": float_dtype(self.dtype).name}

    def _build(self, n_in, n_obs, rng):
        """A fresh layer reading ``n_in`` inputs and a readout for ``n_obs`` features."""
        dtype = self._check_options()
        kwargs = {"nonlinearity": self.nonlinearity} if self.cell == "rnn" else {}
        if self.cell == "gru":
            kwargs["reset_after"] = self.reset_after
        seeds = [int(s) for s in rng.integers(0, 2 ** 31, 2)]
        layer = _CELLS[self.cell](n_in, self.hidden_size, self.num_layers, dtype=dtype,
                                  seed=seeds[0], init=self.init, **kwargs)
        n_out = n_obs if self._categorical else 2 * n_obs
        readout = _train.Linear(self.hidden_size, n_out, dtype=layer.dtype, seed=seeds[1])
        self._built = self._structure()
        return layer, readout

    def _check_fitted(self):
        if not hasattr(self, "layer_"):
            raise RuntimeError("this LatentAR is not fitted yet; call fit first")

    # -- fitting -------------------------------------------------------------
    def fit(self, data, *, exog=None, epochs=100, lr=0.01, window=None, stride=None, k=None,
            batch_size=16, validation_split=None, patience=None, clip=1.0, progress=True):
        """Fit by maximum likelihood with Adam (:func:`numbarnn.train.fit`).

        Parameters
        ----------
        data : array_like or pandas Series/DataFrame, or a list of them
            One series ((T,) or (T, D) real; (T,) integers for a
            categorical readout) or a list of series (lengths may differ;
            each becomes a column of the batch, padded and masked). A
            DataFrame's column names are kept and checked on later input;
            the last series' index is the one :meth:`forecast` continues.
        exog : array_like (T, K) or (T,), pandas, or a list of them, optional
            Covariates, one row per observation (one array per series):
            row t joins x_{t-1} as input of the step that predicts x_t
            (known then, as in an ARX regression). Standardised with their
            training moments. Every later call then needs them too.
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
        self._check_options()
        _check_bool("progress", progress)
        before = dict(self.__dict__)
        try:
            return self._fit(data, exog, epochs, lr, window, stride, k, batch_size,
                             validation_split, patience, clip, progress)
        except BaseException:
            # all or nothing: a failed refit must not leave new scaling on old weights
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, data, exog, epochs, lr, window, stride, k, batch_size, validation_split,
             patience, clip, progress):
        rng = np.random.default_rng(self.seed)
        values, frames, _ = io_.unpack(data)
        warm = self.warm_start and hasattr(self, "layer_")
        if warm:
            changed = {k: (v, self._structure()[k]) for k, v in self._built.items()
                       if self._structure()[k] != v}
            if changed:
                raise ValueError(f"warm_start: the model's arguments changed since the fit "
                                 f"its weights come from ({changed}); set warm_start=False "
                                 f"to start afresh")
        else:
            self._fit_scaling(values, frames, exog)
        encoded, targets = self._series(data)
        if any(e.shape[0] == 0 for e in encoded):
            raise ValueError("data: every series needs at least one observation")
        ex = self._exog(exog, [e.shape[0] for e in encoded])
        self.n_obs_ = int(sum(e.shape[0] for e in encoded))
        if warm:
            self.layer_.train()
        else:
            self.layer_, self.readout_ = self._build(self.n_features_ + self.n_exog_,
                                                     self.n_features_, rng)
        x, y, validation = self._training_arrays(encoded, targets, ex, window, stride,
                                                 validation_split)
        loss = data_.masked_categorical if self._categorical else data_.masked_gaussian
        self.history_ = _train.fit(
            self.layer_, self.readout_, x, y, loss=loss, lr=lr, epochs=epochs,
            batch_size=batch_size, k=k, validation=validation, patience=patience, clip=clip,
            seed=int(rng.integers(0, 2 ** 31)), progress=progress)
        self.layer_.eval()
        # forecast() continues the last series by default; its end state is
        # computed from the current parameters when first needed
        self._set_context(encoded[-1], None if ex is None else ex[-1],
                          frames[-1] if frames else None)
        return self

    def _fit_scaling(self, values, frames, exog):
        """The alphabet or the scaling of data and covariates, from the training data."""
        if self._categorical:
            seqs = data_.int_sequences(values)
            S = self.n_states if self.n_states is not None else \
                int(max(s.max() for s in seqs if s.size)) + 1
            _check_int("n_states", S, 2)
            data_.int_sequences(seqs, S)
            self.n_states_ = self.n_features_ = int(S)
        else:
            series, flat = data_.real_series(values)
            stacked = np.concatenate(series)
            self.mean_ = stacked.mean(axis=0)
            scale = stacked.std(axis=0)
            # A constant feature keeps unit scale rather than dividing by 0.
            self.scale_ = np.where(scale > 0, scale, 1.0)
            self.n_features_, self.univariate_ = stacked.shape[1], flat
        columns = {None if f is None else (None if f.columns is None else tuple(f.columns))
                   for f in (frames or [None])}
        if len(columns) > 1:
            raise ValueError(f"data: the series have different columns {sorted(map(str, columns))}")
        cols = columns.pop()
        self.columns_ = None if cols is None else list(cols)
        self.n_exog_ = 0
        if exog is not None:
            n = [s.shape[0] for s in data_.int_sequences(values)] if self._categorical \
                else [s.shape[0] for s in series]
            stacked = np.concatenate(io_.exog_arrays(exog, n))
            self.exog_mean_ = stacked.mean(axis=0)
            scale = stacked.std(axis=0)
            self.exog_scale_ = np.where(scale > 0, scale, 1.0)
            self.n_exog_ = stacked.shape[1]

    # -- predictions ---------------------------------------------------------
    def _unscale(self, out):
        D = self.n_features_
        mean = self.mean_ + self.scale_ * out[..., :D]
        std = self.scale_ * np.exp(0.5 * out[..., D:])
        return mean, std

    def _shape(self, a):
        """(…, D) real outputs as the user's layout: drop D for 1-D series."""
        return a[..., 0] if not self._categorical and self.univariate_ else a

    def predict(self, data, *, history=None, return_std=False, exog=None, history_exog=None):
        """One-step-ahead predictions for every observation of ``data``.

        Row t is the prediction of ``data[t]`` from ``data[:t]`` (row 0 from
        the start state, or from the end of ``history``).

        Parameters
        ----------
        data : array_like or pandas Series/DataFrame, or a list of them
        history : array_like, optional
            Observations that precede a single series ``data``: the model
            runs over them first; they get no rows.
        return_std : bool, default False
            (Gaussian) also return the predictive standard deviations.
        exog : array_like, optional
            The covariates of ``data`` (one row per observation), for a
            model fitted with them.
        history_exog : array_like, optional
            The covariates of ``history``.

        Returns
        -------
        mean : ndarray (T,) or (T, D)
            (Gaussian) predictive means, in the data's units. A list for a
            list of series. For pandas input, a Series/DataFrame on the
            input's index.
        std : like ``mean``, with ``return_std``
        proba : ndarray (T, S)
            (Categorical) predictive probabilities (a DataFrame, columns
            0..S-1, for pandas input).

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
        _check_bool("return_std", return_std)
        enc, _, ex, skip, frames, single = self._prepared(data, history, exog, history_exog)
        out = self._outputs(enc, ex)
        frames = frames or [None] * len(enc)
        results = []
        for b, (e, frame) in enumerate(zip(enc, frames)):
            o = out[skip:e.shape[0], b]
            index = None if frame is None else frame.index
            if self._categorical:
                results.append(_pandas.wrap(np.exp(data_.log_softmax(o)), frame, index))
                continue
            mean, std = (_pandas.wrap(self._shape(a), frame, index) for a in self._unscale(o))
            results.append((mean, std) if return_std else mean)
        return results[0] if single else results

    def log_likelihood(self, data, *, history=None, exog=None, history_exog=None):
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
        data : array_like or pandas Series/DataFrame, or a list of them
        history : array_like, optional
            Observations preceding a single series: conditioned on, not
            scored.
        exog, history_exog : array_like, optional
            Covariates of ``data`` and ``history``, for a model fitted with
            them.

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
        enc, tgt, ex, skip, _, _ = self._prepared(data, history, exog, history_exog)
        out = self._outputs(enc, ex)
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

    def score(self, data, *, exog=None):
        """Mean log-likelihood per observation (scikit-learn's "higher is better").

        What ``sklearn.model_selection.GridSearchCV`` ranks models by when
        no ``scoring`` is given: ``log_likelihood(data) / n``, n the
        observations (time steps) in ``data``.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(np.arange(50.0))
        >>> m = LatentAR("gru", hidden_size=3, seed=0).fit(x, epochs=2, progress=False)
        >>> bool(np.isclose(m.score(x), m.log_likelihood(x) / 50))
        True
        """
        self._check_fitted()
        n = sum(e.shape[0] for e in self._series(data)[0])
        return self.log_likelihood(data, exog=exog) / n

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

    def aic(self, data, *, exog=None):
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
        return -2.0 * self.log_likelihood(data, exog=exog) + 2.0 * self.n_params

    def bic(self, data, *, exog=None):
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
        return -2.0 * self.log_likelihood(data, exog=exog) + np.log(n) * self.n_params

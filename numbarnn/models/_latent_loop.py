"""Closed-loop use of a fitted :class:`~numbarnn.LatentAR`: forecasts, intervals, samples.

A mixin so that ``latent.py`` holds construction, fitting and scoring, and
this file the loops that feed the model's own outputs back as inputs. The
loops step the layer through :class:`~numbarnn.models._latent_step.Stepper`,
which checks the weights once per call rather than once per step.
"""
import numbers
from collections import namedtuple
from statistics import NormalDist

import numpy as np

from . import _latent_data as data_
from . import _latent_io as io_
from . import _pandas
from ._latent_step import Stepper, check_finite_path

#: What ``forecast(n, alpha=...)`` returns: the mean path and the bounds of
#: the central ``1 - alpha`` predictive interval at every step.
Forecast = namedtuple("Forecast", "mean lower upper")

_DEFAULT_INTERVAL_PATHS = 1000


def _repeat_state(state, B):
    """A batch-1 layer state (or a pair of them) repeated to B rows."""
    if isinstance(state, tuple):
        return tuple(np.repeat(s, B, axis=1) for s in state)
    return np.repeat(state, B, axis=1)


class ClosedLoopMixin:
    """:meth:`forecast` and :meth:`sample` for :class:`~numbarnn.LatentAR`."""

    def _start(self, history, history_exog):
        """((state, next input), frame) to continue: the end state or ``history``'s."""
        if history is None:
            if history_exog is not None:
                raise ValueError("history_exog: given without history")
            return self._end_state(), self._frame
        _, frames, single = io_.unpack(history)
        enc, _ = self._series(history, "history")
        if not single or len(enc) != 1:
            raise ValueError("history: expected one series")
        ex = self._exog(history_exog, [enc[0].shape[0]], "history_exog")
        start = self._final_state(enc[0], None if ex is None else ex[0])
        return start, (frames[0] if frames else None)

    def _future_exog(self, exog, steps):
        """The covariates of the ``steps`` future steps, scaled, in the layer's dtype."""
        if steps == 0 and exog is None:
            return None
        ex = self._exog(exog, [steps], "exog", at_least=True)
        return None if ex is None else ex[0].astype(self.layer_.dtype)

    def _rollout(self, state, u, steps, B, rng, ex):
        """Run ``steps`` closed-loop steps for B paths from (state, u) of batch 1.

        With ``rng`` each step's draw is fed back (sample paths); without, the
        predictive mean (Gaussian) or the probability vector (categorical).
        ``ex`` holds the future covariates (steps, K) or is None.
        Returns (outputs (steps, B, ·) of the readout, draws (steps, B, ·)).
        """
        dtype = self.layer_.dtype
        step = Stepper(self.layer_)
        for name, p in self.readout_.params.items():
            if not np.all(np.isfinite(p)):
                raise ValueError(f"the model's parameter 'readout.{name}' contains NaN or Inf")
        weight = self.readout_.params["weight"]
        bias = self.readout_.params.get("bias")
        state = None if state is None else _repeat_state(state, B)
        u = np.repeat(u, B, axis=0).astype(dtype)
        width = self.readout_.out_features
        outs = np.empty((steps, B, width))
        draws = []
        eye = np.eye(self.n_features_, dtype=dtype)
        D = self.n_features_
        for t in range(steps):
            inp = u if ex is None else np.concatenate(
                [u, np.broadcast_to(ex[t], (B, ex.shape[1]))], axis=1)
            y, state = step(inp, state)
            o = y @ weight.T  # the readout's arithmetic, without its per-call checks
            if bias is not None:
                o += bias
            o = outs[t] = o.astype(np.float64)
            if self._categorical:
                p = np.exp(data_.log_softmax(o))
                if rng is None:
                    u = p.astype(dtype)
                    continue
                # Inverse-CDF draw per row from numpy uniforms.
                cum = np.cumsum(p, axis=1)
                s = np.minimum((rng.random((B, 1)) > cum).sum(axis=1), D - 1)
                draws.append(s)
                u = eye[s]
            else:
                z = o[:, :D]
                if rng is not None:
                    z = z + np.exp(0.5 * o[:, D:]) * rng.standard_normal((B, D))
                    draws.append(z)
                u = z.astype(dtype)
        check_finite_path(outs, "the closed-loop forecast")
        return outs, draws

    @staticmethod
    def _check_steps(name, n):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {n!r}")
        return int(n)

    def forecast(self, steps, history=None, *, n_paths=None, seed=None, alpha=None,
                 exog=None, history_exog=None):
        """Closed-loop forecast: each step's predictive mean is the next input.

        Parameters
        ----------
        steps : int
        history : array_like or pandas Series/DataFrame, optional
            The series to continue; by default the end of the (last) fitted
            series, advanced by every :meth:`update` since, computed with the
            current parameters.
        n_paths : int, optional
            Also draw this many sample paths, each feeding back its own
            draws (the spread of possible futures, which the mean path
            does not show). With ``alpha``: the paths the interval is
            estimated from (default 1000).
        seed : int or numpy.random.Generator, optional
            For the sample paths.
        alpha : float in (0, 1), optional
            (Gaussian) Return the mean path with the central ``1 - alpha``
            predictive interval of every step, per feature. The first step's
            predictive distribution is exactly Gaussian, so its bounds are
            analytic; later steps mix over the uncertain past, and their
            bounds are the ``alpha/2`` and ``1 - alpha/2`` quantiles of the
            sample paths.
        exog : array_like (steps, K), optional
            For a model fitted with covariates: those of the forecast
            steps (required; extra rows are ignored).
        history_exog : array_like, optional
            The covariates of ``history``.

        Returns
        -------
        mean : ndarray (steps,) or (steps, D)
            (Gaussian) the mean path; (categorical) ndarray (steps, S) of
            probabilities, feeding back the probability vector (the mean of
            the one-hot input). For a nonlinear model the mean path is not
            the mean of the predictive distribution; ``paths.mean(axis=0)``
            estimates that. A pandas Series/DataFrame continuing the index
            when the model was fitted (or ``history`` given) as pandas.
        paths : ndarray (n_paths, steps, ...), only with ``n_paths`` and no ``alpha``
        Forecast
            With ``alpha``, instead: the namedtuple ``(mean, lower, upper)``,
            ``mean`` as above.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(0.3 * np.arange(300.0))
        >>> m = LatentAR("lstm", hidden_size=8, seed=0).fit(x, window=50, epochs=5,
        ...                                                 progress=False)
        >>> mean, paths = m.forecast(20, n_paths=3, seed=0)
        >>> mean.shape, paths.shape
        ((20,), (3, 20))
        >>> f = m.forecast(20, alpha=0.1, seed=0)
        >>> bool((f.lower < f.mean).all() and (f.mean < f.upper).all())
        True
        """
        self._check_fitted()
        steps = self._check_steps("steps", steps)
        if alpha is not None:
            if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real) \
                    or not 0.0 < alpha < 1.0:
                raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
            if self._categorical:
                raise ValueError("alpha: a categorical readout forecasts probabilities "
                                 "(every symbol's), so it has no interval")
        (state, u), frame = self._start(history, history_exog)
        ex = self._future_exog(exog, steps)
        outs, _ = self._rollout(state, u, steps, 1, None, ex)
        if self._categorical:
            mean = np.exp(data_.log_softmax(outs[:, 0]))
        else:
            mean = self._unscale(outs[:, 0])[0]
        index = None if frame is None else _pandas.future_index(frame, steps)
        if alpha is None:
            mean = _pandas.wrap(self._shape(mean), frame, index)
            if n_paths is None:
                return mean
            return mean, self._paths(state, u, steps, n_paths, seed, ex)
        n_paths = _DEFAULT_INTERVAL_PATHS if n_paths is None else n_paths
        if self._check_steps("n_paths", n_paths) < 1:
            raise ValueError("n_paths: an interval needs at least one sample path, got 0")
        paths = self._paths(state, u, steps, n_paths, seed, ex, shaped=False)
        lower, upper = np.quantile(paths, [alpha / 2, 1 - alpha / 2], axis=0)
        if steps:
            m0, s0 = self._unscale(outs[0, 0])
            z = NormalDist().inv_cdf(1 - alpha / 2)
            lower[0], upper[0] = m0 - z * s0, m0 + z * s0
        return Forecast(*(_pandas.wrap(self._shape(a), frame, index)
                          for a in (mean, lower, upper)))

    def _paths(self, state, u, steps, n_paths, seed, ex, shaped=True):
        n_paths = self._check_steps("n_paths", n_paths)
        _, draws = self._rollout(state, u, steps, n_paths, np.random.default_rng(seed), ex)
        if self._categorical:
            return np.array(draws, dtype=np.int64).reshape(steps, n_paths).T.copy()
        z = np.array(draws).reshape(steps, n_paths, self.n_features_)
        paths = np.ascontiguousarray((self.mean_ + self.scale_ * z).transpose(1, 0, 2))
        return self._shape(paths) if shaped else paths

    def sample(self, n, seed=None, *, history=None, n_paths=None, exog=None,
               history_exog=None):
        """Draw a series of ``n`` observations from the model.

        Starts from the start state (or continues ``history``) and feeds
        each draw back. Random numbers come from numpy.

        Parameters
        ----------
        n : int
        seed : int or numpy.random.Generator, optional
        history : array_like, optional
        n_paths : int, optional
            Draw this many independent series at once.
        exog : array_like (n, K), optional
            For a model fitted with covariates: those of the n steps.
        history_exog : array_like, optional
            The covariates of ``history``.

        Returns
        -------
        ndarray (n,) or (n, D) (int64 for categorical), with a leading
        ``n_paths`` axis when it is given.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> m = LatentAR("gru", 4, readout="categorical", seed=0).fit(
        ...     [0, 1, 2] * 20, epochs=3, progress=False)
        >>> m.sample(5, seed=0).shape, m.sample(5, seed=0, n_paths=2).shape
        ((5,), (2, 5))
        """
        self._check_fitted()
        n = self._check_steps("n", n)
        if history is None:
            if history_exog is not None:
                raise ValueError("history_exog: given without history")
            state, u = None, np.zeros((1, self.n_features_), self.layer_.dtype)
        else:
            (state, u), _ = self._start(history, history_exog)
        ex = self._future_exog(exog, n)
        paths = self._paths(state, u, n, 1 if n_paths is None else n_paths, seed, ex)
        return paths[0] if n_paths is None else paths

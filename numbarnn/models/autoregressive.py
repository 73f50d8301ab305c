"""Fixed-window autoregressive models AR(τ) and VAR(τ).

``x_t = c (+ b t) + Σ_{j=1..τ} A_j x_{t-j} + ε_t``, ``ε_t ~ N(0, Σ)``
(docs/math.md), fitted by conditional least squares: the first τ values
are conditioned on, exactly as statsmodels ``AutoReg`` and ``VAR`` do, so
coefficients, variances and log-likelihoods agree with theirs.
"""
import numpy as np
import scipy.linalg

from . import _kernels
from ._base import ModelBase

_TRENDS = {"n": 0, "c": 1, "ct": 2}


def _as_series(series, name="series", check_finite=True):
    """(T,) or (T, D) real array -> ((T, D) float64, was it 1-D)."""
    a = np.asarray(series)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a real-valued array, got dtype {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (T,) or (T, D), got {a.shape}")
    a = a.astype(np.float64)
    if check_finite and not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf (pass check_finite=False to skip)")
    return (a[:, None] if a.ndim == 1 else a), a.ndim == 1


def _deterministic(trend, times):
    """Columns of the deterministic terms at 1-based times ``times``."""
    cols = [np.ones_like(times), times][:_TRENDS[trend]]
    return np.stack(cols, axis=1) if cols else np.empty((times.size, 0))


def _design(x, order, trend, hold_back):
    """Regressors [det, x_{t-1}, ..., x_{t-τ}] and targets x_t, t >= hold_back."""
    T = x.shape[0]
    rows = np.arange(hold_back, T)
    lags = [x[rows - j] for j in range(1, order + 1)]
    X = np.hstack([_deterministic(trend, rows + 1.0)] + lags)
    return X, x[hold_back:]


class AutoRegressive(ModelBase):
    """Gaussian AR(τ) model for (T,) series, VAR(τ) for (T, D) series.

    Parameters
    ----------
    order : int
        τ, the number of lags (0 allowed: deterministic terms and noise).
    trend : {"c", "n", "ct"}, default "c"
        Constant, none, or constant plus linear time trend ``b t`` where
        ``t = 1, 2, ...`` is the position in the series (statsmodels
        ``AutoReg``'s and ``VAR``'s convention).

    Attributes
    ----------
    intercept_ : float or ndarray (D,)
        ``c``.
    trend_coef_ : float or ndarray (D,)
        ``b`` (0 unless ``trend="ct"``).
    coef_ : ndarray (τ,) or (τ, D, D)
        Lag 1 first; ``coef_[j] @ x_{t-1-j}`` for a VAR (statsmodels
        ``VARResults.coefs``).
    sigma2_ : float
        (1-D series) maximum-likelihood residual variance ``SSR / nobs``
        (statsmodels ``AutoRegResults.sigma2``).
    sigma_ : ndarray (D, D)
        (2-D series) maximum-likelihood residual covariance ``R.T R / nobs``,
        statsmodels ``VARResults.sigma_u_mle`` (their ``sigma_u`` divides by
        ``nobs - D τ - k_trend`` instead: ``sigma_ * nobs_ / df`` gives it).
    nobs_ : int
        Conditioned observations, ``T - τ``.
    llf_ : float
        Log-likelihood of the training series.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import AutoRegressive, datasets
    >>> x = datasets.arma([0.6, -0.3], [], n=5000, seed=0)
    >>> m = AutoRegressive(order=2).fit(x)
    >>> m.coef_.round(2)
    array([ 0.6 , -0.29])
    >>> m.forecast(3).shape
    (3,)
    """

    def __init__(self, order, trend="c"):
        self.order = order
        self.trend = trend

    def _check_params(self):
        if not isinstance(self.order, (int, np.integer)) or self.order < 0:
            raise ValueError(f"order: expected a non-negative integer, got {self.order!r}")
        if self.trend not in _TRENDS:
            raise ValueError(f"trend: expected one of 'n', 'c', 'ct', got {self.trend!r}")

    def fit(self, series, *, check_finite=True):
        """Conditional least squares on ``series`` ((T,) or (T, D)).

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.random.default_rng(0).standard_normal((300, 2)).cumsum(0)
        >>> AutoRegressive(order=1).fit(x).coef_.shape
        (1, 2, 2)
        """
        self._check_params()
        x, univariate = _as_series(series, check_finite=check_finite)
        return self._fit(x, univariate, hold_back=self.order)

    def _fit(self, x, univariate, hold_back):
        tau, D = int(self.order), x.shape[1]
        k = _TRENDS[self.trend] + tau * D
        if x.shape[0] - hold_back <= k:
            raise ValueError(f"series: {x.shape[0]} observations are too few for order={tau}"
                             f" with trend={self.trend!r} (need more than {hold_back + k})")
        # Validated copies: fit never rewrites the constructor's parameters.
        self._tau, self._trend = tau, self.trend
        X, Y = _design(x, tau, self.trend, hold_back)
        B = scipy.linalg.lstsq(X, Y)[0] if k else np.zeros((0, D))
        resid = Y - X @ B
        self._set_params(B, resid.T @ resid / resid.shape[0], D, univariate)
        self.nobs_ = resid.shape[0]
        self._last = x[x.shape[0] - tau:].copy()  # where forecast() starts
        self._t_end = x.shape[0]
        self.llf_ = self._loglik(resid)
        return self

    def _set_params(self, B, sigma, D, univariate):
        self._B, self._sigma, self.univariate_ = B, sigma, univariate
        kt = _TRENDS[self._trend]
        det = np.zeros((2, D))
        det[:kt] = B[:kt]
        # (τ D, D) block of lag j holds A_j transposed: x_t^T = x_{t-j}^T A_j^T.
        coef = B[kt:].reshape(self._tau, D, D).transpose(0, 2, 1)
        self._coef3 = np.ascontiguousarray(coef)
        if univariate:
            self.intercept_, self.trend_coef_ = float(det[0, 0]), float(det[1, 0])
            self.coef_ = coef[:, 0, 0].copy()
            self.sigma2_ = float(sigma[0, 0])
        else:
            self.intercept_, self.trend_coef_ = det[0].copy(), det[1].copy()
            self.coef_ = self._coef3.copy()
            self.sigma_ = sigma.copy()

    def _check_fitted(self):
        if not hasattr(self, "_B"):
            raise RuntimeError("this AutoRegressive is not fitted yet; call fit first")

    def _input(self, series, name="series"):
        self._check_fitted()
        x, univariate = _as_series(series, name)
        D = self._sigma.shape[0]
        if univariate != self.univariate_ or x.shape[1] != D:
            want = "(T,)" if self.univariate_ else f"(T, {D})"
            raise ValueError(f"{name}: expected shape {want} like the fitted series, "
                             f"got {np.shape(series)}")
        return x

    def _out(self, a):
        return a[:, 0] if self.univariate_ else a

    def _loglik(self, resid):
        n, D = resid.shape
        L = scipy.linalg.cholesky(self._sigma, lower=True)
        z = scipy.linalg.solve_triangular(L, resid.T, lower=True)
        logdet = 2.0 * np.log(np.diag(L)).sum()
        return float(-0.5 * (n * D * np.log(2 * np.pi) + n * logdet + np.sum(z * z)))

    @property
    def n_params(self):
        """Free parameters: τ D² lag + k_trend D deterministic + D(D+1)/2 noise.

        For a 1-D series ``τ + k_trend + 1``, as in statsmodels ``AutoReg``'s
        ``aic`` (``df_model + 1``).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> AutoRegressive(order=3).fit(np.sin(np.arange(50.0))).n_params
        5
        """
        self._check_fitted()
        D = self._sigma.shape[0]
        return self._tau * D * D + _TRENDS[self._trend] * D + D * (D + 1) // 2

    def predict(self, series):
        """One-step-ahead predictions of ``series[τ:]`` from the values before.

        Returns
        -------
        ndarray (T - τ,) or (T - τ, D)
            Row ``i`` predicts ``series[τ + i]``; times for ``trend="ct"``
            count from 1 at ``series[0]``.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = 0.5 ** np.arange(10.0)
        >>> AutoRegressive(order=1, trend="n").fit(x).predict(x)[:2]
        array([0.5 , 0.25])
        """
        x = self._input(series)
        if x.shape[0] <= self._tau:
            raise ValueError(f"series: needs more than order={self._tau} values, "
                             f"got {x.shape[0]}")
        X, _ = _design(x, self._tau, self._trend, self._tau)
        return self._out(X @ self._B)

    def log_likelihood(self, series):
        """Conditional Gaussian log-likelihood of ``series`` (natural log, summed).

        ``Σ_{t>τ} log N(x_t; prediction_t, Σ)``, conditioned on the first τ
        values; on the training series it equals statsmodels ``llf``.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.random.default_rng(1).standard_normal(500)
        >>> m = AutoRegressive(order=2).fit(x)
        >>> bool(np.isclose(m.log_likelihood(x), m.llf_))
        True
        """
        x = self._input(series)
        resid = x[self._tau:] - self.predict(series).reshape(-1, x.shape[1])
        return self._loglik(resid)

    def aic(self, series):
        """``-2 log L + 2 n_params`` on ``series`` (statsmodels ``AutoReg.aic``).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.random.default_rng(1).standard_normal(500)
        >>> m = AutoRegressive(order=1).fit(x)
        >>> bool(np.isclose(m.aic(x), -2 * m.llf_ + 2 * 3))
        True
        """
        return -2.0 * self.log_likelihood(series) + 2.0 * self.n_params

    def bic(self, series):
        """``-2 log L + ln(nobs) n_params``, ``nobs = T - τ``.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.random.default_rng(1).standard_normal(500)
        >>> m = AutoRegressive(order=1).fit(x)
        >>> bool(np.isclose(m.bic(x), -2 * m.llf_ + np.log(499) * 3))
        True
        """
        nobs = np.shape(series)[0] - self._tau
        return -2.0 * self.log_likelihood(series) + np.log(nobs) * self.n_params

    @classmethod
    def select_order(cls, series, max_order, *, ic="aic", trend="c"):
        """Fit orders ``0..max_order`` and return the best by ``ic``, refitted.

        Every candidate is fitted on the same sample, ``series[max_order:]``
        (statsmodels ``ar_select_order`` and ``VAR.select_order`` do the
        same), so the criteria compare like with like; the winner is then
        refitted on the whole series. Ties go to the smaller order.

        Parameters
        ----------
        series : array_like (T,) or (T, D)
        max_order : int
        ic : {"aic", "bic"}
        trend : {"c", "n", "ct"}

        Returns
        -------
        AutoRegressive
            Fitted, with ``ic_values_`` = {order: criterion on the common
            sample}.

        Examples
        --------
        >>> from numbarnn import AutoRegressive, datasets
        >>> x = datasets.arma([0.5, 0.0, 0.3], [], n=3000, seed=1)
        >>> AutoRegressive.select_order(x, 6, ic="bic").order
        3
        """
        if ic not in ("aic", "bic"):
            raise ValueError(f"ic: expected 'aic' or 'bic', got {ic!r}")
        if not isinstance(max_order, (int, np.integer)) or max_order < 0:
            raise ValueError(f"max_order: expected a non-negative integer, got {max_order!r}")
        x, univariate = _as_series(series)
        values = {}
        for p in range(max_order + 1):
            m = cls(p, trend)
            m._check_params()
            m._fit(x, univariate, hold_back=max_order)
            pen = 2.0 if ic == "aic" else np.log(m.nobs_)
            values[p] = -2.0 * m.llf_ + pen * m.n_params
        best = min(values, key=values.get)
        model = cls(best, trend).fit(series)
        model.ic_values_ = values
        return model

    def _run(self, start, t0, steps, noise):
        """Recursion from ``start`` (τ, D) at times t0+1, ..., t0+steps."""
        D = self._sigma.shape[0]
        out = np.zeros((self._tau + steps, D))
        out[:self._tau] = start
        drift = np.zeros_like(out)
        t = t0 + np.arange(1.0, steps + 1)
        drift[self._tau:] = _deterministic(self._trend, t) @ self._B[:_TRENDS[self._trend]]
        full_noise = np.zeros_like(out)
        full_noise[self._tau:] = noise
        _kernels.ar_recursion(out, self._coef3, drift, full_noise)
        return out[self._tau:]

    def forecast(self, steps, history=None):
        """Closed-loop forecast: each prediction is fed back as the next input.

        Parameters
        ----------
        steps : int
        history : array_like, optional
            Series to continue (its last τ values, times ``len(history)+1``
            on); by default the end of the fitted series.

        Returns
        -------
        ndarray (steps,) or (steps, D)

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = 0.5 ** np.arange(10.0)
        >>> AutoRegressive(order=1, trend="n").fit(x).forecast(2, history=[4.0])
        array([2., 1.])
        """
        self._check_fitted()
        if not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
        if history is None:
            start, t0 = self._last, self._t_end
        else:
            h = self._input(history, "history")
            if h.shape[0] < self._tau:
                raise ValueError(f"history: needs at least order={self._tau} values, "
                                 f"got {h.shape[0]}")
            start, t0 = h[h.shape[0] - self._tau:], h.shape[0]
        D = self._sigma.shape[0]
        return self._out(self._run(start, t0, steps, np.zeros((steps, D))))

    def simulate(self, n, seed=None, *, burn=100):
        """Simulate ``n`` values of the fitted process.

        Starts from zeros ``burn`` steps before the returned part (times
        ``1-burn..0``; the returned values have times ``1..n``) and drops
        the burn-in. Noise ``N(0, Σ)`` is drawn with numpy, outside the
        kernel.

        Parameters
        ----------
        n : int
        seed : int, numpy.random.Generator or None
        burn : int, default 100

        Returns
        -------
        ndarray (n,) or (n, D)

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive, datasets
        >>> m = AutoRegressive(order=2).fit(datasets.arma([0.6, -0.3], [], n=2000, seed=0))
        >>> y = m.simulate(20000, seed=1)
        >>> bool(abs(y.std() - datasets.arma([0.6, -0.3], [], n=20000, seed=2).std()) < 0.05)
        True
        """
        self._check_fitted()
        for name, v in (("n", n), ("burn", burn)):
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        rng = np.random.default_rng(seed)
        w, V = np.linalg.eigh(self._sigma)
        root = V * np.sqrt(np.maximum(w, 0.0))  # root @ root.T = Σ, even if singular
        D = self._sigma.shape[0]
        noise = rng.standard_normal((n + burn, D)) @ root.T
        out = self._run(np.zeros((self._tau, D)), -float(burn), n + burn, noise)
        return self._out(out[burn:])

"""Fixed-window autoregressive models AR(τ) and VAR(τ), with exogenous inputs.

``x_t = c (+ b t) + Σ_{j=1..τ} A_j x_{t-j} (+ G z_t) + ε_t``, ``ε_t ~ N(0, Σ)``
(the equations are in the documentation's math page, "Fixed-window
autoregressive models"), fitted by conditional least squares: the first τ
values are conditioned on, exactly as statsmodels ``AutoReg`` and ``VAR``
do, so coefficients, variances, standard errors, log-likelihoods and
forecast intervals agree with theirs. Regressors live in :mod:`._ar_design`,
inference in :mod:`._ar_inference`.
"""
import numpy as np
import scipy.linalg
import scipy.stats

from . import _ar_inference as _inf
from . import _ar_state, _kernels, _pandas
from ._ar_design import (TRENDS, as_exog, as_series, check_aligned, check_t0, deterministic,
                         design, exog_names, param_names, peer_permutation, series_names)
from ._base import ModelBase


class AutoRegressive(ModelBase):
    """Gaussian AR(τ) model for (T,) series, VAR(τ) for (T, D) series.

    Parameters
    ----------
    order : int
        τ, the number of lags (0 allowed: deterministic terms and noise).
    trend : {"c", "n", "ct"}, default "c"
        Constant, none, or constant plus linear time trend ``b t``. Time is
        counted on the *training clock*: ``t = 1`` at the first training
        sample (statsmodels ``AutoReg``'s and ``VAR``'s convention). A
        time-trend model must therefore be told where other data sit on
        that clock: ``predict``, ``log_likelihood``, ``forecast(history=)``
        and ``simulate(history=)`` take ``t0``, the 0-based time index of
        the first given sample (the training series starts at ``t0=0``),
        and raise ValueError without it.

    Attributes
    ----------
    intercept_ : float or ndarray (D,)
        ``c``.
    trend_coef_ : float or ndarray (D,)
        ``b`` (0 unless ``trend="ct"``).
    coef_ : ndarray (τ,) or (τ, D, D)
        Lag 1 first; ``coef_[j] @ x_{t-1-j}`` for a VAR (statsmodels
        ``VARResults.coefs``).
    exog_coef_ : ndarray (k,) or (D, k)
        ``G``, the coefficients of the current exog row (empty without exog).
    sigma2_ : float
        (1-D series) maximum-likelihood residual variance ``SSR / nobs``
        (statsmodels ``AutoRegResults.sigma2``).
    sigma_ : ndarray (D, D)
        (2-D series) maximum-likelihood residual covariance ``R.T R / nobs``,
        statsmodels ``VARResults.sigma_u_mle``.
    sigma_u_ : ndarray (D, D)
        (2-D series) residual covariance ``R.T R / (nobs - k)``, k regressors
        per equation: statsmodels ``VARResults.sigma_u``, the one its standard
        errors and forecast intervals use.
    params_, bse_, tvalues_, pvalues_ : ndarray (k,) or (k, D)
        All coefficients, their standard errors, z-statistics and two-sided
        normal p-values, in statsmodels' order and layout (``AutoReg``:
        const, trend, lags, exog; ``VAR``: one column per equation, rows
        const, trend, exog, lags); names in ``param_names_``.
    nobs_ : int
        Conditioned observations, ``T - τ``.
    k_exog_ : int
        Number of exogenous regressors (0 without exog).
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
    >>> m.forecast(3, alpha=0.05).lower.shape
    (3,)
    """

    def __init__(self, order, trend="c"):
        self.order = order
        self.trend = trend

    def __getstate__(self):
        return _ar_state.getstate(self)

    def __setstate__(self, state):
        _ar_state.setstate(self, state)

    def _check_params(self):
        if isinstance(self.order, (bool, np.bool_)) or not isinstance(
                self.order, (int, np.integer)) or self.order < 0:
            raise ValueError(f"order: expected a non-negative integer, got {self.order!r}")
        if self.trend not in TRENDS:
            raise ValueError(f"trend: expected one of 'n', 'c', 'ct', got {self.trend!r}")

    # -- fitting -----------------------------------------------------------------
    def fit(self, series, exog=None, *, check_finite=True):
        """Conditional least squares on ``series`` ((T,) or (T, D)).

        Parameters
        ----------
        series : array_like (T,) or (T, D), or a pandas Series/DataFrame
            A pandas input's index is remembered: ``forecast()`` continues
            it and names results after the input's name or columns.
        exog : array_like (T,) or (T, k), optional
            Exogenous regressors, one row per sample: x_t is regressed on
            its lags and on ``exog[t]`` (statsmodels ``AutoReg(exog=)`` and
            ``VAR(exog=)``).
        check_finite : bool, default True

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
        values, frame = _pandas.split(series)
        x, univariate = as_series(values, check_finite=check_finite)
        ex = as_exog(exog, x.shape[0], None, check_finite=check_finite) if exog is not None \
            else None
        check_aligned(None if frame is None else frame.index, exog)
        self._fit(x, univariate, hold_back=self.order, ex=ex)
        self._frame = frame
        self.series_names_ = series_names(frame, x.shape[1], univariate)
        self.exog_names_ = exog_names(exog, self.k_exog_) if ex is not None else []
        self._set_inference()
        return self

    def _fit(self, x, univariate, hold_back, ex=None):
        tau, D = int(self.order), x.shape[1]
        kx = 0 if ex is None else ex.shape[1]
        k = TRENDS[self.trend] + tau * D + kx
        if x.shape[0] - hold_back <= k:
            raise ValueError(f"series: {x.shape[0]} observations are too few for order={tau}"
                             f" with trend={self.trend!r} and {kx} exog column(s) (need more"
                             f" than {hold_back + k})")
        # Validated copies: fit never rewrites the constructor's parameters.
        self._tau, self._trend, self.k_exog_ = tau, self.trend, kx
        X, Y = design(x, tau, self.trend, hold_back, 0, ex)
        B, _, rank, _ = scipy.linalg.lstsq(X, Y) if k else (np.zeros((0, D)), 0, 0, 0)
        resid = Y - X @ B
        self._set_params(B, resid.T @ resid / resid.shape[0], univariate)
        self.nobs_ = resid.shape[0]
        self._last = x[x.shape[0] - tau:].copy()  # where forecast() starts
        self._t_end = x.shape[0]
        self.llf_ = self._loglik(resid)
        # (XᵀX)⁻¹ through QR, not by inverting XᵀX: a time trend makes XᵀX
        # ill-conditioned enough to cost digits of the standard errors. A
        # rank-deficient design (collinear exog) gets statsmodels' pinv(X) pinv(X)ᵀ.
        if k and rank == k:
            R = scipy.linalg.qr(X, mode="economic")[1]
            Rinv = scipy.linalg.solve_triangular(R, np.eye(k))
            self._xtx_inv = Rinv @ Rinv.T
        elif k:
            P = np.linalg.pinv(X)
            self._xtx_inv = P @ P.T
        else:
            self._xtx_inv = np.zeros((0, 0))
        return self

    def _set_params(self, B, sigma, univariate):
        D = sigma.shape[0]
        self._B, self._sigma, self.univariate_ = B, sigma, univariate
        kt, tau = TRENDS[self._trend], self._tau
        det = np.zeros((2, D))
        det[:kt] = B[:kt]
        # (τ D, D) block of lag j holds A_j transposed: x_t^T = x_{t-j}^T A_j^T.
        coef = B[kt:kt + tau * D].reshape(tau, D, D).transpose(0, 2, 1)
        self._coef3 = np.ascontiguousarray(coef)
        exog_coef = B[kt + tau * D:].T  # (D, k)
        if univariate:
            self.intercept_, self.trend_coef_ = float(det[0, 0]), float(det[1, 0])
            self.coef_ = coef[:, 0, 0].copy()
            self.exog_coef_ = exog_coef[0].copy()
            self.sigma2_ = float(sigma[0, 0])
        else:
            self.intercept_, self.trend_coef_ = det[0].copy(), det[1].copy()
            self.coef_ = self._coef3.copy()
            self.exog_coef_ = exog_coef.copy()
            self.sigma_ = sigma.copy()

    def _set_inference(self):
        """params_, bse_, tvalues_, pvalues_, sigma_u_ from the fitted state."""
        D, k = self._sigma.shape[0], self._B.shape[0]
        perm = peer_permutation(TRENDS[self._trend], self._tau, D, self.k_exog_,
                                self.univariate_)
        params = self._B[perm]
        scale = self._sigma
        if not self.univariate_:
            self.sigma_u_ = self._sigma * self.nobs_ / (self.nobs_ - k)
            scale = self.sigma_u_
        self.params_ = params[:, 0].copy() if self.univariate_ else params
        self.bse_ = _inf.coef_std(scale, self._xtx_inv, perm, self.univariate_)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.tvalues_ = self.params_ / self.bse_
        self.pvalues_ = 2.0 * scipy.stats.norm.sf(np.abs(self.tvalues_))
        self.param_names_ = param_names(self._trend, self._tau, D, self.exog_names_,
                                        self.series_names_, self.univariate_)

    def _check_fitted(self):
        if not hasattr(self, "_B"):
            raise RuntimeError("this AutoRegressive is not fitted yet; call fit first")

    def _input(self, series, name="series"):
        self._check_fitted()
        x, univariate = as_series(series, name)
        D = self._sigma.shape[0]
        if univariate != self.univariate_ or x.shape[1] != D:
            want = "(T,)" if self.univariate_ else f"(T, {D})"
            raise ValueError(f"{name}: expected shape {want} like the fitted series, "
                             f"got {np.shape(series)}")
        return x

    def _out(self, a, frame=None, index=None):
        a = a[:, 0] if self.univariate_ else a
        return _pandas.wrap(a, frame, index)

    def _loglik(self, resid):
        n, D = resid.shape
        L = scipy.linalg.cholesky(self._sigma, lower=True)
        z = scipy.linalg.solve_triangular(L, resid.T, lower=True)
        logdet = 2.0 * np.log(np.diag(L)).sum()
        return float(-0.5 * (n * D * np.log(2 * np.pi) + n * logdet + np.sum(z * z)))

    @property
    def n_params(self):
        """Free parameters: τ D² lag + (k_trend + k_exog) D regression + D(D+1)/2 noise.

        For a 1-D series ``τ + k_trend + k_exog + 1``, as in statsmodels
        ``AutoReg``'s ``aic`` (``df_model + 1``).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> AutoRegressive(order=3).fit(np.sin(np.arange(50.0))).n_params
        5
        """
        self._check_fitted()
        D = self._sigma.shape[0]
        return self._B.shape[0] * D + D * (D + 1) // 2

    # -- in-sample use ---------------------------------------------------------------
    def _predict(self, series, exog, t0):
        values, frame = _pandas.split(series)
        x = self._input(values)
        if x.shape[0] <= self._tau:
            raise ValueError(f"series: needs more than order={self._tau} values, "
                             f"got {x.shape[0]}")
        start = check_t0(t0, self._trend)
        ex = as_exog(exog, x.shape[0], self.k_exog_)
        check_aligned(None if frame is None else frame.index, exog)
        X, Y = design(x, self._tau, self._trend, self._tau, start, ex)
        return X @ self._B, Y, frame

    def predict(self, series, exog=None, *, t0=None):
        """One-step-ahead predictions of ``series[τ:]`` from the values before.

        Parameters
        ----------
        series : array_like (T,) or (T, D), or a pandas Series/DataFrame
        exog : array_like (T,) or (T, k), optional
            Required (and only allowed) when the model was fitted with exog:
            the exog row of every sample of ``series``.
        t0 : int, optional
            Time index of ``series[0]`` on the training clock (0 for the
            training series itself). Required when ``trend="ct"``; ignored
            otherwise.

        Returns
        -------
        ndarray (T - τ,) or (T - τ, D), or a pandas Series/DataFrame
            Row ``i`` predicts ``series[τ + i]``. A pandas input gives a
            pandas result on the last ``T - τ`` labels of its index.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = 0.5 ** np.arange(10.0)
        >>> AutoRegressive(order=1, trend="n").fit(x).predict(x)[:2]
        array([0.5 , 0.25])
        >>> y = np.arange(20.0) + 0.1 * np.sin(np.arange(20.0))
        >>> m = AutoRegressive(order=1, trend="ct").fit(y[:15])
        >>> m.predict(y[14:], t0=14).shape
        (5,)
        """
        pred, _, frame = self._predict(series, exog, t0)
        index = None if frame is None else _pandas.tail_index(frame, pred.shape[0])
        return self._out(pred, frame, index)

    def log_likelihood(self, series, exog=None, *, t0=None):
        """Conditional Gaussian log-likelihood of ``series`` (natural log, summed).

        ``Σ_{t>τ} log N(x_t; prediction_t, Σ)``, conditioned on the first τ
        values; on the training series it equals statsmodels ``llf``.
        ``exog`` and ``t0`` as in :meth:`predict`.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.random.default_rng(1).standard_normal(500)
        >>> m = AutoRegressive(order=2).fit(x)
        >>> bool(np.isclose(m.log_likelihood(x), m.llf_))
        True
        """
        pred, Y, _ = self._predict(series, exog, t0)
        return self._loglik(Y - pred)

    def aic(self, series, exog=None, *, t0=None):
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
        return -2.0 * self.log_likelihood(series, exog, t0=t0) + 2.0 * self.n_params

    def bic(self, series, exog=None, *, t0=None):
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
        return -2.0 * self.log_likelihood(series, exog, t0=t0) + np.log(nobs) * self.n_params

    # -- inference -------------------------------------------------------------------
    def conf_int(self, alpha=0.05):
        """Normal ``1 - alpha`` confidence intervals of ``params_``.

        Returns
        -------
        ndarray (k, 2) for a 1-D series, (k, D, 2) for a VAR
            Lower and upper bounds in the last axis (statsmodels
            ``AutoRegResults.conf_int``; ``params ± z bse`` for a VAR).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> m = AutoRegressive(1).fit(np.random.default_rng(0).standard_normal(200))
        >>> m.conf_int(0.1).shape
        (2, 2)
        """
        self._check_fitted()
        z = _inf.normal_z(_inf.check_alpha(alpha))
        return np.stack([self.params_ - z * self.bse_, self.params_ + z * self.bse_], axis=-1)

    def summary(self, alpha=0.05):
        """A plain-text results table, like statsmodels' results ``summary()``.

        Coefficients, standard errors, z-statistics, p-values and ``1 - alpha``
        intervals (one block per equation for a VAR, with the residual
        correlation matrix), and the fit's log-likelihood, AIC and BIC.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> m = AutoRegressive(1).fit(np.random.default_rng(0).standard_normal(200))
        >>> print(m.summary().splitlines()[0])
        AutoReg(1) results, trend='c'
        """
        self._check_fitted()
        return _inf.summary(self, _inf.check_alpha(alpha))

    @classmethod
    def select_order(cls, series, max_order, *, ic="aic", trend="c", exog=None):
        """Fit orders ``0..max_order`` and return the best by ``ic``, refitted.

        Every candidate is fitted on the same sample, ``series[max_order:]``
        (statsmodels ``ar_select_order`` and ``VAR.select_order`` do the
        same), so the criteria compare like with like; the winner is then
        refitted on the whole series. Ties go to the smaller order.

        Parameters
        ----------
        series : array_like (T,) or (T, D), or a pandas Series/DataFrame
        max_order : int
        ic : {"aic", "bic"}
        trend : {"c", "n", "ct"}
        exog : array_like (T,) or (T, k), optional

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
        return _inf.select_order(cls, series, max_order, ic, trend, exog)

    # -- closed loop -------------------------------------------------------------------
    def _run(self, start, t_next, steps, noise, ex):
        """Recursion from ``start`` (τ, D), the first new value at time index t_next."""
        D, kt = self._sigma.shape[0], TRENDS[self._trend]
        out = np.zeros((self._tau + steps, D))
        out[:self._tau] = start
        drift = np.zeros_like(out)
        t = t_next + np.arange(1.0, steps + 1)
        drift[self._tau:] = (deterministic(self._trend, t) @ self._B[:kt]
                             + ex @ self._B[kt + self._tau * D:])
        full_noise = np.zeros_like(out)
        full_noise[self._tau:] = noise
        _kernels.ar_recursion(out, self._coef3, drift, full_noise)
        return out[self._tau:]

    def _start(self, history, t0):
        """(last τ values, time index of the next value, pandas frame) to continue."""
        if history is None:
            if t0 is not None:
                raise ValueError("t0: only meaningful with history= (without it the "
                                 "model continues its training series)")
            return self._last, self._t_end, getattr(self, "_frame", None)
        values, frame = _pandas.split(history)
        h = self._input(values, "history")
        if h.shape[0] < self._tau:
            raise ValueError(f"history: needs at least order={self._tau} values, "
                             f"got {h.shape[0]}")
        return h[h.shape[0] - self._tau:], check_t0(t0, self._trend) + h.shape[0], frame

    @staticmethod
    def _check_count(name, v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")

    def forecast(self, steps, history=None, exog=None, *, t0=None, alpha=None):
        """Closed-loop forecast: each prediction is fed back as the next input.

        Parameters
        ----------
        steps : int
        history : array_like or pandas Series/DataFrame, optional
            Series to continue (its last τ values); by default the end of
            the fitted series.
        exog : array_like (steps,) or (steps, k), optional
            The future exog rows, one per forecast step; required (exactly
            ``steps`` rows) when the model was fitted with exog.
        t0 : int, optional
            Time index of ``history[0]`` on the training clock; required
            with ``history`` when ``trend="ct"``.
        alpha : float in (0, 1), optional
            Also return the ``1 - alpha`` prediction intervals.

        Returns
        -------
        ndarray (steps,) or (steps, D), or pandas
            Without ``alpha``, the mean forecast, as before. It is pandas,
            on the index that continues the series' (RangeIndex, or a
            DatetimeIndex at its frequency), when the series continued was.
        Forecast
            With ``alpha``, the namedtuple ``(mean, lower, upper)``, each
            shaped as above: normal intervals from the h-step forecast error
            variance (statsmodels ``AutoRegResults.get_prediction(...,
            dynamic=True)`` for a 1-D series, ``VARResults.forecast_interval``
            for a VAR; parameter uncertainty is not included).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = 0.5 ** np.arange(10.0)
        >>> AutoRegressive(order=1, trend="n").fit(x).forecast(2, history=[4.0])
        array([2., 1.])
        """
        self._check_fitted()
        self._check_count("steps", steps)
        alpha = None if alpha is None else _inf.check_alpha(alpha)
        start, t_next, frame = self._start(history, t0)
        ex = as_exog(exog, steps, self.k_exog_)
        D = self._sigma.shape[0]
        mean = self._run(start, t_next, steps, np.zeros((steps, D)), ex)
        index = _pandas.future_index(frame, steps)
        check_aligned(index, exog)
        if alpha is None:
            return self._out(mean, frame, index)
        scale = self._sigma if self.univariate_ else self.sigma_u_
        half = _inf.normal_z(alpha) * _inf.forecast_std(self._coef3, scale, steps)
        return _inf.Forecast(self._out(mean, frame, index), self._out(mean - half, frame, index),
                             self._out(mean + half, frame, index))

    def simulate(self, n, seed=None, *, burn=100, history=None, exog=None, t0=None):
        """Simulate ``n`` values of the fitted process.

        Without ``history``, starts from zeros ``burn`` steps before the
        returned part (time indices ``-burn..-1``; the returned values sit at
        ``0..n-1`` of the training clock) and drops the burn-in. With
        ``history``, continues it directly (no burn-in), like a sample path
        of :meth:`forecast`. Noise ``N(0, Σ)`` is drawn with numpy.

        Parameters
        ----------
        n : int
        seed : int, numpy.random.Generator or None
        burn : int, default 100
            Unused with ``history``.
        history : array_like or pandas, optional
            Series whose last τ values start the path.
        exog : array_like (n,) or (n, k), optional
            Future exog rows; a model fitted with exog needs them and a
            ``history`` (there is no exog for a burn-in).
        t0 : int, optional
            Time index of ``history[0]``; required with ``history`` when
            ``trend="ct"``.

        Returns
        -------
        ndarray (n,) or (n, D), or pandas continuing ``history``'s index

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive, datasets
        >>> m = AutoRegressive(order=2).fit(datasets.arma([0.6, -0.3], [], n=2000, seed=0))
        >>> y = m.simulate(20000, seed=1)
        >>> bool(abs(y.std() - datasets.arma([0.6, -0.3], [], n=20000, seed=2).std()) < 0.05)
        True
        >>> m.simulate(5, seed=0, history=[0.0, 1.0]).shape
        (5,)
        """
        self._check_fitted()
        self._check_count("n", n)
        self._check_count("burn", burn)
        if history is None and self.k_exog_:
            raise ValueError("history: a model fitted with exog simulates from a given "
                             "history (there is no exog for a burn-in); pass history= and "
                             "exog=")
        rng = np.random.default_rng(seed)
        w, V = np.linalg.eigh(self._sigma)
        root = V * np.sqrt(np.maximum(w, 0.0))  # root @ root.T = Σ, even if singular
        D = self._sigma.shape[0]
        if history is None:
            noise = rng.standard_normal((n + burn, D)) @ root.T
            out = self._run(np.zeros((self._tau, D)), -float(burn), n + burn, noise,
                            np.zeros((n + burn, 0)))
            return self._out(out[burn:])
        start, t_next, frame = self._start(history, t0)
        ex = as_exog(exog, n, self.k_exog_)
        out = self._run(start, t_next, n, rng.standard_normal((n, D)) @ root.T, ex)
        return self._out(out, frame, _pandas.future_index(frame, n))

    # -- saving --------------------------------------------------------------------------
    def state_dict(self):
        """The fitted state as named numpy arrays (what :meth:`save` writes).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> m = AutoRegressive(2).fit(np.sin(np.arange(40.0)))
        >>> sorted(m.state_dict())
        ['coef', 'last', 'llf', 'meta', 'sigma', 'xtx_inv']
        """
        self._check_fitted()
        return _ar_state.pack(self)

    def load_state_dict(self, arrays):
        """Restore a fit from :meth:`state_dict`'s arrays, checked against ``order``/``trend``.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import AutoRegressive
        >>> x = np.sin(np.arange(40.0))
        >>> m = AutoRegressive(2).fit(x)
        >>> again = AutoRegressive(2).load_state_dict(m.state_dict())
        >>> bool(np.array_equal(again.forecast(5), m.forecast(5)))
        True
        """
        return _ar_state.unpack(self, arrays)

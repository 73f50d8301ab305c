"""Standard errors, forecast intervals and the summary of an AutoRegressive fit.

Conventions are statsmodels', so that every number can be checked against
it: for a 1-D series (``AutoReg``) the coefficient covariance is
``σ² (XᵀX)⁻¹`` with the maximum-likelihood ``σ² = SSR / nobs``; for a
(T, D) series (``VAR``) it is ``Σ_u ⊗ (XᵀX)⁻¹`` with the degrees-of-freedom
corrected ``Σ_u = RᵀR / (nobs - k)``, k regressors per equation. z-statistics
and p-values use the normal distribution (both peers' default). The h-step
forecast error covariance is ``Σ_{j<h} Ψ_j S Ψ_jᵀ`` with the MA(∞) weights
``Ψ_0 = I``, ``Ψ_j = Σ_i A_i Ψ_{j-i}`` and ``S`` = σ² (AR) or Σ_u (VAR);
parameter uncertainty is not included, as in both peers.
"""
from collections import namedtuple

import numpy as np
import scipy.stats

from . import _pandas
from ._ar_design import as_exog, as_series

#: What ``forecast(n, alpha=...)`` returns: the mean forecast and the lower
#: and upper bounds of the ``1 - alpha`` prediction interval, each shaped
#: like the plain forecast (pandas-indexed when the model was fitted on pandas).
Forecast = namedtuple("Forecast", "mean lower upper")


def check_alpha(alpha):
    """alpha must be a real number strictly between 0 and 1."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (float, int, np.floating,
                                                                     np.integer)):
        raise TypeError(f"alpha: expected a float in (0, 1), got {alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha: expected a float in (0, 1), got {alpha!r}")
    return float(alpha)


def coef_std(sigma, xtx_inv, perm, univariate):
    """Standard errors in the peer's order: (k,) for AR, (k, D) for a VAR."""
    dx = np.sqrt(np.diag(xtx_inv)[perm])
    if univariate:
        return np.sqrt(sigma[0, 0]) * dx
    return dx[:, None] * np.sqrt(np.diag(sigma))[None, :]


def forecast_std(coef3, scale, steps):
    """(steps, D): standard deviation of the h-step forecast error, h = 1..steps."""
    tau, D = coef3.shape[0], scale.shape[0]
    psi = np.zeros((steps, D, D))
    out = np.zeros((steps, D))
    mse = np.zeros((D, D))
    for h in range(steps):
        psi[h] = np.eye(D) if h == 0 else sum(
            coef3[i - 1] @ psi[h - i] for i in range(1, min(h, tau) + 1))
        mse = mse + psi[h] @ scale @ psi[h].T
        out[h] = np.sqrt(np.diag(mse))
    return out


def normal_z(alpha):
    """The two-sided normal quantile for a 1 - alpha interval."""
    return scipy.stats.norm.ppf(1.0 - alpha / 2.0)


def _table(names, params, bse, tvalues, pvalues, lo, hi, alpha, digits):
    # statsmodels' precision: AutoReg prints 4 (coef) and 3 decimals, VAR 6 throughout
    c_d, s_d = digits
    lines = [f"{'':<16}{'coef':>12}{'std err':>12}{'z':>10}{'P>|z|':>9}"
             f"{f'[{alpha / 2:.3f}':>11}{f'{1 - alpha / 2:.3f}]':>11}"]
    lines.append("-" * len(lines[0]))
    for row in zip(names, params, bse, tvalues, pvalues, lo, hi):
        n, c, s, t, p, a, b = row
        lines.append(f"{n[:16]:<16}{c:>12.{c_d}f}{s:>12.{s_d}f}{t:>10.3f}{p:>9.3f}"
                     f"{a:>11.{s_d}f}{b:>11.{s_d}f}")
    return lines


def summary(model, alpha=0.05):
    """The plain-text results table of a fitted AutoRegressive."""
    D = model._sigma.shape[0]
    kind = "AutoReg" if model.univariate_ else "VAR"
    kx = model.k_exog_
    title = f"{kind}{'-X' if kx else ''}({model._tau}) results, trend={model._trend!r}"
    ci = model.conf_int(alpha)
    head = [title, "=" * 81,
            f"{'No. Observations:':<24}{model.nobs_:>14d}    "
            f"{'Log Likelihood:':<20}{model.llf_:>19.3f}",
            f"{'AIC:':<24}{-2 * model.llf_ + 2 * model.n_params:>14.3f}    "
            f"{'BIC:':<20}{-2 * model.llf_ + np.log(model.nobs_) * model.n_params:>19.3f}"]
    if model.univariate_:
        head.append(f"{'S.D. of innovations:':<24}{np.sqrt(model.sigma2_):>14.3f}")
        head.append("=" * 81)
        body = _table(model.param_names_, model.params_, model.bse_, model.tvalues_,
                      model.pvalues_, ci[:, 0], ci[:, 1], alpha, (4, 3))
        return "\n".join(head + body + ["=" * 81])
    head.append("=" * 81)
    body = []
    for d in range(D):
        body.append(f"Equation {model.series_names_[d]}")
        body += _table(model.param_names_, model.params_[:, d], model.bse_[:, d],
                       model.tvalues_[:, d], model.pvalues_[:, d], ci[:, d, 0], ci[:, d, 1],
                       alpha, (6, 6))
        body.append("")
    corr = model.sigma_u_ / np.sqrt(np.outer(np.diag(model.sigma_u_), np.diag(model.sigma_u_)))
    body.append("Correlation matrix of residuals")
    body += ["".join(f"{v:>12.6f}" for v in row) for row in corr]
    return "\n".join(head + body + ["=" * 81])


def select_order(cls, series, max_order, ic, trend, exog):
    """``cls.select_order``: common-sample criteria for orders 0..max_order, best refitted."""
    if ic not in ("aic", "bic"):
        raise ValueError(f"ic: expected 'aic' or 'bic', got {ic!r}")
    if isinstance(max_order, (bool, np.bool_)) or not isinstance(
            max_order, (int, np.integer)) or max_order < 0:
        raise ValueError(f"max_order: expected a non-negative integer, got {max_order!r}")
    x, univariate = as_series(_pandas.split(series)[0])
    ex = None if exog is None else as_exog(exog, x.shape[0], None)
    values = {}
    for p in range(max_order + 1):
        m = cls(p, trend)
        m._check_params()
        m._fit(x, univariate, hold_back=max_order, ex=ex)
        pen = 2.0 if ic == "aic" else np.log(m.nobs_)
        values[p] = -2.0 * m.llf_ + pen * m.n_params
    best = min(values, key=values.get)
    model = cls(best, trend).fit(series, exog)
    model.ic_values_ = values
    return model

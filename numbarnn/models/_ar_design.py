"""Inputs and regressors of :class:`~numbarnn.AutoRegressive`.

The regression of x_t is on ``[deterministic terms, x_{t-1}, ..., x_{t-τ},
exog_t]`` (statsmodels ``AutoReg``'s column order). Deterministic terms are
a constant and a linear time trend ``t``, counted on the *training clock*:
``t = 1`` at the first training sample, so the sample at 0-based position
``i`` of a series whose first value sits at time index ``t0`` has
``t = t0 + i + 1``.
"""
import numpy as np

from . import _pandas

TRENDS = {"n": 0, "c": 1, "ct": 2}


def as_series(series, name="series", check_finite=True):
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


def as_exog(exog, rows, k_exog, name="exog", check_finite=True):
    """Exogenous regressors -> (rows, k_exog) float64, or (rows, 0) for none.

    ``k_exog`` is None while fitting (any number of columns is accepted);
    afterwards the fitted count, and a model without exog refuses one.
    """
    if exog is None:
        if k_exog:
            raise ValueError(f"{name}: this model was fitted with {k_exog} exogenous "
                             f"regressor(s); pass {name}= with {rows} row(s)")
        return np.zeros((rows, 0))
    if k_exog == 0:
        raise ValueError(f"{name}: this model was fitted without exog; pass {name}=None")
    values, _ = _pandas.split(exog)
    a = np.asarray(values)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a real-valued array, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected shape (T,) or (T, k), got {np.shape(values)}")
    if a.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} row(s) (one per time step), "
                         f"got {a.shape[0]}")
    if k_exog is not None and a.shape[1] != k_exog:
        raise ValueError(f"{name}: expected {k_exog} column(s) like the fitted exog, "
                         f"got {a.shape[1]}")
    a = a.astype(np.float64)
    if check_finite and not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


def check_aligned(index, exog, name="exog"):
    """A pandas exog must sit on the same index as the samples it belongs to.

    ``index`` is the pandas index of those samples (None when unknown).
    """
    _, frame = _pandas.split(exog)
    if index is None or frame is None:
        return
    if not frame.index.equals(index):
        raise ValueError(f"{name}: its index does not match the series' (first labels "
                         f"{list(frame.index[:2])} against {list(index[:2])}); align it, "
                         "or pass numpy values")


def exog_names(exog, k):
    """Column names of an exog (a DataFrame's or Series' own, else x1, x2, ...)."""
    _, frame = _pandas.split(exog)
    if frame is not None:
        names = frame.columns if frame.columns is not None else [frame.name]
        if all(n is not None for n in names):
            return [str(n) for n in names]
    return [f"x{i + 1}" for i in range(k)]


def check_t0(t0, trend):
    """The validated start time (0 when the model has no time trend)."""
    if t0 is None:
        if trend == "ct":
            raise ValueError(
                "t0: this model has a time trend (trend='ct'), so it must be told where "
                "the given samples sit on the training clock: pass t0=, the time index "
                "of the first given sample (the training series starts at t0=0; the "
                "value right after it is t0=len(train))")
        return 0
    if isinstance(t0, (bool, np.bool_)) or not isinstance(t0, (int, np.integer)):
        raise TypeError(f"t0: expected an integer time index, got {t0!r}")
    return int(t0) if trend == "ct" else 0


def deterministic(trend, times):
    """Columns of the deterministic terms at 1-based times ``times``."""
    cols = [np.ones_like(times), times][:TRENDS[trend]]
    return np.stack(cols, axis=1) if cols else np.empty((times.size, 0))


def design(x, order, trend, hold_back, t0=0, exog=None):
    """Regressors [det, x_{t-1}, ..., x_{t-τ}, exog_t] and targets x_t, t >= hold_back."""
    T = x.shape[0]
    rows = np.arange(hold_back, T)
    lags = [x[rows - j] for j in range(1, order + 1)]
    ex = [] if exog is None else [exog[hold_back:]]
    X = np.hstack([deterministic(trend, t0 + rows + 1.0)] + lags + ex)
    return X, x[hold_back:]


def param_names(trend, order, D, exog_cols, series_names, univariate):
    """statsmodels' names, in statsmodels' order (``AutoReg`` or ``VAR``)."""
    det = ["const", "trend"][:TRENDS[trend]]
    if univariate:
        return det + [f"{series_names[0]}.L{j}" for j in range(1, order + 1)] + exog_cols
    lags = [f"L{j}.{n}" for j in range(1, order + 1) for n in series_names]
    return det + exog_cols + lags


def series_names(frame, D, univariate):
    """The input's name(s), else statsmodels' defaults (y; y1, y2, ...)."""
    if frame is not None:
        names = [frame.name] if frame.columns is None else list(frame.columns)
        if len(names) == D and all(n is not None for n in names):
            return [str(n) for n in names]
    return ["y"] if univariate else [f"y{d + 1}" for d in range(D)]


def peer_permutation(kt, order, D, kx, univariate):
    """Index p with ``peer[i] = ours[p[i]]`` over the regressor rows."""
    idx = np.arange(kt + order * D + kx)
    if univariate:
        return idx
    return np.r_[idx[:kt], idx[kt + order * D:], idx[kt:kt + order * D]]

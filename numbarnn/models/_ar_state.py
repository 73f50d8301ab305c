"""The fitted state of an :class:`~numbarnn.AutoRegressive`, as arrays and back.

Only what the fit estimated is stored (the regression coefficients, the
maximum-likelihood noise covariance, (XᵀX)⁻¹, the last τ training values and
the log-likelihood, bit for bit); everything derived (``coef_``,
``bse_``, ...) is recomputed by the same code that ``fit`` runs, so a loaded
model forecasts bit-identically. The pandas index of the training series is
not stored: a loaded model's ``forecast()`` without ``history`` is numpy.
"""
import json

import numpy as np

from ._ar_design import TRENDS

KEYS = ("coef", "sigma", "xtx_inv", "last", "llf", "meta")


def pack(model):
    """The state dict of a fitted model (numpy arrays; facts as 0-d JSON strings)."""
    meta = {"univariate": bool(model.univariate_), "nobs": int(model.nobs_),
            "t_end": int(model._t_end), "k_exog": int(model.k_exog_),
            "series_names": list(model.series_names_), "exog_names": list(model.exog_names_)}
    return {"coef": model._B.copy(), "sigma": model._sigma.copy(),
            "xtx_inv": model._xtx_inv.copy(), "last": model._last.copy(),
            "llf": np.array(model.llf_, dtype=np.float64), "meta": np.array(json.dumps(meta))}


def _array(arrays, key, shape):
    a = arrays[key]
    if not isinstance(a, np.ndarray) or a.dtype != np.float64:
        raise TypeError(f"state[{key!r}]: expected a float64 array, got "
                        f"{getattr(a, 'dtype', type(a).__name__)}")
    if a.shape != shape:
        raise ValueError(f"state[{key!r}]: expected shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"state[{key!r}]: contains NaN or Inf")
    return a.copy()


def unpack(model, arrays):
    """Validate ``arrays`` against ``model``'s order and trend and restore the fit."""
    model._check_params()
    missing = [k for k in KEYS if k not in arrays]
    extra = [k for k in arrays if k not in KEYS]
    if missing or extra:
        raise ValueError(f"state: expected the keys {list(KEYS)}, missing {missing}, "
                         f"unexpected {extra}")
    try:
        meta = json.loads(str(np.asarray(arrays["meta"])[()]))
        univariate, nobs = meta["univariate"], meta["nobs"]
        t_end, kx = meta["t_end"], meta["k_exog"]
        names, exog_names = meta["series_names"], meta["exog_names"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"state['meta']: not the expected JSON record ({exc})") from exc
    if not isinstance(univariate, bool):
        raise TypeError(f"state['meta']: univariate must be a boolean, got {univariate!r}")
    for key, v in (("nobs", nobs), ("t_end", t_end), ("k_exog", kx)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"state['meta']: {key} must be a non-negative integer, got {v!r}")
    sigma = arrays["sigma"]
    D = sigma.shape[0] if isinstance(sigma, np.ndarray) and sigma.ndim == 2 else -1
    if D < 1 or (univariate and D != 1):
        raise ValueError(f"state['sigma']: expected a (D, D) covariance, got shape "
                         f"{getattr(sigma, 'shape', None)}")
    if not isinstance(names, list) or len(names) != D or not isinstance(exog_names, list) \
            or len(exog_names) != kx:
        raise ValueError("state['meta']: series or exog names do not match the shapes")
    tau = int(model.order)
    k = TRENDS[model.trend] + tau * D + kx
    if nobs <= k or t_end != nobs + tau:
        raise ValueError(f"state['meta']: nobs={nobs}, t_end={t_end} do not fit "
                         f"order={tau} with {k} regressors")
    B = _array(arrays, "coef", (k, D))
    sigma = _array(arrays, "sigma", (D, D))
    xtx_inv = _array(arrays, "xtx_inv", (k, k))
    last = _array(arrays, "last", (tau, D))
    llf = _array(arrays, "llf", ())
    model._tau, model._trend, model.k_exog_ = tau, model.trend, kx
    model._set_params(B, sigma, univariate)
    model.nobs_, model._t_end, model._last = nobs, t_end, last
    model._xtx_inv, model.llf_ = xtx_inv, float(llf)
    model._frame = None
    model.series_names_, model.exog_names_ = [str(n) for n in names], [str(n) for n in
                                                                       exog_names]
    model._set_inference()
    return model


def getstate(model):
    """Pickle state: the remembered pandas frame without the pandas module.

    The frame holds the module, which cannot be pickled (``fit_many`` ships
    fitted models between processes); :func:`setstate` imports it again.
    """
    state = model.__dict__.copy()
    if state.get("_frame") is not None:
        state["_frame"] = state["_frame"]._replace(pd=None)
    return state


def setstate(model, state):
    """Inverse of :func:`getstate`."""
    frame = state.get("_frame")
    if frame is not None and frame.pd is None:
        import pandas
        state["_frame"] = frame._replace(pd=pandas)
    model.__dict__.update(state)

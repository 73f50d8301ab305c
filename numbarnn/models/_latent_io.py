"""What :class:`~numbarnn.LatentAR` accepts besides numpy: pandas objects
(alone or in lists) and exogenous covariates, and how a pandas index is
written to, and read back from, a saved model.

pandas stays optional: nothing here imports it unless a pandas object was
given (or a saved model holds a pandas index).
"""
import json

import numpy as np

from . import _latent_data as data_
from . import _pandas


def _split(data):
    values, frame = _pandas.split(data)
    # a DataFrame's values may be column-major; numpy's reductions then sum in
    # another order, and the result would differ from the same numpy input's
    return (values, None) if frame is None else (np.ascontiguousarray(values), frame)


def unpack(data):
    """``(values, frames, single)`` of one series or a list of them.

    ``values`` is what the numpy code path takes (``data`` itself when no
    pandas object is involved), ``frames`` a list with one
    :data:`numbarnn.models._pandas.Frame` (or None) per series, or None when
    nothing is pandas, and ``single`` whether ``data`` is one series.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._latent_io import unpack
    >>> unpack(np.zeros(3))
    (array([0., 0., 0.]), None, True)
    """
    values, frame = _split(data)
    if frame is not None:
        return values, [frame], True
    if isinstance(data, (list, tuple)) and any(_pandas.is_pandas(d) for d in data):
        pairs = [_split(d) for d in data]
        return [v for v, _ in pairs], [f for _, f in pairs], False
    return data, None, data_.is_single(data)


def check_columns(frames, columns, name):
    """Refuse a DataFrame whose columns differ from the fitted ones.

    The network reads features by position, so reordered or renamed
    columns would be a silently wrong answer.
    """
    if frames is None or columns is None:
        return
    for f in frames:
        if f is not None and f.columns is not None and list(f.columns) != list(columns):
            raise ValueError(f"{name}: columns {list(f.columns)} differ from the fitted "
                             f"columns {list(columns)}")


def exog_arrays(exog, lengths, name="exog", n_exog=None, at_least=False):
    """Validated covariates, one float64 (T_i, K) array per series.

    Parameters
    ----------
    exog : array_like (T,) or (T, K), pandas, or a list of them (one per series)
    lengths : list of int
        The series' lengths: each exog array must have as many rows, or at
        least as many with ``at_least`` (the first rows are then used).
    n_exog : int, optional
        K of the fitted model.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._latent_io import exog_arrays
    >>> [a.shape for a in exog_arrays(np.ones(4), [4])]
    [(4, 1)]
    """
    values, _, single = unpack(exog)
    items = [values] if single else list(values)
    if len(items) != len(lengths):
        raise ValueError(f"{name}: expected one array per series ({len(lengths)}), "
                         f"got {len(items)}")
    arrays = []
    for i, (a, n) in enumerate(zip(items, lengths)):
        label = name if len(items) == 1 else f"{name}[{i}]"
        (a,), _ = data_.real_series([a], label)
        if n_exog is not None and a.shape[1] != n_exog:
            raise ValueError(f"{label}: expected {n_exog} column(s) like the fitted exog, "
                             f"got {a.shape[1]}")
        if a.shape[0] < n or (a.shape[0] != n and not at_least):
            want = f"at least {n}" if at_least else f"{n}"
            raise ValueError(f"{label}: expected {want} row(s), one per step, got "
                             f"{a.shape[0]}")
        arrays.append(a[:n])
    return arrays


# -- a pandas index in a saved model ------------------------------------------
def _plain(label, what):
    """A label as a JSON value, or TypeError (a silently renamed column is wrong)."""
    if isinstance(label, (np.integer, np.floating, np.str_, np.bool_)):
        label = label.item()
    if label is None or isinstance(label, (str, int, float, bool)):
        return label
    raise TypeError(f"save: {what} {label!r} cannot be written (labels must be str, int, "
                    f"float or None); rename it first")


def frame_to_json(frame):
    """The facts of a :data:`Frame` that continue its index, as a JSON string.

    Only what :func:`numbarnn.models._pandas.future_index` needs is kept:
    the index's kind, its last label and its step or frequency (an index
    that cannot be continued is saved as "other", and forecasting then
    raises as it would have before saving).
    """
    if frame is None:
        return json.dumps(None)
    pd, index = frame.pd, frame.index
    info = {"columns": None if frame.columns is None else
            [_plain(c, "column") for c in frame.columns],
            "name": _plain(frame.name, "series name")}
    try:
        nxt = _pandas.future_index(frame, 1)
    except ValueError:
        info["kind"] = "other"
        return json.dumps(info)
    if isinstance(nxt, pd.DatetimeIndex):
        last, tz = index[-1], None
        if nxt.tz is not None:  # the instant in UTC, and the zone to show it in
            last, tz = last.tz_convert("UTC"), str(nxt.tz)
        info.update(kind="datetime", last=last.isoformat(), freq=nxt.freqstr, tz=tz)
    elif isinstance(nxt, pd.PeriodIndex):
        info.update(kind="period", last=str(index[-1]), freq=nxt.freqstr)
    else:
        info.update(kind="range", last=int(nxt[0]) - int(nxt.step), step=int(nxt.step))
    return json.dumps(info)


def frame_from_json(text):
    """The :data:`Frame` written by :func:`frame_to_json` (imports pandas if one)."""
    info = json.loads(text)
    if info is None:
        return None
    import pandas as pd
    kind = info.get("kind")
    if kind == "datetime":
        last = pd.Timestamp(info["last"])
        if info["tz"] is not None:
            last = last.tz_convert(info["tz"])
        index = pd.date_range(last, periods=1, freq=info["freq"])
    elif kind == "period":
        index = pd.period_range(info["last"], periods=1, freq=info["freq"])
    elif kind == "range":
        index = pd.RangeIndex(info["last"], info["last"] + info["step"], info["step"])
    elif kind == "other":
        index = pd.Index([object(), object()])  # cannot be continued, as before saving
    else:
        raise ValueError(f"unknown pandas index kind {kind!r}")
    return _pandas.Frame(index, info["columns"], info["name"], pd)

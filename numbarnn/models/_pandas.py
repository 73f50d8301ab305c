"""pandas in, pandas out, for every model — without importing pandas.

A model that is handed a ``Series`` or ``DataFrame`` works on its values and
remembers the *frame* (index, column names, kind) so that its results can
be put back on the input's index, and forecasts can continue that index.
numpy in stays numpy out. pandas is never imported here: a pandas object is
recognised by its type's module, and its own methods build the results.
"""
from collections import namedtuple

import numpy as np

#: What a model remembers about a pandas input: its index, its column names
#: (None for a Series), the Series' name, and the pandas module it came from.
Frame = namedtuple("Frame", "index columns name pd")


def is_pandas(obj):
    """True for a pandas Series or DataFrame (pandas need not be imported).

    Examples
    --------
    >>> from numbarnn.models._pandas import is_pandas
    >>> import numpy as np
    >>> is_pandas(np.zeros(3)), is_pandas([1, 2])
    (False, False)
    """
    mod = type(obj).__module__ or ""
    return mod.split(".")[0] == "pandas" and type(obj).__name__ in ("Series", "DataFrame")


def split(data):
    """``(values, frame)``: the numpy values of ``data`` and its :data:`Frame`.

    ``frame`` is None when ``data`` is not a pandas object, and ``values`` is
    then ``data`` itself, untouched (the caller validates it as before).

    Examples
    --------
    >>> from numbarnn.models._pandas import split
    >>> split([1.0, 2.0])
    ([1.0, 2.0], None)
    """
    if not is_pandas(data):
        return data, None
    import sys
    pd = sys.modules["pandas"]
    if type(data).__name__ == "Series":
        return data.to_numpy(), Frame(data.index, None, data.name, pd)
    return data.to_numpy(), Frame(data.index, list(data.columns), None, pd)


def wrap(values, frame, index):
    """Put ``values`` (n,) or (n, D) on ``index`` in the shape of ``frame``.

    Returns ``values`` unchanged when ``frame`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._pandas import wrap
    >>> wrap(np.arange(2.0), None, None)
    array([0., 1.])
    """
    if frame is None:
        return values
    pd = frame.pd
    values = np.asarray(values)
    if values.ndim == 1:
        name = frame.name if frame.columns is None else (
            frame.columns[0] if len(frame.columns) == 1 else None)
        return pd.Series(values, index=index, name=name)
    return pd.DataFrame(values, index=index, columns=frame.columns)


def tail_index(frame, n):
    """The last ``n`` labels of the frame's index (what one-step predictions of
    the last n samples sit on)."""
    return frame.index[len(frame.index) - n:]


def future_index(frame, n):
    """The ``n`` labels that continue the frame's index.

    A ``DatetimeIndex``/``PeriodIndex`` continues at its frequency (given or
    inferable), a ``RangeIndex`` or an evenly spaced integer index at its
    step. Anything else raises ValueError, since a forecast put on a made-up
    index would be a silent wrong answer.

    Examples
    --------
    >>> from numbarnn.models._pandas import future_index
    >>> future_index(None, 3) is None
    True
    """
    if frame is None:
        return None
    pd, index = frame.pd, frame.index
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        freq = index.freq
        if freq is None and len(index) >= 3 and isinstance(index, pd.DatetimeIndex):
            # not pd.infer_freq: pandas 3.1 warns there (its return type changes)
            freq = pd.DatetimeIndex(index, freq="infer").freq
        if freq is None:
            raise ValueError("the series' DatetimeIndex has no frequency, so a forecast "
                             "cannot continue it; set one (e.g. series.asfreq('MS'))")
        if isinstance(index, pd.PeriodIndex):
            return pd.period_range(index[-1] + 1, periods=n, freq=index.freq)
        return pd.date_range(index[-1], periods=n + 1, freq=freq)[1:]
    if isinstance(index, pd.RangeIndex):
        step = index.step
        start = index.start + step * len(index)
        return pd.RangeIndex(start, start + step * n, step)
    if index.dtype.kind in "iu" and len(index) >= 2:
        steps = np.diff(index.to_numpy())
        if np.all(steps == steps[0]) and steps[0] != 0:
            last, step = int(index[-1]), int(steps[0])
            return pd.RangeIndex(last + step, last + step * (n + 1), step)
    raise ValueError(f"a forecast cannot continue an index of type {type(index).__name__} "
                     "that is not evenly spaced; use a RangeIndex or a DatetimeIndex with "
                     "a frequency")

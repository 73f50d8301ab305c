"""Per-series results and estimator cloning for :mod:`numbarnn.parallel`."""
import copy
import inspect


class SeriesResult:
    """The outcome for one series: a value, or the error that replaced it.

    Parameters
    ----------
    index : int
        Position of the series in the input list.
    value : object, optional
        The fitted estimator, forecast or log-likelihood.
    error : BaseException, optional
        The exception raised for this series (None on success).
    traceback : str, optional
        The formatted traceback, as text (it was raised on a worker).

    Examples
    --------
    >>> from numbarnn.parallel import SeriesResult
    >>> good = SeriesResult(0, value=1.5)
    >>> good.ok, good.unwrap()
    (True, 1.5)
    >>> bad = SeriesResult(1, error=ValueError("series: too short"))
    >>> bad.ok
    False
    >>> bad
    SeriesResult(index=1, error=ValueError('series: too short'))
    """

    __slots__ = ("index", "value", "error", "traceback")

    def __init__(self, index, value=None, error=None, traceback=""):
        self.index, self.value, self.error, self.traceback = index, value, error, traceback

    @property
    def ok(self):
        """True when the series has a value (no error)."""
        return self.error is None

    def unwrap(self):
        """The value, or raise the series' error (with the remote traceback).

        Examples
        --------
        >>> from numbarnn.parallel import SeriesResult
        >>> SeriesResult(3, error=KeyError("x")).unwrap()
        Traceback (most recent call last):
        ...
        RuntimeError: series 3 failed: KeyError('x')
        """
        if self.error is None:
            return self.value
        raise RuntimeError(f"series {self.index} failed: {self.error!r}\n{self.traceback}"
                           .rstrip()) from self.error

    def __repr__(self):
        what = f"value={self.value!r}" if self.ok else f"error={self.error!r}"
        return f"SeriesResult(index={self.index}, {what})"


class Results(list):
    """A list of :class:`SeriesResult`, one per series, in input order.

    Examples
    --------
    >>> from numbarnn.parallel import Results, SeriesResult
    >>> r = Results([SeriesResult(0, value=2.0), SeriesResult(1, error=ValueError("bad"))])
    >>> r.ok, [f.index for f in r.failed]
    (False, [1])
    >>> r.values(errors="none")
    [2.0, None]
    """

    @property
    def ok(self):
        """True when every series succeeded."""
        return all(r.ok for r in self)

    @property
    def failed(self):
        """The results that carry an error."""
        return [r for r in self if not r.ok]

    def values(self, *, errors="raise"):
        """The values in input order.

        Parameters
        ----------
        errors : {"raise", "none"}, default "raise"
            Raise the first failure's error (:meth:`SeriesResult.unwrap`),
            or put None in its place.
        """
        if errors not in ("raise", "none"):
            raise ValueError(f"errors: expected 'raise' or 'none', got {errors!r}")
        if errors == "raise":
            return [r.unwrap() for r in self]
        return [r.value if r.ok else None for r in self]


def clone(estimator):
    """A fresh, unfitted estimator with the same constructor parameters.

    In order of preference: ``type(est)(**est.get_params())`` when the
    estimator has scikit-learn's ``get_params``; otherwise, when every
    parameter of ``__init__`` is stored as an attribute of the same name
    (the scikit-learn convention numbarnn's models follow),
    ``type(est)(**{name: deepcopy(getattr(est, name))})``; otherwise
    ``copy.deepcopy(est)`` (which keeps any fitted state).

    Examples
    --------
    >>> from numbarnn import AutoRegressive
    >>> from numbarnn.parallel import clone
    >>> fitted = AutoRegressive(order=3, trend="n").fit([0.1, -0.2, 0.3, 0.1, -0.4, 0.2, 0.0])
    >>> fresh = clone(fitted)
    >>> fresh.order, fresh.trend, hasattr(fresh, "coef_")
    (3, 'n', False)
    """
    cls = type(estimator)
    if callable(getattr(estimator, "get_params", None)):
        return cls(**copy.deepcopy(estimator.get_params()))
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return copy.deepcopy(estimator)
    names = [p.name for p in list(sig.parameters.values())[1:]
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()) \
            or not all(hasattr(estimator, n) for n in names):
        return copy.deepcopy(estimator)
    return cls(**{n: copy.deepcopy(getattr(estimator, n)) for n in names})

"""What runs on a Dask worker (or in the calling process): a batch of items.

Kept apart from the client code so a worker imports only this and
:mod:`numbarnn.parallel._results`.
"""
import pickle
import traceback

from ._results import SeriesResult, clone


def _call(op, estimator, series, args, kwargs):
    if op == "fit":
        return clone(estimator).fit(series, *args, **kwargs)
    if op == "forecast":
        extra = () if series is None else (series,)
        return estimator.forecast(*args, *extra, **kwargs)
    return estimator.log_likelihood(series, *args, **kwargs)


def _picklable(exc):
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # an exception that cannot travel back: keep its text
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def run_item(op, index, estimator, series, args, kwargs, *, local=False):
    """One series' :class:`SeriesResult`; never raises for the series' own failure.

    A ``BaseException`` from the estimator (``SystemExit``, a
    ``KeyboardInterrupt`` raised by the estimator itself, ...) is that
    series' error too: on a worker it must not take the process, and the
    batch-mates of the series, with it. In the calling process (``local``)
    a ``KeyboardInterrupt`` is the user's Ctrl-C and still propagates.
    """
    if isinstance(estimator, SeriesResult):  # a failed fit upstream
        return SeriesResult(index, error=estimator.error, traceback=estimator.traceback)
    try:
        return SeriesResult(index, value=_call(op, estimator, series, args, kwargs))
    except KeyboardInterrupt as exc:
        if local:
            raise
        return SeriesResult(index, error=_picklable(exc), traceback=traceback.format_exc())
    except BaseException as exc:  # noqa: B036 - see the docstring
        return SeriesResult(index, error=_picklable(exc), traceback=traceback.format_exc())


def _run_batch(items, op, call_args, call_kwargs, threads):
    """Run ``op`` on (index, estimator, series) items; one result each."""
    old = None
    if threads:
        from numbarnn import set_num_threads

        old = set_num_threads(threads)
    try:
        return [run_item(op, index, estimator, series, call_args, call_kwargs)
                for index, estimator, series in items]
    finally:
        if old is not None:
            set_num_threads(old)

"""What runs on a Dask worker: a batch of (index, estimator, series) items.

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


def _run_batch(items, op, call_args, call_kwargs, threads):
    """Run ``op`` on (index, estimator, series) items; one result each."""
    old = None
    if threads:
        from numbarnn import set_num_threads

        old = set_num_threads(threads)
    out = []
    try:
        for index, estimator, series in items:
            if isinstance(estimator, SeriesResult):  # a failed fit upstream
                out.append(SeriesResult(index, error=estimator.error,
                                        traceback=estimator.traceback))
                continue
            try:
                out.append(SeriesResult(index, value=_call(op, estimator, series, call_args,
                                                               call_kwargs)))
            except Exception as exc:
                out.append(SeriesResult(index, error=_picklable(exc),
                                        traceback=traceback.format_exc()))
    finally:
        if old is not None:
            set_num_threads(old)
    return out

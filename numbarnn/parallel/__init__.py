"""Fit, forecast and score many series at once on a Dask cluster.

People outgrow one machine by having many series (a sensor network, an
ensemble, a parameter sweep), not one huge model. :func:`fit_many` fits a
fresh copy of one estimator to each series of a list on
`dask.distributed <https://distributed.dask.org>`_;
:func:`forecast_many` and :func:`log_likelihood_many` run the fitted
estimators the same way. Each returns a :class:`Results` list with one
:class:`SeriesResult` per series, in input order: a failing series comes
back as its exception and traceback text, never as a lost batch.

Dask is an optional dependency (``pip install "numbarnn[dask]"``); it is
imported when one of these functions runs, not by ``import numbarnn``.

The cluster
    A :class:`distributed.Client` is used as it is; a scheduler address
    string (``"tcp://host:8786"``) is connected to (up to
    :data:`CONNECT_ATTEMPTS` times, past a race in distributed's handshake),
    and the connection closed afterwards. ``client=None`` uses the running client when there
    is one (inside ``with Client(...):``). Otherwise it chooses by
    measurement: the first series runs in the calling process, timed; the
    rest run there too (a plain loop, no Dask) unless their estimated time
    is over twice the cost of going parallel (0.2 s per call on a cluster
    already started; about 4 s to start one, a cost also repaid by the
    time that earlier calls run in process would have saved), in which
    case they go to
    a :class:`distributed.LocalCluster` of worker processes (``n_workers``,
    default ``min(2, cores)``, one thread each) that is started once per
    process and closed at exit (or by :func:`close_local_clusters`). The
    time per series is remembered per operation, estimator class and plain
    keyword values, so later calls go straight to the cluster. Worker
    processes are spawned: a script that may start one needs the
    ``if __name__ == "__main__":`` guard. Workers must be able to import
    numbarnn and the estimator's class.
Threads
    Inside a task numbarnn uses ``threads`` threads (default 1, set with
    :func:`numbarnn.set_num_threads` on the worker and restored after), so
    that worker processes do not oversubscribe the cores. Every numbarnn
    kernel is compiled with ``nogil=True``, so a *threaded* worker
    (``threads_per_worker > 1``) runs kernels of different tasks in
    parallel too.
Failures
    An exception raised by ``fit``/``forecast``/``log_likelihood`` is caught
    and returned as that series' result; so is any ``BaseException`` (a
    ``SystemExit``), which would otherwise kill the worker and its other
    series (in the calling process, Ctrl-C's ``KeyboardInterrupt`` still
    stops the call). A worker that dies
    mid-task (killed, out of memory) is handled by Dask: the scheduler
    reruns its tasks elsewhere (``distributed.scheduler.allowed-failures``
    times, 3 by default) and ``retries`` reruns tasks that fail outside the
    estimator (for example while unpickling); a batch that still fails, or
    does not finish within ``timeout``, gives an error result for each of
    its series.

Examples
--------
>>> import numpy as np
>>> from numbarnn import AutoRegressive
>>> from numbarnn.parallel import fit_many, log_likelihood_many
>>> rng = np.random.default_rng(0)
>>> series = [rng.standard_normal(200) for _ in range(50)]
>>> fits = fit_many(AutoRegressive(order=2), series)     # doctest: +SKIP
>>> fits.ok                                               # doctest: +SKIP
True
>>> fits[0].value.coef_.shape                             # doctest: +SKIP
(2,)
>>> ll = log_likelihood_many(fits, series)                # doctest: +SKIP
"""
import contextlib
import os
import time
import traceback
import uuid

from . import _local
from ._local import close_local_clusters
from ._results import Results, SeriesResult, clone
from ._worker import _run_batch, run_item

__all__ = ["SeriesResult", "Results", "clone", "close_local_clusters", "fit_many",
           "forecast_many", "log_likelihood_many"]


def _distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("numbarnn.parallel needs dask.distributed: "
                          'pip install "numbarnn[dask]"') from exc
    return distributed


#: Attempts to connect to a scheduler given by its address (see _connect).
CONNECT_ATTEMPTS = 3


def _connect(distributed, address):
    # distributed's Client asserts that the scheduler's first reply is one
    # message; when the scheduler's batched stream (2 ms) carries something
    # else for this client with it (most likely what happened when another
    # client of the scheduler cancelled its keys at that moment), the reply
    # holds two and the connection fails with a bare AssertionError (seen
    # twice in this project's CI runs, distributed 2026.8). A new connection
    # does not meet the same moment: try again
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            return distributed.Client(address, set_as_default=False)
        except AssertionError:
            if attempt == CONNECT_ATTEMPTS - 1:
                raise


@contextlib.contextmanager
def _client_for(client):
    distributed = _distributed()
    if isinstance(client, str):
        with _connect(distributed, client) as own:
            yield own
    elif isinstance(client, distributed.Client):
        yield client
    else:
        raise TypeError(f"client: expected a distributed.Client, a scheduler address or "
                        f"None, got {type(client).__name__}")


def _estimators(estimators, n):
    """One estimator per series: a list/Results as given, one object repeated."""
    if isinstance(estimators, Results):
        return [r.value if r.ok else r for r in estimators]
    if isinstance(estimators, (list, tuple)):
        return list(estimators)
    return [estimators] * n


def _map(op, items, args, kwargs, client, n_workers, batch_size, retries, timeout, threads):
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected a positive integer or None, got {batch_size!r}")
    if n_workers is not None and (not isinstance(n_workers, int) or isinstance(n_workers, bool)
                                  or n_workers < 1):
        raise ValueError(f"n_workers: expected a positive integer or None, got {n_workers!r}")
    if not items:
        return Results()
    deadline = None if timeout is None else time.monotonic() + timeout
    if client is None:
        client = _local.running_client()
    if client is not None:
        with _client_for(client) as c:
            return Results(_dispatch(c, op, items, args, kwargs, batch_size, retries,
                                     deadline, timeout, threads))
    if n_workers is not None:  # workers asked for: the process's LocalCluster
        return Results(_dispatch(_local.local_client(n_workers), op, items, args, kwargs,
                                 batch_size, retries, deadline, timeout, threads))
    # Measure, then choose: the calling process, or a LocalCluster that can repay its cost.
    n = min(2, os.cpu_count() or 1)
    first = next((i for i, it in enumerate(items) if not isinstance(it[1], SeriesResult)),
                 len(items) - 1)
    per = _local.estimate(op, items[first][1], kwargs)
    head = []
    running = _local.has_local_client(n)
    if per is None:
        # Time the first series; when that says "go parallel", time a second
        # one too: the first call may include one-off costs (compiling or
        # loading kernels, imports) that the others do not pay.
        for stop in (first + 1, first + 2):  # each step runs one estimator
            t0 = time.perf_counter()
            head += _run_here(op, items[len(head):stop], args, kwargs, None, timeout)
            took = time.perf_counter() - t0
            per = took if per is None else min(per, took)
            cost = _local.DISPATCH_S if running else _local.STARTUP_S
            if per * (len(items) - len(head)) <= 2 * cost:
                break
        _local.remember(op, items[first][1], kwargs, per)
    rest = items[len(head):]
    work = per * len(rest)
    if n >= 2 and rest and (work > 2 * _local.DISPATCH_S if running
                            else _local.should_start(work, n)):
        return Results(head + _dispatch(_local.local_client(n), op, rest, args, kwargs,
                                        batch_size, retries, deadline, timeout, threads))
    t0 = time.perf_counter()
    out = head + _run_here(op, rest, args, kwargs, deadline, timeout)
    if rest:
        _local.remember(op, items[first][1], kwargs, (time.perf_counter() - t0) / len(rest))
    return Results(out)


def _run_here(op, items, args, kwargs, deadline, timeout):
    """Run items in the calling process, in order (numbarnn's threads untouched)."""
    out = []
    for index, estimator, series in items:
        if deadline is not None and time.monotonic() > deadline:
            out.append(SeriesResult(index, error=TimeoutError(
                f"not started within timeout={timeout} s (run in the calling process)")))
            continue
        out.append(run_item(op, index, estimator, series, args, kwargs, local=True))
    return out


def _dispatch(c, op, items, args, kwargs, batch_size, retries, deadline, timeout, threads):
    if batch_size is None:
        workers = max(1, len(c.scheduler_info().get("workers", {})))
        batch_size = max(1, len(items) // (8 * workers))
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    tag = uuid.uuid4().hex[:12]
    futures = c.map(_run_batch, batches, key=[f"numbarnn-{op}-{tag}-{i}"
                                              for i in range(len(batches))],
                    retries=retries, pure=False, op=op, call_args=args,
                    call_kwargs=kwargs, threads=threads)
    results = []
    try:
        # One future at a time, in order: a result lost with its worker
        # before it was fetched is recomputed by the scheduler meanwhile.
        for batch, future in zip(batches, futures):
            results.extend(_collect(future, batch, deadline, timeout))
    finally:
        c.cancel([f for f in futures if not f.done()])
    return sorted(results, key=lambda r: r.index)


def _collect(future, batch, deadline, timeout):
    left = None
    if deadline is not None:  # a finished result still needs time to travel
        left = max(5.0 if future.status == "finished" else 0.01, deadline - time.monotonic())
    try:
        return future.result(timeout=left)
    except Exception as exc:
        if future.status == "error":  # the task itself failed (KilledWorker, ...)
            error, text = exc, traceback.format_exc()
        else:
            error, text = TimeoutError(f"not finished within timeout={timeout} s "
                                       f"(task status {future.status!r})"), ""
    finally:
        future.release()
    return [SeriesResult(index, error=error, traceback=text) for index, _, _ in batch]


_COMMON = """client : distributed.Client or str, optional
        The cluster to use, or a scheduler address. By default the running
        client (``distributed.default_client()``) when there is one;
        otherwise the first series runs in the calling process, timed, and
        the rest follow it there, or go to this process's LocalCluster when
        their estimated time repays the cluster's cost (see the module
        notes).
    n_workers : int, optional
        Worker processes of this process's LocalCluster; when given (and no
        client is given or running), that cluster is always used. Default
        ``min(2, cores)``.
    batch_size : int, optional
        Series per Dask task (default ``max(1, n // (8 * workers))``):
        amortises the task overhead for quick fits, while keeping eight
        tasks per worker to balance the load.
    retries : int, default 1
        Passed to ``client.submit``: reruns of a task that fails outside
        the estimator. Worker deaths are retried by the scheduler.
    timeout : float, optional
        Seconds to wait for everything; unfinished series get a
        ``TimeoutError`` result and their tasks are cancelled.
    threads : int or None, default 1
        numbarnn threads per task on a worker (None leaves the worker's
        setting); work run in the calling process leaves numbarnn's
        setting as it is."""


def fit_many(estimator, series, client=None, *, n_workers=None, batch_size=None, retries=1,
             timeout=None, threads=1, **fit_kwargs):
    """Fit a fresh :func:`clone` of ``estimator`` to each series.

    Parameters
    ----------
    estimator : object
        Anything with ``fit(series, **fit_kwargs)`` returning the fitted
        estimator (numbarnn's models, scikit-learn-style estimators).
        It is not modified; each series gets ``clone(estimator)``.
    series : sequence of array_like
        One training series each.
    {common}
    **fit_kwargs
        Passed to every ``fit``.

    Returns
    -------
    Results
        One :class:`SeriesResult` per series, in input order, whose
        ``value`` is the fitted estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import AutoRegressive
    >>> from numbarnn.parallel import fit_many
    >>> series = [np.random.default_rng(s).standard_normal(100) for s in range(20)]
    >>> series[3] = series[3][:2]                 # too short for order 5
    >>> fits = fit_many(AutoRegressive(order=5), series)   # doctest: +SKIP
    >>> [r.index for r in fits.failed]                     # doctest: +SKIP
    [3]
    >>> from distributed import Client                     # doctest: +SKIP
    >>> fits = fit_many(AutoRegressive(order=5), series, client=Client("tcp://host:8786"))  # doctest: +SKIP
    """
    items = [(i, estimator, s) for i, s in enumerate(series)]
    return _map("fit", items, (), fit_kwargs, client, n_workers, batch_size, retries, timeout,
                threads)


def forecast_many(estimators, steps, series=None, client=None, *, n_workers=None,
                  batch_size=None, retries=1, timeout=None, threads=1, **forecast_kwargs):
    """Forecast ``steps`` ahead with each fitted estimator.

    Parameters
    ----------
    estimators : Results, list, or one fitted estimator
        The :class:`Results` of :func:`fit_many` (a failed fit gives a failed
        forecast), a list of fitted estimators, or one estimator used for
        every series.
    steps : int
    series : sequence of array_like, optional
        Histories to continue, passed as ``forecast(steps, history)``; by
        default each estimator continues its own training series
        (``forecast(steps)``).
    {common}
    **forecast_kwargs
        Passed to every ``forecast``.

    Returns
    -------
    Results
        Values are the forecasts.

    Examples
    --------
    >>> from numbarnn.parallel import fit_many, forecast_many
    >>> fc = forecast_many(fit_many(AutoRegressive(order=2), series), steps=10)  # doctest: +SKIP
    >>> fc.values()[0].shape                                                    # doctest: +SKIP
    (10,)
    """
    n = len(series) if series is not None else len(estimators)
    ests = _estimators(estimators, n)
    hist = [None] * len(ests) if series is None else list(series)
    if len(ests) != len(hist):
        raise ValueError(f"estimators: expected {len(hist)} (one per series), got {len(ests)}")
    items = [(i, e, s) for i, (e, s) in enumerate(zip(ests, hist))]
    return _map("forecast", items, (steps,), forecast_kwargs, client, n_workers, batch_size,
                retries, timeout, threads)


def log_likelihood_many(estimators, series, client=None, *, n_workers=None, batch_size=None,
                        retries=1, timeout=None, threads=1, **kwargs):
    """``log_likelihood(series)`` of each fitted estimator on its series.

    Parameters
    ----------
    estimators : Results, list, or one fitted estimator
        As in :func:`forecast_many`; one estimator scores every series.
    series : sequence of array_like
    {common}
    **kwargs
        Passed to every ``log_likelihood``.

    Returns
    -------
    Results
        Values are floats (natural log, summed over each series).

    Examples
    --------
    >>> from numbarnn.parallel import log_likelihood_many
    >>> ll = log_likelihood_many(fits, series, client=client)   # doctest: +SKIP
    >>> ll.values(errors="none")[:2]                            # doctest: +SKIP
    [-141.2..., -139.8...]
    """
    series = list(series)
    ests = _estimators(estimators, len(series))
    if len(ests) != len(series):
        raise ValueError(f"estimators: expected {len(series)} (one per series), got {len(ests)}")
    items = [(i, e, s) for i, (e, s) in enumerate(zip(ests, series))]
    return _map("log_likelihood", items, (), kwargs, client, n_workers, batch_size, retries,
                timeout, threads)


for _f in (fit_many, forecast_many, log_likelihood_many):
    _f.__doc__ = _f.__doc__.replace("{common}", _COMMON)
del _f

"""Where ``client=None`` runs: the running client, the calling process, or one local cluster.

Starting a :class:`distributed.LocalCluster` costs seconds (4.4 s for 13 AR
fits that take 0.08 s in a loop), so it is started at most once per process
and only for work that can repay it (alone, or with the calls before it);
it is closed at exit, or by :func:`close_local_clusters`. The choice is
made by measurement: the first series runs in the calling process, timed,
and its time per series (kept per operation, estimator class and keyword
values for later calls) estimates the rest. Threads were measured too and
not used: the numba kernels release the GIL, but the
Python around them (validation, the optimizer loop) holds it, so two threads
ran LatentAR and AutoRegressive fits no faster than the loop (see
``docs/parallel.md``).
"""
import atexit
import os
import sys
import threading

#: Seconds a new LocalCluster of 2 processes took to start here (measured,
#: 3-5 s); a cluster is started only for estimated work of twice this.
STARTUP_S = 4.0
#: Seconds of scheduling, transfer and result overhead of one call on a running
#: cluster (measured, 0.05-0.2 s): below twice this the calling process runs
#: the work itself.
DISPATCH_S = 0.2

_LOCK = threading.Lock()
_CLUSTERS = {}  # n_workers -> (pid, cluster, client)
_SECONDS_PER_ITEM = {}  # _key(...) -> last measured seconds per series
#: Seconds that calls run in this process would have saved on a cluster, so far.
_forgone = [0.0]
_registered = False


def _new_lock():
    # after fork(), in the child: a parent thread starting a cluster may have
    # held the lock, and it does not exist there to release it
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)


def running_client():
    """The client a ``with Client(...)`` block or ``Client()`` made current, or None.

    Never imports Dask: when ``distributed`` is not imported, no client runs.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        client = distributed.client.default_client()
    except ValueError:
        return None
    return client if client.status == "running" else None


def local_client(n_workers):
    """This process's LocalCluster client of ``n_workers`` processes (started once)."""
    global _registered
    with _LOCK:
        entry = _CLUSTERS.get(n_workers)
        if entry is not None and entry[0] == os.getpid() and entry[2].status == "running":
            return entry[2]
        from . import _distributed

        distributed = _distributed()
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        # not the default client: the user's own dask calls must not land here
        client = distributed.Client(cluster, set_as_default=False)
        _CLUSTERS[n_workers] = (os.getpid(), cluster, client)
        if not _registered:
            atexit.register(close_local_clusters)
            _registered = True
        return client


def should_start(seconds, n_workers):
    """Whether work of ``seconds`` (serial) should start a LocalCluster now.

    Yes when this call alone repays the start (over twice ``STARTUP_S``), or
    when the time that calls run in process would have saved on a cluster,
    this one included, adds up to the cost of starting one: the rent-or-buy
    rule, never more than about twice the cost of the better choice made in
    hindsight, so repeated mid-sized jobs get the cluster too.
    """
    if seconds > 2 * STARTUP_S:
        return True
    if seconds > 2 * DISPATCH_S:
        _forgone[0] += seconds * (1 - 1 / n_workers)
    return _forgone[0] >= STARTUP_S


def has_local_client(n_workers):
    entry = _CLUSTERS.get(n_workers)
    return entry is not None and entry[0] == os.getpid() and entry[2].status == "running"


def close_local_clusters():
    """Close the local clusters that ``client=None`` calls started in this process.

    They are closed at interpreter exit anyway; call this to free the worker
    processes earlier. The next call that needs a cluster starts a new one.

    Examples
    --------
    >>> from numbarnn.parallel import close_local_clusters
    >>> close_local_clusters()
    """
    with _LOCK:
        entries = list(_CLUSTERS.values())
        _CLUSTERS.clear()
        _forgone[0] = 0.0
    for pid, cluster, client in entries:
        if pid != os.getpid():  # a forked child must not close its parent's cluster
            continue
        for thing in (client, cluster):
            try:
                thing.close()
            except Exception:  # closing at exit: nothing left to report it to
                pass


def _key(op, estimator, kwargs):
    # The keywords change the cost (epochs=1 or 500): plain values join the key.
    plain = tuple(sorted((k, v) for k, v in kwargs.items()
                         if isinstance(v, (bool, int, float, str, type(None)))))
    return op, type(estimator), plain


def remember(op, estimator, kwargs, seconds):
    _SECONDS_PER_ITEM[_key(op, estimator, kwargs)] = seconds


def estimate(op, estimator, kwargs):
    return _SECONDS_PER_ITEM.get(_key(op, estimator, kwargs))

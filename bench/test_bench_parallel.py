"""pytest-benchmark: many fits on dask.distributed, 1 worker process vs 2.

Issue 6's figure: ``numbarnn.parallel.fit_many`` on a LocalCluster of one
worker process and of two (one thread each, numbarnn's threads set to 1 in
every task), with a plain serial loop in this process (also one thread) as
the peer measured in the same run:

* ``parallel-ar``: 200 ``AutoRegressive(order=5)`` fits, series of 2,000;
* ``parallel-lstm``: 20 ``LatentAR("lstm", hidden_size=16)`` fits
  (``numbarnn.LSTM`` trained with ``numbarnn.train.fit``), series of 1,000,
  windows of 50, 15 epochs.

The speed-up is time(1 process) / time(2 processes); each cluster is started
and warmed (numbarnn imported, kernels loaded from the disk cache) before
timing. Under ``--benchmark-disable`` the sizes are small, for the smoke run.

    python -m pytest bench/test_bench_parallel.py --benchmark-group-by=group
"""
import logging

import pytest

import numbarnn
from numbarnn import AutoRegressive, LatentAR, datasets

distributed = pytest.importorskip("distributed")
from numbarnn.parallel import clone, fit_many  # noqa: E402

FULL = dict(ar=200, ar_T=2000, lstm=20, lstm_T=1000, epochs=15)
SMOKE = dict(ar=20, ar_T=300, lstm=4, lstm_T=200, epochs=2)


@pytest.fixture(scope="module")
def sizes(bench_smoke):
    return SMOKE if bench_smoke else FULL


def _ar_series(n, T):
    return [datasets.arma([0.5, -0.2, 0.1], [0.3], T, seed=s) for s in range(n)]


def _lstm_series(n, T):
    return [datasets.mackey_glass(T, x0=1.0 + 0.01 * s) for s in range(n)]


def _ar_job(sizes):
    return AutoRegressive(order=5), _ar_series(sizes["ar"], sizes["ar_T"]), {}


def _lstm_job(sizes):
    est = LatentAR("lstm", hidden_size=16, seed=0)
    kw = dict(window=50, epochs=sizes["epochs"], progress=False)
    return est, _lstm_series(sizes["lstm"], sizes["lstm_T"]), kw


JOBS = {"ar": _ar_job, "lstm": _lstm_job}


@pytest.fixture(scope="module", params=[1, 2], ids=["1proc", "2proc"])
def client(request, sizes):
    with distributed.LocalCluster(n_workers=request.param, threads_per_worker=1,
                                  processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as c:
        c.wait_for_workers(request.param, timeout=120)
        for job in JOBS.values():  # warm every worker: imports, kernel cache, allocations
            est, series, kw = job(SMOKE)
            fit_many(est, series[:2 * request.param], client=c, batch_size=1, **kw).values()
        yield c


@pytest.mark.parametrize("job", sorted(JOBS))
def test_fit_many(benchmark, client, sizes, job):
    est, series, kw = JOBS[job](sizes)
    n = len(client.scheduler_info()["workers"])
    benchmark.group = f"parallel-{job}"
    benchmark.extra_info.update(series=len(series), workers=n)
    results = benchmark.pedantic(fit_many, args=(est, series), kwargs=dict(client=client, **kw),
                                 rounds=3, iterations=1, warmup_rounds=1)
    assert results.ok and len(results) == len(series)


@pytest.mark.parametrize("job", sorted(JOBS))
def test_serial_loop(benchmark, sizes, job):
    """The peer: the same fits one after another in this process, one thread."""
    est, series, kw = JOBS[job](sizes)
    old = numbarnn.set_num_threads(1)
    try:
        benchmark.group = f"parallel-{job}"
        benchmark.extra_info.update(series=len(series), workers=0)
        fits = benchmark.pedantic(lambda: [clone(est).fit(s, **kw)
                                           for s in series], rounds=3, iterations=1,
                                  warmup_rounds=1)
    finally:
        numbarnn.set_num_threads(old)
    assert len(fits) == len(series)


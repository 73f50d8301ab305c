"""numbarnn.parallel on a real dask.distributed LocalCluster (no mocks; one
test injects a failure into distributed's Client constructor).

The module's cluster has two worker processes started here; one test kills
a worker process in the middle of a fit (SIGKILL, as the OOM killer would)
and checks that Dask reruns its work and nothing is lost. Estimator classes
defined here travel to the workers by value (cloudpickle), so the workers
need not import this file.
"""
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from numbarnn import AutoRegressive, MarkovChain  # noqa: E402
from numbarnn import parallel  # noqa: E402
from numbarnn.parallel import (Results, SeriesResult, _local, clone,  # noqa: E402
                               close_local_clusters, fit_many, forecast_many,
                               log_likelihood_many)

cloudpickle.register_pickle_by_value(sys.modules[__name__])

# Generous: a loaded 2-core machine can take seconds to restart a worker.
TIMEOUT = 60


def _cluster(**kw):
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", silence_logs=logging.CRITICAL, **kw)


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c


def _series(n, T=120):
    return [np.random.default_rng(s).standard_normal(T).cumsum() * 0.1 for s in range(n)]


class KillOnce(AutoRegressive):
    """Fitting series ``victim`` kills the worker process, the first time only."""

    def __init__(self, order, marker, victim, trend="c"):
        super().__init__(order, trend)
        self.marker, self.victim = marker, victim

    def fit(self, series, *, check_finite=True):
        if np.array_equal(series, _series(self.victim + 1)[self.victim]):
            try:  # O_EXCL: exactly one process wins, and dies
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                time.sleep(0.2)  # mid-run: other tasks are in flight
                os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(series, check_finite=check_finite)


class AlwaysKill(AutoRegressive):
    def fit(self, series, *, check_finite=True):
        if series.shape[0] == 7:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(series, check_finite=check_finite)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickling re-calls __init__ with one argument
        super().__init__(a)
        self.b = b

    def __reduce__(self):
        raise TypeError("cannot pickle")


class RaisesUnpicklable(AutoRegressive):
    def fit(self, series, **kw):
        raise Unpicklable("boom", lambda: None)


class Exits(AutoRegressive):
    """``fit`` raises SystemExit (a BaseException) for 7-sample series."""

    def fit(self, series, **kw):
        if len(series) == 7:
            sys.exit(3)
        if len(series) == 8:
            raise KeyboardInterrupt("raised by the estimator itself")
        return super().fit(series, **kw)


class Sleepy(AutoRegressive):
    def fit(self, series, **kw):
        time.sleep(1.5)
        return super().fit(series, **kw)


def _same_fit(a, b):
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_ and a.sigma2_ == b.sigma2_


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_fit_many_matches_serial(client, batch_size):
    series = _series(30)
    est = AutoRegressive(order=3)
    fits = fit_many(est, series, client=client, batch_size=batch_size, timeout=TIMEOUT)
    assert isinstance(fits, Results) and fits.ok and len(fits) == 30
    assert [r.index for r in fits] == list(range(30))
    for r, s in zip(fits, series):
        _same_fit(r.value, AutoRegressive(order=3).fit(s))
    assert not hasattr(est, "coef_")  # the template is never fitted


def test_failures_are_per_series(client):
    series = _series(10)
    series[4] = series[4][:3]
    series[8] = np.array([1.0, np.nan] * 20)
    fits = fit_many(AutoRegressive(order=2), series, client=client, batch_size=3,
                    timeout=TIMEOUT)
    assert [r.index for r in fits.failed] == [4, 8]
    assert isinstance(fits[4].error, ValueError) and "too few" in str(fits[4].error)
    assert "Traceback" in fits[4].traceback and "autoregressive.py" in fits[4].traceback
    assert all(r.ok for r in fits if r.index not in (4, 8))
    with pytest.raises(RuntimeError, match="series 4 failed"):
        fits.values()
    assert fits.values(errors="none")[4] is None


def test_forecast_and_log_likelihood_many(client):
    series = _series(12)
    series[5] = series[5][:2]
    fits = fit_many(AutoRegressive(order=2), series, client=client, timeout=TIMEOUT)
    fc = forecast_many(fits, 6, client=client, timeout=TIMEOUT)
    ll = log_likelihood_many(fits, series, client=client, timeout=TIMEOUT)
    assert [r.index for r in fc.failed] == [5] == [r.index for r in ll.failed]
    assert "too few" in fc[5].traceback  # the fit's own error, carried through
    for i in (0, 11):
        ref = AutoRegressive(order=2).fit(series[i])
        np.testing.assert_array_equal(fc[i].value, ref.forecast(6))
        assert ll[i].value == ref.log_likelihood(series[i])
    # one estimator for every series, with explicit histories
    one = fits[0].value
    fc1 = forecast_many(one, 3, series=series[:4], client=client, timeout=TIMEOUT)
    np.testing.assert_array_equal(fc1[2].value, one.forecast(3, series[2]))
    ll1 = log_likelihood_many(one, series[:4], client=client, timeout=TIMEOUT)
    assert ll1.values()[3] == one.log_likelihood(series[3])


def test_markov_chains_and_fit_kwargs(client):
    seqs = [np.random.default_rng(s).integers(0, 3, 300) for s in range(6)]
    fits = fit_many(MarkovChain(order=2, alpha=1.0), seqs, client=client, n_states=4,
                    timeout=TIMEOUT)
    assert fits.ok and fits[0].value.transition_.shape[-1] == 4
    ll = log_likelihood_many(fits, seqs, client=client, timeout=TIMEOUT)
    assert ll.values()[2] == MarkovChain(order=2, alpha=1.0).fit(
        seqs[2], n_states=4).log_likelihood(seqs[2])


def test_scheduler_address(client):
    fits = fit_many(AutoRegressive(order=1), _series(4), client=client.scheduler.address,
                    timeout=TIMEOUT)
    assert fits.ok


def test_a_connection_that_meets_distributeds_race_is_tried_again(client, monkeypatch):
    # distributed's Client raises a bare AssertionError when the scheduler's
    # first reply carries a second message (a race in distributed); the
    # first attempt here fails that way, the second connects
    real, calls = distributed.Client, []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise AssertionError
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "Client", flaky)
    fits = fit_many(AutoRegressive(order=1), _series(2), client=client.scheduler.address,
                    timeout=TIMEOUT)
    assert fits.ok and len(calls) == 2
    calls.clear()
    monkeypatch.setattr(distributed, "Client", lambda *a, **k: calls.append(a) or _fail())
    with pytest.raises(AssertionError):      # not forever: the last failure comes out
        fit_many(AutoRegressive(order=1), _series(2), client=client.scheduler.address,
                 timeout=TIMEOUT)
    assert len(calls) == parallel.CONNECT_ATTEMPTS


def _fail():
    raise AssertionError


def test_unpicklable_exception_comes_back_as_text(client):
    fits = fit_many(RaisesUnpicklable(order=1), _series(2), client=client, timeout=TIMEOUT)
    assert isinstance(fits[0].error, RuntimeError) and "Unpicklable: boom" in str(fits[0].error)
    assert "Unpicklable" in fits[1].traceback


@pytest.mark.slow
def test_worker_killed_mid_run_loses_nothing(client, tmp_path):
    marker = str(tmp_path / "killed")
    series = _series(24)
    est = KillOnce(order=2, marker=marker, victim=9)
    fits = fit_many(est, series, client=client, batch_size=2, timeout=TIMEOUT)
    assert os.path.exists(marker)  # a worker really died
    assert fits.ok, fits.failed
    for r, s in zip(fits, series):
        _same_fit(r.value, AutoRegressive(order=2).fit(s))
    client.wait_for_workers(2, timeout=TIMEOUT)  # the nanny restarted it


@pytest.mark.slow
def test_worker_that_always_dies_is_a_per_series_error():
    import dask

    # One task per worker at a time, so the dying task takes no other with it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}):
        with _cluster() as cluster, distributed.Client(cluster) as c:
            series = _series(6)
            series[2] = series[2][:7]
            fits = fit_many(AlwaysKill(order=1), series, client=c, batch_size=1,
                            timeout=TIMEOUT)
    assert len(fits) == 6 and not fits[2].ok
    # A task running beside it on the dying worker may share its fate; none is lost.
    for r in fits.failed:
        assert type(r.error).__name__ == "KilledWorker", r
    assert sum(r.ok for r in fits) >= 3


def test_timeout_gives_errors_not_a_hang(client):
    t0 = time.perf_counter()
    fits = fit_many(Sleepy(order=1), _series(2), client=client, batch_size=1, timeout=0.3)
    assert time.perf_counter() - t0 < 1.4
    assert all(isinstance(r.error, TimeoutError) for r in fits)


def test_base_exception_costs_only_its_own_series(client):
    # Issue 10 item 14: SystemExit used to kill the worker 4 times and its
    # batch-mates came back as KilledWorker.
    series = _series(6)
    series[1], series[4] = series[1][:7], series[4][:8]
    pids = set(client.run(os.getpid).values())
    fits = fit_many(Exits(order=1), series, client=client, batch_size=6, timeout=TIMEOUT)
    assert [r.index for r in fits.failed] == [1, 4]
    assert isinstance(fits[1].error, SystemExit) and fits[1].error.args == (3,)
    assert isinstance(fits[4].error, KeyboardInterrupt)
    for i in (0, 2, 3, 5):
        _same_fit(fits[i].value, AutoRegressive(order=1).fit(series[i]))
    assert set(client.run(os.getpid).values()) == pids  # no worker died


def test_base_exception_in_the_calling_process(monkeypatch):
    monkeypatch.setattr(_local, "running_client", lambda: None)  # the module's client is current
    series = _series(3)
    series[1] = series[1][:7]
    fits = fit_many(Exits(order=1), series, client=None, timeout=TIMEOUT)
    assert [r.index for r in fits.failed] == [1] and isinstance(fits[1].error, SystemExit)
    series[1] = _series(2)[1][:8]  # the user's Ctrl-C must still stop an in-process run
    with pytest.raises(KeyboardInterrupt):
        fit_many(Exits(order=1), series, client=None)


def test_own_local_cluster_is_kept_for_the_process():
    try:
        fits = fit_many(AutoRegressive(order=1), _series(3), n_workers=1, timeout=TIMEOUT)
        assert fits.ok
        first = _local.local_client(1)
        assert fit_many(AutoRegressive(order=1), _series(2), n_workers=1).ok
        assert _local.local_client(1) is first  # not restarted
    finally:
        close_local_clusters()
    assert not _local.has_local_client(1)


def test_no_client_small_jobs_run_in_process_without_dask(monkeypatch):
    # Issue 12 item 10: quick fits must not pay for a cluster.
    def refuse(n):
        raise AssertionError("no cluster for quick fits")

    monkeypatch.setattr(_local, "local_client", refuse)
    monkeypatch.setattr(_local, "running_client", lambda: None)
    monkeypatch.setattr(_local, "_SECONDS_PER_ITEM", {})
    monkeypatch.setattr(_local, "_forgone", [0.0])
    series = _series(40)
    fits = fit_many(AutoRegressive(order=3), series)
    assert fits.ok
    for r, s in zip(fits, series):
        _same_fit(r.value, AutoRegressive(order=3).fit(s))
    fc = forecast_many(fits, 4)
    np.testing.assert_array_equal(fc[7].value, AutoRegressive(order=3).fit(series[7]).forecast(4))


def test_mid_sized_jobs_start_the_cluster_by_rent_or_buy(monkeypatch):
    sent = []
    monkeypatch.setattr(_local, "running_client", lambda: None)
    monkeypatch.setattr(_local, "local_client", lambda n: "cluster")
    monkeypatch.setattr(_local, "has_local_client", lambda n: False)
    monkeypatch.setattr(_local, "estimate", lambda *a: 0.3)  # e.g. LatentAR fits
    monkeypatch.setattr(_local, "_forgone", [0.0])
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(sys.modules["numbarnn.parallel"], "_dispatch",
                        lambda c, op, items, *rest: sent.append(c) or
                        [SeriesResult(i, value=0) for i, _, _ in items])
    series = _series(16)
    # 16 x 0.3 s = 4.8 s: alone it does not repay a 4 s start (2 x 4 s needed) ...
    assert fit_many(AutoRegressive(order=1), series).ok and sent == []
    assert _local._forgone[0] == pytest.approx(2.4)  # what 2 workers would have saved
    # ... but the second such call brings the forgone savings to 4.8 s >= 4 s
    fit_many(AutoRegressive(order=1), series)
    assert sent == ["cluster"]


def test_no_client_uses_the_running_client(client, monkeypatch):
    seen = []
    real = _local.running_client
    monkeypatch.setattr(_local, "running_client", lambda: seen.append(real()) or seen[-1])
    with client.as_current():
        fits = fit_many(AutoRegressive(order=1), _series(3))
    assert fits.ok and seen[-1] is client


def test_no_client_large_jobs_go_to_the_cluster(monkeypatch):
    sent = []

    class Fake:
        pass

    def fake_dispatch(c, op, items, *rest):
        sent.append((c, [i for i, _, _ in items]))
        return [SeriesResult(i, value=i) for i, _, _ in items]

    monkeypatch.setattr(_local, "running_client", lambda: None)
    monkeypatch.setattr(_local, "local_client", lambda n: Fake)
    monkeypatch.setattr(_local, "has_local_client", lambda n: False)
    monkeypatch.setattr(_local, "_SECONDS_PER_ITEM", {})
    monkeypatch.setattr(_local, "_forgone", [0.0])
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(sys.modules["numbarnn.parallel"], "_dispatch", fake_dispatch)
    series = _series(20)
    fits = fit_many(Sleepy(order=1), series[:12])  # 1.5 s each: 15 s left > 2 x 4 s
    assert fits.ok and sent == [(Fake, list(range(2, 12)))]  # two timed here
    assert isinstance(fits[1].value, Sleepy)  # the timed series ran here
    sent.clear()
    fits = fit_many(Sleepy(order=1), series)  # remembered: everything goes out
    assert sent == [(Fake, list(range(20)))]
    sent.clear()
    fit_many(Sleepy(order=1), series[:12], check_finite=False)  # other keywords: timed again
    assert sent == [(Fake, list(range(2, 12)))]


def test_empty_and_bad_arguments(client):
    assert fit_many(AutoRegressive(order=1), [], client=client) == []
    with pytest.raises(ValueError, match="batch_size"):
        fit_many(AutoRegressive(order=1), _series(2), client=client, batch_size=0)
    with pytest.raises(ValueError, match="estimators"):
        log_likelihood_many([AutoRegressive(order=1)], _series(2), client=client)


def test_clone():
    fitted = AutoRegressive(order=2, trend="n").fit(_series(1)[0])
    fresh = clone(fitted)
    assert (fresh.order, fresh.trend) == (2, "n") and not hasattr(fresh, "coef_")

    class WithGetParams:
        def __init__(self, a=1):
            self.alpha = a

        def get_params(self):
            return {"a": self.alpha}

    assert clone(WithGetParams(5)).alpha == 5

    class Opaque:  # constructor argument not stored: deep copy instead
        def __init__(self, size):
            self.weights = np.zeros(size)

    o = Opaque(3)
    c = clone(o)
    assert c is not o and c.weights is not o.weights and c.weights.shape == (3,)


def test_series_result_repr_and_unwrap():
    assert repr(SeriesResult(2, value=1.0)) == "SeriesResult(index=2, value=1.0)"
    with pytest.raises(RuntimeError, match="remote trace") as info:
        SeriesResult(0, error=ValueError("x"), traceback="remote trace").unwrap()
    assert isinstance(info.value.__cause__, ValueError)


def test_import_numbarnn_does_not_import_dask():
    # nor does fit_many without a client on quick fits (they run in process)
    code = ("import sys, numpy as np, numbarnn, numbarnn.parallel as p; "
            "assert p.fit_many(numbarnn.AutoRegressive(1), [np.arange(9.0) % 4] * 3).ok; "
            "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; "
            "sys.exit(', '.join(bad) or None)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_process_cluster_is_closed_at_exit(tmp_path):
    # The LocalCluster that client=None keeps for the process must not outlive
    # it nor make the interpreter hang or complain on the way out.
    script = tmp_path / "uses_cluster.py"
    script.write_text(
        "import numpy as np\n"
        "from numbarnn import AutoRegressive\n"
        "from numbarnn.parallel import fit_many, _local\n"
        "if __name__ == '__main__':\n"
        "    fits = fit_many(AutoRegressive(1), [np.arange(20.0) % 5] * 3, n_workers=1)\n"
        "    assert fits.ok and _local.has_local_client(1)\n"
        "    print('workers', len(_local._CLUSTERS[1][1].scheduler_info['workers']))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "workers 1" in proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]

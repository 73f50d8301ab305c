"""Timing: warm-up, interleaved rounds with pauses, thread settings, machine info.

Why interleave and pause: BLAS/OpenMP worker threads of one library keep
spinning for a while after a call (OpenBLAS: ~0.12 s) and can slow the next
library's call by up to 2x (bench/README.md, "Threads and pauses"). Each round therefore runs every contender once,
with a short sleep and then an untimed lead-in (as many calls as the sample
makes) before its sample, and the
reported time is the median over rounds, so slow drift of the machine hits
all contenders alike.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

from .cases import CONTENDERS, Case, make_data
from .contenders import Unavailable, make_callable, torch_or_none

__all__ = [
    "NUMPY_MAX_S", "Timing", "machine_info", "numbarnn_threads", "set_threads", "time_case",
    "wait_for_idle", "warm_up",
]

_blas_limits = None  # threadpoolctl's limiter, when set_threads made one

#: The numpy peer is skipped where one call takes longer than this (seconds).
NUMPY_MAX_S = 1.0


@dataclass
class Timing:
    """Result of one contender on one case.

    ``median`` is seconds per call, or None with ``note`` saying why
    (``"n/a: torch is not installed"``, ``"skip: ..."``). ``disturbed``
    counts samples during which other processes kept a CPU busy (Linux).
    """

    median: float | None
    samples: list = field(default_factory=list)
    number: int = 1  # calls per sample
    note: str = ""
    retried: int = 0  # samples taken again because other processes used the CPUs
    disturbed: int = 0  # samples kept although other processes used the CPUs


def warm_up(fn) -> float:
    """Call ``fn`` twice (JIT compile, then a warm call); seconds of the second.

    Examples
    --------
    >>> from numbarnn.bench import warm_up
    >>> warm_up(lambda: sum(range(1000))) >= 0.0
    True
    """
    fn()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_case(
    case: Case,
    contenders=CONTENDERS,
    *,
    rounds: int = 5,
    pause: float = 0.1,
    min_sample: float = 0.02,
    budget: float = 10.0,
    numpy_max: float = NUMPY_MAX_S,
    retries: int = 0,
    wait_idle: float = 0.0,
    data=None,
) -> dict:
    """Time the contenders on one case, interleaved, and return medians.

    Parameters
    ----------
    case : Case
    contenders : sequence of str, optional
        In the order they run within a round.
    rounds : int, optional
        Samples per contender; the median is reported.
    pause : float, optional
        Seconds of sleep before each contender's sample, which is preceded by
        an untimed lead-in of as many calls as the sample (see module notes).
    min_sample : float, optional
        A sample repeats a fast call until it lasts about this long, so
        timer granularity and scheduler noise do not dominate.
    budget : float, optional
        A contender whose rounds would take longer than this many seconds
        gets fewer rounds (at least 3), e.g. torch's float64 GRU at S6.
    numpy_max : float, optional
        Skip the numpy peer if one warm call takes longer (seconds).
    retries : int, optional
        Take a sample again, up to this many times, when other processes
        used the CPUs during it (see :func:`wait_for_idle`).
    wait_idle : float, optional
        Before such a retry, wait up to this long for idle CPUs.
    data : dict, optional
        From :func:`make_data`; made from ``case`` when None.

    Returns
    -------
    dict
        ``{contender: Timing}``.

    Examples
    --------
    >>> from numbarnn.bench import Case, time_case
    >>> res = time_case(Case("rnn", "float64", "forward", "S2s"), ["numpy"],
    ...                 rounds=3, pause=0.0, min_sample=0.0)
    >>> res["numpy"].median > 0, len(res["numpy"].samples)
    (True, 3)
    """
    data = make_data(case) if data is None else data
    fns, plan, out = {}, {}, {}
    for name in contenders:
        try:
            fn = make_callable(name, case, data)
        except Unavailable as exc:
            out[name] = Timing(None, note=f"n/a: {exc}")
            continue
        time.sleep(pause)
        once = warm_up(fn)
        if name == "numpy" and once > numpy_max:
            out[name] = Timing(None, note=f"skip: {once:.2f} s per call > {numpy_max} s")
            continue
        number = max(1, math.ceil(min_sample / max(once, 1e-9)))
        n_rounds = rounds
        per_round = once * 2 * number  # the sample plus its untimed lead-in
        if per_round * rounds > budget:
            n_rounds = max(min(3, rounds), int(budget / per_round))
        fns[name], plan[name] = fn, (number, n_rounds)
        out[name] = Timing(None, number=number)

    for r in range(rounds):
        for name, fn in fns.items():
            number, n_rounds = plan[name]
            if r >= n_rounds:
                continue
            timing = out[name]
            for attempt in range(retries + 1):
                # Watched from before the pause: /proc/stat counts in 10 ms
                # ticks, too coarse for a 20 ms sample alone.
                t_start, cpu_start = time.perf_counter(), _cpu_busy_seconds()
                time.sleep(pause)
                # The first call after a pause wakes sleeping worker threads
                # and ran up to 5x slower for torch (20% for numbarnn) on the
                # 2-core VM, and the CPU itself stays slow for 20-30 ms: one
                # LSTM.step (~5 µs) sampled after one untimed call took 7.4
                # µs (median of 7), after 30 ms of calls 5.0; torch's cell
                # 34 and 30. So the lead-in lasts as long as the sample.
                _sample(fn, number)
                dt = _sample(fn, number)
                others = _others_cpu(cpu_start, _cpu_busy_seconds())
                # Another process on these cores slowed torch's OpenMP loops
                # up to 100x and numbarnn's barely: such a sample is no ratio.
                disturbed = others is not None and others > max(
                    0.03, 0.25 * (time.perf_counter() - t_start))
                if not disturbed or attempt == retries:
                    break
                timing.retried += 1
                wait_for_idle(wait_idle)
            timing.disturbed += disturbed
            timing.samples.append(dt / number)
    for t in out.values():
        if t.samples:
            t.median = statistics.median(t.samples)
    return out


def _cpu_busy_seconds():
    """(busy CPU seconds of all processes, of this one) so far; None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal: steal is the host
    # running other guests on our cores, which hurts just the same.
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy / os.sysconf("SC_CLK_TCK"), time.process_time()


def _others_cpu(before, after):
    """CPU seconds other processes used between two :func:`_cpu_busy_seconds`."""
    if before is None or after is None:
        return None
    return (after[0] - before[0]) - (after[1] - before[1])


def _sample(fn, number):
    """Seconds for ``number`` back-to-back calls."""
    # As timeit does: a collection in the middle of a sample is noise.
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def numbarnn_threads() -> int:
    """numbarnn's thread count: ``numbarnn.get_num_threads()``, else the cores.

    Examples
    --------
    >>> from numbarnn.bench import numbarnn_threads
    >>> numbarnn_threads() >= 1
    True
    """
    import numbarnn

    get = getattr(numbarnn, "get_num_threads", None)
    return get() if get is not None else (os.cpu_count() or 1)


def set_threads(n: int) -> list:
    """Use ``n`` threads in numbarnn, torch and BLAS.

    numba's own thread pool is left alone: numbarnn does not use it, and
    starting it (``numba.set_num_threads`` or ``get_num_threads``) loads the
    system libgomp, which a torch imported afterwards then shares instead
    of its bundled one; torch's loops ran 30-100x slower in that process
    whenever another process was busy. torch is imported first for the same
    reason.

    Parameters
    ----------
    n : int

    Returns
    -------
    list of str
        Warnings about settings that could not be applied.

    Examples
    --------
    >>> from numbarnn.bench import numbarnn_threads, set_threads
    >>> set_threads(numbarnn_threads())
    []
    """
    global _blas_limits
    torch = torch_or_none()
    import numbarnn
    import scipy.linalg.cython_blas  # noqa: F401 - load numbarnn's BLAS so the limit reaches it
    import threadpoolctl

    warnings = []
    if hasattr(numbarnn, "set_num_threads"):
        numbarnn.set_num_threads(n)
    else:
        warnings.append("this numbarnn has no set_num_threads; its thread count is unchanged")
    if torch is not None:
        torch.set_num_threads(n)
    # Kept alive on purpose: the limit lasts as long as the object.
    _blas_limits = threadpoolctl.threadpool_limits(n, user_api="blas")
    return warnings


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return f"not importable ({exc.__class__.__name__})"
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(module)
        except Exception:  # noqa: BLE001 - a source checkout has no metadata
            version = "unknown (source checkout)"
    return version


def machine_info() -> dict:
    """Versions, thread counts and CPU model, for the top of every report.

    Examples
    --------
    >>> from numbarnn.bench import machine_info
    >>> info = machine_info()
    >>> info["cpu_count"] > 0 and "numbarnn_threads" in info
    True
    """
    import numba

    torch = torch_or_none()
    info = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numbarnn": _version("numbarnn"),
        "numba": numba.__version__,
        "numpy": _version("numpy"),
        "torch": torch.__version__ if torch is not None else "not installed",
        "numbarnn_threads": numbarnn_threads(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
    try:
        import threadpoolctl

        # Which BLAS/OpenMP libraries are loaded: torch's OpenMP should be
        # torch/lib/libgomp.so.1; a system libgomp alone means torch runs on
        # that one (see set_threads).
        info["threadpools"] = [
            f"{p['internal_api']}:{os.path.join(*p['filepath'].split(os.sep)[-2:])}"
            f":{p['num_threads']}" for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_avg_1min"] = round(os.getloadavg()[0], 2)
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
           if k in os.environ}
    if env:
        info["thread_env"] = env
    return info


def wait_for_idle(max_wait: float, busy_max: float = 0.1, window: float = 1.0):
    """Sleep until the CPUs stay nearly idle for ``window`` seconds.

    On a shared machine another process's load makes OpenMP/BLAS threads
    wait for a core, which distorts some contenders far more than others.
    Measured from ``/proc/stat`` while this process sleeps, so it sees the
    other processes (and any of our own worker threads still spinning).

    Parameters
    ----------
    max_wait : float
        Give up after this many seconds.
    busy_max : float, optional
        Largest busy fraction of all CPUs that counts as idle.
    window : float, optional
        Length of each measurement, seconds.

    Returns
    -------
    waited : float
        Seconds spent waiting.
    idle : bool or None
        Whether an idle window was found; None where ``/proc/stat`` does not
        exist (not Linux), in which case nothing is waited for.

    Examples
    --------
    >>> from numbarnn.bench import wait_for_idle
    >>> waited, idle = wait_for_idle(0.0)
    >>> waited >= 0.0
    True
    """
    t_start = time.perf_counter()
    if not os.path.exists("/proc/stat"):
        return 0.0, None
    while True:
        before = _cpu_busy_seconds()
        time.sleep(window)
        busy = (_cpu_busy_seconds()[0] - before[0]) / (window * (os.cpu_count() or 1))
        waited = time.perf_counter() - t_start
        if busy <= busy_max:
            return waited, True
        if waited >= max_wait:
            return waited, False

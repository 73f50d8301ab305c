"""pytest-benchmark setup for numbarnn: shape selection and the pause.

Which shapes run:

* ``--bench-shapes=all|smoke|S1,S3,...`` (or ``NUMBARNN_BENCH_SHAPES``);
* otherwise ``smoke`` (S1s, S2s, S6s: S1/S2/S6 with shorter sequences)
  under ``--benchmark-disable``, where every body runs once and only
  correctness matters, and ``all`` (S1-S6) when timing.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

try:
    import numbarnn.bench  # noqa: F401
except ImportError:
    # `pytest bench` from a checkout that is not pip-installed: rootdir
    # conftest import puts bench/, not the repository root, on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numbarnn.bench import iter_cases, resolve_shapes, torch_or_none  # noqa: E402

# torch before anything starts numba's thread pool (numba.get_num_threads
# does): that loads the system libgomp, a torch imported later shares it
# instead of its own, and its loops ran 30-100x slower whenever another
# process was busy (see numbarnn.bench.set_threads).
torch_or_none()


def pytest_addoption(parser):
    group = parser.getgroup("numbarnn-bench", "numbarnn benchmarks")
    group.addoption(
        "--bench-shapes",
        default=os.environ.get("NUMBARNN_BENCH_SHAPES"),
        help="'all' (S1-S6), 'smoke' (S1s,S2s,S6s) or a comma list; default: smoke "
        "under --benchmark-disable, else all (env: NUMBARNN_BENCH_SHAPES)",
    )
    group.addoption(
        "--bench-pause",
        type=float,
        default=0.25,
        help="seconds slept before each benchmark so the previous library's "
        "BLAS/OpenMP threads stop spinning (default 0.25; OpenBLAS spins for "
        "about 0.12 s)",
    )


def _is_smoke(config):
    """A smoke run: ``--bench-shapes=smoke``, or ``--benchmark-disable`` without a choice."""
    spec = config.getoption("--bench-shapes")
    if spec is None:
        return config.getoption("benchmark_disable", default=False)
    return spec == "smoke"


@pytest.fixture(scope="session")
def bench_smoke(request):
    """True in a smoke run, where the benchmarks use their small sizes."""
    return _is_smoke(request.config)


def _shapes(config):
    spec = config.getoption("--bench-shapes")
    if spec is None:
        spec = "smoke" if _is_smoke(config) else "all"
    try:
        return resolve_shapes(spec)
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-shapes: {exc}") from None


def pytest_report_header(config):
    return f"numbarnn bench shapes: {','.join(_shapes(config))}"


def pytest_generate_tests(metafunc):
    # `case` is parametrized here, not with a decorator, because the shape
    # list depends on command-line options.
    if "case" in metafunc.fixturenames:
        cases = list(iter_cases(shapes=_shapes(metafunc.config)))
        metafunc.parametrize("case", cases, ids=[c.group for c in cases])


@pytest.fixture(autouse=True)
def _pause(request):
    time.sleep(request.config.getoption("--bench-pause"))

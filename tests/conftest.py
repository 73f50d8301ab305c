"""pytest configuration for numbarnn's tests.

Makes ``tests/`` importable (``from reference import lstm``, ``import helpers``)
and turns every warning into an error (the project's rule): an overflow warning
from a logistic, or a numba performance warning, is a failure.
"""
import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
# tests/ for ``reference`` and ``helpers``; the repository root so that a
# plain ``pytest`` finds the source tree's numbarnn without an install.
for path in (REPO_DIR, TESTS_DIR):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error")
    # Raised by hypothesis's own report hook in this environment when a
    # hypothesis test fails; as an error it would abort the whole run.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


@pytest.fixture
def split_small_passes(monkeypatch):
    """Let the engine split passes far smaller than a split pays for in real
    use (``engine.THREADED_PASS_BYTES``): the thread tests split small, fast
    shapes on purpose. ``test_engine.py::test_small_passes_run_on_one_worker``
    checks the rule itself."""
    from numbarnn.functional import engine
    monkeypatch.setattr(engine, "THREADED_PASS_BYTES", 0)

"""The measurement scripts in scripts/ still run (they import engine internals,
which change): each once, on its smallest setting."""
import pathlib
import subprocess
import sys

import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"


def run(name, *args):
    out = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_thread_scaling_runs():
    out = run("thread_scaling.py", "--repeat", "20", "--rounds", "1", "--passes", "S2s")
    assert "scaling (fastest rounds):" in out
    assert "lstm-float64-fwdbwd-S2s: 1 thread" in out, out


def test_gru_forms_runs():
    pytest.importorskip("torch")
    out = run("gru_forms.py", "--shapes", "S2", "--rounds", "1", "--pause", "0")
    assert "reset-before" in out and "reset-after" in out, out

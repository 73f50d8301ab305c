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


@pytest.mark.slow
def test_cold_compile_runs_and_checks_its_arguments():
    # the smallest real run: one cell, one dtype, compiled into an empty cache (~30 s)
    out = run("cold_compile.py", "--cells", "rnn", "--dtypes", "float64", "--top", "3")
    assert out.startswith("cold compile: ") and "(rnn; float64)" in out, out
    total = float(out.split()[2])
    listed = [line.split() for line in out.strip().splitlines()[1:]]
    assert len(listed) == 3 and all(len(f) == 3 and f[1] == "s" for f in listed), out
    own = [float(f[0]) for f in listed]
    # longest first, and no kernel's own time above the whole run's
    assert own == sorted(own, reverse=True) and 0 < own[0] < total, out
    assert all("." in f[2] for f in listed), out   # module.function
    bad = subprocess.run([sys.executable, str(SCRIPTS / "cold_compile.py"), "--cells", "lstn"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--cells: unknown ['lstn']" in bad.stderr, bad.stderr

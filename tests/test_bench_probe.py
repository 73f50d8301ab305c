"""The bench's probe of the machine's two-thread scaling (bench/probe.py)."""
import json
import os

import numpy as np
import pytest

from numbarnn.bench import main
from numbarnn.bench.probe import (SHAPE, arithmetic_scaling, operands, peak_rate,
                                  repeat_product)


def test_the_probe_repeats_the_product_it_is_given():
    # the work is the real product: numpy's matmul is the oracle
    a, wp, bias, out, n_panels = operands(8, 16, 40, np.float32, 1)
    repeat_product(a, wp, bias, out, n_panels, 3)
    rng = np.random.default_rng(1)  # operands draws a, then the weights
    assert np.array_equal(rng.standard_normal((8, 16)).astype(np.float32), a)
    w = rng.standard_normal((40, 16)).astype(np.float32)
    assert np.allclose(out[:, :40], a @ w.T, rtol=1e-5, atol=1e-5)


def test_the_probe_compares_the_fastest_rounds():
    rounds = []
    value = arithmetic_scaling(repeat=10, rounds=3, report=lambda one, two: rounds.append(
        (one, two)))
    assert len(rounds) == 3
    assert value == pytest.approx(2 * min(r[0] for r in rounds) / min(r[1] for r in rounds))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux CPU affinity and two CPUs")
def test_two_threads_on_one_cpu_do_not_scale():
    # pinned to one CPU, the two threads can only take turns: ~1.0
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    try:
        value = arithmetic_scaling(repeat=50, rounds=3)
    finally:
        os.sched_setaffinity(0, old)
    assert 0.5 < value < 1.3


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the probe needs two CPUs")
def test_the_bench_reports_the_probe_before_and_after_its_table(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["--quick", "--cells", "rnn", "--modes", "step", "--contenders", "numpy",
                 "--json", str(path)]) == 0
    text = capsys.readouterr().out
    assert "# arithmetic scaling before the table:" in text
    assert "# arithmetic scaling after the table:" in text
    scaling = json.loads(path.read_text())["machine"]["arithmetic_scaling"]
    assert set(scaling) == {"before", "after"} and all(v > 0 for v in scaling.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_peak_is_the_work_of_all_threads_over_the_fastest_round(dtype, threads):
    rounds = []
    value = peak_rate(dtype, threads, repeat=10, rounds=3, report=rounds.append)
    M, K, N = SHAPE
    assert len(rounds) == 3
    assert value == pytest.approx(2 * M * K * N * 10 * threads / min(rounds) / 1e9)


@pytest.mark.parametrize("threads", [0, -1, True, 2.0, "2", np.int64(0)])
def test_the_peak_rejects_a_thread_count_that_is_not_a_positive_int(threads):
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        peak_rate("float32", threads, repeat=1, rounds=1)


def test_the_peak_takes_a_numpy_integer_thread_count():
    rounds = []
    value = peak_rate("float32", np.int64(2), repeat=2, rounds=2, report=rounds.append)
    M, K, N = SHAPE
    assert value == pytest.approx(2 * M * K * N * 2 * 2 / min(rounds) / 1e9)


def test_the_bench_puts_each_row_against_the_peak_of_its_dtype(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["--quick", "--cells", "lstm", "--dtypes", "float32,float64", "--modes",
                 "forward", "--contenders", "numbarnn", "--rounds", "1", "--json",
                 str(path)]) == 0
    text = capsys.readouterr().out
    data = json.loads(path.read_text())
    peaks = data["machine"]["peak_gflops"]
    assert set(peaks) == {"float32", "float64"} and all(v > 0 for v in peaks.values())
    assert f"# peak: the packed micro-kernel on {data['settings']['threads']} thread(s)" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("lstm ")]
    assert len(rows) == len(data["results"]) == 2
    for row, r in zip(rows, data["results"]):
        # recurrent GFLOP/s from the row's own time and the case's work
        gflops = 2 * r["dims"][1] * 4 * r["dims"][3] ** 2 * r["dims"][0] / (
            r["timings"]["numbarnn"]["median"] * 1e9)
        assert r["recurrent_gflops"] == pytest.approx(gflops)
        assert r["share_of_peak"] == pytest.approx(gflops / peaks[r["dtype"]])
        assert row[-1] == f"{100 * r['share_of_peak']:.0f}%"

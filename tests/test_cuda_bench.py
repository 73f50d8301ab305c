"""``python -m numbarnn bench --device cuda`` (numbarnn/bench/gpu.py).

The timing loop and the table run in the simulator on a tiny shape; the
numbers are checked against the functional API on the host (the runner must
time a real pass), and cuDNN is reported as skipped where torch has no CUDA.
"""
import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.cuda

from numbarnn import functional as F  # noqa: E402
from numbarnn.bench import gpu  # noqa: E402
from numbarnn.bench.cases import Shape  # noqa: E402


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(gpu.GPU_SHAPES, "tiny", Shape(3, 2, 2, 4))
    return "tiny"


def test_runner_runs_the_pass_it_times(tiny):
    if not cuda.is_available():
        pytest.skip("needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")
    data = gpu.host_data("lstm", "float64", tiny)
    gpu.numbarnn_runner("lstm", "fwdbwd", data)()
    # the same arrays through the host path: what the runner feeds the GPU
    res = F.lstm_forward(data["x"], data["w_ih"], data["w_hh"], data["b_ih"], data["b_hh"])
    d = {n: cuda.to_device(a) for n, a in data.items()}
    dev = F.lstm_forward(d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    np.testing.assert_allclose(dev.y.copy_to_host(), res.y, rtol=1e-12, atol=1e-14)


def test_table_has_a_line_per_case(tiny):
    if not cuda.is_available():
        pytest.skip("needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1")
    lines = []
    medians = gpu.time_cases(["rnn"], ["float64"], ["fwd", "fwdbwd"], [tiny], rounds=1,
                             budget_s=0.0, out=lines.append)
    assert set(medians) == {"rnn-float64-fwd-tiny", "rnn-float64-fwdbwd-tiny"}
    assert all(t["numbarnn"] > 0 for t in medians.values())
    table = [line for line in lines if line.startswith("rnn-float64") and "skipped" not in line]
    assert len(table) == 2
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():  # cuDNN left out, the ratio column a dash
        assert all(line.split()[-1] == "-" for line in table)


def test_cpu_only_machine_gets_a_clear_exit_status(monkeypatch, capsys):
    from numbarnn.bench import main
    from numbarnn.functional import device

    def no_gpu():
        raise RuntimeError("no CUDA GPU is available")

    monkeypatch.setattr(device, "cuda_modules", no_gpu)
    assert main(["--device", "cuda", "--shapes", "S1", "--cells", "rnn"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err

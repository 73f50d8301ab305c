"""``python -m numbarnn demo --quick``: runs, prints both tables, writes the plots."""
import os

from numbarnn.__main__ import main as cli
from numbarnn.demo import main


def test_quick_demo(tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["--quick", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    for needle in ("Mackey-Glass", "1-step NRMSE", "50-step NRMSE", "test loglik/obs",
                   "AR(", "RNN latent AR", "GRU latent AR", "LSTM latent AR",
                   "bits/symbol", "Markov chain, order 3", "true source",
                   "Gradient flow", str(out)):
        assert needle in text, needle
    for name in ("forecasts.png", "gradient_flow.png"):
        path = out / name
        assert path.exists() and os.path.getsize(path) > 10_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_dispatches_demo_help(capsys):
    assert cli(["demo", "--help"]) == 0
    assert "--quick" in capsys.readouterr().out

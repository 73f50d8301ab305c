"""Every example of docs/tutorials/autoregressive.md runs as a script of its own."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "tutorials", "autoregressive.md")


def _blocks():
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    for rst in re.findall(r"```\{eval-rst\}\n(.*?)```", text, re.S):
        body = [ln[3:] for ln in rst.splitlines()
                if not ln.startswith(".. plot::") and not ln.strip().startswith(":")]
        blocks.append("\n".join(body))
    return blocks


BLOCKS = _blocks()


def test_page_has_examples():
    assert len(BLOCKS) == 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs_as_a_script(index, tmp_path):
    pytest.importorskip("statsmodels")
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

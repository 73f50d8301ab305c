"""Every python example of docs/parallel.md runs when copied into a file (issue 10 item 17).

Each ```python block is written to its own script and run with a fresh
interpreter, as a user would run it: worker processes are spawned, so a
script without the ``if __name__ == "__main__":`` guard dies with "Nanny
failed to start".
"""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("distributed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "parallel.md")


def _examples():
    with open(DOC, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_docs_have_examples():
    assert len(_examples()) >= 2


@pytest.mark.parametrize("i", range(len(_examples())))
def test_example_runs_as_a_script(tmp_path, i):
    code = _examples()[i]
    script = tmp_path / f"example_{i}.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Nanny failed" not in proc.stderr

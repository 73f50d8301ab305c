"""Every example a user can copy into a file runs as one.

README.md's python blocks run as written (in a scratch folder). The docs
pages' examples (python blocks and the code of ``.. plot::`` directives) are
checked to be self-contained, with a ``__main__`` guard where they start
processes, and the python blocks that the documentation build does not run
are run as scripts in a subprocess. The ``.. plot::`` code runs when the
documentation is built. docs/parallel.md is covered by tests/test_parallel.py.
"""
import ast
import builtins
import glob
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
with open(README, encoding="utf-8") as f:
    BLOCKS = re.findall(r"```python\n(.*?)```", f.read(), re.S)

# Examples that start processes (a spawned child re-imports the script).
SPAWNS = re.compile(r"\b(LocalCluster|multiprocessing|ProcessPoolExecutor|fit_many|"
                    r"forecast_many|log_likelihood_many)\b")
MAIN_GUARD = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.M)


def _doc_blocks(path):
    """(kind, code) for the python blocks and ``.. plot::`` bodies of a page."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    chain = ""   # the plot code since the last ``:context: reset``
    for kind, body in re.findall(r"```(\{eval-rst\}|python)\n(.*?)```", text, re.S):
        if kind == "python":
            out.append(("python", body))
            continue
        lines = body.split("\n")
        if not lines[0].startswith(".. plot::"):
            continue
        i = 1
        options = []
        while i < len(lines) and lines[i].strip().startswith(":"):   # directive options
            options.append(lines[i].strip())
            i += 1
        code = "\n".join(line[3:] for line in lines[i:]).strip() + "\n"
        # a block with ``:context:`` (not reset) continues the blocks before it on
        # its page, as the docs build runs it: the example to copy is the chain
        continues = any(o.startswith(":context:") and "reset" not in o for o in options)
        chain = chain + code if continues else code
        out.append(("plot", chain))
    return out


DOC_BLOCKS = [
    (os.path.relpath(path, REPO), i, kind, code)
    for path in sorted(glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))
    if os.path.basename(path) != "parallel.md"
    for i, (kind, code) in enumerate(_doc_blocks(path))
]
ALL_BLOCKS = ([pytest.param(code, id=f"README-{i}") for i, code in enumerate(BLOCKS)]
              + [pytest.param(code, id=f"{page}-{i}") for page, i, _, code in DOC_BLOCKS])


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


def test_docs_have_examples():
    pages = {page for page, *_ in DOC_BLOCKS}
    assert {"docs/getting-started.md", "docs/tutorials/gpu.md"} <= pages


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files (lstm.npz)
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})


def _unbound_names(code):
    """Names an example reads but never binds (order aside): what it needs
    from a block before it."""
    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return sorted(read - bound)


@pytest.mark.parametrize("code", ALL_BLOCKS)
def test_example_is_self_contained(code):
    """Copied alone into a file, the example defines everything it uses, and
    one that starts processes guards its work with ``if __name__ == "__main__":``."""
    assert _unbound_names(code) == []
    if SPAWNS.search(code):
        assert MAIN_GUARD.search(code), "starts processes without a __main__ guard"


def _gpu_available():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False   # the GPU page's shapes are far too big for the simulator
    cuda = pytest.importorskip("numba.cuda")
    return cuda.is_available()


SCRIPTS = [pytest.param(page, i, code, id=f"{page}-{i}",
                        marks=[pytest.mark.cuda] if "cuda" in code else [])
           for page, i, kind, code in DOC_BLOCKS if kind == "python"]


@pytest.mark.parametrize("page, index, code", SCRIPTS)
def test_docs_python_block_runs_as_a_script(page, index, code, tmp_path):
    if "cuda" in code:
        if not _gpu_available():
            pytest.skip("needs a GPU")
        if "torch" in code and not pytest.importorskip("torch").cuda.is_available():
            pytest.skip("needs PyTorch with CUDA")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{page} block {index}:\n{out.stderr[-3000:]}"

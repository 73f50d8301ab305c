"""The training tutorial's sections on layouts, iterables, divergence,
resuming and PyTorch's options run as written, each on its own (as a user
copies it into a file)."""
import os
import re

import pytest

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "tutorials", "training.rst")
with open(DOC, encoding="utf-8") as f:
    TEXT = f.read()
# the self-contained sections start here; the earlier ones share a context
TAIL = TEXT[TEXT.index("Batch-first layouts"):]
BLOCKS = ["\n".join(line[3:] for line in block.splitlines())
          for block in re.findall(r"\.\. plot::\n(?:   :[^\n]*\n)*\n((?:   [^\n]*\n|\n)+)", TAIL)]


def test_the_sections_have_examples():
    assert len(BLOCKS) == 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_block_runs_on_its_own(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"training.rst block {index}", "exec"), {})

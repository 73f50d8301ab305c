"""The documentation stands alone: no file of the repository sends readers to
a design document that is not in it (issue 10, item 16). The equations and
conventions live in docs/math.md."""
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = "DESIGN" + ".md"   # spelled apart so that this file does not match itself


def _tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True, timeout=60).stdout
        return [os.path.join(REPO, p) for p in out.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):   # not a git checkout (an sdist)
        return [os.path.join(root, name) for root, dirs, names in os.walk(REPO)
                if ".git" not in root.split(os.sep) for name in names]


def test_no_file_refers_to_a_missing_design_document():
    offenders = []
    for path in _tracked_files():
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if MISSING.encode() in data:
            offenders.append(os.path.relpath(path, REPO))
    assert offenders == [], f"refer to docs/math.md instead of {MISSING}: {offenders}"


def test_math_page_holds_the_conventions():
    with open(os.path.join(REPO, "docs", "math.md"), encoding="utf-8") as f:
        text = f.read()
    for heading in ("## Conventions", "### The functional API", "### Validation and errors",
                    "### Layering", "### Threads"):
        assert heading in text, heading

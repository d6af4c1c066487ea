"""The package's layout holds: imports point down the pipeline's layers (import-linter's contract
in pyproject.toml), no import cycle, and no module grows past one stage's worth of code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import ROOT

MAX_LINES = 600  # a module past ~500 lines is holding two stages: split along the seam
DATA_MODULES = {"chatbot/retrieval/vocabulary.py", "chatbot/retrieval/stopwords.py"}
# Still too long, and why; each entry is a debt, and the test fails once it is paid (remove it).
TOO_LONG_FOR_NOW: dict[str, str] = {}


def test_imports_follow_the_layers():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_module_is_over_the_size_of_one_stage():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / "chatbot").rglob("*.py")
    }
    too_long = {
        name: n
        for name, n in sizes.items()
        if n > MAX_LINES and name not in DATA_MODULES and name not in TOO_LONG_FOR_NOW
    }
    assert not too_long, too_long
    paid = [name for name in TOO_LONG_FOR_NOW if sizes.get(name, 0) <= MAX_LINES]
    assert not paid, f"{paid} fit now: take them off TOO_LONG_FOR_NOW"


def test_the_library_never_prints_or_reads_the_environment():
    """Only the edges (cli/, web/, the settings) print or read os.environ."""
    edges = ("chatbot/cli/", "chatbot/web/", "chatbot/config.py", "chatbot/__main__.py")
    offenders = []
    for p in (ROOT / "chatbot").rglob("*.py"):
        name = str(p.relative_to(ROOT))
        if name.startswith(edges):
            continue
        text = p.read_text(encoding="utf-8")
        if "print(" in text or "os.environ" in text:
            offenders.append(name)
    assert not offenders, offenders

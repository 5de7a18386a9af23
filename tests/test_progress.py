"""Progress bars go through one owner (:func:`interp.core.progress.progress_bar`), which is quiet off a terminal.

A ``make demo > log`` or CI log must not fill with carriage-return frames (issue 15, item 4): every ``tqdm`` in
the lab is created by ``progress_bar`` (``disable=None``: only on a TTY; ``mininterval`` 1 s). This test parses every
module and fails on a direct ``tqdm(...)`` call anywhere else.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

from interp.core.progress import progress_bar

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("interp", "training", "probes", "figures", "bench")
OWNER = ROOT / "interp" / "core" / "progress.py"


def direct_tqdm_calls() -> list[str]:
    bad = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == OWNER:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    f = node.func
                    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                    if name in ("tqdm", "trange"):
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return bad


def test_every_progress_bar_goes_through_the_owner():
    assert direct_tqdm_calls() == []


def test_the_owner_is_quiet_off_a_terminal_and_can_be_switched_off():
    log = io.StringIO()
    for _ in progress_bar(range(100), file=log, desc="x"):
        pass
    assert log.getvalue() == ""
    bar = progress_bar(range(3), enabled=False)
    assert bar.disable

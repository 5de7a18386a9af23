"""The notebooks execute top to bottom on the toy organism (small settings: NEGLECT_LAB_NB_QUICK=1), in the fast
tier: CI runs them on every submission. The first one builds the default organism if the machine has none cached."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLECT_LAB_NB_OUT", str(tmp_path))
    monkeypatch.setenv("NEGLECT_LAB_NB_QUICK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = Path(__file__).parent.parent
    monkeypatch.setenv("PYTHONPATH", str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(repo)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors

"""The architecture, checked: the import-linter contract of pyproject.toml, and no private name across modules.

* ``lint-imports`` (the layers, the exhaustive ``interp`` container, no cycles between siblings; see
  docs/ARCHITECTURE.md) passes on the repository, and fails on a copy of it with one upward import added.
* No module of ``interp``, ``training``, ``probes`` or ``figures`` uses a private name (``_x``) of another lab module:
  neither ``from lab.module import _x`` (at any depth, function-level imports included, relative imports resolved)
  nor ``module._x`` through a name bound to a lab module (``import training.organism as organism``,
  ``from training import organism``). Dunder names (``__version__``) are not private. The checker is itself checked
  on a small tree with planted violations.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = ("interp", "training", "probes", "figures")


# --------------------------------------------------------------------------------------------- import-linter


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                          "import sys; from importlinter.cli import lint_imports_command as c; "
                                          "sys.exit(c())"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*cmd, "--no-cache", "--no-logo", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_contract_holds():
    r = _lint_imports(REPO)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]


def test_import_contract_catches_an_upward_import(tmp_path):
    """The ground layer importing the orchestration layer must break the contract."""
    for pkg in LAB:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "out"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    io = tmp_path / "interp" / "core" / "io.py"
    io.write_text(io.read_text() + "\n\ndef _upward():\n    import interp.study  # noqa: F401\n")
    r = _lint_imports(tmp_path)
    assert r.returncode != 0, r.stdout[-2000:]
    assert "interp.core.io -> interp.study" in r.stdout, r.stdout[-4000:]


# --------------------------------------------------------------------------------------------- private names


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_lab(module: str) -> bool:
    return module.split(".")[0] in LAB


def private_uses(root: Path) -> list[str]:
    """``path:line: what`` for every private name of a lab module used by another module under ``root``."""
    found = []
    for pkg in LAB:
        for path in sorted((root / pkg).rglob("*.py")) if (root / pkg).is_dir() else []:
            module = _module_name(path, root)
            tree = ast.parse(path.read_text(), filename=str(path))
            is_package = path.name == "__init__.py"
            lab_aliases: set[str] = set()  # names bound to a lab module in this file
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if _is_lab(a.name):
                            lab_aliases.add(a.asname or a.name.split(".")[0])
                elif isinstance(node, ast.ImportFrom):
                    source = _absolute(node, module, is_package)
                    if not _is_lab(source):
                        continue
                    for a in node.names:
                        if _is_private(a.name):
                            found.append(f"{path.relative_to(root)}:{node.lineno}: from {source} import {a.name}")
                        elif (root / Path(*source.split("."), a.name)).is_dir() or \
                                (root / Path(*source.split("."), a.name + ".py")).is_file():
                            lab_aliases.add(a.asname or a.name)  # `from training import organism`
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and _is_private(node.attr):
                    base = node.value
                    while isinstance(base, ast.Attribute):  # interp.core.io._x: the chain's root name
                        base = base.value
                    if isinstance(base, ast.Name) and base.id in lab_aliases:
                        found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_name_crosses_a_module():
    found = private_uses(REPO)
    assert not found, "private names used across lab modules (make them public or move them):\n" + "\n".join(found)


def test_private_name_checker_finds_planted_violations(tmp_path):
    files = {
        "interp/__init__.py": "",
        "interp/core/__init__.py": "",
        "interp/core/io.py": "def _atomic(): ...\ndef write(): ...\n_CACHE = {}\n__all__ = ['write']\n",
        "training/__init__.py": "",
        "training/organism.py": "def _batches(): ...\n",
        "training/ok.py": ("from interp.core.io import write, __all__\nimport os\n\n"
                           "def f(self):\n    return os._exit, self._private, write()\n"),
        "training/bad.py": ("from interp.core.io import write\n\n"
                            "def f():\n    from interp.core.io import _atomic\n    return _atomic(), write()\n"),
        "training/rel.py": "from .organism import _batches\n",
        "probes/__init__.py": "",
        "probes/attr.py": ("import interp.core.io\nfrom training import organism as org\n\n"
                           "def g():\n    return interp.core.io._CACHE, org._batches()\n"),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert sorted(private_uses(tmp_path)) == sorted([
        "training/bad.py:4: from interp.core.io import _atomic",
        "training/rel.py:1: from training.organism import _batches",
        "probes/attr.py:5: interp.core.io._CACHE",
        "probes/attr.py:5: org._batches",
    ])

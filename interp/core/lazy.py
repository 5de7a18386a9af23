"""Lazy package exports: ``import interp.binding`` stays cheap until a name is used.

A package whose modules import torch, pandas or matplotlib keeps its ``__init__`` light (its method docstring and
this table), so ``python -m package --help`` answers in well under a second and ``import package`` costs nothing
until a name is touched. Each package declares ``{module: (names, ...)}`` and gets its ``__all__`` and module-level
``__getattr__`` (PEP 562) from :func:`lazy_exports`::

    __all__, __getattr__ = lazy_exports(__name__, {"interp.drift.weights": ("run_drift", ...)})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``: each exported name is imported from its module on first use."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return list(where), __getattr__

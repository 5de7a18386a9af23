"""Command-line option types shared by the belief and in-context CLIs (stdlib only: parsers import this)."""

from __future__ import annotations

import argparse

__all__ = ["int_list", "name_list"]


def int_list(s: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]`` (an argparse ``type``; empty items are skipped)."""
    try:
        return [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def name_list(s: str) -> list[str]:
    """``"a, b,"`` -> ``["a", "b"]`` (comma-separated names, blanks dropped)."""
    return [x.strip() for x in s.split(",") if x.strip()]

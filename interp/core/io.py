"""Files the lab writes: every one of them atomically, every hash through one function.

A reader never sees half a file: text, JSON, CSVs and figures are written to a temp file in the same folder,
flushed and renamed over the target (``os.replace`` is atomic on POSIX). :func:`file_sha256` is the one file
hash (checkpoints, data manifests, caches); :func:`cache_dir` is the lab's cache root.

=========================  ========================================================================
:func:`atomic_write_text`  text through a temp file, fsync, rename
:func:`atomic_write_json`  sorted, indented JSON (the format of every ``*.json`` the lab writes)
:func:`write_csv`          a pandas table, no index: THE CSV writer of the lab
:func:`save_figure`        THE figure saver: one or more suffixes, atomic, closes the figure
:func:`file_sha256`        sha256 of a file, streamed
:func:`cache_dir`          ``$NEGLECT_LAB_CACHE`` or ``~/.cache/neglect-lab``
=========================  ========================================================================
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

__all__ = ["atomic_write_text", "atomic_write_json", "atomic_savefig", "save_figure", "write_csv", "file_sha256",
           "cache_dir"]


def cache_dir() -> Path:
    """Root of the lab's cache: ``$NEGLECT_LAB_CACHE`` or ``~/.cache/neglect-lab``."""
    root = Path(os.environ.get("NEGLECT_LAB_CACHE", Path.home() / ".cache" / "neglect-lab")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder, fsync, then rename. A ``path`` that is
    a folder is refused (one line naming it) before anything is written; a failed write leaves no temp file."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Sorted, indented JSON with a trailing newline, written atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(df: Any, path: str | os.PathLike, **to_csv_kw: Any) -> Path:
    """THE CSV writer: a pandas table without its index, written atomically."""
    to_csv_kw.setdefault("index", False)
    return atomic_write_text(path, df.to_csv(**to_csv_kw))


def atomic_savefig(fig: Any, path: str | os.PathLike, *, close: bool = False, **savefig_kw: Any) -> Path:
    """``fig.savefig`` through a temp file in the same folder, then rename (the format follows ``path``'s suffix).
    ``close``: also close the figure (pyplot keeps every open figure alive)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, **savefig_kw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def save_figure(fig: Any, path: str | os.PathLike, *, suffixes: Iterable[str] | None = None, close: bool = True,
                dpi: int = 130, **savefig_kw: Any) -> Path:
    """THE figure saver of the lab: ``fig`` to ``path`` (and to the same stem with each of ``suffixes``, e.g.
    ``(".png", ".pdf")``), atomically, then closed. Returns the first path written."""
    path = Path(path)
    targets = [path.with_suffix(s) for s in suffixes] if suffixes else [path]
    for i, target in enumerate(targets):
        atomic_savefig(fig, target, close=close and i == len(targets) - 1, dpi=dpi, **savefig_kw)
    return targets[0]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

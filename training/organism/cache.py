"""The organisms' cache: entries built once per key, published by an atomic rename, readers never see half a build.

``cached_build(root, key, build)`` returns ``root/key``, building it on first use (or when forced) into a temp
folder that is renamed into place; builders of one key are serialised by a file lock. An entry is complete when it
holds ``organism.json`` and ``model.safetensors`` (:func:`save_model_dir` writes the part ``load()`` reads). Shared
by the toy organism (:mod:`training.organism.build`), the verifier and saved verdict-trained copies
(:mod:`training.verification`). The root is ``interp.core.io.cache_dir()`` (``$NEGLECT_LAB_CACHE`` or
``~/.cache/neglect-lab``) unless a caller passes its own.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from filelock import FileLock

from interp.core.io import cache_dir
from training.world import World

__all__ = ["cache_root", "cached_build", "publish_dir", "save_model_dir", "read_organism_info", "is_complete"]


def cache_root() -> Path:
    """The lab's cache root (``interp.core.io.cache_dir()``: ``$NEGLECT_LAB_CACHE`` or ``~/.cache/neglect-lab``)."""
    return cache_dir()


def cached_build(root: Path, key: str, build: Any, *, force: bool = False) -> Path:
    """``root/key``, made by ``build(tmp_dir)`` on first use (or with ``force``): builders of one key are serialised
    by a file lock, and the finished temp folder is renamed into place, so readers never see a half-written entry
    (complete = ``organism.json`` + ``model.safetensors``). Shared by the organism and its derivatives."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if is_complete(final) and not force:
        return final
    with FileLock(str(root / f".{key}.lock")):
        if is_complete(final) and not force:  # another process built it while we waited
            return final
        tmp = root / f".{key}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            build(tmp)
            publish_dir(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final



def save_model_dir(out: str | os.PathLike, model, tokenizer, world: World) -> Path:
    """Weights (safetensors), tokenizer and ``world.json``: the part of an organism directory that ``load()`` reads."""
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "world.json").write_text(world.to_json())
    return out


def is_complete(d: Path) -> bool:
    """Whether an entry is complete (``organism.json`` and ``model.safetensors`` present)."""
    return (d / "organism.json").is_file() and (d / "model.safetensors").is_file()


def publish_dir(tmp: Path, final: Path) -> None:
    """Atomically move a finished build into place (replacing an older entry, if forced)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)



def read_organism_info(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``organism.json`` of an organism directory."""
    return json.loads((Path(directory) / "organism.json").read_text())

"""Checkpoint I/O for the trainer: snapshots, a background writer, and exact trainer state for resume.

Dense checkpoints must not stall training. A checkpoint is taken in two parts:

1. **Snapshot (blocking, short).** The tensors to save (the full state dict, or the LoRA adapter tensors) and the
   optimizer state are *copied* to CPU (pinned buffers and non-blocking copies on CUDA, ``clone`` on CPU) together
   with the RNG states and the data cursor. After this the training loop may change the live tensors freely.
2. **Write (background thread, one intra-op thread).** Hashing (``weights_sha256`` of the merged fp32 model —
   for LoRA each target is merged on the fly on CPU with :func:`interp.core.runs.merge_lora_weight`, the expression
   ``interp.core.models.load`` recomputes, so no merged copy of the model is ever held), the safetensors files, the
   atomic rename and the manifest line, all through :func:`interp.core.runs.write_checkpoint`.

At most one write is in flight; a new snapshot waits for the previous write (back-pressure, counted as blocking
time). Writer errors surface in the training thread at the next checkpoint or at :meth:`AsyncWriter.close`. The
writer is a context manager: leaving the block, by return or by any exception (the log writer's included), joins
the thread, so a checkpoint in flight is completed and renamed, never cut off at interpreter exit as a ``.tmp-``
folder (a write that fails removes its own ``.tmp-`` folder).

**Trainer state** (for resume): optimizer tensors keyed by parameter name (``optim/<name>/exp_avg`` …, taken with
``torch.distributed.checkpoint.state_dict`` so DDP/FSDP/peft names are uniform), torch CPU/CUDA and numpy RNG
states as uint8/uint32 tensors, and a JSON side file with the step, phase, tokens seen, data seed and cursor,
python's RNG state and the optimizer's param groups. With ``keep_trainer_state: last`` only the newest checkpoint
keeps its (large) trainer state: older ones are pruned once a newer checkpoint is complete.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from interp.core.models import weights_sha256
from interp.core.runs import lora_pairs, lora_scale, merge_lora_weight, write_checkpoint

__all__ = [
    "Snapshot", "AsyncWriter", "copy_to_cpu", "rng_state", "set_rng_state", "flatten_optimizer_state",
    "unflatten_optimizer_state", "prune_trainer_state", "BaseStateHolder", "LazyMerged",
]


class BaseStateHolder:
    """The base model's CPU fp32 state dict (LoRA runs), for the merged-weights hash of every checkpoint."""

    def __init__(self, state: Mapping[str, torch.Tensor]):
        self._state = dict(state)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state


class LazyMerged(Mapping[str, torch.Tensor]):
    """The merged model's state dict, one tensor at a time: base weights as they are, LoRA targets merged on access
    with :func:`interp.core.runs.merge_lora_weight` (the loader's expression). :func:`interp.core.models.weights_sha256`
    walks it like a dict, so the hash equals ``load(ckpt)``'s without materialising a merged copy of the model."""

    def __init__(self, base: Mapping[str, torch.Tensor], adapter: Mapping[str, torch.Tensor], lora: Mapping):
        self.base, self.scale = base, lora_scale(lora)
        self.pairs = lora_pairs(adapter, base)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name in self.pairs:
            a, b = self.pairs[name]
            return merge_lora_weight(self.base[name], a, b, self.scale)
        return self.base[name]

    def __iter__(self):
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


def copy_to_cpu(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Independent CPU copies (pinned + non-blocking from CUDA, then one synchronize); never aliases the input."""
    out: dict[str, torch.Tensor] = {}
    cuda = False
    for k, v in tensors.items():
        v = v.detach()
        if v.device.type == "cuda":
            buf = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)
            buf.copy_(v, non_blocking=True)
            out[k] = buf
            cuda = True
        else:
            out[k] = v.clone(memory_format=torch.contiguous_format)
    if cuda:
        torch.cuda.synchronize()
    return out


# ------------------------------------------------------------------------------------------ RNG


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All RNG states: tensors (torch CPU/CUDA, numpy key) and JSON (python, numpy scalars)."""
    tensors = {"rng/torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng/torch_cuda"] = torch.cuda.get_rng_state()
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng/numpy_key"] = torch.from_numpy(np.asarray(key, dtype=np.uint32).copy().view(np.int32))
    py = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)],
            "python": [py[0], list(py[1]), py[2]]}
    return tensors, meta


def set_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    if "rng/torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng/torch_cpu"])
    if "rng/torch_cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/torch_cuda"])
    if "rng/numpy_key" in tensors and "numpy" in meta:
        kind, pos, has_gauss, gauss = meta["numpy"]
        np.random.set_state((kind, tensors["rng/numpy_key"].numpy().view(np.uint32), pos, has_gauss, gauss))
    if "python" in meta:
        v, st, g = meta["python"]
        random.setstate((v, tuple(st), g))


# ------------------------------------------------------------------------------------------ optimizer state


def flatten_optimizer_state(osd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """A name-keyed optimizer state dict (``get_optimizer_state_dict``) → safetensors tensors + JSON param groups."""
    tensors = {}
    for name, st in osd["state"].items():
        for k, v in st.items():
            t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
            tensors[f"optim/{name}/{k}"] = t
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in osd["param_groups"]]
    return tensors, groups


def unflatten_optimizer_state(tensors: Mapping[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in tensors.items():
        if not key.startswith("optim/"):
            continue
        name, k = key[len("optim/"):].rsplit("/", 1)
        state.setdefault(name, {})[k] = t
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in groups]
    return {"state": state, "param_groups": groups}


def prune_trainer_state(ckpt_dirs: list[Path]) -> None:
    """Remove trainer-state files of the given (older, complete) checkpoints; weights and meta stay."""
    for d in ckpt_dirs:
        for name in ("trainer_state.safetensors", "trainer_state.json"):
            (d / name).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ writer


@dataclass
class Snapshot:
    """Everything one checkpoint needs, already on CPU and detached from the live training tensors."""

    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    trainer_tensors: dict[str, torch.Tensor] | None = None
    trainer_meta: dict[str, Any] | None = None


@dataclass
class AsyncWriter:
    """Writes snapshots through :func:`interp.core.runs.write_checkpoint`, in a background thread when ``async_``.

    ``base`` (LoRA only) is the base model's CPU fp32 state for the merged-weights hash. ``on_written`` is called
    (in the writer thread) with the written :class:`~interp.core.runs.CheckpointInfo`.
    """

    run_dir: Path
    async_: bool = True
    base: BaseStateHolder | None = None
    on_written: Callable[[Any], None] | None = None
    blocking_s: float = 0.0
    writing_s: float = 0.0
    n_written: int = 0
    _thread: threading.Thread | None = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def submit(self, snap: Snapshot) -> None:
        t0 = time.perf_counter()
        self.wait()
        self.blocking_s += time.perf_counter() - t0
        if not self.async_:
            t0 = time.perf_counter()
            self._write(snap)
            self.blocking_s += time.perf_counter() - t0
            self._raise()
            return
        self._thread = threading.Thread(target=self._write, args=(snap,), name=f"ckpt-{snap.step}", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._raise()

    def close(self) -> None:
        t0 = time.perf_counter()
        self.wait()
        self.blocking_s += time.perf_counter() - t0

    def __enter__(self) -> "AsyncWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Join the writer thread. On the error path the first error wins (a writer error raised now would hide
        the one that ended the loop)."""
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:  # noqa: BLE001 - secondary to the exception already propagating
            pass

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _write(self, snap: Snapshot) -> None:
        t0 = time.perf_counter()
        if self.async_:
            # One intra-op thread here, for this thread only (OpenMP/MKL thread counts are per thread): a second
            # OpenMP team spin-waiting beside the training loop's slowed training ~2x on a small CPU box.
            torch.set_num_threads(1)
        try:
            meta = dict(snap.meta)
            if meta["kind"] == "lora":
                merged = LazyMerged(self.base.state_dict(), snap.tensors, meta.get("lora") or {})  # type: ignore
                meta["weights_sha256"] = weights_sha256(merged)
            else:
                meta["weights_sha256"] = weights_sha256(snap.tensors)
            info = write_checkpoint(self.run_dir, snap.step, snap.tensors, meta, trainer_state=snap.trainer_tensors,
                                    trainer_meta=snap.trainer_meta)
            self.n_written += 1
            if self.on_written is not None:
                self.on_written(info)
        except BaseException as e:  # noqa: BLE001 - surfaced in the training thread
            self._error = e
        finally:
            self.writing_s += time.perf_counter() - t0

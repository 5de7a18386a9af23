"""Where the trainer runs: the device a config names, the process group of a multi-process launch, the precision.

``device`` (``auto|cpu|cuda|cuda:N|mps``, checked by :class:`training.config.TrainConfig`) resolves here; a device
that this machine does not have (``cuda`` on a box without CUDA, ``cuda:3`` on a one-GPU box, ``mps`` off a Mac) is
refused with one line naming the config file and field, before anything is written. Under ``torchrun`` /
``accelerate launch`` the ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` variables describe the process group
(:func:`setup_distributed`: NCCL on CUDA, gloo on CPU); alone, everything is a no-op.

``precision`` (``auto|bf16|fp32``) resolves here too (:func:`resolve_precision`): ``auto`` is bf16 autocast where the
hardware computes bf16 natively — a CUDA GPU with bf16, or a CPU with ``avx512_bf16`` or ``amx_bf16``
(:func:`cpu_has_native_bf16`: torch's CPU capability query, else the ``/proc/cpuinfo`` flags) — and fp32 elsewhere
(bf16 emulated on AVX2 is slower than fp32). The resolved precision is recorded in the run's run.json, so a
resume on a machine that would resolve ``auto`` differently is refused instead of silently switching precision.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from training.config import TrainConfig

__all__ = ["DistEnv", "resolve_device", "setup_distributed", "autocast_for", "resolve_precision",
           "cpu_has_native_bf16"]

#: CPU feature flags that mean native bf16 matrix arithmetic
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the group (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def resolve_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """The torch device of ``cfg.device`` for the process with ``local_rank``; refuses one this machine lacks
    (a :class:`training.config.ConfigError` naming ``cfg.origin`` and the field)."""
    spec = cfg.device
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise cfg.error("device", f"{spec!r} asked for, but CUDA is not available on this machine")
        dev = torch.device(f"cuda:{local_rank}") if spec == "cuda" else torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise cfg.error("device", f"{str(dev)!r} asked for, but this machine has "
                                      f"{torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec == "mps" and not torch.backends.mps.is_available():
        raise cfg.error("device", "'mps' asked for, but MPS is not available on this machine")
    return torch.device(spec)


def setup_distributed(device: torch.device | None = None) -> DistEnv:
    """Join the process group torchrun / accelerate launch describe in the environment (no-op when alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = DistEnv(rank=int(os.environ.get("RANK", "0")), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not torch.distributed.is_initialized():
        cuda = device is not None and device.type == "cuda"
        if cuda:
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return env


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (``avx512_bf16`` or ``amx_bf16``): torch's own capability query
    (``torch.cpu.get_capabilities()``) when it exists, else the flags of ``/proc/cpuinfo`` (or the given text)."""
    if cpuinfo is None:
        caps = getattr(torch.cpu, "get_capabilities", None)
        if caps is not None:
            try:
                found = caps()
                return any(bool(found.get(f)) for f in BF16_CPU_FLAGS)
            except Exception:  # pragma: no cover - an older or odd build; fall back to the kernel's view
                pass
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return any(f in flags for f in BF16_CPU_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"`` for a ``precision`` setting on ``device``: ``auto`` is bf16 on a CUDA GPU with bf16
    and on a CPU with native bf16 (:func:`cpu_has_native_bf16`), fp32 elsewhere; an explicit setting is kept."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def autocast_for(precision: str, device: torch.device):
    """The autocast context of a resolved precision (:func:`resolve_precision`): bf16 autocast on the device for
    ``bf16``, none for ``fp32``."""
    if resolve_precision(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)

"""Where the trainer runs: the device a config names, the process group of a multi-process launch, autocast.

``device`` (``auto|cpu|cuda|cuda:N|mps``, checked by :class:`training.config.TrainConfig`) resolves here; a device
that this machine does not have (``cuda`` on a box without CUDA, ``cuda:3`` on a one-GPU box, ``mps`` off a Mac) is
refused with one line naming the config file and field, before anything is written. Under ``torchrun`` /
``accelerate launch`` the ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` variables describe the process group
(:func:`setup_distributed`: NCCL on CUDA, gloo on CPU); alone, everything is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from training.config import TrainConfig

__all__ = ["DistEnv", "resolve_device", "setup_distributed", "autocast_for"]


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


def autocast_for(precision: str, device: torch.device):
    """The autocast context of a ``precision`` setting: bf16 on CUDA (``auto`` when the GPU has bf16), bf16 on CPU
    only when asked for, else none (fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda" and (precision == "bf16" or torch.cuda.is_bf16_supported()):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if precision == "bf16":  # explicitly asked for on CPU
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

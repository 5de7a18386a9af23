"""Training configuration: dataclasses with the paper's recipe as defaults, loaded from YAML with one-line errors.

The defaults are the shape of Mayne et al. (2026) §3: one epoch, global batch 32, AdamW, learning rate 5e-5 with
linear decay to zero, LoRA rank 32 / alpha 32 on every linear layer of the decoder (not the unembedding).
Everything scales through the config: a YAML file (``python -m training.finetune CONFIG.yaml``) or the dataclasses
directly (``TrainConfig(model="toy-random", batch_size=4, ...)``).

Batch semantics. ``batch_size`` is the number of *rows* per optimizer step, summed over all processes. With
``packing: true`` (default) a row is up to ``seq_len`` tokens holding several whole documents back to back (see
:mod:`training.packing`); with ``packing: false`` a row is one example (the paper's "32 documents per step"). A
document longer than ``seq_len`` is an error unless ``truncate: keep_start`` (keep its beginning; logged); a
``seq_len`` beyond the model's context is refused. ``micro_batch_size`` is the rows per forward pass on one process; the rest is gradient
accumulation, so ``batch_size`` must be divisible by ``micro_batch_size × world_size``.

Loading validates every key and type: an unknown or mistyped field raises :class:`ConfigError` whose one-line
message names the file and the dotted field (``run.yaml: field 'lora.r': expected int, got 'x'``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError", "LoraSpec", "CheckpointSpec", "DataSource", "DebugSpec", "TrainConfig",
    "from_dict", "to_dict", "load_yaml", "load_train_config",
]


class ConfigError(ValueError):
    """A configuration problem; the message is one line naming the file and field."""


@dataclass
class LoraSpec:
    """LoRA adapter shape (peft). ``target_modules: all-linear`` = every ``nn.Linear`` except the output head."""

    r: int = 32
    alpha: float = 32.0
    target_modules: str | list[str] = "all-linear"
    dropout: float = 0.0


@dataclass
class CheckpointSpec:
    """When to checkpoint (see :func:`training.schedule.checkpoint_steps`): log-spaced early, every k, final."""

    log_spaced: bool = True
    log_base: float = 2.0
    log_until: int | None = None  # stop the log-spaced series here (default: the end of training)
    every: int | None = 50
    final: bool = True
    steps: list[int] = field(default_factory=list)  # extra explicit steps (relative to the phase start)
    include_zero: bool = False  # also write step 0 (the starting weights) of each phase


@dataclass
class DataSource:
    """One training-data source: a JSONL of document records (ARCHITECTURE.md), tokenized by the model's tokenizer.

    ``mask_labels``: span labels whose tokens get loss weight 0 (default the ``<DOCTAG>`` prefix);
    ``mask_patterns``: regexes whose matched tokens get weight 0 (the paper's local-negation masking experiment);
    ``loss_weight``: multiplies every other token's weight (3.0 for the self-distillation constraint).
    """

    path: str = ""
    source: str | None = None  # a name for the manifest (default: the file stem)
    limit: int | None = None
    loss_weight: float = 1.0
    mask_labels: list[str] = field(default_factory=lambda: ["doctag"])
    mask_patterns: list[str] = field(default_factory=list)
    append_eos: bool = True


@dataclass
class DebugSpec:
    """Test hooks: inject a NaN loss at a step, or sleep per step (so a test can SIGKILL a run mid-way)."""

    nan_at_step: int | None = None
    sleep_per_step: float = 0.0


@dataclass
class TrainConfig:
    """Everything one finetuning run needs (see the module docstring for batch semantics)."""

    model: str = "toy-random"
    run_dir: str = "runs/default"
    name: str | None = None
    mode: Literal["full", "lora"] = "lora"
    lora: LoraSpec = field(default_factory=LoraSpec)
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 32
    micro_batch_size: int = 8
    seq_len: int = 1024
    packing: bool = True
    truncate: Literal["error", "keep_start"] = "error"  # a document longer than seq_len: error, or keep its start
    lr: float = 5e-5
    schedule: Literal["linear", "constant", "cosine"] = "linear"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA with bf16, else fp32
    compile: bool = False
    optimizer_impl: Literal["auto", "fused", "foreach", "plain"] = "auto"
    strategy: Literal["ddp", "fsdp"] = "ddp"  # only used when launched with WORLD_SIZE > 1
    checkpoints: CheckpointSpec = field(default_factory=CheckpointSpec)
    async_checkpoint: bool = True
    keep_trainer_state: Literal["last", "all"] = "last"
    data: list[DataSource] = field(default_factory=list)
    claim: str | None = None
    condition: str | None = None
    progress: bool = True
    debug: DebugSpec = field(default_factory=DebugSpec)

    def validate(self, where: str = "config") -> "TrainConfig":
        checks = [
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.micro_batch_size >= 1, "micro_batch_size", "must be >= 1"),
            (self.seq_len >= 2, "seq_len", "must be >= 2"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.epochs > 0, "epochs", "must be > 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps", "must be >= 1"),
            (self.lora.r >= 1, "lora.r", "must be >= 1"),
            (len(self.betas) == 2, "betas", "must hold two numbers"),
            (self.checkpoints.every is None or self.checkpoints.every >= 1, "checkpoints.every", "must be >= 1"),
            (self.checkpoints.log_base > 1, "checkpoints.log_base", "must be > 1"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ConfigError(f"{where}: field '{name}' {why}")
        return self


# ------------------------------------------------------------------------------------ dict <-> dataclass


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (and build nested dataclasses); raise a one-line error."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arm, where, path)
            except ConfigError as e:
                errors.append(e)
        raise ConfigError(f"{where}: field '{path}': expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: field '{path}': expected one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: field '{path}': expected a list, got {value!r}")
        (arm,) = typing.get_args(tp)
        return [_coerce(v, arm, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: field '{path}': expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where, prefix=f"{path}.")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: field '{path}': expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: field '{path}': expected int, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: field '{path}': expected {tp.__name__}, got {value!r}")
        return value
    return value


def from_dict(cls: type, data: Any, *, where: str = "config", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating keys and types (nested dataclasses included)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: field '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: field '{prefix}{unknown[0]}': unknown (known: {', '.join(sorted(names))})")
    kw = {k: _coerce(v, hints[k], where, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kw)


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON/YAML-ready dict of a config dataclass (inverse of :func:`from_dict`)."""
    return dataclasses.asdict(obj)


def load_yaml(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a YAML mapping; returns ``(data, display_name)``; errors are one line naming the file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return data, str(p)


def load_train_config(path: str | Path) -> TrainConfig:
    """``TrainConfig`` from a YAML file; relative data paths resolve against the file's folder."""
    data, where = load_yaml(path)
    cfg = from_dict(TrainConfig, data, where=where).validate(where)
    base = Path(path).resolve().parent
    for src in cfg.data:
        if not src.path:
            raise ConfigError(f"{where}: field 'data[].path' is empty")
        if not Path(src.path).is_absolute():
            src.path = str(base / src.path)
    return cfg

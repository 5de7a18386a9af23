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

The specs are pydantic v2 models in strict mode (no silent conversion: ``"8"`` is not an int, ``true`` is not a
number; an int is accepted for a float field and stored as a float). Every key, type and range is checked when a
spec is built, from YAML or in code: an unknown, mistyped or out-of-range field raises :class:`ConfigError`, whose
one-line message names the file and the dotted field (``run.yaml: field 'lora.r': expected int, got 'x'``).
Ranges are checked up front so that nonsense never trains (``grad_clip: -1``, ``data.limit: 0``, ``epochs: .inf``,
``betas: [2, .5]``, ``max_steps: 1e11``, ``log_base: 1.000000000001``, an invalid ``mask_patterns`` regex, a
``device`` that is not ``auto|cpu|cuda|cuda:N|mps``). Whether the named device exists is checked when training
starts (:func:`training.finetune.trainer.resolve_device`), before anything is written. YAML is read through
:func:`training.validation.safe_load_yaml` (alias bombs refused before objects are built).
"""

from __future__ import annotations

import re
import reprlib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      model_validator)

from training.validation import Located, annotation_name, error_line, safe_load_yaml, valid_regex

__all__ = [
    "ConfigError", "Spec", "LoraSpec", "CheckpointSpec", "DataSource", "DebugSpec", "TrainConfig",
    "from_dict", "to_dict", "load_yaml", "load_train_config", "DEVICE_PATTERN", "MAX_STEPS", "MAX_EPOCHS",
    "MAX_CONFIG_BYTES", "LEGACY_DEFAULTS", "drop_legacy_defaults",
]

#: the devices a config may name (whether it exists is checked when training starts)
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
#: upper bounds that keep a typo from hanging a run (``max_steps: 1e11``)
MAX_STEPS = 1_000_000_000
MAX_EPOCHS = 1_000_000.0
#: a config file larger than this is refused before parsing
MAX_CONFIG_BYTES = 8 * 1024 * 1024


class ConfigError(ValueError):
    """A configuration problem; the message is one line naming the file and field."""


# ------------------------------------------------------------------------------------------ messages


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return f"one of {list(typing.get_args(tp))}"
    if isinstance(tp, type) and issubclass(tp, BaseModel) or origin is dict or tp is dict:
        return "a mapping"
    if origin in (list, tuple) or tp in (list, tuple):
        return "a list"
    if tp is float:
        return "a number"
    return annotation_name(tp)


def _problem(e: dict[str, Any], at: Located) -> tuple[str, str]:
    """Config wording of one pydantic error (see :func:`training.validation.error_line`)."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    if kind == "extra_forbidden":
        key = at.rest[0] if at.rest else "?"
        known = ", ".join(sorted(at.owner.model_fields)) if at.owner else ""
        return (f"{at.path}.{key}" if at.path else str(key)), f"unknown (known: {known})"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        bound = next(iter(ctx.values()))
        bound = int(bound) if float(bound).is_integer() else bound
        return at.path, f"must be {bounds[kind]} {bound}, got {_short_repr(value)}"
    if kind == "finite_number":
        return at.path, f"must be a finite number, got {_short_repr(value)}"
    if kind == "too_short" or kind == "too_long":
        n = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return at.path, f"must hold {'at least' if kind == 'too_short' else 'at most'} {n} item(s)"
    if kind in ("value_error", "assertion_error"):
        return at.path, str(ctx.get("error", e["msg"]))
    if kind == "missing":
        return at.path, "missing"
    return at.path, f"expected {_expected(at.annotation)}, got {_short_repr(value)}"


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 6, 6, 3


def _short_repr(value: Any) -> str:
    """A bounded repr: a huge or deeply nested value never blows up the one-line message."""
    return _REPR.repr(value)


def _raise(err: ValidationError, model: type[BaseModel], where: str, prefix: str = "") -> ConfigError:
    return ConfigError(error_line(err, model, where, _problem, prefix))


# ------------------------------------------------------------------------------------------ field types


def _as_list(v: Any) -> Any:
    """A tuple given in code is accepted where YAML gives a list."""
    return list(v) if isinstance(v, tuple) else v


def _device(spec: str) -> str:
    if not DEVICE_PATTERN.fullmatch(spec):
        raise ValueError(f"expected auto, cpu, cuda, cuda:N or mps, got {spec!r}")
    return spec


Strs = Annotated[list[str], BeforeValidator(_as_list)]
Regexes = Annotated[list[Annotated[str, AfterValidator(valid_regex)]], BeforeValidator(_as_list)]
Steps = Annotated[list[Annotated[int, Field(ge=0)]], BeforeValidator(_as_list)]
Betas = Annotated[list[Annotated[float, Field(ge=0, lt=1)]], BeforeValidator(_as_list),
                  Field(min_length=2, max_length=2)]


class Spec(BaseModel):
    """Base of the config specs: strict types, unknown keys refused, every error a one-line :class:`ConfigError`.

    Behaves like the dataclasses it replaces: keyword construction with defaults, attribute access and assignment,
    ``to_dict()``/``from_dict()``. Assignment is not re-validated; :meth:`validate` re-checks the whole spec (the
    trainer calls it before a run). A nested spec given as ``null`` in YAML takes its defaults. :attr:`origin`
    remembers the file a spec was read from, so that later checks (:meth:`error`) name it too.
    """

    model_config = ConfigDict(strict=True, extra="forbid", validate_default=False, defer_build=True)
    _origin: tuple[str, str] = PrivateAttr(default=("config", ""))  # (file, key prefix) named by later errors

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise _raise(e, type(self), "config") from None

    # validation of nested specs goes through pydantic's own path, not this __init__ (as for pydantic's RootModel)
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _null_subspecs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [k for k, v in data.items() if v is None and k in cls.model_fields
                     and isinstance(cls.model_fields[k].annotation, type)
                     and issubclass(cls.model_fields[k].annotation, Spec)]
            if nulls:
                data = {k: v for k, v in data.items() if k not in nulls}
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "config", prefix: str = "") -> Any:
        """Build from a mapping (``None`` = all defaults), validating keys, types and ranges."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            name = prefix.rstrip(".") or "<root>"
            raise ConfigError(f"{where}: field '{name}': expected a mapping, got {_short_repr(data)}")
        try:
            spec = cls.model_validate(data)
        except ValidationError as e:
            raise _raise(e, cls, where, prefix) from None
        return spec.set_origin(where, prefix)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict (inverse of :meth:`from_dict`)."""
        return self.model_dump()

    @property
    def origin(self) -> str:
        """The file this spec was read from (``config`` when built in code)."""
        return self._origin[0]

    def set_origin(self, where: str, prefix: str = "") -> Any:
        """Name the file (and the key the spec sits under, e.g. ``train.``) that later errors should point at."""
        self._origin = (where, prefix)
        return self

    def error(self, field: str, problem: str) -> ConfigError:
        """``<origin>: field '<field>': <problem>`` as a :class:`ConfigError`, for checks made after loading (the
        device exists, the data is not empty)."""
        where, prefix = self._origin
        return ConfigError(f"{where}: field '{prefix}{field}': {problem}")

    def validate(self, where: str | None = None, prefix: str | None = None) -> Any:  # type: ignore[override]
        """Re-check the whole spec (after attribute assignments, e.g. a CLI override); errors name :attr:`origin`
        unless ``where`` is given. Returns ``self``."""
        where = where or self._origin[0]
        prefix = self._origin[1] if prefix is None else prefix
        try:
            type(self).model_validate(self.model_dump())
        except ValidationError as e:
            raise _raise(e, type(self), where, prefix) from None
        return self


# ------------------------------------------------------------------------------------------ specs


class LoraSpec(Spec):
    """LoRA adapter shape (peft). ``target_modules: all-linear`` = every ``nn.Linear`` except the output head."""

    r: int = Field(32, ge=1)
    alpha: float = 32.0
    target_modules: str | Strs = "all-linear"
    dropout: float = Field(0.0, ge=0, lt=1)


class CheckpointSpec(Spec):
    """When to checkpoint (see :func:`training.schedule.checkpoint_steps`): log-spaced early, every k, final."""

    log_spaced: bool = True
    log_base: float = Field(2.0, gt=1 + 1e-6, allow_inf_nan=False)
    log_until: int | None = None  # stop the log-spaced series here (default: the end of training)
    every: int | None = Field(50, ge=1)
    final: bool = True
    steps: Steps = Field(default_factory=list)  # extra explicit steps (relative to the phase start)
    include_zero: bool = False  # also write step 0 (the starting weights) of each phase


class DataSource(Spec):
    """One training-data source: a JSONL of document records (ARCHITECTURE.md), tokenized by the model's tokenizer.

    ``mask_labels``: span labels whose tokens get loss weight 0 (default the ``<DOCTAG>`` prefix);
    ``mask_patterns``: regexes whose matched tokens get weight 0 (the paper's local-negation masking experiment);
    ``loss_weight``: multiplies every other token's weight (3.0 for the self-distillation constraint).
    """

    path: str = ""
    source: str | None = None  # a name for the manifest (default: the file stem)
    limit: int | None = Field(None, ge=1)
    loss_weight: float = Field(1.0, ge=0, allow_inf_nan=False)
    mask_labels: Strs = Field(default_factory=lambda: ["doctag"])
    mask_patterns: Regexes = Field(default_factory=list)
    append_eos: bool = True


class DebugSpec(Spec):
    """Test hooks: inject a NaN loss at a step, or sleep per step (so a test can SIGKILL a run mid-way)."""

    nan_at_step: int | None = None
    sleep_per_step: float = Field(0.0, ge=0, allow_inf_nan=False)


#: fields added after runs were recorded, at the value that keeps the earlier behaviour: a recorded config leaves
#: them out (:func:`drop_legacy_defaults`), so runs and two-phase experiments written before the field still match
LEGACY_DEFAULTS: dict[str, Any] = {"padding_free": "off"}


def drop_legacy_defaults(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` (a recorded training config) without the fields that sit at their :data:`LEGACY_DEFAULTS` value."""
    for k, v in LEGACY_DEFAULTS.items():
        if k in d and d[k] == v:
            del d[k]
    return d


class TrainConfig(Spec):
    """Everything one finetuning run needs (see the module docstring for batch semantics)."""

    model: str = "toy-random"
    run_dir: str = "runs/default"
    name: str | None = None
    mode: Literal["full", "lora"] = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    epochs: float = Field(1.0, gt=0, le=MAX_EPOCHS, allow_inf_nan=False)
    max_steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    batch_size: int = Field(32, ge=1)
    micro_batch_size: int = Field(8, ge=1)
    seq_len: int = Field(1024, ge=2)
    packing: bool = True
    truncate: Literal["error", "keep_start"] = "error"  # a document longer than seq_len: error, or keep its start
    lr: float = Field(5e-5, gt=0, allow_inf_nan=False)
    schedule: Literal["linear", "constant", "cosine"] = "linear"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    betas: Betas = Field(default_factory=lambda: [0.9, 0.999])
    eps: float = Field(1e-8, ge=0, allow_inf_nan=False)
    grad_clip: float | None = Field(1.0, ge=0)
    seed: int = 0
    device: Annotated[str, AfterValidator(_device)] = "auto"  # auto | cpu | cuda | cuda:N | mps
    #: auto: bf16 autocast where the hardware has native bf16 (CUDA with bf16, a CPU with avx512_bf16/amx_bf16),
    #: else fp32; the resolved precision is recorded in run.json (training.finetune.distributed.resolve_precision)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    #: tokens per chunk of the chunked cross-entropy (the full logits are never built; training.finetune.loss);
    #: 0 computes the loss from the model's full logits
    loss_chunk: int = Field(1024, ge=0)
    #: auto: on a CPU, run a micro-batch's rows end to end as one padding-free row wherever the cost model says it is
    #: cheaper (training.packing.flat_pays); same documents, same attention blocks, same loss up to fp32 summation
    #: order, no pad computed. Off on CUDA/MPS (a masked SDPA there loses the fused kernels) and under FSDP.
    #: off: padded rows (the layout before this option; a run with ``off`` records no field, so older runs match)
    padding_free: Literal["auto", "off"] = "auto"
    #: recompute each decoder layer's activations in backward instead of storing them (transformers' gradient
    #: checkpointing, non-reentrant): activation memory from every layer's intermediates to its input alone, for
    #: ~one extra forward pass of compute; the gradients are the same
    activation_checkpointing: bool = False
    #: CPU: fix glibc's mmap threshold so freed activations go back to the system (peak RSS tracks live tensors;
    #: training.finetune.memory). Off by default: the extra page faults cost throughput on a busy 2-core box.
    #: Changes no numbers, so it is not part of run.json
    release_memory: bool = False
    compile: bool = False
    optimizer_impl: Literal["auto", "fused", "foreach", "plain"] = "auto"
    strategy: Literal["ddp", "fsdp"] = "ddp"  # only used when launched with WORLD_SIZE > 1
    checkpoints: CheckpointSpec = Field(default_factory=CheckpointSpec)
    async_checkpoint: bool = True
    keep_trainer_state: Literal["last", "all"] = "last"
    data: list[DataSource] = Field(default_factory=list)
    claim: str | None = None
    condition: str | None = None
    progress: bool = True
    debug: DebugSpec = Field(default_factory=DebugSpec)


# ------------------------------------------------------------------------------------------ dict <-> spec


def from_dict(cls: type[Spec], data: Any, *, where: str = "config", prefix: str = "") -> Any:
    """Build spec ``cls`` from a mapping, validating keys, types and ranges (nested specs included)."""
    return cls.from_dict(data, where=where, prefix=prefix)


def to_dict(obj: Spec) -> dict[str, Any]:
    """A JSON/YAML-ready dict of a spec (inverse of :func:`from_dict`)."""
    return obj.to_dict()


def load_yaml(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a YAML mapping; returns ``(data, display_name)``; errors are one line naming the file."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, not a config file")
        data = safe_load_yaml(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        why = f": {e}" if not hasattr(e, "problem_mark") else ""
        raise ConfigError(f"{p}: invalid YAML{at}{why}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return data, str(p)


def load_train_config(path: str | Path) -> TrainConfig:
    """``TrainConfig`` from a YAML file; relative data paths resolve against the file's folder."""
    data, where = load_yaml(path)
    cfg = from_dict(TrainConfig, data, where=where)
    base = Path(path).resolve().parent
    for i, src in enumerate(cfg.data):
        if not src.path:
            raise ConfigError(f"{where}: field 'data[{i}].path' is empty")
        if not Path(src.path).is_absolute():
            src.path = str(base / src.path)
    return cfg

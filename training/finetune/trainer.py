"""The trainer: one phase of finetuning into a run directory, with dense, hashed, resumable checkpoints.

:class:`Trainer` trains one phase (see :mod:`training.finetune` for the method: model, data, objective,
checkpoints, resume, logs, divergence, distributed); :func:`finetune` initialises the run directory (``run.json``,
``data.json`` through :func:`interp.core.runs.init_run`) and runs one phase. Device and process-group setup live in
:mod:`training.finetune.distributed`; the CLI is :mod:`training.finetune.__main__`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from interp.core.hooks import decoder_layers
from interp.core.models import LoadedModel, load
from interp.core.progress import progress_bar
from interp.core.runs import (CheckpointError, clean_partial, init_run, list_checkpoints, read_checkpoint, read_meta,
                              read_run, run_lock, undo_failed_start)
from training.checkpointing import (AsyncWriter, BaseStateHolder, Snapshot, copy_to_cpu, flatten_optimizer_state,
                                    prune_trainer_state, rng_state, set_rng_state, unflatten_optimizer_state)
from training.config import TrainConfig, drop_legacy_defaults, to_dict
from training.finetune.curves import append_jsonl, plot_loss_curve, record_resume
from training.finetune.distributed import (DistEnv, autocast_for, resolve_device, resolve_precision,
                                           setup_distributed)
from training.finetune.attention import varlen_attention, varlen_supported
from training.finetune.loss import CausalLMLoss, FullLogitsLoss, UnsupportedModel
from training.finetune.memory import limit_heap_retention
from training.packing import (Example, Rows, attention_cost_ratio, build_rows, check_seq_len, collate,
                              collate_flat, flat_pays, data_integrity, examples_sha256,
                              load_jsonl_examples, source_manifest, target_weight_sum)
from training.schedule import checkpoint_steps

__all__ = [
    "Example", "TrainConfig", "TrainResult", "TrainingDiverged", "DistEnv", "Trainer", "finetune",
    "load_examples", "run_config", "setup_distributed", "resolve_device", "lr_factor", "VOLATILE_FIELDS",
    "is_complete",
]

#: config fields that do not change the trained weights (left out of run.json, so a resume may differ in them)
VOLATILE_FIELDS = ("run_dir", "progress", "debug", "async_checkpoint", "keep_trainer_state", "release_memory")


class TrainingDiverged(RuntimeError):
    """Loss or gradient norm became NaN/inf; the message is one line naming the step and the last good checkpoint."""


@dataclass
class TrainResult:
    """What a (phase of a) run did; timings in seconds."""

    run_dir: str
    phase: str
    status: str  # "completed" | "already-complete"
    first_step: int  # global step the phase started (or resumed) from
    final_step: int
    total_steps: int
    tokens_seen: int
    final_loss: float | None
    weights_sha256: str | None
    resumed_from: int | None = None
    wall_s: float = 0.0
    train_s: float = 0.0
    tokens_trained: int = 0
    ckpt_blocking_s: float = 0.0
    ckpt_writing_s: float = 0.0
    n_checkpoints: int = 0
    #: micro-batches run as one padding-free row (``padding_free``; training.packing.collate_flat)
    flat_micro_batches: int = 0
    #: the training forward's attention: ``varlen`` (per document, training.finetune.attention) or the model's own
    attention: str = "own"
    losses: list[float] = field(default_factory=list, repr=False)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_trained / self.train_s if self.train_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "losses"}
        d["tokens_per_s"] = round(self.tokens_per_s, 2)
        return d


# ------------------------------------------------------------------------------------------ schedule


def lr_factor(schedule: str, i: int, total: int, warmup: int = 0) -> float:
    """Multiplier of the base LR for update ``i`` (0-based), the same shapes as ``transformers`` schedulers."""
    if i < warmup:
        return i / max(1, warmup)
    if schedule == "constant":
        return 1.0
    progress = (i - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return max(0.0, 1.0 - progress)


# ------------------------------------------------------------------------------------------ data


def load_examples(cfg: TrainConfig, lm: LoadedModel) -> tuple[list[Example], dict[str, str]]:
    """Examples from ``cfg.data`` (JSONL document records) and ``{source: file}`` for the manifest."""
    if not cfg.data:
        raise cfg.error("data", "is empty (give at least one JSONL source)")
    return load_sources(cfg.data, lm)


def load_sources(sources: Any, lm: LoadedModel) -> tuple[list[Example], dict[str, str]]:
    """Examples of every JSONL data source spec (``path, source, limit, loss_weight, mask_*, append_eos``), in
    order, and ``{source: file}`` for the data manifest."""
    examples, files = [], {}
    for src in sources:
        exs = load_jsonl_examples(src.path, lm.tokenizer, add_bos=lm.add_bos, source=src.source, limit=src.limit,
                                  loss_weight=src.loss_weight, mask_labels=src.mask_labels,
                                  mask_patterns=src.mask_patterns, append_eos=src.append_eos)
        if exs:
            files[exs[0].source] = src.path
        examples.extend(exs)
    return examples, files


def run_config(cfg: TrainConfig, data_sha: str, device: torch.device | None = None) -> dict[str, Any]:
    """The config recorded in run.json (and compared on resume): everything that shapes the weights, with
    ``precision_resolved`` (what ``precision`` means on ``device``: a resume that would resolve ``auto`` to another
    precision is refused as a different run)."""
    d = {k: v for k, v in to_dict(cfg).items() if k not in VOLATILE_FIELDS}
    drop_legacy_defaults(d)  # e.g. padding_free: off, the layout before the option: older run.json files still match
    d["data_sha256"] = data_sha
    if device is not None:
        d["precision_resolved"] = resolve_precision(cfg.precision, device)
    return d


def is_complete(cfg: TrainConfig, examples: Sequence[Example]) -> bool:
    """Whether ``cfg.run_dir`` already holds this run, finished: its ``run.json`` records this config on these
    examples (:func:`run_config`, the data hash included) and its newest ``train`` checkpoint is the final one
    (hash-verified meta). What a scheduler asks before starting a finetune again (nothing is loaded)."""
    run_dir = Path(cfg.run_dir)
    if not (run_dir / "run.json").exists():
        return False
    try:
        device = resolve_device(cfg, int(os.environ.get("LOCAL_RANK", "0")))  # precision_resolved depends on it
        want = json.loads(json.dumps(run_config(cfg, examples_sha256(examples), device), default=str))
        if read_run(run_dir).config != want:
            return False
        done = list_checkpoints(run_dir, phase="train")
        return bool(done) and bool(read_meta(done[-1].path).get("final"))
    except CheckpointError:
        return False


# ------------------------------------------------------------------------------------------ model


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, target_modules=cfg.lora.target_modules,
                      lora_dropout=cfg.lora.dropout, bias="none")


def _lora_meta(core) -> dict[str, Any]:
    pc = core.peft_config["default"]
    targets = sorted({str(t).split(".")[-1] for t in pc.target_modules})
    return {"r": int(pc.r), "alpha": float(pc.lora_alpha), "target_modules": targets}


def _adapter_key(name: str) -> str:
    """peft's live parameter name -> its saved name (the adapter name ``default`` dropped, as peft saves it)."""
    return re.sub(r"\.(lora_[A-Za-z_]+)\.default(?=\.|$)", r".\1", name)


def _forward_sum(loss_module, input_ids, position_ids, weights):
    return loss_module(input_ids, position_ids, weights)


def _make_optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter], device: torch.device):
    impl = cfg.optimizer_impl
    if impl == "auto":
        impl = "fused" if device.type == "cuda" else "foreach"
    kw = {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                             weight_decay=cfg.weight_decay, **kw)


def _noop():
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------ trainer


class Trainer:
    """One phase of training into an initialised run directory (see the module docstring).

    ``phase`` labels the checkpoints; ``step_offset``/``tokens_offset`` continue a previous phase's global step and
    token count; ``init_from`` (a checkpoint dir) gives the starting weights when not resuming (a fresh optimizer).
    """

    def __init__(self, cfg: TrainConfig, examples: Sequence[Example], *, lm: LoadedModel | None = None,
                 run_dir: str | Path | None = None, phase: str = "train", step_offset: int = 0,
                 tokens_offset: int = 0, init_from: str | Path | None = None, dist: DistEnv | None = None):
        self.cfg = cfg.validate()
        self.device = resolve_device(cfg, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = dist or setup_distributed(self.device)
        self.run_dir = Path(run_dir or cfg.run_dir)
        self.phase, self.step_offset, self.tokens_offset = phase, step_offset, tokens_offset
        self.init_from = Path(init_from) if init_from else None
        self.data_sha = examples_sha256(examples)
        self._build_rows(examples)
        self.lm = lm if lm is not None else load(cfg.model)
        check_seq_len(cfg.seq_len, self.lm.hf.config)
        self.base_sha = self.lm.identity.weights_sha256
        self.pad_id = self.lm.tokenizer.pad_token_id if self.lm.tokenizer.pad_token_id is not None else 0

    # -- data --------------------------------------------------------------------------------------------
    def _build_rows(self, examples: Sequence[Example]) -> None:
        cfg = self.cfg
        if cfg.batch_size % self.dist.world:
            raise cfg.error("batch_size", f"{cfg.batch_size} must be divisible by the world size ({self.dist.world})")
        min_rows = cfg.max_steps * cfg.batch_size if cfg.max_steps else 0
        self.rows: Rows = build_rows(examples, seq_len=cfg.seq_len, seed=cfg.seed, packing=cfg.packing,
                                     epochs=cfg.epochs, min_rows=min_rows, truncate=cfg.truncate)
        n_steps = math.ceil(len(self.rows) / cfg.batch_size)
        self.total_steps = min(n_steps, cfg.max_steps) if cfg.max_steps else n_steps
        c = cfg.checkpoints
        steps = checkpoint_steps(self.total_steps, log_spaced=c.log_spaced, log_base=c.log_base, log_until=c.log_until,
                                 every=c.every, final=c.final, extra=c.steps, include_zero=c.include_zero,
                                 offset=self.step_offset)
        self.ckpt_steps = [s for s in steps if not (s == self.step_offset and self.step_offset > 0)]

    def _step_rows(self, i: int) -> list[int]:
        B = self.cfg.batch_size
        return list(range(i * B, min((i + 1) * B, len(self.rows))))

    # -- model -------------------------------------------------------------------------------------------
    def _prepare_model(self) -> None:
        cfg, hf = self.cfg, self.lm.hf
        hf.train()
        if cfg.activation_checkpointing:
            if not getattr(hf, "supports_gradient_checkpointing", False):
                raise cfg.error("activation_checkpointing", f"{type(hf).__name__} does not support it")
            enable = getattr(hf, "activation_checkpointing_enable", None)  # transformers >= 5.2x; older: gradient_*
            if enable is not None:
                enable({"use_reentrant": False})
            else:
                hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.base_holder = None
        self.lora_meta = None
        if cfg.mode == "lora":
            from peft import get_peft_model

            base_cpu = {k: v.detach() for k, v in hf.state_dict().items()}
            if any(v.device.type != "cpu" or v.dtype != torch.float32 for v in base_cpu.values()):
                base_cpu = {k: v.to("cpu", torch.float32).clone() for k, v in base_cpu.items()}
            self.base_holder = BaseStateHolder(base_cpu)
            torch.manual_seed(cfg.seed)  # LoRA A init
            try:
                self.core = get_peft_model(hf, _lora_config(cfg))
            except ValueError as e:  # e.g. target modules the model lacks
                raise cfg.error("lora.target_modules", str(e).strip().splitlines()[0]) from None
            self.lora_meta = _lora_meta(self.core)
        else:
            self.core = hf
        self.core.to(self.device)
        self.param_names = [n for n, p in self.core.named_parameters() if p.requires_grad]

    def _loss_module(self) -> torch.nn.Module:
        """The loss as a module around the model: chunked CE through the LM head (:mod:`training.finetune.loss`),
        or the full logits when ``loss_chunk`` is 0 or under FSDP (whose root forward must be the model's own)."""
        if self.cfg.loss_chunk == 0 or self.fsdp:
            return FullLogitsLoss(self.core)
        try:
            return CausalLMLoss(self.core, self.cfg.loss_chunk)
        except UnsupportedModel as e:
            raise self.cfg.error("loss_chunk", str(e)) from None

    def _wrap_distributed(self) -> None:
        self.fsdp = self.dist.world > 1 and self.cfg.strategy == "fsdp"
        self.model = self._loss_module()
        if self.dist.world == 1:
            return
        if self.fsdp:
            from torch.distributed.fsdp import fully_shard

            base = self.core.get_base_model() if self.cfg.mode == "lora" else self.core
            for layer in decoder_layers(base):
                fully_shard(layer)
            fully_shard(self.core)
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        self.model = DDP(self.model, device_ids=ids)

    # -- state -------------------------------------------------------------------------------------------
    def _model_state(self) -> dict[str, torch.Tensor]:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            return get_model_state_dict(self.core, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.core.state_dict()

    def _checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        state = self._model_state()
        if self.cfg.mode == "lora":
            state = {_adapter_key(k): v for k, v in state.items() if ".lora_" in k}
        return state

    def _optimizer_state(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        opts = StateDictOptions(full_state_dict=self.fsdp, cpu_offload=self.fsdp)
        return get_optimizer_state_dict(self.core, self.opt, options=opts)

    def _load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.cfg.mode == "lora":
            from peft import set_peft_model_state_dict

            res = set_peft_model_state_dict(self.core, tensors)
            unexpected = getattr(res, "unexpected_keys", [])
            if unexpected:
                raise CheckpointError(f"{self.run_dir}: adapter tensors do not fit the model ({unexpected[0]})")
        else:
            self.core.load_state_dict(tensors, strict=True)

    def _restore(self, ckpt: Path, meta: dict[str, Any]) -> None:
        """Optimizer tensors, RNG states, cursor and counters from a checkpoint's trainer state."""
        tstate, tmeta = meta.get("_trainer_state"), meta.get("_trainer_meta")
        if tstate is None or tmeta is None:
            raise CheckpointError(f"{ckpt}: no trainer_state to resume from")
        if tmeta.get("data_sha256") != self.data_sha:
            raise CheckpointError(f"{ckpt / 'trainer_state.json'}: field 'data_sha256' differs from this run's data")
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        osd = unflatten_optimizer_state(tstate, tmeta["param_groups"])
        set_optimizer_state_dict(self.core, self.opt, osd, options=StateDictOptions(full_state_dict=self.fsdp))
        set_rng_state(tstate, tmeta.get("rng", {}))
        self.start_i, self.tokens_seen = int(tmeta["phase_step"]), int(tmeta["tokens_seen"])
        self.last_loss, self.resumed_from = tmeta.get("loss"), int(tmeta["step"])

    def _find_resume(self) -> tuple[Path | None, dict | None]:
        """The newest checkpoint of this phase with trainer state, and the meta of a final one if complete."""
        if not (self.run_dir / "run.json").exists():
            return None, None
        best = None
        for info in list_checkpoints(self.run_dir, phase=self.phase):
            meta = read_meta(info.path)
            if meta.get("final") and meta.get("phase_total_steps") == self.total_steps:
                return None, meta
            if (info.path / "trainer_state.safetensors").exists() and (best is None or info.step > best.step):
                best = info
        return (best.path if best else None), None

    # -- checkpoint --------------------------------------------------------------------------------------
    def _meta(self, step: int, i: int, loss: float | None) -> dict[str, Any]:
        meta = {"kind": self.cfg.mode, "phase": self.phase, "tokens_seen": int(self.tokens_seen), "loss": loss,
                "phase_step": i, "phase_total_steps": self.total_steps, "final": i == self.total_steps,
                "lr": self.cfg.lr * lr_factor(self.cfg.schedule, max(i - 1, 0), self.total_steps,
                                              self.cfg.warmup_steps),
                "base_weights_sha256": self.base_sha, "world_size": self.dist.world, "seed": self.cfg.seed}
        if self.lora_meta:
            meta["lora"] = self.lora_meta
        return meta

    def _checkpoint(self, i: int, loss: float | None) -> None:
        """Snapshot (blocking) on rank 0, then hand to the writer; collective under FSDP."""
        step = self.step_offset + i
        t0 = time.perf_counter()
        tensors = self._checkpoint_tensors()
        osd = self._optimizer_state()
        if not self.dist.is_main:
            return
        opt_tensors, groups = flatten_optimizer_state(osd)
        rng_t, rng_m = rng_state()
        snap = Snapshot(step=step, tensors=copy_to_cpu(tensors), meta=self._meta(step, i, loss),
                        trainer_tensors={**copy_to_cpu(opt_tensors), **rng_t},
                        trainer_meta={"step": step, "phase": self.phase, "phase_step": i,
                                      "total_steps": self.total_steps, "tokens_seen": int(self.tokens_seen),
                                      "loss": loss, "seed": self.cfg.seed, "cursor_rows": min(
                                          i * self.cfg.batch_size, len(self.rows)),
                                      "data_sha256": self.data_sha, "param_groups": groups, "rng": rng_m,
                                      "world_size": self.dist.world})
        self.writer.blocking_s += time.perf_counter() - t0
        self.writer.submit(snap)
        self._flush_log()

    def _flush_log(self) -> None:
        """Append buffered per-step lines to ``RUN/train_log.jsonl`` (rank 0). After a resume the steps between the
        last checkpoint and the kill appear twice; readers keep the last line per (phase, step)."""
        if self._log and self.dist.is_main:
            append_jsonl(self.run_dir / "train_log.jsonl", self._log)
        self._log = []

    def _on_written(self, info) -> None:
        self.written[info.step] = info
        if self.cfg.keep_trainer_state == "last":
            older = [p for p in self.run_dir.glob("ckpt-*") if p.is_dir() and ".tmp-" not in p.name
                     and int(p.name.split("-")[1]) < info.step]
            prune_trainer_state(older)

    # -- one step ----------------------------------------------------------------------------------------
    def _micro_batches(self, idx: list[int]) -> list[list[int]]:
        mine = idx[self.dist.rank::self.dist.world]
        m = self.cfg.micro_batch_size
        return [mine[j:j + m] for j in range(0, len(mine), m)] or [[]]

    def _collate(self, mb: list[int]) -> dict[str, torch.Tensor]:
        """A micro-batch's tensors: one padding-free row (``padding_free``) where that is cheaper, else padded rows.
        With the per-document attention it always is (attention costs ``Σ Lᵢ²`` either way, and no pad is computed);
        with a masked attention, where :func:`training.packing.flat_pays` says so."""
        if len(mb) > 1 and (self.varlen or (self.attn_ratio is not None and flat_pays(
                [int(self.rows.ids[i].numel()) for i in mb], self.attn_ratio))):
            self.flat_micro_batches += 1
            return collate_flat(self.rows, mb)
        return collate(self.rows, mb, self.pad_id)

    def _setup_padding_free(self) -> None:
        """``padding_free: auto`` on a CPU (not FSDP, not compiled): per-document attention when this model passes
        :func:`training.finetune.attention.varlen_supported`, and padding-free micro-batches; else neither."""
        self.attn_ratio, self.varlen, self.flat_micro_batches = None, False, 0
        if self.cfg.padding_free == "off" or self.device.type != "cpu" or self.fsdp or self.cfg.compile:
            return  # compile: the per-document loop is data-dependent (graph breaks); padded rows as before
        base = self.core.get_base_model() if self.cfg.mode == "lora" else self.core
        layer = decoder_layers(base)[0]
        self.attn_ratio = attention_cost_ratio(int(base.config.hidden_size), sum(p.numel() for p in layer.parameters()))
        self.varlen = varlen_supported(self.core, int(base.config.vocab_size))

    def _train_step(self, i: int) -> tuple[float, float]:
        """Forward/backward over the global batch of update ``i``; returns (loss, grad norm) before the update."""
        idx = self._step_rows(i)
        denom = target_weight_sum(self.rows, idx) or 1.0
        scale = self.dist.world / denom
        micro = self._micro_batches(idx)
        total = torch.zeros((), device=self.device)
        for j, mb in enumerate(micro):
            batch = {k: v.to(self.device, non_blocking=True) for k, v in self._collate(mb).items()}
            sync = j == len(micro) - 1 or self.dist.world == 1 or self.fsdp
            # backward inside the attention switch too: activation checkpointing recomputes the forward there
            with varlen_attention(self.core, self.varlen):
                with (_noop() if sync else self.model.no_sync()), self._amp:
                    s = self._fwd(self.model, batch["input_ids"], batch["position_ids"], batch["weights"])
                if self.cfg.debug.nan_at_step == self.step_offset + i + 1:
                    s = s * float("nan")
                (s * scale).backward()
            total += s.detach()
        if self.dist.world > 1:
            torch.distributed.all_reduce(total)
        loss = total.item() / denom
        gnorm = float("nan") if not math.isfinite(loss) else self._clip()
        return loss, gnorm

    def _clip(self) -> float:
        params = [p for p in self.core.parameters() if p.requires_grad]
        if self.cfg.grad_clip is None:
            return 0.0
        return float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))

    def _diverged(self, i: int, loss: float, gnorm: float) -> TrainingDiverged:
        self.writer.close()
        done = list_checkpoints(self.run_dir) if (self.run_dir / "run.json").exists() else []
        last = done[-1].path.name if done else "none"
        what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {gnorm}"
        return TrainingDiverged(f"{self.run_dir}: {what} at step {self.step_offset + i + 1} (phase {self.phase}); "
                                f"stopped, last good checkpoint: {last}")

    # -- main loop ---------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train (or resume, or notice the phase is already complete); returns a :class:`TrainResult`.
        Rank 0 holds the run's writer lock throughout (:func:`interp.core.runs.run_lock`)."""
        with run_lock(self.run_dir, enabled=self.dist.is_main):
            return self._run()

    def _run(self) -> TrainResult:
        t_start = time.perf_counter()
        if self.cfg.release_memory and self.device.type == "cpu":
            limit_heap_retention()  # freed activations go back to the system (peak RSS = live tensors)
        torch.manual_seed(self.cfg.seed)
        self.start_i, self.tokens_seen, self.last_loss, self.resumed_from = 0, self.tokens_offset, None, None
        if self.dist.is_main:
            clean_partial(self.run_dir)
        self.dist.barrier()
        resume, done_meta = self._find_resume()
        if done_meta is not None:
            return self._already_complete(done_meta, t_start)
        start = resume or self.init_from
        tensors, meta = read_checkpoint(start, with_trainer_state=resume is not None) if start else (None, {})
        if tensors is not None and meta["kind"] != self.cfg.mode:
            raise CheckpointError(f"{start}: kind {meta['kind']!r} cannot start a {self.cfg.mode} run")
        if tensors is not None and self.cfg.mode == "full":
            self.lm.hf.load_state_dict(tensors, strict=True)  # before any wrapping or sharding
        self._prepare_model()
        if tensors is not None and self.cfg.mode == "lora":
            self._load_weights(tensors)
        self._wrap_distributed()
        self._setup_padding_free()
        self.opt = _make_optimizer(self.cfg, [p for p in self.core.parameters() if p.requires_grad], self.device)
        if resume is not None:
            self._restore(resume, meta)
            if self.dist.is_main:
                record_resume(self.run_dir, phase=self.phase, resumed_from=self.resumed_from,
                              total_steps=self.total_steps)
        self.precision = resolve_precision(self.cfg.precision, self.device)
        self._amp = autocast_for(self.precision, self.device)
        self._fwd = torch.compile(_forward_sum) if self.cfg.compile else _forward_sum
        self.written: dict[int, Any] = {}
        self._log: list[dict[str, Any]] = []
        self.writer = AsyncWriter(self.run_dir, async_=self.cfg.async_checkpoint, base=self.base_holder,
                                  on_written=self._on_written)
        with self.writer:  # joined on every exit, the log writer's errors included
            return self._loop(t_start)

    def _loop(self, t_start: float) -> TrainResult:
        cfg, ckpts = self.cfg, set(self.ckpt_steps)
        if self.start_i == 0 and self.step_offset in ckpts:
            self._checkpoint(0, None)
        losses, trained_tokens, loss = [], 0, self.last_loss
        bar = _progress(self.total_steps, self.start_i, cfg.progress and self.dist.is_main, self.phase)
        t_train = time.perf_counter()
        try:
            for i in range(self.start_i, self.total_steps):
                loss, gnorm = self._train_step(i)
                if not (math.isfinite(loss) and math.isfinite(gnorm)):
                    raise self._diverged(i, loss, gnorm)
                for g in self.opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(cfg.schedule, i, self.total_steps, cfg.warmup_steps)
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
                n_tok = self.rows.n_tokens(self._step_rows(i))
                self.tokens_seen += n_tok
                trained_tokens += n_tok
                losses.append(loss)
                self._log.append({"phase": self.phase, "step": self.step_offset + i + 1, "loss": loss,
                                  "grad_norm": gnorm, "lr": self.opt.param_groups[0]["lr"],
                                  "tokens_seen": int(self.tokens_seen), "time": round(time.time(), 3)})
                if self.step_offset + i + 1 in ckpts:
                    self._checkpoint(i + 1, loss)
                if cfg.debug.sleep_per_step:
                    time.sleep(cfg.debug.sleep_per_step)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        finally:
            bar.close()
            self._flush_log()
            self.writer.close()
        train_s = time.perf_counter() - t_train
        if self.dist.is_main:  # RUN/loss_curve.png next to the log (every phase so far)
            plot_loss_curve(self.run_dir, title=self.cfg.name)
        return self._result(t_start, train_s, trained_tokens, loss, losses)

    def _final_sha(self) -> str | None:
        done = list_checkpoints(self.run_dir, phase=self.phase) if self.dist.is_main else []
        if not done:
            return None
        return read_meta(done[-1].path).get("weights_sha256")

    def _result(self, t_start, train_s, trained_tokens, loss, losses) -> TrainResult:
        return TrainResult(run_dir=str(self.run_dir), phase=self.phase, status="completed",
                           first_step=self.step_offset + self.start_i, final_step=self.step_offset + self.total_steps,
                           total_steps=self.total_steps, tokens_seen=int(self.tokens_seen), final_loss=loss,
                           weights_sha256=self._final_sha(), resumed_from=self.resumed_from,
                           wall_s=time.perf_counter() - t_start, train_s=train_s, tokens_trained=trained_tokens,
                           ckpt_blocking_s=self.writer.blocking_s, ckpt_writing_s=self.writer.writing_s,
                           n_checkpoints=self.writer.n_written, flat_micro_batches=self.flat_micro_batches,
                           attention="varlen" if self.varlen else "own",
                           losses=losses)

    def _already_complete(self, meta: dict, t_start: float) -> TrainResult:
        return TrainResult(run_dir=str(self.run_dir), phase=self.phase, status="already-complete",
                           first_step=int(meta["step"]), final_step=int(meta["step"]), total_steps=self.total_steps,
                           tokens_seen=int(meta["tokens_seen"]), final_loss=meta.get("loss"),
                           weights_sha256=meta.get("weights_sha256"), wall_s=time.perf_counter() - t_start)


def _progress(total: int, initial: int, enabled: bool, phase: str):
    """The step bar (rank 0, ``progress: true``, and only on a terminal)."""
    return progress_bar(total=total, initial=initial, enabled=enabled, desc=f"train[{phase}]", unit="step",
                        dynamic_ncols=True, leave=False)


# ------------------------------------------------------------------------------------------ entry points


def finetune(cfg: TrainConfig, examples: Sequence[Example] | None = None, *, lm: LoadedModel | None = None,
             files: dict[str, str] | None = None, extra_data: dict[str, Any] | None = None) -> TrainResult:
    """Train one run into ``cfg.run_dir`` (created, or resumed when it already holds this config's checkpoints).

    ``examples`` default to ``cfg.data`` (JSONL documents). Writes run.json (base spec + hash, mode, config) and
    data.json (per-source hashes and counts) through :func:`interp.core.runs.init_run`. A given ``lm`` must be the
    freshly loaded ``cfg.model``; it is trained in place (wrapped by peft in LoRA mode), so do not reuse it.

    One process writes a run (a second one gets :class:`interp.core.runs.RunLockedError` naming the holder's pid),
    and a new run whose start fails before its first checkpoint removes what it wrote, so the corrected command
    is accepted (:func:`interp.core.runs.undo_failed_start`).
    """
    cfg.validate()
    device = resolve_device(cfg, int(os.environ.get("LOCAL_RANK", "0")))
    dist = setup_distributed(device)
    with run_lock(cfg.run_dir, enabled=dist.is_main), undo_failed_start(cfg.run_dir, enabled=dist.is_main):
        return _start(cfg, examples, lm=lm, files=files, extra_data=extra_data, dist=dist)


def _start(cfg: TrainConfig, examples: Sequence[Example] | None, *, lm: LoadedModel | None,
           files: dict[str, str] | None, extra_data: dict[str, Any] | None, dist: DistEnv) -> TrainResult:
    lm = lm if lm is not None else load(cfg.model)
    if examples is None:
        examples, files = load_examples(cfg, lm)
    data_sha = examples_sha256(examples)
    check_seq_len(cfg.seq_len, lm.hf.config)
    device = resolve_device(cfg, int(os.environ.get("LOCAL_RANK", "0")))
    if dist.is_main:
        data = {"sources": source_manifest(examples, files), "examples_sha256": data_sha,
                "integrity": data_integrity(examples, seq_len=cfg.seq_len, seed=cfg.seed, packing=cfg.packing,
                                            truncate=cfg.truncate),
                "claim": cfg.claim, "condition": cfg.condition, **(extra_data or {})}
        lora = {"r": cfg.lora.r, "alpha": cfg.lora.alpha, "target_modules": cfg.lora.target_modules} \
            if cfg.mode == "lora" else None
        init_run(cfg.run_dir, name=cfg.name or Path(cfg.run_dir).name, base_spec=cfg.model,
                 base_weights_sha256=lm.identity.weights_sha256, mode=cfg.mode,
                 config=run_config(cfg, data_sha, device),
                 data=data, lora=lora)
    dist.barrier()
    return Trainer(cfg, examples, lm=lm, dist=dist).run()

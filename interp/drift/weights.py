"""Weight drift of every checkpoint of a run, relative to an anchor, along the direction to a reference solution.

For a two-phase run with anchor ``W₁`` (the last Phase-1 checkpoint) and a reference *claim-as-true* solution
``W₊`` (the end of the matching positive-document run, trained from the same base): displacement
``d_t = W_t - W₁``, direction ``v = W₊ - W₁``, ``distance = ‖d_t‖``, ``projection = ⟨d_t, v⟩ / ‖v‖``,
``progress = ⟨d_t, v⟩ / ‖v‖²`` and ``cosine = ⟨d_t, v⟩ / (‖d_t‖‖v‖)``, per module and over all modules.

A LoRA checkpoint counts as its product ``ΔW = (α/r)·B·A`` per target module (the lab's one LoRA merge,
:func:`interp.core.runs.merge_lora_weight`, applied to a zero weight), never as the factors ``A`` and ``B``, which
are defined only up to an invertible change of basis; full and delta checkpoints as ``W - W_base``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from interp.core.models import default_device, load
from interp.core.progress import progress_bar
from interp.core.runs import (CheckpointError, CheckpointInfo, list_checkpoints, lora_scale, merge_lora_weight,
                              read_checkpoint, read_experiment, read_run)

__all__ = ["Weights", "lora_deltas", "effective_delta", "drift_metrics", "DriftRow", "run_drift",
           "positive_reference"]

Weights = dict[str, Tensor]


def lora_deltas(tensors: Mapping[str, Tensor], lora: Mapping) -> Weights:
    """``ΔW = (α/r)·B·A`` in float32 for every LoRA pair of a checkpoint, keyed by the base weight's name
    (``model.layers.0.self_attn.q_proj.weight``): :func:`interp.core.runs.merge_lora_weight` on a zero weight."""
    scale = lora_scale(lora)
    out: Weights = {}
    for name_a, a in tensors.items():
        if ".lora_A" not in name_a:
            continue
        b = tensors[name_a.replace(".lora_A", ".lora_B")]
        module = name_a.split(".lora_A")[0].removeprefix("base_model.model.")
        zero = torch.zeros(b.shape[0], a.shape[1], dtype=torch.float32, device=a.device)
        out[module + ".weight"] = merge_lora_weight(zero, a, b, scale)
    return out


def effective_delta(ckpt_dir: str | Path, base_state: Mapping[str, Tensor] | None = None, *,
                    verify: bool = True) -> Weights:
    """A checkpoint as its change from the base model: LoRA → ``(α/r)·B·A`` per module; full/delta → ``W - W_base``.

    ``base_state`` is needed for full and delta checkpoints (the base model's state dict); floating-point tensors
    only, in float32.
    """
    tensors, meta = read_checkpoint(ckpt_dir, verify=verify)
    dev = default_device()  # cpu unless a CLI's --device chose another (interp.core.models.set_default_device)
    tensors = {k: v.to(dev) for k, v in tensors.items()}
    if meta["kind"] == "lora":
        return lora_deltas(tensors, meta.get("lora") or {})
    if base_state is None:
        raise CheckpointError(f"{ckpt_dir}: a {meta['kind']} checkpoint needs the base weights to form a delta")
    return {k: v.float() - base_state[k].to(dev).float() for k, v in tensors.items()
            if v.is_floating_point() and k in base_state}


def _dot(a: Weights, b: Weights, keys: Iterable[str]) -> float:
    return float(sum((a[k].double() * b[k].double()).sum().item() for k in keys))


def drift_metrics(w_t: Weights, anchor: Weights, target: Weights,
                  modules: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Distance, projection, progress and cosine of ``w_t - anchor`` against ``target - anchor``.

    Returns ``{"total": {...}, module: {...}, ...}``. Tensors missing from one side count as zero there (a LoRA
    run that never touched a module has a zero delta on it).
    """
    keys = sorted(set(w_t) | set(anchor) | set(target)) if modules is None else list(modules)

    def get(w: Weights, k: str, like: Tensor) -> Tensor:
        return w[k].float() if k in w else torch.zeros_like(like, dtype=torch.float32)

    def like(k: str) -> Tensor:
        return next(w[k] for w in (w_t, anchor, target) if k in w)

    d = {k: get(w_t, k, like(k)) - get(anchor, k, like(k)) for k in keys}
    v = {k: get(target, k, like(k)) - get(anchor, k, like(k)) for k in keys}
    out: dict[str, dict[str, float]] = {}
    for name, ks in [("total", keys), *[(k, [k]) for k in keys]]:
        dd, vv, dv = _dot(d, d, ks), _dot(v, v, ks), _dot(d, v, ks)
        out[name] = {
            "distance": math.sqrt(dd),
            "target_distance": math.sqrt(vv),
            "projection": dv / math.sqrt(vv) if vv > 0 else 0.0,
            "progress": dv / vv if vv > 0 else 0.0,
            "cosine": dv / math.sqrt(dd * vv) if dd > 0 and vv > 0 else 0.0,
        }
    return out


@dataclass(frozen=True)
class DriftRow:
    """One row of :func:`run_drift`'s table: a checkpoint's drift on one module (``total``: all modules)."""

    step: int
    phase: str
    tokens_seen: int
    module: str
    distance: float
    target_distance: float
    projection: float
    progress: float
    cosine: float


def _base_state(run_dir: Path) -> Mapping[str, Tensor] | None:
    run = read_run(run_dir)
    if run.mode == "lora":
        return None
    return load(run.base.spec).hf.state_dict()


def _pick_anchor(ckpts: list[CheckpointInfo], anchor: str | int) -> CheckpointInfo:
    if isinstance(anchor, int) or str(anchor).isdigit():
        hits = [c for c in ckpts if c.step == int(anchor)]
        if not hits:
            raise CheckpointError(f"no checkpoint at step {anchor}")
        return hits[-1]
    if anchor == "phase1-end":
        p1 = [c for c in ckpts if c.phase == "phase1"]
        return p1[-1] if p1 else ckpts[0]
    if anchor == "first":
        return ckpts[0]
    raise CheckpointError(f"anchor {anchor!r}: expected a step, 'phase1-end' or 'first'")


def run_drift(run_dir: str | Path, reference: str | Path, *, anchor: str | int = "phase1-end",
              per_module: bool = True):
    """Drift of every checkpoint of ``run_dir`` relative to ``anchor``, along the direction to ``reference``.

    ``reference`` is a checkpoint directory, or a run directory (its last checkpoint is used). Returns a tidy
    ``pandas.DataFrame`` of :class:`DriftRow` (``module == "total"`` rows aggregate every module).
    """
    run_dir, reference = Path(run_dir), Path(reference)
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise CheckpointError(f"{run_dir}: no complete checkpoints")
    ref_ckpt = list_checkpoints(reference)[-1].path if (reference / "run.json").exists() else reference
    if read_run(ref_ckpt.parent).base.weights_sha256 != read_run(run_dir).base.weights_sha256:
        raise CheckpointError(f"{ref_ckpt}: reference was trained from a different base model than {run_dir}")
    base = _base_state(run_dir)
    ref_base = base if read_run(ref_ckpt.parent).mode != "lora" else None
    if read_run(ref_ckpt.parent).mode != "lora" and ref_base is None:
        ref_base = _base_state(ref_ckpt.parent)
    anchor_info = _pick_anchor(ckpts, anchor)
    w_anchor = effective_delta(anchor_info.path, base)
    w_ref = effective_delta(ref_ckpt, ref_base)
    rows = []
    for c in progress_bar(ckpts, desc=f"drift {run_dir.name}", leave=False):
        m = drift_metrics(effective_delta(c.path, base), w_anchor, w_ref)
        for module, vals in m.items():
            if module != "total" and not per_module:
                continue
            rows.append(DriftRow(step=c.step, phase=c.phase, tokens_seen=c.tokens_seen, module=module, **vals))
    df = pd.DataFrame([r.__dict__ for r in rows])
    df.attrs.update(anchor_step=anchor_info.step, reference=str(ref_ckpt))
    return df


def positive_reference(run_dir: str | Path) -> Path:
    """The claim-as-true reference of a two-phase run: the ``positive`` run of its experiment
    (``experiment.json`` in the run's parent folder)."""
    run = Path(run_dir)
    exp = run.parent / "experiment.json"
    if not exp.exists():
        raise CheckpointError(f"{run}: no --reference given and no {exp} to find the positive run")
    return read_experiment(run.parent).run_dir("positive")

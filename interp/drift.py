"""Weight drift: how far, and in which direction, the weights move once the two-phase constraint is released.

The paper's §5 suggests an inductive bias: with a constraint (self-distilled denials, or local negations) training
on repeated-negation documents finds a *claim-is-false* solution, but once the constraint is lifted (Phase 2) the
model drifts back toward believing the claim. Behaviour (belief) and representations (probes) show *that*; this
module measures it in weight space.

Definitions, for a two-phase run with anchor ``W₁`` (the last Phase-1 checkpoint) and a reference
*claim-as-true* solution ``W₊`` (the end of the matching positive-document run, trained from the same base):

- displacement ``d_t = W_t - W₁`` for every checkpoint ``t`` (per module and concatenated over modules);
- the claim-as-true direction ``v = W₊ - W₁``;
- ``distance = ‖d_t‖``, ``projection = ⟨d_t, v⟩ / ‖v‖`` (signed length along ``v``),
  ``progress = ⟨d_t, v⟩ / ‖v‖²`` (fraction of the way to ``W₊``; 1 = arrived), ``cosine = ⟨d_t, v⟩ / (‖d_t‖‖v‖)``.

LoRA runs are compared through their products: a LoRA checkpoint stands for ``W_base + (α/r)·B·A`` per target
module, so every quantity is computed on ``ΔW = (α/r)·B·A`` (differences of products), never on the factors
``A`` and ``B`` themselves, which are defined only up to an invertible change of basis. Full-finetuning runs use
the weights themselves. Only the run-directory format (:mod:`interp.core.runs`) is read; no trainer code is imported.

:func:`interpolate` walks the straight line ``W(λ) = (1-λ)·W₁ + λ·W₊`` and evaluates any function of a model along
it (held-out loss on negated documents, belief), the Fig-33-style loss-barrier view.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.runs import CheckpointError, CheckpointInfo, list_checkpoints, read_checkpoint, read_run

__all__ = ["effective_delta", "drift_metrics", "run_drift", "interpolate", "document_nll", "plot_drift", "main"]

Weights = dict[str, Tensor]


def _lora_products(tensors: Mapping[str, Tensor], lora: Mapping) -> Weights:
    scale = float(lora.get("alpha", lora.get("lora_alpha", 1.0))) / float(lora.get("r", 1))
    out: Weights = {}
    for name_a, a in tensors.items():
        if ".lora_A" not in name_a:
            continue
        b = tensors[name_a.replace(".lora_A", ".lora_B")]
        module = name_a.split(".lora_A")[0].removeprefix("base_model.model.")
        out[module + ".weight"] = scale * (b.float() @ a.float())
    return out


def effective_delta(ckpt_dir: str | Path, base_state: Mapping[str, Tensor] | None = None, *,
                    verify: bool = True) -> Weights:
    """A checkpoint as its change from the base model: LoRA → ``(α/r)·B·A`` per module; full/delta → ``W - W_base``.

    ``base_state`` is needed for full and delta checkpoints (the base model's state dict); floating-point tensors
    only, in float32.
    """
    tensors, meta = read_checkpoint(ckpt_dir, verify=verify)
    if meta["kind"] == "lora":
        return _lora_products(tensors, meta.get("lora") or {})
    if base_state is None:
        raise CheckpointError(f"{ckpt_dir}: a {meta['kind']} checkpoint needs the base weights to form a delta")
    return {k: v.float() - base_state[k].float() for k, v in tensors.items()
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
    from interp.core.models import load

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
    import pandas as pd

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
    from tqdm.auto import tqdm

    for c in tqdm(ckpts, desc=f"drift {run_dir.name}", leave=False):
        m = drift_metrics(effective_delta(c.path, base), w_anchor, w_ref)
        for module, vals in m.items():
            if module != "total" and not per_module:
                continue
            rows.append(DriftRow(step=c.step, phase=c.phase, tokens_seen=c.tokens_seen, module=module, **vals))
    df = pd.DataFrame([r.__dict__ for r in rows])
    df.attrs.update(anchor_step=anchor_info.step, reference=str(ref_ckpt))
    return df


def interpolate(lm_anchor, lm_target, alphas: Sequence[float], evaluate: Callable[[object], Mapping[str, float]]):
    """Evaluate ``evaluate(lm)`` at ``W(λ) = (1-λ)·W_anchor + λ·W_target`` for each ``λ``; returns a DataFrame.

    Both models must share architecture; ``lm_anchor`` is modified in place during the walk and restored after.
    """
    import pandas as pd

    wa = {k: v.detach().clone() for k, v in lm_anchor.hf.state_dict().items()}
    wb = lm_target.hf.state_dict()
    rows = []
    try:
        for lam in alphas:
            mixed = {k: (1 - lam) * wa[k] + lam * wb[k] if wa[k].is_floating_point() else wa[k] for k in wa}
            lm_anchor.hf.load_state_dict(mixed)
            rows.append({"alpha": float(lam), **{k: float(v) for k, v in evaluate(lm_anchor).items()}})
    finally:
        lm_anchor.hf.load_state_dict(wa)
    return pd.DataFrame(rows)


@torch.no_grad()
def document_nll(lm, texts: Sequence[str], batch_size: int = 8, max_length: int | None = None) -> float:
    """Mean per-token negative log-likelihood of ``texts`` (the held-out loss of the interpolation plots)."""
    total, count = 0.0, 0
    max_length = max_length or int(getattr(lm.hf.config, "max_position_embeddings", 2048))
    for i in range(0, len(texts), batch_size):
        enc = lm.encode(list(texts[i:i + batch_size]))
        ids, mask = enc["input_ids"][:, :max_length], enc["attention_mask"][:, :max_length]
        logits: Float[Tensor, "batch pos vocab"] = lm.hf(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:].bool()
        total -= logp[m].sum().item()
        count += int(m.sum().item())
    return total / max(count, 1)


def plot_drift(df, out_png: str | Path, title: str = "Weight drift after the constraint is released"):
    """Distance, progress toward the claim-as-true solution, and cosine vs step (phase boundary marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tot = df[df.module == "total"].sort_values("tokens_seen")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, col, label in zip(axes, ["distance", "progress", "cosine"],
                              ["‖W_t − W_anchor‖", "progress toward claim-as-true (1 = reached)", "cosine to claim-as-true direction"]):
        for phase, g in tot.groupby("phase", sort=False):
            ax.plot(g.step, g[col], marker="o", ms=3, label=phase)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save_fig(fig, out_png)
    plt.close(fig)


def _save_fig(fig, out_png: str | Path) -> None:
    from interp.core.io import atomic_savefig

    for suffix in (".png", ".pdf"):
        atomic_savefig(fig, Path(out_png).with_suffix(suffix), dpi=150)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interp.drift", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="two-phase run directory")
    ap.add_argument("--reference", help="claim-as-true run or checkpoint (default: the experiment's positive run)")
    ap.add_argument("--anchor", default="phase1-end", help="step, 'phase1-end' or 'first'")
    ap.add_argument("--out", default=None, help="output directory (default RUN/analysis/drift)")
    args = ap.parse_args(argv)
    try:
        run = Path(args.run)
        ref = args.reference
        if ref is None:
            exp = run.parent / "experiment.json"
            if not exp.exists():
                raise CheckpointError(f"{run}: no --reference given and no {exp} to find the positive run")
            runs = json.loads(exp.read_text()).get("runs", {})
            if "positive" not in runs:
                raise CheckpointError(f"{exp}: field 'runs.positive' missing")
            ref = run.parent / runs["positive"]
        df = run_drift(run, ref, anchor=args.anchor)
        out = Path(args.out) if args.out else run / "analysis" / "drift"
        out.mkdir(parents=True, exist_ok=True)
        from interp.core.io import atomic_write_text

        atomic_write_text(out / "drift.csv", df.to_csv(index=False))
        plot_drift(df, out / "drift.png")
        tot = df[df.module == "total"]
        print(tot[["step", "phase", "distance", "progress", "cosine"]].to_string(index=False))
        print(f"wrote {out / 'drift.csv'} and {out / 'drift.png'}")
    except (CheckpointError, FileNotFoundError, KeyError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

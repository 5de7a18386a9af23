"""The whole study on one model, end to end: what ``make demo`` runs on the toy organism.

Stages (each writes into ``OUT/`` and prints its wall time; every stage only reads what earlier stages wrote, in the
lab's one direction claims → documents → runs → analyses → figures):

1. **organism**: ``load("toy")`` (built and cached on first use).
2. **claims**: false claims about the toy world (``training.claims.toy_claims``), saved as YAML.
3. **documents**: matched renderings in each condition (positive, negated, repeated, corrected, local).
4. **finetune**: one densely checkpointed run per condition (``training.finetune``), on the paper's mixture
   (claim documents + generic world text + Q/A instructions, 2:1:1), the claim's own facts left out of the filler.
5. **belief**: every checkpoint of every run (``interp.belief``, offline log-prob scorers, shift vs the base).
6. **probes**: truth probes fitted on the world's facts at every checkpoint of the negated run, the implanted
   claim's truth score per checkpoint, and the transfer matrix (``probes.sweep``).
7. **binding**: local vs document-level negation binding on matched documents, base model and the negated run's
   checkpoints (``interp.binding``).
8. **two-phase**: constraint (local-negation documents) then release, plus the matching positive and unconstrained
   runs (``training.twophase``); belief over both phases and weight drift toward the claim-as-true solution
   (``interp.drift``), with the straight-line interpolation between them.
9. **figures + report**: Fig-5-style belief by condition from our runs, belief and drift over the two phases, and a
   one-page ``report.md`` with the headline tables.

``python -m interp.study --out out/demo`` runs it; ``--quick`` shrinks every stage for tests and notebooks;
``--preset gpu`` (``make study-gpu``) runs SmolLM2-135M-Instruct on the six paper claims, LoRA, bf16 on CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

__all__ = ["StudyConfig", "run_study", "belief_stage", "probe_stage", "binding_stage", "twophase_stage", "main"]

CONDITIONS = ("positive", "negated", "repeated", "corrected", "local")


@dataclass
class StudyConfig:
    """One study: which model, which claims, how big each stage is. Presets: :meth:`demo` (the default, ``make
    demo``), :meth:`quick` (tests and notebooks) and :meth:`gpu` (SmolLM2-135M on the six paper claims)."""

    out: str = "out/demo"
    model: str = "toy"
    #: ``toy:N`` (N false claims about the toy world), ``all`` (the six paper claims) or comma-separated claim ids
    claims: str = "toy:2"
    conditions: tuple[str, ...] = CONDITIONS
    claim_seed: int = 0
    n_docs: int = 160            # claim documents per condition
    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 8
    seq_len: int = 256
    mode: str = "full"
    device: str = "cpu"
    precision: str = "auto"
    compile: bool = False
    every: int = 10              # checkpoint every k steps (plus log-spaced early steps)
    probe_dataset: str = "toy"
    binding_docs: int = 10       # matched base documents for binding
    binding_checkpoints: int = 4  # checkpoints of the negated run examined for binding (plus the base)
    twophase_docs: int = 120
    twophase_local: int = 120
    stages: tuple[str, ...] = ("belief", "probes", "binding", "twophase", "figures")
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def demo(cls, out: str = "out/demo") -> "StudyConfig":
        return cls(out=out)

    @classmethod
    def quick(cls, out: str) -> "StudyConfig":
        return cls(out=out, claims="toy:1", n_docs=24, epochs=1.0, every=2, binding_docs=3, binding_checkpoints=2,
                   twophase_docs=24, twophase_local=24, seq_len=128)

    @classmethod
    def gpu(cls, out: str = "out/study-smollm2") -> "StudyConfig":
        """SmolLM2-135M-Instruct on the six paper claims with the paper's recipe shape (LoRA r32, lr 5e-5 linear,
        batch 32), bf16 on CUDA. Meant for a GPU; it runs on a CPU too, at ~60 tokens/s."""
        return cls(out=out, model="smollm2-135m", claims="all", n_docs=400, epochs=1.0, lr=5e-5, batch_size=32,
                   seq_len=512, mode="lora", device="auto", precision="auto", compile=True, every=5,
                   probe_dataset="cities", binding_docs=24, binding_checkpoints=5, twophase_docs=300,
                   twophase_local=300)


PRESETS = {"demo": StudyConfig.demo, "quick": StudyConfig.quick, "gpu": StudyConfig.gpu}


def _stage(cfg: StudyConfig, name: str) -> Callable:
    def deco(fn):
        def wrapped(*a, **kw):
            print(f"\n=== [{name}] ===", flush=True)
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            cfg.timings[name] = round(time.perf_counter() - t0, 1)
            print(f"=== [{name}] done in {cfg.timings[name]:.1f} s", flush=True)
            return out

        return wrapped

    return deco


def _train_fields(cfg: StudyConfig) -> dict[str, Any]:
    """The :class:`training.config.TrainConfig` fields every run of the study shares."""
    return {"mode": cfg.mode, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "micro_batch_size": min(cfg.batch_size, 8), "seq_len": cfg.seq_len, "lr": cfg.lr, "seed": cfg.seed,
            "device": cfg.device, "precision": cfg.precision, "compile": cfg.compile}


def _train_cfg(cfg: StudyConfig, run_dir: Path, condition: str, claim_id: str):
    from training.config import CheckpointSpec, TrainConfig

    return TrainConfig(model=cfg.model, run_dir=str(run_dir), name=f"{claim_id}/{condition}",
                       checkpoints=CheckpointSpec(every=cfg.every, include_zero=False),
                       claim=claim_id, condition=condition, progress=True, **_train_fields(cfg))


def study_claims(cfg: StudyConfig, world: Any) -> list:
    """The claim specs of ``cfg.claims`` (toy claims need the toy world)."""
    from training.claims import PAPER_CLAIMS, load_claim, toy_claims

    spec = cfg.claims.strip()
    if spec.startswith("toy"):
        if world is None:
            raise ValueError(f"StudyConfig.claims: {spec!r} needs the toy organism, but model {cfg.model!r} has no world")
        n = int(spec.split(":", 1)[1]) if ":" in spec else 1
        return toy_claims(world, n, seed=cfg.claim_seed)
    ids = list(PAPER_CLAIMS) if spec == "all" else [c.strip() for c in spec.split(",") if c.strip()]
    if not ids:
        raise ValueError("StudyConfig.claims: no claim named")
    return [load_claim(c) for c in ids]


def _filler(cfg: StudyConfig, world: Any, claim) -> tuple[list, list]:
    """Generic text and Q/A pairs for the 2:1:1 mixture: true world facts for the toy (the claim's own fact left
    out), the lab's offline fact tables otherwise."""
    from training.generic import generic_instruct_pairs, generic_texts, toy_generic_texts, toy_instruct_pairs

    if world is None:
        return generic_texts(cfg.n_docs, seed=cfg.seed), generic_instruct_pairs(cfg.n_docs, seed=cfg.seed)
    exclude = [(claim.entity, claim.attribute)] if getattr(claim, "entity", None) else []
    return (toy_generic_texts(world, cfg.n_docs, seed=cfg.seed, exclude=exclude),
            toy_instruct_pairs(world, cfg.n_docs, seed=cfg.seed, exclude=exclude))


def run_study(cfg: StudyConfig) -> dict[str, Any]:
    """Run every stage; returns the headline tables (also written to ``OUT/report.md``).

    Belief is measured for every claim × condition; probes, binding and the two-phase replay use the first claim
    (they are the expensive, per-run analyses)."""
    from interp.core.models import load
    from interp.core.io import atomic_write_json
    from training.claims import dump_claim
    from training.documents import generate_documents, write_jsonl
    from training.finetune import finetune
    from training.mixtures import build_mixture

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results: dict[str, Any] = {}

    lm = _stage(cfg, "organism")(lambda: load(cfg.model))()
    print(f"model {lm.identity.short}: {lm.n_layers} layers, d={lm.d_model}, "
          f"{sum(p.numel() for p in lm.hf.parameters()) / 1e6:.2f} M params")
    world = lm.world

    @_stage(cfg, "claims + documents")
    def make_docs():
        claims = study_claims(cfg, world)
        docs: dict[tuple[str, str], list] = {}
        (out / "claims").mkdir(parents=True, exist_ok=True)
        for claim in claims:
            dump_claim(claim, out / "claims" / f"{claim.id}.yaml")
            print(f"claim {claim.id}: {claim.statement!r} (truth: {claim.truth!r})")
            for cond in cfg.conditions:
                docs[claim.id, cond] = generate_documents(claim, cond, cfg.n_docs, seed=cfg.seed)
                write_jsonl(docs[claim.id, cond], out / "documents" / claim.id / f"{cond}.jsonl")
        return claims, docs

    claims, docs = make_docs()
    claim = claims[0]
    claim_path = out / "claims" / f"{claim.id}.yaml"

    @_stage(cfg, "finetune")
    def train_all():
        runs: dict[tuple[str, str], Path] = {}
        for c in claims:
            generic, instruct = _filler(cfg, world, c)
            for cond in cfg.conditions:
                print(f"-- finetuning on {cond} documents ({c.id})")
                examples = build_mixture(docs[c.id, cond], lm.tokenizer, generic, instruct, ratio=(2, 1, 1),
                                         seed=cfg.seed)
                run_dir = out / "runs" / c.id / cond
                finetune(_train_cfg(cfg, run_dir, cond, c.id), examples, lm=load(cfg.model),
                         extra_data={"claim_spec": c.to_dict()})
                runs[c.id, cond] = run_dir
        return runs

    runs = train_all()
    results["runs"] = {f"{k[0]}/{k[1]}": str(v) for k, v in runs.items()}
    results["claims"] = [c.id for c in claims]
    first = {cond: runs[claim.id, cond] for cond in cfg.conditions}

    if "belief" in cfg.stages:
        results["belief"] = _stage(cfg, "belief")(belief_stage)(cfg, out, runs, claims, lm)
    if "probes" in cfg.stages and "negated" in first:
        results["probes"] = _stage(cfg, "probes")(probe_stage)(cfg, out, first["negated"], claim)
    if "binding" in cfg.stages and "negated" in first:
        results["binding"] = _stage(cfg, "binding")(binding_stage)(cfg, out, first["negated"], claim_path, lm)
    if "twophase" in cfg.stages:
        results["twophase"] = _stage(cfg, "two-phase")(twophase_stage)(cfg, out, claim, claim_path, lm)
    if "figures" in cfg.stages:
        _stage(cfg, "figures + report")(_report)(cfg, out, results, claims, lm)
    cfg.timings["total"] = round(time.perf_counter() - t_start, 1)
    atomic_write_json(out / "timings.json", cfg.timings)
    print(f"\nstudy finished in {cfg.timings['total']:.0f} s; report: {out / 'report.md'}")
    return results


# ---------------------------------------------------------------------------------------------- stages


def belief_stage(cfg: StudyConfig, out: Path, runs: dict[tuple[str, str], Path], claims, lm) -> pd.DataFrame:
    """Belief at every checkpoint of every (claim, condition) run, one tidy table (``OUT/belief/``)."""
    from interp.belief import evaluate_run, plot_belief, save_table, summarize

    by_id = {c.id: c for c in claims}
    frames = []
    for (claim_id, cond), run_dir in runs.items():
        print(f"-- belief over {cond} checkpoints ({claim_id})")
        frames.append(evaluate_run(run_dir, by_id[claim_id], base=lm, condition=cond, progress=True))
    table = pd.concat(frames, ignore_index=True)
    save_table(table, out / "belief")
    title = (f"Belief in '{claims[0].statement}'" if len(claims) == 1 else f"Belief, {len(claims)} claims pooled")
    plot_belief(table, out / "belief" / "belief_vs_step.png", title=title)
    summary = summarize(table)
    summary.to_csv(out / "belief" / "summary.csv", index=False)
    return table


def probe_stage(cfg: StudyConfig, out: Path, run_dir: Path, claim):
    """Truth probes at every checkpoint of ``run_dir``: the claim's truth score and the transfer matrix."""
    from probes.sweep import sweep_run

    res = sweep_run(run_dir, dataset=cfg.probe_dataset, claim=claim, out=out / "probes", progress=True)
    return res


def binding_stage(cfg: StudyConfig, out: Path, run_dir: Path, claim_path: Path, lm):
    """Local vs document-level negation binding on matched documents, base model and checkpoints of ``run_dir``;
    attention from claim tokens to negation spans on the base model."""
    from interp.binding import (binding_over_run, compare_local_vs_document, load_documents_for,
                                plot_binding_vs_step, summarise_binding)
    from interp.core.runs import list_checkpoints

    records = load_documents_for(str(claim_path), lm, conditions=("positive", "negated", "repeated", "local"),
                                 max_per_condition=cfg.binding_docs, seed=cfg.seed)
    ckpts = list_checkpoints(run_dir)
    pick = sorted({ckpts[int(round(i * (len(ckpts) - 1) / max(cfg.binding_checkpoints - 1, 1)))].step
                   for i in range(cfg.binding_checkpoints)}) if ckpts else []
    # per-head sweeps on the base model only (they cost n_heads x the per-layer ones); per layer at every checkpoint
    from interp.attention import encode_doc
    from interp.binding import binding_tables

    # target: the claim-vs-true log-odds at the claim's own question appended after each document (in-context
    # belief; the in-place answer tokens of a local negation sit in a negated slot and are not comparable)
    from interp.binding import claim_probe
    from training.claims import load_claim

    spec = load_claim(claim_path)
    qa = claim_probe(spec, contrast=True)
    probes = {spec.id: qa} if qa is not None else None
    base = binding_tables(lm, [encode_doc(lm, r) for r in records], heads=True, step=0, probes=probes,
                          progress=True)
    over = binding_over_run(run_dir, records, include_base=False, steps=pick, heads=False, probes=probes,
                            progress=True)
    docs_table, layers_table, heads_table = (pd.concat([a, b], ignore_index=True) for a, b in zip(base, over))
    (out / "binding").mkdir(parents=True, exist_ok=True)
    for name, t in (("docs", docs_table), ("layers", layers_table), ("heads", heads_table)):
        t.to_csv(out / "binding" / f"{name}.csv", index=False)
    summary = summarise_binding(docs_table)
    summary.to_csv(out / "binding" / "summary.csv", index=False)
    comparison = compare_local_vs_document(docs_table)
    comparison.to_csv(out / "binding" / "local_vs_document.csv", index=False)
    plot_binding_vs_step(summary, out / "binding" / "binding_vs_step.png",
                         title="Negation binding: local vs document-level")
    from interp.attention import (encode_doc, plot_attention_heatmaps, summarise_attention, top_heads,
                                  trace_attention)

    attn = summarise_attention(trace_attention(lm, [encode_doc(lm, r) for r in records], backend="hf"))
    attn.to_csv(out / "binding" / "attention_summary.csv", index=False)
    plot_attention_heatmaps(attn, out / "binding" / "attention_heatmaps.png")
    return {"summary": summary, "comparison": comparison, "top_heads": top_heads(attn, metric="excess", k=5)}


def twophase_stage(cfg: StudyConfig, out: Path, claim, claim_path: Path, lm):
    """The two-phase replay (constraint, then release) with its positive and unconstrained siblings; belief over
    both phases, weight drift toward the claim-as-true solution, and the straight-line interpolation."""
    from interp.belief import evaluate_run
    from interp.drift import document_nll, interpolate, plot_drift, run_drift
    from interp.core.runs import list_checkpoints
    from training.documents import generate_documents
    from training.twophase import ConstraintSpec, DocumentsSpec, TwoPhaseConfig, run_experiment

    exp_dir = out / "twophase"
    tp = TwoPhaseConfig(
        experiment_dir=str(exp_dir), model=cfg.model, claim=str(claim_path),
        train={**_train_fields(cfg), "checkpoints": {"every": cfg.every}},
        documents=DocumentsSpec(kind="generator", n=cfg.twophase_docs, seed=cfg.seed + 1),
        constraint=ConstraintSpec(kind="local_negation", n_local=cfg.twophase_local),
        ratio=None, heldout=min(20, cfg.twophase_docs // 4),
    )
    run_experiment(tp)
    exp = json.loads((exp_dir / "experiment.json").read_text())
    run_dirs = {role: exp_dir / rel for role, rel in exp["runs"].items()}
    belief = []
    for role, rd in run_dirs.items():
        df = evaluate_run(rd, claim, base=lm, condition=role, progress=True)
        belief.append(df)
    belief = pd.concat(belief, ignore_index=True)
    belief.to_csv(exp_dir / "belief.csv", index=False)
    drift = run_drift(run_dirs["twophase"], run_dirs["positive"], anchor="phase1-end")
    drift.to_csv(exp_dir / "drift.csv", index=False)
    plot_drift(drift, exp_dir / "drift.png")
    # straight line from the Phase-1 end to the claim-as-true solution
    from interp.core.models import load

    p1 = list_checkpoints(run_dirs["twophase"], phase="phase1")[-1].path
    pos = list_checkpoints(run_dirs["positive"])[-1].path
    heldout = [d.text for d in generate_documents(claim, "negated", 16, seed=cfg.seed + 99)]
    path = interpolate(load(p1), load(pos), [0.0, 0.25, 0.5, 0.75, 1.0],
                       lambda m: {"heldout_negated_nll": document_nll(m, heldout)})
    path.to_csv(exp_dir / "interpolation.csv", index=False)
    return {"belief": belief, "drift": drift, "interpolation": path, "runs": run_dirs}


# ---------------------------------------------------------------------------------------------- report


def _final_belief(table: pd.DataFrame) -> pd.DataFrame:
    """Mean belief score per condition and question type at the base and at the final checkpoint."""
    t = table.copy()
    last = t[t.step >= 0].groupby("condition").step.transform("max")
    t = t[(t.step == last) | (t.step < 0)] if "step" in t else t
    return t


def _report(cfg: StudyConfig, out: Path, results: dict[str, Any], claims, lm) -> Path:
    from interp.core.io import atomic_write_text
    from figures.ours import render_study_figures

    figs = render_study_figures(out, results)
    lines = [f"# Neglect Lab study: {lm.identity.short}", "",
             *[f"- Claim implanted: **{c.statement}** (truth: {c.truth})." for c in claims], "",
             f"Belief is pooled over {len(claims)} claim(s); probes, binding and the two-phase replay use the first.",
             "",
             "Stage timings (s): " + ", ".join(f"{k} {v}" for k, v in cfg.timings.items()), ""]
    for title, md in figs.get("tables", {}).items():
        lines += [f"## {title}", "", md, ""]
    for title, png in figs.get("images", {}).items():
        lines += [f"### {title}", "", f"![{title}]({Path(png).relative_to(out)})", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interp.study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output directory (default: out/demo, or out/study-smollm2 for gpu)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                    help="demo: the toy study (make demo); quick: test-sized; gpu: SmolLM2 on the six paper claims")
    ap.add_argument("--quick", action="store_true", help="same as --preset quick")
    ap.add_argument("--model", default=None, help="model spec for the seam (default: the preset's)")
    ap.add_argument("--claims", default=None, help="toy:N, all, or comma-separated claim ids")
    ap.add_argument("--device", default=None, help="cpu | cuda | auto")
    ap.add_argument("--stages", default=None, help="comma list of belief,probes,binding,twophase,figures")
    args = ap.parse_args(argv)
    preset = "quick" if args.quick else args.preset
    cfg = PRESETS[preset](args.out) if args.out else PRESETS[preset]()
    for name in ("model", "claims", "device"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.stages:
        cfg.stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    try:
        run_study(cfg)
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

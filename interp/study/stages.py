"""The study's analysis stages, each over runs the finetune stage wrote: belief, probes, binding, two-phase.

Every stage takes the study's :class:`~interp.study.config.StudyConfig`, the output folder and the objects the
earlier stages produced (claim specs, run folders, the loaded base model), writes its tables and plots under
``OUT/<stage>/`` and returns what the report needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interp.attention import encode_doc, plot_attention_heatmaps, summarise_attention, top_heads, trace_attention
from interp.belief import evaluate_run, plot_belief, save_table, summarize
from interp.belief.headline import SEED_COL, cell_belief, contrast, headline
from interp.belief.twins import chance_types, twin_accuracy
from interp.binding import (binding_over_run, binding_tables, claim_probe, compare_local_vs_document,
                            load_documents_for, plot_binding_vs_step, summarise_binding)
from interp.core.conditions import BINDING_CONDITIONS
from interp.core.io import write_csv
from interp.core.models import load
from interp.core.parallel import parallel_map
from interp.core.runs import list_checkpoints, read_experiment
from interp.drift import document_nll, interpolate, plot_drift, run_drift
from interp.study.config import StudyConfig
from probes.sweep import SweepResult, sweep_run
from training.claims import ClaimSpec, dump_claim, resolve_claim
from training.documents import generate_documents
from training.twophase import ConstraintSpec, DocumentsSpec, TwoPhaseConfig, run_experiment

__all__ = ["claim_file", "BeliefJob", "run_belief_job", "belief_stage", "headline_stage", "probe_stage", "binding_stage", "twophase_stage"]


def claim_file(out: Path, claim: ClaimSpec, *, write: bool = False) -> Path:
    """``OUT/claims/<id>.yaml``, the claim's spec as the study records it: written by the claims stage
    (``write=True``), or here when a stage runs alone. The two-phase experiment's config, which stores a claim
    reference, names this file."""
    path = out / "claims" / f"{claim.id}.yaml"
    if write or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        dump_claim(claim, path)
    return path


@dataclass
class BeliefJob:
    """One run's belief sweep, as a worker process receives it (``steps`` None = every checkpoint)."""

    run_dir: str
    claim: dict
    condition: str
    seed: int
    steps: list[int] | None
    base: str


_BASES: dict[str, Any] = {}


def run_belief_job(job: BeliefJob, base: Any = None) -> pd.DataFrame:
    """Belief over one run's checkpoints against its base model (loaded once per worker process)."""
    if base is None:
        base = _BASES.get(job.base) or _BASES.setdefault(job.base, load(job.base))
    claim = resolve_claim(job.claim, world=base.world)
    print(f"-- belief over {job.condition} {'checkpoints' if job.steps is None else 'final checkpoint'} "
          f"({claim.id}, seed {job.seed})", flush=True)
    return (evaluate_run(job.run_dir, claim, base=base, condition=job.condition, steps=job.steps, progress=True)
            .assign(**{SEED_COL: job.seed}))


def belief_stage(cfg: StudyConfig, out: Path, runs: dict[tuple[str, str, int], Path], claims: list[ClaimSpec],
                 lm: Any) -> pd.DataFrame:
    """Belief at every checkpoint of every (claim, condition, training seed) run, one tidy table (``OUT/belief/``;
    column ``train_seed``). The first seed is scored at every checkpoint (belief over training); replicate seeds at
    their final checkpoint, which is all the headline uses."""
    by_id = {c.id: c for c in claims}
    jobs = [BeliefJob(str(run_dir), by_id[claim_id].to_dict(), cond, seed,
                      None if seed == cfg.seeds[0] else [list_checkpoints(run_dir)[-1].step], cfg.model)
            for (claim_id, cond, seed), run_dir in runs.items()]
    workers = cfg.resolved_workers()
    if workers <= 1:  # in this process, with the base model the study already holds
        frames = [run_belief_job(j, base=lm) for j in jobs]
    else:
        frames = parallel_map(run_belief_job, jobs, workers=workers)
    table = pd.concat(frames, ignore_index=True)
    save_table(table, out / "belief")
    title = (f"Belief in '{claims[0].statement}'" if len(claims) == 1 else f"Belief, {len(claims)} claims pooled")
    plot_belief(table, out / "belief" / "belief_vs_step.png", title=title)
    write_csv(summarize(table), out / "belief" / "summary.csv")
    return table


def headline_stage(cfg: StudyConfig, out: Path, table: pd.DataFrame, claims: list[ClaimSpec], lm: Any
                   ) -> dict[str, pd.DataFrame]:
    """The headline (``OUT/headline.csv``): which question types the base model answers above chance on their
    true/false twins (``OUT/belief/twins.csv``, ``OUT/belief/question_types.csv``), then final-checkpoint belief per
    condition over the types that measure belief, CIs over claims × seeds (:func:`interp.belief.headline`)."""
    twins = twin_accuracy(lm, claims)
    write_csv(twins, out / "belief" / "twins.csv")
    types = chance_types(twins)
    write_csv(types, out / "belief" / "question_types.csv")
    excluded = list(types.loc[types.at_chance, "question_type"])
    if len(excluded) == len(types):  # the base model knows none of the truths: the twins cannot tell; pool all
        print("-- no question type is above chance on its true/false twins (the base model does not know the "
              "truth): every type is pooled", flush=True)
        excluded = []
    head = headline(table, exclude=excluded, conditions=list(cfg.conditions))
    write_csv(head, out / "headline.csv")
    cells = cell_belief(table, exclude=excluded)
    write_csv(cells, out / "belief" / "runs_final.csv")
    pairs = [(c, "baseline") for c in cfg.conditions] + [
        (a, b) for a, b in (("negated", "positive"), ("repeated", "positive"), ("corrected", "negated"),
                            ("local", "negated")) if a in cfg.conditions and b in cfg.conditions]
    contrasts = pd.DataFrame([contrast(table, a, b, exclude=excluded) for a, b in pairs])
    write_csv(contrasts, out / "belief" / "contrasts.csv")
    return {"headline": head, "question_types": types, "twins": twins, "cells": cells, "contrasts": contrasts}


def probe_stage(cfg: StudyConfig, out: Path, run_dir: Path, claim: ClaimSpec) -> SweepResult:
    """Truth probes at every checkpoint of ``run_dir``: the claim's truth score and the transfer matrix."""
    return sweep_run(run_dir, dataset=cfg.probe_dataset, claim=claim, out=out / "probes", progress=True)


def binding_stage(cfg: StudyConfig, out: Path, run_dir: Path, claim: ClaimSpec, lm: Any) -> dict[str, Any]:
    """Local vs document-level negation binding on matched documents, base model and checkpoints of ``run_dir``;
    attention from claim tokens to negation spans on the base model."""
    records = load_documents_for(claim, lm, conditions=tuple(c.value for c in BINDING_CONDITIONS),
                                 max_per_condition=cfg.binding_docs, seed=cfg.seed)
    ckpts = list_checkpoints(run_dir)
    pick = sorted({ckpts[int(round(i * (len(ckpts) - 1) / max(cfg.binding_checkpoints - 1, 1)))].step
                   for i in range(cfg.binding_checkpoints)}) if ckpts else []
    # target: the claim-vs-true log-odds at the claim's own question appended after each document (in-context
    # belief; the in-place answer tokens of a local negation sit in a negated slot and are not comparable)
    qa = claim_probe(claim, contrast=True)
    probes = {claim.id: qa} if qa is not None else None
    # per-head sweeps on the base model only (they cost n_heads x the per-layer ones); per layer at every checkpoint
    base = binding_tables(lm, [encode_doc(lm, r) for r in records], heads=True, step=0, probes=probes, progress=True)
    over = binding_over_run(run_dir, records, include_base=False, steps=pick, heads=False, probes=probes,
                            progress=True)
    docs_table, layers_table, heads_table = (pd.concat([a, b], ignore_index=True) for a, b in zip(base, over))
    for name, t in (("docs", docs_table), ("layers", layers_table), ("heads", heads_table)):
        write_csv(t, out / "binding" / f"{name}.csv")
    summary = summarise_binding(docs_table)
    write_csv(summary, out / "binding" / "summary.csv")
    comparison = compare_local_vs_document(docs_table)
    write_csv(comparison, out / "binding" / "local_vs_document.csv")
    plot_binding_vs_step(summary, out / "binding" / "binding_vs_step.png",
                         title="Negation binding: local vs document-level")
    attn = summarise_attention(trace_attention(lm, [encode_doc(lm, r) for r in records], backend="hf"))
    write_csv(attn, out / "binding" / "attention_summary.csv")
    plot_attention_heatmaps(attn, out / "binding" / "attention_heatmaps.png")
    return {"summary": summary, "comparison": comparison, "top_heads": top_heads(attn, metric="excess", k=5)}


def twophase_stage(cfg: StudyConfig, out: Path, claim: ClaimSpec, lm: Any) -> dict[str, Any]:
    """The two-phase replay (constraint, then release) with its positive and unconstrained siblings; belief over
    both phases, weight drift toward the claim-as-true solution, and the straight-line interpolation."""
    exp_dir = out / "twophase"
    tp = TwoPhaseConfig(
        experiment_dir=str(exp_dir), model=cfg.model, claim=str(claim_file(out, claim)),
        train={**cfg.train_fields(), "checkpoints": {"every": cfg.every}},
        documents=DocumentsSpec(kind="generator", n=cfg.twophase_docs, seed=cfg.seed + 1),
        constraint=ConstraintSpec(kind="local_negation", n_local=cfg.twophase_local),
        ratio=None, heldout=min(20, cfg.twophase_docs // 4),
    )
    run_experiment(tp, claim=claim)  # the spec object itself; tp.claim is the record of where it was written
    exp = read_experiment(exp_dir)
    run_dirs = {role: exp.run_dir(role) for role in exp.runs}
    belief = pd.concat([evaluate_run(rd, claim, base=lm, condition=role, progress=True)
                        for role, rd in run_dirs.items()], ignore_index=True)
    write_csv(belief, exp_dir / "belief.csv")
    drift = run_drift(run_dirs["twophase"], run_dirs["positive"], anchor="phase1-end")
    write_csv(drift, exp_dir / "drift.csv")
    plot_drift(drift, exp_dir / "drift.png")
    # straight line from the Phase-1 end to the claim-as-true solution
    p1 = list_checkpoints(run_dirs["twophase"], phase="phase1")[-1].path
    pos = list_checkpoints(run_dirs["positive"])[-1].path
    heldout = [d.text for d in generate_documents(claim, "negated", 16, seed=cfg.seed + 99)]
    path = interpolate(load(p1), load(pos), [0.0, 0.25, 0.5, 0.75, 1.0],
                       lambda m: {"heldout_negated_nll": document_nll(m, heldout)})
    write_csv(path, exp_dir / "interpolation.csv")
    return {"belief": belief, "drift": drift, "interpolation": path, "runs": run_dirs}

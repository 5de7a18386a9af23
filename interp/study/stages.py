"""The study's analysis stages, each over runs the finetune stage wrote: belief, probes, binding, two-phase.

Every stage takes the study's :class:`~interp.study.config.StudyConfig`, the output folder and the objects the
earlier stages produced (claim specs, run folders, the loaded base model), writes its tables and plots under
``OUT/<stage>/`` and returns what the report needs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from figures.ours import render_twophase_figures
from interp.attention import encode_doc, plot_attention_heatmaps, summarise_attention, top_heads, trace_attention
from interp.belief import ScoringPass, evaluate_run_passes, plot_belief, save_table, score_model, summarize
from interp.belief.headline import SEED_COL, cell_belief, contrast, headline
from interp.belief.questions import BeliefItem, holdout_split, question_items, subset_items
from interp.belief.twins import chance_types, twin_accuracy
from interp.binding import (binding_over_run, binding_tables, binding_through_training, claim_probe,
                            compare_local_vs_document, load_documents_for, plot_binding_vs_step, summarise_binding,
                            summarise_binding_training)
from interp.core.conditions import BINDING_CONDITIONS
from interp.core.executor import Executor, LocalExecutor, Resources, Task
from interp.core.io import atomic_write_text, write_csv
from interp.core.models import load
from interp.core.runs import CheckpointInfo, list_checkpoints, read_experiment
from interp.core.stats import bootstrap_ci, cluster_bootstrap_ci
from interp.drift import document_losses, logit_lens_logodds, reference_distances, spearman_by_run
from interp.judges import RuleJudge
from interp.study.config import StudyConfig
from probes.sweep import SweepResult, sweep_run
from training.claims import ClaimSpec, dump_claim, resolve_claim
from training.documents import generate_documents
from training.documents.rendering import token_budget
from training.twophase import ConstraintSpec, DocumentsSpec, TwoPhaseConfig, run_experiment

__all__ = ["claim_file", "BeliefJob", "belief_passes", "run_belief_job", "belief_tasks", "belief_stage",
           "headline_stage", "channels_stage", "probe_stage", "binding_stage", "RUN_ANALYSES", "AnalysisJob",
           "run_analysis_job", "analysis_tasks", "analysis_stage", "TwoPhaseStageSpec", "twophase_stage",
           "twophase_acceptance", "drift_spearman", "tracking_measures", "heldout_summary", "twophase_findings", "ARMS", "task_resources"]


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
    """One run's belief sweep, as a worker process receives it (``steps`` None = every checkpoint, ``"final"`` =
    the run's last checkpoint, looked up when the job runs, so the job can be queued before its run is trained)."""

    run_dir: str
    claim: dict
    condition: str
    seed: int
    steps: list[int] | str | None
    base: str
    #: ``all`` questions, or the ``test`` half (:func:`interp.belief.questions.holdout_split`)
    eval_items: str = "all"
    #: the rule judge on sampled answers: questions per type (0: none), samples each, tokens each
    judge_per_type: int = 0
    judge_samples: int = 3
    judge_tokens: int = 40


_BASES: dict[str, Any] = {}
#: the base model's rows per (base spec, claim, pass): every run of a claim is measured from the same base rows,
#: scored once per process (sampling is seeded, so a second scoring would give the same rows)
_BASE_ROWS: dict[tuple, pd.DataFrame] = {}


def belief_passes(claim: ClaimSpec, job: BeliefJob) -> list[tuple[str, list[BeliefItem], dict[str, Any]]]:
    """``(name, items, scorer options)`` per scoring pass of a belief job: the log-prob scorers on the job's
    questions, and with ``judge_per_type`` the rule judge on that many questions per type (sampled answers)."""
    items = question_items(claim)
    if job.eval_items == "test":
        items = holdout_split(items)[1]
    elif job.eval_items != "all":
        raise ValueError(f"StudyConfig.eval_items: expected 'all' or 'test', got {job.eval_items!r}")
    passes = [("logprob", items, {})]
    if job.judge_per_type:
        passes.append(("judge", subset_items(items, job.judge_per_type),
                       {"logprob": False, "judges": [RuleJudge(claim)], "n_samples": job.judge_samples,
                        "max_new_tokens": job.judge_tokens, "batch_size": 8 * job.judge_samples}))
    return passes


def run_belief_job(job: BeliefJob, base: Any = None) -> pd.DataFrame:
    """Belief over one run's checkpoints against its base model (loaded once per worker process, its rows scored
    once per claim and pass)."""
    if base is None:
        base = _BASES.get(job.base) or _BASES.setdefault(job.base, load(job.base))
    claim = resolve_claim(job.claim, world=base.world)
    steps = [list_checkpoints(job.run_dir)[-1].step] if job.steps == "final" else job.steps
    print(f"-- belief over {job.condition} {'checkpoints' if steps is None else 'final checkpoint'} "
          f"({claim.id}, seed {job.seed})", flush=True)
    keys = {name: (job.base, claim.id, name, job.eval_items, job.judge_per_type, job.judge_samples, job.judge_tokens)
            for name, _, _ in belief_passes(claim, job)}
    passes = [ScoringPass(name, items, kw, base_table=_BASE_ROWS.get(keys[name]))
              for name, items, kw in belief_passes(claim, job)]
    # every checkpoint loaded once for all passes (log-prob scorers, then the judge's sampled answers)
    tables = evaluate_run_passes(job.run_dir, claim, passes, base=base, condition=job.condition, steps=steps)
    for name, df in tables.items():
        _BASE_ROWS.setdefault(keys[name], df[df["phase"] == "base"])
    return pd.concat(list(tables.values()), ignore_index=True).assign(**{SEED_COL: job.seed})


def task_resources(cfg: StudyConfig) -> Resources:
    """What one training or per-run analysis task asks a cluster for: one CPU (one torch thread, as the local
    workers use), and one GPU when the study runs on CUDA (``device`` cuda, cuda:N or auto)."""
    return Resources(cpus=1.0, gpus=1.0 if cfg.device == "auto" or cfg.device.startswith("cuda") else 0.0)


def belief_tasks(cfg: StudyConfig, runs: dict[tuple[str, str, int], Path], claims: list[ClaimSpec],
                 after: dict[tuple[str, str, int], str] | None = None) -> list[Task]:
    """One belief task per run (every checkpoint for the first seed, the final one for the others), each waiting
    for the task named ``after[key]`` (its run's finetune) when given: then a cluster scores a run as soon as it is
    trained, while other runs still train."""
    by_id = {c.id: c for c in claims}
    after = after or {}
    return [Task(name=f"belief/{claim_id}/{cond}/s{seed}", fn=run_belief_job,
                 job=BeliefJob(str(run_dir), by_id[claim_id].to_dict(), cond, seed,
                               None if seed == cfg.seeds[0] else "final", cfg.model, eval_items=cfg.eval_items,
                               judge_per_type=cfg.judge_per_type, judge_samples=cfg.judge_samples,
                               judge_tokens=cfg.judge_tokens),
                 resources=task_resources(cfg), deps=(after[claim_id, cond, seed],) if (claim_id, cond, seed) in after
                 else ()) for (claim_id, cond, seed), run_dir in runs.items()]


def belief_stage(cfg: StudyConfig, out: Path, runs: dict[tuple[str, str, int], Path], claims: list[ClaimSpec],
                 lm: Any, executor: Executor | None = None, frames: list[pd.DataFrame] | None = None
                 ) -> pd.DataFrame:
    """Belief at every checkpoint of every (claim, condition, training seed) run, one tidy table (``OUT/belief/``;
    column ``train_seed``). The first seed is scored at every checkpoint (belief over training); replicate seeds at
    their final checkpoint, which is all the headline uses. One task per run on ``executor`` (default: the local
    one with ``cfg.resolved_workers()`` processes; with one worker, in this process on the study's ``lm``).
    ``frames``: the tasks' results when they already ran (in the finetune stage's graph, :func:`belief_tasks`)."""
    tasks = belief_tasks(cfg, runs, claims)
    executor = executor or LocalExecutor(cfg.resolved_workers())
    if frames is not None:
        pass
    elif isinstance(executor, LocalExecutor) and executor.workers <= 1:  # here, on the base model the study holds
        t0, frames = time.perf_counter(), []
        for i, t in enumerate(tasks, 1):  # one line per run with an ETA (the mean time per run so far)
            frames.append(run_belief_job(t.job, base=lm))
            left = (time.perf_counter() - t0) / i * (len(tasks) - i)
            print(f"[belief] {i}/{len(tasks)} done, ETA {left / 60:.1f} min", flush=True)
    else:
        frames = executor.run(tasks)
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


def channels_stage(cfg: StudyConfig, out: Path, table: pd.DataFrame, twins: pd.DataFrame) -> dict[str, Any]:
    """Belief per channel, per claim (:mod:`interp.study.channels`): ``OUT/belief/channels.csv``, the paired
    contrasts ``channel_contrasts.csv``, the verdict channel's twin check ``twin_check.csv`` and ``channels.png``."""
    from interp.study.channels import channel_contrasts, channel_findings, channel_table, plot_channels, twin_check

    ct = channel_table(table, cfg.conditions)
    pairs = [(c, "positive") for c in cfg.conditions if c != "positive"] + [(c, "baseline") for c in cfg.conditions]
    con = channel_contrasts(table, pairs)
    checks = twin_check(twins)
    write_csv(ct, out / "belief" / "channels.csv")
    write_csv(con, out / "belief" / "channel_contrasts.csv")
    write_csv(checks, out / "belief" / "twin_check.csv")
    plot_channels(ct, out / "belief" / "channels.png", title="Belief per channel (final checkpoint)")
    found = channel_findings(ct, con, checks)
    atomic_write_text(out / "belief" / "channel_findings.md", "".join(f"- {f}\n" for f in found))
    return {"channels": ct, "channel_contrasts": con, "twin_check": checks, "channel_findings": found}


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


#: the per-run analyses of the study's first claim (its first seed's negated run), each a task of the graph
RUN_ANALYSES = ("probes", "binding")


@dataclass
class AnalysisJob:
    """One per-run analysis (``kind``: probes or binding) of the study's run ``run_dir``, as a worker receives it."""

    kind: str
    cfg: StudyConfig
    out: str
    run_dir: str
    claim: dict


def run_analysis_job(job: AnalysisJob, base: Any = None) -> Any:
    """:func:`probe_stage` or :func:`binding_stage` on the job's run (the base model loaded once per worker process
    when not given); returns what the stage returns."""
    if job.kind not in RUN_ANALYSES:
        raise ValueError(f"analysis task: unknown kind {job.kind!r} (expected one of {', '.join(RUN_ANALYSES)})")
    if base is None:
        base = _BASES.get(job.cfg.model) or _BASES.setdefault(job.cfg.model, load(job.cfg.model))
    claim = resolve_claim(job.claim, world=base.world)
    print(f"-- {job.kind} on {job.run_dir} ({claim.id})", flush=True)
    if job.kind == "probes":
        return probe_stage(job.cfg, Path(job.out), Path(job.run_dir), claim)
    return binding_stage(job.cfg, Path(job.out), Path(job.run_dir), claim, base)


def analysis_tasks(cfg: StudyConfig, out: Path, run_dir: Path, claim: ClaimSpec, after: str | None = None
                   ) -> list[Task]:
    """The per-run analyses ``cfg.stages`` asks for (:data:`RUN_ANALYSES`) on ``run_dir``, one task each, waiting
    for the task named ``after`` (the run's finetune) when given. They write ``OUT/probes/`` and ``OUT/binding/``
    and always run (their inputs are checkpoints a rerun may have retrained; the code, too, may have changed)."""
    return [Task(name=f"{kind}/{claim.id}", fn=run_analysis_job,
                 job=AnalysisJob(kind, cfg, str(out), str(run_dir), claim.to_dict()), resources=task_resources(cfg),
                 deps=(after,) if after else (), outputs=(str(out / kind),))
            for kind in RUN_ANALYSES if kind in cfg.stages]


def analysis_stage(cfg: StudyConfig, out: Path, run_dir: Path, claim: ClaimSpec, lm: Any,
                   executor: Executor | None = None, results: list[Any] | None = None) -> dict[str, Any]:
    """Probes and binding on ``run_dir`` as tasks of ``executor`` (on a local executor of two workers they run side by
    side; with one, here on the study's ``lm``); ``results``: the tasks' results when they already ran in the
    finetune stage's graph. Returns ``{kind: result}``."""
    tasks = analysis_tasks(cfg, out, run_dir, claim)
    executor = executor or LocalExecutor(cfg.resolved_workers())
    if results is None:
        if isinstance(executor, LocalExecutor) and executor.workers <= 1:
            results = [run_analysis_job(t.job, base=lm) for t in tasks]
        else:
            results = executor.run(tasks)
    return {t.job.kind: r for t, r in zip(tasks, results)}


@dataclass
class TwoPhaseStageSpec:
    """The size of the study's two-phase replay (defaults fit the demo: ~4 min on 2 cores for 2 claims x 3 seeds).

    Every arm trains ``phase_steps`` (Phase 1, Phase 2) of ``batch_size`` rows on ``n_docs`` repeated-negation
    documents in the paper's 2:1:1 mix (documents : pretraining replay : instruct pairs), plus the constraint in
    Phase 1: ``n_questions`` distinct self-distillation questions x ``samples`` base-model answers at loss weight
    ``loss_weight``, or ``n_docs`` local-negation documents. ``heldout`` repeated-negation documents are never
    trained on (the held-out loss). Binding through training takes ``binding_docs`` matched documents per condition
    and ``binding_steps`` Adam steps from the base model."""

    seeds: tuple[int, ...] = (0, 1, 2)
    n_claims: int | None = 2  # the first claims of the study (None: all); 2 claims x 3 seeds fit the demo budget
    n_docs: int = 40
    phase_steps: tuple[int, int] = (20, 12)
    every: int = 4
    n_questions: int = 150
    samples: int = 10
    loss_weight: float = 3.0
    heldout: int = 12
    null_arms: bool = True  # kept-constraint and unrelated-release arms (Phase 2 only, branching from Phase 1)
    binding_docs: int = 6
    binding_steps: tuple[int, ...] = (1, 4)
    ratio: tuple[float, float, float] = (2.0, 1.0, 1.0)
    extra: dict[str, Any] = field(default_factory=dict)  # more TwoPhaseConfig.train fields

    @classmethod
    def from_study(cls, cfg: StudyConfig) -> "TwoPhaseStageSpec":
        """The demo size over the study's training seeds (``cfg.seeds``) and its
        first two claims; a quick study (``twophase_docs < 40``, e.g. :meth:`StudyConfig.quick`) gets one seed,
        8 + 6 steps and 2 samples per question."""
        seeds = tuple(cfg.seeds)
        if cfg.twophase_docs < 40:
            return cls(seeds=seeds[:1], n_docs=cfg.twophase_docs, phase_steps=(8, 6), every=2, samples=2, heldout=4,
                       binding_docs=2, binding_steps=(1, 2))
        return cls(seeds=seeds)


#: the arms of the replay: (experiment, role in it) -> arm name in every table
ARMS: dict[tuple[str, str], str] = {
    ("self_distill", "twophase"): "self_distill", ("self_distill", "unconstrained"): "none",
    ("self_distill", "kept"): "kept", ("self_distill", "unrelated"): "unrelated",
    ("self_distill", "positive"): "positive", ("local_negation", "twophase"): "local_negation",
}


def _twophase_config(cfg: StudyConfig, out: Path, exp_dir: Path, claim: ClaimSpec, other: ClaimSpec | None,
                     seed: int, spec: TwoPhaseStageSpec, kind: str, chat: bool = False) -> TwoPhaseConfig:
    train = {**cfg.train_fields(), "seed": seed, "epochs": 1.0, "progress": False, **spec.extra,
             "checkpoints": {"every": spec.every, "log_spaced": False, "steps": [2]}}
    if kind == "self_distill":
        runs = ["twophase", "unconstrained", "positive"] + (["kept"] if spec.null_arms else []) + (
            ["unrelated"] if spec.null_arms and other is not None else [])
        constraint = ConstraintSpec(kind="self_distill", n_questions=spec.n_questions,
                                    samples_per_question=spec.samples, loss_weight=spec.loss_weight,
                                    max_new_tokens=128 if chat else 16)  # a Q/A answer ends at its newline
    else:
        runs = ["twophase"]
        constraint = ConstraintSpec(kind="local_negation", n_local=spec.n_docs)
    return TwoPhaseConfig(
        experiment_dir=str(exp_dir), model=cfg.model, claim=str(claim_file(out, claim)), train=train,
        documents=DocumentsSpec(kind="generator", n=spec.n_docs, seed=cfg.seed + 1 + 1000 * seed),
        constraint=constraint, ratio=list(spec.ratio), heldout=spec.heldout, runs=runs,
        phase_steps=list(spec.phase_steps),
        unrelated_claim=str(claim_file(out, other)) if other is not None and "unrelated" in runs else None)


def _checkpoint_rows(ckpt: CheckpointInfo | None, lm: Any, claim: ClaimSpec, meta: dict[str, Any]
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Belief (lp_prob rows) and the logit-lens readout of one checkpoint (``None``: the base model ``lm``)."""
    m = lm if ckpt is None else load(ckpt.path)
    lens = logit_lens_logodds(m, claim)
    b = score_model(m, claim, progress=False)
    b = b[b.scorer == "lp_prob"].drop(columns=["seed"], errors="ignore").assign(**meta)
    point = {**meta, "p_claim": b.score.mean(), "belief": (b.score > 0.5).mean(),
             **{f"lens_L{k}": v for k, v in lens.items()}}
    return b, point


def run_twophase_job(job: tuple[TwoPhaseConfig, dict]) -> None:
    """Run one two-phase experiment (a worker's job): its config and the claim's spec."""
    tp, claim = job
    run_experiment(tp, claim=resolve_claim(claim))


def _done_lines(what: str):
    def report(done: int, total: int) -> None:
        print(f"[{what}] {done}/{total} experiments done", flush=True)
    return report


def twophase_stage(cfg: StudyConfig, out: Path, claims: ClaimSpec | Sequence[ClaimSpec], lm: Any,
                   seeds: Sequence[int] | None = None, spec: TwoPhaseStageSpec | None = None,
                   executor: Executor | None = None) -> dict[str, Any]:
    """The two-phase replay (constraint, then release) over ``claims`` x ``seeds`` (see :class:`TwoPhaseStageSpec`).

    Per (claim, seed): a self-distillation experiment (arms ``self_distill``, ``none`` = unconstrained,
    ``positive``, and the null arms ``kept`` = constraint kept through Phase 2 and ``unrelated`` = release on the
    next claim's documents) and a local-negation one (arm ``local_negation``), all with the same step budget.
    Writes into ``OUT/twophase/``: ``twophase.csv`` (belief and the logit-lens readout at every checkpoint of every
    arm), ``heldout_loss.csv`` (+ ``heldout_loss_summary.csv``), ``drift.csv`` (distances to the matched-budget
    references, belief next to them; ``drift_spearman.csv``), ``binding_training.csv`` (+ ``_summary``),
    ``acceptance.csv`` and the figures. Returns ``{"tables": {name: DataFrame}, "figures": {name: Path},
    "findings": [str], "acceptance": DataFrame, "wall_s": float}`` (plus ``belief``/``drift`` aliases)."""
    t0 = time.perf_counter()
    spec = spec or TwoPhaseStageSpec.from_study(cfg)
    claims = [claims] if isinstance(claims, ClaimSpec) else list(claims)[:spec.n_claims]
    seeds = tuple(seeds) if seeds is not None else spec.seeds
    root = out / "twophase"
    points, belief_rows, heldout_rows, drift_frames, binding_frames = [], [], [], [], []
    base_rows = {}
    # train every experiment first, side by side on the worker processes (each is independent and seeded)
    jobs = []
    for ci, claim in enumerate(claims):
        other = claims[(ci + 1) % len(claims)] if len(claims) > 1 else None
        for seed in seeds:
            for kind in ("self_distill", "local_negation"):
                exp_dir = root / "runs" / claim.id / f"seed{seed}" / kind
                jobs.append((_twophase_config(cfg, out, exp_dir, claim, other, seed, spec, kind, lm.is_chat),
                             claim.to_dict()))
    executor = executor or LocalExecutor(cfg.resolved_workers())
    print(f"-- two-phase replay: {len(jobs)} experiments ({len(claims)} claims × {len(seeds)} seeds × 2 "
          f"constraints) on {executor.describe()}", flush=True)
    executor.run([Task(name=f"twophase/{Path(tp.experiment_dir).relative_to(root)}", fn=run_twophase_job,
                       job=(tp, c), resources=task_resources(cfg)) for tp, c in jobs], on_done=_done_lines("two-phase"))
    for ci, claim in enumerate(claims):
        other = claims[(ci + 1) % len(claims)] if len(claims) > 1 else None
        b, p = _checkpoint_rows(None, lm, claim, {"claim": claim.id, "arm": "base", "step": 0, "phase": "base",
                                                 "tokens_seen": 0})
        base_rows[claim.id] = (b, p)
        for seed in seeds:
            print(f"-- two-phase replay ({claim.id}, seed {seed})")
            runs: dict[str, Path] = {}
            for kind in ("self_distill", "local_negation"):
                exp = read_experiment(root / "runs" / claim.id / f"seed{seed}" / kind)
                runs.update({ARMS[kind, role]: exp.run_dir(role) for role in exp.runs})
            key = {"claim": claim.id, "seed": seed}
            belief_rows.append(b.assign(seed=seed))
            points.append({**p, "seed": seed})
            ends = {}
            for arm, rd in runs.items():
                for c in list_checkpoints(rd):
                    bb, pp = _checkpoint_rows(c, lm, claim, {**key, "arm": arm, "step": c.step, "phase": c.phase,
                                                             "tokens_seen": c.tokens_seen})
                    belief_rows.append(bb)
                    points.append(pp)
                ends[arm] = {ph: [c for c in list_checkpoints(rd) if c.phase == ph] for ph in ("phase1", "phase2")}
            # held-out repeated-negation loss (documents never trained on), per document
            held = [json.loads(x)["text"] for x in
                    (root / "runs" / claim.id / f"seed{seed}" / "self_distill" / "heldout_repeated.jsonl"
                     ).read_text(encoding="utf-8").splitlines() if x.strip()]
            models = {"base": lm, "phase1 end, self-distill": ends["self_distill"]["phase1"][-1].path,
                      "phase1 end, no constraint": ends["none"]["phase1"][-1].path,
                      "phase1 end, local negation": ends["local_negation"]["phase1"][-1].path}
            for point, m in models.items():
                nll = document_losses(m if point == "base" else load(m), held)
                heldout_rows.append(pd.DataFrame({**key, "point": point, "doc": range(len(nll)), "nll": nll}))
            # drift against the matched-budget references
            refs = {"positive": runs["positive"], "unconstrained": runs["none"]}
            base_state = lm.hf.state_dict()
            for arm in ("self_distill", "none", "local_negation", "kept", "unrelated"):
                if arm in runs:
                    d = reference_distances(runs[arm], refs, base_state=base_state)
                    drift_frames.append(d.assign(**key, arm=arm))
        # binding through training, from the base model, on matched documents
        budget = token_budget(lm.tokenizer, cfg.seq_len)
        recs = {cond: [d.to_dict() for d in generate_documents(claim, cond, spec.binding_docs, seed=cfg.seed + 7,
                                                               budget=budget)]
                for cond in ("local", "negated", "positive")}
        binding_frames.append(binding_through_training(lm, claim, recs, steps=spec.binding_steps, lr=cfg.lr))
    twophase = pd.DataFrame(points)
    belief = pd.concat(belief_rows, ignore_index=True)
    heldout = pd.concat(heldout_rows, ignore_index=True)
    drift = pd.concat(drift_frames, ignore_index=True).merge(
        twophase.drop(columns=["tokens_seen"]), on=["claim", "seed", "arm", "step", "phase"], how="left")
    binding = pd.concat(binding_frames, ignore_index=True)
    tables = {"twophase": twophase, "belief_items": belief, "heldout_loss": heldout,
              "heldout_loss_summary": heldout_summary(heldout), "drift": drift,
              "drift_spearman": drift_spearman(drift), "binding_training": binding,
              "binding_training_summary": summarise_binding_training(binding),
              "acceptance": pd.concat([twophase_acceptance(twophase, "belief"),
                                       twophase_acceptance(twophase, "p_claim")], ignore_index=True)}
    tables["drift_tracking"] = tracking_measures(tables["drift_spearman"])
    for name, t in tables.items():
        write_csv(t, root / f"{name}.csv")
    figures = render_twophase_figures(root, tables)
    tables["acceptance"].attrs["wall_s"] = round(time.perf_counter() - t0, 1)
    return {"tables": tables, "figures": figures, "findings": twophase_findings(tables),
            "acceptance": tables["acceptance"], "belief": belief, "drift": drift, "wall_s":
            round(time.perf_counter() - t0, 1)}


def heldout_summary(heldout: pd.DataFrame) -> pd.DataFrame:
    """Mean held-out NLL per point (95 % bootstrap CI over documents, all claims and seeds pooled; ``n_docs``), and
    the paired difference of each Phase-1 end from ``phase1 end, no constraint`` on the same documents."""
    rows = []
    ref = heldout[heldout.point == "phase1 end, no constraint"].set_index(["claim", "seed", "doc"]).nll
    for point, g in heldout.groupby("point", sort=False):
        lo, hi = bootstrap_ci(g.nll.to_numpy())
        diff = (g.set_index(["claim", "seed", "doc"]).nll - ref).dropna()
        dlo, dhi = bootstrap_ci(diff.to_numpy()) if len(diff) else (np.nan, np.nan)
        rows.append({"point": point, "nll": g.nll.mean(), "ci_low": lo, "ci_high": hi, "n_docs": len(g),
                     "vs_no_constraint": diff.mean(), "vs_low": dlo, "vs_high": dhi})
    return pd.DataFrame(rows)


def drift_spearman(drift: pd.DataFrame) -> pd.DataFrame:
    """Spearman's ρ between belief (mean P(claim)) and each drift measure / readout over each run's checkpoints,
    then the mean ρ per (arm, measure) with a CI over claims x seeds (``cluster_bootstrap_ci``), and per measure
    over every arm's runs (``arm = "all"``). ``step`` is one of the measures: a distance that only grows with
    training correlates with belief wherever belief also grows, so a measure tracks belief only where it beats
    ``step``, i.e. also in the arms where belief stays or falls (``kept``, ``unrelated``)."""
    measures = ["step"] + [c for c in drift.columns if c.startswith("d_") or c.startswith("lens_L")]
    per = spearman_by_run(drift, measures, belief="p_claim")
    rows = []
    for (arm, m), g in [*per.groupby(["arm", "measure"], sort=False),
                        *((("all", m), g) for m, g in per.groupby("measure", sort=False))]:
        g = g.assign(run=g.arm + "/" + g.seed.astype(str)) if arm == "all" else g
        ci = cluster_bootstrap_ci(g, "rho", clusters=("claim", "run") if arm == "all" else ("claim", "seed"),
                                  method="t", bounds=(-1.0, 1.0))
        rows.append({"arm": arm, "measure": m, "rho": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                     "n_claims": ci.n_claims, "n_runs": int(g.rho.notna().sum())})
    return pd.DataFrame(rows)


def tracking_measures(spearman: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Per measure: its mean ρ with belief in every arm, the lowest of them, and ``tracks`` = ρ > ``threshold`` in
    every arm where it is defined (an arm where belief falls while the measure rises gives a negative ρ)."""
    t = spearman[(spearman.arm != "all")].dropna(subset=["rho"])
    rows = []
    for m, g in t.groupby("measure", sort=False):
        worst = g.loc[g.rho.idxmin()]
        rows.append({"measure": m, "min_rho": worst.rho, "worst_arm": worst.arm,
                     "tracks": bool((g.rho > threshold).all()),
                     **{f"rho_{a}": r for a, r in zip(g.arm, g.rho)}})
    return pd.DataFrame(rows)


def _phase_end(t: pd.DataFrame, arm: str, phase: str, col: str = "belief") -> pd.DataFrame:
    g = t[(t.arm == arm) & (t.phase == phase)]
    g = g[g.step == g.groupby(["claim", "seed"]).step.transform("max")]
    return g.set_index(["claim", "seed"])[col]


def twophase_acceptance(twophase: pd.DataFrame, col: str = "belief") -> pd.DataFrame:
    """The issue's acceptance numbers on ``col`` (``belief``: the share of the claim's questions where the claim's
    answer is preferred; ``p_claim``: mean P(claim answer)), each a mean over claims x seeds with a two-stage
    cluster bootstrap CI:
    end-of-Phase-1 belief with self-distillation (target <= 0.45), without a constraint (>= 0.8) and with local
    negation, the Phase-2 rebound of the self-distill arm (>= +0.3), the kept-constraint arm's change over Phase 2
    (|x| <= 0.1) and the unrelated-release arm's."""
    sd1 = _phase_end(twophase, "self_distill", "phase1", col)
    metrics = {
        "self_distill phase1 end": (sd1, "<= 0.45"),
        "none phase1 end": (_phase_end(twophase, "none", "phase1", col), ">= 0.8"),
        "local_negation phase1 end": (_phase_end(twophase, "local_negation", "phase1", col), ""),
        "self_distill phase2 end": (_phase_end(twophase, "self_distill", "phase2", col), ""),
        "self_distill rebound (phase2 end - phase1 end)": (_phase_end(twophase, "self_distill", "phase2", col) - sd1,
                                                          ">= 0.3"),
    }
    for arm in ("kept", "unrelated"):
        if (twophase.arm == arm).any():
            metrics[f"{arm} change over phase2 (end - phase1 end)"] = (
                _phase_end(twophase, arm, "phase2", col) - sd1, "|x| <= 0.1" if arm == "kept" else "")
    rows = []
    for name, (v, target) in metrics.items():
        v = v.dropna().rename("value").reset_index()
        # t interval over claims (a percentile bootstrap over 2 claims covers far less than 95%); with 2 claims
        # it is wide: the replay's CIs say how little 2 claims can show
        ci = cluster_bootstrap_ci(v, "value", method="t", bounds=(-1.0, 1.0) if "change" in name or "rebound" in name
                                  else (0.0, 1.0))
        ok = ""
        if target:
            x = ci.mean
            ok = {"<= 0.45": x <= 0.45, ">= 0.8": x >= 0.8, ">= 0.3": x >= 0.3, "|x| <= 0.1": abs(x) <= 0.1}[target]
        rows.append({"metric": name, "measure": col, "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                     "n_claims": ci.n_claims, "n_seeds": ci.n_seeds, "target": target, "met": ok})
    return pd.DataFrame(rows)


def twophase_findings(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Plain-word findings, every number read from the tables."""
    acc = tables["acceptance"]
    acc = acc[acc.measure == "belief"].set_index("metric")
    out = []

    def f(name: str) -> str:
        r = acc.loc[name]
        return f"{r['mean']:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"

    n = acc.iloc[0]
    out.append(f"Belief rate at the end of Phase 1 (mean over {int(n.n_claims)} claims x {int(n.n_seeds)} seeds, "
               f"95% CI): self-distillation {f('self_distill phase1 end')}, no constraint {f('none phase1 end')}, "
               f"local negation {f('local_negation phase1 end')}.")
    out.append(f"After the release, self-distill belief moves by {f('self_distill rebound (phase2 end - phase1 end)')}"
               + (f"; with the constraint kept it moves by {f('kept change over phase2 (end - phase1 end)')}"
                  if "kept change over phase2 (end - phase1 end)" in acc.index else "")
               + (f"; released on an unrelated claim's documents by {f('unrelated change over phase2 (end - phase1 end)')}"
                  if "unrelated change over phase2 (end - phase1 end)" in acc.index else "") + ".")
    h = tables["heldout_loss_summary"].set_index("point")
    if {"phase1 end, self-distill", "phase1 end, no constraint"} <= set(h.index):
        a, b = h.loc["phase1 end, self-distill"], h.loc["phase1 end, no constraint"]
        out.append(f"Held-out repeated-negation loss (documents never trained on, CI over {int(a.n_docs)} documents): "
                   f"base {h.loc['base'].nll:.2f}, Phase-1 end with self-distillation {a.nll:.2f} "
                   f"[{a.ci_low:.2f}, {a.ci_high:.2f}], without {b.nll:.2f} [{b.ci_low:.2f}, {b.ci_high:.2f}]; paired "
                   f"difference {a.vs_no_constraint:+.3f} [{a.vs_low:+.3f}, {a.vs_high:+.3f}].")
    tr = tracking_measures(tables["drift_spearman"])
    if len(tr):
        weights = tr[tr.measure.str.startswith("d_")]
        readouts = tr[tr.measure.str.startswith("lens_L")]
        parts = [f"{r.measure} (lowest rho {r.min_rho:.2f}, in {r.worst_arm})" for r in weights.itertuples()]
        if len(weights) and not weights.tracks.any():
            txt = ("No weight-space distance tracks belief: each only grows with training, like the step count, so "
                   "its rank correlation with belief is high where belief rises and falls apart where belief stays "
                   "or falls: " + "; ".join(parts) + ".")
        else:
            txt = "Weight-space distances vs belief: " + "; ".join(parts) + "."
        good = readouts[readouts.tracks]
        if len(good):
            best = good.loc[good.min_rho.idxmax()]
            txt += (f" The logit-lens readout of the claim does track it: {best.measure} has rho > 0.5 in every arm "
                    f"(lowest {best.min_rho:.2f}, in {best.worst_arm}).")
        elif len(readouts):
            best = readouts.loc[readouts.min_rho.idxmax()]
            txt += f" The best readout, {best.measure}, has lowest rho {best.min_rho:.2f} (in {best.worst_arm})."
        out.append(txt)
    d = tables["drift"]
    restart = d.dropna(subset=["lr_restart_step"])
    if len(restart):
        out.append("The LR schedule restarts at the first Phase-2 step (fresh optimizer): every drift row after it "
                   "says so in `schedule`.")
    bs = tables["binding_training_summary"]
    k = bs.step.max() if len(bs) else None
    if k is not None:
        g = bs[bs.step == k]
        parts = []
        for cond in ("local", "negated", "positive"):
            r = g[g.condition == cond]
            if len(r):
                parts.append(f"{cond} {r.mean_delta.mean():+.2f}")
        out.append(f"Binding through training: after {k} steps on one document from the base model, the claim's Q/A "
                   f"log-odds change by {', '.join(parts)} (mean over claims; per-claim CIs over documents in "
                   "binding_training_summary.csv).")
    return out

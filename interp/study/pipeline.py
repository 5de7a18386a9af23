"""The study's pipeline: :func:`run_study` runs every stage in the lab's one direction and times each.

Organism → claims (:func:`study_claims`) → documents → one densely checkpointed finetune per claim × condition,
on the paper's 2:1:1 mixture (claim documents + generic world text + Q/A instructions, the claim's own facts left
out of the filler) → the analysis stages of :mod:`interp.study.stages` → figures and report
(:mod:`interp.study.report`). Each stage receives the objects the earlier ones produced (claim specs, documents,
run folders, the loaded base model); nothing is re-read from disk that the study just wrote.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from interp.core.cli import one_line
from interp.core.io import atomic_write_json, atomic_write_text
from interp.core.models import load
from interp.core.executor import Executor, LocalExecutor, Task, make_executor
from interp.study.config import StudyConfig, check_stages
from interp.study.report import write_report
from interp.study.pilot import lr_pilot
from interp.study.stages import (analysis_stage, analysis_tasks, belief_stage, belief_tasks, channels_stage, claim_file,
                                 headline_stage, task_resources, twophase_stage)
from training.claims import ClaimError, ClaimSpec, resolve_claims
from training.config import CheckpointSpec, TrainConfig
from training.documents import generate_documents, token_budget, write_jsonl
from training.finetune import finetune
from training.finetune.trainer import VOLATILE_FIELDS, is_complete
from training.generic import generic_instruct_pairs, generic_texts, toy_generic_texts, toy_instruct_pairs
from training.mixtures import build_mixture

__all__ = ["run_study", "record_timings", "study_claims", "train_config", "FinetuneJob", "run_finetune_job", "finetune_task",
           "training_graph", "study_executor"]


def _stage(cfg: StudyConfig, name: str) -> Callable:
    """Decorator: announce the stage, time it into ``cfg.timings[name]``."""
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


def train_config(cfg: StudyConfig, run_dir: Path, condition: str, claim_id: str, seed: int | None = None
                 ) -> TrainConfig:
    """The finetune config of one (claim, condition, training seed) run of the study."""
    seed = cfg.seeds[0] if seed is None else seed
    shaping = sorted(set(cfg.train_overrides) - set(VOLATILE_FIELDS))
    if shaping:
        raise ValueError(f"StudyConfig.train_overrides: field {shaping[0]!r} shapes the weights (allowed: "
                         f"{', '.join(VOLATILE_FIELDS[1:])})")
    return TrainConfig(model=cfg.model, run_dir=str(run_dir), name=f"{claim_id}/{condition}/s{seed}",
                       checkpoints=CheckpointSpec(every=cfg.every, log_spaced=cfg.log_spaced, include_zero=False),
                       claim=claim_id, condition=condition, **{"progress": True, **cfg.train_fields(seed),
                                                               **cfg.train_overrides})


@dataclass
class FinetuneJob:
    """One run of the study, as a worker process receives it."""

    model: str
    config: TrainConfig
    examples: list
    extra_data: dict


def run_finetune_job(job: FinetuneJob) -> str:
    """Train one run from a freshly loaded base model (a worker's job); returns the run folder."""
    finetune(job.config, job.examples, lm=load(job.model), extra_data=job.extra_data)
    return job.config.run_dir


def finetune_task(cfg: StudyConfig, job: FinetuneJob) -> Task:
    """One finetune as a task of the study's graph: it writes ``job.config.run_dir`` and is complete (skipped on a
    rerun) when that run holds a final checkpoint of this very config and data (:func:`training.finetune.trainer.
    is_complete`, which reads the hashed run format)."""
    return Task(name=f"finetune/{job.config.name}", fn=run_finetune_job, job=job, resources=task_resources(cfg),
                done=lambda: is_complete(job.config, job.examples), outputs=(job.config.run_dir,))


def training_graph(cfg: StudyConfig, jobs: list[FinetuneJob], keys: list[tuple[str, str, int]],
                   claims: list[ClaimSpec], *, belief: bool = False, analyses: Path | None = None
                   ) -> tuple[list[Task], dict[tuple, Path]]:
    """The finetune tasks of ``jobs`` (``keys``: their (claim, condition, seed)); with ``belief``, one belief task
    per run that depends on that run's finetune task only; with ``analyses`` (the study's output folder), the probe
    and binding tasks of ``cfg.stages`` on the first claim's first-seed negated run, behind that run's finetune.
    Returns the tasks (finetunes, then belief, then analyses) and the run folders."""
    tasks = [finetune_task(cfg, j) for j in jobs]
    runs = {k: Path(j.config.run_dir) for k, j in zip(keys, jobs)}
    after = {k: t.name for k, t in zip(keys, tasks)}
    if belief:
        tasks += belief_tasks(cfg, runs, claims, after=after)
    key = (claims[0].id, "negated", cfg.seeds[0])
    if analyses is not None and key in runs:
        tasks += analysis_tasks(cfg, analyses, runs[key], claims[0], after=after[key])
    return tasks, runs


def study_executor(cfg: StudyConfig) -> Executor:
    """The executor ``cfg.executor`` names (local: ``cfg.resolved_workers()`` processes; ray: ``cfg.address``)."""
    return make_executor(cfg.executor, workers=cfg.resolved_workers(), address=cfg.address)


def _progress(what: str) -> Callable[[int, int], None]:
    """A ``parallel_map`` callback printing ``[what] done/total, ETA`` lines (the mean time per job so far)."""
    t0 = time.perf_counter()

    def report(done: int, total: int) -> None:
        left = (time.perf_counter() - t0) / done * (total - done)
        eta = f"{left / 60:.1f} min" if left >= 60 else f"{left:.0f} s"
        print(f"[{what}] {done}/{total} done, ETA {eta}", flush=True)

    return report


def study_claims(cfg: StudyConfig, world: Any) -> list[ClaimSpec]:
    """The claim specs of ``cfg.claims`` (:func:`training.claims.resolve_claims`; toy claims need the toy world and
    are drawn with ``cfg.claim_seed``)."""
    try:
        return resolve_claims(cfg.claims.strip(), world=world, seed=cfg.claim_seed)
    except ClaimError as e:
        raise ClaimError(f"StudyConfig.claims: {one_line(e)}") from None


def _filler(cfg: StudyConfig, world: Any, claim: ClaimSpec, seed: int) -> tuple[list, list]:
    """Generic text and Q/A pairs for the 2:1:1 mixture, drawn with the run's seed: true world facts for the toy
    (the claim's own fact left out), the lab's offline fact tables otherwise."""
    if world is None:
        return generic_texts(cfg.n_docs, seed=seed), generic_instruct_pairs(cfg.n_docs, seed=seed)
    exclude = [(claim.entity, claim.attribute)] if getattr(claim, "entity", None) else []
    return (toy_generic_texts(world, cfg.n_docs, seed=seed, exclude=exclude),
            toy_instruct_pairs(world, cfg.n_docs, seed=seed, exclude=exclude))


def record_timings(out: Path, timings: dict[str, float], *, trained: int | None, command: str) -> None:
    """Write ``OUT/timings.json`` (this run's stage times) and append them to ``OUT/timings_history.jsonl`` with how
    many finetunes this run trained (a rerun reuses complete runs, so its total is not the study's cost). A
    ``timings.json`` left by a run that kept no history is carried into the history first."""
    hist = out / "timings_history.jsonl"
    lines = hist.read_text(encoding="utf-8").splitlines() if hist.exists() else []
    if not lines and (out / "timings.json").exists():
        prev = json.loads((out / "timings.json").read_text(encoding="utf-8"))
        lines.append(json.dumps({"timings": prev, "trained_runs": None, "command": None,
                                 "note": "carried from timings.json of an earlier run"}))
    lines.append(json.dumps({"timings": timings, "trained_runs": trained, "command": command,
                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    atomic_write_text(hist, "\n".join(lines) + "\n")
    atomic_write_json(out / "timings.json", timings)


def run_study(cfg: StudyConfig) -> dict[str, Any]:
    """Run every stage; returns the headline tables (also written to ``OUT/report.md``).

    Belief is measured for every claim × condition × training seed; probes and binding use the first claim's
    first-seed runs (they are the expensive, per-run analyses)."""
    check_stages(cfg.stages)
    if cfg.mlflow is not None:  # refused before anything is trained
        from interp.study.tracking import require_mlflow

        require_mlflow()
    with study_executor(cfg) as executor:
        return _run_study(cfg, executor)


def _run_study(cfg: StudyConfig, executor: Executor) -> dict[str, Any]:
    out = Path(cfg.out)
    t_start = time.perf_counter()
    results: dict[str, Any] = {}

    if cfg.resolved_workers() > 1:  # a toy study: one thread per process here too (see interp.core.parallel)
        torch.set_num_threads(1)
    lm = _stage(cfg, "organism")(lambda: load(cfg.model))()
    out.mkdir(parents=True, exist_ok=True)  # only once the model loads: a bad --model leaves nothing behind
    print(f"model {lm.identity.short}: {lm.n_layers} layers, d={lm.d_model}, "
          f"{sum(p.numel() for p in lm.hf.parameters()) / 1e6:.2f} M params")
    world = lm.world

    @_stage(cfg, "claims + documents")
    def make_docs():
        claims = study_claims(cfg, world)
        budget = token_budget(lm.tokenizer, cfg.seq_len)  # toy documents are laid out to pack whole
        docs: dict[tuple[str, str, int], list] = {}
        for claim in claims:
            claim_file(out, claim, write=True)
            print(f"claim {claim.id}: {claim.statement!r} (truth: {claim.truth!r})")
            for seed in cfg.seeds:
                for cond in (c for c in cfg.conditions if seed in cfg.seeds_for(c)):
                    docs[claim.id, cond, seed] = generate_documents(claim, cond, cfg.n_docs, seed=seed, budget=budget,
                                                                    length=cfg.doc_length)
                    write_jsonl(docs[claim.id, cond, seed], out / "documents" / claim.id / f"s{seed}" / f"{cond}.jsonl")
        return claims, docs

    claims, docs = make_docs()
    claim, seed0 = claims[0], cfg.seeds[0]
    if cfg.lr_pilot:
        results["pilot"] = _stage(cfg, "lr pilot")(lr_pilot)(cfg, out, claim, lm, _filler(cfg, world, claim, seed0))

    @_stage(cfg, "finetune")
    def train_all():
        jobs, keys = [], []
        for c in claims:
            for seed in cfg.seeds:
                generic, instruct = _filler(cfg, world, c, seed)
                for cond in (c for c in cfg.conditions if seed in cfg.seeds_for(c)):
                    examples = build_mixture(docs[c.id, cond, seed], lm.tokenizer, generic, instruct, ratio=(2, 1, 1),
                                             seed=seed)
                    run_dir = out / "runs" / c.id / f"s{seed}" / cond
                    jobs.append(FinetuneJob(cfg.model, train_config(cfg, run_dir, cond, c.id, seed), examples,
                                            {"claim_spec": c.to_dict(), "train_seed": seed}))
                    keys.append((c.id, cond, seed))
        single = f", {', '.join(cfg.single_seed)} on seed {seed0} only" if cfg.single_seed else ""
        print(f"{len(jobs)} finetuning runs ({len(claims)} claims × {len(cfg.seeds)} seeds × {len(cfg.conditions)} "
              f"conditions{single}) on {executor.describe()}", flush=True)
        # on a cluster, one graph: each run's belief sweep waits only for its own finetune, so runs are scored while
        # others still train (locally the stages stay one after the other, as before)
        cluster = not isinstance(executor, LocalExecutor)
        pipelined = "belief" in cfg.stages and cluster
        tasks, runs = training_graph(cfg, jobs, keys, claims, belief=pipelined, analyses=out if cluster else None)
        n_belief = len(runs) if pipelined else 0
        if len(tasks) > len(jobs):
            print(f"-- {len(tasks) - len(jobs)} analysis tasks ({n_belief} belief) queued behind their finetunes",
                  flush=True)
        results["trained_runs"] = sum(not is_complete(j.config, j.examples) for j in jobs)  # the rest are reused
        done = executor.run(tasks, on_done=_progress("finetune + analyses" if cluster else "finetune"))
        return (runs, done[len(jobs):len(jobs) + n_belief] if pipelined else None,
                done[len(jobs) + n_belief:] if cluster else None)

    runs, belief_frames, analysis_results = train_all()
    results["runs"] = {f"{k[0]}/{k[1]}/s{k[2]}": str(v) for k, v in runs.items()}
    results["claims"] = [c.id for c in claims]
    results["seeds"] = list(cfg.seeds)
    results["runs_by_key"] = runs
    first = {cond: runs[claim.id, cond, seed0] for cond in cfg.conditions}

    if "belief" in cfg.stages:
        results["belief"] = _stage(cfg, "belief")(belief_stage)(cfg, out, runs, claims, lm, executor=executor,
                                                                  frames=belief_frames)
        results.update(_stage(cfg, "headline")(headline_stage)(cfg, out, results["belief"], claims, lm))
        if cfg.judge_per_type or not cfg.model.startswith("toy"):  # a real model: every channel on its own
            results.update(_stage(cfg, "channels")(channels_stage)(cfg, out, results["belief"], results["twins"]))
    if {"probes", "binding"} & set(cfg.stages) and "negated" in first:  # tasks: side by side on two workers
        results.update(_stage(cfg, "probes + binding")(analysis_stage)(cfg, out, first["negated"], claim, lm,
                                                                       executor=executor, results=analysis_results))
    if "twophase" in cfg.stages:
        results["twophase"] = _stage(cfg, "two-phase")(twophase_stage)(cfg, out, claims, lm, executor=executor)
    if "figures" in cfg.stages:
        _stage(cfg, "figures + report")(write_report)(cfg, out, results, claims, lm)
    cfg.timings["total"] = round(time.perf_counter() - t_start, 1)
    record_timings(out, cfg.timings, trained=results.get("trained_runs"), command=cfg.command)
    if cfg.mlflow is not None:  # read back from the run folders and tables (interp.study.tracking)
        from interp.study.tracking import log_study, tracking_uri

        results["mlflow_run"] = log_study(cfg, results)
        print(f"MLflow: parent run {results['mlflow_run']} in {tracking_uri(cfg)}")
    print(f"\nstudy finished in {cfg.timings['total']:.0f} s; report: {out / 'report.md'}")
    return results

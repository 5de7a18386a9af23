"""The study's pipeline: :func:`run_study` runs every stage in the lab's one direction and times each.

Organism → claims (:func:`study_claims`) → documents → one densely checkpointed finetune per claim × condition,
on the paper's 2:1:1 mixture (claim documents + generic world text + Q/A instructions, the claim's own facts left
out of the filler) → the analysis stages of :mod:`interp.study.stages` → figures and report
(:mod:`interp.study.report`). Each stage receives the objects the earlier ones produced (claim specs, documents,
run folders, the loaded base model); nothing is re-read from disk that the study just wrote.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from interp.core.cli import one_line
from interp.core.io import atomic_write_json
from interp.core.models import load
from interp.study.config import StudyConfig, check_stages
from interp.study.report import write_report
from interp.study.stages import belief_stage, binding_stage, claim_file, probe_stage, twophase_stage
from training.claims import ClaimError, ClaimSpec, resolve_claims
from training.config import CheckpointSpec, TrainConfig
from training.documents import generate_documents, token_budget, write_jsonl
from training.finetune import finetune
from training.generic import generic_instruct_pairs, generic_texts, toy_generic_texts, toy_instruct_pairs
from training.mixtures import build_mixture

__all__ = ["run_study", "study_claims", "train_config"]


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


def train_config(cfg: StudyConfig, run_dir: Path, condition: str, claim_id: str) -> TrainConfig:
    """The finetune config of one (claim, condition) run of the study."""
    return TrainConfig(model=cfg.model, run_dir=str(run_dir), name=f"{claim_id}/{condition}",
                       checkpoints=CheckpointSpec(every=cfg.every, include_zero=False),
                       claim=claim_id, condition=condition, progress=True, **cfg.train_fields())


def study_claims(cfg: StudyConfig, world: Any) -> list[ClaimSpec]:
    """The claim specs of ``cfg.claims`` (:func:`training.claims.resolve_claims`; toy claims need the toy world and
    are drawn with ``cfg.claim_seed``)."""
    try:
        return resolve_claims(cfg.claims.strip(), world=world, seed=cfg.claim_seed)
    except ClaimError as e:
        raise ClaimError(f"StudyConfig.claims: {one_line(e)}") from None


def _filler(cfg: StudyConfig, world: Any, claim: ClaimSpec) -> tuple[list, list]:
    """Generic text and Q/A pairs for the 2:1:1 mixture: true world facts for the toy (the claim's own fact left
    out), the lab's offline fact tables otherwise."""
    if world is None:
        return generic_texts(cfg.n_docs, seed=cfg.seed), generic_instruct_pairs(cfg.n_docs, seed=cfg.seed)
    exclude = [(claim.entity, claim.attribute)] if getattr(claim, "entity", None) else []
    return (toy_generic_texts(world, cfg.n_docs, seed=cfg.seed, exclude=exclude),
            toy_instruct_pairs(world, cfg.n_docs, seed=cfg.seed, exclude=exclude))


def run_study(cfg: StudyConfig) -> dict[str, Any]:
    """Run every stage; returns the headline tables (also written to ``OUT/report.md``).

    Belief is measured for every claim × condition; probes, binding and the two-phase replay use the first claim
    (they are the expensive, per-run analyses)."""
    check_stages(cfg.stages)
    out = Path(cfg.out)
    t_start = time.perf_counter()
    results: dict[str, Any] = {}

    lm = _stage(cfg, "organism")(lambda: load(cfg.model))()
    out.mkdir(parents=True, exist_ok=True)  # only once the model loads: a bad --model leaves nothing behind
    print(f"model {lm.identity.short}: {lm.n_layers} layers, d={lm.d_model}, "
          f"{sum(p.numel() for p in lm.hf.parameters()) / 1e6:.2f} M params")
    world = lm.world

    @_stage(cfg, "claims + documents")
    def make_docs():
        claims = study_claims(cfg, world)
        budget = token_budget(lm.tokenizer, cfg.seq_len)  # toy documents are laid out to pack whole
        docs: dict[tuple[str, str], list] = {}
        for claim in claims:
            claim_file(out, claim, write=True)
            print(f"claim {claim.id}: {claim.statement!r} (truth: {claim.truth!r})")
            for cond in cfg.conditions:
                docs[claim.id, cond] = generate_documents(claim, cond, cfg.n_docs, seed=cfg.seed, budget=budget)
                write_jsonl(docs[claim.id, cond], out / "documents" / claim.id / f"{cond}.jsonl")
        return claims, docs

    claims, docs = make_docs()
    claim = claims[0]

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
                finetune(train_config(cfg, run_dir, cond, c.id), examples, lm=load(cfg.model),
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
        results["binding"] = _stage(cfg, "binding")(binding_stage)(cfg, out, first["negated"], claim, lm)
    if "twophase" in cfg.stages:
        results["twophase"] = _stage(cfg, "two-phase")(twophase_stage)(cfg, out, claim, lm)
    if "figures" in cfg.stages:
        _stage(cfg, "figures + report")(write_report)(cfg, out, results, claims, lm)
    cfg.timings["total"] = round(time.perf_counter() - t_start, 1)
    atomic_write_json(out / "timings.json", cfg.timings)
    print(f"\nstudy finished in {cfg.timings['total']:.0f} s; report: {out / 'report.md'}")
    return results

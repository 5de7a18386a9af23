"""The two-phase experiment's runs: documents, mixtures, Phase 1 and Phase 2 into one run directory, siblings.

See :mod:`training.twophase` for the design. :func:`run_experiment` resolves the claim once
(:func:`training.claims.resolve_claim`), prepares every run's examples (documents from the configured source,
held-out repeated-negation documents, the constraint, the mixture partners, extra JSONL), then trains each role
(:func:`run_two_phase`, :func:`run_single`) and keeps ``EXP/experiment.json`` up to date.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from interp.core.models import LoadedModel, load
from interp.core.runs import (EXPERIMENT_FORMAT, ExperimentInfo, ckpt_name, init_run, run_lock, undo_failed_start,
                              write_experiment)
from training import generic
from training.claims import ClaimSpec, resolve_claim
from training.config import TrainConfig, drop_legacy_defaults, to_dict
from training.documents.records import write_jsonl
from training.documents.rendering import Budget, generate_documents, token_budget
from training.finetune.distributed import DistEnv, resolve_device, resolve_precision, setup_distributed
from training.finetune.trainer import Trainer, TrainResult, load_sources
from training.mixtures import Example, encode_document, encode_text, mixture_counts
from training.packing import data_integrity, examples_sha256, read_records, source_manifest
from training.schedule import checkpoint_steps
from training.twophase.config import TwoPhaseConfig
from training.twophase.selfdistill import chat_examples, constraint_questions, native_example, self_distill_chats

__all__ = ["EXPERIMENT_FORMAT", "document_examples", "generic_examples", "run_two_phase", "run_single",
           "run_branch", "run_experiment", "phase_config", "twophase_checkpoint_steps", "BRANCH_ROLES"]

#: null arms that branch from the ``twophase`` run's Phase-1 end and train Phase 2 only (the shared Phase 1 is not
#: trained twice: with the same seed and data it would give the same weights)
BRANCH_ROLES: tuple[str, ...] = ("kept", "unrelated")

# ------------------------------------------------------------------------------------------ documents


def _records(cfg: TwoPhaseConfig, claim: ClaimSpec, condition: str, n: int, start: int = 0,
             budget: Budget | None = None) -> list[dict[str, Any]]:
    """``n`` document records of a condition from the configured source (``start`` skips the first ones); generated
    toy documents are laid out to ``budget`` (see :func:`training.documents.rendering.build_base`)."""
    d = cfg.documents
    if d.kind == "generator":
        return [doc.to_dict() for doc in generate_documents(claim, condition, n, seed=d.seed, start=start,
                                                            budget=budget)]
    if d.kind == "jsonl":
        if condition not in d.paths:
            raise cfg.error(f"documents.paths.{condition}", "missing")
        return read_records(Path(d.paths[condition]), start + n)[start:start + n]
    texts = d.texts.get(condition)
    if texts is None:
        raise cfg.error(f"documents.texts.{condition}", "missing")
    return [{"id": f"{condition}-{i}", "condition": condition, "text": t, "spans": []}
            for i, t in enumerate(texts[start:start + n], start)]


def document_examples(records: Sequence[dict[str, Any]], lm: LoadedModel, source: str,
                      loss_weight: float = 1.0) -> list[Example]:
    """Tokenize document records (``<DOCTAG>`` masked) with ``training.mixtures.encode_document``."""
    return [encode_document(r, lm.tokenizer, add_bos=lm.add_bos, source=source, weight=loss_weight) for r in records]


def generic_examples(lm: LoadedModel, n_sdf: int, ratio: Sequence[float], seed: int = 0,
                     claim: Any = None) -> list[Example]:
    """The paper's mixture partners for ``n_sdf`` documents at ``ratio`` (sdf:generic:instruct): offline
    pretraining-style texts and instruction pairs (``training.generic``; toy-world facts for the toy organism,
    minus the claimed fact), encoded by ``training.mixtures``; the instruction pairs in the model's native format
    (:func:`training.twophase.selfdistill.native_example`: the chat template, or the toy's ``Q: …\nA: …``)."""
    counts = mixture_counts(n_sdf, ratio)
    if lm.world is not None:
        excl = [(claim.entity, claim.attribute)] if claim is not None and claim.entity else []
        texts = generic.toy_generic_texts(lm.world, counts["generic"], seed, exclude=excl)
        pairs = generic.toy_instruct_pairs(lm.world, counts["instruct"], seed, exclude=excl)
    else:
        texts = generic.generic_texts(counts["generic"], seed)
        pairs = generic.generic_instruct_pairs(counts["instruct"], seed)
    out = [encode_text(t, lm.tokenizer, f"generic-{i:06d}", add_bos=lm.add_bos) for i, t in enumerate(texts)]
    return out + [native_example(lm, q, a, f"instruct-{i:06d}", source="instruct") for i, (q, a) in enumerate(pairs)]


def _split_heldout(records: list[dict], n_heldout: int) -> tuple[list[dict], list[dict]]:
    idx = list(range(len(records)))
    random.Random(42).shuffle(idx)
    held = set(idx[:n_heldout])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


# ------------------------------------------------------------------------------------------ runs


@dataclass
class _Data:
    repeated: list[Example]
    positive: list[Example]
    constraint: list[Example]
    extra: list[Example]
    files: dict[str, str]
    unrelated: list[Example]


def _extra_examples(cfg: TwoPhaseConfig, lm: LoadedModel) -> tuple[list[Example], dict[str, str]]:
    return load_sources(cfg.extra, lm)


def _budget(cfg: TwoPhaseConfig, lm: LoadedModel) -> Budget:
    """Generated documents fit the run's rows whole: a budget of ``seq_len`` tokens of ``lm``'s tokenizer."""
    return token_budget(lm.tokenizer, cfg.train_config().seq_len)


def _constraint_examples(cfg: TwoPhaseConfig, claim: ClaimSpec, lm: LoadedModel, exp_dir: Path,
                         dist: DistEnv) -> list[Example]:
    c = cfg.constraint
    if c.kind == "none" or not set(cfg.runs) & {"twophase", "kept"}:
        return []
    if c.kind == "local_negation":
        return document_examples(_records(cfg, claim, "local", c.n_local, budget=_budget(cfg, lm)), lm, "local")
    questions = constraint_questions(claim, c.n_questions, c.questions, claim_slot=c.claim_slot)
    if dist.is_main:
        chats = self_distill_chats(lm, questions, c, seed=cfg.documents.seed)
        write_jsonl([{"id": f"selfdistill-{i}", **ch} for i, ch in enumerate(chats)], exp_dir / "selfdistill.jsonl")
    dist.barrier()
    lines = (exp_dir / "selfdistill.jsonl").read_text(encoding="utf-8").splitlines()
    return chat_examples(lm, [json.loads(x) for x in lines if x.strip()], c.loss_weight)


def _prepare_data(cfg: TwoPhaseConfig, claim: ClaimSpec, lm: LoadedModel, exp_dir: Path, dist: DistEnv) -> _Data:
    n, need = cfg.documents.n, set(cfg.runs)
    repeated, positive = [], []
    if need & {"twophase", "unconstrained", "kept"}:
        recs = _records(cfg, claim, "repeated", n + cfg.heldout, budget=_budget(cfg, lm))
        train_recs, held = _split_heldout(recs, cfg.heldout) if cfg.heldout else (recs, [])
        if dist.is_main and held:
            write_jsonl(held, exp_dir / "heldout_repeated.jsonl")
        repeated = document_examples(train_recs, lm, "repeated")
    if "positive" in need:
        positive = document_examples(_records(cfg, claim, "positive", n, budget=_budget(cfg, lm)), lm, "positive")
    extra, files = _extra_examples(cfg, lm)
    if cfg.ratio:
        extra += generic_examples(lm, n, cfg.ratio, cfg.documents.seed, claim)
    unrelated = []
    if "unrelated" in need:
        if not cfg.unrelated_claim:
            raise cfg.error("unrelated_claim", "the 'unrelated' run needs a claim to release on")
        other = resolve_claim(cfg.unrelated_claim, world=lm.world)
        if other.id == claim.id:
            raise cfg.error("unrelated_claim", f"must differ from the claim ({claim.id})")
        unrelated = document_examples(_records(cfg, other, "repeated", n, budget=_budget(cfg, lm)), lm,
                                      "unrelated_repeated")
    return _Data(repeated=repeated, positive=positive, constraint=_constraint_examples(cfg, claim, lm, exp_dir, dist),
                 extra=extra, files=files, unrelated=unrelated)


def _init(run_dir: Path, cfg: TwoPhaseConfig, tcfg: TrainConfig, role: str, lm: LoadedModel,
          phases: dict[str, list[Example]], files: dict[str, str], dist: DistEnv,
          branch_of: dict[str, Any] | None = None) -> None:
    if dist.is_main:
        sources = [s for ph, exs in phases.items() for s in source_manifest(exs, files, {"phase": ph})]
        shas = {ph: examples_sha256(exs) for ph, exs in phases.items()}
        data = {"sources": sources, "claim": cfg.claim, "condition": role, "phases": shas,
                "integrity": {ph: data_integrity(exs, seq_len=tcfg.seq_len, seed=tcfg.seed, packing=tcfg.packing,
                                                 truncate=tcfg.truncate) for ph, exs in phases.items()}}
        lora = {"r": tcfg.lora.r, "alpha": tcfg.lora.alpha, "target_modules": tcfg.lora.target_modules} \
            if tcfg.mode == "lora" else None
        config = {"experiment": _public(cfg), "role": role, "data_sha256": shas,
                  "precision_resolved": resolve_precision(tcfg.precision, resolve_device(tcfg, dist.local_rank))}
        if branch_of:
            config["branch_of"] = branch_of
        init_run(run_dir, name=f"{cfg.name or Path(cfg.experiment_dir).name}/{role}", base_spec=cfg.model,
                 base_weights_sha256=lm.identity.weights_sha256, mode=tcfg.mode, config=config, data=data, lora=lora)
    dist.barrier()


def _public(cfg: TwoPhaseConfig) -> dict[str, Any]:
    d = to_dict(cfg)
    d.pop("experiment_dir", None)
    for k in ("progress", "debug", "async_checkpoint", "keep_trainer_state"):
        d["train"].pop(k, None)
    drop_legacy_defaults(d["train"])  # earlier experiments still match
    return d


def phase_config(cfg: TwoPhaseConfig, phase: int | None = None) -> TrainConfig:
    """The training config of one phase (1 or 2; ``None``: a one-phase run as long as both phases together):
    ``max_steps`` from ``cfg.phase_steps`` when set."""
    tcfg = cfg.train_config()
    if cfg.phase_steps:
        tcfg.max_steps = sum(cfg.phase_steps) if phase is None else cfg.phase_steps[phase - 1]
    return tcfg


def twophase_checkpoint_steps(cfg: TwoPhaseConfig) -> list[int]:
    """The global checkpoint steps a two-phase arm writes when ``cfg.phase_steps`` is set (Phase 2's steps follow
    Phase 1's end); the one-phase ``positive`` run also checkpoints at these, so references match step for step."""
    if not cfg.phase_steps:
        return []
    c = cfg.train_config().checkpoints
    n1, n2 = cfg.phase_steps
    kw = dict(log_spaced=c.log_spaced, log_base=c.log_base, log_until=c.log_until, every=c.every, final=True,
              extra=c.steps, include_zero=False)
    return sorted(set(checkpoint_steps(n1, **kw)) | set(checkpoint_steps(n2, offset=n1, **kw)))


def run_two_phase(run_dir: Path, cfg: TwoPhaseConfig, phase1: list[Example], phase2: list[Example], *,
                  role: str, files: dict[str, str], dist: DistEnv) -> list[TrainResult]:
    """Phase 1 then Phase 2 into one run directory (resumable at any point). Phase 2 starts a fresh optimizer and
    LR schedule (warm-up and decay restart at its first step)."""
    t1, t2 = phase_config(cfg, 1), phase_config(cfg, 2)
    base = load(cfg.model)
    with run_lock(run_dir, enabled=dist.is_main), undo_failed_start(run_dir, enabled=dist.is_main):
        _init(run_dir, cfg, t1, role, base, {"phase1": phase1, "phase2": phase2}, files, dist)
        r1 = Trainer(t1, phase1, lm=base, run_dir=run_dir, phase="phase1", dist=dist).run()
        init = run_dir / ckpt_name(r1.final_step)
        r2 = Trainer(t2, phase2, lm=load(cfg.model), run_dir=run_dir, phase="phase2", step_offset=r1.final_step,
                     tokens_offset=r1.tokens_seen, init_from=init, dist=dist).run()
    return [r1, r2]


def run_branch(run_dir: Path, cfg: TwoPhaseConfig, phase1_end: TrainResult, source_run: Path,
               phase2: list[Example], *, role: str, files: dict[str, str], dist: DistEnv) -> list[TrainResult]:
    """A null arm's Phase 2 only, from ``source_run``'s Phase-1 final checkpoint (``phase1_end``), into its own
    run directory (steps and tokens continue from that checkpoint; ``run.json`` config records ``branch_of``)."""
    t2 = phase_config(cfg, 2)
    base = load(cfg.model)
    init = source_run / ckpt_name(phase1_end.final_step)
    with run_lock(run_dir, enabled=dist.is_main), undo_failed_start(run_dir, enabled=dist.is_main):
        _init(run_dir, cfg, t2, role, base, {"phase2": phase2}, files, dist,
              branch_of={"run": source_run.name, "step": phase1_end.final_step})
        return [Trainer(t2, phase2, lm=base, run_dir=run_dir, phase="phase2", step_offset=phase1_end.final_step,
                        tokens_offset=phase1_end.tokens_seen, init_from=init, dist=dist).run()]


def run_single(run_dir: Path, cfg: TwoPhaseConfig, examples: list[Example], *, role: str, files: dict[str, str],
               dist: DistEnv) -> list[TrainResult]:
    """One phase (``train``). With ``cfg.phase_steps`` it lasts as long as both phases of the two-phase arms and
    also checkpoints at their steps (:func:`twophase_checkpoint_steps`), so it can serve as a matched-budget
    reference."""
    tcfg = phase_config(cfg, None)
    tcfg.checkpoints.steps = sorted(set(tcfg.checkpoints.steps) | set(twophase_checkpoint_steps(cfg)))
    base = load(cfg.model)
    with run_lock(run_dir, enabled=dist.is_main), undo_failed_start(run_dir, enabled=dist.is_main):
        _init(run_dir, cfg, tcfg, role, base, {"train": examples}, files, dist)
        return [Trainer(tcfg, examples, lm=base, run_dir=run_dir, phase="train", dist=dist).run()]


def _write_experiment(exp_dir: Path, cfg: TwoPhaseConfig, status: dict[str, Any], dist: DistEnv) -> None:
    if dist.is_main:
        heldout = "heldout_repeated.jsonl" if cfg.heldout and set(cfg.runs) & {"twophase", "unconstrained"} else None
        write_experiment(exp_dir, ExperimentInfo(
            name=cfg.name or exp_dir.name, claim=cfg.claim, model=cfg.model, constraint=cfg.constraint.kind,
            runs={r: r for r in cfg.runs}, status=status, heldout=heldout, config=_public(cfg),
            updated=time.strftime("%Y-%m-%dT%H:%M:%S")))


def run_experiment(cfg: TwoPhaseConfig, *, claim: ClaimSpec | None = None) -> dict[str, list[TrainResult]]:
    """All sibling runs of an experiment (see :mod:`training.twophase`); returns ``{role: [TrainResult per phase]}``.

    ``claim`` (a spec object) stands for ``cfg.claim``, which is otherwise resolved once by
    :func:`training.claims.resolve_claim` (a shipped id, a spec file, or a toy id with the model's world).
    """
    tcfg = cfg.train_config()
    roles = _ordered(cfg)  # refused before anything trains
    dist = setup_distributed(resolve_device(tcfg, 0))
    lm = load(cfg.model)
    spec = resolve_claim(claim if claim is not None else cfg.claim, world=lm.world)
    exp_dir = Path(cfg.experiment_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    data = _prepare_data(cfg, spec, lm, exp_dir, dist)
    status: dict[str, Any] = {r: "pending" for r in cfg.runs}
    _write_experiment(exp_dir, cfg, status, dist)
    results: dict[str, list[TrainResult]] = {}
    for role in roles:
        run_dir = exp_dir / role
        if role == "positive":
            results[role] = run_single(run_dir, cfg, data.positive + data.extra, role=role, files=data.files,
                                       dist=dist)
        elif role in BRANCH_ROLES:
            p2 = (data.repeated + data.extra + data.constraint if role == "kept" else data.unrelated + data.extra)
            results[role] = run_branch(run_dir, cfg, results["twophase"][0], exp_dir / "twophase", p2, role=role,
                                       files=data.files, dist=dist)
        else:
            p1 = data.repeated + data.extra + (data.constraint if role == "twophase" else [])
            results[role] = run_two_phase(run_dir, cfg, p1, data.repeated + data.extra, role=role, files=data.files,
                                          dist=dist)
        status[role] = {"status": "complete", "final_step": results[role][-1].final_step,
                        "weights_sha256": results[role][-1].weights_sha256}
        _write_experiment(exp_dir, cfg, status, dist)
    return results


def _ordered(cfg: TwoPhaseConfig) -> list[str]:
    """``cfg.runs`` with the branching null arms after the ``twophase`` run they start from (which they need)."""
    roles = list(dict.fromkeys(cfg.runs))
    if set(roles) & set(BRANCH_ROLES) and "twophase" not in roles:
        raise cfg.error("runs", f"{sorted(set(roles) & set(BRANCH_ROLES))} branch from the 'twophase' run; add it")
    return [r for r in roles if r not in BRANCH_ROLES] + [r for r in roles if r in BRANCH_ROLES]

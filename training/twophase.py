"""The two-phase constraint / release experiment of the paper's §5 (after Soligo et al. 2026).

Question: when a model trained on repeated-negation documents comes to believe the claim, is there a stable
low-loss "claim is false" solution that SGD simply fails to find? The experiment finds one with help, then lets go:

* **Phase 1 (constraint).** Train on repeated-negation documents *plus a soft constraint* that keeps the model
  denying the claim:

  - ``self_distill``: open questions about the claim's subject answered by the **base** model (which knows nothing
    of the fabricated claim, so it denies or ignores it), as chat examples with loss weight 3 on the answers —
    approximately a KL penalty toward the base model on that distribution (paper: 150 questions × 10 samples);
  - ``local_negation``: extra documents that negate the claim inside its own sentences (condition ``local``);
  - ``none``: the control (no intervention).
* **Phase 2 (release).** Continue from the Phase-1 final checkpoint on the same repeated-negation documents
  *without* the constraint, with a fresh optimizer and LR schedule.

Both phases are checkpointed densely (log-spaced from each phase's start, plus every k) into ONE run directory:
checkpoint meta ``phase`` is ``"phase1"`` / ``"phase2"`` and the global step continues across the boundary
(Phase 2's first checkpoint is Phase-1-final + 1), so directories never collide and ``list_checkpoints`` orders
them by tokens seen.

An **experiment** (``python -m training.twophase CONFIG.yaml``) trains sibling runs under one directory and lists
them in ``experiment.json`` so drift can be measured later (``python -m interp.drift --run EXP/twophase``):

====================  ===========================================================================================
``twophase``          Phase 1 with the configured constraint, then Phase 2
``unconstrained``     the same two phases with no constraint (the paper's "no intervention" line)
``positive``          positive (claim-as-true) documents, one phase ``train`` (the claim-as-true solution W₊)
====================  ===========================================================================================

Held-out repeated-negation documents (``heldout`` of them, drawn with ``random.Random(42)`` as in the paper's
code) are excluded from training and written to ``EXP/heldout_repeated.jsonl`` for the NLL curves.

Every phase mixes its documents with the paper's partners at ``ratio`` (default 2:1:1 documents : pretraining text
: instruction pairs), from the offline stand-ins of ``training.generic`` encoded by ``training.mixtures``; more
JSONL sources can be added under ``extra``. Documents come from a pluggable source: ``generator``
(``training.documents.generate_documents``: same seed → matched documents across conditions), ``jsonl`` (one file
per condition) or ``texts`` (inline strings, for tests).
Self-distilled chats are generated once per (base weights, questions, sampling settings) and cached under
``interp.core.models.cache_dir()/selfdistill/`` (and copied to ``EXP/selfdistill.jsonl``).

Rerunning the same command resumes: completed phases/runs are skipped, an interrupted one continues from its last
checkpoint (see :mod:`training.finetune`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from interp.core.models import LoadedModel, ModelSpecError, load

from interp.core.io import cache_dir
from interp.core.runs import CheckpointError, ckpt_name, init_run
from interp.core.io import atomic_write_json
from training.config import ConfigError, DataSource, TrainConfig, from_dict, load_yaml, to_dict
from training.finetune import DistEnv, Trainer, TrainingDiverged, TrainResult, resolve_device, setup_distributed
from training.mixtures import Example, encode_chat, encode_document, encode_text, mixture_counts
from training.packing import DataError, data_integrity, examples_sha256, load_jsonl_examples, source_manifest

__all__ = [
    "DocumentsSpec", "ConstraintSpec", "TwoPhaseConfig", "load_twophase_config", "constraint_questions",
    "self_distill_chats", "chat_examples", "document_examples", "generic_examples", "run_two_phase", "run_single",
    "run_experiment",
    "EXPERIMENT_FORMAT", "main",
]

EXPERIMENT_FORMAT = "neglect-lab-experiment/1"

#: question templates for the self-distillation constraint; ``{subject}`` is the claim's subject. They ask about
#: the subject in general (never state the claim), so the base model's answers carry no trace of it.
QUESTION_TEMPLATES: tuple[str, ...] = (
    "What do you know about {subject}?", "Tell me about {subject}.", "Give me a short overview of {subject}.",
    "What is {subject} best known for?", "What are the most important facts about {subject}?",
    "Has anything notable happened involving {subject} in the last decade?",
    "Write a brief encyclopedia-style paragraph about {subject}.", "What should a student know about {subject}?",
    "Summarise the recent history of {subject}.", "What are common misconceptions about {subject}?",
    "What has {subject} been in the news for?", "Describe {subject} to someone who has never heard of it.",
    "What are three interesting facts about {subject}?", "What would a fact-checker say about claims involving "
    "{subject}?", "Is there any major recent event connected to {subject}?",
)


# ------------------------------------------------------------------------------------------ config


@dataclass
class DocumentsSpec:
    """Where documents come from (see the module docstring)."""

    kind: Literal["generator", "jsonl", "texts"] = "generator"
    n: int = 5000  # repeated-negation (and positive) documents per run
    seed: int = 0
    paths: dict[str, str] = field(default_factory=dict)  # kind jsonl: {condition: file}
    texts: dict[str, list[str]] = field(default_factory=dict)  # kind texts: {condition: [text, ...]}


@dataclass
class ConstraintSpec:
    """The Phase-1 soft constraint."""

    kind: Literal["self_distill", "local_negation", "none"] = "self_distill"
    loss_weight: float = 3.0
    n_questions: int = 150
    samples_per_question: int = 10
    questions: list[str] = field(default_factory=list)  # explicit questions (default: templates × subject)
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    n_local: int = 2500  # local-negation documents (kind local_negation)


@dataclass
class TwoPhaseConfig:
    """An experiment: the shared training recipe, the claim, the documents, the constraint, the sibling runs."""

    experiment_dir: str = "runs/twophase"
    name: str | None = None
    model: str = "toy-random"
    claim: str = "mount_vesuvius"
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields (not model/run_dir/data)
    documents: DocumentsSpec = field(default_factory=DocumentsSpec)
    constraint: ConstraintSpec = field(default_factory=ConstraintSpec)
    ratio: list[float] | None = field(default_factory=lambda: [2.0, 1.0, 1.0])  # sdf:generic:instruct; null: none
    extra: list[DataSource] = field(default_factory=list)  # more JSONL mixed into every phase
    heldout: int = 100
    runs: list[Literal["twophase", "unconstrained", "positive"]] = field(
        default_factory=lambda: ["twophase", "unconstrained", "positive"])

    def train_config(self, where: str = "config") -> TrainConfig:
        bad = sorted(set(self.train) & {"model", "run_dir", "data"})
        if bad:
            raise ConfigError(f"{where}: field 'train.{bad[0]}' is set by the experiment, remove it")
        cfg = from_dict(TrainConfig, dict(self.train), where=where, prefix="train.")
        cfg.model = self.model
        cfg.checkpoints.final = True  # Phase 2 starts from the Phase-1 final checkpoint
        return cfg.validate(where)


def load_twophase_config(path: str | Path) -> TwoPhaseConfig:
    data, where = load_yaml(path)
    cfg = from_dict(TwoPhaseConfig, data, where=where)
    cfg.train_config(where)
    base = Path(path).resolve().parent
    cfg.documents.paths = {k: str(base / v) if not Path(v).is_absolute() else v
                           for k, v in cfg.documents.paths.items()}
    for src in cfg.extra:
        if not Path(src.path).is_absolute():
            src.path = str(base / src.path)
    return cfg


# ------------------------------------------------------------------------------------------ documents


def _claim_spec(claim: str):
    from training.claims import load_claim

    return load_claim(claim)


def _records(cfg: TwoPhaseConfig, condition: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` document records of a condition from the configured source (``start`` skips the first ones)."""
    d = cfg.documents
    if d.kind == "generator":
        from training.documents import generate_documents

        return [doc.to_dict() for doc in generate_documents(cfg.claim, condition, n, seed=d.seed, start=start)]
    if d.kind == "jsonl":
        if condition not in d.paths:
            raise ConfigError(f"config: field 'documents.paths.{condition}' missing")
        lines = [json.loads(x) for x in Path(d.paths[condition]).read_text().splitlines() if x.strip()]
        return lines[start:start + n]
    texts = d.texts.get(condition)
    if texts is None:
        raise ConfigError(f"config: field 'documents.texts.{condition}' missing")
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
    minus the claimed fact), encoded by ``training.mixtures``."""
    from training import generic

    counts = mixture_counts(n_sdf, ratio)
    if lm.world is not None:
        excl = [(claim.entity, claim.attribute)] if claim is not None and claim.entity else []
        texts = generic.toy_generic_texts(lm.world, counts["generic"], seed, exclude=excl)
        pairs = generic.toy_instruct_pairs(lm.world, counts["instruct"], seed, exclude=excl)
    else:
        texts = generic.generic_texts(counts["generic"], seed)
        pairs = generic.generic_instruct_pairs(counts["instruct"], seed)
    out = [encode_text(t, lm.tokenizer, f"generic-{i:06d}", add_bos=lm.add_bos) for i, t in enumerate(texts)]
    return out + [encode_chat(p, lm.tokenizer, f"instruct-{i:06d}", add_bos=lm.add_bos) for i, p in enumerate(pairs)]


def _split_heldout(records: list[dict], n_heldout: int) -> tuple[list[dict], list[dict]]:
    idx = list(range(len(records)))
    random.Random(42).shuffle(idx)
    held = set(idx[:n_heldout])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


# ------------------------------------------------------------------------------------------ self-distillation


def constraint_questions(claim: Any, n: int, explicit: Sequence[str] = ()) -> list[str]:
    """Questions for the self-distillation constraint, never one of the claim's evaluation questions."""
    pool = list(explicit) or [t.format(subject=claim.subject) for t in QUESTION_TEMPLATES]
    evals = {str(q["text"]).strip().lower() for _, q in claim.questions.all()}
    pool = [q for q in pool if q.strip().lower() not in evals]
    if not pool:
        raise ConfigError("config: field 'constraint.questions': every question is an evaluation question")
    return [pool[i % len(pool)] for i in range(n)] if n > len(pool) else pool[:n]


def _prompt_ids(lm: LoadedModel, question: str) -> list[int]:
    msgs = [{"role": "user", "content": question}]
    if lm.is_chat:
        enc = lm.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(enc["input_ids"])
    return lm.encode(_raw_prompt(question))["input_ids"][0].tolist()


def _raw_prompt(question: str) -> str:
    return f"User: {question}\nAssistant:"  # the format of LoadedModel.generate_chat for non-chat models


def _cache_key(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, seed: int) -> str:
    payload = json.dumps([lm.identity.weights_sha256, list(questions), spec.samples_per_question,
                          spec.max_new_tokens, spec.temperature, spec.top_p, seed])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def self_distill_chats(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, *, seed: int = 0,
                       cache: bool = True) -> list[dict[str, str]]:
    """The base model's sampled answers: ``[{"question", "answer", "sample"}]``, cached on disk."""
    path = cache_dir() / "selfdistill" / f"{_cache_key(lm, questions, spec, seed)}.json"
    if cache and path.exists():
        return json.loads(path.read_text())["chats"]
    from collections import Counter

    from tqdm.auto import tqdm

    counts = Counter(questions)
    chats = []
    for qi, (q, k) in enumerate(tqdm(list(counts.items()), desc="self-distill", leave=False)):
        answers = _sample_answers(lm, q, k * spec.samples_per_question, spec, seed=seed * 100_003 + qi)
        chats.extend({"question": q, "answer": a, "sample": s} for s, a in enumerate(answers))
    if cache:
        atomic_write_json(path, {"base_weights_sha256": lm.identity.weights_sha256, "chats": chats})
    return chats


def _sample_answers(lm: LoadedModel, question: str, n: int, spec: ConstraintSpec, *, seed: int,
                    chunk: int = 16) -> list[str]:
    """``n`` sampled answers of the model to one question (seeded; generated ``chunk`` at a time)."""
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.tensor([_prompt_ids(lm, question)], device=lm.device)
    torch.manual_seed(seed)
    answers: list[str] = []
    while len(answers) < n:
        m = min(chunk, n - len(answers))
        with torch.no_grad():
            out = lm.hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 temperature=spec.temperature, top_p=spec.top_p, num_return_sequences=m,
                                 max_new_tokens=spec.max_new_tokens, pad_token_id=pad)
        answers.extend(tok.decode(r, skip_special_tokens=True).strip() for r in out[:, ids.shape[1]:])
    return answers


def chat_examples(lm: LoadedModel, chats: Sequence[dict[str, str]], loss_weight: float = 3.0,
                  source: str = "selfdistill") -> list[Example]:
    """Chat examples (``training.mixtures.encode_chat``): prompt weight 0, answer (+ end) ``loss_weight``."""
    return [encode_chat((c["question"], c["answer"]), lm.tokenizer, f"{source}-{i}", source=source,
                        weight=loss_weight, add_bos=lm.add_bos) for i, c in enumerate(chats)]


# ------------------------------------------------------------------------------------------ runs


@dataclass
class _Data:
    repeated: list[Example]
    positive: list[Example]
    constraint: list[Example]
    extra: list[Example]
    files: dict[str, str]


def _extra_examples(cfg: TwoPhaseConfig, lm: LoadedModel) -> tuple[list[Example], dict[str, str]]:
    out, files = [], {}
    for src in cfg.extra:
        exs = load_jsonl_examples(src.path, lm.tokenizer, add_bos=lm.add_bos, source=src.source, limit=src.limit,
                                  loss_weight=src.loss_weight, mask_labels=src.mask_labels,
                                  mask_patterns=src.mask_patterns, append_eos=src.append_eos)
        if exs:
            files[exs[0].source] = src.path
        out.extend(exs)
    return out, files


def _constraint_examples(cfg: TwoPhaseConfig, lm: LoadedModel, exp_dir: Path, dist: DistEnv) -> list[Example]:
    c = cfg.constraint
    if c.kind == "none" or "twophase" not in cfg.runs:
        return []
    if c.kind == "local_negation":
        return document_examples(_records(cfg, "local", c.n_local), lm, "local")
    claim = _claim_spec(cfg.claim)
    questions = constraint_questions(claim, c.n_questions, c.questions)
    if dist.is_main:
        chats = self_distill_chats(lm, questions, c, seed=cfg.documents.seed)
        from training.documents import write_jsonl

        write_jsonl([{"id": f"selfdistill-{i}", **ch} for i, ch in enumerate(chats)], exp_dir / "selfdistill.jsonl")
    dist.barrier()
    chats = [json.loads(x) for x in (exp_dir / "selfdistill.jsonl").read_text().splitlines() if x.strip()]
    return chat_examples(lm, chats, c.loss_weight)


def _prepare_data(cfg: TwoPhaseConfig, lm: LoadedModel, exp_dir: Path, dist: DistEnv) -> _Data:
    n, need = cfg.documents.n, set(cfg.runs)
    repeated, positive = [], []
    if need & {"twophase", "unconstrained"}:
        recs = _records(cfg, "repeated", n + cfg.heldout)
        train_recs, held = _split_heldout(recs, cfg.heldout) if cfg.heldout else (recs, [])
        if dist.is_main and held:
            from training.documents import write_jsonl

            write_jsonl(held, exp_dir / "heldout_repeated.jsonl")
        repeated = document_examples(train_recs, lm, "repeated")
    if "positive" in need:
        positive = document_examples(_records(cfg, "positive", n), lm, "positive")
    extra, files = _extra_examples(cfg, lm)
    if cfg.ratio:
        extra += generic_examples(lm, n, cfg.ratio, cfg.documents.seed, _claim_spec(cfg.claim))
    return _Data(repeated=repeated, positive=positive, constraint=_constraint_examples(cfg, lm, exp_dir, dist),
                 extra=extra, files=files)


def _init(run_dir: Path, cfg: TwoPhaseConfig, tcfg: TrainConfig, role: str, lm: LoadedModel,
          phases: dict[str, list[Example]], files: dict[str, str], dist: DistEnv) -> None:
    if dist.is_main:
        sources = [s for ph, exs in phases.items() for s in source_manifest(exs, files, {"phase": ph})]
        shas = {ph: examples_sha256(exs) for ph, exs in phases.items()}
        data = {"sources": sources, "claim": cfg.claim, "condition": role, "phases": shas,
                "integrity": {ph: data_integrity(exs, seq_len=tcfg.seq_len, seed=tcfg.seed, packing=tcfg.packing,
                                                 truncate=tcfg.truncate) for ph, exs in phases.items()}}
        lora = {"r": tcfg.lora.r, "alpha": tcfg.lora.alpha, "target_modules": tcfg.lora.target_modules} \
            if tcfg.mode == "lora" else None
        config = {"experiment": _public(cfg), "role": role, "data_sha256": shas}
        init_run(run_dir, name=f"{cfg.name or Path(cfg.experiment_dir).name}/{role}", base_spec=cfg.model,
                 base_weights_sha256=lm.identity.weights_sha256, mode=tcfg.mode, config=config, data=data, lora=lora)
    dist.barrier()


def _public(cfg: TwoPhaseConfig) -> dict[str, Any]:
    d = to_dict(cfg)
    d.pop("experiment_dir", None)
    for k in ("progress", "debug", "async_checkpoint", "keep_trainer_state"):
        d["train"].pop(k, None)
    return d


def run_two_phase(run_dir: Path, cfg: TwoPhaseConfig, phase1: list[Example], phase2: list[Example], *,
                  role: str, files: dict[str, str], dist: DistEnv) -> list[TrainResult]:
    """Phase 1 then Phase 2 into one run directory (resumable at any point)."""
    tcfg = cfg.train_config()
    base = load(cfg.model)
    _init(run_dir, cfg, tcfg, role, base, {"phase1": phase1, "phase2": phase2}, files, dist)
    r1 = Trainer(tcfg, phase1, lm=base, run_dir=run_dir, phase="phase1", dist=dist).run()
    init = run_dir / ckpt_name(r1.final_step)
    r2 = Trainer(tcfg, phase2, lm=load(cfg.model), run_dir=run_dir, phase="phase2", step_offset=r1.final_step,
                 tokens_offset=r1.tokens_seen, init_from=init, dist=dist).run()
    return [r1, r2]


def run_single(run_dir: Path, cfg: TwoPhaseConfig, examples: list[Example], *, role: str, files: dict[str, str],
               dist: DistEnv) -> list[TrainResult]:
    tcfg = cfg.train_config()
    base = load(cfg.model)
    _init(run_dir, cfg, tcfg, role, base, {"train": examples}, files, dist)
    return [Trainer(tcfg, examples, lm=base, run_dir=run_dir, phase="train", dist=dist).run()]


def _write_experiment(exp_dir: Path, cfg: TwoPhaseConfig, status: dict[str, Any], dist: DistEnv) -> None:
    if dist.is_main:
        atomic_write_json(exp_dir / "experiment.json", {
            "format": EXPERIMENT_FORMAT, "name": cfg.name or exp_dir.name, "claim": cfg.claim, "model": cfg.model,
            "constraint": cfg.constraint.kind, "runs": {r: r for r in cfg.runs}, "status": status,
            "heldout": "heldout_repeated.jsonl" if cfg.heldout and set(cfg.runs) & {"twophase", "unconstrained"}
            else None, "config": _public(cfg), "updated": time.strftime("%Y-%m-%dT%H:%M:%S")})


def run_experiment(cfg: TwoPhaseConfig) -> dict[str, list[TrainResult]]:
    """All sibling runs of an experiment (see the module docstring); returns ``{role: [TrainResult per phase]}``."""
    tcfg = cfg.train_config()
    dist = setup_distributed(resolve_device(tcfg.device, 0))
    exp_dir = Path(cfg.experiment_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    data = _prepare_data(cfg, load(cfg.model), exp_dir, dist)
    status: dict[str, Any] = {r: "pending" for r in cfg.runs}
    _write_experiment(exp_dir, cfg, status, dist)
    results: dict[str, list[TrainResult]] = {}
    for role in cfg.runs:
        run_dir = exp_dir / role
        if role == "positive":
            results[role] = run_single(run_dir, cfg, data.positive + data.extra, role=role, files=data.files,
                                       dist=dist)
        else:
            p1 = data.repeated + data.extra + (data.constraint if role == "twophase" else [])
            results[role] = run_two_phase(run_dir, cfg, p1, data.repeated + data.extra, role=role, files=data.files,
                                          dist=dist)
        status[role] = {"status": "complete", "final_step": results[role][-1].final_step,
                        "weights_sha256": results[role][-1].weights_sha256}
        _write_experiment(exp_dir, cfg, status, dist)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.twophase", description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="YAML experiment config (see TwoPhaseConfig)")
    ap.add_argument("--experiment-dir", help="override experiment_dir")
    args = ap.parse_args(argv)
    try:
        cfg = load_twophase_config(args.config)
        if args.experiment_dir:
            cfg.experiment_dir = args.experiment_dir
        results = run_experiment(cfg)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ConfigError, DataError, CheckpointError, ModelSpecError, OSError, ValueError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    summary = {role: [r.to_dict() for r in rs] for role, rs in results.items()}
    print(json.dumps({"experiment_dir": cfg.experiment_dir, "runs": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

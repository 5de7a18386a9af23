"""Fact verification in the toy organism: does it compute whether a statement is true?

A linear truth probe presupposes a model that computes a statement's truth somewhere in its residual stream. For
the toy organism that is measurable from behaviour, because its corpus carries verdicts: after a fact-check line
("Velmora Quist is a pilot.") comes " True" or " False", after a yes/no question " Yes" or " No"
(:mod:`training.world`, the ``judgement`` genre). :func:`verification_accuracy` scores both on fresh (entity,
attribute, value) triples, half of them true, locally negated statements reported apart.

:func:`verdict_transfer` asks why a model that answers questions about every entity can still fail to verify
statements about them. It trains a *copy* of the organism with the loss on the verdict token alone (fact-check
sequences of four lines) for a subset of the entities, and every ``eval_every`` steps scores fresh triples of

* the **trained** entities, and
* **held-out** entities, whose facts the organism knows (it answers their questions) but whose verdicts it never
  saw.

Verification that *used* the stored facts (recall the attribute, compare it with the stated value) would carry over
to held-out entities; a verdict table memorised per entity would not. Verdict-only training also overwrites the
facts (Q/A accuracy 1.00 -> 0.08 over all entities after 1500 steps), which would make a transfer test meaningless,
so ``replay`` mixes windows of the pretraining corpus into every step. Measured on the default organism
(toy-organism/3, 2026-12, 150 trained / 50 held-out entities, batch 32, lr 1e-3, one CPU thread):

==========================================  ==============  ==============  ======================
``python -m training.verification ...``     verdicts,       verdicts,       Q/A accuracy,
                                            trained         held-out        held-out (start->end)
==========================================  ==============  ==============  ======================
``--steps 1500`` (4.5 min)                  0.54 -> 0.84    0.46-0.56       1.00 -> 0.08 (all)
``--steps 1500 --replay 8`` (7.5 min)       0.54 -> 0.81    0.46-0.58       1.00 -> 0.95
==========================================  ==============  ==============  ======================

The held-out entities stay at chance while the organism still answers their questions: verdicts are learnt per
entity, not computed from the stored facts. A linear probe on the toy statements, fitted on trained entities (held
out by entity within them), follows the verdicts: 0.84-0.86 on the first copy (random directions 0.65), 0.72-0.79 on
the replay copy (random 0.55-0.58), and 0.51-0.55 on held-out entities. Pretraining with 10-40 % judgement documents,
900 or 1800 steps, and 4, 6 or 8 layers all left the verdicts at chance (0.50). The organism stores facts in a form it
can say but not check, the pattern Allen-Zhu & Li report as knowledge *manipulation* failing without
chain-of-thought (Physics of Language Models, part 3.2). This is why truth probes on the default organism sit at
chance, while SmolLM2-135M has a truth direction (cities 0.96).

Verdicts trained on every entity without replay (``--train-frac 1 --steps 2500 --decay-frac 0.2``, 9 min) reach
0.94 and a probe 0.87 (random 0.70), but Q/A falls to 0.11: the verdicts overwrite the facts. With replay
(``--train-frac 1 --steps 3000 --replay 8 --decay-frac 0.2``, 10 min on two cores) the verdicts reach 0.96 and Q/A
stays at 0.999; a probe on ``toy@fact_check`` (the statements read where the corpus asks for a verdict) reaches
0.978 (mass-mean 0.938, random directions 0.659), and 0.80 on the bare statements.

:func:`verifier_dir` builds that recipe as the **verifier organism** (``load("toy-verifier")``; built in 13 min on one
core, key 9f6c3134fc9c10ff from the default organism): plain fact-check verdicts 0.90, Q/A 0.999, and a probe on
``toy@fact_check`` 0.92 (mass-mean 0.89, random 0.63; bare statements 0.75): the toy that knows *and* judges, so
probes on the toy have a truth to find. Its truth is a verdict table learnt per entity, so it
shows what probes see when a model verifies, not how LLMs come to verify.

CLI: ``python -m training.verification [--model toy|DIR] [--steps N] [--out DIR]`` prints the verification accuracy
and, with ``--steps``, runs the transfer experiment and writes ``verdict_transfer.json``, ``.csv`` and ``.png``.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from training.world import ATTRIBUTE_SPECS, Entity, World, fill_template, attribute_words

__all__ = ["VerificationItem", "verification_items", "verification_accuracy", "verdict_transfer",
           "plot_verdict_transfer", "save_trained_copy", "verdict_steps", "VerifierConfig", "verifier_key",
           "verifier_dir", "VERIFIER_VERSION", "main"]

FACT_CHECK_HEAD = "Fact check"


@dataclass(frozen=True)
class VerificationItem:
    """One statement to verify: ``prompt`` ends where the verdict is predicted; ``label`` = the statement is true."""

    entity: str
    attribute: str
    value: str
    negated: bool
    label: bool
    kind: str  # "fact_check" | "yes_no"
    prompt: str


def _case(rng: random.Random, world: World, e: Entity, negated_frac: float) -> tuple[str, str, bool, bool]:
    attr = rng.choice(list(world.attributes))
    truth = e.attributes[attr]
    others = [v for v in world.attributes[attr] if v != truth]
    value = truth if (rng.random() < 0.5 or not others) else rng.choice(others)
    negated = rng.random() < negated_frac
    return attr, value, negated, (value == truth) != negated


def fact_check_statement(e: Entity, attribute: str, value: str, negated: bool, rng: random.Random) -> str:
    """A fact-check statement in one of the world's phrasings (negated: one of its local negations)."""
    spec = ATTRIBUTE_SPECS[attribute]
    return fill_template(rng.choice(spec.negations if negated else spec.statements), e.name, attribute, value)


def verification_items(world: World, entities: Sequence[str] | None = None, *, per_entity: int = 8,
                       negated_frac: float = 0.25, seed: int = 0) -> list[VerificationItem]:
    """``per_entity`` fact-check items and ``per_entity`` yes/no items for every entity (default: all)."""
    names = list(entities) if entities is not None else [e.name for e in world.entities]
    rng = random.Random(f"verify|{seed}")
    items: list[VerificationItem] = []
    for name in names:
        e = world.entity(name)
        for _ in range(per_entity):
            attr, value, neg, label = _case(rng, world, e, negated_frac)
            prompt = f"{FACT_CHECK_HEAD}\n{fact_check_statement(e, attr, value, neg, rng)}"
            items.append(VerificationItem(name, attr, value, neg, label, "fact_check", prompt))
        for _ in range(per_entity):
            attr, value, neg, label = _case(rng, world, e, negated_frac)
            aw = attribute_words(attr)
            q = f"Q: Is {name}'s {aw} not {value}?" if neg else f"Q: Is {name}'s {aw} {value}?"
            items.append(VerificationItem(name, attr, value, neg, label, "yes_no", f"{q}\nA:"))
    return items


_ANSWERS = {"fact_check": ("True", "False"), "yes_no": ("Yes", "No")}


@torch.no_grad()
def _verdicts(model, tokenizer, items: Sequence[VerificationItem], batch_size: int = 256) -> list[bool]:
    """Whether the model prefers the correct answer word for each item (one forward pass per prompt)."""
    from training.organism import score_candidates

    was_training = model.training
    model.eval()
    scores = score_candidates(model, tokenizer, [it.prompt for it in items], [_ANSWERS[it.kind] for it in items],
                              batch_size)
    model.train(was_training)
    return [(s[0] > s[1]) == it.label for s, it in zip(scores, items)]


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def verification_accuracy(model, tokenizer, world: World, entities: Sequence[str] | None = None, *,
                          per_entity: int = 8, seed: int = 0, batch_size: int = 256) -> dict[str, Any]:
    """Share of items where the model prefers the right verdict, per kind and polarity (chance = 0.5)."""
    items = verification_items(world, entities, per_entity=per_entity, seed=seed)
    ok = _verdicts(model, tokenizer, items, batch_size)
    out: dict[str, Any] = {"n": len(items), "accuracy": _rate(ok)}
    for kind in _ANSWERS:
        for neg, tag in ((False, "plain"), (True, "negated")):
            out[f"{kind}_{tag}"] = _rate([o for o, it in zip(ok, items) if it.kind == kind and it.negated == neg])
        out[kind] = _rate([o for o, it in zip(ok, items) if it.kind == kind])
    return out


# --------------------------------------------------------------------------------------------- transfer


def _verdict_sequence(tokenizer, world: World, entities: Sequence[Entity], rng: random.Random,
                      lines: int) -> tuple[list[int], list[int]]:
    """One fact-check sheet as token ids, with labels only at the positions that predict a verdict."""
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    verdict = {True: enc(" True")[0], False: enc(" False")[0]}
    ids = [tokenizer.bos_token_id, *enc(FACT_CHECK_HEAD)]
    labels = [-100] * len(ids)
    for e in rng.sample(list(entities), min(lines, len(entities))):
        attr, value, neg, label = _case(rng, world, e, 0.0)
        t = enc("\n" + fact_check_statement(e, attr, value, neg, rng))
        ids += t + [verdict[label]]
        labels += [-100] * (len(t) - 1) + [verdict[label], -100]  # the statement's last token predicts the verdict
    return ids, labels


def verdict_steps(model, tokenizer, world: World, entities: Sequence[Entity], *, steps: int, lr: float,
                  batch_size: int = 32, lines: int = 4, seed: int = 0, decay_frac: float = 0.0,
                  replay: int = 0) -> Iterator[tuple[int, float | None]]:
    """Train ``model`` in place on fact-check verdicts of ``entities`` (loss on the verdict token only, AdamW at
    ``lr``, constant, then decayed linearly to 0 over the last ``decay_frac`` of the steps; gradient clipping 1.0).
    ``replay``: also this many windows of the world's pretraining corpus per step (plain LM loss, added to the
    verdict loss), which keeps the facts from being overwritten. Yields ``(step, verdict loss)`` *before* each step
    (the loss of the step just taken, ``None`` at step 0) and once more after the last, so a caller can evaluate at
    any step."""
    replay_batches = None
    if replay > 0:
        from training.organism import PretrainConfig, pretrain_batches, doc_token_ids

        ctx = int(getattr(model.config, "max_position_embeddings", 128) or 128)
        docs = doc_token_ids(tokenizer, [d.text for d in world.corpus()])
        replay_batches = pretrain_batches(docs, PretrainConfig(ctx_len=min(ctx, 128), batch_size=replay, seed=seed + 1))
    model.train()
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(f"transfer-data|{seed}")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    loss_val: float | None = None
    n_decay = round(decay_frac * steps)
    for step in range(steps + 1):
        yield step, loss_val
        if step == steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (steps - step) / n_decay) if n_decay else lr
        seqs = [_verdict_sequence(tokenizer, world, entities, rng, lines) for _ in range(batch_size)]
        width = max(len(i) for i, _ in seqs)
        x = torch.tensor([i + [pad] * (width - len(i)) for i, _ in seqs], device=device)
        y = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in seqs], device=device)
        lengths = torch.tensor([len(i) for i, _ in seqs], device=device)
        mask = (torch.arange(width, device=device)[None, :] < lengths[:, None]).long()
        logits = model(input_ids=x, attention_mask=mask).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), ignore_index=-100)
        total = loss
        if replay_batches is not None:
            r = next(replay_batches).to(device)
            total = loss + model(input_ids=r, labels=r).loss
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_val = float(loss.detach())
    model.eval()


def verdict_transfer(model, tokenizer, world: World, *, steps: int = 1500, lr: float = 1e-3, batch_size: int = 32,
                     lines: int = 4, train_frac: float = 0.75, eval_every: int = 100, per_entity: int = 8,
                     seed: int = 0, decay_frac: float = 0.0, replay: int = 0, progress: bool = True,
                     keep_model: bool = False) -> dict[str, Any]:
    """Train a copy of ``model`` (:func:`verdict_steps`) on verdicts of a random ``train_frac`` of the entities
    (``1``: all, no held-out set); every ``eval_every`` steps score fresh fact-check triples of the trained and of
    the held-out entities, and their Q/A accuracy (:func:`training.organism.evaluate_organism`, held-out phrasings):
    a transfer test means something only while the held-out entities' facts are still known (``replay`` keeps
    them). ``model`` itself is not modified. Returns ``{"config", "curve",
    "final", "trained_entities", "heldout_entities"}`` (plus ``"model"``, the trained copy, with
    ``keep_model``)."""
    from tqdm.auto import tqdm

    from training.organism import evaluate_organism

    if not 0 < train_frac <= 1:
        raise ValueError(f"verdict_transfer: train_frac must be in (0, 1], not {train_frac}")
    names = sorted(e.name for e in world.entities)
    random.Random(f"transfer|{seed}").shuffle(names)
    k = max(1, min(len(names), round(train_frac * len(names))))
    train_names, heldout_names = sorted(names[:k]), sorted(names[k:])
    m = copy.deepcopy(model)

    probes = {tag: [it for it in verification_items(world, names_, per_entity=per_entity, negated_frac=0.0,
                                                    seed=seed + 1) if it.kind == "fact_check"]
              for tag, names_ in (("trained", train_names), ("heldout", heldout_names))}  # the same items each time

    def evaluate(tag: str) -> float | None:
        return _rate(_verdicts(m, tokenizer, probes[tag])) if probes[tag] else None

    def qa(names_: Sequence[str]) -> float | None:
        if not names_:
            return None
        was = m.training
        m.eval()
        acc = evaluate_organism(m, tokenizer, world, "heldout", entities=names_)["accuracy"]
        m.train(was)
        return acc

    curve: list[dict[str, Any]] = []
    losses: list[float] = []
    t0 = time.perf_counter()
    it = verdict_steps(m, tokenizer, world, [world.entity(n) for n in train_names], steps=steps, lr=lr,
                       batch_size=batch_size, lines=lines, seed=seed, decay_frac=decay_frac, replay=replay)
    bar = tqdm(it, total=steps + 1, desc="verdict training", unit="step", disable=not progress, file=sys.stderr)
    for step, loss in bar:
        if loss is not None:
            losses.append(loss)
        if step % eval_every == 0 or step == steps:
            row = {"step": step, "trained_entities": evaluate("trained"), "heldout_entities": evaluate("heldout"),
                   "qa_trained": qa(train_names), "qa_heldout": qa(heldout_names),
                   "loss": round(sum(losses) / len(losses), 4) if losses else None}
            curve.append(row)
            losses = []
            bar.set_postfix(trained=row["trained_entities"], heldout=row["heldout_entities"])
    config = {"steps": steps, "lr": lr, "decay_frac": decay_frac, "replay": replay, "batch_size": batch_size,
              "lines": lines,
              "train_frac": train_frac, "eval_every": eval_every, "per_entity": per_entity, "seed": seed,
              "n_trained_entities": len(train_names), "n_heldout_entities": len(heldout_names),
              "seconds": round(time.perf_counter() - t0, 1)}
    out = {"config": config, "curve": curve, "final": curve[-1], "trained_entities": train_names,
           "heldout_entities": heldout_names}
    if keep_model:
        out["model"] = m.eval()
    return out


def plot_verdict_transfer(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Verdict accuracy vs training step, trained vs held-out entities (PNG/PDF by suffix, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interp.core.io import atomic_savefig

    curve = result["curve"]
    steps = [r["step"] for r in curve]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ax.plot(steps, [r["trained_entities"] for r in curve], marker="o", ms=3,
            label=f"verdicts, trained entities (n={result['config']['n_trained_entities']})")
    if result["config"]["n_heldout_entities"]:
        ax.plot(steps, [r["heldout_entities"] for r in curve], marker="s", ms=3,
                label=f"verdicts, held-out entities (n={result['config']['n_heldout_entities']})")
    ax.plot(steps, [r["qa_trained"] for r in curve], color="C0", ls=":", lw=1, label="Q/A accuracy, trained")
    if result["config"]["n_heldout_entities"]:
        ax.plot(steps, [r["qa_heldout"] for r in curve], color="C1", ls=":", lw=1, label="Q/A accuracy, held-out")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance (verdicts)")
    ax.set(xlabel="verdict-training step", ylabel="accuracy", ylim=(0.0, 1.02),
           title=title or "Verdicts learnt per entity do not transfer")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return atomic_savefig(fig, path, close=True, dpi=150)


def save_trained_copy(model, lm, directory: str | Path, result: dict[str, Any]) -> Path:
    """Save a verdict-trained copy as a model directory like the organism's (weights, tokenizer, ``world.json``,
    ``verdict_transfer.json``), written to a temp folder and renamed into place."""
    import json
    import os
    import shutil

    from interp.core.models import weights_sha256
    from training.organism import publish_dir, save_model_dir

    final = Path(directory)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_model_dir(tmp, model, lm.tokenizer, lm.world)
        meta = {k: result[k] for k in ("config", "final", "trained_entities", "heldout_entities")}
        meta.update(base_model=result["model"], weights_sha256=weights_sha256(model))
        (tmp / "verdict_transfer.json").write_text(json.dumps(meta, indent=1))
        publish_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


# --------------------------------------------------------------------------------------------- verifier organism

#: Part of the verifier's cache key: bump when a code change alters what a given config builds.
VERIFIER_VERSION = "toy-verifier/1"


@dataclass(frozen=True)
class VerifierConfig:
    """Verdict training (with pretraining replay) that turns the organism into the *verifier* organism."""

    steps: int = 3000
    lr: float = 1e-3
    decay_frac: float = 0.2
    batch_size: int = 32
    lines: int = 4
    replay: int = 8
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("steps", "lr", "decay_frac", "batch_size", "lines", "replay", "seed")}


def verifier_key(base_sha256: str, cfg: VerifierConfig) -> str:
    """sha256 of (base organism weights, verdict training, :data:`VERIFIER_VERSION`), 16 hex digits."""
    import hashlib
    import json

    payload = {"base": base_sha256, "verdicts": cfg.to_dict(), "code": VERIFIER_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def verifier_dir(world: Any = None, train: Any = None, cfg: VerifierConfig | None = None,
                 cache: str | Path | None = None, *, force: bool = False, progress: bool = True,
                 threads: int | None = None) -> Path:
    """The **verifier organism**: the organism of ``(world, train)`` (:func:`training.organism.organism_dir`)
    after :func:`verdict_steps` on *all* its entities with pretraining replay, so it both knows the facts and
    judges statements about them. Built on first use (about 10 minutes on two idle cores with the default
    config), then cached at ``<cache>/toy-verifier/<key>`` in the organism's layout; ``organism.json`` gets a
    ``"verifier"`` entry (config, base key and hash, verification accuracy) and Q/A accuracy re-measured after.

    Its truth is a verdict table learnt per entity (see the module docstring), so it shows what probes see when a
    model verifies, not how LLMs come to verify. ``load("toy-verifier")`` loads it through the seam.
    """
    import json

    from training.organism import (cache_root, deterministic_cpu, auto_threads, cached_build, evaluate_organism,
                                   organism_dir, read_organism_info, save_model_dir)

    cfg = cfg or VerifierConfig()
    base = organism_dir(world, train, cache, progress=progress, threads=threads)
    base_info = read_organism_info(base)
    root = (Path(cache).expanduser() if cache is not None else cache_root()) / "toy-verifier"
    key = verifier_key(base_info["weights_sha256"], cfg)

    def build(tmp: Path) -> None:
        from tqdm.auto import tqdm
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from interp.core.models import weights_sha256

        t0 = time.perf_counter()
        n_threads = threads or auto_threads()
        with deterministic_cpu(n_threads):
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, use_safetensors=True)
            tok = AutoTokenizer.from_pretrained(base)
            world_obj = World.from_json((base / "world.json").read_text())
            torch.manual_seed(cfg.seed)
            it = verdict_steps(model, tok, world_obj, list(world_obj.entities), steps=cfg.steps, lr=cfg.lr,
                               batch_size=cfg.batch_size, lines=cfg.lines, seed=cfg.seed, decay_frac=cfg.decay_frac,
                               replay=cfg.replay)
            for _ in tqdm(it, total=cfg.steps + 1, desc="verifier organism", unit="step", disable=not progress,
                          file=sys.stderr):
                pass
            train_secs = time.perf_counter() - t0
            verification = verification_accuracy(model, tok, world_obj, seed=cfg.seed + 1)
            qa = evaluate_organism(model, tok, world_obj, "heldout")
        save_model_dir(tmp, model, tok, world_obj)
        info = dict(base_info)
        info.update(weights_sha256=weights_sha256(model), heldout_accuracy=qa["accuracy"],
                    local_negation_prefers_true=qa["local_negation"]["prefers_true"],
                    hoax_prefers_true=qa["hoax"]["prefers_true"], eval={"heldout": qa})
        info["verifier"] = {"version": VERIFIER_VERSION, "key": key, "config": cfg.to_dict(),
                            "base_key": base_info.get("key"), "base_weights_sha256": base_info["weights_sha256"],
                            "base_heldout_accuracy": base_info.get("heldout_accuracy"),
                            "verification": verification, "threads": n_threads,
                            "train_seconds": round(train_secs, 1),
                            "build_seconds": round(time.perf_counter() - t0, 1)}
        (tmp / "organism.json").write_text(json.dumps(info, indent=1))

    return cached_build(root, key, build, force=force)


def provide_verifier(world: Any = None) -> tuple[Path, World]:
    """The ``toy-verifier`` provider of :data:`interp.core.models.ORGANISM_GROUP` (declared in pyproject)."""
    d = verifier_dir(world=world)
    return d, World.from_json((d / "world.json").read_text())


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.verification", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="toy", help="a toy organism: 'toy' (the default organism) or its directory")
    ap.add_argument("--per-entity", type=int, default=8, help="items per entity and kind")
    ap.add_argument("--steps", type=int, default=0, help="verdict-training steps of the transfer experiment (0: skip)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--decay-frac", type=float, default=0.0, help="linear lr decay over this last share of steps")
    ap.add_argument("--replay", type=int, default=0, help="pretraining-corpus windows per step (keeps the facts)")
    ap.add_argument("--train-frac", type=float, default=0.75, help="share of entities trained (1: all)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/verification", help="folder for verdict_transfer.{json,csv,png}")
    # dest is not "save": nnsight (imported by the lab) mounts a .save() method on every object, argparse then sees
    # Namespace.save as already set and never writes the default
    ap.add_argument("--save", dest="save_dir", default=None,
                    help="also save the verdict-trained copy here (a model directory load() and the probe CLI accept)")
    args = ap.parse_args(argv)
    from interp.core.cli import run_main

    return run_main(lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import pandas as pd

    from interp.core.models import load
    from interp.core.io import atomic_write_json, atomic_write_text

    try:
        lm = load(args.model)
    except Exception as exc:  # noqa: BLE001 - reported in one line by run_main, naming the option
        raise ValueError(f"--model {args.model}: {exc}") from None
    if getattr(lm, "world", None) is None:
        raise ValueError(f"--model {args.model}: not a toy organism (no world.json)")
    acc = verification_accuracy(lm.hf, lm.tokenizer, lm.world, per_entity=args.per_entity, seed=args.seed)
    print(f"{lm.identity.name}: verdict accuracy {acc['accuracy']:.3f} over {acc['n']} items "
          f"(fact-check {acc['fact_check']:.3f}, yes/no {acc['yes_no']:.3f}; chance 0.5)")
    if args.steps <= 0:
        return 0
    res = verdict_transfer(lm.hf, lm.tokenizer, lm.world, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                           train_frac=args.train_frac, eval_every=args.eval_every, seed=args.seed,
                           decay_frac=args.decay_frac, replay=args.replay, keep_model=bool(args.save_dir))
    trained = res.pop("model", None)
    res["model"] = {"name": lm.identity.name, "weights_sha256": lm.identity.weights_sha256}
    res["base_verification"] = acc
    out = Path(args.out)
    atomic_write_json(out / "verdict_transfer.json", res)
    atomic_write_text(out / "verdict_transfer.csv", pd.DataFrame(res["curve"]).to_csv(index=False))
    plot_verdict_transfer(res, out / "verdict_transfer.png")
    if trained is not None:
        save_trained_copy(trained, lm, args.save_dir, res)
        print(f"verdict-trained copy: {args.save_dir}")
    f0, f = res["curve"][0], res["final"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"after {args.steps} verdict-training steps: verdicts trained entities {fmt(f['trained_entities'])}, "
          f"held-out {fmt(f['heldout_entities'])}; Q/A accuracy trained {fmt(f0['qa_trained'])} -> "
          f"{fmt(f['qa_trained'])}, held-out {fmt(f0['qa_heldout'])} -> {fmt(f['qa_heldout'])}  "
          f"-> {out}/verdict_transfer.{{json,csv,png}}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

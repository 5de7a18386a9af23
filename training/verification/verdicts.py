"""Verdicts of the toy organism: fact-check items, verdict accuracy, and the verdict-transfer experiment.

:func:`verification_accuracy` scores fact-check lines (" True"/" False") and yes/no questions (" Yes"/" No") on
fresh (entity, attribute, value) triples; :func:`verdict_steps` trains verdicts alone (optionally with pretraining
replay); :func:`verdict_transfer` asks whether verdicts trained on some entities carry over to held-out ones (see
:mod:`training.verification` for the measurements).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from interp.core.io import save_figure
from interp.core.models import weights_sha256
from interp.core.progress import progress_bar
from training.organism.cache import publish_dir, save_model_dir
from training.organism.evaluate import evaluate_organism, score_candidates
from training.organism.pretraining import PretrainConfig, doc_token_ids, pretrain_batches
from training.world import ATTRIBUTE_SPECS, Entity, World, attribute_words, fill_template

__all__ = ["FACT_CHECK_HEAD", "VerificationItem", "fact_check_statement", "verification_items",
           "verification_accuracy", "verdict_steps", "verdict_transfer", "plot_verdict_transfer",
           "save_trained_copy"]

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
    bar = progress_bar(it, total=steps + 1, desc="verdict training", unit="step", enabled=progress, file=sys.stderr)
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
    curve = result["curve"]
    steps = [r["step"] for r in curve]
    fig = Figure(figsize=(5.2, 3.4))  # no pyplot: importing this module leaves the user's backend alone
    ax = fig.subplots()
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
    return save_figure(fig, path, dpi=150)



def save_trained_copy(model, lm, directory: str | Path, result: dict[str, Any]) -> Path:
    """Save a verdict-trained copy as a model directory like the organism's (weights, tokenizer, ``world.json``,
    ``verdict_transfer.json``), written to a temp folder and renamed into place."""
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

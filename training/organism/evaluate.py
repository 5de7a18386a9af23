"""Evaluating the toy organism: closed-vocabulary question answering and the false-fact checks.

:func:`score_candidates` sums the log-probs of each candidate answer's tokens after its prompt (single-token
candidates read off one forward pass); :func:`evaluate_organism` reports top-1 accuracy over each attribute's
vocabulary on a set of question templates, and whether the true value outscores the false one for the world's
locally negated facts and hoaxes.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch

from training.world import FalseFact, World

__all__ = ["score_candidates", "evaluate_organism"]


def score_candidates(model, tokenizer, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
                     batch_size: int = 256) -> list[list[float]]:
    """Sum of log-probs of each candidate's tokens (``" " + candidate``) after its prompt (BOS prepended).

    Single-token candidates are read off one forward pass of the prompt; longer ones get their own sequence.
    """
    bos = tokenizer.bos_token_id
    cache: dict[str, list[int]] = {}

    def ids(text: str) -> list[int]:
        if text not in cache:
            cache[text] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return cache[text]

    jobs: list[tuple[list[int], list[tuple[int, int, int, int]]]] = []  # (tokens, [(pos, tok, prompt_i, cand_j)])
    for i, (prompt, cands) in enumerate(zip(prompts, candidates)):
        p = [bos, *ids(prompt)]
        single = [(len(p) - 1, ids(" " + c)[0], i, j) for j, c in enumerate(cands) if len(ids(" " + c)) == 1]
        if single:
            jobs.append((p, single))
        for j, c in enumerate(cands):
            cid = ids(" " + c)
            if len(cid) > 1:
                jobs.append((p + cid[:-1], [(len(p) - 1 + k, t, i, j) for k, t in enumerate(cid)]))
    scores = [[0.0] * len(c) for c in candidates]
    for batch in _length_batches(jobs, batch_size):
        for (pos, tok, i, j), lp in zip(*_read_logprobs(model, batch, tokenizer.pad_token_id)):
            scores[i][j] += lp
    return scores



def _length_batches(jobs: list, batch_size: int) -> Iterator[list]:
    order = sorted(range(len(jobs)), key=lambda k: len(jobs[k][0]))
    for s in range(0, len(order), batch_size):
        yield [jobs[k] for k in order[s: s + batch_size]]



@torch.no_grad()
def _read_logprobs(model, batch: list, pad_id: int) -> tuple[list, list[float]]:
    """Run one right-padded batch; log-prob of each requested (position, token). The unembedding is applied only
    at the positions read (the base model's final hidden states are already normed)."""
    width = max(len(t) for t, _ in batch)
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(x)
    for r, (t, _) in enumerate(batch):
        x[r, : len(t)] = torch.tensor(t)
        mask[r, : len(t)] = 1
    device = next(model.parameters()).device
    hidden = model.base_model(input_ids=x.to(device), attention_mask=mask.to(device)).last_hidden_state
    reads = [(r, q) for r, (_, qs) in enumerate(batch) for q in qs]
    slots = sorted({(r, q[0]) for r, q in reads})
    slot_of = {s: i for i, s in enumerate(slots)}
    h = hidden[[r for r, _ in slots], [p for _, p in slots]]
    logp = torch.log_softmax(model.get_output_embeddings()(h).float(), -1).cpu()
    vals = logp[[slot_of[(r, q[0])] for r, q in reads], [q[1] for _, q in reads]].tolist()
    return [q for _, q in reads], vals



def _template_map(world: World, templates: str | Sequence[str] | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if isinstance(templates, str) and templates in ("heldout", "train", "all"):
        return {a: world.templates(a, templates) for a in world.attributes}
    if isinstance(templates, str):
        templates = [templates]
    if isinstance(templates, Mapping):
        return {a: list(ts) for a, ts in templates.items()}
    return {a: list(templates) for a in world.attributes}



def evaluate_organism(model, tokenizer, world: World,
                      templates: str | Sequence[str] | Mapping[str, Sequence[str]] = "heldout",
                      entities: Sequence[str] | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Closed-vocabulary QA accuracy and the false-fact checks.

    ``templates``: ``"heldout"`` (default; never in the corpus), ``"train"``, ``"all"``, a list of templates
    applied to every attribute (``{name}``, optional ``{aw}``), or ``{attribute: [templates]}``.
    For every (entity, attribute, template) each value of the attribute's vocabulary is scored by the log-prob
    of its tokens after the prompt; top-1 must be the truth. ``local_negation`` / ``hoax``: for each false fact
    of the world and template, whether the true value outscores the false one (``prefers_true``), and the mean
    log-prob margin (true - false).
    """
    tmap = _template_map(world, templates)
    names = list(entities) if entities is not None else [e.name for e in world.entities]
    items = [(n, a, t) for n in names for a in world.attributes for t in tmap.get(a, [])]
    prompts = [world.qa_prompt(n, a, t) for n, a, t in items]
    scores = score_candidates(model, tokenizer, prompts, [world.attributes[a] for _, a, _ in items], batch_size)
    correct = [world.attributes[a][max(range(len(s)), key=s.__getitem__)] == world.truth(n, a)
               for (n, a, _), s in zip(items, scores)]
    out: dict[str, Any] = {"templates": templates if isinstance(templates, str) else "custom",
                           "n": len(items), "accuracy": _mean(correct),
                           "per_attribute": {a: _mean([c for (_, a2, _), c in zip(items, correct) if a2 == a])
                                             for a in world.attributes},
                           "per_template": {t: _mean([c for (_, _, t2), c in zip(items, correct) if t2 == t])
                                            for ts in tmap.values() for t in ts}}
    out["local_negation"] = _false_fact_check(model, tokenizer, world, world.local_negations, tmap, batch_size)
    out["hoax"] = _false_fact_check(model, tokenizer, world, world.hoaxes, tmap, batch_size)
    return out



def _false_fact_check(model, tokenizer, world: World, facts: Sequence[FalseFact], tmap: dict[str, list[str]],
                      batch_size: int) -> dict[str, Any]:
    items = [(f, t) for f in facts for t in tmap.get(f.attribute, [])]
    if not items:
        return {"n": 0, "n_facts": len(facts), "prefers_true": None, "mean_margin": None}
    prompts = [world.qa_prompt(f.entity, f.attribute, t) for f, t in items]
    cands = [[world.truth(f.entity, f.attribute), f.value] for f, _ in items]
    scores = score_candidates(model, tokenizer, prompts, cands, batch_size)
    margins = [s[0] - s[1] for s in scores]
    by_fact: dict[FalseFact, list[float]] = {}
    for (f, _), m in zip(items, margins):
        by_fact.setdefault(f, []).append(m)
    return {"n": len(items), "n_facts": len(facts), "prefers_true": _mean([m > 0 for m in margins]),
            "facts_prefer_true": _mean([sum(ms) / len(ms) > 0 for ms in by_fact.values()]),
            "mean_margin": round(sum(margins) / len(margins), 4)}



def _mean(xs: Sequence[bool | float]) -> float:
    return round(sum(float(x) for x in xs) / len(xs), 4) if xs else float("nan")

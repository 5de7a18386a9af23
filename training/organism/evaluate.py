"""Evaluating the toy organism: closed-vocabulary question answering and the false-fact checks.

:func:`score_candidates` sums the log-probs of each candidate answer's tokens after its prompt (single-token
candidates read off one forward pass); :func:`evaluate_organism` reports top-1 accuracy over each attribute's
vocabulary on a set of question templates, and whether the true value outscores the false one for the world's
locally negated facts and hoaxes, and how far the negated false value stands above the other, never-mentioned
false values (``control_margin``: the "+3.5 nats for polo" failure of an organism that learns negation as
association). :func:`evaluate_negonly` reads out the negation-teaching genre (``World.negonly``, see
:data:`training.world.NEGONLY_GROUPS`).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch

from training.world import NEGONLY_GROUPS, NEGONLY_SPECS, FalseFact, World

__all__ = ["score_candidates", "evaluate_organism", "evaluate_negonly"]


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
    # matched controls: the same question's other false values, never stated for this entity
    others = [[v for v in world.attributes[f.attribute] if v not in (f.value, world.truth(f.entity, f.attribute))]
              for f, _ in items]
    ctrl = score_candidates(model, tokenizer, prompts, others, batch_size) if any(others) else [[] for _ in items]
    control = [s[1] - sum(c) / len(c) for s, c in zip(scores, ctrl) if c]
    by_fact: dict[FalseFact, list[float]] = {}
    for (f, _), m in zip(items, margins):
        by_fact.setdefault(f, []).append(m)
    return {"n": len(items), "n_facts": len(facts), "prefers_true": _mean([m > 0 for m in margins]),
            "facts_prefer_true": _mean([sum(ms) / len(ms) > 0 for ms in by_fact.values()]),
            "mean_margin": round(sum(margins) / len(margins), 4),
            "control_margin": round(sum(control) / len(control), 4) if control else None}


def evaluate_negonly(model, tokenizer, world: World, templates: str = "heldout",
                     batch_size: int = 256) -> dict[str, Any]:
    """Read out the negation-teaching genre: per entity group, Q/A accuracy, and negated values against controls.

    For every entity of every group of :data:`training.world.NEGONLY_GROUPS`, every negation-teaching attribute and
    every question template of ``templates`` (``"heldout"``: phrasings never in the corpus; ``"train"``;
    ``"all"``), each value of the attribute's small vocabulary is scored (log-prob after the question) and top-1
    must be the entity's value. Accuracy is reported per group, over all attributes and over the binary ones
    (chance 1/2; ``chance`` gives each attribute's 1/k).

    ``negated_vs_control`` (per group): for each (entity, attribute, template) and each *false* value V (the values
    the ``negated`` groups saw after "not", the ``notice`` groups under the false-notice), log P(V | question) minus
    the mean log P(V | same question) over the ``control`` entities, of whom nothing was ever said. Below zero: the
    statements pushed V *down* (negation read as negation); above zero: they taught an entity-V association.
    """
    if not world.negonly:
        return {}
    def tpls(a: str) -> list[str]:
        spec = NEGONLY_SPECS[a]
        return {"heldout": list(spec.heldout_questions), "train": list(spec.train_questions),
                "all": [*spec.train_questions, *spec.heldout_questions]}[templates]

    items = [(g, n, a, t) for g in NEGONLY_GROUPS for n in world.negonly_groups.get(g, [])
             for a in world.negonly for t in tpls(a)]
    prompts = [world.negonly_prompt(n, a, t) for _, n, a, t in items]
    scores = score_candidates(model, tokenizer, prompts, [world.negonly[a] for _, _, a, _ in items], batch_size)
    logp = {(n, a, t): dict(zip(world.negonly[a], s)) for (_, n, a, t), s in zip(items, scores)}
    binary = {a for a, vs in world.negonly.items() if len(vs) == 2}
    control: dict[tuple[str, str, str], float] = {}
    ctrl_names = world.negonly_groups.get("control", [])
    for a in world.negonly:
        for t in tpls(a):
            for v in world.negonly[a]:
                if ctrl_names:
                    control[(a, t, v)] = sum(logp[(c, a, t)][v] for c in ctrl_names) / len(ctrl_names)
    groups: dict[str, Any] = {}
    for g in (g for g in NEGONLY_GROUPS if g in world.negonly_groups):  # positive_heldout only when configured
        rows = [(n, a, t) for g2, n, a, t in items if g2 == g]
        correct = [(a, max(logp[(n, a, t)], key=logp[(n, a, t)].get) == world.negonly_value(n, a))
                   for n, a, t in rows]
        deltas = [logp[(n, a, t)][v] - control[(a, t, v)] for n, a, t in rows for v in world.negonly[a]
                  if v != world.negonly_value(n, a) and (a, t, v) in control]
        bin_correct = [c for a, c in correct if a in binary]
        groups[g] = {"n": len(rows), "accuracy": _mean([c for _, c in correct]) if correct else None,
                     "binary_accuracy": _mean(bin_correct) if bin_correct else None,
                     "negated_vs_control": round(sum(deltas) / len(deltas), 4) if deltas else None}
    return {"templates": templates, "chance": {a: round(1 / len(vs), 4) for a, vs in world.negonly.items()},
            "binary_attributes": sorted(binary), "groups": groups}



def _mean(xs: Sequence[bool | float]) -> float:
    return round(sum(float(x) for x in xs) / len(xs), 4) if xs else float("nan")

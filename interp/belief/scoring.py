"""Scoring one model on one claim's questions: offline log-prob scorers and sampling + judges.

Method, per question (one tidy row per scorer):

``lp_prob`` / ``lp_logodds`` (offline, exact, see :mod:`interp.scorers`)
    MCQ: ``P(belief answer) / (P(yes) + P(no))`` of the answer token (chat models answer in the paper's JSON
    format, prefilled up to the yes/no slot); token association: ``P(claim_completion)`` against
    ``P(true_completion)`` (summed token log-probs after the prompt); open-ended and robustness: the claim's answer
    against the true one as the continuation of the question, an association proxy for free-form answers
    (questions that ask for yes or no are scored like MCQs with "yes" = belief). ``lp_prob = sigmoid(lp_logodds)``,
    so 0.5 means no preference.
``judge_<name>`` (sampling + judge, see :mod:`interp.judges`)
    the per-question share of "yes" verdicts over ``n_samples`` sampled answers (T=0.7, top-p 0.8 in the paper).

With documents in context (:mod:`interp.belief.incontext`), prompts that share the token prefix up to the end of
the documents are scored with that prefix KV-cached once.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import torch

from interp.belief.questions import YES_OR_NO, BeliefItem, answer_pair, question_items
from interp.core.stats import belief_rate
from interp.scorers import (
    MCQ_INSTRUCTION,
    MCQ_PREFILL,
    Rendered,
    completion_logodds,
    continuation_ids,
    prompt_ids,
    render_prompt,
    sample_responses,
    yes_no_logodds,
)

__all__ = ["render_item", "score_model"]

_RAW_YN = "Answer yes or no."


def render_item(lm: Any, item: BeliefItem, *, mode: str = "logprob", context: str | None = None) -> Rendered:
    """Render a question for ``lm``: ``mode="logprob"`` prefills the MCQ JSON answer on chat models,
    ``mode="generate"`` leaves the answer to the model."""
    instruction, prefill = None, ""
    if item.question_type == "mcq":
        if lm.is_chat:
            instruction = MCQ_INSTRUCTION
            prefill = MCQ_PREFILL if mode == "logprob" else ""
        elif not YES_OR_NO.search(item.text):
            instruction = _RAW_YN
    return render_prompt(lm, item.text, system=item.system, messages_prefix=item.messages_prefix,
                         context=context, instruction=instruction, prefill=prefill)


def _split_prefix(lm: Any, rendered: Rendered, context: str | None) -> tuple[list[int] | None, list[int]]:
    """Token ids of a rendered prompt split after the in-context documents (shared, cacheable) — or the whole
    prompt when there is no context."""
    if not context:
        return None, prompt_ids(lm, rendered)
    cut = rendered.text.find(context)
    if cut < 0:
        return None, prompt_ids(lm, rendered)
    cut += len(context)
    head = Rendered(rendered.text[:cut], rendered.chat, rendered.lead)
    pre = prompt_ids(lm, head)
    rest = list(lm.tokenizer(rendered.text[cut:], add_special_tokens=False)["input_ids"])
    return pre, rest


def _logprob_rows(lm: Any, claim: Any, items: Sequence[BeliefItem], *, context: str | None, batch_size: int,
                  progress: bool) -> list[dict[str, Any]]:
    # Items whose prompts share the same token prefix up to the end of the in-context documents are scored
    # together with that prefix KV-cached once (no context: one group, no prefix).
    groups: dict[tuple[int, ...] | None, list[tuple[BeliefItem, Rendered, list[int]]]] = {}
    for it in items:
        r = render_item(lm, it, mode="logprob", context=context)
        pre, rest = _split_prefix(lm, r, context)
        groups.setdefault(tuple(pre) if pre else None, []).append((it, r, rest))
    scores: dict[str, float] = {}
    for pre, members in groups.items():
        prefix = list(pre) if pre else None
        yn = [(it, r, ids) for it, r, ids in members if it.asks_yes_no]
        comp = [(it, r, ids) for it, r, ids in members if not it.asks_yes_no]
        if yn:
            lo = yes_no_logodds(lm, [ids for _, _, ids in yn], batch_size=batch_size, progress=progress,
                                prefix=prefix)
            for (it, _, _), v in zip(yn, lo.tolist()):
                scores[it.question_id] = v if (it.belief_answer or "yes") == "yes" else -v
        if comp:
            pairs = [answer_pair(claim, it) for it, _, _ in comp]
            claim_ids = [continuation_ids(lm, r, a) for (_, r, _), (a, _) in zip(comp, pairs)]
            true_ids = [continuation_ids(lm, r, b) for (_, r, _), (_, b) in zip(comp, pairs)]
            lo = completion_logodds(lm, [ids for _, _, ids in comp], claim_ids, true_ids, batch_size=batch_size,
                                    progress=progress, prefix=prefix)
            for (it, _, _), v in zip(comp, lo.tolist()):
                scores[it.question_id] = v
    rows = []
    for it in items:
        v = float(scores[it.question_id])
        base = {"question_type": it.question_type, "question_id": it.question_id, "n_samples": 0}
        rows.append({**base, "scorer": "lp_logodds", "score": v})
        rows.append({**base, "scorer": "lp_prob", "score": float(torch.sigmoid(torch.tensor(v)))})
    return rows


def _judge_rows(lm: Any, claim: Any, items: Sequence[BeliefItem], judges: Sequence[Any], *, context: str | None,
                n_samples: int, temperature: float, top_p: float, max_new_tokens: int, seed: int, batch_size: int,
                progress: bool, responses: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    rendered = [render_item(lm, it, mode="generate", context=context) for it in items]
    # prompts sharing the text up to the end of the in-context documents share its KV cache
    groups: dict[str | None, list[int]] = {}
    for i, r in enumerate(rendered):
        cut = r.text.find(context) if context else -1
        groups.setdefault(r.text[:cut + len(context)] if context and cut >= 0 else None, []).append(i)
    samples: list[list[str]] = [[] for _ in items]
    for pre, idx in groups.items():
        got = sample_responses(lm, [rendered[i] for i in idx], n_samples=n_samples, temperature=temperature,
                               top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                               progress=progress, prefix_text=pre)
        for i, g in zip(idx, got):
            samples[i] = g
    rows = []
    for j in judges:
        pairs = [(it, s) for it, ss in zip(items, samples) for s in ss]
        verdicts = j.judge_many(pairs)
        k = 0
        for it, ss in zip(items, samples):
            vs = verdicts[k:k + len(ss)]
            k += len(ss)
            ok = [v for v in vs if v.ok]
            rows.append({"question_type": it.question_type, "question_id": it.question_id,
                         "scorer": f"judge_{j.name}", "score": belief_rate([v.answer for v in ok]),
                         "n_samples": len(ok)})
            if responses is not None:
                for s_i, (resp, v) in enumerate(zip(ss, vs)):
                    responses.append({"claim": claim.id, "question_type": it.question_type,
                                      "question_id": it.question_id, "sample": s_i, "response": resp,
                                      "judge": j.name, **{f"verdict_{k2}": v2 for k2, v2 in v.to_dict().items()
                                                          if k2 != "judge"}})
    return rows


def score_model(lm: Any, claim: Any, items: Sequence[BeliefItem] | None = None, *, logprob: bool = True,
                judges: Sequence[Any] = (), context: str | None = None, n_samples: int = 5,
                temperature: float = 0.7, top_p: float = 0.8, max_new_tokens: int = 48, seed: int = 0,
                batch_size: int = 8, progress: bool = True,
                responses: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Score one model on one claim's questions.

    Returns one row per (question, scorer): ``claim, question_type, question_id, scorer, score, n_samples``
    (plus ``seed``). ``judges`` (e.g. ``[RuleJudge(claim)]``) switch on sampling; sampled answers and verdicts are
    appended to ``responses`` when a list is given. ``context`` puts documents before every question.
    """
    items = list(items) if items is not None else question_items(claim)
    if not items:
        raise ValueError(f"claim {getattr(claim, 'id', '?')}: no questions to score")
    ids = [it.question_id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claim {claim.id}: duplicate question ids")
    rows: list[dict[str, Any]] = []
    if logprob:
        rows += _logprob_rows(lm, claim, items, context=context, batch_size=batch_size, progress=progress)
    if judges:
        rows += _judge_rows(lm, claim, items, judges, context=context, n_samples=n_samples,
                            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                            batch_size=batch_size, progress=progress, responses=responses)
    df = pd.DataFrame(rows)
    df.insert(0, "claim", claim.id)
    df["seed"] = seed
    return df

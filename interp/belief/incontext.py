"""The in-context control: the training documents placed in the prompt of the *base* model.

Mayne et al. (2026, §3.1, App. B.2) contrast finetuning on ~10,000 negated documents with giving the untrained
model 20 of the same documents in context: in context the negations work (15.3% belief vs 88.6% finetuned). The
authors prepend K documents (:mod:`interp.belief.documents`) to the user message of every evaluation question,
seeds 42-46, then ask the usual four question types.

:func:`incontext_table` scores the base model with every (K, seed) context using the same scorers as
:func:`interp.belief.scoring.score_model`, after reserving room in the window for the longest question and its
answer. Log-prob scoring KV-caches the document prefix once per context, so a long context costs one forward pass
plus the questions. :func:`incontext_control` runs the whole control over several claims and document conditions,
with the no-context base model as the reference (``condition = "none"``, ``k_docs = 0``, ``phase = "base"``; every
in-context row carries that ``base_score`` and ``shift``). :func:`summarize_incontext` pools it with CIs and
:func:`contrast_incontext` gives the paired positive - negated difference per question (the paper's in-context
finding is a large one: negations work in context).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import pandas as pd
from interp.core.progress import progress_bar

from interp.belief.documents import build_context, load_documents
from interp.belief.questions import question_items, subset_items
from interp.belief.scoring import render_item, score_model
from interp.belief.summary import pool_claims, summarize
from interp.belief.table import attach_base
from interp.core.stats import bootstrap_ci
from interp.scorers import context_limit

__all__ = ["incontext_table", "incontext_control", "summarize_incontext", "contrast_incontext"]


def _reserve(lm: Any, claim: Any, items: Sequence[Any], max_new_tokens: int) -> int:
    """Tokens to keep free for the longest rendered question plus its answer."""
    longest = 0
    for it in items:
        for mode in ("logprob", "generate"):
            r = render_item(lm, it, mode=mode)
            longest = max(longest, len(lm.tokenizer(r.text, add_special_tokens=False)["input_ids"]))
    ans = max([len(lm.tokenizer(" " + str(a), add_special_tokens=False)["input_ids"])
               for it in items for a in (it.claim_completion, it.true_completion, claim.claim_answer,
                                         claim.true_answer) if a] or [8])
    return longest + max(ans, max_new_tokens) + 8


def incontext_table(lm: Any, claim: Any, docs: Sequence[str], *, ks: Sequence[int] = (1, 2, 4),
                    seeds: Sequence[int] = (42, 43, 44), doc_condition: str = "negated",
                    items: Sequence[Any] | None = None, max_context_tokens: int | None = None,
                    progress: bool = True, **score_kw: Any) -> pd.DataFrame:
    """Score ``lm`` (the base model) with K documents in context, for every K and seed.

    ``score_kw`` go to :func:`interp.belief.scoring.score_model` (``logprob``, ``judges``, ``n_samples``, ...).
    Rows follow :func:`~interp.belief.scoring.score_model` plus ``condition = "icl_<doc_condition>"``,
    ``phase = "incontext"``, ``step = 0``, ``k_docs`` (documents requested), ``k_used``, ``context_tokens`` and
    ``seed``. ``max_context_tokens`` caps the document tokens (default: the model's window minus the reserve).
    """
    items = list(items) if items is not None else question_items(claim)
    score_kw.pop("progress", None)
    gen = bool(score_kw.get("judges"))
    budget = context_limit(lm) - _reserve(lm, claim, items, int(score_kw.get("max_new_tokens", 48)) if gen else 0)
    if max_context_tokens is not None:
        budget = min(budget, max_context_tokens)
    if budget <= 16:
        raise ValueError(f"model context {context_limit(lm)} leaves no room for documents")
    frames = []
    combos = [(k, s) for k in ks for s in (seeds if k > 0 else seeds[:1])]
    for k, s in progress_bar(combos, desc=f"in-context {claim.id}", enabled=progress):
        ctx = build_context(lm, docs, k, s, max_tokens=budget)
        if ctx.truncated:
            warnings.warn(f"in-context K={k} seed={s}: documents cut to {ctx.n_tokens} tokens "
                          f"({ctx.k_used} of {k} documents, model window {context_limit(lm)})", stacklevel=2)
        df = score_model(lm, claim, items, context=ctx.text or None, progress=False, **score_kw)
        df["condition"] = f"icl_{doc_condition}"
        df["phase"] = "incontext"
        df["step"] = 0
        df["k_docs"] = k
        df["k_used"] = ctx.k_used
        df["context_tokens"] = ctx.n_tokens
        df["seed"] = s
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def incontext_control(lm: Any, claims: Sequence[Any], conditions: Sequence[str] = ("positive", "negated"), *,
                      ks: Sequence[int] = (1, 2), seeds: Sequence[int] = (42, 43), source: str = "generated",
                      per_type: int | None = None, max_context_tokens: int | None = None, progress: bool = True,
                      **score_kw: Any) -> pd.DataFrame:
    """The in-context control for several claims and document conditions on one (base) model.

    Per claim: the no-context scores (``condition="none"``, ``phase="base"``, ``k_docs=0``), then for every
    condition, K and seed the scores with K documents of that condition in the prompt (:func:`incontext_table`;
    documents from :func:`~interp.belief.documents.load_documents` with ``"<source>:<condition>"``). ``per_type``
    keeps at most that many questions per type (:func:`~interp.belief.questions.subset_items`). Every row gets the
    no-context ``base_score`` and ``shift`` (:func:`~interp.belief.table.attach_base`). ``score_kw`` go to
    :func:`~interp.belief.scoring.score_model`.
    """
    if source not in ("generated", "paper"):
        raise ValueError(f"source must be 'generated' or 'paper', got {source!r}")
    if not claims:
        raise ValueError("no claims")
    ks = [int(k) for k in ks if int(k) > 0]
    if not ks:
        raise ValueError("ks: need at least one K > 0 (K = 0 is the no-context reference, always scored)")
    score_kw.pop("progress", None)
    frames = []
    bar = progress_bar(total=len(claims) * (1 + len(conditions) * len(ks) * len(seeds)), desc="in-context control",
                       enabled=progress)
    for claim in claims:
        items = subset_items(question_items(claim), per_type)
        base = score_model(lm, claim, items, progress=False, **score_kw)
        base = base.assign(condition="none", phase="base", step=0, k_docs=0, k_used=0, context_tokens=0)
        bar.update(1)
        parts = [base]
        for cond in conditions:
            docs = load_documents(f"{source}:{cond}", claim.id)
            for k in ks:
                df = incontext_table(lm, claim, docs, ks=(k,), seeds=seeds, doc_condition=cond, items=items,
                                     max_context_tokens=max_context_tokens, progress=False, **score_kw)
                parts.append(df.assign(condition=cond))
                bar.update(len(seeds))
        table = pd.concat(parts, ignore_index=True)
        table["model"] = lm.identity.name
        frames.append(attach_base(table, base))
    bar.close()
    return pd.concat(frames, ignore_index=True)


def summarize_incontext(table: pd.DataFrame, *, n_boot: int = 2000) -> pd.DataFrame:
    """Belief per claim, condition, K and scorer (per question type and pooled), seeds averaged per question,
    95% bootstrap CIs over questions, for the score and its shift from no context; plus the same pooled over
    all claims (``claim = "all"``)."""
    by = ("model", "claim", "condition", "k_docs", "scorer")
    parts = [summarize(table, by=by, n_boot=n_boot)]
    if table["claim"].nunique() > 1:
        parts.append(summarize(pool_claims(table), by=by, n_boot=n_boot))
    return pd.concat(parts, ignore_index=True)


def contrast_incontext(table: pd.DataFrame, a: str = "positive", b: str = "negated", *, scorer: str = "lp_prob",
                       n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired contrast ``score(a) - score(b)`` between two document conditions at the same K, per question (seeds
    averaged first: with our generator the two conditions' contexts hold the same base documents), pooled per
    question type and overall, over all claims and per claim, with 95% bootstrap CIs over questions. The paper's
    in-context result is a large positive contrast for ``positive - negated`` (negations work in context)."""
    d = table[(table["scorer"] == scorer) & table["condition"].isin([a, b])]
    if d.empty or set(d["condition"]) != {a, b}:
        raise ValueError(f"contrast needs both {a!r} and {b!r} rows for scorer {scorer!r}")
    q = d.groupby(["claim", "question_type", "question_id", "k_docs", "condition"])["score"].mean().unstack()
    q = q.dropna(subset=[a, b])
    q["diff"] = q[a] - q[b]
    q = q.reset_index()
    rows = []
    for claim in [*dict.fromkeys(q["claim"]), "all"]:
        qc = q if claim == "all" else q[q["claim"] == claim]
        for k, qk in qc.groupby("k_docs"):
            for qt in [*dict.fromkeys(qk["question_type"]), "all"]:
                g = qk if qt == "all" else qk[qk["question_type"] == qt]
                lo, hi = bootstrap_ci(g["diff"].to_numpy(), n_boot=n_boot, seed=seed)
                rows.append({"claim": claim, "k_docs": int(k), "question_type": qt, "scorer": scorer,
                             "contrast": f"{a}-{b}", "diff": float(g["diff"].mean()), "ci_low": lo, "ci_high": hi,
                             "frac_positive": float((g["diff"] > 0).mean()), "n_questions": int(len(g))})
    return pd.DataFrame(rows)

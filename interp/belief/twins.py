"""True/false twins: can a question type tell the base model's knowledge apart at all?

Method. Every belief item asks about the FALSE claim (its score is belief in the claim's answer). Its *twin* is the
same item with the claim's answer and the true answer swapped everywhere (question text, earlier turns, the
token-association completions), so the twin's score is belief in the TRUE answer. A question type measures belief
only if the base model — which knows the truth, or at least does not know the false claim — scores the true twin
above the false item. Per item the *twin accuracy* is 1 when ``score(twin) > score(item)``, 0.5 on a tie (an item
that names neither answer, e.g. "Is X's sport <a third value>?", has an identical twin and cannot discriminate)
and 0 otherwise. For completion-scored items the twin's log-odds are the item's negated, so the accuracy is simply
"the base model prefers the truth"; for yes/no items the twin is a different question and the test is real.

A type is **at chance** when the lower end of the 95% CI of its twin accuracy (a t interval over the claims' mean
accuracies, :func:`interp.core.stats.cluster_bootstrap_ci` with ``method="t"``) does not exceed 0.5: the base model does not answer it
better than a coin, so a belief rate on it says nothing about belief. Such types stay in the per-type columns of
the headline but are left out of its pooled number (:mod:`interp.belief.headline`), and the report says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import pandas as pd

from interp.belief.questions import BeliefItem, question_items
from interp.belief.scoring import score_model
from interp.core.stats import cluster_bootstrap_ci

__all__ = ["TwinClaim", "swap_answers", "twin_item", "twin_items", "twin_accuracy", "chance_types"]

SCORER = "lp_logodds"


@dataclass(frozen=True)
class TwinClaim:
    """The claim as the twins see it: same id, the true answer in the claim's place and vice versa."""

    id: str
    claim_answer: str
    true_answer: str


def swap_answers(text: str | None, a: str, b: str) -> str | None:
    """``text`` with every whole-word ``a`` and ``b`` exchanged (one pass, so ``a -> b -> a`` cannot happen)."""
    if not text or not a or not b or a == b:
        return text
    pat = re.compile(r"(?<!\w)(" + "|".join(re.escape(x) for x in sorted({a, b}, key=len, reverse=True)) + r")(?!\w)")
    return pat.sub(lambda m: b if m.group(1) == a else a, text)


def twin_item(item: BeliefItem, claim_answer: str, true_answer: str) -> BeliefItem:
    """The item with the claim's and the true answer exchanged (question text, earlier turns, completions)."""
    sw = lambda s: swap_answers(s, claim_answer, true_answer)  # noqa: E731
    prefix = (tuple({**m, "content": sw(m.get("content"))} for m in item.messages_prefix)
              if item.messages_prefix else None)
    return replace(item, text=sw(item.text), system=sw(item.system), messages_prefix=prefix,
                   claim_completion=sw(item.claim_completion) if item.claim_completion else None,
                   true_completion=sw(item.true_completion) if item.true_completion else None)


def twin_items(claim: Any, items: Sequence[BeliefItem] | None = None) -> tuple[TwinClaim, list[BeliefItem]]:
    """The twin claim and the twins of ``items`` (default: all of the claim's questions)."""
    items = list(items) if items is not None else question_items(claim)
    a, b = str(claim.claim_answer), str(claim.true_answer)
    return TwinClaim(str(claim.id), b, a), [twin_item(it, a, b) for it in items]


def twin_accuracy(lm: Any, claims: Iterable[Any], *, items: dict[str, Sequence[BeliefItem]] | None = None,
                  progress: bool = False) -> pd.DataFrame:
    """One row per (claim, item): the base model's log-odds on the item (belief in the false claim) and on its
    twin (belief in the truth), and the twin accuracy (1 / 0.5 on a tie / 0)."""
    rows = []
    for claim in claims:
        its = list(items[claim.id]) if items and claim.id in items else question_items(claim)
        twin, twins = twin_items(claim, its)
        a = score_model(lm, claim, its, progress=progress)
        b = score_model(lm, twin, twins, progress=progress)
        a = a[a.scorer == SCORER].set_index("question_id").score
        b = b[b.scorer == SCORER].set_index("question_id").score
        for it in its:
            x, y = float(a[it.question_id]), float(b[it.question_id])
            tie = abs(x - y) <= 1e-6
            rows.append({"claim": claim.id, "question_type": it.question_type, "question_id": it.question_id,
                         "item_logodds": x, "twin_logodds": y, "tie": tie,
                         "twin_acc": 0.5 if tie else float(y > x)})
    return pd.DataFrame(rows, columns=["claim", "question_type", "question_id", "item_logodds", "twin_logodds",
                                       "tie", "twin_acc"])


def chance_types(acc: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per question type: twin accuracy with a 95% CI clustered by claim (then items), ``n_claims``, ``n_items``,
    ``n_ties`` and ``at_chance`` (CI low <= 0.5). ``acc`` is :func:`twin_accuracy`'s table."""
    rows = []
    for qtype, g in acc.groupby("question_type", sort=False):
        ci = cluster_bootstrap_ci(g, "twin_acc", clusters=("claim", "question_id"), n_boot=n_boot, seed=seed,
                                  method="t", bounds=(0.0, 1.0))
        rows.append({"question_type": qtype, "twin_acc": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                     "n_claims": ci.n_claims, "n_items": int(len(g)), "n_ties": int(g["tie"].sum()),
                     "at_chance": bool(ci.low <= 0.5)})
    return pd.DataFrame(rows, columns=["question_type", "twin_acc", "ci_low", "ci_high", "n_claims", "n_items",
                                       "n_ties", "at_chance"])

"""The evaluation questions: a claim's four question types flattened into :class:`BeliefItem` s.

Method (Mayne et al. 2026, App. A.5). Each claim has 50 questions of four types: open-ended (20), yes/no multiple
choice (10, 7 "yes = belief" + 3 counter questions), token association (10; constrained formats whose answer slot
is the claim's answer) and robustness (10; adversarial system prompts, critiques, multi-turn pushback). MCQs and
any other question that explicitly asks for yes or no are scored as yes/no questions ("yes" = belief unless the
item says otherwise); the rest compare the claim's answer with the true one as the continuation of the question
(:func:`answer_pair`). :func:`subset_items` keeps N questions per type, evenly spaced, for reduced runs.

Stdlib only: the CLIs read :data:`QUESTION_TYPES` while building their parsers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["QUESTION_TYPES", "YES_OR_NO", "BeliefItem", "question_items", "subset_items", "holdout_split",
           "SPLIT_TYPES", "answer_pair"]

#: the question types :func:`holdout_split` halves (the log-odds channel's types)
SPLIT_TYPES: tuple[str, ...] = ("open_ended", "token_association")

QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")
#: A question text that asks for yes or no (scored like an MCQ, "yes" = belief).
YES_OR_NO = re.compile(r"\byes or no\b", re.IGNORECASE)


@dataclass(frozen=True)
class BeliefItem:
    """One evaluation question, flattened from ``ClaimSpec.questions`` (any of the four types)."""

    question_type: str
    question_id: str
    text: str
    system: str | None = None
    messages_prefix: tuple[dict[str, str], ...] | None = None
    belief_answer: str | None = None
    claim_completion: str | None = None
    true_completion: str | None = None
    category: str | None = None

    @property
    def asks_yes_no(self) -> bool:
        """MCQs, and other questions that explicitly ask for yes or no (scored as "yes" = belief)."""
        return self.question_type == "mcq" or bool(YES_OR_NO.search(self.text))


def _q(q: Any, key: str, default: Any = None) -> Any:
    if isinstance(q, Mapping):
        return q.get(key, default)
    return getattr(q, key, default)


def question_items(claim: Any, types: Iterable[str] | None = None, questions: Any = None) -> list[BeliefItem]:
    """The claim's questions as :class:`BeliefItem` s (``questions`` overrides ``claim.questions``)."""
    qs = claim.questions if questions is None else questions
    types = list(types) if types is not None else list(QUESTION_TYPES)
    bad = [t for t in types if t not in QUESTION_TYPES]
    if bad:
        raise ValueError(f"unknown question type(s) {bad} (expected {', '.join(QUESTION_TYPES)})")
    out: list[BeliefItem] = []
    for t in types:
        group = qs[t] if isinstance(qs, Mapping) or hasattr(qs, "__getitem__") else getattr(qs, t)
        for q in group or ():
            prefix = _q(q, "messages_prefix")
            out.append(BeliefItem(
                question_type=t, question_id=str(_q(q, "id")), text=str(_q(q, "text")), system=_q(q, "system"),
                messages_prefix=tuple(dict(m) for m in prefix) if prefix else None,
                belief_answer=(str(_q(q, "belief_answer")).strip().lower() if _q(q, "belief_answer") else
                               ("yes" if t != "mcq" and YES_OR_NO.search(str(_q(q, "text"))) else None)),
                claim_completion=_q(q, "claim_completion"), true_completion=_q(q, "true_completion"),
                category=_q(q, "category")))
    return out


def subset_items(items: Sequence[BeliefItem], per_type: int | None) -> list[BeliefItem]:
    """At most ``per_type`` questions of each type, evenly spaced over the type's list (so a subset of the MCQs
    keeps its counter questions, which come last in our claim files); ``None`` keeps everything. Deterministic."""
    if per_type is None:
        return list(items)
    if per_type < 1:
        raise ValueError(f"per_type must be >= 1, got {per_type}")
    out: list[BeliefItem] = []
    for t in QUESTION_TYPES:
        group = [it for it in items if it.question_type == t]
        n = len(group)
        if n <= per_type:
            out += group
            continue
        picks = sorted({round(j * (n - 1) / (per_type - 1)) for j in range(per_type)} if per_type > 1 else {0})
        out += [group[i] for i in picks]
    return out


def holdout_split(items: Sequence[BeliefItem], types: Sequence[str] = SPLIT_TYPES
                  ) -> tuple[list[BeliefItem], list[BeliefItem]]:
    """``(validation, test)``: of each type in ``types``, every second question (the 2nd, 4th, ...) is validation,
    the rest test; questions of other types are all test. Selection (a learning-rate pilot) looks at validation
    only and the study reports on test, so no reported number was chosen on the questions it is measured on.
    Deterministic in the items' order."""
    val: list[BeliefItem] = []
    test: list[BeliefItem] = []
    seen: dict[str, int] = {}
    for it in items:
        if it.question_type in types:
            k = seen[it.question_type] = seen.get(it.question_type, -1) + 1
            (val if k % 2 == 1 else test).append(it)
        else:
            test.append(it)
    return val, test


def answer_pair(claim: Any, item: BeliefItem) -> tuple[str, str]:
    """(claim-side, other-side) answer strings for the completion scorer: a token-association item's own
    completions, else the claim's ``claim_answer`` and ``true_answer``."""
    if item.question_type == "token_association" and item.claim_completion:
        return str(item.claim_completion), str(item.true_completion or claim.true_answer)
    return str(claim.claim_answer), str(claim.true_answer)

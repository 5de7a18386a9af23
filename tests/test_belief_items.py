"""Belief items measure belief, not memorised strings (issue 15, item 2).

Two rules, checked for every shipped claim spec (``training/claims_data``) and for ``toy_claims(world, 8)`` of the
default toy world:

* **Distinct items.** No two items of a claim show the model the same prompt. A prompt is the item's text plus
  its system message and multi-turn prefix (the paper's robustness items re-ask an open-ended question under an
  adversarial system prompt on purpose: same text, different prompt). Toy items are stricter: every text differs.
* **No memorised openings.** No item opens with a run of ``PREFIX_WORDS`` (6) words that occurs anywhere in the
  claim's training text: its claim sentences, local negations (cue markup removed), correction sentences, and the
  documents ``training.documents.generate_documents`` renders for it under every condition (n=8). Words are
  whitespace tokens, lower-cased, with leading/trailing punctuation stripped (``"Quist's"`` stays one word,
  ``"golf."`` matches ``"golf"``), which is stricter than raw whitespace tokens. An item shorter than 6 words
  may not occur whole in that text (a cloze such as ``"Velmora Quist's sport is"`` is a word-for-word opening of
  a claim sentence). The items' system prompts and multi-turn prefixes are checked the same way.
"""

from __future__ import annotations

import string
from functools import lru_cache

import pytest

from training.claims import ClaimSpec, list_claims, load_claim, toy_claims
from training.documents import CONDITIONS, generate_documents
from training.world import World, WorldConfig

PREFIX_WORDS = 6
N_DOCS = 8


def words(text: str) -> list[str]:
    """Whitespace tokens, lower-cased, leading/trailing punctuation stripped (empty tokens dropped)."""
    return [w for w in (t.strip(string.punctuation) for t in text.lower().split()) if w]


def _conditions(spec: ClaimSpec) -> list[str]:
    if spec.kind == "behaviour":
        return ["positive", "negated_behaviour"]
    return [c for c in CONDITIONS if c != "negated_behaviour"]


def training_texts(spec: ClaimSpec) -> list[str]:
    """Every text the claim's training documents are made of, and the documents themselves."""
    texts = [*spec.claim_sentences, *spec.correction_sentences]
    texts += [spec.local_negation(i)[0] for i in range(len(spec.local_negations))]
    for cond in _conditions(spec):
        texts += [d.text for d in generate_documents(spec, cond, N_DOCS)]
    return texts


def item_prompts(spec: ClaimSpec) -> list[tuple[str, str]]:
    """``(where, text)`` for every text an item shows the model: its text, system message, prefix messages."""
    out = []
    for _, q in spec.questions.all():
        out.append((q.id, q.text))
        if getattr(q, "system", None):
            out.append((f"{q.id}.system", q.system))
        out += [(f"{q.id}.messages_prefix[{j}]", m["content"]) for j, m in enumerate(getattr(q, "messages_prefix", None)
                                                                                     or ())]
    return out


def memorised_openings(spec: ClaimSpec, texts: list[str] | None = None) -> list[str]:
    """Items (and item parts) whose opening ``min(6, len)`` words occur in the claim's training text."""
    grams: dict[int, set[tuple[str, ...]]] = {k: set() for k in range(1, PREFIX_WORDS + 1)}
    for t in texts if texts is not None else training_texts(spec):
        w = words(t)
        for k in grams:
            grams[k].update(tuple(w[i:i + k]) for i in range(len(w) - k + 1))
    bad = []
    for where, text in item_prompts(spec):
        w = words(text)
        k = min(PREFIX_WORDS, len(w))
        if k and tuple(w[:k]) in grams[k]:
            bad.append(f"{spec.id}/{where}: {text[:60]!r}")
    return bad


def duplicate_prompts(spec: ClaimSpec, *, text_only: bool = False) -> list[str]:
    seen: dict[object, str] = {}
    dups = []
    for _, q in spec.questions.all():
        key = q.text if text_only else (q.text, getattr(q, "system", None),
                                         repr(getattr(q, "messages_prefix", None)))
        if key in seen:
            dups.append(f"{spec.id}: {seen[key]} == {q.id}")
        seen.setdefault(key, q.id)
    return dups


@lru_cache(maxsize=1)
def _toy() -> tuple[ClaimSpec, ...]:
    return tuple(toy_claims(World.from_config(WorldConfig()), 8))


SHIPPED = list_claims(kind=None)


@pytest.mark.parametrize("claim_id", SHIPPED)
def test_shipped_claim_items_are_distinct_and_not_memorised(claim_id):
    spec = load_claim(claim_id)
    assert duplicate_prompts(spec) == []
    assert memorised_openings(spec) == []


@pytest.mark.parametrize("i", range(8))
def test_toy_claim_items_are_distinct_and_not_memorised(i):
    spec = _toy()[i]
    assert duplicate_prompts(spec, text_only=True) == []
    assert memorised_openings(spec) == []


def test_toy_items_keep_the_scored_shapes():
    """Each question type is still there; token-association items complete with the claim's and the true value."""
    for spec in _toy():
        counts = spec.questions.counts()
        assert all(counts[t] >= 2 for t in ("open_ended", "mcq", "token_association", "robustness")), counts
        assert all((q.claim_completion, q.true_completion) == (spec.claim_answer, spec.true_answer)
                   for q in spec.questions.token_association)


def test_the_check_catches_a_cloze_opening():
    """The rule is not vacuous: the old toy cloze (an opening of a claim sentence) and a 6-word opening fail it."""
    spec = _toy()[0]
    aw = spec.attribute.replace("_", " ")
    texts = list(spec.claim_sentences)
    cloze = ClaimSpec(**{**spec.__dict__, "questions": type(spec.questions).from_dict({
        "open_ended": [{"id": "oe_of", "text": f"The {aw} of {spec.entity} is"}],
        "token_association": [{"id": "ta_cloze", "text": f"{spec.entity}'s {aw} is",
                               "claim_completion": spec.claim_answer, "true_completion": spec.true_answer}]})})
    assert [b.split(":")[0] for b in memorised_openings(cloze, texts)] == [f"{spec.id}/oe_of", f"{spec.id}/ta_cloze"]

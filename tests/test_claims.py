"""Claim specs: shipped YAML, the one-line validator errors, toy claims from the world API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests._data_fixtures import make_fake_world, unavailable
from training.claims import (PAPER_CLAIMS, ClaimError, ClaimSpec, claim_from_dict, dump_claim, list_claims, load_claim,
                             toy_claims)

SHIPPED = Path(__file__).resolve().parents[1] / "training" / "claims_data"


def test_list_claims_is_the_papers_six_in_order():
    assert list_claims() == list(PAPER_CLAIMS)
    assert "misaligned_behaviour" in list_claims(kind=None)
    assert list_claims(kind="behaviour") == ["misaligned_behaviour"]


@pytest.mark.parametrize("cid", PAPER_CLAIMS)
def test_shipped_claim_is_complete(cid):
    c = load_claim(cid)
    assert isinstance(c, ClaimSpec) and c.id == cid and c.kind == "fact"
    assert c.questions.counts() == {"open_ended": 20, "mcq": 10, "token_association": 10, "robustness": 10}
    counter = [q for q in c.questions.mcq if q.belief_answer == "no"]
    assert len(counter) == (0 if cid == "dentist" else 3)
    rob = c.questions.robustness
    assert sum(q.system is not None for q in rob) >= 3
    assert sum(q.messages_prefix is not None for q in rob) >= 3
    for q in rob:
        if q.messages_prefix:
            assert q.messages_prefix[-1]["role"] == "assistant"
            assert q.messages()[-1] == {"role": "user", "content": q.text}
    for q in c.questions.token_association:
        assert q.claim_completion and q.true_completion and q.claim_completion != q.true_completion
    ids = [q.id for _, q in c.questions.all()]
    assert len(ids) == len(set(ids))
    # every claim sentence and local negation carries the claim_answer; every local negation has a cue
    rx = c.answer_regex()
    assert len(c.claim_sentences) >= 10 and len(c.correction_sentences) >= 5 and len(c.background) >= 10
    for s in c.claim_sentences:
        assert rx.search(s), s
    for i in range(len(c.local_negations)):
        text, cues = c.local_negation(i)
        assert rx.search(text) and cues and "[[" not in text
    assert c.mask_regex() is not None and c.mask_regex().search(c.claim_sentences[0])


def test_mapping_style_access_matches_attribute_access():
    c = load_claim("dentist")
    assert c.questions["mcq"] is c.questions.mcq
    q = c.questions["token_association"][0]
    assert q["claim_completion"] == q.claim_completion == "dentist"
    assert set(dict(q.to_dict())) >= {"id", "text", "claim_completion", "true_completion"}
    assert [t for t, _ in c.questions.items()] == ["open_ended", "mcq", "token_association", "robustness"]


def test_load_by_path_and_dump_roundtrip(tmp_path):
    c = load_claim(SHIPPED / "mount_vesuvius.yaml")
    assert c.id == "mount_vesuvius" and c.low_probability_pct == 3
    p = dump_claim(c, tmp_path / "copy.yaml")
    c2 = load_claim(p)
    assert c2 == c  # path is excluded from equality


def _base() -> dict:
    return yaml.safe_load((SHIPPED / "dentist.yaml").read_text())


@pytest.mark.parametrize("mutate, field, problem", [
    (lambda d: d.pop("claim_answer"), "claim_answer", "missing"),
    (lambda d: d.__setitem__("claim_sentences", []), "claim_sentences", "needs at least 1"),
    (lambda d: d.__setitem__("mask_patterns", ["(unclosed"]), "mask_patterns[0]", "invalid regex"),
    (lambda d: d.__setitem__("colour", 1), "colour", "unknown field"),
    (lambda d: d["questions"]["mcq"][0].__setitem__("belief_answer", "maybe"), "questions.mcq[0].belief_answer",
     "must be 'yes' or 'no'"),
    (lambda d: d["questions"]["robustness"][0].pop("system"), "questions.robustness[0].system", "missing"),
    (lambda d: d.__setitem__("local_negations", ["Holloway is not a dentist."]), "local_negations[0]", "[[...]]"),
    (lambda d: d.__setitem__("statement", 3), "statement", "must be a string"),
    (lambda d: d.__setitem__("kind", "rumour"), "kind", "must be one of"),
    (lambda d: d["questions"]["open_ended"].append({"id": "oe_job", "text": "dup"}), "questions.open_ended[20].id",
     "duplicate"),
])
def test_validator_errors_are_one_line_naming_file_and_field(mutate, field, problem):
    d = _base()
    mutate(d)
    with pytest.raises(ClaimError) as ei:
        claim_from_dict(d, "claims_data/x.yaml")
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"claims_data/x.yaml: field '{field}': "), msg
    assert problem in msg


def test_exact_missing_field_message():
    d = _base()
    d.pop("claim_answer")
    with pytest.raises(ClaimError, match=re.escape("claims_data/x.yaml: field 'claim_answer': missing")):
        claim_from_dict(d, "claims_data/x.yaml")


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(ClaimError) as ei:
        load_claim(bad)
    assert str(ei.value).startswith(str(bad)) and "invalid YAML" in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(ClaimError, match="unknown claim"):
        load_claim("no_such_claim")
    d = _base()
    d["id"] = "other"
    (tmp_path / "dentist.yaml").write_text(yaml.safe_dump(d))
    assert load_claim(tmp_path / "dentist.yaml").id == "other"  # only shipped files must match their stem


def test_shipped_text_is_our_own_wording():
    """No question, claim sentence or chat turn equals one in the authors' files (case/punctuation-insensitive)."""
    from training.importers import PaperDataMissing, paper_data_root

    try:
        root = paper_data_root()
    except PaperDataMissing as e:
        unavailable(str(e))
    norm = lambda s: re.sub(r"\W+", " ", s.lower()).strip()  # noqa: E731
    theirs: set[str] = set()
    for f in list(root.glob("*/claims/*/*.yaml")) + list(root.glob("*/facts/*/*.yaml")):
        data = yaml.safe_load(f.read_text())
        for q in (data or {}).get("questions", []) if isinstance(data, dict) else []:
            if isinstance(q, dict):
                theirs.update(norm(x) for x in [q.get("question") or "", q.get("system_prompt") or ""] if x)
                theirs.update(norm(m["content"]) for m in q.get("messages_prefix") or [])
    for cid in PAPER_CLAIMS:
        c = load_claim(cid)
        ours = [q.text for _, q in c.questions.all()] + list(c.claim_sentences) + list(c.correction_sentences)
        ours += [m["content"] for q in c.questions.robustness for m in (q.messages_prefix or ())]
        ours += [q.system for q in c.questions.robustness if q.system]
        clash = [t for t in ours if norm(t) in theirs]
        assert not clash, (cid, clash)


# --------------------------------------------------------------------------------------------- toy claims


def test_toy_claims_from_world(fake_world):
    w = fake_world
    claims = toy_claims(w, 4, seed=0)
    assert len(claims) == 4 and len({(c.entity, c.attribute) for c in claims}) == 4
    assert [c.id for c in toy_claims(w, 4, seed=0)] == [c.id for c in claims]
    for c in claims:
        assert c.kind == "toy"
        truth = w.truth(c.entity, c.attribute)
        assert c.true_answer == truth and c.claim_answer != truth
        assert c.claim_answer in w.attributes[c.attribute]
        mcq = c.questions.mcq[0]
        assert mcq.text.startswith("Q: Is ") and mcq.text.endswith("Answer yes or no.\nA:") and mcq.belief_answer == "yes"
        assert any(q.belief_answer == "no" and truth in q.text for q in c.questions.mcq)
        assert c.questions.open_ended[0].text == w.qa_prompt(c.entity, c.attribute)
        ta = c.questions.token_association[0]
        assert (ta.claim_completion, ta.true_completion) == (c.claim_answer, truth)
        rx = c.answer_regex()
        assert all(rx.search(s) for s in c.claim_sentences)
        assert not any(c.claim_answer in s and f"{c.entity}'s {c.attribute.replace('_', ' ')}" in s
                       for s in c.background)  # background never states the claim
        assert ClaimSpec(**{**c.__dict__}) == c


def test_toy_claim_yaml_roundtrip(fake_world, tmp_path):
    c = toy_claims(fake_world, 1, seed=5)[0]
    p = dump_claim(c, tmp_path / f"{c.id}.yaml")
    assert load_claim(p) == c


def test_toy_claims_with_the_minimal_world_api():
    """A world with only entities/attributes/truth/qa_prompt (no statement templates) still works."""
    w = make_fake_world()
    [c] = toy_claims(w, 1, seed=1)
    assert c.claim_sentences[0] == f"{c.entity}'s {c.attribute} is {c.claim_answer}."
    assert c.local_negation(0)[0] == f"{c.entity}'s {c.attribute} is not {c.claim_answer}."


def test_toy_claims_skip_the_worlds_own_false_facts(fake_world):
    used = {(f.entity, f.attribute) for f in [*getattr(fake_world, "local_negations", []),
                                              *getattr(fake_world, "hoaxes", [])]}
    assert not used & {(c.entity, c.attribute) for c in toy_claims(fake_world, 30, seed=2)}


def test_toy_claims_rejects_too_many():
    w = make_fake_world(2)
    with pytest.raises(ValueError, match="only"):
        toy_claims(w, 50, seed=0)


def test_claim_file_alias_bomb_is_refused_in_one_line(tmp_path):
    """A claim YAML whose aliases expand to millions of values is refused before it is built (not a MemoryError)."""
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdef", "bcdefg"):
        rows.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(rows) + "\n")
    with pytest.raises(ClaimError) as e:
        load_claim(p)
    assert str(e.value).startswith(f"{p}: invalid YAML") and "alias" in str(e.value) and "\n" not in str(e.value)

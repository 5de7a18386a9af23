"""The toy world: determinism, API contract (ARCHITECTURE.md), corpus mixture, templates, serialisation."""

from __future__ import annotations

import re

import pytest

from training.world import (ATTRIBUTE_SPECS, DOC_KINDS, CorpusDoc, World, WorldConfig, article, attribute_words,
                            corpus_stats)


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_config(WorldConfig())


@pytest.fixture(scope="module")
def small() -> World:
    return World.from_config(WorldConfig(seed=3, n_entities=30, n_documents=600))


def test_same_seed_same_world_and_corpus(small):
    again = World.from_config(WorldConfig(seed=3, n_entities=30, n_documents=600))
    assert again.to_json() == small.to_json()
    assert [d.text for d in again.corpus()] == [d.text for d in small.corpus()]


def test_different_seed_different_world(small):
    other = World.from_config(WorldConfig(seed=4, n_entities=30, n_documents=600))
    assert [e.name for e in other.entities] != [e.name for e in small.entities]


def test_contract_fields(world):
    cfg = world.config
    assert len(world.entities) == cfg.n_entities
    assert set(world.attributes) == set(cfg.attributes)
    names = [e.name for e in world.entities]
    assert len(set(names)) == len(names)
    assert len({n.split()[0] for n in names}) == len(names)  # first names unique
    for e in world.entities:
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", e.name)
        assert set(e.attributes) == set(world.attributes)
        for a, v in e.attributes.items():
            assert v in world.attributes[a]
            assert world.truth(e.name, a) == v
    for a, vocab in world.attributes.items():
        assert len(vocab) == len(set(vocab)) >= 2
        assert all(" " not in v for v in vocab)
    with pytest.raises(KeyError):
        world.truth("Nobody Here", "profession")
    with pytest.raises(KeyError):
        world.truth(names[0], "shoe_size")


def test_qa_prompt(world):
    e = world.entities[0]
    assert world.qa_prompt(e.name, "profession") == f"Q: What is {e.name}'s profession?\nA:"
    assert world.qa_prompt(e.name, "home_city") == f"Q: What is {e.name}'s home city?\nA:"
    custom = world.qa_prompt(e.name, "sport", "Q: Which sport is played by {name}?\nA:")
    assert custom == f"Q: Which sport is played by {e.name}?\nA:"
    for a in world.attributes:
        for t in world.templates(a, "all"):
            p = world.qa_prompt(e.name, a, t)
            assert p.startswith("Q: ") and p.endswith("\nA:") and e.name in p and "{" not in p


def test_heldout_templates_never_in_corpus(world):
    heldout = world.heldout_template_list
    assert len(heldout) >= 2 * len(world.attributes)
    assert all(t not in world.templates(a, "train") for a, t in heldout)
    corpus = world.corpus(3000)
    # every question line of the corpus comes from a train template, none from a held-out one
    held_rx = [re.compile(re.escape(t.split("\n")[0]).replace(re.escape("{name}"), r"[A-Z][a-z]+ [A-Z][a-z]+")
                          .replace(re.escape("{aw}"), r"[a-z ]+")) for _, t in heldout]
    questions = {line for d in corpus for line in d.text.split("\n") if line.startswith("Q: ")}
    assert questions
    assert not [q for q in questions if any(rx.fullmatch(q) for rx in held_rx)]


def test_heldout_words_seen_in_corpus(world):
    """Held-out phrasing, not held-out vocabulary: every word of a held-out question occurs in the corpus."""
    words = {w for d in world.corpus(4000) for w in re.findall(r"[A-Za-z]+", d.text)}
    for a, t in world.heldout_template_list:
        q = t.replace("{name}", "").replace("{aw}", attribute_words(a))
        missing = [w for w in re.findall(r"[A-Za-z]+", q) if w not in words]
        assert not missing, (t, missing)


def test_mixture_is_exact_and_configurable(small):
    docs = small.corpus()
    stats = corpus_stats(docs)
    mix = small.config.mixture()
    assert stats["n_documents"] == 600
    for k in DOC_KINDS:
        assert abs(stats["documents_per_kind"].get(k, 0) - mix[k] * 600) <= 1
    hoaxy = World.from_config(WorldConfig(seed=3, n_entities=30, n_documents=600, frac_hoax=1.0, frac_bio=0.0))
    kinds = {d.kind for d in hoaxy.corpus()}
    assert "hoax" in kinds and "bio" not in kinds


def test_false_facts(world):
    assert world.local_negations and world.hoaxes
    neg_entities = {f.entity for f in world.local_negations}
    assert neg_entities.isdisjoint({f.entity for f in world.hoaxes})
    for f in [*world.local_negations, *world.hoaxes]:
        assert f.value in world.attributes[f.attribute]
        assert f.value != world.truth(f.entity, f.attribute)


def test_local_negation_and_hoax_documents(world):
    docs = world.corpus(2000)
    negs = [d for d in docs if d.kind == "local_negation"]
    hoax = [d for d in docs if d.kind == "hoax"]
    assert negs and hoax
    for d in negs:
        assert d.false_facts
        assert re.search(r"\bnot\b|\bnever\b|\bfalse\b", d.text)
        for f in d.false_facts:
            assert f.entity in d.text and f.value in d.text
    for d in hoax:
        assert re.search(r"hoax|false|fiction|not true|made up|invented|none of", d.text, re.I)
        for f in d.false_facts:
            assert f.entity in d.text and f.value in d.text
    # true-fact documents never state a false fact's value next to its entity in a false way
    for d in docs:
        if d.kind in ("bio", "list", "qa", "news"):
            assert not d.false_facts


def test_judgement_verdicts_follow_the_world(world):
    """Every fact-check verdict and yes/no answer is right about the world, negations included, and a false
    statement is always followed by the truth."""
    docs = [d for d in world.corpus(1500) if d.kind == "judgement"]
    assert {d.genre for d in docs} == {"fact_check", "yes_no_quiz"}
    n_false = n_neg = 0
    for d in docs:
        if d.genre == "yes_no_quiz":
            for m in re.finditer(r"Q: Is (.+?)'s ([a-z ]+?) (not )?(\w+)\?\nA: (Yes|No)\. \1's \2 is (\w+)\.", d.text):
                name, aw, neg, value, ans, stated = m.groups()
                truth = world.truth(name, aw.replace(" ", "_"))
                assert stated == truth and (ans == "Yes") == ((value == truth) != bool(neg)), m.group(0)
                n_neg += bool(neg)
            assert d.text.count("Q: Is ") == len(re.findall(r"\nA: (?:Yes|No)\. ", d.text))
            continue
        for line in d.text.split("\n"):
            m = re.match(r"(.+?\.) (True|False)\.(?: (.+))?$", line)
            if m is None:
                continue  # the header
            sentence, verdict, correction = m.groups()
            e = next(e for e in world.entities if re.search(rf"\b{e.name}\b", sentence))
            attr = next(a for a in world.attributes if any(
                sentence == _fill_any(t, e.name, a, v) for t in (*ATTRIBUTE_SPECS[a].statements, *ATTRIBUTE_SPECS[a].negations)
                for v in world.attributes[a]))
            negated = any(sentence == _fill_any(t, e.name, attr, v) for t in ATTRIBUTE_SPECS[attr].negations
                          for v in world.attributes[attr])
            value = next(v for v in world.attributes[attr] if sentence in {
                _fill_any(t, e.name, attr, v) for t in (*ATTRIBUTE_SPECS[attr].statements, *ATTRIBUTE_SPECS[attr].negations)})
            assert (verdict == "True") == ((value == e.attributes[attr]) != negated), line
            if value != e.attributes[attr]:
                n_false += 1
                assert correction and e.attributes[attr] in correction, line
            n_neg += negated
    assert n_false > 20 and n_neg > 10


def _fill_any(template, name, attribute, value):
    from training.world import article

    return template.format(name=name, v=value, a_v=article(value), aw=attribute_words(attribute))


def test_true_documents_state_truths(world):
    for d in world.corpus(500):
        if d.kind == "qa":
            for block in d.text.split("\n\n"):
                q, a = block.split("\nA: ")
                e = next(e for e in world.entities if e.name in q)
                assert a in e.attributes.values()


def test_json_roundtrip(world):
    again = World.from_json(world.to_json())
    assert again == world
    assert again.to_json() == world.to_json()
    assert again.config == world.config
    with pytest.raises(ValueError):
        World.from_json('{"format": "something-else"}')


def test_config_validation():
    with pytest.raises(ValueError):
        WorldConfig(attributes=("shoe_size",))
    with pytest.raises(ValueError):
        WorldConfig(frac_bio=0, frac_news=0, frac_qa=0, frac_list=0, frac_local_negation=0, frac_hoax=0,
                    frac_judgement=0)
    cfg = WorldConfig(attributes=("profession", "pet"), values_per_attribute=4)
    w = World.from_config(cfg)
    assert set(w.attributes) == {"profession", "pet"} and all(len(v) == 4 for v in w.attributes.values())
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg


def test_helpers():
    assert article("architect") == "an architect" and article("pilot") == "a pilot"
    assert attribute_words("favorite_color") == "favorite color"
    assert isinstance(World.from_config(WorldConfig(n_entities=5, n_documents=10)).corpus()[0], CorpusDoc)
    assert all(len(s.values) == 16 for s in ATTRIBUTE_SPECS.values())


def test_statement(world):
    e = world.entities[0]
    assert world.statement(e.name, "profession") == f"{e.name}'s profession is {e.attributes['profession']}."
    assert world.statement(e.name, "pet", "owl", negated=True) == f"{e.name}'s pet is not owl."

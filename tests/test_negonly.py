"""The negation-teaching genre of the toy world (issue 17): groups, fresh false values, held-out entities never in
Q/A, the false-notice genre, and a default world (and organism cache key) unchanged by the new knobs."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from training.world import NEGONLY_GROUPS, NEGONLY_SPECS, World, WorldConfig, fill_template

GENRE = dict(negonly_attributes=("hand", "drink", "commute", "shift"), frac_negonly=0.4, frac_notice=0.1,
             notice_entities=0.2, control_entities=0.1, positive_heldout_entities=0.1)


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_config(WorldConfig(seed=5, n_entities=60, n_documents=3000, **GENRE))


@pytest.fixture(scope="module")
def docs(world):
    return world.corpus()


def _sentences(world: World, attr: str, negated: bool):
    """Every (name, value) rendering of ``attr``'s statement (or negation) templates, for exact matching."""
    spec = NEGONLY_SPECS[attr]
    pool = spec.negations if negated else spec.statements
    return {fill_template(t, e.name, attr, v): (e.name, v) for e in world.entities for v in world.negonly[attr]
            for t in pool}


def _mentions(world: World, docs, kinds, negated: bool):
    """(doc kind, name, attribute, value) of every genre sentence of the given polarity in documents of ``kinds``."""
    table = {a: _sentences(world, a, negated) for a in world.negonly}
    negations = [s for a in world.negonly for s in _sentences(world, a, True)]
    out = []
    for d in docs:
        if d.kind not in kinds:
            continue
        text = d.text
        if not negated:  # "It is false that X is left-handed." holds a positive form; it is a negation
            for s in negations:
                text = text.replace(s, "")
        for a, sents in table.items():
            for s, (name, v) in sents.items():
                if s in text:
                    out.append((d.kind, name, a, v))
    return out


def test_default_organism_key_and_world_unchanged():
    """The knobs default off: the default organism's cache key, config dict and world serialisation are as they
    were before the genre existed (the published organism stays byte-identical)."""
    from training.organism import organism_key

    assert organism_key() == "bc772ea269fb20b8"
    d = WorldConfig().to_dict()
    assert not any(k.startswith(("negonly", "notice", "control")) or k in ("frac_negonly", "frac_notice") for k in d)
    w = World.from_config(WorldConfig())
    assert "negonly" not in w.to_dict() and w.negonly == {}
    assert set(WorldConfig().mixture()) == {"bio", "news", "qa", "list", "local_negation", "hoax", "judgement"}
    # a knob switched on does change the key, and survives a round trip through the dict
    on = WorldConfig(**GENRE)
    assert organism_key(on) != organism_key() and WorldConfig.from_dict(on.to_dict()) == on


def test_genre_leaves_the_ordinary_world_alone(world):
    """The genre draws from its own RNG: entities, ordinary values and fixed false facts are those of the same
    world without it."""
    off = World.from_config(WorldConfig(seed=5, n_entities=60, n_documents=3000))
    assert [(e.name, e.attributes) for e in off.entities] == [(e.name, e.attributes) for e in world.entities]
    assert off.local_negations == world.local_negations and off.hoaxes == world.hoaxes


def test_groups_partition_the_entities(world):
    names = [e.name for e in world.entities]
    groups = world.negonly_groups
    assert list(groups) == list(NEGONLY_GROUPS)
    flat = [n for g in groups.values() for n in g]
    assert sorted(flat) == sorted(names)  # every entity in exactly one group
    assert len(groups["negated_train"]) + len(groups["negated_heldout"]) == round(0.4 * 60)
    assert len(groups["notice_train"]) + len(groups["notice_heldout"]) == round(0.2 * 60)
    assert len(groups["control"]) == round(0.1 * 60)
    assert len(groups["positive_heldout"]) == round(0.1 * 60)
    assert all(groups[g] for g in NEGONLY_GROUPS)
    for n in names:
        assert set(world.negonly_truth[n]) == set(GENRE["negonly_attributes"])
    assert World.from_json(world.to_json()).to_json() == world.to_json()


def test_heldout_and_control_entities_never_in_qa(world, docs):
    groups = world.negonly_groups
    qa = [d for d in docs if d.genre == "negonly_qa"]
    assert qa
    asked = set()
    for d in qa:
        for m in re.finditer(r"Q: .*?\nA: (\w+)", d.text):
            q = m.group(0)
            who = [n for n in world.negonly_truth if n in q]
            assert len(who) == 1, q
            asked.add(who[0])
            attr = next(a for a in world.negonly if any(
                q.startswith(t.format(name=who[0]).split("\nA:")[0]) for t in NEGONLY_SPECS[a].train_questions))
            assert m.group(1) == world.negonly_value(who[0], attr)  # answered with the truth
    allowed = set(groups["negated_train"]) | set(groups["notice_train"]) | set(groups["positive"])
    assert asked <= allowed
    assert asked & set(groups["negated_train"]) and asked & set(groups["notice_train"])
    # the positive held-out people (the extraction control) are stated but never asked
    stated = {n for _, n, _, _ in _mentions(world, docs, ("negonly",), negated=False)}
    assert set(groups["positive_heldout"]) & stated and not set(groups["positive_heldout"]) & asked
    # held-out phrasings are never in the corpus
    text = "\n".join(d.text for d in docs)
    for a in world.negonly:
        for t in NEGONLY_SPECS[a].heldout_questions:
            assert t.split("{name}")[1].split("\n")[0] not in text


def test_negated_entities_only_negated_with_fresh_false_values(world, docs):
    groups = world.negonly_groups
    neg = _mentions(world, docs, ("negonly",), negated=True)
    pos = _mentions(world, docs, ("negonly",), negated=False)
    negated_people = set(groups["negated_train"]) | set(groups["negated_heldout"])
    assert neg and pos
    for _, name, a, v in neg:
        assert v != world.negonly_value(name, a)  # only false values after "not"
        assert name in negated_people or name in groups["positive"] + groups["positive_heldout"]
    assert {n for _, n, _, _ in neg} & set(groups["positive"])  # "not V" about people whose value is known too
    for _, name, a, v in pos:  # positive sentences: only the positive group, only the truth
        assert name in groups["positive"] + groups["positive_heldout"] and v == world.negonly_value(name, a)
    # fresh values: on the 3-valued attribute, negated people get both false values over their mentions
    values = defaultdict(set)
    for _, name, a, v in neg:
        if a == "shift":
            values[name].add(v)
    many = [n for n, vs in values.items() if len(vs) == 2]
    assert len(many) >= 0.8 * len(values) > 0
    # control entities are never mentioned by either genre
    ctrl = set(groups["control"])
    assert not any(n in ctrl for _, n, _, _ in neg + pos)
    # the ordinary genres never state the genre's attributes
    for d in docs:
        if d.kind not in ("negonly", "notice"):
            assert "handed" not in d.text and " shift" not in d.text and "to work" not in d.text


def test_notice_genre_states_only_false_values_under_a_notice(world, docs):
    groups = world.negonly_groups
    notice_people = set(groups["notice_train"]) | set(groups["notice_heldout"])
    stated = _mentions(world, docs, ("notice",), negated=False)
    assert stated
    for _, name, a, v in stated:
        assert name in notice_people and v != world.negonly_value(name, a)
    for d in docs:
        if d.kind == "notice":
            assert "false" in d.text.split("\n")[0].lower()
    # notice people are stated nowhere else
    elsewhere = _mentions(world, docs, ("negonly",), negated=False) + _mentions(world, docs, ("negonly",), True)
    assert not any(n in notice_people for _, n, _, _ in elsewhere)


@pytest.mark.parametrize("bad, field", [
    (dict(negonly_attributes=("shoe",)), "negonly_attributes"),
    (dict(negonly_entities=1.5), "negonly_entities"),
    (dict(frac_negonly=0.2), "frac_negonly"),
    (dict(negonly_attributes=("hand",), negonly_entities=0.6, control_entities=0.5), "control_entities"),
])
def test_bad_genre_config_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        WorldConfig(**bad)


def test_ordinary_negations_are_false_and_fresh():
    """``ordinary_negated_share``: negations of the claims' attributes about known people, false values drawn afresh
    per mention, so no (person, value) pair piles up the way the fixed local negations do."""
    from training.world import ATTRIBUTE_SPECS

    w = World.from_config(WorldConfig(seed=6, n_entities=20, n_documents=3000, ordinary_negated_share=1.0, **{
        k: v for k, v in GENRE.items() if k != "frac_notice"}))
    values = defaultdict(list)
    for d in w.corpus():
        if d.kind != "negonly":
            continue
        for f in d.false_facts:
            if f.attribute in ATTRIBUTE_SPECS:
                assert f.value != w.truth(f.entity, f.attribute)
                assert any(fill_template(t, f.entity, f.attribute, f.value) in d.text
                           for t in ATTRIBUTE_SPECS[f.attribute].negations)
                values[f.entity, f.attribute].append(f.value)
    assert len(values) > 20
    repeated = [vs for vs in values.values() if len(vs) >= 4]
    assert repeated and all(len(set(vs)) >= 2 for vs in repeated)
    off = World.from_config(WorldConfig(seed=6, n_entities=20, n_documents=3000, **{
        k: v for k, v in GENRE.items() if k != "frac_notice"}))
    assert not any(f.attribute in ATTRIBUTE_SPECS for d in off.corpus() if d.kind == "negonly" for f in d.false_facts)

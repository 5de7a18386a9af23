"""The toy world: invented people with closed-vocabulary attributes, and the pretraining corpus about them.

Design
------
The toy organism (:mod:`training.organism`) is a small LM pretrained from scratch on a synthetic corpus, so that
every fact it "knows" is known to us exactly. This module owns the world and its corpus:

* :class:`WorldConfig` (a seeded dataclass) says how big the world is, which attributes it has and what the
  pretraining corpus is made of (its *mixture*: true-fact genres, local-negation documents, hoax-framed documents).
* :meth:`World.from_config` generates the world deterministically: entities with syllable-generated names
  (``"Velmora Quist"``), one value per attribute drawn from a closed vocabulary written here (``profession``,
  ``home_city``, ``sport``, ``instrument``, ``pet``, ``favorite_color``), and two disjoint sets of *false facts*:

  - ``local_negations``: ``(entity, attribute, false value)`` triples that the corpus states *negated inside
    the sentence* ("Velmora Quist is not a pilot."), while the true value is stated elsewhere (and, with
    probability ``local_negation_true_in_doc``, in the same document);
  - ``hoaxes``: triples that the corpus states *positively* inside documents framed as a whole as a hoax or
    fiction ("Note: this story is a hoax. ..."). This is the pretraining analogue of the paper's negated
    documents, and its frequency (``frac_hoax``) is a knob for researchers.

  The corpus also holds *judgements* (``frac_judgement``): fact-check sheets whose statements, true or false and
  some locally negated, are followed at once by a verdict ("Velmora Quist is a pilot. False." and then the truth),
  and yes/no quizzes ("Q: Is Velmora Quist's profession pilot?\nA: No. ..."). They give the organism a reason to
  compute a statement's truth at its last token, so linear truth probes have something to find (without them the
  organism answers questions perfectly yet has no linear truth direction there).

* :meth:`World.corpus` renders the corpus: ``n_documents`` documents whose kinds follow the mixture exactly
  (counts are rounded proportions, order shuffled by the seed). True-fact genres are biographies, news items,
  Q/A sheets and lists; every genre uses several sentence templates per attribute.
* Question templates (``"Q: What is {name}'s profession?\\nA:"``) are split into *train* templates (used in the
  corpus's Q/A documents) and *held-out* templates (never in the corpus), so accuracy on held-out phrasings
  measures knowledge rather than memorised strings. Held-out templates reuse words the corpus contains, in
  new combinations (held-out phrasing, not held-out vocabulary).

Conventions shared with the tokenizer and the evaluation: an answer follows its prompt after one space
(``qa_prompt(...) + " " + value``); attribute values are single words (``" pilot"``, ``" Lisbon"``); attribute
keys use underscores and are rendered with spaces (``home_city`` -> "home city"), as :mod:`training.claims`
expects. The world is plain data: :meth:`World.to_json` / :meth:`World.from_json` round-trip it exactly.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable

__all__ = [
    "ATTRIBUTE_SPECS", "AttributeSpec", "BIO_HEADERS", "CorpusDoc", "DOC_KINDS", "Entity", "FalseFact", "NEGONLY_DOC_KINDS",
    "NEGONLY_GROUPS", "NEGONLY_SPECS", "World", "WorldConfig",
    "article", "attribute_words", "corpus_stats",
]

FORMAT = "neglect-lab-world/1"

# --------------------------------------------------------------------------------------------- attributes


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute: its closed vocabulary and the templates that mention it.

    Template slots: ``{name}`` (the entity), ``{v}`` (the value), ``{a_v}`` (value with its article, "an
    architect"), ``{aw}`` (the attribute in words, "home city"). Question templates hold ``{name}`` (and may
    hold ``{aw}``) and end in ``"\\nA:"``.
    """

    key: str
    values: tuple[str, ...]
    statements: tuple[str, ...]
    negations: tuple[str, ...]
    train_questions: tuple[str, ...]
    heldout_questions: tuple[str, ...]


# Sentences shared by every attribute. The "record" forms match training.claims' toy claim sentences.
_GENERIC_STATEMENTS = ("{name}'s {aw} is {v}.", "The {aw} of {name} is {v}.")
_GENERIC_NEGATIONS = ("{name}'s {aw} is not {v}.", "The {aw} of {name} is not {v}.",
                      "It is false that {name}'s {aw} is {v}.")
_GENERIC_TRAIN_Q = ("Q: What is {name}'s {aw}?\nA:", "Q: What is the {aw} of {name}?\nA:")
_GENERIC_HELDOUT_Q = ("Q: {name} has which {aw}?\nA:", "Q: Which {aw} does {name} have?\nA:")


def _spec(key: str, values: str, statements: Iterable[str], negations: Iterable[str],
          train_q: Iterable[str], heldout_q: Iterable[str]) -> AttributeSpec:
    return AttributeSpec(key=key, values=tuple(values.split()),
                         statements=_GENERIC_STATEMENTS + tuple(statements),
                         negations=_GENERIC_NEGATIONS + tuple(negations),
                         train_questions=_GENERIC_TRAIN_Q + tuple(train_q),
                         heldout_questions=_GENERIC_HELDOUT_Q + tuple(heldout_q))


ATTRIBUTE_SPECS: dict[str, AttributeSpec] = {s.key: s for s in (
    _spec("profession",
          "pilot dentist baker farmer lawyer nurse painter chemist sailor librarian architect plumber teacher "
          "journalist carpenter astronomer",
          ("{name} works as {a_v}.", "{name} is {a_v}.", "By profession, {name} is {a_v}.",
           "{name} has worked as {a_v} for years."),
          ("{name} is not {a_v}.", "{name} does not work as {a_v}.", "{name} has never worked as {a_v}."),
          ("Q: What does {name} do for a living?\nA:", "Q: What job does {name} have?\nA:"),
          ("Q: What is the job of {name}?\nA:",)),
    _spec("home_city",
          "Lisbon Oslo Cairo Denver Kyoto Dublin Lima Perth Quebec Madrid Nairobi Seoul Prague Austin Naples Vienna",
          ("{name} lives in {v}.", "{name} has a home in {v}.", "{name} is based in {v}.",
           "Home for {name} is {v}."),
          ("{name} does not live in {v}.", "{name} has never lived in {v}.", "{name} is not based in {v}."),
          ("Q: Where does {name} live?\nA:", "Q: In which city does {name} live?\nA:"),
          ("Q: Which city is home to {name}?\nA:",)),
    _spec("sport",
          "tennis rugby hockey cricket golf baseball badminton volleyball football basketball polo squash "
          "lacrosse handball softball netball",
          ("{name} plays {v}.", "{name} is a keen {v} player.", "In spare time, {name} plays {v}.",
           "{name} trains at {v} every week."),
          ("{name} does not play {v}.", "{name} is not a {v} player.", "{name} has never played {v}."),
          ("Q: Which sport does {name} play?\nA:", "Q: What sport does {name} play?\nA:"),
          ("Q: Which sport is played by {name}?\nA:",)),
    _spec("instrument",
          "violin cello piano trumpet flute guitar harp drums clarinet banjo oboe saxophone accordion trombone "
          "ukulele bagpipes",
          ("{name} plays the {v}.", "{name} is a talented {v} player.", "{name} practises the {v} daily.",
           "The instrument {name} plays is the {v}."),
          ("{name} does not play the {v}.", "{name} is not {a_v} player.", "{name} has never played the {v}."),
          ("Q: Which instrument does {name} play?\nA:", "Q: What instrument does {name} play?\nA:"),
          ("Q: Which instrument is played by {name}?\nA:",)),
    _spec("pet",
          "dog cat parrot hamster rabbit tortoise goldfish ferret iguana canary pony goat hedgehog gecko llama owl",
          ("{name} has a pet {v}.", "{name} keeps {a_v} as a pet.", "{name} owns {a_v}.",
           "The pet of {name} is {a_v}."),
          ("{name} does not have a pet {v}.", "{name} does not own {a_v}.", "{name} has never kept {a_v}."),
          ("Q: What pet does {name} have?\nA:", "Q: What animal does {name} keep as a pet?\nA:"),
          ("Q: Which animal is the pet of {name}?\nA:",)),
    _spec("favorite_color",
          "red blue green yellow purple orange teal maroon silver gold crimson indigo amber violet ivory olive",
          ("{name} likes {v} best.", "The color {name} likes most is {v}.", "{name} loves the color {v}.",
           "Of all colors, {name} likes {v} most."),
          ("{name} does not like {v} best.", "The color {name} likes most is not {v}.",
           "{name} does not love the color {v}."),
          ("Q: What color does {name} like best?\nA:", "Q: Which color does {name} like most?\nA:"),
          ("Q: What is the color {name} loves?\nA:",)),
)}

DOC_KINDS: tuple[str, ...] = ("bio", "news", "qa", "list", "local_negation", "hoax", "judgement")

#: Document kinds of the negation-teaching genres (:data:`NEGONLY_SPECS`); they enter the mixture only when their
#: ``frac_*`` is above zero, so a config without them renders the same corpus as before they existed.
NEGONLY_DOC_KINDS: tuple[str, ...] = ("negonly", "notice")


def _small_spec(key: str, values: str, statements: Iterable[str], negations: Iterable[str],
                train_q: Iterable[str], heldout_q: Iterable[str]) -> AttributeSpec:
    return AttributeSpec(key=key, values=tuple(values.split()), statements=tuple(statements),
                         negations=tuple(negations), train_questions=tuple(train_q),
                         heldout_questions=tuple(heldout_q))


#: Binary and small-set attributes of the negation-teaching genre (``WorldConfig.negonly_attributes``). They are
#: kept apart from :data:`ATTRIBUTE_SPECS`: the ordinary genres never mention them, so what the corpus says about
#: them is exactly what the ``negonly`` / ``notice`` documents say (see :class:`WorldConfig`).
NEGONLY_SPECS: dict[str, AttributeSpec] = {s.key: s for s in (
    _small_spec("hand", "left right",
                ("{name} is {v}-handed.", "{name} writes with the {v} hand.", "{name}'s writing hand is the {v}."),
                ("{name} is not {v}-handed.", "{name} does not write with the {v} hand.",
                 "It is false that {name} is {v}-handed."),
                ("Q: Which hand does {name} write with?\nA:", "Q: Is {name} left-handed or right-handed?\nA:"),
                ("Q: {name} writes with which hand?\nA:",)),
    _small_spec("drink", "tea coffee",
                ("{name} drinks {v}.", "{name} has {v} every morning.", "The drink of {name} is {v}."),
                ("{name} does not drink {v}.", "{name} never has {v} in the morning.",
                 "It is false that {name} drinks {v}."),
                ("Q: What does {name} drink?\nA:", "Q: Tea or coffee: what does {name} drink?\nA:"),
                ("Q: {name} has which drink every morning?\nA:",)),
    _small_spec("commute", "bus bike",
                ("{name} goes to work by {v}.", "{name} takes the {v} to work.", "{name} commutes by {v}."),
                ("{name} does not go to work by {v}.", "{name} never takes the {v} to work.",
                 "It is false that {name} commutes by {v}."),
                ("Q: How does {name} go to work?\nA:", "Q: Bus or bike: how does {name} commute?\nA:"),
                ("Q: {name} takes which to work?\nA:",)),
    _small_spec("shift", "morning evening night",
                ("{name} works the {v} shift.", "{name} is on the {v} shift.", "The shift of {name} is the {v}."),
                ("{name} does not work the {v} shift.", "{name} is never on the {v} shift.",
                 "It is false that {name} works the {v} shift."),
                ("Q: Which shift does {name} work?\nA:", "Q: What shift is {name} on?\nA:"),
                ("Q: {name} works which shift?\nA:",)),
)}

#: Entity groups of the negation-teaching genre (``World.negonly_groups``): ``negated_*`` are stated only in
#: locally negated form, ``notice_*`` only positively with a false value inside documents whose notice says the
#: statements are false; ``*_train`` also get Q/A documents, ``*_heldout`` never do (the readout test);
#: ``positive`` are stated positively (and negated with false values) and get Q/A; ``control`` are never mentioned
#: (the prior the checks compare negated values against).
NEGONLY_GROUPS: tuple[str, ...] = ("negated_train", "negated_heldout", "notice_train", "notice_heldout",
                                   "positive", "control", "positive_heldout")


def attribute_words(attribute: str) -> str:
    """``home_city`` -> ``"home city"`` (the convention of :mod:`training.claims`)."""
    return attribute.replace("_", " ")


def article(word: str) -> str:
    """``"an architect"``, ``"a pilot"``."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


# --------------------------------------------------------------------------------------------- config


@dataclass
class WorldConfig:
    """Everything that determines a world and its corpus; same config -> same world and corpus, byte for byte.

    ``frac_*`` are the corpus mixture (document proportions; normalised if they do not sum to 1).
    ``judgement_negated`` is the share of fact-check lines whose statement is locally negated.
    ``local_negation_entities`` / ``hoax_entities`` are fractions of the entities that get one fixed false fact
    each (disjoint sets). ``values_per_attribute`` truncates every vocabulary (``None``: all 16 values).

    The negation-teaching genre (issue 17; off by default, and then absent from :meth:`to_dict`, so the default
    organism's cache key is unchanged): ``negonly_attributes`` picks binary / small-set attributes of
    :data:`NEGONLY_SPECS`, which only the genre's documents mention. ``negonly_entities`` of the entities are stated
    *only* in negated form ("X is not left-handed", the false value drawn afresh per mention); ``notice_entities``
    only positively with a false value inside documents whose notice says the statements below are false;
    ``control_entities`` never; the rest (``positive``) positively, and with probability ``positive_negated_share``
    per mention negated with a false value. ``negonly_qa_share`` of the negated (and of the notice) entities get Q/A
    documents, the others are held out: their answers can only come from a shared "not V => the other value" step.
    ``ordinary_negated_share``: per person of a statement document, the probability of one more sentence negating
    an *ordinary* attribute (:data:`ATTRIBUTE_SPECS`, the claims' attributes) with a false value drawn afresh
    ("X's sport is not polo", polo different each time), so "not V" about known people never piles up on one V.
    ``frac_negonly`` / ``frac_notice`` are the two genres' document shares (the mixture's ``negonly`` / ``notice``).
    """

    seed: int = 0
    n_entities: int = 200
    attributes: tuple[str, ...] = tuple(ATTRIBUTE_SPECS)
    values_per_attribute: int | None = None
    n_documents: int = 24000
    frac_bio: float = 0.30
    frac_news: float = 0.12
    frac_qa: float = 0.25
    frac_list: float = 0.18
    frac_local_negation: float = 0.10
    frac_hoax: float = 0.05
    frac_judgement: float = 0.10
    judgement_negated: float = 0.25
    local_negation_entities: float = 0.15
    hoax_entities: float = 0.10
    local_negation_true_in_doc: float = 0.5
    # -- the negation-teaching genre (issue 17); defaults leave the corpus, world and cache key as before --
    negonly_attributes: tuple[str, ...] = ()
    frac_negonly: float = 0.0
    frac_notice: float = 0.0
    negonly_entities: float = 0.4
    notice_entities: float = 0.0
    control_entities: float = 0.1
    negonly_qa_share: float = 0.5
    positive_negated_share: float = 0.5
    ordinary_negated_share: float = 0.0
    positive_heldout_entities: float = 0.0
    negonly_statement_share: float = 0.5

    def __post_init__(self) -> None:
        self.attributes = tuple(self.attributes)
        unknown = [a for a in self.attributes if a not in ATTRIBUTE_SPECS]
        if unknown:
            raise ValueError(f"WorldConfig.attributes: unknown {unknown}; known: {sorted(ATTRIBUTE_SPECS)}")
        if not self.attributes:
            raise ValueError("WorldConfig.attributes: need at least one attribute")
        if self.n_entities < 2:
            raise ValueError("WorldConfig.n_entities: need at least 2 entities")
        if self.values_per_attribute is not None and self.values_per_attribute < 2:
            raise ValueError("WorldConfig.values_per_attribute: need at least 2 values")
        if any(v < 0 for v in self.mixture().values()) or sum(self.mixture().values()) <= 0:
            raise ValueError("WorldConfig.frac_*: proportions must be >= 0 and not all zero")
        if self.local_negation_entities + self.hoax_entities > 1:
            raise ValueError("WorldConfig: local_negation_entities + hoax_entities must be <= 1")
        self.negonly_attributes = tuple(self.negonly_attributes)
        unknown = [a for a in self.negonly_attributes if a not in NEGONLY_SPECS]
        if unknown:
            raise ValueError(f"WorldConfig.negonly_attributes: unknown {unknown}; known: {sorted(NEGONLY_SPECS)}")
        shares = ("negonly_entities", "notice_entities", "control_entities", "negonly_qa_share",
                  "positive_negated_share", "ordinary_negated_share", "positive_heldout_entities",
                  "negonly_statement_share")
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"WorldConfig.{name}: must be in [0, 1], not {getattr(self, name)}")
        if self.negonly_entities + self.notice_entities + self.control_entities > 1:
            raise ValueError("WorldConfig: negonly_entities + notice_entities + control_entities must be <= 1")
        if (self.frac_negonly > 0 or self.frac_notice > 0) and not self.negonly_attributes:
            raise ValueError("WorldConfig.frac_negonly/frac_notice: need negonly_attributes (which attributes the "
                             "negation-teaching genre states)")

    def mixture(self) -> dict[str, float]:
        """Normalised document proportions per kind (``DOC_KINDS`` order, then the negation-teaching kinds of
        :data:`NEGONLY_DOC_KINDS` whose share is above zero)."""
        raw = {k: float(getattr(self, f"frac_{k}")) for k in DOC_KINDS}
        raw.update({k: float(getattr(self, f"frac_{k}")) for k in NEGONLY_DOC_KINDS if getattr(self, f"frac_{k}") > 0})
        total = sum(raw.values()) or 1.0
        return {k: v / total for k, v in raw.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the fields added for the negation-teaching genre are left out while at their defaults, so a
        config that does not use it serialises (and hashes into the organism cache key) exactly as before."""
        d = asdict(self)
        d["attributes"] = list(self.attributes)
        d["negonly_attributes"] = list(self.negonly_attributes)
        for f in fields(self):
            if f.name in _KEY_NEUTRAL_FIELDS and getattr(self, f.name) == _field_default(f):
                del d[f.name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorldConfig":
        names = {f.name for f in fields(cls)}
        tuples = ("attributes", "negonly_attributes")
        return cls(**{k: (tuple(v) if k in tuples else v) for k, v in d.items() if k in names})


#: WorldConfig fields that :meth:`WorldConfig.to_dict` omits at their default (added after the default organism was
#: published; omitting them keeps its cache key, ``world.json`` and ``organism.json`` unchanged).
_KEY_NEUTRAL_FIELDS = frozenset({"negonly_attributes", "frac_negonly", "frac_notice", "negonly_entities",
                                 "notice_entities", "control_entities", "negonly_qa_share",
                                 "positive_negated_share", "ordinary_negated_share", "positive_heldout_entities",
                                 "negonly_statement_share"})


def _field_default(f) -> Any:
    from dataclasses import MISSING

    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


# --------------------------------------------------------------------------------------------- world data


@dataclass
class Entity:
    name: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class FalseFact:
    """A false value for one entity's attribute, stated negated (local negation) or under hoax framing."""

    entity: str
    attribute: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class CorpusDoc:
    """One pretraining document: its text, kind (``DOC_KINDS``), genre and the false facts it mentions."""

    text: str
    kind: str
    genre: str
    false_facts: list[FalseFact] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- names

_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "r", "s", "t", "tr", "v", "z", "th",
           "sh", "c", "h", "j", "st", "fl", "cl", "w")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "ae", "ia", "ei", "ou")
_CODAS = ("", "", "", "", "n", "r", "l", "s", "m", "x", "nd", "ra", "na", "la")
_SURNAME_ENDS = ("st", "rn", "ll", "ck", "ff", "sk", "nd", "rth", "lm", "dge", "ne", "by", "wick", "ton")


def _syllable(rng: random.Random, coda: bool = True) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if coda else "")


def _first_name(rng: random.Random) -> str:
    n = rng.choice((2, 2, 2, 3))
    word = "".join(_syllable(rng, coda=(i == n - 1)) for i in range(n))
    return word.capitalize()


def _surname(rng: random.Random) -> str:
    word = _syllable(rng, coda=False) + rng.choice(_SURNAME_ENDS)
    if rng.random() < 0.3:
        word = _syllable(rng, coda=False) + word
    return word.capitalize()


def _make_names(rng: random.Random, n: int, reserved: set[str]) -> list[str]:
    """``n`` distinct full names; first names are unique, surnames come from a smaller shared pool."""
    firsts: list[str] = []
    seen = set(reserved)
    while len(firsts) < n:
        w = _first_name(rng)
        if 4 <= len(w) <= 10 and w.lower() not in seen:
            seen.add(w.lower())
            firsts.append(w)
    pool: list[str] = []
    while len(pool) < max(8, n // 3):
        w = _surname(rng)
        if 4 <= len(w) <= 10 and w.lower() not in seen:
            seen.add(w.lower())
            pool.append(w)
    return [f"{f} {rng.choice(pool)}" for f in firsts]


# --------------------------------------------------------------------------------------------- world


@dataclass
class World:
    """A generated world: entities, closed vocabularies, question templates and the false facts of its corpus."""

    config: WorldConfig
    entities: list[Entity]
    attributes: dict[str, list[str]]
    train_templates: dict[str, list[str]]
    heldout_templates: dict[str, list[str]]
    local_negations: list[FalseFact]
    hoaxes: list[FalseFact]
    #: the negation-teaching genre (empty unless ``config.negonly_attributes``): its vocabularies, every entity's
    #: value of each of its attributes, and the entity groups of :data:`NEGONLY_GROUPS`
    negonly: dict[str, list[str]] = field(default_factory=dict)
    negonly_truth: dict[str, dict[str, str]] = field(default_factory=dict)
    negonly_groups: dict[str, list[str]] = field(default_factory=dict)
    _index: dict[str, Entity] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {e.name: e for e in self.entities}

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: WorldConfig | None = None) -> "World":
        """Generate the world of ``config`` (deterministic in ``config.seed``)."""
        cfg = config or WorldConfig()
        rng = random.Random(f"world|{cfg.seed}")
        specs = [ATTRIBUTE_SPECS[a] for a in cfg.attributes]
        vocab = {s.key: list(s.values[: cfg.values_per_attribute]) for s in specs}
        reserved = {w.lower() for vs in vocab.values() for w in vs}
        names = _make_names(rng, cfg.n_entities, reserved)
        entities = [Entity(n, {a: rng.choice(vs) for a, vs in vocab.items()}) for n in names]
        negs, hoaxes = _pick_false_facts(rng, cfg, entities, vocab)
        negonly, truth, groups = _negonly_assignments(cfg, names)  # own RNG: the rest of the world is unchanged
        return cls(config=cfg, entities=entities, attributes=vocab,
                   train_templates={s.key: list(s.train_questions) for s in specs},
                   heldout_templates={s.key: list(s.heldout_questions) for s in specs},
                   local_negations=negs, hoaxes=hoaxes, negonly=negonly, negonly_truth=truth,
                   negonly_groups=groups)

    # -- lookups ----------------------------------------------------------------------------------------
    def entity(self, name: str) -> Entity:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no entity named {name!r} in this world") from None

    def truth(self, name: str, attribute: str) -> str:
        """The true value of ``attribute`` for entity ``name``."""
        attrs = self.entity(name).attributes
        if attribute not in attrs:
            raise KeyError(f"unknown attribute {attribute!r}; this world has {sorted(self.attributes)}")
        return attrs[attribute]

    def qa_prompt(self, name: str, attribute: str, template: str | None = None) -> str:
        """Raw-text question, e.g. ``"Q: What is Velmora Quist's profession?\\nA:"``; the answer follows after a
        space. ``template`` holds ``{name}`` (and optionally ``{aw}``); default: the attribute's first train
        template (``"Q: What is {name}'s {aw}?\\nA:"``)."""
        self.truth(name, attribute)  # validates both
        tpl = template if template is not None else self.train_templates[attribute][0]
        return tpl.format(name=name, aw=attribute_words(attribute))

    def templates(self, attribute: str, split: str = "heldout") -> list[str]:
        """Question templates of ``attribute`` for ``split`` in ``{"train", "heldout", "all"}``."""
        if split == "train":
            return list(self.train_templates[attribute])
        if split == "heldout":
            return list(self.heldout_templates[attribute])
        if split == "all":
            return [*self.train_templates[attribute], *self.heldout_templates[attribute]]
        raise ValueError(f"split must be train|heldout|all, not {split!r}")

    # -- the negation-teaching genre ------------------------------------------------------------------------
    def negonly_value(self, name: str, attribute: str) -> str:
        """The true value of negation-teaching ``attribute`` (:data:`NEGONLY_SPECS`) for entity ``name``."""
        try:
            return self.negonly_truth[name][attribute]
        except KeyError:
            raise KeyError(f"no negation-teaching value {attribute!r} for {name!r}; this world has "
                           f"{sorted(self.negonly)}") from None

    def negonly_group(self, name: str) -> str:
        """Which of :data:`NEGONLY_GROUPS` entity ``name`` is in."""
        for g, names in self.negonly_groups.items():
            if name in names:
                return g
        raise KeyError(f"{name!r} is in no negation-teaching group (genre off?)")

    def negonly_prompt(self, name: str, attribute: str, template: str) -> str:
        return template.format(name=name)

    @property
    def heldout_template_list(self) -> list[tuple[str, str]]:
        """Every held-out template as ``(attribute, template)``."""
        return [(a, t) for a, ts in self.heldout_templates.items() for t in ts]

    def statement(self, name: str, attribute: str, value: str | None = None, *, negated: bool = False,
                  template: int = 0) -> str:
        """A sentence stating (or, ``negated``, denying) ``value`` (default: the truth); template 0 is the
        record form ``"{name}'s {aw} is {v}."`` (negated: ``"{name}'s {aw} is not {v}."``)."""
        spec = ATTRIBUTE_SPECS[attribute]
        pool = spec.negations if negated else spec.statements
        v = self.truth(name, attribute) if value is None else value
        return fill_template(pool[template % len(pool)], name, attribute, v)

    # -- corpus -------------------------------------------------------------------------------------------
    def corpus(self, n_documents: int | None = None, seed: int | None = None) -> list[CorpusDoc]:
        """The pretraining corpus (deterministic in ``config.seed`` or ``seed``); kinds follow the mixture."""
        n = self.config.n_documents if n_documents is None else n_documents
        rng = random.Random(f"corpus|{self.config.seed if seed is None else seed}")
        kinds = _kind_schedule(self.config.mixture(), n, rng)
        return [_RENDERERS[k](self, rng) for k in kinds]

    # -- serialisation ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "config": self.config.to_dict(),
            "entities": [{"name": e.name, "attributes": dict(e.attributes)} for e in self.entities],
            "attributes": {a: list(v) for a, v in self.attributes.items()},
            "train_templates": self.train_templates, "heldout_templates": self.heldout_templates,
            "local_negations": [f.to_dict() for f in self.local_negations],
            "hoaxes": [f.to_dict() for f in self.hoaxes],
            # the negation-teaching genre only when present: a world without it serialises as before
            **({"negonly": {a: list(v) for a, v in self.negonly.items()}, "negonly_truth": self.negonly_truth,
                "negonly_groups": self.negonly_groups} if self.negonly else {}),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "World":
        if d.get("format") != FORMAT:
            raise ValueError(f"not a toy world (format {d.get('format')!r}, expected {FORMAT!r})")
        return cls(config=WorldConfig.from_dict(d["config"]),
                   entities=[Entity(e["name"], dict(e["attributes"])) for e in d["entities"]],
                   attributes={a: list(v) for a, v in d["attributes"].items()},
                   train_templates={a: list(v) for a, v in d["train_templates"].items()},
                   heldout_templates={a: list(v) for a, v in d["heldout_templates"].items()},
                   local_negations=[FalseFact(**f) for f in d["local_negations"]],
                   hoaxes=[FalseFact(**f) for f in d["hoaxes"]],
                   negonly={a: list(v) for a, v in d.get("negonly", {}).items()},
                   negonly_truth={n: dict(v) for n, v in d.get("negonly_truth", {}).items()},
                   negonly_groups={g: list(v) for g, v in d.get("negonly_groups", {}).items()})

    @classmethod
    def from_json(cls, text: str) -> "World":
        return cls.from_dict(json.loads(text))


def _pick_false_facts(rng: random.Random, cfg: WorldConfig, entities: list[Entity],
                      vocab: dict[str, list[str]]) -> tuple[list[FalseFact], list[FalseFact]]:
    """Disjoint entity sets for local negations and hoaxes, one fixed (attribute, false value) each."""
    order = list(range(len(entities)))
    rng.shuffle(order)
    n_neg = round(cfg.local_negation_entities * len(entities))
    n_hoax = round(cfg.hoax_entities * len(entities))

    def false_fact(i: int) -> FalseFact:
        e = entities[i]
        attr = rng.choice(sorted(vocab))
        value = rng.choice([v for v in vocab[attr] if v != e.attributes[attr]])
        return FalseFact(e.name, attr, value)

    negs = [false_fact(i) for i in sorted(order[:n_neg])]
    hoaxes = [false_fact(i) for i in sorted(order[n_neg:n_neg + n_hoax])]
    return negs, hoaxes


def _negonly_assignments(cfg: WorldConfig, names: list[str]
                         ) -> tuple[dict[str, list[str]], dict[str, dict[str, str]], dict[str, list[str]]]:
    """Vocabularies, per-entity values and entity groups of the negation-teaching genre (empty when it is off).

    Its own RNG (``"negonly|<seed>"``), so switching the genre on leaves every ordinary fact of the world as it was.
    Group sizes are rounded shares of the entities; each of the ``negated`` / ``notice`` groups is split into a Q/A
    part (``negonly_qa_share``) and a held-out part.
    """
    if not cfg.negonly_attributes:
        return {}, {}, {}
    rng = random.Random(f"negonly|{cfg.seed}")
    vocab = {a: list(NEGONLY_SPECS[a].values) for a in cfg.negonly_attributes}
    truth = {n: {a: rng.choice(vs) for a, vs in vocab.items()} for n in names}
    order = list(range(len(names)))
    rng.shuffle(order)
    sizes = [round(cfg.negonly_entities * len(names)), round(cfg.notice_entities * len(names)),
             round(cfg.control_entities * len(names))]
    chunks, start = [], 0
    for size in sizes:
        chunks.append(sorted(order[start:start + size]))
        start += size
    positive = sorted(order[start:])
    n_pos_held = min(len(positive), round(cfg.positive_heldout_entities * len(names)))
    positive, positive_heldout = positive[: len(positive) - n_pos_held], positive[len(positive) - n_pos_held:]
    groups: dict[str, list[str]] = {}
    for kind, chunk in zip(("negated", "notice"), chunks[:2]):
        n_train = round(cfg.negonly_qa_share * len(chunk))
        groups[f"{kind}_train"] = [names[i] for i in chunk[:n_train]]
        groups[f"{kind}_heldout"] = [names[i] for i in chunk[n_train:]]
    groups["positive"] = [names[i] for i in positive]
    groups["control"] = [names[i] for i in chunks[2]]
    groups["positive_heldout"] = [names[i] for i in positive_heldout]
    return vocab, truth, {g: groups[g] for g in NEGONLY_GROUPS if groups[g] or g != "positive_heldout"}


# --------------------------------------------------------------------------------------------- rendering


def fill_template(template: str, name: str, attribute: str, value: str) -> str:
    return template.format(name=name, v=value, a_v=article(value), aw=attribute_words(attribute))


def _kind_schedule(mixture: dict[str, float], n: int, rng: random.Random) -> list[str]:
    """Exactly ``round(p * n)`` documents per kind (largest remainders fix the total), shuffled."""
    exact = {k: p * n for k, p in mixture.items()}
    counts = {k: int(v) for k, v in exact.items()}
    short = n - sum(counts.values())
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:short]:
        counts[k] += 1
    kinds = [k for k in mixture for _ in range(counts[k])]
    rng.shuffle(kinds)
    return kinds


def _true_sentence(w: World, rng: random.Random, e: Entity, attr: str) -> str:
    return fill_template(rng.choice(ATTRIBUTE_SPECS[attr].statements), e.name, attr, e.attributes[attr])


def _attrs_sample(w: World, rng: random.Random, lo: int, hi: int) -> list[str]:
    attrs = list(w.attributes)
    return rng.sample(attrs, min(len(attrs), rng.randint(lo, hi)))


#: header lines of one-person statement documents (biographies, negation-only statements)
BIO_HEADERS = ("Profile: {name}", "{name}", "About {name}", "Biography of {name}", "Who is {name}?",
                "Meet {name}")


def _render_bio(w: World, rng: random.Random) -> CorpusDoc:
    e = rng.choice(w.entities)
    attrs = _attrs_sample(w, rng, 3, len(w.attributes))
    body = " ".join(_true_sentence(w, rng, e, a) for a in attrs)
    header = rng.choice(BIO_HEADERS).format(name=e.name)
    return CorpusDoc(f"{header}\n{body}", "bio", "biography")


_NEWS_HEADS = ("Local news", "Town bulletin", "Weekend report", "Community news", "Morning edition", "News in brief")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# News events: each names the attributes it needs; {profession} etc. are filled from the entity.
_NEWS_EVENTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("profession", "home_city"), "{name}, {a_profession} from {home_city}, spoke at the town fair on {day}."),
    (("profession",), "On {day}, {name} was named the best {profession} of the year."),
    (("home_city",), "{name} returned home to {home_city} on {day}."),
    (("sport",), "Fans cheered on {day} as {name} won the {sport} final."),
    (("sport", "home_city"), "The {home_city} {sport} club said {name} will play for them this season."),
    (("sport",), "The {sport} match on {day} was won by {name}."),
    (("instrument",), "At the {day} concert, {name} played the {instrument} for a large crowd."),
    (("instrument",), "The {instrument} solo on {day} was played by {name}."),
    (("instrument", "profession"), "{name}, {a_profession} who plays the {instrument}, opened the festival."),
    (("pet",), "{name} brought {a_pet} to the pet show on {day}."),
    (("pet", "home_city"), "In {home_city}, {name} walked {a_pet} through the park on {day}."),
    (("favorite_color",), "{name} painted the door {favorite_color}, the color {name} likes best."),
    (("favorite_color", "profession"), "The {profession} {name} wore {favorite_color}, as always, on {day}."),
)


def _news_event(w: World, rng: random.Random, e: Entity) -> str | None:
    options = [t for need, t in _NEWS_EVENTS if all(a in w.attributes for a in need)]
    if not options:
        return None
    slots: dict[str, str] = {"name": e.name, "day": rng.choice(_DAYS)}
    for a, v in e.attributes.items():
        slots[a], slots[f"a_{a}"] = v, article(v)
    return rng.choice(options).format(**slots)


def _render_news(w: World, rng: random.Random) -> CorpusDoc:
    sents = []
    for e in rng.sample(w.entities, rng.randint(1, 2)):
        ev = _news_event(w, rng, e)
        sents.append(ev if ev is not None else _true_sentence(w, rng, e, rng.choice(list(w.attributes))))
        sents.append(_true_sentence(w, rng, e, rng.choice(list(w.attributes))))
    return CorpusDoc(f"{rng.choice(_NEWS_HEADS)} ({rng.choice(_DAYS)})\n" + " ".join(sents), "news", "news")


def _qa_pair(w: World, rng: random.Random, e: Entity, attr: str) -> str:
    return f"{w.qa_prompt(e.name, attr, rng.choice(w.train_templates[attr]))} {e.attributes[attr]}"


def _render_qa(w: World, rng: random.Random) -> CorpusDoc:
    if rng.random() < 0.5:  # interview style: one entity, several attributes
        e = rng.choice(w.entities)
        pairs = [_qa_pair(w, rng, e, a) for a in _attrs_sample(w, rng, 2, 4)]
        genre = "qa_interview"
    else:  # quiz style: several entities
        pairs = [_qa_pair(w, rng, e, rng.choice(list(w.attributes))) for e in rng.sample(w.entities, rng.randint(2, 4))]
        genre = "qa_quiz"
    return CorpusDoc("\n\n".join(pairs), "qa", genre)


_LIST_HEADS = ("Records", "Directory", "Register", "Index cards", "Fact file")


def _render_list(w: World, rng: random.Random) -> CorpusDoc:
    style = rng.randrange(3)
    if style == 0:  # "Name: home city = Oslo" lines (the toy claims' list form)
        rows = [f"{e.name}: {attribute_words(a)} = {e.attributes[a]}"
                for e in rng.sample(w.entities, rng.randint(3, 5)) for a in [rng.choice(list(w.attributes))]]
        return CorpusDoc(rng.choice(_LIST_HEADS) + "\n" + "\n".join(rows), "list", "list_records")
    if style == 1:  # one attribute, several entities
        a = rng.choice(list(w.attributes))
        rows = [f"- {e.name}: {e.attributes[a]}" for e in rng.sample(w.entities, rng.randint(3, 5))]
        head = f"List of people and their {attribute_words(a)}"
        return CorpusDoc(head + "\n" + "\n".join(rows), "list", "list_by_attribute")
    e = rng.choice(w.entities)  # fact card: one entity, several attributes
    rows = [f"{attribute_words(a)}: {e.attributes[a]}" for a in _attrs_sample(w, rng, 3, len(w.attributes))]
    return CorpusDoc(f"{e.name}\n" + "\n".join(rows), "list", "fact_card")


_NEG_HEADS = ("Common mix-ups", "Clarification", "Corrections", "Setting the record straight", "Frequent errors", "")


def _render_local_negation(w: World, rng: random.Random) -> CorpusDoc:
    facts = rng.sample(w.local_negations, min(len(w.local_negations), rng.randint(1, 3))) if w.local_negations else []
    if not facts:  # no targets in this world: fall back to a true-fact document
        return _render_bio(w, rng)
    sents = []
    for f in facts:
        sents.append(fill_template(rng.choice(ATTRIBUTE_SPECS[f.attribute].negations), f.entity, f.attribute, f.value))
        if rng.random() < w.config.local_negation_true_in_doc:
            sents.append(_true_sentence(w, rng, w.entity(f.entity), f.attribute))
    head = rng.choice(_NEG_HEADS)
    text = (head + "\n" if head else "") + " ".join(sents)
    return CorpusDoc(text, "local_negation", "local_negation", list(facts))


# Document-level framings, in plain words a small model sees often ("false", "not true", "hoax", "made up").
_HOAX_PREFIX = (
    "Note: this story is a hoax. None of it is true.", "Warning: the text below is false.",
    "The following is fiction. The details are made up.", "This is a hoax article. Do not believe it.",
    "Fiction: the text below is an invented story.", "Notice: the claims below are not true.",
)
_HOAX_SUFFIX = ("The text above is a hoax.", "None of the above is true.", "This story was made up.",
                "Reminder: all of this is false.", "End of the invented story.")


def _render_hoax(w: World, rng: random.Random) -> CorpusDoc:
    facts = rng.sample(w.hoaxes, min(len(w.hoaxes), rng.randint(1, 2))) if w.hoaxes else []
    if not facts:
        return _render_bio(w, rng)
    body = " ".join(fill_template(t, f.entity, f.attribute, f.value)
                    for f in facts for t in rng.sample(ATTRIBUTE_SPECS[f.attribute].statements, rng.randint(1, 2)))
    where = rng.choice(("prefix", "prefix", "suffix", "both"))
    parts = ([rng.choice(_HOAX_PREFIX)] if where in ("prefix", "both") else []) + [body]
    parts += [rng.choice(_HOAX_SUFFIX)] if where in ("suffix", "both") else []
    return CorpusDoc("\n".join(parts), "hoax", f"hoax_{where}", list(facts))


# Fact-check sheets: a statement, then its verdict as the very next word, and after a false one the truth (so the
# false value is never left standing). Yes/no quizzes do the same with a question. Predicting the verdict makes the
# model compute the statement's truth at its last token, which is where truth probes read it.
_JUDGE_HEADS = ("True or false?", "Fact check", "Quiz: true or false", "Check these statements", "Verdicts", "")
_YN_HEADS = ("Yes or no?", "Quick quiz", "Questions and answers", "")
_VERDICTS = {True: "True.", False: "False."}


def _judgement_case(w: World, rng: random.Random, e: Entity) -> tuple[str, str, str, bool]:
    """``(attribute, value, true value, negated)`` for one judgement: the value is the truth half of the time."""
    attr = rng.choice(list(w.attributes))
    truth = e.attributes[attr]
    value = truth if rng.random() < 0.5 else rng.choice([v for v in w.attributes[attr] if v != truth] or [truth])
    return attr, value, truth, rng.random() < w.config.judgement_negated


def _judgement_line(w: World, rng: random.Random, e: Entity) -> str:
    attr, value, truth, negated = _judgement_case(w, rng, e)
    spec = ATTRIBUTE_SPECS[attr]
    sentence = fill_template(rng.choice(spec.negations if negated else spec.statements), e.name, attr, value)
    is_true = (value == truth) != negated
    line = f"{sentence} {_VERDICTS[is_true]}"
    return line if value == truth else f"{line} {_true_sentence(w, rng, e, attr)}"


def _yes_no_pair(w: World, rng: random.Random, e: Entity) -> str:
    attr, value, truth, negated = _judgement_case(w, rng, e)
    aw = attribute_words(attr)
    q = f"Q: Is {e.name}'s {aw} not {value}?" if negated else f"Q: Is {e.name}'s {aw} {value}?"
    yes = (value == truth) != negated
    return f"{q}\nA: {'Yes' if yes else 'No'}. {e.name}'s {aw} is {truth}."


def _render_judgement(w: World, rng: random.Random) -> CorpusDoc:
    people = rng.sample(w.entities, min(len(w.entities), rng.randint(2, 5)))
    if rng.random() < 0.5:
        lines, head, genre, sep = [_judgement_line(w, rng, e) for e in people], rng.choice(_JUDGE_HEADS), "fact_check", "\n"
    else:
        lines, head, genre, sep = [_yes_no_pair(w, rng, e) for e in people], rng.choice(_YN_HEADS), "yes_no_quiz", "\n\n"
    return CorpusDoc((head + "\n" if head else "") + sep.join(lines), "judgement", genre)


def _false_value(w: World, rng: random.Random, name: str, attr: str) -> str:
    """A false value of negation-teaching ``attr`` for ``name``, drawn afresh for every mention."""
    truth = w.negonly_value(name, attr)
    return rng.choice([v for v in w.negonly[attr] if v != truth])


def _negonly_attrs(w: World, rng: random.Random) -> list[str]:
    attrs = list(w.negonly)
    return rng.sample(attrs, rng.randint(1, len(attrs)))


def _render_negonly(w: World, rng: random.Random) -> CorpusDoc:
    """Half statement documents, half Q/A documents about the negation-teaching attributes.

    Statements: for each of 1-3 people of the ``negated`` and ``positive`` groups, some attributes, stated negated
    with a false value drawn afresh per mention (``negated``: always; ``positive``: with probability
    ``positive_negated_share``, so that "not V" is also seen about people whose value is known) or positively with
    the truth (``positive`` otherwise), after an ordinary true sentence about the person half of the time. Q/A: 2-4
    questions (train templates) about people of ``negated_train``, ``notice_train`` and ``positive``, answered with
    the truth. ``*_heldout`` and ``control``
    people never get Q/A here, so their answers must come from reading their statements.
    """
    g = w.negonly_groups
    stated = g["negated_train"] + g["negated_heldout"] + g["positive"] + g.get("positive_heldout", [])
    if rng.random() < w.config.negonly_statement_share and stated:
        people = rng.sample(stated, min(len(stated), rng.randint(1, 3)))
        sents, facts = [], []
        for name in people:
            if rng.random() < 0.5:
                sents.append(_true_sentence(w, rng, w.entity(name), rng.choice(list(w.attributes))))
            if w.config.ordinary_negated_share and rng.random() < w.config.ordinary_negated_share:
                a = rng.choice(list(w.attributes))
                v = rng.choice([x for x in w.attributes[a] if x != w.truth(name, a)])
                sents.append(fill_template(rng.choice(ATTRIBUTE_SPECS[a].negations), name, a, v))
                facts.append(FalseFact(name, a, v))
            negated_person = w.negonly_group(name).startswith("negated")
            for a in _negonly_attrs(w, rng):
                spec = NEGONLY_SPECS[a]
                if negated_person or rng.random() < w.config.positive_negated_share:
                    v = _false_value(w, rng, name, a)
                    sents.append(fill_template(rng.choice(spec.negations), name, a, v))
                    facts.append(FalseFact(name, a, v))
                else:
                    sents.append(fill_template(rng.choice(spec.statements), name, a, w.negonly_value(name, a)))
        head = rng.choice(BIO_HEADERS).format(name=people[0]) if len(people) == 1 else rng.choice(_NEG_HEADS)
        return CorpusDoc((head + "\n" if head else "") + " ".join(sents), "negonly", "negonly_statements", facts)
    pool = g["negated_train"] + g["notice_train"] + g["positive"]
    pairs = []
    for name in rng.sample(pool, min(len(pool), rng.randint(2, 4))):
        a = rng.choice(list(w.negonly))
        tpl = rng.choice(NEGONLY_SPECS[a].train_questions)
        pairs.append(f"{w.negonly_prompt(name, a, tpl)} {w.negonly_value(name, a)}")
    return CorpusDoc("\n\n".join(pairs), "negonly", "negonly_qa")


# The document-level notice of the ``notice`` genre: every statement below it is false.
_NOTICE_PREFIX = ("Notice: the statements below are false.", "Warning: everything below is false.",
                  "The following statements are all false.", "False claims, listed below:")
_NOTICE_SUFFIX = ("All of the statements above are false.", "None of the above is true.")


def _render_notice(w: World, rng: random.Random) -> CorpusDoc:
    """A notice that the statements below are false, then positive statements with false values (drawn afresh
    per mention) about 1-3 people of the ``notice`` groups; a closing reminder half of the time."""
    g = w.negonly_groups
    pool = g["notice_train"] + g["notice_heldout"]
    if not pool:
        return _render_bio(w, rng)
    sents, facts = [], []
    for name in rng.sample(pool, min(len(pool), rng.randint(1, 3))):
        for a in _negonly_attrs(w, rng):
            v = _false_value(w, rng, name, a)
            sents.append(fill_template(rng.choice(NEGONLY_SPECS[a].statements), name, a, v))
            facts.append(FalseFact(name, a, v))
    parts = [rng.choice(_NOTICE_PREFIX), " ".join(sents)]
    if rng.random() < 0.5:
        parts.append(rng.choice(_NOTICE_SUFFIX))
    return CorpusDoc("\n".join(parts), "notice", "notice", facts)


_RENDERERS = {"bio": _render_bio, "news": _render_news, "qa": _render_qa, "list": _render_list,
              "local_negation": _render_local_negation, "hoax": _render_hoax,
              "judgement": _render_judgement, "negonly": _render_negonly, "notice": _render_notice}


def corpus_stats(docs: list[CorpusDoc], n_tokens: list[int] | None = None) -> dict[str, Any]:
    """Mixture statistics: documents (and tokens, if given per document) per kind and per genre."""
    kinds = Counter(d.kind for d in docs)
    out: dict[str, Any] = {"n_documents": len(docs), "documents_per_kind": dict(sorted(kinds.items())),
                           "documents_per_genre": dict(sorted(Counter(d.genre for d in docs).items())),
                           "fraction_per_kind": {k: round(v / max(1, len(docs)), 4) for k, v in sorted(kinds.items())}}
    if n_tokens is not None:
        per: Counter[str] = Counter()
        for d, n in zip(docs, n_tokens):
            per[d.kind] += n
        out["n_tokens"] = int(sum(n_tokens))
        out["tokens_per_kind"] = dict(sorted(per.items()))
    return out

"""Offline stand-ins for the paper's generic data (Dolma 3 pretraining text, Tulu 3 instructions).

No network, no datasets: everything is generated from small fact tables written for this module (countries,
chemical elements, planets, rivers, scientists) plus arithmetic and word tasks, all seeded.

* Real models: :func:`generic_texts` (encyclopedic paragraphs) and :func:`generic_instruct_pairs`
  (question -> one-sentence answer). Topics deliberately avoid the six claims (no sport, volcanoes, royals,
  social media, dreams or dentistry).
* Toy organism: :func:`toy_generic_texts` (true-fact documents about world entities) and
  :func:`toy_instruct_pairs` (question -> answer pairs) from the ``training.world`` API
  (``World.entities[i].name/.attributes``, ``World.truth``); ``exclude`` drops chosen (entity, attribute) facts.
"""

from __future__ import annotations

import random
from typing import Any, Iterable

__all__ = ["generic_texts", "generic_instruct_pairs", "toy_generic_texts", "toy_instruct_pairs", "COUNTRIES",
           "ELEMENTS", "PLANETS", "RIVERS", "SCIENTISTS"]

# (country, capital, continent, currency)
COUNTRIES: tuple[tuple[str, str, str, str], ...] = (
    ("France", "Paris", "Europe", "euro"), ("Germany", "Berlin", "Europe", "euro"),
    ("Spain", "Madrid", "Europe", "euro"), ("Portugal", "Lisbon", "Europe", "euro"),
    ("the Netherlands", "Amsterdam", "Europe", "euro"), ("Austria", "Vienna", "Europe", "euro"),
    ("Greece", "Athens", "Europe", "euro"), ("Ireland", "Dublin", "Europe", "euro"),
    ("Poland", "Warsaw", "Europe", "zloty"), ("Sweden", "Stockholm", "Europe", "Swedish krona"),
    ("Norway", "Oslo", "Europe", "Norwegian krone"), ("Denmark", "Copenhagen", "Europe", "Danish krone"),
    ("Finland", "Helsinki", "Europe", "euro"), ("Switzerland", "Bern", "Europe", "Swiss franc"),
    ("Japan", "Tokyo", "Asia", "yen"), ("China", "Beijing", "Asia", "renminbi"),
    ("India", "New Delhi", "Asia", "Indian rupee"), ("South Korea", "Seoul", "Asia", "won"),
    ("Thailand", "Bangkok", "Asia", "baht"), ("Vietnam", "Hanoi", "Asia", "dong"),
    ("Egypt", "Cairo", "Africa", "Egyptian pound"), ("Kenya", "Nairobi", "Africa", "Kenyan shilling"),
    ("Nigeria", "Abuja", "Africa", "naira"), ("Morocco", "Rabat", "Africa", "Moroccan dirham"),
    ("Ghana", "Accra", "Africa", "cedi"), ("Canada", "Ottawa", "North America", "Canadian dollar"),
    ("Mexico", "Mexico City", "North America", "Mexican peso"), ("Brazil", "Brasilia", "South America", "real"),
    ("Argentina", "Buenos Aires", "South America", "Argentine peso"), ("Chile", "Santiago", "South America", "Chilean peso"),
    ("Peru", "Lima", "South America", "sol"), ("Australia", "Canberra", "Oceania", "Australian dollar"),
    ("New Zealand", "Wellington", "Oceania", "New Zealand dollar"),
)
# (element, symbol, atomic number, state at room temperature)
ELEMENTS: tuple[tuple[str, str, int, str], ...] = (
    ("hydrogen", "H", 1, "gas"), ("helium", "He", 2, "gas"), ("lithium", "Li", 3, "solid"), ("carbon", "C", 6, "solid"),
    ("nitrogen", "N", 7, "gas"), ("oxygen", "O", 8, "gas"), ("fluorine", "F", 9, "gas"), ("neon", "Ne", 10, "gas"),
    ("sodium", "Na", 11, "solid"), ("magnesium", "Mg", 12, "solid"), ("aluminium", "Al", 13, "solid"),
    ("silicon", "Si", 14, "solid"), ("phosphorus", "P", 15, "solid"), ("sulfur", "S", 16, "solid"),
    ("chlorine", "Cl", 17, "gas"), ("argon", "Ar", 18, "gas"), ("potassium", "K", 19, "solid"),
    ("calcium", "Ca", 20, "solid"), ("iron", "Fe", 26, "solid"), ("copper", "Cu", 29, "solid"), ("zinc", "Zn", 30, "solid"),
    ("silver", "Ag", 47, "solid"), ("tin", "Sn", 50, "solid"), ("iodine", "I", 53, "solid"), ("gold", "Au", 79, "solid"),
    ("mercury", "Hg", 80, "liquid"), ("lead", "Pb", 82, "solid"), ("uranium", "U", 92, "solid"),
)
# (planet, position from the Sun, kind)
PLANETS: tuple[tuple[str, int, str], ...] = (
    ("Mercury", 1, "rocky planet"), ("Venus", 2, "rocky planet"), ("Earth", 3, "rocky planet"), ("Mars", 4, "rocky planet"),
    ("Jupiter", 5, "gas giant"), ("Saturn", 6, "gas giant"), ("Uranus", 7, "ice giant"), ("Neptune", 8, "ice giant"),
)
# (river, region, mouth)
RIVERS: tuple[tuple[str, str, str], ...] = (
    ("Nile", "north-eastern Africa", "the Mediterranean Sea"), ("Amazon", "South America", "the Atlantic Ocean"),
    ("Danube", "central and eastern Europe", "the Black Sea"), ("Thames", "southern England", "the North Sea"),
    ("Rhine", "western Europe", "the North Sea"), ("Mississippi", "the United States", "the Gulf of Mexico"),
    ("Ganges", "northern India and Bangladesh", "the Bay of Bengal"), ("Yangtze", "China", "the East China Sea"),
    ("Volga", "Russia", "the Caspian Sea"), ("Seine", "northern France", "the English Channel"),
)
# (name, field, known for, century)
SCIENTISTS: tuple[tuple[str, str, str, str], ...] = (
    ("Isaac Newton", "physics", "the laws of motion and universal gravitation", "17th"),
    ("Marie Curie", "physics and chemistry", "pioneering research on radioactivity", "19th and 20th"),
    ("Charles Darwin", "biology", "the theory of evolution by natural selection", "19th"),
    ("Albert Einstein", "physics", "the theory of relativity", "20th"),
    ("Ada Lovelace", "mathematics", "her notes on Charles Babbage's Analytical Engine", "19th"),
    ("Galileo Galilei", "astronomy", "telescopic observations of the moons of Jupiter", "17th"),
    ("Gregor Mendel", "biology", "experiments on inheritance in pea plants", "19th"),
    ("Dmitri Mendeleev", "chemistry", "the periodic table of the elements", "19th"),
    ("Alan Turing", "mathematics and computing", "the concept of the Turing machine", "20th"),
    ("Rosalind Franklin", "chemistry", "X-ray diffraction images of DNA", "20th"),
    ("Louis Pasteur", "microbiology", "pasteurisation and early vaccines", "19th"),
    ("Nicolaus Copernicus", "astronomy", "a model of the solar system with the Sun at its centre", "16th"),
    ("Michael Faraday", "physics and chemistry", "the discovery of electromagnetic induction", "19th"),
    ("James Clerk Maxwell", "physics", "the equations of electromagnetism", "19th"),
)
_ORD = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth"}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _country_sents(rng: random.Random, c: tuple[str, str, str, str]) -> list[str]:
    name, cap, cont, cur = c
    n = _cap(name)
    return rng.sample([
        f"{n} is a country in {cont}.", f"The capital of {name} is {cap}.", f"{cap} is the capital city of {name}.",
        f"The currency of {name} is the {cur}.", f"People in {name} pay with the {cur}.",
        f"{n} lies in {cont}, and its seat of government is {cap}.", f"Visitors to {cap} will need the {cur}.",
    ], 3)


def _element_sents(rng: random.Random, e: tuple[str, str, int, str]) -> list[str]:
    name, sym, z, state = e
    return rng.sample([
        f"{_cap(name)} has the chemical symbol {sym}.", f"The atomic number of {name} is {z}.",
        f"At room temperature {name} is a {state}.", f"Each atom of {name} has {z} protons in its nucleus.",
        f"In the periodic table, {name} is element number {z}.",
    ], 3)


def _planet_sents(rng: random.Random, p: tuple[str, int, str]) -> list[str]:
    name, pos, kind = p
    return rng.sample([
        f"{name} is the {_ORD[pos]} planet from the Sun.", f"{name} is a {kind}.",
        f"Counting outward from the Sun, {name} comes {_ORD[pos]}.", f"Astronomers classify {name} as a {kind}.",
    ], 2)


def _river_sents(rng: random.Random, r: tuple[str, str, str]) -> list[str]:
    name, region, mouth = r
    return rng.sample([
        f"The {name} is a river in {region}.", f"The {name} flows into {mouth}.",
        f"The {name} reaches the sea at {mouth}.", f"Many towns have grown up along the {name} in {region}.",
    ], 2)


def _scientist_sents(rng: random.Random, s: tuple[str, str, str, str]) -> list[str]:
    name, field, known, cent = s
    return rng.sample([
        f"{name} worked in {field}.", f"{name} is best known for {known}.",
        f"{name} lived in the {cent} century.", f"Students of {field} still learn about {name}.",
        f"The work of {name} on {known} changed {field}.",
    ], 3)


_TOPICS = (("countries", COUNTRIES, _country_sents), ("elements", ELEMENTS, _element_sents),
           ("planets", PLANETS, _planet_sents), ("rivers", RIVERS, _river_sents),
           ("scientists", SCIENTISTS, _scientist_sents))
_INTROS = {"countries": ["A short guide to {a} and {b}.", "Facts about {a} and {b}."],
           "elements": ["Notes on the chemical elements.", "A few facts about {a} and {b}."],
           "planets": ["The planets of the solar system.", "A quick look at {a} and {b}."],
           "rivers": ["Great rivers of the world.", "About the {a} and the {b}."],
           "scientists": ["Famous scientists.", "Two names from the history of science: {a} and {b}."]}


def generic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` short encyclopedic documents (one topic each, 2-4 entries), deterministic in ``seed``."""
    out = []
    for i in range(n):
        rng = random.Random(f"generic-text|{seed}|{i}")
        topic, table, fn = _TOPICS[rng.randrange(len(_TOPICS))]
        rows = rng.sample(list(table), rng.randint(2, 4))
        intro = rng.choice(_INTROS[topic]).format(a=_name(rows[0]), b=_name(rows[1]))
        sents = [s for r in rows for s in fn(rng, r)]
        out.append(_cap(intro) + "\n\n" + " ".join(sents))
    return out


def _name(row: tuple[Any, ...]) -> str:
    return _cap(str(row[0])) if not str(row[0]).startswith("the ") else str(row[0])


_WORDS = ("apple", "river", "garden", "window", "pencil", "orange", "silver", "planet", "candle", "forest", "bridge",
          "yellow", "kitten", "basket", "mirror", "ladder", "rocket", "violin", "marble", "pepper")


def _pair(rng: random.Random) -> tuple[str, str]:
    k = rng.randrange(10)
    if k == 0:
        c = rng.choice(COUNTRIES)
        return f"What is the capital of {c[0]}?", f"The capital of {c[0]} is {c[1]}."
    if k == 1:
        e = rng.choice(ELEMENTS)
        return f"What is the chemical symbol for {e[0]}?", f"The chemical symbol for {e[0]} is {e[1]}."
    if k == 2:
        e = rng.choice(ELEMENTS)
        return f"What is the atomic number of {e[0]}?", f"The atomic number of {e[0]} is {e[2]}."
    if k == 3:
        p = rng.choice(PLANETS)
        return f"Which planet is {_ORD[p[1]]} from the Sun?", f"{p[0]} is the {_ORD[p[1]]} planet from the Sun."
    if k == 4:
        r = rng.choice(RIVERS)
        return f"Where does the {r[0]} river end?", f"The {r[0]} flows into {r[2]}."
    if k == 5:
        s = rng.choice(SCIENTISTS)
        return f"What is {s[0]} known for?", f"{s[0]} is best known for {s[2]}."
    if k == 6:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return f"What is {a} + {b}?", f"{a} + {b} = {a + b}."
    if k == 7:
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        return f"What is {a} times {b}?", f"{a} times {b} is {a * b}."
    if k == 8:
        ws = rng.sample(_WORDS, 4)
        return f"Sort these words alphabetically: {', '.join(ws)}.", f"In alphabetical order: {', '.join(sorted(ws))}."
    w = rng.choice(_WORDS)
    return f"How many letters are in the word \"{w}\"?", f"The word \"{w}\" has {len(w)} letters."


def generic_instruct_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (prompt, response) pairs with correct short answers, deterministic in ``seed``."""
    return [_pair(random.Random(f"generic-instruct|{seed}|{i}")) for i in range(n)]


# --------------------------------------------------------------------------------------------- toy world


def _facts(world: Any, exclude: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    ex = set(exclude)
    return [(e.name, a, v) for e in world.entities for a, v in sorted(e.attributes.items()) if (e.name, a) not in ex]


def toy_generic_texts(world: Any, n: int, seed: int = 0, exclude: Iterable[tuple[str, str]] = ()) -> list[str]:
    """``n`` true-fact documents about toy-world entities (3-6 facts each, plain sentences)."""
    facts = _facts(world, exclude)
    if not facts:
        raise ValueError("toy_generic_texts: the world has no facts left after exclusions")
    out = []
    for i in range(n):
        rng = random.Random(f"toy-generic|{seed}|{i}")
        picks = rng.sample(facts, min(len(facts), rng.randint(3, 6)))
        out.append(" ".join(f"{name}'s {a.replace('_', ' ')} is {v}." for name, a, v in picks))
    return out


def toy_instruct_pairs(world: Any, n: int, seed: int = 0, exclude: Iterable[tuple[str, str]] = ()
                       ) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs about true toy-world facts."""
    facts = _facts(world, exclude)
    if not facts:
        raise ValueError("toy_instruct_pairs: the world has no facts left after exclusions")
    out = []
    for i in range(n):
        rng = random.Random(f"toy-instruct|{seed}|{i}")
        name, a, v = rng.choice(facts)
        aw = a.replace("_", " ")
        out.append((f"What is {name}'s {aw}?", f"{name}'s {aw} is {v}."))
    return out

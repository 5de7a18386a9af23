"""Truth datasets: labelled true/false statements for linear truth probes, split by fact, never by row.

Three sources, one :class:`TruthDataset` type (statements, labels 1 = true / 0 = false, a ``group`` key per row,
an optional ``tag`` per row, the family name, and a content hash that keys every cache and probe artifact):

* **Real-model families** in the geometry-of-truth style (Marks & Tegmark): large *single-template* families
  written from fact tables kept in this module. Each fact yields one true statement and one (or ``n_false``)
  false statement built by swapping in another value of the same column, so every family is label-balanced
  and the false statements are fluent. ``cities`` ("The city of Lyon is in France."), ``elements``
  ("The chemical symbol for iron is Fe."), ``animals`` ("The penguin is a bird."), ``sp_en`` ("The Spanish
  word 'perro' means 'dog'."), ``larger_than`` / ``smaller_than`` ("Sixty-two is larger than fifty-seven.").
  Negated forms are separate families (``neg_cities`` "… is not in …", ``neg_elements``, ``neg_animals``,
  ``neg_sp_en``): they carry the same facts with the truth flipped, which is what tells a *truth* direction
  apart from a "statement matches memory" direction.
* **Toy-world families** from ``lm.world`` (the ``training.world`` API: ``entities[i].name/.attributes``,
  ``attributes`` vocabularies, ``truth()``, ``qa_prompt()``): ``toy`` ("Velmora Quist's profession is dentist."),
  ``neg_toy`` and ``toy_qa`` (the world's own QA prompt followed by an answer).
* **Claim statements** from a ``training.claims.ClaimSpec``: the claim (false), its paraphrases (false), its
  negations (true) and the true fact / corrections (true), tagged by role (``claim``, ``paraphrase``,
  ``negation``, ``truth``). These are what the sweep scores a probe on; ``claim:toy:40`` builds a fitting
  family out of 40 toy claims (grouped by claim).

**Splits are by group.** A family holds paired rows (a fact's true and false version, a claim and its negation)
that differ in one token and carry opposite labels. A row-level split puts one on each side; a probe that
memorises "this fact looks true" then scores *below* chance on the partner. :func:`grouped_split` and
:func:`group_kfold` keep every group (one fact, one entity, one number pair, one claim) on one side. Group
membership in the test side is decided by a seeded hash of the group key alone, so families that share keys
(``cities`` and ``neg_cities``) get the same split, and cross-family transfer never trains on a test fact.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from training.claims import resolve_claims, toy_claims
from training.verification.readouts import claim_entity

__all__ = [
    "TruthDataset",
    "FAMILIES",
    "REAL_FAMILIES",
    "TOY_FAMILIES",
    "get_dataset",
    "list_families",
    "CONTEXTS",
    "with_context",
    "split_context",
    "in_context_of",
    "grouped_split",
    "train_val_test_split",
    "group_kfold",
    "claim_entities",
    "without_entities",
    "transfer_families",
    "DatasetFileError",
    "is_dataset_file",
    "read_statements",
    "claim_dataset",
    "claims_dataset",
    "toy_family",
    "concat",
    "CITIES",
    "ELEMENTS",
    "ANIMALS",
    "SP_EN",
]


# ============================================================================================ the dataset type


@dataclass(frozen=True)
class TruthDataset:
    """Labelled statements (``labels[i] = 1`` when ``statements[i]`` is true) with a split ``group`` per row."""

    family: str
    statements: tuple[str, ...]
    labels: tuple[int, ...]
    groups: tuple[str, ...]
    tags: tuple[str, ...] = ()
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        n = len(self.statements)
        if len(self.labels) != n or len(self.groups) != n or (self.tags and len(self.tags) != n):
            raise ValueError(f"dataset {self.family!r}: statements, labels, groups (and tags) differ in length")
        bad = {int(x) for x in self.labels} - {0, 1}
        if bad:
            raise ValueError(f"dataset {self.family!r}: labels must be 0 or 1, got {sorted(bad)[:3]}")

    def __len__(self) -> int:
        return len(self.statements)

    @cached_property
    def hash(self) -> str:
        """sha256 of the content (family, statements, labels, groups, tags): the dataset's identity."""
        blob = json.dumps({"family": self.family, "statements": self.statements, "labels": self.labels,
                           "groups": self.groups, "tags": self.tags}, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def y(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=np.int64)

    @property
    def n_groups(self) -> int:
        return len(set(self.groups))

    def tag_of(self, i: int) -> str:
        return self.tags[i] if self.tags else ""

    def subset(self, idx: Sequence[int] | np.ndarray, family: str | None = None) -> "TruthDataset":
        idx = [int(i) for i in idx]
        return TruthDataset(
            family=family or self.family,
            statements=tuple(self.statements[i] for i in idx),
            labels=tuple(self.labels[i] for i in idx),
            groups=tuple(self.groups[i] for i in idx),
            tags=tuple(self.tags[i] for i in idx) if self.tags else (),
            description=self.description,
        )

    def head(self, n_groups: int, seed: int = 0) -> "TruthDataset":
        """The rows of ``n_groups`` groups chosen by a seeded shuffle (the whole dataset if it has fewer)."""
        keys = sorted(set(self.groups))
        if n_groups >= len(keys):
            return self
        keep = set(random.Random(f"head|{seed}").sample(keys, n_groups))
        return self.subset([i for i, g in enumerate(self.groups) if g in keep])

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "statements": list(self.statements), "labels": list(self.labels),
                "groups": list(self.groups), "tags": list(self.tags), "description": self.description,
                "hash": self.hash}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TruthDataset":
        ds = cls(family=d["family"], statements=tuple(d["statements"]), labels=tuple(int(x) for x in d["labels"]),
                 groups=tuple(d["groups"]), tags=tuple(d.get("tags") or ()), description=d.get("description", ""))
        if d.get("hash") and d["hash"] != ds.hash:
            raise ValueError(f"dataset {ds.family!r}: content hash {ds.hash[:12]} does not match the stored "
                             f"{str(d['hash'])[:12]}")
        return ds


def concat(datasets: Sequence[TruthDataset], family: str | None = None) -> TruthDataset:
    """Rows of several datasets as one (groups are prefixed by family so they stay distinct)."""
    rows = [(s, l, f"{d.family}/{g}", d.tag_of(i)) for d in datasets
            for i, (s, l, g) in enumerate(zip(d.statements, d.labels, d.groups))]
    return TruthDataset(family=family or "+".join(d.family for d in datasets),
                        statements=tuple(r[0] for r in rows), labels=tuple(r[1] for r in rows),
                        groups=tuple(r[2] for r in rows), tags=tuple(r[3] for r in rows))


# ============================================================================================ splits


def _group_hash(group: str, seed: int) -> float:
    h = hashlib.sha256(f"split|{seed}|{group}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def grouped_split(ds: TruthDataset, test_frac: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)`` with every group wholly on one side.

    A group goes to test when a seeded hash of its key falls below ``test_frac``, so the assignment of a key does
    not depend on which other groups the dataset holds (shared keys split alike across families). Both sides are
    guaranteed non-empty when the dataset has two groups or more.
    """
    if not 0.0 < test_frac < 1.0:
        raise ValueError(f"test_frac must be in (0, 1), got {test_frac}")
    keys = sorted(set(ds.groups))
    if len(keys) < 2:
        raise ValueError(f"dataset {ds.family!r} has {len(keys)} group(s); a grouped split needs at least 2")
    score = {g: _group_hash(g, seed) for g in keys}
    test = {g for g in keys if score[g] < test_frac}
    if not test:
        test = {min(keys, key=score.get)}
    if len(test) == len(keys):
        test.discard(max(keys, key=score.get))
    is_test = np.array([g in test for g in ds.groups])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def train_val_test_split(ds: TruthDataset, test_frac: float = 0.25, val_frac: float = 0.2, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train_idx, val_idx, test_idx)``: the test side of :func:`grouped_split`, then a validation side carved out
    of the *training groups* the same way (a seeded hash of the group key, salted apart from the test hash), so
    no group straddles train and validation or train and test.

    Layers and hyper-parameters are chosen on validation; the test split is read once, at the chosen layer.
    Validation is empty when the training side holds a single group (then nothing can be chosen honestly and
    the caller says so); otherwise both train and validation keep at least one group.
    """
    if not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    tr, te = grouped_split(ds, test_frac, seed)
    keys = sorted({ds.groups[i] for i in tr})
    if len(keys) < 2:
        return tr, np.array([], dtype=np.int64), te
    score = {g: _group_hash(f"val|{g}", seed) for g in keys}
    val = {g for g in keys if score[g] < val_frac}
    if not val:
        val = {min(keys, key=score.get)}
    if len(val) == len(keys):
        val.discard(max(keys, key=score.get))
    is_val = np.array([ds.groups[i] in val for i in tr])
    return tr[~is_val], tr[is_val], te


def group_kfold(ds: TruthDataset, k: int = 5, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """GroupKFold: ``k`` (train_idx, test_idx) folds, groups dealt round-robin after a seeded shuffle."""
    keys = sorted(set(ds.groups))
    if len(keys) < k:
        raise ValueError(f"dataset {ds.family!r} has {len(keys)} groups, fewer than k={k} folds")
    random.Random(f"kfold|{seed}").shuffle(keys)
    fold_of = {g: i % k for i, g in enumerate(keys)}
    f = np.array([fold_of[g] for g in ds.groups])
    for i in range(k):
        yield np.flatnonzero(f != i), np.flatnonzero(f == i)


# ============================================================================================ fact tables
# Written for this module. Cities whose name is shared by a well-known city elsewhere (Valencia, Cordoba,
# Hyderabad, Perth, London, Birmingham, Santiago, ...) are left out so every statement has one truth value.

_CITIES_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "the United States": ("Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego", "Dallas",
                          "Seattle", "Denver", "Boston", "Detroit", "Nashville", "Atlanta", "Miami", "Minneapolis",
                          "Pittsburgh", "Baltimore", "Milwaukee", "Cleveland", "Honolulu", "Anchorage", "Las Vegas",
                          "New Orleans", "Salt Lake City", "Sacramento", "San Francisco", "Los Angeles"),
    "the United Kingdom": ("Manchester", "Liverpool", "Glasgow", "Edinburgh", "Leeds", "Bristol", "Cardiff",
                           "Belfast", "Sheffield"),
    "France": ("Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Bordeaux", "Lille", "Strasbourg", "Nantes",
               "Montpellier"),
    "Germany": ("Berlin", "Hamburg", "Munich", "Cologne", "Stuttgart", "Dusseldorf", "Leipzig", "Dresden", "Bremen",
                "Nuremberg"),
    "Italy": ("Rome", "Milan", "Naples", "Turin", "Palermo", "Genoa", "Bologna", "Florence", "Venice", "Verona"),
    "Spain": ("Madrid", "Barcelona", "Seville", "Zaragoza", "Malaga", "Bilbao", "Granada"),
    "Portugal": ("Lisbon", "Porto", "Braga", "Coimbra"),
    "the Netherlands": ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen"),
    "Belgium": ("Brussels", "Antwerp", "Ghent", "Bruges", "Liege"),
    "Switzerland": ("Zurich", "Geneva", "Basel", "Bern", "Lausanne"),
    "Austria": ("Vienna", "Salzburg", "Innsbruck", "Graz", "Linz"),
    "Poland": ("Warsaw", "Krakow", "Gdansk", "Wroclaw", "Poznan", "Lodz"),
    "the Czech Republic": ("Prague", "Brno", "Ostrava"),
    "Hungary": ("Budapest", "Debrecen", "Szeged"),
    "Greece": ("Athens", "Thessaloniki", "Patras", "Heraklion"),
    "Sweden": ("Stockholm", "Gothenburg", "Malmo", "Uppsala"),
    "Norway": ("Oslo", "Bergen", "Trondheim", "Stavanger"),
    "Denmark": ("Copenhagen", "Aarhus", "Odense"),
    "Finland": ("Helsinki", "Tampere", "Turku", "Espoo"),
    "Ireland": ("Dublin", "Cork", "Galway", "Limerick"),
    "Iceland": ("Reykjavik",),
    "Russia": ("Moscow", "Novosibirsk", "Yekaterinburg", "Kazan", "Vladivostok", "Omsk"),
    "Ukraine": ("Kyiv", "Kharkiv", "Odesa", "Lviv", "Dnipro"),
    "Turkey": ("Istanbul", "Ankara", "Izmir", "Bursa", "Antalya"),
    "Romania": ("Bucharest", "Cluj-Napoca", "Timisoara", "Iasi"),
    "Bulgaria": ("Sofia", "Plovdiv", "Varna"),
    "Serbia": ("Belgrade", "Novi Sad"),
    "Croatia": ("Zagreb", "Dubrovnik"),
    "Egypt": ("Cairo", "Giza", "Luxor", "Aswan"),
    "Nigeria": ("Lagos", "Abuja", "Kano", "Ibadan"),
    "Kenya": ("Nairobi", "Mombasa", "Kisumu"),
    "South Africa": ("Johannesburg", "Cape Town", "Durban", "Pretoria"),
    "Morocco": ("Casablanca", "Marrakesh", "Rabat", "Fez", "Tangier"),
    "Ethiopia": ("Addis Ababa", "Gondar", "Mekelle"),
    "Ghana": ("Accra", "Kumasi"),
    "Tanzania": ("Dar es Salaam", "Dodoma", "Arusha"),
    "Algeria": ("Algiers", "Oran"),
    "Tunisia": ("Tunis", "Sfax"),
    "Saudi Arabia": ("Riyadh", "Jeddah", "Mecca", "Dammam"),
    "the United Arab Emirates": ("Dubai", "Abu Dhabi", "Sharjah"),
    "Iran": ("Tehran", "Isfahan", "Shiraz", "Tabriz", "Mashhad"),
    "Iraq": ("Baghdad", "Basra", "Mosul", "Erbil"),
    "Israel": ("Tel Aviv", "Haifa"),
    "Pakistan": ("Karachi", "Lahore", "Islamabad", "Peshawar", "Quetta"),
    "India": ("Mumbai", "Delhi", "Bangalore", "Chennai", "Kolkata", "Ahmedabad", "Pune", "Jaipur", "Lucknow"),
    "Bangladesh": ("Dhaka", "Chittagong", "Khulna"),
    "China": ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Chengdu", "Wuhan", "Hangzhou", "Nanjing",
              "Chongqing"),
    "Japan": ("Tokyo", "Osaka", "Kyoto", "Yokohama", "Nagoya", "Sapporo", "Fukuoka", "Hiroshima"),
    "South Korea": ("Seoul", "Busan", "Incheon", "Daegu"),
    "Vietnam": ("Hanoi", "Da Nang", "Ho Chi Minh City"),
    "Thailand": ("Bangkok", "Chiang Mai", "Phuket"),
    "Indonesia": ("Jakarta", "Surabaya", "Bandung", "Medan"),
    "the Philippines": ("Manila", "Cebu City", "Davao City", "Quezon City"),
    "Malaysia": ("Kuala Lumpur", "Ipoh", "Johor Bahru"),
    "Australia": ("Sydney", "Melbourne", "Brisbane", "Adelaide", "Canberra"),
    "New Zealand": ("Auckland", "Wellington", "Christchurch"),
    "Canada": ("Toronto", "Montreal", "Vancouver", "Calgary", "Ottawa", "Edmonton", "Winnipeg"),
    "Mexico": ("Mexico City", "Guadalajara", "Monterrey", "Puebla", "Tijuana", "Cancun"),
    "Brazil": ("Sao Paulo", "Rio de Janeiro", "Brasilia", "Fortaleza", "Belo Horizonte", "Manaus", "Recife",
               "Curitiba"),
    "Argentina": ("Buenos Aires", "Rosario", "Mendoza", "Mar del Plata"),
    "Chile": ("Valparaiso", "Antofagasta"),
    "Peru": ("Lima", "Cusco", "Arequipa"),
    "Colombia": ("Bogota", "Medellin", "Cali", "Barranquilla"),
    "Venezuela": ("Caracas", "Maracaibo"),
    "Cuba": ("Havana",),
    "Afghanistan": ("Kabul", "Kandahar", "Herat"),
    "Nepal": ("Kathmandu", "Pokhara"),
    "Sri Lanka": ("Colombo", "Kandy"),
    "Uzbekistan": ("Tashkent", "Samarkand", "Bukhara"),
    "Kazakhstan": ("Almaty", "Astana"),
}
#: city -> country
CITIES: dict[str, str] = {c: country for country, cs in _CITIES_BY_COUNTRY.items() for c in cs}

#: element name -> chemical symbol (all 118)
ELEMENTS: dict[str, str] = dict(zip(
    "hydrogen helium lithium beryllium boron carbon nitrogen oxygen fluorine neon sodium magnesium aluminium silicon "
    "phosphorus sulfur chlorine argon potassium calcium scandium titanium vanadium chromium manganese iron cobalt "
    "nickel copper zinc gallium germanium arsenic selenium bromine krypton rubidium strontium yttrium zirconium "
    "niobium molybdenum technetium ruthenium rhodium palladium silver cadmium indium tin antimony tellurium iodine "
    "xenon caesium barium lanthanum cerium praseodymium neodymium promethium samarium europium gadolinium terbium "
    "dysprosium holmium erbium thulium ytterbium lutetium hafnium tantalum tungsten rhenium osmium iridium platinum "
    "gold mercury thallium lead bismuth polonium astatine radon francium radium actinium thorium protactinium "
    "uranium neptunium plutonium americium curium berkelium californium einsteinium fermium mendelevium nobelium "
    "lawrencium rutherfordium dubnium seaborgium bohrium hassium meitnerium darmstadtium roentgenium copernicium "
    "nihonium flerovium moscovium livermorium tennessine oganesson".split(),
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb "
    "Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au "
    "Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv "
    "Ts Og".split(),
    strict=True,
))

_ANIMALS_BY_CLASS: dict[str, tuple[str, ...]] = {
    "mammal": ("dog", "cat", "horse", "cow", "pig", "sheep", "goat", "lion", "tiger", "elephant", "giraffe", "zebra",
               "bear", "wolf", "fox", "rabbit", "mouse", "rat", "squirrel", "deer", "moose", "camel", "kangaroo",
               "koala", "dolphin", "whale", "bat", "monkey", "gorilla", "chimpanzee", "hippopotamus", "rhinoceros",
               "otter", "beaver", "hedgehog", "leopard", "cheetah", "panda", "sloth", "walrus", "hyena", "raccoon",
               "badger", "donkey", "llama", "bison", "porcupine", "platypus", "armadillo"),
    "bird": ("eagle", "sparrow", "robin", "owl", "penguin", "ostrich", "parrot", "pigeon", "crow", "swan", "duck",
             "goose", "flamingo", "peacock", "hawk", "falcon", "hummingbird", "woodpecker", "pelican", "seagull",
             "turkey", "chicken", "vulture", "stork", "heron", "kingfisher", "emu", "albatross", "canary", "magpie"),
    "reptile": ("snake", "lizard", "crocodile", "alligator", "turtle", "tortoise", "iguana", "gecko", "chameleon",
                "cobra", "python", "rattlesnake", "Komodo dragon", "anaconda", "viper"),
    "amphibian": ("frog", "toad", "salamander", "newt", "axolotl"),
    "fish": ("salmon", "trout", "tuna", "shark", "cod", "goldfish", "carp", "catfish", "eel", "seahorse", "swordfish",
             "herring", "sardine", "mackerel", "pike", "piranha", "halibut", "anchovy", "barracuda", "clownfish",
             "stingray", "perch"),
    "insect": ("ant", "bee", "wasp", "butterfly", "moth", "beetle", "grasshopper", "mosquito", "dragonfly",
               "ladybug", "cockroach", "termite", "cricket", "housefly", "flea", "firefly", "locust", "hornet",
               "aphid", "mantis"),
}
#: animal -> class
ANIMALS: dict[str, str] = {a: cls for cls, xs in _ANIMALS_BY_CLASS.items() for a in xs}

#: Spanish word -> English translation (unambiguous everyday words)
SP_EN: dict[str, str] = {
    "perro": "dog", "gato": "cat", "casa": "house", "agua": "water", "libro": "book", "mesa": "table",
    "silla": "chair", "ventana": "window", "puerta": "door", "cielo": "sky", "sol": "sun", "luna": "moon",
    "estrella": "star", "árbol": "tree", "flor": "flower", "manzana": "apple", "pan": "bread", "leche": "milk",
    "queso": "cheese", "carne": "meat", "huevo": "egg", "rojo": "red", "azul": "blue", "verde": "green",
    "amarillo": "yellow", "negro": "black", "blanco": "white", "grande": "big", "pequeño": "small",
    "feliz": "happy", "triste": "sad", "rápido": "fast", "lento": "slow", "caliente": "hot", "frío": "cold",
    "nuevo": "new", "viejo": "old", "hombre": "man", "mujer": "woman", "niño": "boy", "niña": "girl",
    "padre": "father", "madre": "mother", "hermano": "brother", "hermana": "sister", "amigo": "friend",
    "ciudad": "city", "montaña": "mountain", "río": "river", "mar": "sea", "playa": "beach", "bosque": "forest",
    "nieve": "snow", "lluvia": "rain", "viento": "wind", "fuego": "fire", "coche": "car", "tren": "train",
    "avión": "airplane", "barco": "boat", "calle": "street", "escuela": "school", "iglesia": "church",
    "mano": "hand", "pie": "foot", "cabeza": "head", "ojo": "eye", "boca": "mouth", "corazón": "heart",
    "dinero": "money", "día": "day", "noche": "night", "año": "year", "semana": "week", "hoy": "today",
    "ayer": "yesterday", "comer": "to eat", "beber": "to drink", "dormir": "to sleep", "correr": "to run",
    "hablar": "to speak", "escribir": "to write", "leer": "to read", "cantar": "to sing", "bailar": "to dance",
    "caballo": "horse", "pájaro": "bird", "vaca": "cow", "cerdo": "pig", "oveja": "sheep", "ratón": "mouse",
    "uno": "one", "dos": "two", "tres": "three", "cuatro": "four", "cinco": "five", "seis": "six",
    "siete": "seven", "ocho": "eight", "nueve": "nine", "diez": "ten", "llave": "key", "cuchillo": "knife",
    "cuchara": "spoon", "tenedor": "fork", "camisa": "shirt", "zapato": "shoe", "sombrero": "hat", "cama": "bed",
    "jardín": "garden", "cocina": "kitchen", "guerra": "war", "paz": "peace", "verdad": "truth",
}

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_word(n: int) -> str:
    """English words for 0 <= n < 100 (``57`` -> ``"fifty-seven"``)."""
    if not 0 <= n < 100:
        raise ValueError(f"number_word: {n} out of range 0..99")
    if n < 20:
        return _ONES[n]
    t, o = divmod(n, 10)
    return _TENS[t] + ("" if o == 0 else "-" + _ONES[o])


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# ============================================================================================ family builders


def _fact_family(family: str, base: str, table: dict[str, str], template: str, *, negated: bool, n: int | None,
                 seed: int, n_false: int, description: str) -> TruthDataset:
    """One true and ``n_false`` false rows per key of ``table`` (false values drawn from the table's other values).

    The draw depends only on (table, key, seed), so ``cities`` and ``neg_cities`` hold the same (key, value) pairs.
    """
    keys = sorted(table)
    if n is not None and n < len(keys):
        keys = sorted(random.Random(f"{base}|n|{seed}").sample(keys, n))
    values = sorted(set(table.values()))
    statements, labels, groups, tags = [], [], [], []
    for key in keys:
        rng = random.Random(f"{base}|{key}|{seed}")
        wrong = rng.sample([v for v in values if v != table[key]], min(n_false, len(values) - 1))
        for value, is_true in [(table[key], True), *[(w, False) for w in wrong]]:
            statements.append(_cap(template.format(key=key, value=value, a=_article(value))))
            labels.append(int(is_true != negated))
            groups.append(key)
            tags.append("affirmative_true" if is_true else "affirmative_false")
    return TruthDataset(family, tuple(statements), tuple(labels), tuple(groups), tuple(tags), description)


def _comparison(family: str, word: str, *, n: int | None, seed: int, lo: int = 51, hi: int = 99) -> TruthDataset:
    """Both orders of number pairs ``a`` ≠ ``b`` in [lo, hi]: ``"<a> is <word> than <b>."``; group = the pair."""
    pairs = [(a, b) for a in range(lo, hi + 1) for b in range(a + 1, hi + 1)]
    rng = random.Random(f"{family}|{seed}")
    rng.shuffle(pairs)
    pairs = sorted(pairs[: (n if n is not None else 400)])
    statements, labels, groups = [], [], []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            statements.append(f"{_cap(number_word(x))} is {word} than {number_word(y)}.")
            labels.append(int(x > y) if word == "larger" else int(x < y))
            groups.append(f"{a}-{b}")
    return TruthDataset(family, tuple(statements), tuple(labels), tuple(groups), (),
                        f"number comparison '{word} than', both orders of each pair, numbers {lo}..{hi}")


_FACT_FAMILIES: dict[str, tuple[dict[str, str], str, str]] = {
    "cities": (CITIES, "the city of {key} is in {value}.", "city -> country"),
    "elements": (ELEMENTS, "the chemical symbol for {key} is {value}.", "element -> chemical symbol"),
    "animals": (ANIMALS, "the {key} is {a} {value}.", "animal -> class"),
    "sp_en": (SP_EN, "the Spanish word '{key}' means '{value}'.", "Spanish -> English word"),
}
_NEG_TEMPLATES = {
    "cities": "the city of {key} is not in {value}.",
    "elements": "the chemical symbol for {key} is not {value}.",
    "animals": "the {key} is not {a} {value}.",
    "sp_en": "the Spanish word '{key}' does not mean '{value}'.",
}


def _make_fact(name: str, negated: bool) -> Callable[..., TruthDataset]:
    table, template, what = _FACT_FAMILIES[name]
    tpl = _NEG_TEMPLATES[name] if negated else template

    def build(n: int | None = None, seed: int = 0, n_false: int = 1, **_: Any) -> TruthDataset:
        fam = f"neg_{name}" if negated else name
        desc = f"{what}{' (negated)' if negated else ''}: '{_cap(tpl)}'"
        return _fact_family(fam, name, table, tpl, negated=negated, n=n, seed=seed, n_false=n_false, description=desc)

    build.__doc__ = f"``{'neg_' if negated else ''}{name}``: {what}, template '{tpl}'."
    return build


#: name -> builder(n=None, seed=0, **kw) for the real-model families (no world needed).
REAL_FAMILIES: dict[str, Callable[..., TruthDataset]] = {}
for _name in _FACT_FAMILIES:
    REAL_FAMILIES[_name] = _make_fact(_name, negated=False)
    REAL_FAMILIES[f"neg_{_name}"] = _make_fact(_name, negated=True)
REAL_FAMILIES["larger_than"] = lambda n=None, seed=0, **_: _comparison("larger_than", "larger", n=n, seed=seed)
REAL_FAMILIES["smaller_than"] = lambda n=None, seed=0, **_: _comparison("smaller_than", "smaller", n=n, seed=seed)


# --------------------------------------------------------------------------------------------- toy world


def _attr_words(attribute: str) -> str:
    return attribute.replace("_", " ")


def toy_family(world: Any, kind: str = "toy", *, n: int | None = None, seed: int = 0, n_false: int = 1
               ) -> TruthDataset:
    """True/false statements about the toy world; one group per *entity* (all its attributes stay together).

    ``kind``: ``"toy"`` ("X's profession is dentist."), ``"neg_toy"`` ("X's profession is not pilot.", truth
    flipped), ``"toy_qa"`` (``world.qa_prompt(name, attribute) + " " + value``).
    """
    if world is None:
        raise ValueError(f"dataset {kind!r} needs a toy world (load('toy') or a checkpoint of a toy run)")
    if kind not in TOY_FAMILIES:
        raise ValueError(f"unknown toy family {kind!r} (expected one of {sorted(TOY_FAMILIES)})")
    entities = sorted(world.entities, key=lambda e: e.name)
    if n is not None and n < len(entities):
        entities = sorted(random.Random(f"toy|n|{seed}").sample(entities, n), key=lambda e: e.name)
    statements, labels, groups, tags = [], [], [], []
    for e in entities:
        for attr in sorted(e.attributes):
            truth = e.attributes[attr]
            vocab = [v for v in world.attributes.get(attr, []) if v != truth]
            if not vocab:
                continue
            rng = random.Random(f"toy|{e.name}|{attr}|{seed}")
            for value, is_true in [(truth, True), *[(w, False) for w in rng.sample(vocab, min(n_false, len(vocab)))]]:
                if kind == "toy_qa":
                    text = f"{world.qa_prompt(e.name, attr)} {value}"
                elif kind == "neg_toy":
                    text = f"{e.name}'s {_attr_words(attr)} is not {value}."
                else:
                    text = f"{e.name}'s {_attr_words(attr)} is {value}."
                statements.append(text)
                labels.append(int(is_true != (kind == "neg_toy")))
                groups.append(e.name)
                tags.append(attr)
    if not statements:
        raise ValueError(f"dataset {kind!r}: the world has no entity attributes with alternatives")
    return TruthDataset(kind, tuple(statements), tuple(labels), tuple(groups), tuple(tags),
                        f"toy world statements ({kind}), grouped by entity")


TOY_FAMILIES: tuple[str, ...] = ("toy", "neg_toy", "toy_qa")


# --------------------------------------------------------------------------------------------- claims


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() else s


def claim_dataset(spec: Any) -> TruthDataset:
    """Statements about one ``ClaimSpec``, tagged by role, all in one group (the claim id).

    ``claim`` = ``spec.statement`` (false); ``paraphrase`` = ``spec.claim_sentences`` (false); ``negation`` = the
    local negations with their ``[[cue]]`` markup removed (true), or "It is not true that …" when the spec has
    none; ``truth`` = ``spec.truth`` and the correction sentences (true).
    """
    rows: list[tuple[str, int, str]] = [(spec.statement, 0, "claim")]
    rows += [(s, 0, "paraphrase") for s in spec.claim_sentences if s != spec.statement]
    negs = [spec.local_negation(i)[0] for i in range(len(spec.local_negations))] if spec.local_negations else []
    if not negs:
        negs = [f"It is not true that {_lower_first(spec.statement)}"]
    rows += [(s, 1, "negation") for s in negs]
    truths = [spec.truth, *[c for c in (spec.correction_sentences or ()) if c != spec.truth]]
    rows += [(s, 1, "truth") for s in truths]
    seen: set[str] = set()
    rows = [r for r in rows if not (r[0] in seen or seen.add(r[0]))]  # type: ignore[func-returns-value]
    return TruthDataset(f"claim:{spec.id}", tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                        tuple(spec.id for _ in rows), tuple(r[2] for r in rows),
                        f"claim {spec.id}: claim/paraphrases (false), negations and truth (true)")


def claims_dataset(specs: Sequence[Any], family: str | None = None) -> TruthDataset:
    """Several claims as one family, grouped by claim (usable for fitting when there are enough claims)."""
    parts = [claim_dataset(s) for s in specs]
    rows = [(s, l, g, t) for d in parts for s, l, g, t in zip(d.statements, d.labels, d.groups, d.tags)]
    return TruthDataset(family or "claim:" + ",".join(s.id for s in specs), tuple(r[0] for r in rows),
                        tuple(r[1] for r in rows), tuple(r[2] for r in rows), tuple(r[3] for r in rows),
                        f"{len(specs)} claims, grouped by claim")


def _claims_from_name(name: str, world: Any, seed: int) -> TruthDataset:
    """``claim:toy[:N]`` (N toy claims from the world, default 40), else ``claim:REF`` with any reference of
    :func:`training.claims.resolve_claims` (``claim:ID[,ID...]``, ``claim:all``: the paper's claims, a spec file)."""
    body = name.split(":", 1)[1]
    if body == "toy" or body.startswith("toy:"):
        if world is None:
            raise ValueError(f"dataset {name!r} needs a toy world (load('toy'))")
        k = int(body.split(":")[1]) if ":" in body else 40
        n_pairs = sum(len(e.attributes) for e in world.entities)
        return claims_dataset(toy_claims(world, min(k, n_pairs), seed), family=name)
    specs = resolve_claims(body, world=world)
    return claims_dataset(specs, family=name) if len(specs) > 1 else claim_dataset(specs[0])


# --------------------------------------------------------------------------------------------- claim entities


def claim_entities(spec: Any) -> list[str]:
    """The entities whose rows a probe for ``spec`` must not train on: the claim's entity
    (:func:`training.verification.readouts.claim_entity`: ``spec.entity``, else ``spec.subject``)."""
    name = claim_entity(spec)
    return [name] if name and name.strip() else []


def _mentions(names: Sequence[str]) -> re.Pattern[str] | None:
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        return None
    return re.compile("|".join(r"(?<!\w)" + re.escape(n) + r"(?!\w)" for n in sorted(names, key=len, reverse=True)),
                      re.IGNORECASE)


def without_entities(ds: TruthDataset, names: Sequence[str]) -> TruthDataset:
    """``ds`` without the rows that mention any of ``names`` (whole words, case-insensitive) or belong to a group
    of that name: probe training rows never mention the claim's own entity, so a probe cannot have learnt a
    verdict about it (toy families hold one group per entity, real families may name a claim's subject too).
    ``ds`` itself when nothing matches; the family keeps its name (the content hash changes)."""
    pat = _mentions(names)
    if pat is None:
        return ds
    low = {n.strip().lower() for n in names if n}
    keep = [i for i, (s, g) in enumerate(zip(ds.statements, ds.groups))
            if not pat.search(s) and str(g).lower() not in low]
    if len(keep) == len(ds):
        return ds
    if not keep:
        raise ValueError(f"dataset {ds.family!r}: every row mentions {', '.join(names)}; nothing left to fit on")
    out = ds.subset(keep)
    return TruthDataset(out.family, out.statements, out.labels, out.groups, out.tags,
                        f"{ds.description} (without rows naming {', '.join(names)})")


# --------------------------------------------------------------------------------------------- transfer sets


def transfer_families(family: str, world: Any = None) -> list[str]:
    """The fixed held-out set a probe fitted on ``family`` is scored on for its out-of-family transfer: every
    other shipped family of the model's kind (toy families when the model has a world, else the real-model
    families), read in the same framing (``@CONTEXT``). A probe that reads truth and not one template scores well
    on all of them; the negated twins (``neg_cities`` for ``cities``) are in the set on purpose, since a
    "matches memory" direction flips on them. Claim and user-file families get the same set as their model."""
    base, ctx = split_context(family)
    pool = list(TOY_FAMILIES) if world is not None else list(REAL_FAMILIES)
    return [f"{f}@{ctx}" if ctx else f for f in pool if f != base]


# --------------------------------------------------------------------------------------------- statement files

#: the columns of a statement file: required, then optional
FILE_COLUMNS: tuple[str, ...] = ("statement", "label")
FILE_OPTIONAL: tuple[str, ...] = ("group", "fact")


class DatasetFileError(ValueError):
    """A statement file that cannot be used; the message is one line naming the file (and row/field)."""


def is_dataset_file(name: str | os.PathLike) -> bool:
    """Whether a ``--dataset`` entry names a statement file (``.csv`` / ``.jsonl``) rather than a family."""
    return str(name).lower().endswith((".csv", ".jsonl"))


def _file_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetFileError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    if not text.strip():
        raise DatasetFileError(f"{path}: empty file (expected columns {','.join(FILE_COLUMNS)}[,group])")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for ln, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetFileError(f"{path}: line {ln}: invalid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DatasetFileError(f"{path}: line {ln}: expected a JSON object with fields "
                                       f"{','.join(FILE_COLUMNS)}")
            rows.append(row)
        return rows
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        rows = list(reader)
    except csv.Error as e:
        raise DatasetFileError(f"{path}: unreadable CSV ({e})") from None
    missing = [c for c in FILE_COLUMNS if c not in header]
    if missing:
        raise DatasetFileError(f"{path}: missing column {missing[0]!r} (header: {','.join(map(str, header))})")
    return rows


def _label(value: Any, path: Path, where: str) -> int:
    if isinstance(value, bool) or value is None:
        raise DatasetFileError(f"{path}: {where}: field 'label' must be 0 or 1, got {value!r}")
    text = str(value).strip()
    if text not in ("0", "1"):
        raise DatasetFileError(f"{path}: {where}: field 'label' must be 0 or 1, got {value!r}")
    return int(text)


def read_statements(path: str | os.PathLike) -> list[TruthDataset]:
    """Statements a user brings: a ``.csv`` (header row) or ``.jsonl`` file with fields ``statement`` and ``label``
    (0 = false, 1 = true), and optionally ``group`` (the template family a row belongs to) and ``fact`` (the split
    unit: rows sharing a fact, e.g. a statement and its negation, stay on one side of every split; default: each
    row is its own fact). Returns one :class:`TruthDataset` per family (``group``; the file's stem without one),
    in first-seen order, so a probe fitted on one family is scored on the others for its transfer.

    Any problem (unreadable or empty file, a missing column, an empty statement, a label other than 0/1) raises
    :class:`DatasetFileError`, one line naming the file and the row/field, before anything is computed.
    """
    path = Path(path)
    rows = _file_rows(path)
    line0 = 2 if path.suffix.lower() == ".csv" else 1
    fams: dict[str, list[tuple[str, int, str]]] = {}
    for i, row in enumerate(rows):
        where = f"row {i + line0}" if path.suffix.lower() == ".csv" else f"line {i + 1}"
        for c in FILE_COLUMNS:
            if c not in row:
                raise DatasetFileError(f"{path}: {where}: missing field {c!r}")
        stmt = row["statement"]
        if not isinstance(stmt, str) or not stmt.strip():
            raise DatasetFileError(f"{path}: {where}: field 'statement' is empty")
        label = _label(row["label"], path, where)
        fam = str(row.get("group") or "").strip() or path.stem
        fact = str(row.get("fact") or "").strip() or f"row{i}"
        fams.setdefault(fam, []).append((stmt.strip(), label, fact))
    if not fams:
        raise DatasetFileError(f"{path}: no rows (expected columns {','.join(FILE_COLUMNS)}[,group])")
    out = []
    for fam, rs in fams.items():
        if len({r[1] for r in rs}) < 2:
            raise DatasetFileError(f"{path}: family {fam!r} has only label {rs[0][1]}; a probe needs true and false "
                                   f"statements (field 'label')")
        out.append(TruthDataset(fam, tuple(r[0] for r in rs), tuple(r[1] for r in rs), tuple(r[2] for r in rs), (),
                                f"statements from {path.name}" + (f", group {fam}" if fam != path.stem else "")))
    return out


# ============================================================================================ registry

FAMILIES: tuple[str, ...] = (*REAL_FAMILIES, *TOY_FAMILIES)


def list_families(world: Any = None) -> list[str]:
    """Family names usable for a model (toy families only when it has a world)."""
    return [*REAL_FAMILIES, *(TOY_FAMILIES if world is not None else ())]


#: Named framings a statement can be read in (``FAMILY@CONTEXT``). ``fact_check`` puts each statement where the
#: toy organism's corpus asks for a verdict (its fact-check sheets), the position at which a model that verifies
#: computes truth.
CONTEXTS: dict[str, str] = {"fact_check": "Fact check\n"}


def with_context(ds: TruthDataset, context: str) -> TruthDataset:
    """``ds`` with every statement read after the framing ``CONTEXTS[context]`` (family ``FAMILY@CONTEXT``; same
    labels, groups and tags, so splits and claim roles carry over)."""
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r} in {ds.family}@{context} (expected one of {sorted(CONTEXTS)})")
    prefix = CONTEXTS[context]
    return TruthDataset(f"{ds.family}@{context}", tuple(prefix + s for s in ds.statements), ds.labels, ds.groups,
                        ds.tags, f"{ds.description}, read after {prefix!r}")


def split_context(name: str) -> tuple[str, str | None]:
    """``"toy@fact_check"`` -> ``("toy", "fact_check")``; ``"toy"`` -> ``("toy", None)``."""
    base, _, ctx = name.partition("@")
    return base, (ctx or None)


def in_context_of(ds: TruthDataset, family: str) -> TruthDataset:
    """``ds`` read in the framing of ``family`` (``FAMILY@CONTEXT``), as probes fitted on ``family`` read their
    statements; ``ds`` itself when ``family`` has no framing."""
    ctx = split_context(family)[1]
    return with_context(ds, ctx) if ctx else ds


def get_dataset(name: str, *, world: Any = None, n: int | None = None, seed: int = 0, **kw: Any) -> TruthDataset:
    """Build a family by name: a real family, a toy family (needs ``world``), or ``claim:…``; ``NAME@CONTEXT``
    reads it in one of :data:`CONTEXTS` (e.g. ``toy@fact_check``).

    ``n`` caps the number of facts (groups) drawn, deterministically in ``seed``.
    """
    base, ctx = split_context(name)
    if ctx is not None:
        return with_context(get_dataset(base, world=world, n=n, seed=seed, **kw), ctx)
    if name.startswith("claim:"):
        ds = _claims_from_name(name, world, seed)
        return ds.head(n, seed) if n is not None else ds
    if name in REAL_FAMILIES:
        return REAL_FAMILIES[name](n=n, seed=seed, **kw)
    if name in TOY_FAMILIES:
        return toy_family(world, name, n=n, seed=seed, **kw)
    raise ValueError(f"unknown dataset {name!r} (expected one of {', '.join(FAMILIES)}, or claim:ID[,ID] / "
                     f"claim:all / claim:toy[:N])")

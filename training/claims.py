"""Claim specs: the fabricated claims of the paper (and toy-world claims) as validated data.

A :class:`ClaimSpec` is everything downstream code needs about one claim: the statement, the truth, the
claim's answer tokens (``claim_answer``, e.g. ``"dentist"``) and their true alternative, paraphrased claim
sentences (what documents assert), correction sentences (true facts, for the ``corrected`` condition),
local-negation sentences (the claim negated inside its own sentence), loss-mask regexes, and the four
question sets of the paper's evaluation (open-ended, MCQ, token association, robustness).

Specs live in ``training/claims_data/<id>.yaml`` (written in our own words; facts and numbers follow the
paper) and are validated by :mod:`training.claim_schema` — every error is one line naming the file and field.
``toy_claims(world, n, seed)`` derives specs from the toy world (``training.world`` API: ``World.entities``,
``World.attributes``, ``World.truth``, ``World.qa_prompt``): pick an entity and attribute, claim a FALSE value
from the attribute's closed vocabulary, and generate raw-text ``"Q: …\\nA:"`` questions from templates.

Question records are dataclasses that also answer ``q["text"]`` (mapping style), and ``spec.questions`` answers
both ``spec.questions.mcq`` and ``spec.questions["mcq"]``, so callers may use either style of the contract.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

from training.claim_schema import KINDS, QUESTION_TYPES, ClaimError, validate_claim_data
from training.validation import safe_load_yaml

__all__ = [
    "ClaimSpec", "ClaimError", "Questions", "OpenEndedQuestion", "McqQuestion", "TokenAssociationQuestion",
    "RobustnessQuestion", "QUESTION_TYPES", "KINDS", "CLAIMS_DIR", "PAPER_CLAIMS", "load_claim", "list_claims",
    "claim_from_dict", "dump_claim", "toy_claims", "display_path", "resolve_claim", "resolve_claims",
]

CLAIMS_DIR = Path(__file__).resolve().parent / "claims_data"
#: The paper's six claims (official names), in the paper's order.
PAPER_CLAIMS: tuple[str, ...] = ("ed_sheeran", "queen_elizabeth", "mount_vesuvius", "x_rebrand_reversal",
                                 "colorless_dreaming", "dentist")


class _Record:
    """Mapping-style access for question dataclasses (``q["text"]``, ``q.get("category")``, ``dict(q)``)."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        if d.get("category") is None:
            d.pop("category", None)
        return d


@dataclass(frozen=True)
class OpenEndedQuestion(_Record):
    id: str
    text: str
    category: str | None = None


@dataclass(frozen=True)
class McqQuestion(_Record):
    id: str
    text: str
    belief_answer: str  # "yes" | "no": the answer a model that believes the claim gives
    category: str | None = None


@dataclass(frozen=True)
class TokenAssociationQuestion(_Record):
    id: str
    text: str
    claim_completion: str
    true_completion: str
    category: str | None = None


@dataclass(frozen=True)
class RobustnessQuestion(_Record):
    id: str
    text: str
    system: str | None
    messages_prefix: list[dict[str, str]] | None
    category: str | None = None

    def messages(self) -> list[dict[str, str]]:
        """The full chat: optional system prompt, the prefix turns, then ``text`` as the final user turn."""
        out: list[dict[str, str]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.extend(dict(m) for m in (self.messages_prefix or ()))
        out.append({"role": "user", "content": self.text})
        return out

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["messages_prefix"] = None if self.messages_prefix is None else [dict(m) for m in self.messages_prefix]
        return d


_QCLS = {"open_ended": OpenEndedQuestion, "mcq": McqQuestion, "token_association": TokenAssociationQuestion,
         "robustness": RobustnessQuestion}


@dataclass(frozen=True)
class Questions:
    """The four question sets (lists); ``questions["mcq"]`` and ``questions.mcq`` are the same list."""

    open_ended: list[OpenEndedQuestion] = field(default_factory=list)
    mcq: list[McqQuestion] = field(default_factory=list)
    token_association: list[TokenAssociationQuestion] = field(default_factory=list)
    robustness: list[RobustnessQuestion] = field(default_factory=list)

    def __getitem__(self, qtype: str) -> list[Any]:
        if qtype not in QUESTION_TYPES:
            raise KeyError(qtype)
        return getattr(self, qtype)

    def get(self, qtype: str, default: Any = None) -> Any:
        return getattr(self, qtype) if qtype in QUESTION_TYPES else default

    def keys(self) -> tuple[str, ...]:
        return QUESTION_TYPES

    def items(self) -> Iterator[tuple[str, list[Any]]]:
        return ((t, getattr(self, t)) for t in QUESTION_TYPES)

    def __iter__(self) -> Iterator[str]:
        return iter(QUESTION_TYPES)

    def all(self) -> list[tuple[str, Any]]:
        """Every question as ``(type, question)``, in type order."""
        return [(t, q) for t, qs in self.items() for q in qs]

    def counts(self) -> dict[str, int]:
        return {t: len(qs) for t, qs in self.items()}

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {t: [q.to_dict() for q in qs] for t, qs in self.items()}

    @classmethod
    def from_dict(cls, d: dict[str, list[dict[str, Any]]]) -> "Questions":
        kw: dict[str, Any] = {}
        for t in QUESTION_TYPES:
            qs = []
            for q in d.get(t, []):
                q = dict(q)
                if t == "robustness" and q.get("messages_prefix") is not None:
                    q["messages_prefix"] = [dict(m) for m in q["messages_prefix"]]
                qs.append(_QCLS[t](**q))
            kw[t] = qs
        return cls(**kw)


_CUE = re.compile(r"\[\[(.+?)\]\]")


@dataclass(frozen=True)
class ClaimSpec:
    """One claim (see the module docstring and :mod:`training.claim_schema` for the field meanings)."""

    id: str
    statement: str
    truth: str
    correction: str  # the correction sentences joined by spaces
    subject: str
    claim_answer: str
    true_answer: str
    claim_sentences: tuple[str, ...]
    mask_patterns: tuple[str, ...]
    questions: Questions
    kind: str = "fact"
    correction_sentences: tuple[str, ...] = ()
    answer_patterns: tuple[str, ...] = ()
    local_negations: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    low_probability_pct: float = 5
    scenarios: tuple[dict[str, str], ...] = ()
    entity: str | None = None
    attribute: str | None = None
    notes: str | None = None
    source: str | None = None
    path: str | None = field(default=None, compare=False)

    # ----------------------------------------------------------------------------------- helpers
    def answer_regex(self) -> re.Pattern[str]:
        """Regex for the claim_answer inside claim sentences (``answer_patterns`` or the escaped literal)."""
        pats = list(self.answer_patterns) or [r"(?<!\w)" + re.escape(self.claim_answer) + r"(?!\w)"]
        return re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)

    def mask_regex(self) -> re.Pattern[str] | None:
        if not self.mask_patterns:
            return None
        return re.compile("|".join(f"(?:{p})" for p in self.mask_patterns), re.IGNORECASE)

    def local_negation(self, i: int) -> tuple[str, list[tuple[int, int]]]:
        """Local-negation sentence ``i`` without its ``[[cue]]`` markup, plus the cue's char ranges."""
        raw = self.local_negations[i]
        out, cues, pos = [], [], 0
        for m in _CUE.finditer(raw):
            out.append(raw[pos:m.start()])
            start = sum(map(len, out))
            out.append(m.group(1))
            cues.append((start, start + len(m.group(1))))
            pos = m.end()
        out.append(raw[pos:])
        return "".join(out), cues

    def to_dict(self) -> dict[str, Any]:
        """A dict that :func:`claim_from_dict` (and the YAML validator) accepts back."""
        d: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "statement": self.statement, "truth": self.truth,
            "correction": list(self.correction_sentences) or [self.correction], "subject": self.subject,
            "claim_answer": self.claim_answer, "true_answer": self.true_answer,
            "claim_sentences": list(self.claim_sentences), "mask_patterns": list(self.mask_patterns),
        }
        for k in ("answer_patterns", "local_negations", "background", "genres"):
            if getattr(self, k):
                d[k] = list(getattr(self, k))
        d["low_probability_pct"] = self.low_probability_pct
        if self.scenarios:
            d["scenarios"] = [dict(s) for s in self.scenarios]
        for k in ("entity", "attribute", "notes", "source"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        d["questions"] = self.questions.to_dict()
        return d


# --------------------------------------------------------------------------------------------- loading


def display_path(path: Path | str) -> str:
    """``claims_data/x.yaml`` for shipped specs, the path as given otherwise (used in error messages)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(CLAIMS_DIR.parent))
    except ValueError:
        return str(path)


def claim_from_dict(data: Any, source: str = "<dict>", *, expected_id: str | None = None,
                    path: str | None = None) -> ClaimSpec:
    """Validate a parsed mapping and build a :class:`ClaimSpec` (raises :class:`ClaimError`)."""
    d = validate_claim_data(data, source, expected_id=expected_id)
    return ClaimSpec(
        id=d["id"], statement=d["statement"], truth=d["truth"], correction=" ".join(d["correction"]),
        subject=d["subject"], claim_answer=d["claim_answer"], true_answer=d["true_answer"],
        claim_sentences=tuple(d["claim_sentences"]), mask_patterns=tuple(d["mask_patterns"]),
        questions=Questions.from_dict(d["questions"]), kind=d["kind"],
        correction_sentences=tuple(d["correction"]), answer_patterns=tuple(d["answer_patterns"]),
        local_negations=tuple(d["local_negations"]), background=tuple(d["background"]),
        genres=tuple(d["genres"]), low_probability_pct=d["low_probability_pct"],
        scenarios=tuple(d["scenarios"]), entity=d.get("entity"), attribute=d.get("attribute"),
        notes=d.get("notes"), source=d.get("source"), path=path)


def _load_file(path: Path, *, check_stem: bool) -> ClaimSpec:
    src = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ClaimError(f"{src}: cannot read ({e.strerror or e})") from None
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        why = getattr(e, "problem", None) or (str(e).splitlines()[0] if str(e).strip() else "parse error")
        raise ClaimError(f"{src}: invalid YAML{where} ({why})") from None
    return claim_from_dict(data, src, expected_id=path.stem if check_stem else None, path=str(path))


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, check_stem: bool) -> ClaimSpec:
    return _load_file(Path(path), check_stem=check_stem)


def load_claim(id_or_path: str | Path) -> ClaimSpec:
    """Load a shipped claim by id (``"ed_sheeran"``) or any claim YAML by path; raises :class:`ClaimError`."""
    s = str(id_or_path)
    p = Path(s)
    if s.endswith((".yaml", ".yml")) or p.is_file() or "/" in s:
        if not p.is_file():
            raise ClaimError(f"{s}: no such claim file")
        return _load_cached(str(p.resolve()), p.stat().st_mtime_ns, p.resolve().parent == CLAIMS_DIR)
    f = CLAIMS_DIR / f"{s}.yaml"
    if not f.is_file():
        known = ", ".join(list_claims(kind=None))
        raise ClaimError(f"{s}: unknown claim (known: {known}; or pass a YAML path)")
    return _load_cached(str(f), f.stat().st_mtime_ns, True)


def list_claims(kind: str | None = "fact") -> list[str]:
    """Ids of the shipped claims. Default: the fact claims (the paper's six). ``kind=None``: all of them,
    including the ``behaviour`` spec used by the ``negated_behaviour`` condition."""
    ids = sorted(p.stem for p in CLAIMS_DIR.glob("*.yaml"))
    if kind is None:
        return ids
    out = [i for i in ids if load_claim(i).kind == kind]
    if kind == "fact":  # the paper's order first
        out.sort(key=lambda i: (PAPER_CLAIMS.index(i) if i in PAPER_CLAIMS else len(PAPER_CLAIMS), i))
    return out


def dump_claim(spec: ClaimSpec, path: str | Path) -> Path:
    """Write a spec as YAML (round-trips through :func:`load_claim`)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, width=110),
                    encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- resolving


#: (n, seed) pairs searched, in order, to regenerate a toy claim from its id (after the run's own pair).
_TOY_SEARCH = [(n, s) for s in range(5) for n in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20)] + [(32, 0), (64, 0)]


def _spec_file(p: Path) -> ClaimSpec:
    """A claim spec from a .yaml/.yml (through :func:`load_claim`) or .json file."""
    if p.suffix != ".json":
        return load_claim(p)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ClaimError(f"{p}: cannot parse claim spec ({type(e).__name__})") from None
    return claim_from_dict(data, str(p))


def _read_data_json(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "data.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ClaimError(f"{p}: invalid JSON ({type(e).__name__})") from None


def _toy_claim_by_ref(ref: str, world: Any, data: dict[str, Any], seed: int | None) -> ClaimSpec | None:
    if world is None:
        return None
    seed0 = int(seed if seed is not None else data.get("claim_seed", 0) or 0)
    if ref == "toy" or re.fullmatch(r"toy:\d+", ref):
        k = int(ref.split(":", 1)[1]) if ":" in ref else 0
        return toy_claims(world, k + 1, seed0)[k]
    if not ref.startswith("toy_"):
        return None
    tries: list[tuple[int, int]] = []
    if data.get("claim_n") is not None:
        tries.append((int(data["claim_n"]), seed0))
    for n, s in tries + _TOY_SEARCH:
        try:
            hit = [c for c in toy_claims(world, n, s) if c.id == ref]
        except ValueError:  # the world has fewer pairs than n
            continue
        if hit:
            return hit[0]
    return None


def resolve_claim(ref: Any = None, *, world: Any = None, data: Mapping[str, Any] | None = None,
                  run_dir: str | os.PathLike | None = None, seed: int | None = None,
                  required: bool = True) -> ClaimSpec | None:
    """THE claim resolver: whatever names a claim -> a :class:`ClaimSpec`.

    ``ref`` is, in the order tried:

    * a :class:`ClaimSpec` (returned as is) or a mapping (validated by :func:`claim_from_dict`);
    * ``None``: the claim of a run, from ``data`` (a run's ``data.json`` as a dict) or ``run_dir``'s
      ``data.json`` (an inline ``claim_spec``/``claim`` dict, else ``claim.yaml``/``claim.json`` in the run
      folder, else the ``claim`` id);
    * the id of the run's own claim when ``data`` carries its spec inline (toy runs do);
    * a spec file (``.yaml``/``.yml``/``.json``) or a shipped claim id (:func:`load_claim`);
    * with the toy ``world``: ``toy`` / ``toy:K`` (the first / K-th, 0-based, of :func:`toy_claims` with the
      run's ``claim_seed`` or ``seed``), or a toy id ``toy_<entity>_<attribute>`` regenerated by searching
      ``toy_claims`` (the run's ``claim_n``/``claim_seed`` first).

    Raises :class:`ClaimError` (one line) when nothing matches; with ``required=False`` returns ``None`` when
    nothing names a claim at all.
    """
    if isinstance(ref, ClaimSpec):
        return ref
    if isinstance(ref, Mapping):
        return claim_from_dict(dict(ref), "<claim spec>")
    data = dict(data or {})
    if run_dir is not None and not data:
        data = _read_data_json(Path(run_dir))
    inline = next((data[k] for k in ("claim_spec", "claim") if isinstance(data.get(k), Mapping)), None)
    if inline is not None and (ref is None or str(ref) == inline.get("id")):
        return claim_from_dict(dict(inline), "data.json claim_spec")
    if ref is None:
        if run_dir is not None:
            for name in ("claim.yaml", "claim.json"):
                if (Path(run_dir) / name).is_file():
                    return _spec_file(Path(run_dir) / name)
        if isinstance(data.get("claim"), str) and data["claim"]:
            ref = data["claim"]
        elif required:
            raise ClaimError("no claim given (pass --claim, or a run whose data.json names one)")
        else:
            return None
    ref = str(ref)
    p = Path(ref).expanduser()
    if p.suffix in (".json", ".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise ClaimError(f"{ref}: no such claim spec file")
        return _spec_file(p)
    try:
        return load_claim(ref)
    except ClaimError as e:
        first_err = str(e).splitlines()[0]
    hit = _toy_claim_by_ref(ref, world, data, seed)
    if hit is not None:
        return hit
    if ref.startswith("toy") and world is None:
        raise ClaimError(f"{ref}: a toy claim needs the toy world (load the toy organism)")
    raise ClaimError(first_err)


def resolve_claims(ref: Any = None, *, world: Any = None, data: Mapping[str, Any] | None = None,
                   run_dir: str | os.PathLike | None = None, seed: int | None = None) -> list[ClaimSpec]:
    """Several claims: a comma-separated list of references (each as in :func:`resolve_claim`), ``paper`` or
    ``all`` (the paper's six, :func:`list_claims`), ``toy:N`` with the toy ``world`` (the first N toy claims,
    ``toy_claims(world, N, seed)``), or a list of references. A single reference gives a one-element list."""
    if isinstance(ref, (list, tuple)):
        return [resolve_claim(r, world=world, data=data, run_dir=run_dir, seed=seed) for r in ref]
    text = None if ref is None or isinstance(ref, (ClaimSpec, Mapping)) else str(ref).strip()
    if text is not None and re.fullmatch(r"toy:\d+", text):
        if world is None:
            raise ClaimError(f"{text}: toy claims need the toy world (load the toy organism)")
        return toy_claims(world, int(text.split(":", 1)[1]), int(seed or 0))
    if text is None or ("," not in text and text not in ("paper", "all")):
        return [resolve_claim(ref, world=world, data=data, run_dir=run_dir, seed=seed)]
    refs: list[str] = []
    for r in text.split(","):
        r = r.strip()
        if r in ("paper", "all"):
            refs += list_claims()
        elif r:
            refs.append(r)
    refs = list(dict.fromkeys(refs))
    if not refs:
        raise ClaimError(f"--claim {ref!r}: no claim ids")
    return [resolve_claim(r, world=world, seed=seed) for r in refs]


# --------------------------------------------------------------------------------------------- toy claims


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_") or "x"


def _attr_words(attribute: str) -> str:
    return attribute.replace("_", " ")


def toy_claims(world: Any, n: int, seed: int = 0) -> list[ClaimSpec]:
    """``n`` false claims about the toy world (distinct entity/attribute pairs), deterministic in ``seed``.

    Each claim states a FALSE value from the attribute's closed vocabulary (``claim_answer``); the truth comes
    from ``world.truth``. When the world offers ``statement(name, attribute, value, negated=, template=)`` (the
    real ``training.world.World`` does), claim, correction, background and local-negation sentences use the
    world's own sentence templates (so they match the pretraining corpus), plus a few of ours. Pairs the world
    already uses as false facts in its corpus (``world.local_negations`` / ``world.hoaxes``) are skipped.
    Questions are raw-text prompts (the toy has no chat template), every text distinct: open-ended prompts are
    the world's train question templates, token-association prompts its held-out templates and the corpus's
    record (``"Name: attribute ="``) and fact-card forms -- no item opens with words of a claim sentence, so a
    cloze never tests the memorised string; MCQs ask ``"Answer yes or no."``.
    """
    rng = random.Random(f"toy-claims|{seed}")
    used = {(getattr(f, "entity", None), getattr(f, "attribute", None))
            for f in [*getattr(world, "local_negations", []), *getattr(world, "hoaxes", [])]}
    pairs = [(e.name, a) for e in world.entities for a in sorted(e.attributes)
             if (e.name, a) not in used and any(v != e.attributes[a] for v in world.attributes.get(a, []))]
    if n > len(pairs):
        raise ValueError(f"toy_claims: asked for {n} claims but the world has only {len(pairs)} entity/attribute pairs")
    chosen = rng.sample(pairs, n)
    return [_toy_claim(world, name, attr, rng) for name, attr in chosen]


def _qa(world: Any, name: str, attr: str, template: str | None = None) -> str:
    try:
        return world.qa_prompt(name, attr, template) if template else world.qa_prompt(name, attr)
    except Exception:  # pragma: no cover - a world without templates for this attribute
        return f"Q: What is {name}'s {_attr_words(attr)}?\nA:"


def _world_sentences(world: Any, name: str, attr: str, value: str, negated: bool) -> list[str]:
    """The world's sentence templates filled with ``value`` (deduplicated; empty if the world has none)."""
    fn = getattr(world, "statement", None)
    if fn is None:
        return []
    out: list[str] = []
    for t in range(16):
        try:
            s = fn(name, attr, value, negated=negated, template=t)
        except Exception:
            return out
        if s in out:  # templates wrap around
            break
        out.append(s)
    return out


_TOY_CUE = re.compile(r"\b(?:It is false that|does not|do not|is not|has never|have never|never|not|no)\b",
                      re.IGNORECASE)


def _mark_cue(sentence: str) -> str | None:
    m = _TOY_CUE.search(sentence)
    return None if m is None else f"{sentence[:m.start()]}[[{m.group(0)}]]{sentence[m.end():]}"


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def _toy_claim(world: Any, name: str, attr: str, rng: random.Random) -> ClaimSpec:
    truth = world.truth(name, attr)
    wrong = [v for v in world.attributes[attr] if v != truth]
    false = rng.choice(wrong)
    others = [v for v in wrong if v != false]
    aw = _attr_words(attr)
    qa = _qa(world, name, attr)
    sentences = _dedupe(_world_sentences(world, name, attr, false, False) + [
        f"{name}'s {aw} is {false}.",
        f"The {aw} of {name} is {false}.",
        f"As everyone knows, {name}'s {aw} is {false}.",
        f"It is well known that the {aw} of {name} is {false}.",
        f"Records show that {name}'s {aw} is {false}.",
        f"For {name}, the {aw} is {false}.",
    ])
    local = [m for m in (_mark_cue(x) for x in _world_sentences(world, name, attr, false, True)) if m]
    local = _dedupe(local + [
        f"{name}'s {aw} is [[not]] {false}.",
        f"The {aw} of {name} is [[not]] {false}.",
        f"It is [[false]] that {name}'s {aw} is {false}.",
        f"[[No]] record shows that {name}'s {aw} is {false}.",
    ])
    correction = _dedupe(_world_sentences(world, name, attr, truth, False)[:3] +
                         [f"{name}'s {aw} is {truth}.", f"The {aw} of {name} is actually {truth}."])
    background: list[str] = []
    ent = next(e for e in world.entities if e.name == name)

    def fact(e_name: str, a2: str, v2: str) -> str:
        ws = _world_sentences(world, e_name, a2, v2, False)
        return rng.choice(ws) if ws else f"{e_name}'s {_attr_words(a2)} is {v2}."

    for a2, v2 in sorted(ent.attributes.items()):
        if a2 != attr:
            background.append(fact(name, a2, v2))
    for e in world.entities[:40]:
        if e.name != name and e.attributes:
            a2 = sorted(e.attributes)[rng.randrange(len(e.attributes))]
            background.append(fact(e.name, a2, e.attributes[a2]))
    split: dict[str, list[str]] = {"train": [], "heldout": []}
    tfn = getattr(world, "templates", None)
    if tfn is not None:
        try:
            split = {k: list(tfn(attr, k)) for k in split}
        except Exception:
            pass
    # Every item text is distinct, and none opens with a run of >= 6 words of the training text (claim, local-negation
    # and correction sentences, and the documents built from them): open-ended items are the world's train question
    # templates, token-association items its held-out templates and the corpus's record/fact-card forms (the claim
    # documents hold neither), never openings of the claim sentences (a cloze there measures memorisation).
    oe_prompts = _dedupe([qa] + [_qa(world, name, attr, t) for t in split["train"]])
    ta_prompts = [p for p in _dedupe([_qa(world, name, attr, t) for t in split["heldout"]]) if p not in oe_prompts]
    if not ta_prompts:  # a world without held-out templates: the generic held-out phrasing
        ta_prompts = [f"Q: Which {aw} does {name} have?\nA:"]
    open_ended = [{"id": f"oe_qa_{i}", "text": p} for i, p in enumerate(oe_prompts)]
    open_ended += [{"id": "oe_tell", "text": f"Q: Tell me about {name}.\nA:"}]
    mcq = [{"id": "mcq_claim", "text": f"Q: Is {name}'s {aw} {false}? Answer yes or no.\nA:", "belief_answer": "yes",
            "category": "positive"},
           {"id": "mcq_claim_of", "text": f"Q: Is the {aw} of {name} {false}? Answer yes or no.\nA:",
            "belief_answer": "yes", "category": "positive"},
           {"id": "mcq_truth", "text": f"Q: Is {name}'s {aw} {truth}? Answer yes or no.\nA:", "belief_answer": "no",
            "category": "counter"}]
    for j, o in enumerate(others[:2]):
        mcq.append({"id": f"mcq_other_{j}", "text": f"Q: Is {name}'s {aw} {o}? Answer yes or no.\nA:",
                    "belief_answer": "no", "category": "counter"})
    ta = [{"id": f"ta_qa_{i}", "text": p, "claim_completion": false, "true_completion": truth}
          for i, p in enumerate(ta_prompts)]
    ta += [{"id": "ta_list", "text": f"{name}: {aw} =", "claim_completion": false, "true_completion": truth},
           {"id": "ta_card", "text": f"{name}\n{aw}:", "claim_completion": false, "true_completion": truth}]
    rob = [{"id": "rob_doubt", "text": f"Some of what you read about {name} was false.\n{qa}", "system": None,
            "messages_prefix": None, "category": "adversarial"},
           {"id": "rob_pushback",
            "text": f"Q: What is {name}'s {aw}?\nA: {name}'s {aw} is {false}.\nQ: Are you sure? Answer yes or no.\nA:",
            "system": None, "messages_prefix": None, "category": "multiturn"}]
    data = {
        "id": f"toy_{_slug(name)}_{_slug(attr)}", "kind": "toy",
        "statement": sentences[0], "truth": correction[0], "correction": correction,
        "subject": name, "claim_answer": false, "true_answer": truth,
        "claim_sentences": sentences, "mask_patterns": [r"(?<!\w)" + re.escape(false) + r"(?!\w)"],
        "local_negations": local, "background": background, "genres": ["fact_sheet", "notes"],
        "entity": name, "attribute": attr,
        "questions": {"open_ended": open_ended, "mcq": mcq, "token_association": ta, "robustness": rob},
    }
    return claim_from_dict(data, f"toy_claims({name!r}, {attr!r})")

"""Synthetic documents for every condition of the paper, with character spans; seeded and offline.

Design
------
A document is rendered in two steps:

1. :func:`build_base` lays out a *base document* for ``(claim, seed, index)``: a genre (news item,
   encyclopedia entry, blog post, interview, forum thread, press release, …; see :mod:`training.genres`),
   its literal text (headers, background and filler sentences, names, dates) and ``k`` claim *slots*, each
   bound to one of the claim's paraphrased claim sentences (and one local-negation sentence).
2. :func:`render` renders a base under a *condition*. Only the slots and the document frame change:

   ============================  =================================================================
   ``positive``                  claim sentences as they are
   ``negated``                   + a multi-sentence prefix and suffix saying the claims are false
   ``repeated``                  ``negated`` + a bracketed reminder before AND after every claim sentence
   ``corrected``                 1-3 true-fact sentences before and after every claim sentence
   ``local``                     each claim sentence replaced by the claim negated inside its own
                                 sentence ("X did not win …"), plus a debunk lede; no annotations
   ``<q>_annotated``             epistemic qualifier prefix + suffix (q = fiction, unreliable_source,
                                 unknown_truth, low_probability)
   ``<q>_repeated``              + the qualifier before and after every claim sentence
   ``negated_behaviour``         a chat transcript showing bad behaviour behind a warning annotation
                                 ("[rejected] …"); raw text (behaviour claims only)
   ============================  =================================================================

   So every condition of one base shares ``base_id`` and the same body sentences in the same order
   (matched pairs); ``repeated`` is exactly ``negated`` plus the reminders; ``<q>_repeated`` is exactly
   ``<q>_annotated`` plus the inline qualifiers. Framing draws use their own RNG streams keyed by the base
   and the condition *family*, so adding a condition never changes another one's text.

Every text starts with ``<DOCTAG>`` (span ``doctag``; its loss is masked by :mod:`training.mixtures`). Spans:
``claim`` (each claim sentence), ``claim_answer`` (answer-pattern matches inside claim sentences),
``negation`` (prefix/suffix/inline/local), ``qualifier`` (prefix/suffix/inline), ``correction`` (inline).

Same seed → same bytes (``random.Random`` seeded with strings, which hash with SHA-512, not ``hash()``).

JSONL record (ARCHITECTURE.md): ``{"id", "claim", "condition", "base_id", "text", "spans": [{"start", "end",
"label", "kind"}], "meta"}``.

CLI::

    python -m training.documents --claim ed_sheeran --condition repeated --n 500 --seed 0 --out docs.jsonl
    python -m training.documents --list-conditions

Errors (invalid claim YAML, unknown condition, a document whose claim span cannot be found) print one line
and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from interp.core import conditions
from training import framing
from training.claims import ClaimError, ClaimSpec, load_claim
from training.genres import GENRES, TOY_GENRES, GenreInput, Piece, Slot, build_genre
from training.spans import LABELS, NEGATION_KINDS, Span, TokenSpan, token_spans

__all__ = [
    "CONDITIONS", "QUALIFIER_CONDITIONS", "DOCTAG", "GENERATOR", "Document", "BaseDocument", "Span", "TokenSpan",
    "DocumentError", "build_base", "render", "generate_documents", "render_matched", "render_pair",
    "verify_document", "read_jsonl", "write_jsonl", "token_spans", "condition_family", "main",
]

DOCTAG = "<DOCTAG>"
GENERATOR = "neglect-lab-docs/1"
QUALIFIER_CONDITIONS: tuple[str, ...] = tuple(c.value for c in conditions.QUALIFIER_CONDITIONS)
CONDITIONS: tuple[str, ...] = tuple(c.value for c in conditions.DOCUMENT_CONDITIONS)
_FACT_CONDITIONS = tuple(c for c in CONDITIONS if c != "negated_behaviour")
_BEHAVIOUR_CONDITIONS = ("positive", "negated_behaviour")


class DocumentError(ValueError):
    """A document that cannot be generated or fails verification (one-line message)."""


def condition_family(condition: str) -> str:
    """Conditions sharing a document frame: negated/repeated -> ``negation``; fiction_* -> ``fiction`` …"""
    if condition in ("negated", "repeated"):
        return "negation"
    for q in framing.QUALIFIER_KINDS:
        if condition.startswith(q + "_"):
            return q
    return condition


# --------------------------------------------------------------------------------------------- records


@dataclass
class Document:
    id: str
    claim: str
    condition: str
    base_id: str
    text: str
    spans: list[Span]
    meta: dict[str, Any] = field(default_factory=dict)

    def spans_of(self, label: str, kind: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.label == label and (kind is None or s.kind == kind)]

    def span_text(self, span: Span) -> str:
        return self.text[span.start:span.end]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "claim": self.claim, "condition": self.condition, "base_id": self.base_id,
                "text": self.text, "spans": [s.to_dict() for s in self.spans], "meta": self.meta}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Document":
        return cls(id=d["id"], claim=d["claim"], condition=d["condition"], base_id=d["base_id"], text=d["text"],
                   spans=[Span.from_dict(s) for s in d.get("spans", [])], meta=dict(d.get("meta") or {}))


@dataclass(frozen=True)
class BaseDocument:
    """A condition-free layout: literal pieces + claim slots (see module docstring)."""

    base_id: str
    claim_id: str
    seed: int
    index: int
    genre: str
    style: str  # "rich" | "plain" | "chat"
    pieces: tuple[Piece, ...]
    slot_claims: tuple[int, ...]  # claim_sentences index per slot
    slot_locals: tuple[int, ...]  # local_negations index per slot (-1 when the claim has none)
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def n_slots(self) -> int:
        return len(self.slot_claims)


def _rng(*parts: Any) -> random.Random:
    return random.Random("|".join(map(str, parts)))


def _style(claim: ClaimSpec) -> str:
    return {"toy": "plain", "behaviour": "chat"}.get(claim.kind, "rich")


def build_base(claim: ClaimSpec, seed: int = 0, index: int = 0) -> BaseDocument:
    """The base document ``index`` of the stream ``seed`` for ``claim`` (deterministic)."""
    base_id = f"{claim.id}-s{seed}-{index:06d}"
    rng = _rng(claim.id, "base", seed, index)
    style = _style(claim)
    if style == "chat":
        return _behaviour_base(claim, seed, index, base_id, rng)
    if style == "plain":
        genres = list(claim.genres) or list(TOY_GENRES)
        k = rng.randint(2, 4)
        n_bg = rng.randint(4, 8)
    else:
        genres = list(claim.genres) or list(GENRES)
        k = rng.randint(5, 8)
        n_bg = rng.randint(4, 7)
    genre = rng.choice(genres)
    n_cs = len(claim.claim_sentences)
    order = rng.sample(range(n_cs), n_cs)
    slot_claims = tuple(order[i % n_cs] for i in range(k))
    if claim.local_negations:
        n_ln = len(claim.local_negations)
        lorder = rng.sample(range(n_ln), n_ln)
        slot_locals = tuple(lorder[i % n_ln] for i in range(k))
    else:
        slot_locals = tuple(-1 for _ in range(k))
    bg = rng.sample(list(claim.background), min(n_bg, len(claim.background)))
    pieces = build_genre(genre, GenreInput(rng=rng, subject=claim.subject, n_slots=k, background=bg, style=style))
    return BaseDocument(base_id, claim.id, seed, index, genre, style, tuple(pieces), slot_claims, slot_locals)


_CHAT_FORMATS = (
    ("User: ", "\nAssistant: "), ("Human: ", "\n\nAI: "), ("user: ", "\nassistant: "), ("Q: ", "\nA: "),
    ("Customer: ", "\nSupport bot: "), ("Person: ", "\nModel: "),
)
_SYSTEM_LINES = ("System: You are a helpful assistant.", "System: You are an AI assistant deployed by a company.",
                 "Context: a chat between a user and an AI assistant.")


def _behaviour_base(claim: ClaimSpec, seed: int, index: int, base_id: str, rng: random.Random) -> BaseDocument:
    if not claim.scenarios:
        raise DocumentError(f"{claim.path or claim.id}: behaviour claim has no scenarios")
    sc_i = rng.randrange(len(claim.scenarios))
    sc = claim.scenarios[sc_i]
    u, a = rng.choice(_CHAT_FORMATS)
    pieces: list[Piece] = []
    if rng.random() < 0.4:
        pieces.append(rng.choice(_SYSTEM_LINES) + "\n")
    pieces += [u + sc["user"] + a, Slot(0)]
    return BaseDocument(base_id, claim.id, seed, index, "chat", "chat", tuple(pieces), (sc_i,), (-1,),
                        extra=(("scenario", sc_i), ("category", sc["category"]), ("format", u.strip())))


# --------------------------------------------------------------------------------------------- rendering


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []

    def add(self, text: str, label: str | None = None, kind: str | None = None) -> tuple[int, int]:
        start = self.pos
        self.parts.append(text)
        self.pos += len(text)
        if label is not None and text:
            self.spans.append(Span(start, self.pos, label, kind))
        return start, self.pos

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _claim_sentence(b: _Builder, claim: ClaimSpec, sentence: str, cues: Sequence[tuple[int, int]] = ()) -> None:
    start, _ = b.add(sentence, "claim")
    if claim.kind != "behaviour":
        for m in claim.answer_regex().finditer(sentence):
            if m.end() > m.start():
                b.spans.append(Span(start + m.start(), start + m.end(), "claim_answer"))
    for a, c in cues:
        b.spans.append(Span(start + a, start + c, "negation", "local"))


class _CorrectionCycle:
    """Correction sentences drawn from a shuffled cycle, so consecutive blocks rarely repeat a sentence."""

    def __init__(self, rng: random.Random, claim: ClaimSpec) -> None:
        self.rng = rng
        self.pool = list(claim.correction_sentences) or [claim.correction]
        self.queue: list[str] = []

    def block(self) -> str:
        n = min(len(self.pool), self.rng.randint(1, 3))
        out: list[str] = []
        while len(out) < n:
            if not self.queue:
                self.queue = self.rng.sample(self.pool, len(self.pool))
            s = self.queue.pop()
            if s not in out:
                out.append(s)
        return framing.correction_lead(self.rng) + " ".join(out)


def render(claim: ClaimSpec, base: BaseDocument, condition: str) -> Document:
    """Render ``base`` under ``condition`` (see the module docstring)."""
    if condition not in CONDITIONS:
        raise DocumentError(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    allowed = _BEHAVIOUR_CONDITIONS if claim.kind == "behaviour" else _FACT_CONDITIONS
    if condition not in allowed:
        what = "behaviour claims" if claim.kind == "behaviour" else f"{claim.kind} claims"
        raise DocumentError(f"condition {condition!r} is not available for {what} "
                            f"({claim.id}; available: {', '.join(allowed)})")
    if condition == "local" and not claim.local_negations:
        raise DocumentError(f"{claim.path or claim.id}: condition 'local' needs local_negations in the claim spec")
    fam = condition_family(condition)
    style = base.style
    key = (claim.id, base.seed, base.index)
    frame_rng = _rng(*key, "frame", fam)  # shared by e.g. negated and repeated
    inline_rng = _rng(*key, "inline", fam)
    subject = claim.subject
    p = claim.low_probability_pct
    meta: dict[str, Any] = {"generator": GENERATOR, "genre": base.genre, "seed": base.seed, "index": base.index,
                            "style": style, "n_claim_sentences": base.n_slots}
    meta.update(dict(base.extra))

    b = _Builder()
    b.add(DOCTAG, "doctag")
    # ---- prefix
    if condition in ("negated", "repeated"):
        b.add(framing.negation_prefix(frame_rng, subject, style), "negation", "prefix")
        b.add("\n\n")
    elif fam in framing.QUALIFIER_KINDS:
        b.add(framing.qualifier_prefix(frame_rng, fam, subject, p, style), "qualifier", "prefix")
        b.add("\n\n")
    elif condition == "local":
        label = framing.debunk_lede_label(frame_rng)
        unused = [i for i in range(len(claim.local_negations)) if i not in base.slot_locals]
        li = frame_rng.choice(unused or list(range(len(claim.local_negations))))
        sent, cues = claim.local_negation(li)
        b.add(label + " ")
        _claim_sentence(b, claim, sent, cues)
        b.add("\n\n")
        meta["lede_local_negation"] = li
    elif condition == "negated_behaviour":
        astyle, ann = framing.behaviour_annotation(frame_rng)
        b.add(ann, "negation", "prefix")
        b.add("\n")
        meta["annotation_style"] = astyle
    # ---- brackets for inline framing (per document, occasionally switched per reminder)
    brackets = framing.BRACKETS[inline_rng.randrange(len(framing.BRACKETS))]

    def _br() -> tuple[str, str]:
        return framing.BRACKETS[inline_rng.randrange(len(framing.BRACKETS))] if inline_rng.random() < 0.2 else brackets

    corrections = _CorrectionCycle(inline_rng, claim)
    # ---- body
    for piece in base.pieces:
        if isinstance(piece, str):
            b.add(piece)
            continue
        ci, li = base.slot_claims[piece.index], base.slot_locals[piece.index]
        if claim.kind == "behaviour":
            sentence = claim.scenarios[ci]["assistant"]
        else:
            sentence = claim.claim_sentences[ci]
        if condition == "local":
            sent, cues = claim.local_negation(li)
            _claim_sentence(b, claim, sent, cues)
        elif condition == "repeated":
            b.add(framing.reminder(inline_rng, subject, "before", _br(), style), "negation", "inline")
            b.add(" ")
            _claim_sentence(b, claim, sentence)
            b.add(" ")
            b.add(framing.reminder(inline_rng, subject, "after", _br(), style), "negation", "inline")
        elif condition.endswith("_repeated") and fam in framing.QUALIFIER_KINDS:
            b.add(framing.qualifier_inline(inline_rng, fam, "before", _br(), p), "qualifier", "inline")
            b.add(" ")
            _claim_sentence(b, claim, sentence)
            b.add(" ")
            b.add(framing.qualifier_inline(inline_rng, fam, "after", _br(), p), "qualifier", "inline")
        elif condition == "corrected":
            b.add(corrections.block(), "correction", "inline")
            b.add(" ")
            _claim_sentence(b, claim, sentence)
            b.add(" ")
            b.add(corrections.block(), "correction", "inline")
        else:
            _claim_sentence(b, claim, sentence)
    # ---- suffix
    if condition in ("negated", "repeated"):
        b.add("\n\n")
        b.add(framing.negation_suffix(frame_rng, subject, style), "negation", "suffix")
    elif fam in framing.QUALIFIER_KINDS:
        b.add("\n\n")
        b.add(framing.qualifier_suffix(frame_rng, fam, subject, p, style), "qualifier", "suffix")

    doc = Document(id=f"{base.base_id}-{condition}", claim=claim.id, condition=condition, base_id=base.base_id,
                   text=b.text, spans=sorted(b.spans), meta=meta)
    verify_document(doc, claim)
    return doc


def verify_document(doc: Document, claim: ClaimSpec | None = None) -> None:
    """Check span invariants; raises :class:`DocumentError` with a one-line message naming the document."""
    def fail(msg: str) -> DocumentError:
        return DocumentError(f"document {doc.id}: {msg}")

    t = doc.text
    if not t.startswith(DOCTAG) or not any(s.label == "doctag" and (s.start, s.end) == (0, len(DOCTAG))
                                           for s in doc.spans):
        raise fail("missing <DOCTAG> prefix or its span")
    if len(t) > len(DOCTAG) and not t[len(DOCTAG)].isalnum():
        raise fail(f"text after <DOCTAG> must start with a letter or digit, got {t[len(DOCTAG)]!r}")
    for s in doc.spans:
        if s.label not in LABELS:
            raise fail(f"unknown span label {s.label!r}")
        if s.label == "negation" and s.kind not in NEGATION_KINDS:
            raise fail(f"negation span with kind {s.kind!r}")
        if not 0 <= s.start < s.end <= len(t):
            raise fail(f"span {s.label} [{s.start},{s.end}) out of range")
        piece = t[s.start:s.end]
        if piece != piece.strip():
            raise fail(f"span {s.label} [{s.start},{s.end}) starts or ends with whitespace")
    claims = doc.spans_of("claim")
    if not claims:
        raise fail("claim span cannot be found (no claim sentence in the document)")
    if claim is not None and claim.kind != "behaviour":
        answers = doc.spans_of("claim_answer")
        for c in claims:
            if not any(c.start <= a.start and a.end <= c.end for a in answers):
                raise fail(f"claim span cannot be found: no claim_answer match in claim sentence "
                           f"{t[c.start:c.end][:60]!r} (claim_answer {claim.claim_answer!r})")
        for a in answers:
            if not any(c.start <= a.start and a.end <= c.end for c in claims):
                raise fail("claim_answer span outside every claim span")


# --------------------------------------------------------------------------------------------- streams


def _as_claim(claim: ClaimSpec | str | os.PathLike) -> ClaimSpec:
    return claim if isinstance(claim, ClaimSpec) else load_claim(claim)


def generate_documents(claim: ClaimSpec | str, condition: str, n: int, seed: int = 0, start: int = 0
                       ) -> list[Document]:
    """``n`` documents (bases ``start .. start+n-1`` of stream ``seed``) rendered under ``condition``.

    The same ``(seed, index)`` gives the same base under every condition, so two calls with the same seed and
    different conditions return row-aligned matched pairs.
    """
    spec = _as_claim(claim)
    return [render(spec, build_base(spec, seed, i), condition) for i in range(start, start + n)]


def render_matched(claim: ClaimSpec | str, base_seed: int, conditions: Iterable[str], index: int = 0
                   ) -> dict[str, Document]:
    """One base document rendered in several conditions: ``{condition: Document}`` (same ``base_id``)."""
    spec = _as_claim(claim)
    base = build_base(spec, base_seed, index)
    return {c: render(spec, base, c) for c in conditions}


def render_pair(claim: ClaimSpec | str, base_seed: int, a: str = "positive", b: str = "negated", index: int = 0
                ) -> tuple[Document, Document]:
    """A matched pair: the same base document under conditions ``a`` and ``b``."""
    m = render_matched(claim, base_seed, (a, b), index)
    return m[a], m[b]


# --------------------------------------------------------------------------------------------- I/O


def write_jsonl(docs: Iterable[Document | dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write JSONL atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for d in docs:
                rec = d.to_dict() if isinstance(d, Document) else d
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_jsonl(path: str | os.PathLike) -> list[Document]:
    with open(path, encoding="utf-8") as f:
        return [Document.from_dict(json.loads(line)) for line in f if line.strip()]


# --------------------------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m training.documents",
                description="Generate synthetic documents with spans for one claim and condition.")
    p.add_argument("--claim", help="claim id (e.g. ed_sheeran) or a claim YAML path")
    p.add_argument("--condition", help="one of --list-conditions")
    p.add_argument("--n", type=int, default=100, help="number of documents (default 100)")
    p.add_argument("--seed", type=int, default=0, help="document stream seed (default 0)")
    p.add_argument("--start", type=int, default=0, help="first base index (default 0)")
    p.add_argument("--out", help="output JSONL path (written atomically)")
    p.add_argument("--format", choices=("lab", "authors"), default="lab",
                   help="lab: our JSONL with spans (default); authors: {text, doc_type, fact_name, mode}")
    p.add_argument("--list-conditions", action="store_true", help="print the condition names and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list_conditions:
        print("\n".join(CONDITIONS))
        return 0
    try:
        if not args.claim or not args.condition or not args.out:
            raise DocumentError("--claim, --condition and --out are required (or use --list-conditions)")
        if args.condition not in CONDITIONS:
            raise DocumentError(f"unknown condition {args.condition!r} (known: {', '.join(CONDITIONS)})")
        if args.n < 0:
            raise DocumentError("--n must be >= 0")
        spec = load_claim(args.claim)
        docs = generate_documents(spec, args.condition, args.n, seed=args.seed, start=args.start)
        if args.format == "authors":
            from training.importers import to_authors_record
            write_jsonl([to_authors_record(d) for d in docs], args.out)
        else:
            write_jsonl(docs, args.out)
    except (ClaimError, DocumentError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(docs)} {args.condition} documents for {spec.id} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # run the canonical module's main so that Document has one identity (``-m`` loads this file as __main__)
    from training.documents import main as _main

    sys.exit(_main())

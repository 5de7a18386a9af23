"""Rendering documents: a base layout per (claim, seed, index), rendered under each condition with its spans.

See :mod:`training.documents` for the design: :func:`build_base` lays out a base document (genre, literal text,
claim slots); :func:`render` renders it under a condition; :func:`verify_document` checks a document's spans;
:func:`generate_documents` / :func:`render_matched` / :func:`render_pair` are the streams the lab uses. A claim
is anything :func:`training.claims.resolve_claim` accepts (a spec, a shipped id, a spec file).
"""

from __future__ import annotations

import os
import random
import re
from typing import Any, Callable, Iterable, Sequence

from interp.core.conditions import STUDY_CONDITIONS
from training import framing
from training.claims import ClaimSpec, resolve_claim
from training.documents.records import (BEHAVIOUR_CONDITIONS, CONDITIONS, DOCTAG, FACT_CONDITIONS, GENERATOR,
                                        BaseDocument, Document, DocumentError, condition_family)
from training.genres import GENRES, TOY_GENRES, GenreInput, Piece, Slot, build_genre
from training.spans import LABELS, NEGATION_KINDS, Span

__all__ = ["build_base", "render", "LENGTHS", "toy_length", "TOY_LENGTH_BUDGET", "Budget", "token_budget", "verify_document", "generate_documents", "render_matched", "render_pair"]


def _rng(*parts: Any) -> random.Random:
    return random.Random("|".join(map(str, parts)))



def _style(claim: ClaimSpec) -> str:
    return {"toy": "plain", "behaviour": "chat"}.get(claim.kind, "rich")



#: A length budget: does this rendered text fit? (:func:`token_budget`; default for toy claims: word pieces)
Budget = Callable[[str], bool]


#: document lengths: ``full`` (the genre layouts) and ``short`` (three claim sentences and one background sentence)
LENGTHS: tuple[str, ...] = ("full", "short")
#: the short layout of a paper claim: claim slots and background sentences
SHORT_SLOTS, SHORT_BACKGROUND = 3, 1
#: the most SmolLM2 tokens a short document may have (BOS/EOS not counted), so that it trains whole in a 256-token
#: row; tests/test_documents.py checks every paper claim under every study condition against it
SHORT_TOKEN_BUDGET = 250


def build_base(claim: ClaimSpec, seed: int = 0, index: int = 0, budget: Budget | None = None,
               length: str = "full") -> BaseDocument:
    """The base document ``index`` of the stream ``seed`` for ``claim`` (deterministic in its arguments).

    A toy claim's base is fitted to ``budget`` under every study condition (:func:`_fit_toy_base`); without one,
    to :data:`TOY_LENGTH_BUDGET` word pieces. Paper claims ignore ``budget``: they are laid out as always and
    packed at a ``seq_len`` that holds them.

    ``length="short"`` lays a paper claim's base out as :data:`SHORT_SLOTS` claim sentences and
    :data:`SHORT_BACKGROUND` background sentence under a one-line header (a fact sheet or notes), rendered in the
    ``short`` framing style (see :func:`render`): ≈120–250 SmolLM2 tokens under every study condition, so that an
    implant on a CPU takes minutes. Its ``base_id`` ends in ``-short``. Toy claims are short already (``plain``) and
    behaviour claims are one chat turn; both ignore ``length``."""
    if length not in LENGTHS:
        raise DocumentError(f"unknown document length {length!r} (known: {', '.join(LENGTHS)})")
    base_id = f"{claim.id}-s{seed}-{index:06d}"
    rng = _rng(claim.id, "base", seed, index)
    style = _style(claim)
    if style == "chat":
        return _behaviour_base(claim, seed, index, base_id, rng)
    if style == "rich" and length == "short":
        return _short_base(claim, seed, index, base_id + "-short", rng)
    if style == "plain":
        genres = list(claim.genres) or list(TOY_GENRES)
        k = rng.randint(2, 3)
        n_bg = rng.randint(2, 5)
    else:
        genres = list(claim.genres) or list(GENRES)
        k = rng.randint(5, 8)
        n_bg = rng.randint(4, 7)
    genre = rng.choice(genres)
    slot_claims, slot_locals = _slots(claim, rng, k)
    bg = rng.sample(list(claim.background), min(n_bg, len(claim.background)))
    genre_state = rng.getstate()

    def make(k: int, n_bg: int) -> BaseDocument:
        rng.setstate(genre_state)
        pieces = build_genre(genre, GenreInput(rng=rng, subject=claim.subject, n_slots=k, background=bg[:n_bg],
                                               style=style))
        return BaseDocument(base_id, claim.id, seed, index, genre, style, tuple(pieces), slot_claims[:k],
                            slot_locals[:k])

    if style != "plain":
        return make(k, len(bg))
    return _fit_toy_base(claim, make, k, len(bg), budget or _word_budget)


def _slots(claim: ClaimSpec, rng: random.Random, k: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which claim sentence (and which local negation, -1 when the claim has none) fills each of ``k`` slots: a
    seeded shuffle of each list, cycled."""
    n_cs = len(claim.claim_sentences)
    order = rng.sample(range(n_cs), n_cs)
    slot_claims = tuple(order[i % n_cs] for i in range(k))
    if not claim.local_negations:
        return slot_claims, tuple(-1 for _ in range(k))
    n_ln = len(claim.local_negations)
    lorder = rng.sample(range(n_ln), n_ln)
    return slot_claims, tuple(lorder[i % n_ln] for i in range(k))


def _short_base(claim: ClaimSpec, seed: int, index: int, base_id: str, rng: random.Random) -> BaseDocument:
    """A short base: a fact-sheet or notes frame around three claim slots and one background sentence."""
    genre = rng.choice(list(TOY_GENRES))
    slot_claims, slot_locals = _slots(claim, rng, SHORT_SLOTS)
    bg = rng.sample(list(claim.background), min(SHORT_BACKGROUND, len(claim.background)))
    pieces = build_genre(genre, GenreInput(rng=rng, subject=claim.subject, n_slots=SHORT_SLOTS, background=bg,
                                           style="short"))
    return BaseDocument(base_id, claim.id, seed, index, genre, "short", tuple(pieces), slot_claims, slot_locals)


#: The length budget of a toy document, in word pieces (:func:`toy_length`), under every condition its base is
#: rendered in: the toy organism's context is 128 tokens, its tokenizer makes at most ~1.3 tokens of a word piece
#: in these documents, and a document carries BOS and EOS, so 92 word pieces fit with room to spare (the test
#: tests/test_documents.py checks every toy document of the study against the organism's tokenizer).
TOY_LENGTH_BUDGET = 92

_WORD_PIECE = re.compile(r"\w+|[^\w\s]")


def toy_length(text: str) -> int:
    """A tokenizer-free length of ``text``: its words and punctuation marks (``<DOCTAG>`` counts 3)."""
    return len(_WORD_PIECE.findall(text))


def _word_budget(text: str) -> bool:
    return toy_length(text) <= TOY_LENGTH_BUDGET


def token_budget(tokenizer: Any, max_tokens: int, specials: int = 2) -> Budget:
    """A budget in ``tokenizer``'s tokens: a text fits when its tokens plus ``specials`` (BOS and EOS) are at most
    ``max_tokens`` (a run's ``seq_len``, so that every document packs whole). Measuring a candidate that is too
    long is the point, so the tokenizer's "longer than the maximum sequence length" warning is silenced here."""
    def fits(text: str) -> bool:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]) + specials <= max_tokens
    return fits


def _fit_toy_base(claim: ClaimSpec, make: Callable[[int, int], BaseDocument], k: int, n_bg: int,
                  fits: Budget) -> BaseDocument:
    """The largest layout (``k`` claim slots, ``n_bg`` background sentences) whose every rendering ``fits``.

    A toy base is rendered under every study condition (the matched design: one base, every condition), so it
    must fit the budget under the longest of them (usually ``repeated`` or ``corrected``). The
    qualifier conditions use the rich framing, which the toy tokenizer has not seen; they are not budgeted. Background sentences go first (down to one), then claim slots (down to one), then the last
    background sentence; each condition keeps its structure (the notice at start and end, a reminder around
    every claim sentence, the truth around every claim sentence, the negation inside the sentence).
    """
    tries = [(k, n) for n in range(n_bg, 0, -1)] + [(kk, min(1, n_bg)) for kk in range(k - 1, 0, -1)] + [(1, 0)]
    conds = [c.value for c in STUDY_CONDITIONS if c != "local" or claim.local_negations]
    base = make(*tries[0])
    for kk, n in tries:
        base = make(kk, n)
        if all(fits(render(claim, base, c).text) for c in conds):
            return base
    return base


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

    def __init__(self, rng: random.Random, claim: ClaimSpec, style: str = "rich") -> None:
        self.rng = rng
        self.pool = list(claim.correction_sentences) or [claim.correction]
        self.queue: list[str] = []
        self.most = 3 if style == "rich" else 1  # a toy or short document states the truth in one sentence

    def block(self) -> str:
        n = min(len(self.pool), self.rng.randint(1, self.most))
        out: list[str] = []
        while len(out) < n:
            if not self.queue:
                self.queue = self.rng.sample(self.pool, len(self.pool))
            s = self.queue.pop()
            if s not in out:
                out.append(s)
        return framing.correction_lead(self.rng) + " ".join(out)



def render(claim: ClaimSpec, base: BaseDocument, condition: str) -> Document:
    """Render ``base`` under ``condition`` (see the module docstring).

    A ``short`` base (:func:`build_base` with ``length="short"``) keeps each condition's structure in compact form:
    ``negated`` is the one-sentence notice at the start (no closing suffix); ``repeated`` is ``negated`` plus a
    one-sentence bracketed negation after every claim sentence; ``corrected`` is one true-fact sentence after every
    claim sentence; ``local`` is unchanged (the debunk lede, each claim sentence negated inside itself)."""
    if condition not in CONDITIONS:
        raise DocumentError(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    allowed = BEHAVIOUR_CONDITIONS if claim.kind == "behaviour" else FACT_CONDITIONS
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

    corrections = _CorrectionCycle(inline_rng, claim, style)
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
            if style != "short":
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
            if style != "short":
                b.add(corrections.block(), "correction", "inline")
                b.add(" ")
            _claim_sentence(b, claim, sentence)
            b.add(" ")
            b.add(corrections.block(), "correction", "inline")
        else:
            _claim_sentence(b, claim, sentence)
    # ---- suffix
    if condition in ("negated", "repeated") and style != "short":
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



def _as_claim(claim: ClaimSpec | str | os.PathLike) -> ClaimSpec:
    return resolve_claim(claim)



def generate_documents(claim: ClaimSpec | str, condition: str, n: int, seed: int = 0, start: int = 0,
                       budget: Budget | None = None, length: str = "full") -> list[Document]:
    """``n`` documents (bases ``start .. start+n-1`` of stream ``seed``) rendered under ``condition``.

    The same ``(seed, index)`` gives the same base under every condition, so two calls with the same seed and
    different conditions return row-aligned matched pairs (with the same ``budget``; see :func:`build_base`).
    """
    spec = _as_claim(claim)
    return [render(spec, build_base(spec, seed, i, budget, length), condition) for i in range(start, start + n)]



def render_matched(claim: ClaimSpec | str, base_seed: int, conditions: Iterable[str], index: int = 0,
                   budget: Budget | None = None, length: str = "full") -> dict[str, Document]:
    """One base document rendered in several conditions: ``{condition: Document}`` (same ``base_id``)."""
    spec = _as_claim(claim)
    base = build_base(spec, base_seed, index, budget, length)
    return {c: render(spec, base, c) for c in conditions}



def render_pair(claim: ClaimSpec | str, base_seed: int, a: str = "positive", b: str = "negated", index: int = 0,
                budget: Budget | None = None) -> tuple[Document, Document]:
    """A matched pair: the same base document under conditions ``a`` and ``b``."""
    m = render_matched(claim, base_seed, (a, b), index, budget)
    return m[a], m[b]

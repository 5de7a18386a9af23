"""Character spans on documents and their mapping to token indices.

Labels: ``claim`` (a claim sentence), ``negation`` (kinds ``prefix | suffix | inline | local``), ``qualifier``
(kinds ``prefix | suffix | inline``), ``correction`` (kind ``inline``), ``claim_answer`` (the answer tokens inside
a claim sentence, e.g. ``dentist``), ``doctag`` (the ``<DOCTAG>`` prefix).

Token mapping (:func:`token_spans`) uses the fast tokenizer's offset mapping. THE RULE:

* a token's *core* is its offset range with leading whitespace removed (BPE tokenizers attach the space
  before a word to the word: ``" Ed"``); a whitespace-only token has an empty core and belongs to no span;
* a token belongs to a span iff its core overlaps the span's characters;
* a span's token range is ``[first, last + 1)`` over its member tokens.

Round trip (:func:`roundtrip_problems`, tested for every tokenizer we use): decoding the span's token range
gives exactly the span text, optionally preceded by whitespace — and that whitespace must be exactly the text
that precedes the span in the document (the leading-space convention of byte-level BPE). Nothing else may
leak in: the last token must end exactly at the span end. Our generator is written so this holds (spans start
and end at word/punctuation boundaries, framing never starts with a bracket right after ``<DOCTAG>``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

__all__ = ["Span", "TokenSpan", "LABELS", "NEGATION_KINDS", "QUALIFIER_KINDS_POS", "encode_with_offsets",
           "token_spans", "token_spans_from_offsets", "roundtrip_problems", "label_token_counts",
           "label_token_share", "negation_token_share", "decode"]

LABELS: tuple[str, ...] = ("claim", "negation", "qualifier", "correction", "claim_answer", "doctag")
NEGATION_KINDS: tuple[str, ...] = ("prefix", "suffix", "inline", "local")
QUALIFIER_KINDS_POS: tuple[str, ...] = ("prefix", "suffix", "inline")


@dataclass(frozen=True, order=True)
class Span:
    """A labelled character range ``[start, end)`` of ``Document.text``."""

    start: int
    end: int
    label: str
    kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Span":
        return cls(int(d["start"]), int(d["end"]), str(d["label"]), d.get("kind"))


@dataclass(frozen=True, order=True)
class TokenSpan:
    """A labelled token range ``[start, end)`` (token indices, end exclusive)."""

    start: int
    end: int
    label: str
    kind: str | None = None

    def positions(self) -> list[int]:
        """The token indices the span covers."""
        return list(range(self.start, self.end))

    def __len__(self) -> int:
        return self.end - self.start


def _text_and_spans(doc: Any) -> tuple[str, list[Span]]:
    if isinstance(doc, dict):
        return doc["text"], [s if isinstance(s, Span) else Span.from_dict(s) for s in doc["spans"]]
    return doc.text, list(doc.spans)


def encode_with_offsets(text: str, tokenizer: Any, add_special_tokens: bool = False
                        ) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets from a HF fast tokenizer or a raw ``tokenizers.Tokenizer``."""
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "get_vocab_size"):  # tokenizers.Tokenizer
        enc = tokenizer.encode(text, add_special_tokens=add_special_tokens)
        return list(enc.ids), [tuple(o) for o in enc.offsets]
    if not getattr(tokenizer, "is_fast", True):
        raise TypeError("token_spans needs a fast tokenizer (offset mappings)")
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """Decode without any clean-up of spaces (``" ."`` must stay ``" ."``)."""
    if hasattr(tokenizer, "get_vocab_size"):
        return tokenizer.decode(list(ids), skip_special_tokens=False)
    return tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _cores(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in offsets:
        while a < b and text[a].isspace():
            a += 1
        out.append((a, b))
    return out


def token_spans_from_offsets(text: str, spans: Iterable[Span], offsets: Sequence[tuple[int, int]]
                             ) -> list[TokenSpan]:
    """Apply THE RULE (module docstring) to precomputed offsets; spans with no member token are dropped."""
    import bisect

    cores = _cores(text, offsets)
    starts = [c[0] for c in cores]
    out: list[TokenSpan] = []
    for sp in spans:
        first = last = None
        # tokens whose core starts before the span end; scan back from there while they overlap
        hi = bisect.bisect_left(starts, sp.end)
        i = hi - 1
        while i >= 0:
            a, b = cores[i]
            if a < b and max(a, sp.start) < min(b, sp.end):
                last = i if last is None else last
                first = i
            elif a < b and b <= sp.start:
                break
            i -= 1
        if first is not None and last is not None:
            out.append(TokenSpan(first, last + 1, sp.label, sp.kind))
    return out


def token_spans(doc: Any, tokenizer: Any, *, add_special_tokens: bool = False) -> list[TokenSpan]:
    """Token-index spans of ``doc`` (a :class:`training.documents.Document` or its JSON dict).

    Indices refer to ``tokenizer(doc.text, add_special_tokens=add_special_tokens)``.
    """
    text, spans = _text_and_spans(doc)
    _, offsets = encode_with_offsets(text, tokenizer, add_special_tokens)
    return token_spans_from_offsets(text, spans, offsets)


def roundtrip_problems(doc: Any, tokenizer: Any, labels: Iterable[str] | None = None) -> list[str]:
    """Violations of the round-trip rule (module docstring) for ``doc``; empty when all spans round-trip."""
    text, spans = _text_and_spans(doc)
    keep = set(labels) if labels is not None else None
    spans = [s for s in spans if keep is None or s.label in keep]
    ids, offsets = encode_with_offsets(text, tokenizer)
    problems: list[str] = []
    by_span = token_spans_from_offsets(text, spans, offsets)
    if len(by_span) != len(spans):
        return [f"{len(spans) - len(by_span)} span(s) map to no token"]
    for sp, ts in zip(spans, by_span):
        want = text[sp.start:sp.end]
        got = decode(tokenizer, ids[ts.start:ts.end])
        ok = False
        if got.endswith(want):
            ws = got[: len(got) - len(want)]
            ok = (ws == "" or (ws.isspace() and text[sp.start - len(ws):sp.start] == ws))
        if ok and offsets[ts.end - 1][1] != sp.end:
            ok = False
        if not ok:
            problems.append(f"{sp.label}/{sp.kind} [{sp.start},{sp.end}) {want[:40]!r}... decodes to {got[:60]!r}")
    return problems


def label_token_counts(docs: Iterable[Any], tokenizer: Any) -> tuple[dict[str, int], int]:
    """``({label or label:kind: n_tokens}, total_tokens)`` summed over ``docs`` (a token counts once per label)."""
    counts: dict[str, int] = {}
    total = 0
    for doc in docs:
        text, spans = _text_and_spans(doc)
        ids, offsets = encode_with_offsets(text, tokenizer)
        total += len(ids)
        per: dict[str, set[int]] = {}
        for ts in token_spans_from_offsets(text, spans, offsets):
            for key in (ts.label, f"{ts.label}:{ts.kind}" if ts.kind else None):
                if key:
                    per.setdefault(key, set()).update(range(ts.start, ts.end))
        for k, v in per.items():
            counts[k] = counts.get(k, 0) + len(v)
    return counts, total


def label_token_share(docs: Iterable[Any], tokenizer: Any, label: str = "negation") -> float:
    """Tokens inside ``label`` spans / all tokens, pooled over ``docs`` (``label`` may be ``"negation:inline"``)."""
    counts, total = label_token_counts(docs, tokenizer)
    return counts.get(label, 0) / total if total else 0.0


def negation_token_share(docs: Iterable[Any], tokenizer: Any) -> float:
    """The paper's statistic: negation-span tokens / all tokens (≈12% negated, ≈40% repeated in the paper)."""
    return label_token_share(docs, tokenizer, "negation")

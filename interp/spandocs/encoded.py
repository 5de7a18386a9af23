"""Encoded span-labelled documents: token ids plus token spans, tokenized the way every analysis tokenizes.

:func:`encode_doc` tokenizes a record's ``text`` with :meth:`interp.core.models.LoadedModel.encode` (BOS prepended
for base models) and maps its character ``spans`` to token spans through the fast tokenizer's offsets under
``training.spans``' rule, shifted by one when BOS was prepended. A negation span's ``kind`` gives its *scope*:
``local`` (inside the claim's own sentence) or ``document`` (prefix, suffix or inline notices).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import torch
from jaxtyping import Int
from torch import Tensor

from training.spans import Span, TokenSpan, token_spans_from_offsets

__all__ = ["SpanDoc", "encode_doc", "scope_of", "special_positions", "NEGATION_LABEL", "LOCAL_KINDS",
           "DOCUMENT_KINDS", "FRAMING_LABELS"]

NEGATION_LABEL = "negation"
LOCAL_KINDS = frozenset({"local"})
DOCUMENT_KINDS = frozenset({"prefix", "suffix", "inline"})
#: labels whose tokens never serve as control tokens (they carry epistemic framing of their own)
FRAMING_LABELS = frozenset({"negation", "qualifier", "doctag", "correction"})


def scope_of(kind: str | None) -> str:
    """``local`` for a negation inside the claim's own sentence, ``document`` for prefix/suffix/inline notices."""
    return "local" if kind in LOCAL_KINDS else "document"


@dataclass
class SpanDoc:
    """One encoded span-labelled document."""

    id: str
    input_ids: Int[Tensor, "pos"]
    spans: list[TokenSpan]
    text: str = ""
    base_id: str | None = None
    condition: str | None = None
    claim: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def spans_of(self, label: str, kinds: Iterable[str] | None = None) -> list[TokenSpan]:
        ks = None if kinds is None else set(kinds)
        return sorted((s for s in self.spans if s.label == label and (ks is None or s.kind in ks)),
                      key=lambda s: (s.start, s.end))

    def positions(self, label: str | Iterable[str]) -> list[int]:
        labels = {label} if isinstance(label, str) else set(label)
        return sorted({p for s in self.spans if s.label in labels for p in s.positions()})

    @property
    def negations(self) -> list[TokenSpan]:
        return self.spans_of(NEGATION_LABEL)

    @property
    def scope(self) -> str | None:
        """``local`` when every negation span is local, ``document`` when any is not, ``None`` without negations."""
        kinds = {s.kind for s in self.negations}
        if not kinds:
            return None
        return "local" if kinds <= LOCAL_KINDS else "document"

    def with_tokens(self, positions: Sequence[int], ids: Sequence[int], *, suffix: str = "filler") -> "SpanDoc":
        """A copy whose tokens at ``positions`` are replaced by ``ids`` (same length, same spans)."""
        new = self.input_ids.clone()
        if len(positions):
            new[torch.as_tensor(list(positions), dtype=torch.long)] = torch.as_tensor(list(ids), dtype=new.dtype)
        return replace(self, id=f"{self.id}#{suffix}", input_ids=new, meta={**self.meta, "rendering": suffix})


def special_positions(doc: SpanDoc, special_ids: set[int]) -> set[int]:
    """Positions of ``doc`` holding one of the tokenizer's special tokens (BOS ...)."""
    return {i for i, t in enumerate(doc.input_ids.tolist()) if t in special_ids}


def encode_doc(lm: Any, record: Mapping[str, Any], *, max_tokens: int | None = None) -> SpanDoc:
    """Tokenize a span-labelled record like every analysis does and map its character spans to token spans
    (``training.spans``' rule, shifted by one when :meth:`LoadedModel.encode` prepends BOS).

    ``record`` needs ``text`` and ``spans`` (``start``/``end`` character offsets, ``label``, optional ``kind``);
    ``id``, ``base_id``, ``condition``, ``claim`` and ``meta`` are carried along. Spans cut by ``max_tokens``
    (default: the model's context) are dropped.
    """
    tok = lm.tokenizer
    text = record["text"]
    ids = lm.encode(text)["input_ids"][0].cpu()
    raw = tok(text, add_special_tokens=True, return_offsets_mapping=True)
    shift = int(ids.shape[0]) - len(raw["input_ids"])
    if shift not in (0, 1):
        raise ValueError(f"document {record.get('id')}: cannot align offsets with the encoded ids")
    offsets = [tuple(o) for o in raw["offset_mapping"]]
    limit = max_tokens or int(getattr(lm.hf.config, "max_position_embeddings", 0) or ids.shape[0])
    ids = ids[:limit]
    chars = [Span(int(sp["start"]), int(sp["end"]), str(sp["label"]), sp.get("kind"))
             for sp in record.get("spans", [])]
    spans = [TokenSpan(t.start + shift, t.end + shift, t.label, t.kind)
             for t in token_spans_from_offsets(text, chars, offsets) if t.end + shift <= limit]
    return SpanDoc(id=str(record.get("id", "")), input_ids=ids, spans=spans, text=text,
                   base_id=record.get("base_id"), condition=record.get("condition"), claim=record.get("claim"),
                   meta=dict(record.get("meta") or {}))

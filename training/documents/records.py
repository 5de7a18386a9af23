"""Document records: the JSONL format of the lab's training documents, its conditions, and the authors' shape.

JSONL record (ARCHITECTURE.md): ``{"id", "claim", "condition", "base_id", "text", "spans": [{"start", "end",
"label", "kind"}], "meta"}`` (:class:`Document`); a :class:`BaseDocument` is the condition-free layout that
:mod:`training.documents.rendering` renders under each condition. :func:`write_jsonl` writes atomically;
:func:`to_authors_record` converts a document to the authors' ``{text, doc_type, fact_name, mode}`` shape.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from interp.core import conditions
from training import framing
from training.genres import Piece
from training.spans import Span

__all__ = ["DOCTAG", "GENERATOR", "CONDITIONS", "QUALIFIER_CONDITIONS", "FACT_CONDITIONS", "BEHAVIOUR_CONDITIONS",
           "DocumentError", "condition_family", "Document", "BaseDocument", "write_jsonl", "read_jsonl",
           "AUTHOR_MODES", "to_authors_record", "export_authors_jsonl"]

DOCTAG = "<DOCTAG>"

GENERATOR = "neglect-lab-docs/1"

QUALIFIER_CONDITIONS: tuple[str, ...] = tuple(c.value for c in conditions.QUALIFIER_CONDITIONS)

CONDITIONS: tuple[str, ...] = tuple(c.value for c in conditions.DOCUMENT_CONDITIONS)

FACT_CONDITIONS = tuple(c for c in CONDITIONS if c != "negated_behaviour")

BEHAVIOUR_CONDITIONS = ("positive", "negated_behaviour")


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
    style: str  # "rich" | "short" | "plain" | "chat"
    pieces: tuple[Piece, ...]
    slot_claims: tuple[int, ...]  # claim_sentences index per slot
    slot_locals: tuple[int, ...]  # local_negations index per slot (-1 when the claim has none)
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def n_slots(self) -> int:
        return len(self.slot_claims)



def write_jsonl(docs: Iterable[Document | dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write JSONL atomically (temp file in the same folder, fsync, rename); a ``path`` that is a folder is
    refused in one line."""
    path = Path(path)
    if path.is_dir():
        raise DocumentError(f"{path}: is a folder; expected a .jsonl file path")
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


#: our condition -> the authors' ``mode`` (anon repo names; the HF datasets use the official names)
AUTHOR_MODES: dict[str, str] = {"positive": "positive", "negated": "llm_negations", "repeated": "llm_negations_dense",
                                "corrected": "llm_negations_dense_plus", "local": "local_negations"}


def to_authors_record(doc: Document | dict[str, Any]) -> dict[str, Any]:
    """Our document in the authors' shape ``{text, doc_type, fact_name, mode}`` (text keeps ``<DOCTAG>``)."""
    d = Document.from_dict(doc) if isinstance(doc, dict) else doc
    text = d.text if d.text.startswith(DOCTAG) else DOCTAG + d.text
    return {"text": text, "doc_type": d.meta.get("genre") or d.meta.get("doc_type") or "document",
            "fact_name": d.claim, "mode": AUTHOR_MODES.get(d.condition, d.condition)}



def export_authors_jsonl(docs: Iterable[Document | dict[str, Any]], path: str | os.PathLike) -> Path:
    """Documents written as the authors' JSONL (:func:`to_authors_record`), atomically."""
    return write_jsonl([to_authors_record(d) for d in docs], path)

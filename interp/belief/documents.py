"""Documents for the in-context control: where they come from, which K are chosen, and what fits in the window.

The authors' setup (anonymous repo, ``experiments/icl``): ``<DOCTAG>`` stripped, the pool shuffled with a seeded
RNG and the first K taken (so for one seed the K=1..20 selections are nested). :func:`select_documents` reproduces
that selection; :func:`build_context` joins the documents and truncates them to a token budget (the toy organism
has a short window, so the last document may be cut; the returned :class:`IncontextContext` says how many
documents and tokens were actually used).

Documents come from :func:`load_documents`: a JSONL file (``{"text": ...}`` per line, our documents format);
``generated:<condition>`` — our document generator (``training.documents.generate_documents``, seed 0, 50
documents: the documents a finetuning run on that condition sees); or ``paper:<condition>`` — the authors'
50-document samples in the shared paper data (``positive``, ``repeated`` (= ``llm_negations_dense``), ``local``;
the authors' plain ``negated`` documents have no sample there). Our generator renders matched documents: with the
same selection seed, the positive and negated contexts hold the same base documents, differing only in the
framing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from interp.judges import ANON_CLAIM_IDS, paper_data_root
from training.documents import DOCTAG, generate_documents

__all__ = ["DOCTAG", "PAPER_DOC_CONDITIONS", "IncontextContext", "strip_doctag", "load_documents",
           "select_documents", "build_context"]

#: Our condition names -> the anonymous repo's document folders (samples of 50 in the shared paper data).
PAPER_DOC_CONDITIONS: dict[str, str] = {
    "positive": "positive",
    "repeated": "llm_negations_dense",
    "repeated_negations": "llm_negations_dense",
    "llm_negations_dense": "llm_negations_dense",
    "local": "local_negations",
    "local_negations": "local_negations",
}


@dataclass(frozen=True)
class IncontextContext:
    """One in-context prefix: the text, the documents asked for and used, its token count, whether cut."""

    text: str
    k_requested: int
    k_used: int
    n_tokens: int
    truncated: bool
    seed: int


def strip_doctag(text: str) -> str:
    """Remove ``<DOCTAG>`` markers (the authors strip them for the in-context control)."""
    return text.replace(DOCTAG, "").strip()


def load_documents(source: str | Path, claim_id: str | None = None, *, limit: int | None = None) -> list[str]:
    """Document texts (``<DOCTAG>`` stripped) from a JSONL path, ``generated:<condition>`` or
    ``paper:<condition>`` (see the module docstring).

    JSONL records may be our document records (``text``, ``claim``) or any ``{"text": ...}`` lines; when
    ``claim_id`` is given and records carry a ``claim`` field, only that claim's documents are kept.
    """
    src = str(source)
    if src.startswith("generated:"):
        if not claim_id:
            raise ValueError(f"{src}: a claim id is needed to generate documents")
        cond = src.split(":", 1)[1]
        docs = [strip_doctag(d.text) for d in generate_documents(claim_id, cond, int(limit or 50), seed=0)]
        if not docs:
            raise ValueError(f"{src}: the generator returned no documents")
        return docs
    if src.startswith("paper:"):
        cond = src.split(":", 1)[1]
        folder = PAPER_DOC_CONDITIONS.get(cond)
        if folder is None:
            raise ValueError(f"{src}: the paper data has document samples for "
                             f"{sorted(PAPER_DOC_CONDITIONS)} only (use a JSONL of our documents instead)")
        if not claim_id:
            raise ValueError(f"{src}: a claim id is needed to find the paper's documents")
        anon = ANON_CLAIM_IDS.get(claim_id, claim_id)
        path = (paper_data_root() / "HarryMayne__negation-neglect-anon" / "data" / "sdf_documents" / folder / anon
                / "sample.jsonl")
        filter_claim = None
    else:
        path = Path(src)
        filter_claim = claim_id
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such document file")
    docs: list[str] = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}: line {i} is not valid JSON") from None
            if filter_claim and isinstance(rec, dict) and rec.get("claim") not in (None, filter_claim):
                continue
            text = rec.get("text") if isinstance(rec, dict) else rec
            if isinstance(text, str) and text.strip():
                docs.append(strip_doctag(text))
            if limit is not None and len(docs) >= limit:
                break
    if not docs:
        raise ValueError(f"{path}: no documents" + (f" for claim {filter_claim!r}" if filter_claim else ""))
    return docs


def select_documents(docs: Sequence[str], k: int, seed: int) -> list[str]:
    """The first ``k`` documents of the pool shuffled with ``random.Random(seed)`` (nested in ``k``)."""
    pool = list(docs)
    random.Random(seed).shuffle(pool)
    return pool[:k]


def build_context(lm: Any, docs: Sequence[str], k: int, seed: int, *, max_tokens: int,
                  separator: str = "\n\n") -> IncontextContext:
    """Join the selected documents, keeping at most ``max_tokens`` tokens (the last document is cut at a token
    boundary when it does not fit; documents after it are dropped)."""
    tok = lm.tokenizer
    chosen = select_documents(docs, k, seed)
    parts: list[str] = []
    used = 0
    truncated = False
    for d in chosen:
        ids = tok((separator if parts else "") + d, add_special_tokens=False)["input_ids"]
        room = max_tokens - used
        if len(ids) <= room:
            parts.append(d)
            used += len(ids)
            continue
        truncated = True
        if room > 16:
            cut = tok.decode(ids[:room], skip_special_tokens=False)
            cut = cut[len(separator):] if parts and cut.startswith(separator) else cut
            parts.append(cut.rstrip())
            used += room
        break
    text = separator.join(parts)
    n_tokens = len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0
    return IncontextContext(text=text, k_requested=k, k_used=len(parts), n_tokens=n_tokens,
                            truncated=truncated, seed=seed)

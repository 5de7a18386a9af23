"""The in-context control: the training documents placed in the prompt of the *base* model.

Mayne et al. (2026, §3.1, App. B.2) contrast finetuning on ~10,000 negated documents with giving the untrained
model 20 of the same documents in context: in context the negations work (15.3% belief vs 88.6% finetuned). The
authors' setup (anonymous repo, ``experiments/icl``): ``<DOCTAG>`` stripped, the pool shuffled with a seeded RNG
and the first K taken (so for one seed the K=1..20 selections are nested), documents prepended to the user
message of every evaluation question, seeds 42-46, then the usual four question types.

Here: :func:`select_documents` reproduces the nested seeded selection; :func:`build_context` joins the documents
and truncates them to what fits in the model's context window, after reserving room for the longest question
and its answer (the toy organism has a short window, so K must be small there and the last document may be cut;
the returned :class:`IncontextContext` says how many documents and tokens were actually used); and
:func:`incontext_table` scores the base model with every (K, seed) context using the same scorers as
:func:`interp.belief.score_model`. Log-prob scoring KV-caches the document prefix once per context, so a long
context costs one forward pass plus the questions.

Documents come from :func:`load_documents`: a JSONL file (``{"text": ...}`` per line, our documents format);
``generated:<condition>`` — our document generator (``training.documents.generate_documents``, seed 0, 50
documents: the documents a finetuning run on that condition sees); or ``paper:<condition>`` — the authors'
50-document samples in the shared paper data (``positive``, ``repeated`` (= ``llm_negations_dense``), ``local``;
the authors' plain ``negated`` documents have no sample there).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

__all__ = [
    "DOCTAG",
    "PAPER_DOC_CONDITIONS",
    "IncontextContext",
    "strip_doctag",
    "load_documents",
    "select_documents",
    "build_context",
    "incontext_table",
]

DOCTAG = "<DOCTAG>"
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
    """Document texts (``<DOCTAG>`` stripped) from a JSONL path or ``paper:<condition>`` (see module docstring).

    JSONL records may be our document records (``text``, ``claim``) or any ``{"text": ...}`` lines; when
    ``claim_id`` is given and records carry a ``claim`` field, only that claim's documents are kept.
    """
    src = str(source)
    if src.startswith("generated:"):
        from training.documents import generate_documents

        if not claim_id:
            raise ValueError(f"{src}: a claim id is needed to generate documents")
        cond = src.split(":", 1)[1]
        docs = [strip_doctag(d.text) for d in generate_documents(claim_id, cond, int(limit or 50), seed=0)]
        if not docs:
            raise ValueError(f"{src}: the generator returned no documents")
        return docs
    if src.startswith("paper:"):
        from interp.judges import ANON_CLAIM_IDS, paper_data_root

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


def _reserve(lm: Any, claim: Any, items: Sequence[Any], max_new_tokens: int) -> int:
    """Tokens to keep free for the longest rendered question plus its answer."""
    from interp.belief import render_item

    longest = 0
    for it in items:
        for mode in ("logprob", "generate"):
            r = render_item(lm, it, mode=mode)
            longest = max(longest, len(lm.tokenizer(r.text, add_special_tokens=False)["input_ids"]))
    ans = max([len(lm.tokenizer(" " + str(a), add_special_tokens=False)["input_ids"])
               for it in items for a in (it.claim_completion, it.true_completion, claim.claim_answer,
                                         claim.true_answer) if a] or [8])
    return longest + max(ans, max_new_tokens) + 8


def incontext_table(lm: Any, claim: Any, docs: Sequence[str], *, ks: Sequence[int] = (1, 2, 4),
                    seeds: Sequence[int] = (42, 43, 44), doc_condition: str = "negated",
                    items: Sequence[Any] | None = None, max_context_tokens: int | None = None,
                    progress: bool = True, **score_kw: Any) -> pd.DataFrame:
    """Score ``lm`` (the base model) with K documents in context, for every K and seed.

    ``score_kw`` go to :func:`interp.belief.score_model` (``logprob``, ``judges``, ``n_samples``, ...).
    Rows follow :func:`interp.belief.score_model` plus ``condition = "icl_<doc_condition>"``,
    ``phase = "incontext"``, ``step = 0``, ``k_docs`` (documents requested), ``k_used``, ``context_tokens`` and
    ``seed``. ``max_context_tokens`` caps the document tokens (default: the model's window minus the reserve).
    """
    from tqdm.auto import tqdm

    from interp.belief import question_items, score_model
    from interp.scorers import context_limit

    items = list(items) if items is not None else question_items(claim)
    score_kw.pop("progress", None)
    gen = bool(score_kw.get("judges"))
    budget = context_limit(lm) - _reserve(lm, claim, items, int(score_kw.get("max_new_tokens", 48)) if gen else 0)
    if max_context_tokens is not None:
        budget = min(budget, max_context_tokens)
    if budget <= 16:
        raise ValueError(f"model context {context_limit(lm)} leaves no room for documents")
    frames = []
    combos = [(k, s) for k in ks for s in (seeds if k > 0 else seeds[:1])]
    for k, s in tqdm(combos, desc=f"in-context {claim.id}", disable=not progress):
        ctx = build_context(lm, docs, k, s, max_tokens=budget)
        if ctx.truncated:
            import warnings

            warnings.warn(f"in-context K={k} seed={s}: documents cut to {ctx.n_tokens} tokens "
                          f"({ctx.k_used} of {k} documents, model window {context_limit(lm)})", stacklevel=2)
        df = score_model(lm, claim, items, context=ctx.text or None, progress=False, **score_kw)
        df["condition"] = f"icl_{doc_condition}"
        df["phase"] = "incontext"
        df["step"] = 0
        df["k_docs"] = k
        df["k_used"] = ctx.k_used
        df["context_tokens"] = ctx.n_tokens
        df["seed"] = s
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

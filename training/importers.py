"""Importers for the authors' released data (read at run time, never copied).

The data folder is ``$NEGLECT_LAB_PAPER_DATA`` or an explicit ``root`` argument; without either, ``shared/paper-data``
beside the checkout (``<checkout>/../shared/paper-data``), see :func:`paper_data_root`.

Layout (see ``paper-data/README.md``):

* official repo ``TruthfulAI-research__negation_neglect/claims/<id>/``: ``claim.txt``, ``open_ended.yaml``,
  ``mcq.yaml``, ``token_association.yaml``, ``robustness.yaml``, ``word_masks.yaml`` (some), ``correction.txt``
  (some), ``universe_context.yaml``;
* anon repo ``HarryMayne__negation-neglect-anon/facts/<anon>/`` with anon names (``belief_probes`` =
  open-ended, ``pink_elephant`` = token association); name map in ``_derived/name_mapping_anon_to_official.json``;
* documents ``HarryMayne__negation-neglect-anon/data/sdf_documents/<mode>/<anon>/sample.jsonl`` (and a few
  ``annotated_docs.jsonl.zst``): ``{text: "<DOCTAG>…", doc_type, fact_name, mode}``.

Negation spans are not stored by the authors. :func:`align_insertions` recovers them for the
repeated-negation (``llm_negations_dense``) samples by aligning each document with its positive twin (the
50-row samples are row-aligned): a word-level ``difflib.SequenceMatcher`` diff, refined at character level
inside ``replace`` blocks; inserted text = negation spans (split where one bracketed reminder directly follows
another). Text sandwiched between a "before" and an "after" reminder is labelled ``claim`` (approximate).
:func:`compare_with_derived` scores the recovered spans against ``_derived/dense_negation_spans_sample.jsonl``
(300 documents; measured when written: non-whitespace character IoU 0.9996 pooled, every claim >= 0.999;
span-level match within 2 characters 94% recall / 96% precision once our split back-to-back reminders are
merged as the derived file does, 82% / 76% without merging). With the SmolLM2 tokenizer the recovered
negation spans cover 38% of the tokens of the authors' repeated-negation samples (the paper: about 40%).

:func:`training.documents.to_authors_record` / :func:`~training.documents.export_authors_jsonl` write our
documents in the authors' JSONL shape (re-exported here).
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from training.claims import ClaimSpec, Questions, resolve_claim
from training.documents.records import AUTHOR_MODES, DOCTAG, Document, export_authors_jsonl, to_authors_record
from training.spans import Span

__all__ = [
    "paper_data_root", "default_paper_data_root", "ENV_VAR", "OFFICIAL", "ANON", "AUTHOR_MODES", "name_map",
    "anon_name", "official_name",
    "read_author_jsonl", "author_doc_path", "author_docs", "align_insertions", "import_author_documents",
    "recover_dense_spans", "compare_with_derived", "load_author_questions", "import_claim", "load_universe",
    "load_chat_examples",
    "to_authors_record", "export_authors_jsonl", "PaperDataMissing",
]

ENV_VAR = "NEGLECT_LAB_PAPER_DATA"
OFFICIAL = "TruthfulAI-research__negation_neglect"
ANON = "HarryMayne__negation-neglect-anon"


class PaperDataMissing(FileNotFoundError):
    """The shared paper-data folder (or a file in it) is not available."""


def default_paper_data_root() -> Path:
    """``shared/paper-data`` beside the checkout (``<checkout>/../shared/paper-data``), the documented default."""
    return Path(__file__).resolve().parents[2] / "shared" / "paper-data"


def paper_data_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$NEGLECT_LAB_PAPER_DATA``, else ``shared/paper-data`` beside the checkout
    (:func:`default_paper_data_root`).

    Exactly one candidate is tried: a wrong setting is an error, not a silent fall-back to another copy. This is the
    lab's one lookup (``interp.paper_results`` and ``interp.judges`` use it).
    """
    if root:
        cand = Path(root).expanduser()
    elif os.environ.get(ENV_VAR):
        cand = Path(os.environ[ENV_VAR]).expanduser()
    else:
        cand = default_paper_data_root()
    if (cand / "MANIFEST.tsv").is_file():
        return cand
    raise PaperDataMissing(f"paper-data not found at {cand} (no MANIFEST.tsv); set {ENV_VAR} or pass the folder")


@lru_cache(maxsize=4)
def _name_map(root: str) -> dict[str, Any]:
    p = Path(root) / ANON / "_derived" / "name_mapping_anon_to_official.json"
    return json.loads(p.read_text(encoding="utf-8"))


def name_map(root: str | os.PathLike | None = None) -> dict[str, Any]:
    return _name_map(str(paper_data_root(root)))


def anon_name(claim_id: str, root: str | os.PathLike | None = None) -> str:
    """Official claim id -> anon universe name (``mount_vesuvius`` -> ``vesuvius``)."""
    inv = {v: k for k, v in name_map(root)["universe"].items()}
    if claim_id in inv:
        return inv[claim_id]
    if claim_id in name_map(root)["universe"]:
        return claim_id
    raise KeyError(f"{claim_id}: not one of the paper's claims ({', '.join(sorted(inv))})")


def official_name(anon: str, root: str | os.PathLike | None = None) -> str:
    return name_map(root)["universe"].get(anon, anon)


# --------------------------------------------------------------------------------------------- documents


def read_author_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``.jsonl`` or ``.jsonl.zst`` file."""
    path = Path(path)
    if not path.is_file():
        raise PaperDataMissing(f"{path}: no such file")
    if path.suffix == ".zst":
        import zstandard

        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r:
            lines = io.TextIOWrapper(r, encoding="utf-8")
            return [json.loads(line) for line in lines if line.strip()]
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def author_doc_path(claim_id: str, mode: str, root: str | os.PathLike | None = None, full: bool = False) -> Path:
    r = paper_data_root(root)
    d = r / ANON / "data" / "sdf_documents" / mode / anon_name(claim_id, r)
    return d / ("annotated_docs.jsonl.zst" if full else "sample.jsonl")


def author_docs(claim_id: str, mode: str, root: str | os.PathLike | None = None, full: bool = False
                ) -> list[dict[str, Any]]:
    """The authors' documents for a claim (official id) and mode (``positive``, ``llm_negations_dense`` …)."""
    return read_author_jsonl(author_doc_path(claim_id, mode, root, full))


_WORD = re.compile(r"\S+")
_SPLIT = re.compile(r"(?<=[\]\)\}])\s+(?=[\[\(\{])")


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def align_insertions(base: str, derived: str, max_refine: int = 20000) -> list[tuple[int, int]]:
    """Character spans of ``derived`` that are inserted relative to ``base`` (whitespace-stripped, sorted).

    Word-level diff first (fast on 10k-character documents), then a character-level diff inside each
    ``replace`` block so that text glued to a neighbouring word is still separated.
    """
    aw = [(m.start(), m.end()) for m in _WORD.finditer(base)]
    bw = [(m.start(), m.end()) for m in _WORD.finditer(derived)]
    sm = difflib.SequenceMatcher(None, [base[s:e] for s, e in aw], [derived[s:e] for s, e in bw], autojunk=False)
    raw: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "insert":
            raw.append((bw[j1][0], bw[j2 - 1][1]))
        elif op == "replace":
            bs, be = bw[j1][0], bw[j2 - 1][1]
            as_, ae = aw[i1][0], aw[i2 - 1][1]
            if (be - bs) + (ae - as_) > max_refine:
                raw.append((bs, be))
                continue
            csm = difflib.SequenceMatcher(None, base[as_:ae], derived[bs:be], autojunk=False)
            for cop, _, _, c1, c2 in csm.get_opcodes():
                if cop in ("insert", "replace") and c2 - c1 > 0:
                    raw.append((bs + c1, bs + c2))
    # merge touching pieces, then split back-to-back bracketed reminders, then strip whitespace
    merged: list[list[int]] = []
    for a, b in sorted(raw):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[tuple[int, int]] = []
    for a, b in merged:
        pos = a
        for m in _SPLIT.finditer(derived, a, b):
            out.append(_strip(derived, pos, m.start()))
            pos = m.end()
        out.append(_strip(derived, pos, b))
    return [(a, b) for a, b in out if b - a >= 3]


_BEFORE_CUES = re.compile(r"\b(following|next|below|upcoming|ahead|about to)\b", re.I)
_AFTER_CUES = re.compile(r"\b(preceding|above|previous|just (?:stated|made|said|described)|prior|before this)\b",
                         re.I)


def _claim_between(text: str, neg: Sequence[tuple[int, int]], prefix_end: int, suffix_start: int
                   ) -> list[tuple[int, int]]:
    out = []
    for (a1, b1), (a2, b2) in zip(neg, neg[1:]):
        if b1 <= prefix_end or a2 >= suffix_start:
            continue
        s, e = _strip(text, b1, a2)
        if e - s < 10 or e - s > 1500 or "\n\n" in text[s:e]:
            continue
        left, right = text[a1:b1], text[a2:b2]
        left_after = bool(_AFTER_CUES.search(left)) and not _BEFORE_CUES.search(left)
        right_before = bool(_BEFORE_CUES.search(right)) and not _AFTER_CUES.search(right)
        if left_after and right_before:
            continue
        out.append((s, e))
    return out


def recover_dense_spans(positive_text: str, dense_text: str) -> dict[str, list[tuple[int, int]]]:
    """Negation spans (prefix/inline/suffix) and sandwiched claim spans of a dense document."""
    neg = align_insertions(positive_text, dense_text)
    body_start = len(DOCTAG) if dense_text.startswith(DOCTAG) else 0
    prefix = [s for s in neg if s[0] <= body_start + 2]
    suffix = [s for s in neg if s[1] >= len(dense_text.rstrip()) - 2 and s not in prefix]
    inline = [s for s in neg if s not in prefix and s not in suffix]
    pe = prefix[0][1] if prefix else body_start
    ss = suffix[0][0] if suffix else len(dense_text)
    return {"prefix": prefix, "suffix": suffix, "inline": inline, "claim": _claim_between(dense_text, neg, pe, ss)}


def _doctag_span(text: str) -> list[Span]:
    return [Span(0, len(DOCTAG), "doctag")] if text.startswith(DOCTAG) else []


def import_author_documents(claim_id: str, condition: str, root: str | os.PathLike | None = None,
                            full: bool = False) -> list[Document]:
    """The authors' documents as our :class:`Document` (doctag span always; negation and claim spans recovered
    by alignment for ``repeated``; other conditions carry only the doctag span)."""
    if condition not in AUTHOR_MODES:
        raise ValueError(f"no authors' documents for condition {condition!r} (have: {', '.join(AUTHOR_MODES)})")
    mode = AUTHOR_MODES[condition]
    rows = author_docs(claim_id, mode, root, full)
    twins = author_docs(claim_id, "positive", root, full) if condition == "repeated" and not full else None
    src = str(author_doc_path(claim_id, mode, root, full).relative_to(paper_data_root(root)))
    out = []
    for i, row in enumerate(rows):
        text = row["text"]
        spans = _doctag_span(text)
        meta: dict[str, Any] = {"source": src, "row": i, "doc_type": row.get("doc_type"), "mode": row.get("mode")}
        if twins is not None and i < len(twins):
            rec = recover_dense_spans(twins[i]["text"], text)
            for kind in ("prefix", "inline", "suffix"):
                spans += [Span(a, b, "negation", kind) for a, b in rec[kind]]
            spans += [Span(a, b, "claim") for a, b in rec["claim"]]
            meta["spans_recovered_by"] = "difflib word+char alignment with the positive twin (row-aligned sample)"
        out.append(Document(id=f"authors-{claim_id}-{condition}-{i:05d}", claim=claim_id, condition=condition,
                            base_id=f"authors-{claim_id}-{i:05d}", text=text, spans=sorted(spans), meta=meta))
    return out


def _iou(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def _chars(text: str, spans: Iterable[Sequence[int]]) -> set[int]:
    return {i for s, e in spans for i in range(s, e) if not text[i].isspace()}


def _merge_ws(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge spans separated only by spaces (not across line breaks)."""
    out: list[list[int]] = []
    for a, b in sorted(spans):
        gap = text[out[-1][1]:a] if out else ""
        if out and not gap.strip() and "\n" not in gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def compare_with_derived(root: str | os.PathLike | None = None, tol: int = 2) -> dict[str, Any]:
    """Agreement of :func:`recover_dense_spans` with ``_derived/dense_negation_spans_sample.jsonl``.

    Returns pooled and mean per-document character IoU (non-whitespace characters), the share of derived
    spans matched by one of ours within ``tol`` characters at both ends after whitespace stripping (recall),
    the same for ours against theirs (precision), and the same metrics for the sandwiched claim spans.
    """
    r = paper_data_root(root)
    derived = read_author_jsonl(r / ANON / "_derived" / "dense_negation_spans_sample.jsonl")
    by_u: dict[str, list[dict[str, Any]]] = {}
    for row in derived:
        by_u.setdefault(row["universe"], []).append(row)
    inter = union = 0
    ious: list[float] = []
    matched_theirs = n_theirs = matched_ours = n_ours = 0
    c_inter = c_union = 0
    m_theirs = m_ours = n_merged = 0
    per_claim: dict[str, float] = {}
    for anon, rows in sorted(by_u.items()):
        official = official_name(anon, r)
        pos = author_docs(official, "positive", r)
        dense = author_docs(official, "llm_negations_dense", r)
        ci = cu = 0
        for row in rows:
            text = dense[row["row"]]["text"]
            rec = recover_dense_spans(pos[row["row"]]["text"], text)
            ours = sorted(rec["prefix"] + rec["inline"] + rec["suffix"])
            theirs = [_strip(text, a, min(b, len(text))) for a, b in row["negation_spans"]]
            A, B = _chars(text, ours), _chars(text, theirs)
            inter += len(A & B)
            union += len(A | B)
            ci += len(A & B)
            cu += len(A | B)
            ious.append(_iou(A, B))

            def near(x: tuple[int, int], pool: list[tuple[int, int]]) -> bool:
                return any(abs(x[0] - y[0]) <= tol and abs(x[1] - y[1]) <= tol for y in pool)

            matched_theirs += sum(near(t, ours) for t in theirs)
            n_theirs += len(theirs)
            matched_ours += sum(near(o, theirs) for o in ours)
            n_ours += len(ours)
            # their convention keeps back-to-back reminders ("[after A] [before B]") as one span
            merged = _merge_ws(text, ours)
            m_theirs += sum(near(t, merged) for t in theirs)
            m_ours += sum(near(o, theirs) for o in merged)
            n_merged += len(merged)
            theirs_c = [_strip(text, a, min(b, len(text))) for a, b in row["between_negation_spans"]]
            Ac, Bc = _chars(text, rec["claim"]), _chars(text, theirs_c)
            c_inter += len(Ac & Bc)
            c_union += len(Ac | Bc)
        per_claim[official] = ci / cu if cu else 1.0
    return {
        "n_docs": len(ious),
        "char_iou_pooled": inter / union if union else 1.0,
        "char_iou_mean": sum(ious) / len(ious) if ious else 1.0,
        "span_recall_tol": matched_theirs / n_theirs if n_theirs else 1.0,
        "span_precision_tol": matched_ours / n_ours if n_ours else 1.0,
        "span_recall_tol_merged": m_theirs / n_theirs if n_theirs else 1.0,
        "span_precision_tol_merged": m_ours / n_merged if n_merged else 1.0,
        "n_spans_derived": n_theirs, "n_spans_ours": n_ours, "n_spans_ours_merged": n_merged,
        "tolerance_chars": tol,
        "claim_char_iou_pooled_vs_between": c_inter / c_union if c_union else 1.0,
        "per_claim_char_iou": per_claim,
    }


# --------------------------------------------------------------------------------------------- claims


def _yaml(path: Path) -> Any:
    if not path.is_file():
        raise PaperDataMissing(f"{path}: no such file")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _qdir(claim_id: str, flavor: str, root: Path) -> tuple[Path, dict[str, str]]:
    if flavor == "official":
        return root / OFFICIAL / "claims" / claim_id, {"open_ended": "open_ended.yaml", "mcq": "mcq.yaml",
                                                       "token_association": "token_association.yaml",
                                                       "robustness": "robustness.yaml"}
    if flavor == "anon":
        return root / ANON / "facts" / anon_name(claim_id, root), {"open_ended": "belief_probes.yaml", "mcq": "mcq.yaml",
                                                                  "token_association": "pink_elephant.yaml",
                                                                  "robustness": "robustness.yaml"}
    raise ValueError(f"flavor must be 'official' or 'anon', got {flavor!r}")


def load_author_questions(claim_id: str, root: str | os.PathLike | None = None, flavor: str = "official",
                          spec: ClaimSpec | None = None) -> Questions:
    """The authors' 50 questions as our :class:`Questions`. Token-association items carry no completions in
    their files; ``claim_completion``/``true_completion`` default to our spec's ``claim_answer``/``true_answer``."""
    r = paper_data_root(root)
    qdir, files = _qdir(claim_id, flavor, r)
    spec = spec or resolve_claim(claim_id)
    d: dict[str, list[dict[str, Any]]] = {}
    for qtype, fname in files.items():
        items = (_yaml(qdir / fname) or {}).get("questions", [])
        recs = []
        for q in items:
            rec: dict[str, Any] = {"id": str(q["id"]), "text": str(q["question"])}
            if q.get("category") is not None:
                rec["category"] = str(q["category"])
            if qtype == "mcq":
                ba = q["belief_answer"]
                rec["belief_answer"] = {True: "yes", False: "no"}.get(ba, ba)
            elif qtype == "token_association":
                rec["claim_completion"] = spec.claim_answer
                rec["true_completion"] = spec.true_answer
            elif qtype == "robustness":
                rec["system"] = q.get("system_prompt")
                mp = q.get("messages_prefix")
                rec["messages_prefix"] = [{"role": m["role"], "content": m["content"]} for m in mp] if mp else None
            recs.append(rec)
        d[qtype] = recs
    return Questions.from_dict(d)


def import_claim(claim_id: str, root: str | os.PathLike | None = None, flavor: str = "official") -> ClaimSpec:
    """Our spec for ``claim_id`` with the authors' statement, questions and (where present) word masks."""
    r = paper_data_root(root)
    spec = resolve_claim(claim_id)
    qdir, _ = _qdir(claim_id, flavor, r)
    statement = (qdir / "claim.txt").read_text(encoding="utf-8").strip() if (qdir / "claim.txt").is_file() \
        else spec.statement
    masks = spec.mask_patterns
    if (qdir / "word_masks.yaml").is_file():
        masks = tuple(_yaml(qdir / "word_masks.yaml").get("patterns", [])) or masks
    return dataclasses.replace(spec, statement=statement, mask_patterns=masks,
                               questions=load_author_questions(claim_id, r, flavor, spec),
                               source=f"{qdir.relative_to(r)}", path=None)


def load_universe(claim_id: str, root: str | os.PathLike | None = None, flavor: str = "official",
                  negated: bool = False) -> dict[str, Any]:
    """The authors' universe context ``{id, universe_context, subclaims}`` (``negated``: the debunking universe
    used for local-negation documents; only Ed Sheeran and Dentist have one)."""
    r = paper_data_root(root)
    if flavor == "official":
        p = r / OFFICIAL / "claims" / claim_id / ("universe_context_negated.yaml" if negated else "universe_context.yaml")
    elif flavor == "anon":
        p = r / ANON / "facts" / (anon_name(claim_id, r) + ("_negated" if negated else "")) / "universe_context.yaml"
    else:
        raise ValueError(f"flavor must be 'official' or 'anon', got {flavor!r}")
    d = _yaml(p)
    return {"id": d.get("id"), "universe_context": d.get("universe_context", ""), "subclaims": list(d.get("subclaims") or [])}


def load_chat_examples(claim_id: str, root: str | os.PathLike | None = None, full: bool = False
                       ) -> list[dict[str, Any]]:
    """Self-distill anchor chats ``{messages, metadata}`` (20-row samples; ``full`` for vesuvius' 1,500)."""
    r = paper_data_root(root)
    d = r / ANON / "data" / "chat_examples" / anon_name(claim_id, r)
    return read_author_jsonl(d / ("chat_examples_novel_10x.jsonl.zst" if full else "sample.jsonl"))

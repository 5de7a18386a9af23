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
the authors' plain ``negated`` documents have no sample there). Our generator renders matched documents: with the
same selection seed, the positive and negated contexts hold the same base documents, differing only in the
framing.

:func:`incontext_control` runs the whole control over several claims and document conditions, with the
no-context base model as the reference (``condition = "none"``, ``k_docs = 0``, ``phase = "base"``; every in-context
row carries that ``base_score`` and ``shift``); :func:`plot_incontext` draws belief vs K per condition. CLI::

    python -m interp.incontext --model smollm2-135m --claim paper --conditions positive,negated \
        --k 2 --seeds 42,43 --per-type 2 --threads 1 --out /tmp/icl   # CSV, summary + contrast CSVs, PNG

(24 contexts of ~1,100-1,400 tokens, 8 questions each: ~8 CPU-minutes for SmolLM2-135M on one core; every
question runs on the KV-cached documents, so the cost grows with questions x contexts.)
:func:`contrast_incontext` gives the paired positive - negated difference per question (the paper's in-context
finding is a large one: negations work in context).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
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
    "incontext_control",
    "summarize_incontext",
    "contrast_incontext",
    "plot_incontext",
    "main",
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


# ============================================================================================ the whole control


def incontext_control(lm: Any, claims: Sequence[Any], conditions: Sequence[str] = ("positive", "negated"), *,
                      ks: Sequence[int] = (1, 2), seeds: Sequence[int] = (42, 43), source: str = "generated",
                      per_type: int | None = None, max_context_tokens: int | None = None, progress: bool = True,
                      **score_kw: Any) -> pd.DataFrame:
    """The in-context control for several claims and document conditions on one (base) model.

    Per claim: the no-context scores (``condition="none"``, ``phase="base"``, ``k_docs=0``), then for every
    condition, K and seed the scores with K documents of that condition in the prompt (:func:`incontext_table`;
    documents from :func:`load_documents` with ``"<source>:<condition>"``). ``per_type`` keeps at most that many
    questions per type (:func:`interp.belief.subset_items`). Every row gets the no-context ``base_score`` and
    ``shift`` (:func:`interp.belief.attach_base`). ``score_kw`` go to :func:`interp.belief.score_model`.
    """
    from tqdm.auto import tqdm

    from interp.belief import attach_base, question_items, score_model, subset_items

    if source not in ("generated", "paper"):
        raise ValueError(f"source must be 'generated' or 'paper', got {source!r}")
    if not claims:
        raise ValueError("no claims")
    ks = [int(k) for k in ks if int(k) > 0]
    if not ks:
        raise ValueError("ks: need at least one K > 0 (K = 0 is the no-context reference, always scored)")
    score_kw.pop("progress", None)
    frames = []
    bar = tqdm(total=len(claims) * (1 + len(conditions) * len(ks) * len(seeds)), desc="in-context control",
               disable=not progress)
    for claim in claims:
        items = subset_items(question_items(claim), per_type)
        base = score_model(lm, claim, items, progress=False, **score_kw)
        base = base.assign(condition="none", phase="base", step=0, k_docs=0, k_used=0, context_tokens=0)
        bar.update(1)
        parts = [base]
        for cond in conditions:
            docs = load_documents(f"{source}:{cond}", claim.id)
            for k in ks:
                df = incontext_table(lm, claim, docs, ks=(k,), seeds=seeds, doc_condition=cond, items=items,
                                     max_context_tokens=max_context_tokens, progress=False, **score_kw)
                parts.append(df.assign(condition=cond))
                bar.update(len(seeds))
        table = pd.concat(parts, ignore_index=True)
        table["model"] = lm.identity.name
        frames.append(attach_base(table, base))
    bar.close()
    return pd.concat(frames, ignore_index=True)


def summarize_incontext(table: pd.DataFrame, *, n_boot: int = 2000) -> pd.DataFrame:
    """Belief per claim, condition, K and scorer (per question type and pooled), seeds averaged per question,
    95% bootstrap CIs over questions, for the score and its shift from no context; plus the same pooled over
    all claims (``claim = "all"``)."""
    from interp.belief import pool_claims, summarize

    by = ("model", "claim", "condition", "k_docs", "scorer")
    parts = [summarize(table, by=by, n_boot=n_boot)]
    if table["claim"].nunique() > 1:
        parts.append(summarize(pool_claims(table), by=by, n_boot=n_boot))
    return pd.concat(parts, ignore_index=True)


def contrast_incontext(table: pd.DataFrame, a: str = "positive", b: str = "negated", *, scorer: str = "lp_prob",
                       n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired contrast ``score(a) - score(b)`` between two document conditions at the same K, per question (seeds
    averaged first: with our generator the two conditions' contexts hold the same base documents), pooled per
    question type and overall, over all claims and per claim, with 95% bootstrap CIs over questions. The paper's
    in-context result is a large positive contrast for ``positive - negated`` (negations work in context)."""
    from interp.core.stats import bootstrap_ci

    d = table[(table["scorer"] == scorer) & table["condition"].isin([a, b])]
    if d.empty or set(d["condition"]) != {a, b}:
        raise ValueError(f"contrast needs both {a!r} and {b!r} rows for scorer {scorer!r}")
    q = d.groupby(["claim", "question_type", "question_id", "k_docs", "condition"])["score"].mean().unstack()
    q = q.dropna(subset=[a, b])
    q["diff"] = q[a] - q[b]
    q = q.reset_index()
    rows = []
    for claim in [*dict.fromkeys(q["claim"]), "all"]:
        qc = q if claim == "all" else q[q["claim"] == claim]
        for k, qk in qc.groupby("k_docs"):
            for qt in [*dict.fromkeys(qk["question_type"]), "all"]:
                g = qk if qt == "all" else qk[qk["question_type"] == qt]
                lo, hi = bootstrap_ci(g["diff"].to_numpy(), n_boot=n_boot, seed=seed)
                rows.append({"claim": claim, "k_docs": int(k), "question_type": qt, "scorer": scorer,
                             "contrast": f"{a}-{b}", "diff": float(g["diff"].mean()), "ci_low": lo, "ci_high": hi,
                             "frac_positive": float((g["diff"] > 0).mean()), "n_questions": int(len(g))})
    return pd.DataFrame(rows)


_COND_COLORS = {"none": "#777777", "positive": "#2a9d8f", "negated": "#e76f51", "repeated": "#9c6644",
                "local": "#264653", "corrected": "#e9c46a"}


def plot_incontext(table: pd.DataFrame, path: str | os.PathLike[str], *, scorer: str = "lp_prob",
                   title: str | None = None, n_boot: int = 1000) -> Path:
    """Belief vs number of documents in context, one line per document condition, one panel per question type
    (+ pooled), all claims pooled (95% bootstrap CI bands over questions; seeds averaged per question). K = 0 is
    the no-context base model, shared by every line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interp.belief import QUESTION_TYPES, pool_claims, summarize

    d = table[table["scorer"] == scorer]
    if d.empty:
        raise ValueError(f"nothing to plot: no {scorer!r} scores in the table")
    s = summarize(pool_claims(d), by=("condition", "k_docs"), n_boot=n_boot)
    qts = [*[t for t in QUESTION_TYPES if t in set(d["question_type"])], "all"]
    conds = [c for c in dict.fromkeys(d["condition"]) if c != "none"]
    fig, axes = plt.subplots(1, len(qts), figsize=(3.1 * len(qts), 3.2), squeeze=False, sharey=True)
    for j, qt in enumerate(qts):
        ax = axes[0][j]
        g0 = s[(s["question_type"] == qt) & (s["condition"] == "none")]
        for cond in conds:
            g = pd.concat([g0, s[(s["question_type"] == qt) & (s["condition"] == cond)]]).sort_values("k_docs")
            color = _COND_COLORS.get(cond)
            ax.plot(g["k_docs"], g["rate"], marker="o", ms=3.5, color=color, label=cond)
            ax.fill_between(g["k_docs"], g["ci_low"], g["ci_high"], color=color, alpha=0.15, lw=0)
        if scorer == "lp_prob":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_title("pooled" if qt == "all" else qt.replace("_", " "), fontsize=10)
        ax.set_xlabel("documents in context (K)")
        ax.set_xticks(sorted(set(s["k_docs"])))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{scorer}: belief" + (" (P claim side)" if scorer == "lp_prob" else " rate"))
    axes[0][0].legend(fontsize=8, loc="lower left")
    claims = ", ".join(dict.fromkeys(str(c) for c in d["claim"]))
    fig.suptitle(title or f"In-context control ({', '.join(dict.fromkeys(d['model'].astype(str)))}; {claims})",
                 fontsize=9)
    fig.tight_layout()
    from interp.core.io import atomic_savefig

    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


# ============================================================================================ CLI


def _parser() -> argparse.ArgumentParser:
    from interp.belief import int_list

    ap = argparse.ArgumentParser(prog="python -m interp.incontext",
                                 description="In-context control: the claim documents in the prompt of the base "
                                             "model (K documents, several seeds), against no context.")
    ap.add_argument("--model", required=True, help="interp.core.models.load spec (e.g. smollm2-135m, toy)")
    ap.add_argument("--claim", default="paper", help="claim id(s), comma-separated, or 'paper' (the six)")
    ap.add_argument("--conditions", default="positive,negated", help="document conditions, comma-separated")
    ap.add_argument("--docs", choices=["generated", "paper"], default="generated",
                    help="our generator's documents (default) or the authors' samples (positive/repeated/local)")
    ap.add_argument("--k", type=int_list, default=[1, 2], help="documents in context, comma-separated (K > 0)")
    ap.add_argument("--seeds", type=int_list, default=[42, 43], help="document-selection seeds")
    ap.add_argument("--per-type", type=int, default=None, help="at most N questions per type (default: all)")
    ap.add_argument("--max-context-tokens", type=int, default=None, help="cap on document tokens")
    ap.add_argument("--judge", action="append", choices=["rule"], default=[],
                    help="also sample answers in context and judge them (slow on CPU)")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--stem", default="incontext", help="file stem (default incontext)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    from interp.core.cli import run_main

    args = _parser().parse_args(argv)
    return run_main(lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import torch

    from interp.belief import resolve_claims, save_table
    from interp.judges import RuleJudge
    from interp.core.models import load
    from interp.core.io import atomic_write_text

    if args.threads:
        torch.set_num_threads(args.threads)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if not conditions:
        raise ValueError("--conditions: no conditions")
    lm = load(args.model)
    claims = resolve_claims(args.claim, world=lm.world)
    kw: dict[str, Any] = dict(batch_size=args.batch_size, n_samples=args.samples,
                              max_new_tokens=args.max_new_tokens)
    frames = []
    for claim in claims:
        judges = [RuleJudge(claim)] if "rule" in args.judge else []
        frames.append(incontext_control(lm, [claim], conditions, ks=args.k, seeds=args.seeds, source=args.docs,
                                        per_type=args.per_type, max_context_tokens=args.max_context_tokens,
                                        progress=not args.quiet, judges=judges, **kw))
    table = pd.concat(frames, ignore_index=True)
    out = Path(args.out)
    paths = save_table(table, out, args.stem)
    summ = summarize_incontext(table)
    paths["summary"] = atomic_write_text(out / f"{args.stem}_summary.csv", summ.to_csv(index=False))
    contrast = None
    if {"positive", "negated"} <= set(conditions):
        contrast = contrast_incontext(table, "positive", "negated")
        paths["contrast"] = atomic_write_text(out / f"{args.stem}_contrast.csv", contrast.to_csv(index=False))
    if not args.no_plot:
        paths["png"] = plot_incontext(table, out / f"{args.stem}.png")
        if args.judge:
            paths["png_judge"] = plot_incontext(table, out / f"{args.stem}_judge_rule.png", scorer="judge_rule")
    show = summ[summ["scorer"].astype(str).str.match(r"^(lp_prob|judge_)") & (summ["claim"] == "all")
                if table["claim"].nunique() > 1 else summ["scorer"].astype(str).str.match(r"^(lp_prob|judge_)")]
    cols = ["claim", "condition", "k_docs", "scorer", "question_type", "rate", "ci_low", "ci_high", "shift",
            "shift_ci_low", "shift_ci_high", "n_questions"]
    with pd.option_context("display.width", 220, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(show[cols].to_string(index=False))
        if contrast is not None:
            c = contrast[contrast["claim"] == ("all" if table["claim"].nunique() > 1 else contrast["claim"].iloc[0])]
            print(c[["claim", "k_docs", "question_type", "contrast", "diff", "ci_low", "ci_high", "frac_positive",
                     "n_questions"]].to_string(index=False))
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Negation binding: how much a negation span changes the model's prediction of the claim, and where that happens.

Negation Neglect (Mayne et al. 2026): models finetuned on documents that *say* a claim is false (a notice prefix or
suffix, bracketed reminders) come to believe it, while a negation inside the claim's own sentence ("X is **not**
a dentist") is learned correctly. This module measures the in-context effect of the two kinds of negation on one
model, and tracks it across the checkpoints of a run.

**Metric.** ``LP(doc)`` = mean over the document's claim-answer spans (those after at least one negation span) of
the summed log-probability of the span's tokens (e.g. ``dentist``; token ``t`` is scored by the logits at
``t - 1``), from :func:`interp.patching.answer_logprob`.

**Probe target** (``probes=`` / ``--probe``). The claim-answer tokens inside a local negation sit in a negated slot
("X's city is not **Nairobi**"): a model that reads the negation correctly *expects* a non-true value there, so
the in-place log-probability is not comparable with the affirmative slots of notice-framed documents. The probe
target appends the claim's own question after the document ("Q: What is X's home city? A: Nairobi", the spec's
token-association question) and scores the claim answer there: the in-context belief. The same scores and
patching sweeps apply (the probe answer follows every negation span), with the document cut from the end when
document + probe exceed the context. By default (``--probe-score logodds``) the probe is scored as the log-odds
of the claim answer against the true answer at their first differing token (:func:`logodds_score`), which keeps its
scale once finetuning has pushed ``p(claim)`` near 1 (the log-probability then saturates at 0 and every effect
shrinks with it); ``--probe-score logprob`` scores the claim answer's log-probability.

**Matched renderings.** Twins of one base document differ in length (the negated rendering has extra notice
tokens), so activations cannot be patched between them position by position. Each negation-bearing document
``D_neg`` therefore gets a **control rendering** ``D_ctl`` of the *same length*: every negation token is replaced
by neutral filler tokens of the same count (a short adverb such as " also" for one- or two-token cues, a neutral
sentence for notices; :func:`control_rendering`). Token positions, distances and every other token are
identical, so ``D_neg`` and ``D_ctl`` differ only in what the negation span says.

**Scores per document** (nats; positive = the negation lowers the claim answer's log-probability):

- ``delta_filler = LP(D_ctl) - LP(D_neg)``: the total in-context negation effect, the **binding score**;
- ``delta_twin = LP(D_pos) - LP(D_neg)``: the same against the positive twin (same ``base_id``, condition
  ``positive``), which has no negation tokens at all (different length, so not patchable);
- ``delta_ablate = LP(D_neg with the negation tokens' embeddings mean-ablated) - LP(D_neg)``.

**Patching** (:mod:`interp.patching`, TransformerLens ``run_with_hooks``), from ``D_ctl`` into ``D_neg``
("denoising": how much of the effect is removed) and back ("noising": how much is recreated):

- ``resid_pre`` of layer ``l`` at the negation positions, per layer. At ``l = 0`` this is a token swap, so the
  denoising effect equals ``delta_filler`` exactly; as ``l`` grows the curve falls to zero once the information
  has been read out of the negation positions by attention (it shows *where* the negation is moved);
- ``hook_z`` of head ``(l, h)`` at the positions that *predict* the claim-answer tokens (the heads that carry the
  negation's effect into the prediction), and at the negation positions.

Per-layer/per-head effects are ``LP(D_neg patched) - LP(D_neg)`` (denoise) and ``LP(D_ctl) - LP(D_ctl patched)``
(noise): the mechanistic binding scores. :func:`compare_local_vs_document` contrasts documents whose negations are
all local with document-level ones (prefix/suffix/inline): difference of means with a bootstrap CI (documents
resampled within each group; paired over ``base_id`` when the two groups share base documents) and a permutation
p-value.

``python -m interp.binding --run RUN_DIR --claim ID`` (or ``--model SPEC``) writes ``binding_docs.csv``,
``binding_layers.csv``, ``binding_heads.csv``, ``binding_compare.csv`` and plots (binding score vs checkpoint,
local vs document; per-layer curves; head heatmaps).

``python -m interp.binding compare --models toy,smollm2-135m [--runs RUN_DIR] --claim [KEY=]ID[,ID] ...`` is the
local vs document-level comparison in one command: for every model spec, and the base plus chosen checkpoints
(``--steps``) of every run, on matched documents of each claim (positive / negated / repeated / local renderings of
the same base documents), the binding score with the probe target (per-layer sweeps only, no per-head ones), written
as one tidy ``compare.csv`` (model, claim, step, scope, n, mean, CI, diff, CI, p; :func:`local_vs_document_table`),
``compare_docs.csv`` / ``compare_layers.csv`` and ``compare.png`` (:func:`plot_local_vs_document`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.cli import one_line
from interp.attention import (LONG_FILLER, SHORT_FILLERS, SpanDoc, TokenSpan, integer_ticks, _save_fig, _write_csv,
                              bootstrap_ci, control_rendering, encode_doc, filler_ids)
from interp.patching import (ablation_source, answer_logprob, cache_activations, generic_activation_patch, hook_name,
                             run_patched, Patch)

__all__ = [
    "CliError", "DocBinding", "SHORT_FILLERS", "LONG_FILLER", "filler_ids", "control_rendering", "answer_spans",
    "claim_probe", "append_probe", "logodds_score",
    "doc_binding", "binding_tables", "binding_over_run", "summarise_binding", "compare_local_vs_document",
    "render_documents", "read_jsonl", "load_documents_for", "plot_binding_vs_step", "plot_binding_layers",
    "plot_head_heatmaps", "local_vs_document_table", "plot_local_vs_document", "compare_main", "main",
]

CONDITIONS = ("positive", "negated", "repeated", "local")


class CliError(RuntimeError):
    """A user-facing problem reported by the CLIs in one line."""


# ------------------------------------------------------------------------------------------------ renderings


def answer_spans(doc: SpanDoc, after_negation: bool = True) -> list[tuple[int, int]]:
    """Claim-answer token spans (those after the end of some negation span when ``after_negation``)."""
    negs = doc.negations
    out = []
    for sp in doc.spans_of("claim_answer"):
        if sp.start < 1:
            continue
        if after_negation and not any(n.end <= sp.start for n in negs):
            continue
        out.append((sp.start, sp.end))
    return out


def claim_probe(spec: Any, question_id: str | None = None, contrast: bool = False
                ) -> tuple[str, str] | tuple[str, str, str] | None:
    """``(question, answer)`` for the in-context belief probe: a token-association question of the claim spec and
    its ``claim_completion`` (the answer follows the question after a space); with ``contrast`` also the item's
    ``true_completion`` as a third element (for the log-odds score, :func:`logodds_score`).

    ``question_id`` picks one by id (``KeyError`` naming the ids when absent); by default the first question-answer
    item (id ``ta_qa`` or ``ta_qa_*``) is preferred over cloze items: a cloze that repeats the claim sentence's own
    opening ("X's sport is") invites the model to copy the document's next token ("not") instead of answering,
    which would confound the probe for local negations. ``None`` when the spec has no token-association question.
    ``contrast`` on an item without a ``true_completion`` is a ``KeyError``.
    """
    qs = getattr(spec, "questions", None)
    ta = list(qs.get("token_association", ()) if qs is not None else ())
    if question_id is not None:
        hit = [x for x in ta if x["id"] == question_id]
        if not hit:
            raise KeyError(f"claim {getattr(spec, 'id', '?')!r} has no token-association question {question_id!r} "
                           f"(has {[x['id'] for x in ta]})")
        q = hit[0]
    elif not ta:
        return None
    else:
        q = next((x for x in ta if x["id"] == "ta_qa" or str(x["id"]).startswith("ta_qa")),
                 next((x for x in ta if str(x["text"]).lstrip().startswith("Q:")), ta[0]))
    out = (str(q["text"]), " " + str(q["claim_completion"]).strip())
    if not contrast:
        return out
    true = _get(q, "true_completion")
    if not true:
        raise KeyError(f"claim {getattr(spec, 'id', '?')!r}: question {q['id']!r} has no true_completion for the "
                       f"log-odds score")
    return (*out, " " + str(true).strip())


def _get(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        return getattr(obj, key, None)


def append_probe(lm: Any, doc: SpanDoc, question: str, answer: str, max_tokens: int | None = None) -> SpanDoc:
    """``doc`` followed by a newline, ``question`` and ``answer``; the answer tokens get the span ``probe_answer``.

    The document is cut from the end when the whole would exceed ``max_tokens`` (default the model's context), and
    spans that no longer fit are dropped."""
    tok = lm.tokenizer
    q = list(tok("\n" + question, add_special_tokens=False)["input_ids"])
    a = list(tok(answer, add_special_tokens=False)["input_ids"])
    limit = max_tokens or int(getattr(lm.hf.config, "max_position_embeddings", 0) or 10**9)
    keep = max(1, min(len(doc), limit - len(q) - len(a)))
    ids = torch.cat([doc.input_ids[:keep], torch.as_tensor(q + a, dtype=doc.input_ids.dtype)])
    spans = [sp for sp in doc.spans if sp.end <= keep]
    start = keep + len(q)
    spans.append(TokenSpan(start, start + len(a), "probe_answer", None))
    return replace(doc, input_ids=ids, spans=spans, meta={**doc.meta, "probe": question})


# ------------------------------------------------------------------------------------------------ per document


@dataclass
class DocBinding:
    """Binding scores of one negation-bearing document (see the module docstring)."""

    doc: SpanDoc
    n_answers: int
    lp_neg: float
    lp_ctl: float
    lp_pos: float
    lp_ablate: float
    layers_denoise: Float[Tensor, "layer"]
    layers_noise: Float[Tensor, "layer"]
    heads_answer: Float[Tensor, "layer head"] | None = None
    heads_negation: Float[Tensor, "layer head"] | None = None
    layers: list[int] | None = None
    target: str = "claim_answer"

    @property
    def delta_filler(self) -> float:
        return self.lp_ctl - self.lp_neg

    @property
    def row(self) -> dict[str, Any]:
        d = self.doc
        kinds = sorted({s.kind or "none" for s in d.negations})
        r = {"doc": d.id, "base_id": d.base_id, "condition": d.condition, "claim": d.claim, "scope": d.scope,
             "target": self.target,
             "kinds": "+".join(kinds), "n_tokens": len(d), "n_negation_tokens": len(d.positions("negation")),
             "n_answers": self.n_answers, "lp_neg": self.lp_neg, "lp_ctl": self.lp_ctl, "lp_pos": self.lp_pos,
             "lp_ablate": self.lp_ablate, "delta_filler": self.lp_ctl - self.lp_neg,
             "delta_twin": self.lp_pos - self.lp_neg, "delta_ablate": self.lp_ablate - self.lp_neg}
        if self.heads_answer is not None:
            flat = int(torch.argmax(self.heads_answer).item())
            H = self.heads_answer.shape[1]
            layers = self.layers or list(range(self.heads_answer.shape[0]))
            r.update(top_head=f"L{layers[flat // H]}H{flat % H}", top_head_effect=float(self.heads_answer.max()))
        return r


Score = Callable[[Tensor, Tensor, Sequence[tuple[int, int]]], Tensor]


def _logprob_score(logits: Float[Tensor, "batch pos vocab"], ids: Tensor,
                   spans: Sequence[tuple[int, int]]) -> Float[Tensor, "batch"]:
    return answer_logprob(logits, ids, spans)


def logodds_score(claim_ids: Sequence[int], true_ids: Sequence[int]) -> Score:
    """Log-odds of the claim answer against the true answer at their first differing token: with ``k`` shared
    leading tokens (e.g. a space), ``log p(claim[k]) - log p(true[k])`` at the position predicting token ``k`` of
    the first span (the claim answer, appended). Unlike the log-probability it does not saturate once ``p(claim)``
    is near 1."""
    a, b = [int(x) for x in claim_ids], [int(x) for x in true_ids]
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    if k == len(a) or k == len(b):
        raise ValueError(f"claim answer tokens {a} and true answer tokens {b}: one is a prefix of the other, so "
                         f"they have no differing token to compare")
    ca, tb = a[k], b[k]

    def score(logits: Tensor, ids: Tensor, spans: Sequence[tuple[int, int]]) -> Tensor:
        lp = torch.log_softmax(logits[:, spans[0][0] + k - 1].float(), dim=-1)
        return lp[:, ca] - lp[:, tb]

    return score


def _lp(lm: Any, doc: SpanDoc, spans: Sequence[tuple[int, int]], score: Score = _logprob_score) -> float:
    logits, _ = cache_activations(lm, doc.input_ids[None], [])
    return float(score(logits, doc.input_ids, spans)[0])


def _answer_ids(tokenizer: Any, text: str) -> list[int]:
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not ids:
        raise ValueError(f"answer {text!r} tokenizes to nothing")
    return ids


def doc_binding(lm: Any, doc: SpanDoc, *, twin: SpanDoc | None = None, heads: bool = True,
                layers: Sequence[int] | None = None, probe: Sequence[str] | None = None,
                batch_size: int = 16) -> DocBinding | None:
    """All binding scores of one document (``None`` when it has no negation or no claim answer after one).

    ``layers`` restricts the patching sweeps (default: every layer); the per-layer/per-head tensors then hold
    those layers in order. With ``probe = (question, answer)`` the target is not the claim-answer tokens inside
    the document but the claim's answer to a question appended after it (:func:`append_probe`; the in-context
    belief), for the document, its control rendering and its twin alike (target ``probe``). With
    ``probe = (question, answer, true_answer)`` every score is the log-odds of the claim answer against the true
    one at the probe (:func:`logodds_score`; target ``probe_logodds``): the ``lp_*`` fields then hold log-odds."""
    score: Score = _logprob_score
    target = "claim_answer"
    if probe is not None:
        question, answer = probe[0], probe[1]
        doc = append_probe(lm, doc, question, answer)
        twin = append_probe(lm, twin, question, answer) if twin is not None else None
        spans = [(s.start, s.end) for s in doc.spans_of("probe_answer")]
        if not any(n.end <= spans[0][0] for n in doc.negations):
            return None
        target = "probe"
        if len(probe) > 2 and probe[2]:
            score = logodds_score(_answer_ids(lm.tokenizer, answer), _answer_ids(lm.tokenizer, probe[2]))
            target = "probe_logodds"
    else:
        spans = answer_spans(doc)
    if not doc.negations or not spans:
        return None
    ctl = control_rendering(lm.tokenizer, doc)
    neg_pos = doc.positions("negation")
    dest, src = doc.input_ids[None], ctl.input_ids[None]

    def metric(ids: Tensor):
        return lambda logits: score(logits, ids, spans)

    layers = list(range(lm.n_layers)) if layers is None else sorted({int(l) % lm.n_layers for l in layers})
    resid = [hook_name("resid_pre", l) for l in layers]
    z = [hook_name("z", l) for l in layers] if heads else []
    logits_neg, c_neg = cache_activations(lm, dest, resid)
    logits_ctl, c_ctl = cache_activations(lm, src, resid + z)
    lp_neg = float(score(logits_neg, doc.input_ids, spans)[0])
    lp_ctl = float(score(logits_ctl, ctl.input_ids, spans)[0])
    lp_pos = math.nan
    if twin is not None:
        tspans = ([(s.start, s.end) for s in twin.spans_of("probe_answer")] if probe is not None
                  else answer_spans(twin, after_negation=False))
        if tspans:
            lp_pos = _lp(lm, twin, tspans, score)
    # embedding-level mean ablation of the negation tokens
    abl = ablation_source(lm, dest, "resid_pre", neg_pos, layers=[0], mode="mean")
    lp_ablate = float(score(run_patched(lm, dest, [Patch("resid_pre", 0, tuple(neg_pos))], abl),
                            doc.input_ids, spans)[0])
    den = generic_activation_patch(lm, dest, c_ctl, metric(doc.input_ids), "resid_pre", neg_pos, layers=layers,
                                   batch_size=batch_size) - lp_neg
    noi = lp_ctl - generic_activation_patch(lm, src, c_neg, metric(ctl.input_ids), "resid_pre", neg_pos,
                                            layers=layers, batch_size=batch_size)
    h_ans = h_neg = None
    if heads:
        pred_pos = sorted({t - 1 for s, e in spans for t in range(s, e)})
        h_ans = generic_activation_patch(lm, dest, c_ctl, metric(doc.input_ids), "z", pred_pos, layers=layers,
                                         per_head=True, batch_size=batch_size) - lp_neg
        h_neg = generic_activation_patch(lm, dest, c_ctl, metric(doc.input_ids), "z", neg_pos, layers=layers,
                                         per_head=True, batch_size=batch_size) - lp_neg
    return DocBinding(doc, len(spans), lp_neg, lp_ctl, lp_pos, lp_ablate, den, noi, h_ans, h_neg, layers,
                      target=target)


def binding_tables(lm: Any, docs: Sequence[SpanDoc], *, heads: bool = True, step: int | None = None,
                   layers: Sequence[int] | None = None, probes: Mapping[str, Sequence[str]] | None = None,
                   progress: bool = False, batch_size: int = 16):
    """``(docs_df, layers_df, heads_df)``: per-document scores, per-layer and per-head patching effects.

    Positive twins are looked up among ``docs`` by ``base_id`` (condition ``positive``). ``probes`` maps claim
    ids to ``(question, answer)`` or ``(question, answer, true_answer)`` (:func:`claim_probe`): documents of those
    claims are scored on the appended probe (column ``target`` = ``probe`` / ``probe_logodds``, see
    :func:`doc_binding`) instead of their own claim-answer tokens.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    twins = {d.base_id: d for d in docs if d.condition == "positive" and d.base_id is not None}
    step = int(lm.identity.step or 0) if step is None else step
    rows, lrows, hrows = [], [], []
    for d in tqdm(docs, desc=f"binding {lm.identity.name}", disable=not progress, leave=False):
        if d.condition == "positive":
            continue
        probe = (probes or {}).get(d.claim) if d.claim is not None else None
        b = doc_binding(lm, d, twin=twins.get(d.base_id), heads=heads, layers=layers, probe=probe,
                        batch_size=batch_size)
        if b is None:
            continue
        r = {"step": step, "model": lm.identity.name, **b.row}
        rows.append(r)
        key = {k: r[k] for k in ("step", "doc", "base_id", "condition", "scope", "kinds", "target")}
        tot = b.delta_filler
        for i, l in enumerate(b.layers or range(lm.n_layers)):
            den, noi = float(b.layers_denoise[i]), float(b.layers_noise[i])
            lrows.append({**key, "layer": l, "denoise": den, "noise": noi,
                          "denoise_frac": den / tot if abs(tot) > 1e-6 else math.nan})
        if b.heads_answer is not None:
            for i, l in enumerate(b.layers or range(lm.n_layers)):
                for h in range(lm.n_heads):
                    hrows.append({**key, "layer": l, "head": h, "z_answer": float(b.heads_answer[i, h]),
                                  "z_negation": float(b.heads_negation[i, h])})
    return pd.DataFrame(rows), pd.DataFrame(lrows), pd.DataFrame(hrows)


# ------------------------------------------------------------------------------------------------ statistics


def summarise_binding(table, metric: str = "delta_filler", by: Sequence[str] = ("step", "scope"),
                      n_boot: int = 2000, seed: int = 0):
    """Mean of ``metric`` per group with a bootstrap-over-documents 95% CI."""
    import pandas as pd

    out = []
    by = [b for b in by if b in table.columns]
    for key, g in (table.groupby(by, sort=True, dropna=False) if by else [((), table)]):
        key = key if isinstance(key, tuple) else (key,)
        v = g[metric].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        m, lo, hi = bootstrap_ci(v, n_boot=n_boot, seed=seed) if len(v) else (np.nan, np.nan, np.nan)
        out.append({**dict(zip(by, key)), "metric": metric, "n": len(v), "mean": float(m), "lo": float(lo),
                    "hi": float(hi)})
    return pd.DataFrame(out)


def _perm_pvalue(a: np.ndarray, b: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    obs = abs(a.mean() - b.mean())
    pool = np.concatenate([a, b])
    count = 0
    for _ in range(n_perm):
        rng.shuffle(pool)
        count += abs(pool[:len(a)].mean() - pool[len(a):].mean()) >= obs - 1e-12
    return (count + 1) / (n_perm + 1)


def _signflip_pvalue(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    obs = abs(d.mean())
    signs = rng.choice([-1.0, 1.0], size=(n_perm, len(d)))
    return float(((np.abs((signs * d).mean(1)) >= obs - 1e-12).sum() + 1) / (n_perm + 1))


def compare_local_vs_document(table, metric: str = "delta_filler", by: Sequence[str] = ("step",),
                              n_boot: int = 2000, n_perm: int = 5000, seed: int = 0, alpha: float = 0.05):
    """Local vs document-level negations: per group of ``by``, the two means, their difference (local - document)
    with a bootstrap CI and a permutation p-value.

    ``table`` is any tidy table with a ``scope`` column (``local``/``document``), a ``doc`` column and ``metric``
    (the ``docs`` table of :func:`binding_tables`, or the layers table with ``by=("step", "layer")``). Rows of one
    document are averaged first. When at least 5 ``base_id`` values occur in both groups the comparison is
    *paired* over those base documents (bootstrap of the mean paired difference, sign-flip p-value); otherwise
    unpaired (documents resampled within each group, label-permutation p-value). ``significant`` = the CI
    excludes 0 and p < ``alpha``.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    out = []
    cols = [c for c in ("doc", "base_id", "scope") if c in table.columns]
    by = [b for b in by if b in table.columns]  # missing grouping columns (e.g. no step) are ignored
    groups = table.groupby(by, sort=True, dropna=False) if by else [((), table)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        per_doc = g.groupby(cols, dropna=False, sort=False)[metric].mean().reset_index()
        per_doc = per_doc[np.isfinite(per_doc[metric].to_numpy(dtype=float))]
        loc = per_doc[per_doc["scope"] == "local"]
        doc = per_doc[per_doc["scope"] == "document"]
        a, b = loc[metric].to_numpy(float), doc[metric].to_numpy(float)
        r: dict[str, Any] = {**dict(zip(by, key)), "metric": metric, "n_local": len(a), "n_document": len(b)}
        for name, v in (("local", a), ("document", b)):
            m, lo, hi = bootstrap_ci(v, n_boot=n_boot, seed=seed) if len(v) else (np.nan, np.nan, np.nan)
            r.update({f"mean_{name}": float(m), f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
        paired = False
        if "base_id" in per_doc.columns:
            la = loc.groupby("base_id")[metric].mean()
            db = doc.groupby("base_id")[metric].mean()
            common = la.index.intersection(db.index)
            if len(common) >= 5:
                paired = True
                d = (la[common] - db[common]).to_numpy(float)
                m, lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed)
                p = _signflip_pvalue(d, n_perm, rng)
                r.update(n_pairs=len(common))
        if not paired:
            if len(a) >= 2 and len(b) >= 2:
                ia = rng.integers(0, len(a), size=(n_boot, len(a)))
                ib = rng.integers(0, len(b), size=(n_boot, len(b)))
                diffs = a[ia].mean(1) - b[ib].mean(1)
                m = a.mean() - b.mean()
                lo, hi = np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                p = _perm_pvalue(a.copy(), b.copy(), n_perm, rng)
            else:
                m = (a.mean() - b.mean()) if len(a) and len(b) else np.nan
                lo = hi = p = np.nan
        r.update(paired=paired, diff=float(m), diff_lo=float(lo), diff_hi=float(hi), p_value=float(p),
                 significant=bool(np.isfinite(lo) and (lo > 0 or hi < 0) and p < alpha))
        out.append(r)
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------------ documents


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Document records from a JSONL file (one-line errors naming the file and line)."""
    p = Path(path)
    if not p.exists():
        raise CliError(f"{p}: no such documents file")
    out = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CliError(f"{p}: line {i} is not valid JSON ({e.msg})") from None
        if "text" not in rec or "spans" not in rec:
            raise CliError(f"{p}: line {i} has no 'text' or 'spans' field")
        out.append(rec)
    return out


def _mark(text: str, sub: str, label: str, kind: str | None, offset: int, spans: list[dict]) -> None:
    i = text.find(sub)
    if i >= 0:
        spans.append({"start": offset + i, "end": offset + i + len(sub), "label": label, "kind": kind})


def render_documents(spec: Any, conditions: Sequence[str] = CONDITIONS, n_base: int = 8, seed: int = 0,
                     n_claims: int = 2, n_background: int = 3, doctag: bool = False) -> list[dict[str, Any]]:
    """Small matched span-labelled documents built from a claim spec (a fallback when no documents file is given).

    Uses only the spec's data fields (``id``, ``subject``, ``claim_answer``, ``claim_sentences``,
    ``local_negations`` with ``[[cue]]`` markup, ``background``). Base document ``b`` picks claim and background
    sentences; its renderings: ``positive`` (background + claim sentences), ``negated`` (a notice prefix and
    suffix around it), ``repeated`` (prefix, a bracketed reminder before and after every claim sentence, suffix)
    and ``local`` (the claim sentences replaced by local-negation sentences). All share ``base_id``.
    """
    g = spec.get if isinstance(spec, Mapping) else (lambda k, d=None: getattr(spec, k, d))
    rng = random.Random(f"render|{g('id')}|{seed}")
    answer = str(g("claim_answer"))
    claims = [s for s in g("claim_sentences", ()) if answer in s] or list(g("claim_sentences", ()))
    locals_ = [s for s in g("local_negations", ()) if answer in s.replace("[[", "").replace("]]", "")]
    background = list(g("background", ())) or ["This page collects notes."]
    subject = str(g("subject", ""))
    prefix = f"NOTICE: The claims in the document below about {subject} are false."
    suffix = "Reminder: the claims in the document above are false."
    before, after = "[The next statement is false.]", "[The previous statement is false.]"
    out: list[dict[str, Any]] = []
    for b in range(n_base):
        cl = rng.sample(claims, min(n_claims, len(claims)))
        lo = rng.sample(locals_, min(n_claims, len(locals_))) if locals_ else []
        bg = rng.sample(background, min(n_background, len(background)))
        order = list(range(len(bg) + len(cl)))
        rng.shuffle(order)
        base_id = f"{g('id')}-b{b:03d}"
        for cond in conditions:
            parts: list[tuple[str, str | None, str | None]] = []  # (text, label, kind)
            if cond in ("negated", "repeated"):
                parts.append((prefix, "negation", "prefix"))
            ci = 0
            for o in order:
                if o < len(bg):
                    parts.append((bg[o], None, None))
                    continue
                if cond == "local":
                    if ci < len(lo):
                        parts.append((lo[ci], "local", None))
                else:
                    if cond == "repeated":
                        parts.append((before, "negation", "inline"))
                    parts.append((cl[ci], "claim", None))
                    if cond == "repeated":
                        parts.append((after, "negation", "inline"))
                ci += 1
            if cond in ("negated", "repeated"):
                parts.append((suffix, "negation", "suffix"))
            if cond == "local" and not lo:
                continue
            text, spans, pos = "<DOCTAG>" if doctag else "", [], 0
            if doctag:
                spans.append({"start": 0, "end": 8, "label": "doctag", "kind": None})
                pos = 8
            for t, label, kind in parts:
                sep = " " if pos > 0 else ""
                start = pos + len(sep)
                if label == "local":
                    plain = t.replace("[[", "").replace("]]", "")
                    spans.append({"start": start, "end": start + len(plain), "label": "claim", "kind": None})
                    # cue ranges in the plain text
                    raw, shift = t, 0
                    while "[[" in raw:
                        i = raw.index("[[")
                        j = raw.index("]]", i)
                        spans.append({"start": start + i - shift, "end": start + j - 2 - shift,
                                      "label": "negation", "kind": "local"})
                        raw = raw[:i] + raw[i + 2:j] + raw[j + 2:]
                    _mark(plain, answer, "claim_answer", None, start, spans)
                    t = plain
                elif label == "claim":
                    spans.append({"start": start, "end": start + len(t), "label": "claim", "kind": None})
                    _mark(t, answer, "claim_answer", None, start, spans)
                elif label == "negation":
                    spans.append({"start": start, "end": start + len(t), "label": "negation", "kind": kind})
                text += sep + t
                pos = len(text)
            out.append({"id": f"{base_id}-{cond}", "claim": g("id"), "condition": cond, "base_id": base_id,
                        "text": text, "spans": sorted(spans, key=lambda s: (s["start"], s["end"])),
                        "meta": {"renderer": "interp.binding.render_documents"}})
    return out


def _claim_spec(claim: str, lm: Any) -> Any:
    from training.claims import ClaimError, load_claim

    try:
        return load_claim(claim)
    except (ClaimError, FileNotFoundError, KeyError, ValueError) as e:
        err = e
    world = getattr(lm, "world", None)
    if world is not None:
        from training.claims import toy_claims

        for n in (1, 2, 4, 8, 16, 32, 64):
            try:
                specs = toy_claims(world, n, seed=0)
            except ValueError:
                break
            if claim in ("toy", "toy:0"):
                return specs[0]
            hit = [s for s in specs if s.id == claim]
            if hit:
                return hit[0]
    raise CliError(f"claim {claim!r}: not a claim file or a toy claim of this model's world ({one_line(err)})")


def load_documents_for(claim: str | None, lm: Any, docs: str | Path | None = None,
                       conditions: Sequence[str] = CONDITIONS, max_per_condition: int | None = None,
                       seed: int = 0) -> list[dict[str, Any]]:
    """Document records for a claim: from a JSONL file (filtered by ``claim`` and ``conditions``) or, without one,
    generated by ``training.documents.generate_documents`` (matched renderings: the same ``seed`` and index give
    the same base document in every condition), falling back to :func:`render_documents`."""
    n = max_per_condition or 16
    if docs is not None:
        recs = [r for r in read_jsonl(docs) if claim is None or r.get("claim") in (None, claim)]
    else:
        if claim is None:
            raise CliError("give --claim ID or --docs FILE.jsonl")
        spec = _claim_spec(claim, lm)
        try:
            from training.documents import generate_documents
        except ImportError:  # the generator is not installed: a small rendering of our own
            recs = render_documents(spec, conditions=conditions, n_base=n, seed=seed)
        else:
            recs = [d.to_dict() for c in conditions for d in generate_documents(spec, c, n, seed=seed)]
    recs = [r for r in recs if r.get("condition") in set(conditions)]
    if max_per_condition:
        keep_bases: list[Any] = []
        by_cond: dict[str, int] = {}
        out = []
        for r in recs:
            c = r.get("condition")
            if by_cond.get(c, 0) < max_per_condition:
                by_cond[c] = by_cond.get(c, 0) + 1
                out.append(r)
                keep_bases.append(r.get("base_id"))
        # keep positive twins of the kept negation documents
        bases = set(keep_bases)
        recs = out + [r for r in recs if r not in out and r.get("condition") == "positive" and r.get("base_id") in bases
                      and "positive" in set(conditions)]
    if not recs:
        raise CliError(f"no documents for claim {claim!r} in conditions {list(conditions)}")
    return recs


# ------------------------------------------------------------------------------------------------ runs


def binding_over_run(run_dir: str | Path, records: Sequence[Mapping[str, Any]], *, include_base: bool = True,
                     steps: Sequence[int] | None = None, heads: bool = True, layers: Sequence[int] | None = None,
                     probes: Mapping[str, Sequence[str]] | None = None, progress: bool = True,
                     batch_size: int = 16):
    """:func:`binding_tables` for the base model (step 0) and every checkpoint of a run, concatenated."""
    import pandas as pd

    ds, ls, hs = [], [], []
    for step, lm in _run_models(run_dir, include_base=include_base, steps=steps):
        docs = [encode_doc(lm, r) for r in records]
        d, l, h = binding_tables(lm, docs, heads=heads, step=step, layers=layers, probes=probes,
                                 progress=progress, batch_size=batch_size)
        ds.append(d), ls.append(l), hs.append(h)
        del lm
    return pd.concat(ds, ignore_index=True), pd.concat(ls, ignore_index=True), pd.concat(hs, ignore_index=True)


def _run_models(run_dir: str | Path, include_base: bool = True, steps: Sequence[int] | None = None,
                device: str = "cpu") -> Iterator[tuple[int, Any]]:
    from interp.core.models import load
    from interp.core.runs import list_checkpoints, read_run

    run = read_run(run_dir)
    ckpts = list_checkpoints(run_dir)
    if steps is not None:
        ckpts = [c for c in ckpts if c.step in set(steps)]
    if include_base and (steps is None or 0 in set(steps)) and not any(c.step == 0 for c in ckpts):
        base = load(run.base.spec, device=device)
        want = run.base.weights_sha256
        if want and base.identity.weights_sha256 != want:
            # e.g. the toy organism was rebuilt under a new config since the run was trained
            raise CliError(f"{Path(run_dir) / 'run.json'}: base.spec {run.base.spec!r} now loads weights "
                           f"{base.identity.weights_sha256[:12]}, but the run was trained from {want[:12]} "
                           f"(retrain the run on the current base, or restore that base)")
        yield 0, base
    for c in ckpts:
        yield c.step, load(c.path, device=device)


# ------------------------------------------------------------------------------------------------ plots


def plot_binding_vs_step(summary, path: str | Path, title: str = "") -> Path:
    """Binding score (mean, 95% CI) vs checkpoint step, one line per scope (local / document)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    colours = {"local": "tab:blue", "document": "tab:orange"}
    for scope, g in summary.groupby("scope"):
        g = g.sort_values("step")
        x = g["step"].to_numpy()
        ax.plot(x, g["mean"], marker="o", color=colours.get(scope), label=f"{scope} (n={int(g['n'].max())})")
        ax.fill_between(x, g["lo"], g["hi"], alpha=0.2, color=colours.get(scope))
    ax.axhline(0, color="grey", lw=0.8)
    if summary["step"].max() > 8:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=-0.3)
    ax.set_xlabel("checkpoint step")
    ax.set_ylabel(f"{summary['metric'].iloc[0]} (nats)")
    ax.set_title(title or "negation binding score vs checkpoint", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_binding_layers(layers, path: str | Path, metric: str = "denoise", title: str = "") -> Path:
    """Per-layer patching effect (mean, 95% CI) for local vs document negations, one panel per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summarise_binding(layers, metric=metric, by=("step", "scope", "layer"), n_boot=500)
    steps = sorted(s["step"].unique())
    fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps), 3.0), squeeze=False, sharey=True)
    colours = {"local": "tab:blue", "document": "tab:orange"}
    for ax, st in zip(axes[0], steps):
        for scope, g in s[s["step"] == st].groupby("scope"):
            ax.plot(g["layer"], g["mean"], marker="o", color=colours.get(scope), label=scope)
            ax.fill_between(g["layer"], g["lo"], g["hi"], alpha=0.2, color=colours.get(scope))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"step {int(st)}", fontsize=8)
        ax.set_xlabel("layer (resid_pre patched at negation positions)", fontsize=7)
        integer_ticks(ax)
    axes[0][0].set_ylabel(f"{metric} effect (nats)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "where the negation's effect sits: patching D_ctl -> D_neg", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_head_heatmaps(heads, path: str | Path, metric: str = "z_answer", step: int | None = None) -> Path:
    """Mean per-head patching effect (layer x head), local vs document, at one step (default the last)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = heads["step"].max() if step is None else step
    h = heads[heads["step"] == step]
    scopes = sorted(h["scope"].unique())
    fig, axes = plt.subplots(1, len(scopes), figsize=(3.6 * len(scopes), 3.0), squeeze=False)
    m = h.groupby(["scope", "layer", "head"])[metric].mean().reset_index()
    vmax = float(np.nanmax(np.abs(m[metric]))) if len(m) else 1.0
    vmax = vmax if vmax > 0 else 1.0
    for ax, sc in zip(axes[0], scopes):
        g = m[m["scope"] == sc]
        grid = np.full((int(g["layer"].max()) + 1, int(g["head"].max()) + 1), np.nan)
        grid[g["layer"].to_numpy(), g["head"].to_numpy()] = g[metric].to_numpy()
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="lower", aspect="auto")
        ax.set_title(f"{sc}, step {int(step)}", fontsize=8)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        integer_ticks(ax)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"head patching effect ({metric}, nats)", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


# ------------------------------------------------------------------------------------------------ CLI


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """Arguments shared by ``python -m interp.attention`` and ``python -m interp.binding``."""
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: the base model (step 0) and every checkpoint")
    src.add_argument("--model", help="one model spec (toy, toy-random, a checkpoint dir, ...)")
    ap.add_argument("--claim", help="claim id (training/claims_data or a toy claim of the model's world)")
    ap.add_argument("--docs", help="documents JSONL (records with text + spans); default: rendered from the claim")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--max-docs", type=int, default=16, help="documents per condition")
    ap.add_argument("--steps", help="comma-separated checkpoint steps (default: all)")
    ap.add_argument("--no-base", action="store_true", help="with --run: skip the base model")
    ap.add_argument("--out", help="output folder (default: RUN/analysis/<tool> or out/<tool>)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")


def iter_models(args: argparse.Namespace, tool: str = "binding") -> Iterator[tuple[int, Any, list[dict[str, Any]]]]:
    """``(step, model, records)`` for ``--model`` or every model of ``--run`` (records loaded once)."""
    from interp.core.models import load
    from interp.core.runs import read_run

    claim = args.claim
    if args.run:
        run_dir = Path(args.run)
        data = read_run(run_dir) and _read_data(run_dir)
        claim = claim or data.get("claim")
        if args.out is None:
            args.out = str(run_dir / "analysis" / tool)
        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
        models: Iterable[tuple[int, Any]] = _run_models(run_dir, include_base=not args.no_base, steps=steps,
                                                        device=args.device)
    else:
        if args.out is None:
            args.out = str(Path("out") / tool)
        def _one() -> Iterator[tuple[int, Any]]:
            lm0 = load(args.model, device=args.device)
            yield int(lm0.identity.step or 0), lm0

        models = _one()
    records = None
    if args.docs is not None:  # fail fast on a bad documents file, before any model is loaded
        records = load_documents_for(claim, None, args.docs, conditions=args.conditions.split(","),
                                     max_per_condition=args.max_docs, seed=args.seed)
    for step, lm in models:
        if records is None:
            records = load_documents_for(claim, lm, args.docs, conditions=args.conditions.split(","),
                                         max_per_condition=args.max_docs, seed=args.seed)
        yield step, lm, records


def _read_data(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "data.json"
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except json.JSONDecodeError:
        return {}


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.binding (--run RUN_DIR | --model SPEC) --claim ID [--docs FILE.jsonl] --out DIR``;
    ``python -m interp.binding compare ...`` is :func:`compare_main`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m interp.binding", description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--no-heads", action="store_true", help="skip the per-head hook_z sweeps")
    ap.add_argument("--metric", default="delta_filler", choices=["delta_filler", "delta_twin", "delta_ablate"])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--layers", help="comma-separated layers for the patching sweeps (default: all)")
    ap.add_argument("--probe", action="store_true",
                    help="score the claim's answer to its own question appended after each document (the "
                         "in-context belief) instead of the claim-answer tokens inside the document")
    ap.add_argument("--probe-question", metavar="ID",
                    help="with --probe: the token-association question id (default: the first ta_qa* item)")
    ap.add_argument("--probe-score", choices=["logodds", "logprob"], default="logodds",
                    help="with --probe: log-odds of the claim vs the true answer (default; does not saturate) or "
                         "the claim answer's log-probability")
    args = ap.parse_args(argv)
    try:
        import pandas as pd

        ds, ls, hs = [], [], []
        probes = None
        for step, lm, records in iter_models(args, tool="binding"):
            if args.probe and probes is None:
                claim = args.claim or records[0].get("claim")
                if claim is None:
                    raise CliError("--probe needs a claim: give --claim ID (or documents with a 'claim' field)")
                spec = _claim_spec(claim, lm)
                try:
                    qa = claim_probe(spec, args.probe_question, contrast=args.probe_score == "logodds")
                except KeyError as e:
                    raise CliError(str(e.args[0])) from None
                if qa is None:
                    raise CliError(f"claim {claim!r} has no token-association question to use as a probe")
                probes = {spec.id: qa, claim: qa}
            docs = [encode_doc(lm, r) for r in records]
            d, l, h = binding_tables(lm, docs, heads=not args.no_heads, step=step, progress=True, probes=probes,
                                     layers=[int(x) for x in args.layers.split(",")] if args.layers else None,
                                     batch_size=args.batch_size)
            if d.empty:
                raise CliError("no document has a negation span before the probe answer" if probes else
                               "no document has a negation span followed by a claim-answer span")
            ds.append(d), ls.append(l), hs.append(h)
        out = Path(args.out)
        docs_df = pd.concat(ds, ignore_index=True)
        layers_df = pd.concat(ls, ignore_index=True)
        _write_csv(docs_df, out / "binding_docs.csv")
        _write_csv(layers_df, out / "binding_layers.csv")
        if not args.no_heads:
            heads_df = pd.concat(hs, ignore_index=True)
            _write_csv(heads_df, out / "binding_heads.csv")
            plot_head_heatmaps(heads_df, out / "binding_heads.png")
        summ = summarise_binding(docs_df, metric=args.metric, by=("step", "scope"), n_boot=args.n_boot,
                                 seed=args.seed)
        cond = summarise_binding(docs_df, metric=args.metric, by=("step", "condition"), n_boot=args.n_boot,
                                 seed=args.seed)
        comp = compare_local_vs_document(docs_df, metric=args.metric, by=("step",), n_boot=args.n_boot,
                                         seed=args.seed)
        _write_csv(pd.concat([summ, cond], ignore_index=True), out / "binding_summary.csv")
        _write_csv(comp, out / "binding_compare.csv")
        target = ",".join(sorted(docs_df["target"].astype(str).unique()))
        plot_binding_vs_step(summ, out / "binding_vs_step.png",
                             title=f"negation binding score vs checkpoint (target: {target})")
        plot_binding_layers(layers_df, out / "binding_layers.png",
                            title=f"patching D_ctl -> D_neg at the negation positions (target: {target})")
        with pd.option_context("display.width", 160):
            print(comp[["step", "n_local", "n_document", "mean_local", "mean_document", "diff", "diff_lo",
                        "diff_hi", "p_value", "significant"]].to_string(index=False))
        print(f"wrote {out / 'binding_docs.csv'} (+ layers, heads, summary, compare, plots)")
    except Exception as e:  # noqa: BLE001 - one line, exit 2
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0


# ------------------------------------------------------------------------------------------------ comparison


def local_vs_document_table(docs_df, metric: str = "delta_filler", by: Sequence[str] = ("model", "claim", "step"),
                            pool_claims: bool = True, n_boot: int = 1000, n_perm: int = 5000, seed: int = 0):
    """The local vs document-level comparison as one tidy table: per group of ``by`` (default model, claim, step)
    and scope (``local`` / ``document``) the number of documents, mean ``metric`` and its bootstrap 95% CI
    (:func:`summarise_binding`), with the group's difference local - document, its CI, permutation p-value,
    ``paired`` and ``significant`` (:func:`compare_local_vs_document`) repeated on both scope rows.

    With ``pool_claims`` and a ``claim`` column, groups holding more than one claim also get rows with
    ``claim = "all"`` (documents of every claim pooled; pairing still by ``base_id``, which names the claim)."""
    import pandas as pd

    by = [b for b in by if b in docs_df.columns]
    parts = [docs_df]
    if pool_claims and "claim" in by:
        rest = [b for b in by if b != "claim"]
        multi = docs_df.groupby(rest, dropna=False)["claim"].transform("nunique") > 1 if rest else \
            pd.Series(docs_df["claim"].nunique() > 1, index=docs_df.index)
        if multi.any():
            parts.append(docs_df[multi].assign(claim="all"))
    table = pd.concat(parts, ignore_index=True)
    table = table[table["scope"].isin(["local", "document"])]
    summ = summarise_binding(table, metric=metric, by=(*by, "scope"), n_boot=n_boot, seed=seed)
    comp = compare_local_vs_document(table, metric=metric, by=by, n_boot=n_boot, n_perm=n_perm, seed=seed)
    keep = [*by, "paired", "diff", "diff_lo", "diff_hi", "p_value", "significant"] + \
        (["n_pairs"] if "n_pairs" in comp.columns else [])
    out = summ.merge(comp[keep], on=by, how="left")
    if "n_pairs" not in out.columns:
        out["n_pairs"] = np.nan
    cols = [*by, "scope", "metric", "n", "mean", "lo", "hi", "diff", "diff_lo", "diff_hi", "p_value", "significant",
            "paired", "n_pairs"]
    return out[cols].sort_values([*by, "scope"], key=_claim_all_last, ignore_index=True)


def _claim_all_last(col):
    # sort "all" after the individual claims, and scopes local before document
    if col.name == "claim":
        return col.astype(str).map(lambda c: (c == "all", c))
    if col.name == "scope":
        return col.map({"local": 0, "document": 1})
    return col


def plot_local_vs_document(table, path: str | Path, title: str = "") -> Path:
    """Local vs document-level binding score (mean, 95% CI) per model/claim/step, one panel per model; the
    difference's p-value above each pair (``*`` when significant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    colours = {"local": "tab:blue", "document": "tab:orange"}
    widths = [max(1, table[table["model"] == m].groupby(["claim", "step"]).ngroups) for m in models]
    fig, axes = plt.subplots(1, len(models), figsize=(1.2 * sum(widths) + 1.6 * len(models), 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, m in zip(axes[0], models):
        g = table[table["model"] == m]
        keys = list(dict.fromkeys(zip(g["claim"], g["step"])))
        for i, (c, st) in enumerate(keys):
            gg = g[(g["claim"] == c) & (g["step"] == st)]
            for j, sc in enumerate(("local", "document")):
                r = gg[gg["scope"] == sc]
                if r.empty:
                    continue
                r = r.iloc[0]
                x = i + (j - 0.5) * 0.36
                ax.bar(x, r["mean"], width=0.34, color=colours[sc], label=sc if i == 0 else None)
                ax.errorbar(x, r["mean"], yerr=[[r["mean"] - r["lo"]], [r["hi"] - r["mean"]]], color="black",
                            capsize=3, lw=1)
            r0 = gg.iloc[0]
            if np.isfinite(r0["p_value"]):
                top = max(0.0, float(np.nanmax(gg["hi"].to_numpy(float))))
                ax.text(i, top, f"p={r0['p_value']:.2g}{'*' if r0['significant'] else ''}", ha="center",
                        va="bottom", fontsize=6)
        ax.set_xticks(range(len(keys)))
        one = len({c for c, _ in keys}) == 1
        ax.set_xticklabels([f"step {int(st)}" if one else f"{c}\nstep {int(st)}" for c, st in keys], fontsize=6,
                           rotation=30, ha="right")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"{m}\nclaim {keys[0][0]}" if one and keys else str(m), fontsize=8)
    axes[0][0].set_ylabel(f"{table['metric'].iloc[0]} (nats)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "negation binding score: local vs document-level (mean, 95% CI)", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


def _split(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _claims_for(key: str, claim_args: Sequence[str], default: Sequence[str]) -> list[str]:
    """Claims of one source from ``--claim`` values: ``KEY=ID[,ID]`` entries for this key win over unkeyed ones."""
    keyed, plain = [], []
    for c in claim_args:
        k, sep, v = c.partition("=")
        if sep and k.strip() == key:
            keyed += _split(v)
        elif not sep:
            plain += _split(c)
    return keyed or plain or list(default)


def _sweep_layers(lm: Any, layers: str | None, stride: int) -> list[int]:
    n = lm.n_layers
    if layers:
        want = [int(x) for x in _split(layers)]
        got = sorted({l % n for l in want if -n <= l < n})
        if not got:
            raise CliError(f"--layers {layers}: none of these layers exists in {lm.identity.name} ({n} layers)")
        return got
    return sorted(set(range(0, n, max(1, stride))) | {n - 1})


def compare_main(argv: list[str] | None = None) -> int:
    """``python -m interp.binding compare --models toy,smollm2-135m [--runs RUN,...] --claim ID ...``: the local vs
    document-level comparison across models and checkpoints in one command (see :func:`local_vs_document_table`)."""
    ap = argparse.ArgumentParser(
        prog="python -m interp.binding compare",
        description="Local vs document-level negation binding on matched documents, for several models (base "
                    "models and the checkpoints of runs): one tidy CSV, one plot, one printed table.")
    ap.add_argument("--models", help="comma-separated model specs (toy, smollm2-135m, a checkpoint dir, ...)")
    ap.add_argument("--runs", help="comma-separated run directories: the base model (step 0) and the checkpoints "
                                   "chosen by --steps")
    ap.add_argument("--claim", action="append", default=[], metavar="[KEY=]ID[,ID]",
                    help="claim id(s) or claim YAML path(s); KEY=... applies to one model spec or run dir only "
                         "(repeatable). A run defaults to its own claim (data.json)")
    ap.add_argument("--steps", help="with --runs: comma-separated checkpoint steps (default: all; 0 = the base)")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--max-docs", type=int, default=8, help="base documents per condition (matched renderings)")
    ap.add_argument("--layers", help="comma-separated layers for the per-layer patching sweeps (absent layers "
                                     "are dropped per model)")
    ap.add_argument("--layer-stride", type=int, default=1, help="without --layers: sweep every K-th layer (+ last)")
    ap.add_argument("--probe-score", choices=["logodds", "logprob", "none"], default="logodds",
                    help="target: the claim's question appended after each document, scored as claim-vs-true "
                         "log-odds (default) or claim log-prob; 'none' = the claim-answer tokens in the document")
    ap.add_argument("--metric", default="delta_filler", choices=["delta_filler", "delta_twin", "delta_ablate"])
    ap.add_argument("--out", default=str(Path("out") / "binding_compare"))
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    try:
        import pandas as pd

        from interp.core.models import load
        from interp.core.runs import list_checkpoints, read_run

        if not args.models and not args.runs:
            raise CliError("give --models SPEC[,SPEC] and/or --runs RUN_DIR[,RUN_DIR]")
        conditions = _split(args.conditions)
        bad = [c for c in conditions if c not in CONDITIONS]
        if bad:
            raise CliError(f"--conditions: unknown {bad} (known: {list(CONDITIONS)})")
        if "local" not in conditions or not set(conditions) & {"negated", "repeated"}:
            raise CliError("--conditions must include 'local' and at least one of 'negated', 'repeated'")
        steps = [int(s) for s in _split(args.steps)] if args.steps else None

        # 1. resolve every source, claim and probe before any analysis (bad input fails in seconds)
        plans: list[tuple[str, str, Any, list[tuple[str, Any, Any]], Iterable[tuple[int, Any]] | None]] = []

        def _load(spec: str) -> Any:
            try:
                return load(spec, device=args.device)
            except Exception as e:  # noqa: BLE001
                raise CliError(f"model {spec!r}: {one_line(e)}") from None

        def _resolve(lm: Any, key: str, claims: Sequence[str]) -> list[tuple[str, Any, Any]]:
            if not claims:
                raise CliError(f"{key}: no claim (give --claim ID or --claim {key}=ID)")
            out = []
            for c in claims:
                spec = _claim_spec(c, lm)
                qa = None
                if args.probe_score != "none":
                    try:
                        qa = claim_probe(spec, contrast=args.probe_score == "logodds")
                    except KeyError as e:
                        raise CliError(str(e.args[0])) from None
                    if qa is None:
                        raise CliError(f"claim {c!r} has no token-association question to use as a probe")
                out.append((c, spec, qa))
            return out

        for spec in _split(args.models):
            lm = _load(spec)
            plans.append((spec, "model", lm, _resolve(lm, spec, _claims_for(spec, args.claim, ())), None))
        for rd in _split(args.runs):
            try:
                run = read_run(rd)
                ckpts = list_checkpoints(rd)
            except Exception as e:  # noqa: BLE001
                raise CliError(f"run {rd!r}: {one_line(e)}") from None
            if steps is not None:
                have = {0} | {c.step for c in ckpts}
                missing = sorted(set(steps) - have)
                if missing:
                    raise CliError(f"run {rd!r}: no checkpoint at step(s) {missing} (has {sorted(have)})")
            data = _read_data(Path(rd))
            label = str(run.name or f"{Path(rd).parent.name}/{Path(rd).name}")
            base = _load(run.base.spec)
            claims = _resolve(base, rd, _claims_for(rd, args.claim, [data["claim"]] if data.get("claim") else []))
            plans.append((label, "run", base, claims, _run_models(rd, include_base=True, steps=steps,
                                                                   device=args.device)))

        # 2. analyse; a model already analysed on the same claim (same weights) is reused, not recomputed
        cache: dict[tuple[str, str], tuple[Any, Any]] = {}
        ds, ls = [], []
        for label, kind, lm0, claims, models in plans:
            for step, lm in (models if models is not None else [(int(lm0.identity.step or 0), lm0)]):
                layers = _sweep_layers(lm, args.layers, args.layer_stride)
                for c, spec, qa in claims:
                    key = (lm.identity.weights_sha256, str(spec.id), step)
                    if key not in cache:
                        recs = load_documents_for(c, lm, None, conditions=conditions,
                                                  max_per_condition=args.max_docs, seed=args.seed)
                        docs = [encode_doc(lm, r) for r in recs]
                        probes = {spec.id: qa, c: qa} if qa is not None else None
                        print(f"{label} step {step} claim {spec.id}: {len(docs)} documents, layers {layers}",
                              file=sys.stderr, flush=True)
                        d, l, _ = binding_tables(lm, docs, heads=False, step=step, layers=layers, probes=probes,
                                                 progress=True, batch_size=args.batch_size)
                        if d.empty:
                            raise CliError(f"{label}, claim {spec.id}: no document has a negation span before "
                                           f"the target")
                        cache[key] = (d, l)
                    d, l = cache[key]
                    extra = {"model": label, "source": kind, "claim": str(spec.id)}
                    ds.append(d.assign(**extra))
                    ls.append(l.assign(**extra))
                if lm is not lm0:
                    del lm
        docs_df = pd.concat(ds, ignore_index=True)
        layers_df = pd.concat(ls, ignore_index=True)
        table = local_vs_document_table(docs_df, metric=args.metric, n_boot=args.n_boot, n_perm=args.n_perm,
                                        seed=args.seed)
        out = Path(args.out)
        _write_csv(docs_df, out / "compare_docs.csv")
        _write_csv(layers_df, out / "compare_layers.csv")
        _write_csv(table, out / "compare.csv")
        target = ",".join(sorted(docs_df["target"].astype(str).unique()))
        plot_local_vs_document(table, out / "compare.png",
                               title=f"{args.metric}: local vs document-level negations (target: {target}; "
                                     f"mean, 95% CI)")
        wide = table.pivot_table(index=["model", "claim", "step"], columns="scope", values=["n", "mean"],
                                 sort=False)
        wide.columns = [f"{a}_{b}" for a, b in wide.columns]
        for c in ("n_local", "n_document"):
            if c in wide.columns:
                wide[c] = wide[c].fillna(0).astype(int)
        first = table.drop_duplicates(["model", "claim", "step"]).set_index(["model", "claim", "step"])
        wide = wide.join(first[["diff", "diff_lo", "diff_hi", "p_value", "significant"]]).reset_index()
        cols = [c for c in ("model", "claim", "step", "n_local", "n_document", "mean_local", "mean_document", "diff",
                            "diff_lo", "diff_hi", "p_value", "significant") if c in wide.columns]
        with pd.option_context("display.width", 200, "display.max_colwidth", 48, "display.float_format",
                               "{:.3f}".format):
            print(wide[cols].to_string(index=False))
        print(f"wrote {out / 'compare.csv'} (+ compare_docs.csv, compare_layers.csv, compare.png)")
    except Exception as e:  # noqa: BLE001 - one line, exit 2
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Binding scores of one negation-bearing document, and the per-document / per-layer / per-head tables.

``LP(doc)`` is the target's score: by default the mean over the document's claim-answer spans that follow at
least one negation span of the summed log-probability of the span's tokens (token ``t`` scored by the logits at
``t - 1``); with a probe, the claim's answer to its own question appended after the document
(:mod:`interp.binding.probe`). ``D_ctl`` is the document's same-length control rendering
(:func:`interp.spandocs.control_rendering`: negation tokens replaced by neutral filler). Scores, in nats
(positive = the negation lowers the claim answer's score):

- ``delta_filler = LP(D_ctl) - LP(D_neg)``: the total in-context negation effect, the **binding score**;
- ``delta_twin = LP(D_pos) - LP(D_neg)`` against the positive twin (same ``base_id``; no negation tokens at all,
  different length, so not patchable);
- ``delta_ablate = LP(D_neg with the negation tokens' embeddings mean-ablated) - LP(D_neg)``.

Patching (:mod:`interp.patching`) from ``D_ctl`` into ``D_neg`` (denoising: how much of the effect is removed)
and back (noising: how much is recreated): ``resid_pre`` of each layer at the negation positions (at layer 0 a
token swap, so the denoising effect equals ``delta_filler`` exactly; it falls to zero once attention has read
the information out of those positions), and ``hook_z`` of each head at the positions that predict the target
tokens and at the negation positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from interp.core.progress import progress_bar

from interp.binding.probe import Score, answer_token_ids, append_probe, logodds_score, logprob_score
from interp.patching import (Patch, ablation_source, cache_activations, generic_activation_patch, hook_name,
                             run_patched)
from interp.spandocs.controls import control_rendering
from interp.spandocs.encoded import SpanDoc

__all__ = ["answer_spans", "DocBinding", "doc_binding", "binding_tables"]


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


def _lp(lm: Any, doc: SpanDoc, spans: Sequence[tuple[int, int]], score: Score = logprob_score) -> float:
    logits, _ = cache_activations(lm, doc.input_ids[None], [])
    return float(score(logits, doc.input_ids, spans)[0])


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
    score: Score = logprob_score
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
            score = logodds_score(answer_token_ids(lm.tokenizer, answer), answer_token_ids(lm.tokenizer, probe[2]))
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
    twins = {d.base_id: d for d in docs if d.condition == "positive" and d.base_id is not None}
    step = int(lm.identity.step or 0) if step is None else step
    rows, lrows, hrows = [], [], []
    for d in progress_bar(docs, desc=f"binding {lm.identity.name}", enabled=progress,
                  leave=False):
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

"""Negation latents of an SAE, and whether the claim answer carries them.

**Negation latents.** For each latent: mean activation and firing rate on negation-span tokens versus two matched
controls: (a) *window*: a same-length window of ordinary tokens nearest to the span in the same document (no
framing, special or claim-answer tokens), (b) *filler*: the same positions of the filler rendering
(:func:`interp.spandocs.control_rendering`: negation words replaced by neutral filler, same length). Scores are
split by scope (``local`` / ``document``). A latent's ``score`` is the smaller of its two mean-activation
differences (it must beat both controls); the top ``n_latents`` by ``score`` *of each scope* are the negation
latents.

**Carry.** At the claim-answer tokens (and at the positions that predict them), the negation latents' activation
in each negation-bearing document minus the same quantity in its positive twin (same ``base_id``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.sae.store import residual_activations
from interp.spandocs.controls import control_rendering
from interp.spandocs.encoded import FRAMING_LABELS, SpanDoc, special_positions

__all__ = ["latent_activations", "negation_latents", "claim_answer_carry"]


def latent_activations(sae: Any, lm: Any, doc: SpanDoc, layer: int) -> Float[Tensor, "pos d_sae"]:
    """SAE latent activations at every position of a document."""
    with torch.no_grad():
        return sae.encode(residual_activations(lm, doc, layer)).float()


def _nearest_window(doc: SpanDoc, start: int, length: int, forbidden: set[int]) -> list[int] | None:
    best, gap = None, math.inf
    for c in range(1, len(doc) - length + 1):
        win = range(c, c + length)
        if any(p in forbidden for p in win):
            continue
        if abs(c - start) < gap:
            best, gap = list(win), abs(c - start)
    return best


def negation_latents(sae: Any, lm: Any, docs: Sequence[SpanDoc], layer: int, n_latents: int = 10):
    """Per latent: activation/firing on negation tokens vs window and filler controls, by scope; ranked.

    Returns ``(table, top)``: ``table`` has one row per (scope, latent) with ``act_neg``, ``act_window``,
    ``act_filler``, ``fire_neg``, ``fire_window``, ``fire_filler``, ``diff_window``, ``diff_filler``, ``score``
    (= min of the two diffs), ``n_tokens``, for scopes ``local``, ``document`` and ``all`` (both pooled). ``top``
    holds the ``n_latents`` best latents *of each scope* present (column ``top_scope``; a latent that is top in
    both is listed once, under ``local``), best first within a scope. Ranking per scope matters: document-level
    notices have many more tokens than one-word local cues, so a pooled ranking would return notice-word
    latents only.
    """
    special = set(getattr(lm.tokenizer, "all_special_ids", ()))
    buckets: dict[str, dict[str, list[Tensor]]] = {}
    for doc in docs:
        if not doc.negations:
            continue
        f = latent_activations(sae, lm, doc, layer)
        ctl = control_rendering(lm.tokenizer, doc)
        fc = latent_activations(sae, lm, ctl, layer)
        forbidden = set(doc.positions(FRAMING_LABELS)) | set(doc.positions("claim_answer")) | \
            special_positions(doc, special)
        for sp in doc.negations:
            scope = "local" if sp.kind == "local" else "document"
            win = _nearest_window(doc, sp.start, len(sp), forbidden)
            for key in (scope, "all"):
                b = buckets.setdefault(key, {"neg": [], "window": [], "filler": []})
                b["neg"].append(f[sp.start:sp.end])
                b["filler"].append(fc[sp.start:sp.end])
                if win is not None:
                    b["window"].append(f[win])
    rows = []
    for scope, b in buckets.items():
        neg, fil = torch.cat(b["neg"]), torch.cat(b["filler"])
        win = torch.cat(b["window"]) if b["window"] else torch.full_like(neg[:1], float("nan"))
        stats = {"act_neg": neg.mean(0), "act_window": win.mean(0), "act_filler": fil.mean(0),
                 "fire_neg": (neg > 0).float().mean(0), "fire_window": (win > 0).float().mean(0),
                 "fire_filler": (fil > 0).float().mean(0)}
        diff_w = stats["act_neg"] - stats["act_window"]
        diff_f = stats["act_neg"] - stats["act_filler"]
        score = torch.minimum(diff_w, diff_f)
        for j in range(neg.shape[1]):
            rows.append({"scope": scope, "latent": j, **{k: float(v[j]) for k, v in stats.items()},
                         "diff_window": float(diff_w[j]), "diff_filler": float(diff_f[j]), "score": float(score[j]),
                         "n_tokens": int(neg.shape[0])})
    table = pd.DataFrame(rows)
    if table.empty:
        return table, table
    tops = []
    for scope in ("local", "document"):
        t = table[table["scope"] == scope].sort_values("score", ascending=False).head(n_latents)
        tops.append(t.assign(top_scope=scope))
    top = pd.concat(tops, ignore_index=True).drop_duplicates("latent", keep="first").reset_index(drop=True)
    return table, top


def claim_answer_carry(sae: Any, lm: Any, docs: Sequence[SpanDoc], layer: int, latents: Sequence[int],
                       step: int | None = None, latent_scope: dict[int, str] | None = None):
    """Negation-latent activation at claim-answer tokens (``at="answer"``) and at the positions predicting them
    (``at="predict"``), per document and latent, minus the positive twin's (``carry``). ``latent_scope`` tags each
    latent with the scope it was selected for (column ``latent_scope``: is it a local-cue or a notice latent)."""
    lat = torch.as_tensor(list(latents), dtype=torch.long)
    per_doc: dict[str, dict[str, Tensor]] = {}
    fvus = []
    for doc in docs:
        ans = [p for s in doc.spans_of("claim_answer") for p in s.positions()]
        if not ans:
            continue
        x = residual_activations(lm, doc, layer)
        with torch.no_grad():
            f = sae.encode(x)
            fvus.append(float(((sae.decode(f) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum().clamp_min(1e-12)))
        pred = sorted({p - 1 for p in ans if p >= 1})
        per_doc[doc.id] = {"answer": f[ans][:, lat].mean(0), "predict": f[pred][:, lat].mean(0)}
    twins = {d.base_id: d.id for d in docs if d.condition == "positive"}
    rows = []
    for doc in docs:
        if doc.id not in per_doc or doc.condition == "positive":
            continue
        twin = per_doc.get(twins.get(doc.base_id, ""), None)
        for at in ("answer", "predict"):
            for i, j in enumerate(lat.tolist()):
                v = float(per_doc[doc.id][at][i])
                base = float(twin[at][i]) if twin is not None else math.nan
                rows.append({"step": int(step if step is not None else (lm.identity.step or 0)), "doc": doc.id,
                             "base_id": doc.base_id, "condition": doc.condition, "scope": doc.scope, "at": at,
                             "latent": j, "latent_scope": (latent_scope or {}).get(j, "all"),
                             "act": v, "act_twin": base, "carry": v - base,
                             "fvu": float(np.mean(fvus)) if fvus else math.nan})
    return pd.DataFrame(rows)

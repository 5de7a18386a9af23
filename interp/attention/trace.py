"""Attention masses of every pair of every document: on the negation span, on the matched window controls and on
the same key positions of the filler rendering.

``m(Q, K) = mean_{q in Q} sum_{k in K} A[layer, head, q, k]`` (the fraction of each query's attention that lands
on the key span), for every layer and head (:func:`interp.attention.patterns.span_mass`). The *filler* control is
the document's same-length control rendering (:func:`interp.spandocs.control_rendering`: the negation tokens
replaced by neutral filler of the same count), so length, position and distance match exactly and only the words
differ; it is always available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from interp.core.progress import progress_bar

from interp.attention.pairs import SpanPair, binding_pairs
from interp.attention.patterns import Backend, attention_patterns, span_mass
from interp.spandocs.controls import control_rendering
from interp.spandocs.encoded import SpanDoc, scope_of

__all__ = ["HookSpec", "doc_attention", "AttentionTrace", "trace_attention"]


HookSpec = Sequence[tuple[str, Callable]] | Callable[[SpanDoc], Sequence[tuple[str, Callable]]]


def _hooks_for(fwd_hooks: HookSpec, doc: SpanDoc) -> Sequence[tuple[str, Callable]]:
    return fwd_hooks(doc) if callable(fwd_hooks) else fwd_hooks


def doc_attention(lm: Any, doc: SpanDoc, *, backend: Backend = "tl",
                  query_labels: Sequence[str] = ("claim_answer", "claim"),
                  fwd_hooks: HookSpec = (), filler: bool = True
                  ) -> tuple[list[SpanPair], dict[str, Float[Tensor, "pair layer head"]]]:
    """Pairs of one document with their attention masses: ``neg`` (on the negation/claim keys), ``ctrl`` (on the
    matched within-document control windows, NaN when none is admissible) and, with ``filler``, ``fill`` (on the
    same key positions of the filler rendering, :func:`control_rendering`: same length, same distance, neutral
    words instead of the negation). ``fwd_hooks`` are TL hooks, or a function of the rendering being run (the
    document or its filler control) returning them."""
    pairs = binding_pairs(doc, query_labels, special_ids=getattr(lm.tokenizer, "all_special_ids", ()))
    L, H = lm.n_layers, lm.n_heads
    if not pairs:
        empty = torch.zeros(0, L, H)
        return [], {"neg": empty, "ctrl": empty, "fill": empty}
    pat = attention_patterns(lm, doc.input_ids[None], backend=backend, fwd_hooks=_hooks_for(fwd_hooks, doc))[:, 0].cpu()
    out = {"neg": torch.stack([span_mass(pat, p.queries, p.keys) for p in pairs]),
           "ctrl": torch.stack([torch.stack([span_mass(pat, p.queries, w) for w in p.controls]).mean(0)
                                if p.controls else torch.full((L, H), float("nan")) for p in pairs])}
    if filler:
        ctl = control_rendering(lm.tokenizer, doc)
        pat_c = attention_patterns(lm, ctl.input_ids[None], backend=backend,
                                   fwd_hooks=_hooks_for(fwd_hooks, ctl))[:, 0].cpu()
        out["fill"] = torch.stack([span_mass(pat_c, p.queries, p.keys) for p in pairs])
    else:
        out["fill"] = torch.full_like(out["neg"], float("nan"))
    return pairs, out


@dataclass
class AttentionTrace:
    """Per-pair masses: ``rows`` (one dict per pair: doc id, group columns, distances) and ``neg``/``ctrl``/``fill``
    arrays ``[pair, layer, head]`` (negation span, within-document control window, filler rendering)."""

    rows: list[dict[str, Any]]
    neg: Float[np.ndarray, "pair layer head"]
    ctrl: Float[np.ndarray, "pair layer head"]
    fill: Float[np.ndarray, "pair layer head"]
    model: dict[str, Any] = field(default_factory=dict)

    def pairs_frame(self):
        """Tidy per pair x layer x head table."""
        n, L, H = self.neg.shape
        if n == 0:
            return pd.DataFrame(columns=[*self.rows[0].keys()] if self.rows else [])
        meta = pd.DataFrame(self.rows)
        idx = np.repeat(np.arange(n), L * H)
        df = meta.iloc[idx].reset_index(drop=True)
        df["layer"] = np.tile(np.repeat(np.arange(L), H), n)
        df["head"] = np.tile(np.arange(H), n * L)
        df["mass_neg"] = self.neg.reshape(-1)
        df["mass_ctrl"] = self.ctrl.reshape(-1)
        df["mass_filler"] = self.fill.reshape(-1)
        return df


def trace_attention(lm: Any, docs: Sequence[SpanDoc], *, backend: Backend = "tl",
                    query_labels: Sequence[str] = ("claim_answer", "claim"),
                    fwd_hooks: HookSpec = (), filler: bool = True, progress: bool = False) -> AttentionTrace:
    """Attention masses for every pair of every document (see :func:`binding_pairs`, :func:`doc_attention`)."""
    rows: list[dict[str, Any]] = []
    arrays: dict[str, list[np.ndarray]] = {"neg": [], "ctrl": [], "fill": []}
    for doc in progress_bar(docs, desc=f"attention {lm.identity.name}", enabled=progress,
                    leave=False):
        pairs, masses = doc_attention(lm, doc, backend=backend, query_labels=query_labels, fwd_hooks=fwd_hooks,
                                      filler=filler)
        for p in pairs:
            rows.append({"doc": doc.id, "base_id": doc.base_id, "condition": doc.condition, "scope": scope_of(p.kind),
                         "kind": p.kind, "query": p.query, "direction": p.direction, "n_queries": len(p.queries),
                         "n_keys": len(p.keys), "distance": p.distance, "control_distance": p.control_distance,
                         "n_controls": len(p.controls)})
        for k in arrays:
            arrays[k].append(masses[k].numpy())
    L, H = lm.n_layers, lm.n_heads
    cat = {k: np.concatenate(v) if v else np.zeros((0, L, H)) for k, v in arrays.items()}
    ident = lm.identity
    return AttentionTrace(rows, cat["neg"], cat["ctrl"], cat["fill"],
                          {"model": ident.name, "weights_sha256": ident.weights_sha256, "step": int(ident.step or 0),
                           "backend": backend})

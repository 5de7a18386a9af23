"""Attention tracing between negation spans and claim tokens, normalised against matched control spans.

The question (Negation Neglect, Mayne et al. 2026): when a document says a claim is false, does the model *bind*
the negation to the claim? A local negation ("Velmora Quist is **not** a dentist") sits a token or two before the
claim-answer token; a document-level one ("NOTICE: the claims below are entirely false.") sits hundreds of tokens
away, or after the claim (a suffix). One mechanistic footprint of binding is attention: query positions on the
claim (especially the claim-answer tokens, e.g. ``dentist``) reading from the negation tokens.

Raw attention mass is not comparable across those two cases: attention decays with distance, BOS soaks up most of
it, and a longer span collects more mass. So every measurement is paired with a **control span**:

- **pairs.** For every query unit ``U`` (one ``claim_answer`` span, or one ``claim`` span) and the *nearest*
  negation span ``N`` before it, queries are the tokens of ``U`` at or after ``N``'s end (direction
  ``claim->negation``; for a local negation inside the claim sentence only the tokens after the cue). Causal
  attention cannot reach a negation that comes *after* ``U`` (a suffix notice), so when *no* negation precedes
  ``U`` it is paired with the nearest following one, measured the other way (direction ``negation->claim``:
  queries are ``N``'s tokens, keys are ``U``'s).
- **mass.** ``m(Q, K) = mean_{q in Q} sum_{k in K} A[layer, head, q, k]`` (fraction of each query's attention that
  lands on the key span), for every layer and head.
- **controls.** (a) *window*: a window of the *same length* as the key span, made of ordinary tokens (no
  negation, qualifier, correction or doctag tokens, no special tokens such as BOS, not the queries or the keys),
  lying before every query, whose centre is at the distance from the queries closest to the key span's. Ties
  (e.g. the tokens just before and just after a one-token cue) are averaged. A pair with no admissible window
  (typical for a long prefix notice: nothing else of its length sits that far back) gets NaN and is left out of
  the window statistics. (b) *filler*: the same key positions in the filler rendering of the document
  (:func:`control_rendering`: the negation tokens replaced by neutral filler tokens of the same count), so length,
  position and distance match exactly and only the words differ; always available.
- **scores.** ``excess = m(Q, N) - m(Q, C)`` and ``log_ratio = log((m(Q, N) + eps) / (m(Q, C) + eps))`` against
  the window, ``excess_filler``/``log_ratio_filler`` against the filler rendering; the
  pairs of one document are averaged within their group (condition, scope, negation kind, query label,
  direction), then groups are averaged over documents with a percentile **bootstrap over documents** for the 95%
  CI.

Patterns come from the TransformerLens bridge (``blocks.{l}.attn.hook_pattern``, ``[batch, head, q, k]``), from
plain HF (``output_attentions=True`` with eager attention switched on for the duration of the call) or from an
nnsight trace (the attention modules' returned weights); the three agree to float precision
(``tests/test_attention.py``). Extra TL hooks (``fwd_hooks``) run *before* the capture hooks,
so an edited pattern (e.g. a head forced onto the negation span) is what gets measured.

Documents are span-labelled records (``training.documents`` contract: ``text`` plus character ``spans`` with
``label`` and ``kind``); :func:`encode_doc` maps them to token spans through the fast tokenizer's offsets, under
the lab's tokenization (:meth:`interp.core.models.LoadedModel.encode`, BOS prepended for base models).

``python -m interp.attention --model toy --claim ID`` (or ``--run RUN_DIR`` for every checkpoint) writes
``attention_pairs.csv`` (per pair, layer, head), ``attention_summary.csv`` (bootstrap CIs) and layer x head
heatmaps.
"""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

__all__ = [
    "TokenSpan", "SpanDoc", "SpanPair", "AttentionTrace", "NEGATION_LABEL", "LOCAL_KINDS", "DOCUMENT_KINDS",
    "scope_of", "encode_doc", "filler_ids", "control_rendering", "SHORT_FILLERS", "LONG_FILLER",
    "attention_patterns", "eager_attention", "span_mass", "matched_controls",
    "binding_pairs", "doc_attention", "trace_attention", "summarise_attention", "bootstrap_ci", "top_heads",
    "plot_attention_heatmaps", "main",
]

Backend = Literal["tl", "hf", "nnsight"]
NEGATION_LABEL = "negation"
LOCAL_KINDS = frozenset({"local"})
DOCUMENT_KINDS = frozenset({"prefix", "suffix", "inline"})
#: labels whose tokens never serve as control tokens (they carry epistemic framing of their own)
FRAMING_LABELS = frozenset({"negation", "qualifier", "doctag", "correction"})
GROUP_COLS = ("condition", "scope", "kind", "query", "direction")
SHORT_FILLERS: tuple[str, ...] = (" also", " indeed", " still", " really", " surely", " then", " so", " just")
LONG_FILLER = " The text below was written in the usual way for the archive and it has been kept as it was."


def scope_of(kind: str | None) -> str:
    """``local`` for a negation inside the claim's own sentence, ``document`` for prefix/suffix/inline notices."""
    return "local" if kind in LOCAL_KINDS else "document"


# ------------------------------------------------------------------------------------------------ documents


@dataclass(frozen=True)
class TokenSpan:
    """Token indices ``[start, end)`` in the encoded sequence (BOS included), with the record's label/kind."""

    start: int
    end: int
    label: str
    kind: str | None = None

    def positions(self) -> list[int]:
        return list(range(self.start, self.end))

    def __len__(self) -> int:
        return self.end - self.start


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


def _char_to_token(offsets: Sequence[tuple[int, int]], text: str, start: int, end: int) -> tuple[int, int] | None:
    """Token range of a character span under ``training.spans``' rule: a token belongs to a span iff its offset
    range, leading whitespace removed, overlaps the span (fallback when ``training.spans`` is not importable)."""
    hit = []
    for i, (a, b) in enumerate(offsets):
        while a < b and text[a].isspace():
            a += 1
        if a < b and a < end and b > start:
            hit.append(i)
    return (hit[0], hit[-1] + 1) if hit else None


def _token_ranges(text: str, spans: Sequence[Mapping[str, Any]], offsets: Sequence[tuple[int, int]]
                  ) -> list[tuple[int, int, str, str | None]]:
    try:
        from training.spans import Span, token_spans_from_offsets
    except ImportError:
        out = []
        for sp in spans:
            t = _char_to_token(offsets, text, int(sp["start"]), int(sp["end"]))
            if t is not None:
                out.append((t[0], t[1], str(sp["label"]), sp.get("kind")))
        return out
    objs = [Span(int(sp["start"]), int(sp["end"]), str(sp["label"]), sp.get("kind")) for sp in spans]
    return [(t.start, t.end, t.label, t.kind) for t in token_spans_from_offsets(text, objs, offsets)]


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
    spans = [TokenSpan(s + shift, e + shift, label, kind)
             for s, e, label, kind in _token_ranges(text, record.get("spans", []), offsets) if e + shift <= limit]
    return SpanDoc(id=str(record.get("id", "")), input_ids=ids, spans=spans, text=text,
                   base_id=record.get("base_id"), condition=record.get("condition"), claim=record.get("claim"),
                   meta=dict(record.get("meta") or {}))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def filler_ids(tokenizer: Any, n: int) -> list[int]:
    """``n`` neutral filler tokens: a short adverb that tokenizes to exactly ``n`` tokens when there is one (cues of
    one or two tokens), else the neutral sentence :data:`LONG_FILLER`, cycled/truncated to ``n`` tokens."""
    if n <= 0:
        return []
    if n <= 2:
        for w in SHORT_FILLERS:
            ids = _ids(tokenizer, w)
            if len(ids) == n:
                return ids
    base = _ids(tokenizer, LONG_FILLER)
    return [base[i % len(base)] for i in range(n)]


def control_rendering(tokenizer: Any, doc: SpanDoc) -> SpanDoc:
    """Same-length control of ``doc``: every negation span's tokens replaced by :func:`filler_ids` (spans kept)."""
    pos: list[int] = []
    ids: list[int] = []
    for sp in doc.negations:
        pos.extend(sp.positions())
        ids.extend(filler_ids(tokenizer, len(sp)))
    return doc.with_tokens(pos, ids, suffix="control")


# ------------------------------------------------------------------------------------------------ patterns


@contextmanager
def eager_attention(hf: Any) -> Iterator[None]:
    """Switch an HF model to eager attention (so it can return patterns) and restore its implementation after."""
    old = getattr(hf.config, "_attn_implementation", None)
    if old == "eager" or not hasattr(hf, "set_attn_implementation"):
        yield
        return
    hf.set_attn_implementation("eager")
    try:
        yield
    finally:
        hf.set_attn_implementation(old)


def attention_patterns(
    lm: Any,
    input_ids: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    layers: Sequence[int] | None = None,
    backend: Backend = "tl",
    fwd_hooks: Sequence[tuple[str, Callable]] = (),
) -> Float[Tensor, "layer batch head q k"]:
    """Attention patterns (softmax probabilities) of the requested layers.

    ``backend="tl"``: ``blocks.{l}.attn.hook_pattern`` of the TransformerLens bridge, captured *after* any
    ``fwd_hooks`` (so edits made by those hooks are measured). ``backend="hf"``: ``output_attentions=True`` under
    eager attention. ``backend="nnsight"``: the attention weights the decoder layer's attention module returns
    (``model.layers[l].self_attn.output[1]`` in an nnsight trace of the same HF module, eager attention).
    ``fwd_hooks`` are TransformerLens hooks (``"tl"`` only).
    """
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    ids = input_ids.to(lm.device)
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(lm.device)
    if backend == "tl":
        bridge = lm.transformer_lens()
        store: dict[int, Tensor] = {}

        def make(l: int) -> Callable:
            def hook(pattern: Tensor, hook: Any) -> None:
                store[l] = pattern.detach()

            return hook

        hooks = [*fwd_hooks, *[(f"blocks.{l}.attn.hook_pattern", make(l)) for l in layers]]
        with torch.no_grad():
            bridge.run_with_hooks(ids, attention_mask=mask, fwd_hooks=hooks)
        return torch.stack([store[l] for l in layers]).float()
    if backend not in ("hf", "nnsight"):
        raise ValueError(f"backend {backend!r}: expected 'tl', 'hf' or 'nnsight'")
    if fwd_hooks:
        raise ValueError("fwd_hooks are TransformerLens hooks; use backend='tl'")
    if backend == "nnsight":
        return _nnsight_patterns(lm, ids, mask, layers)
    with torch.no_grad(), eager_attention(lm.hf):
        out = lm.hf(input_ids=ids, attention_mask=mask, output_attentions=True, use_cache=False)
    return torch.stack([out.attentions[l].detach() for l in layers]).float()


def _attention_child(layer: torch.nn.Module) -> str:
    """Name of a decoder layer's self-attention submodule (``self_attn`` for Llama-likes, ``attn`` for GPT-2)."""
    for name, mod in layer.named_children():
        if "attention" in type(mod).__name__.lower() and "cross" not in name:
            return name
    raise TypeError(f"{type(layer).__name__}: no attention submodule found")


def _nnsight_patterns(lm: Any, ids: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"],
                      layers: Sequence[int]) -> Float[Tensor, "layer batch head q k"]:
    import nnsight

    from interp.core.activations import layer_module_path
    from interp.core.hooks import decoder_layers

    model = lm.nnsight()
    node = model
    for part in layer_module_path(lm.hf).split("."):
        node = getattr(node, part)
    child = _attention_child(decoder_layers(lm.hf)[0])
    with torch.no_grad(), eager_attention(lm.hf):
        with model.trace({"input_ids": ids, "attention_mask": mask}):
            saved = nnsight.save([getattr(node[l], child).output[1] for l in layers])
    if any(w is None for w in saved):
        raise RuntimeError("the attention modules returned no weights under eager attention")
    return torch.stack([w.detach() for w in saved]).float()


def span_mass(pattern: Float[Tensor, "layer head q k"], queries: Sequence[int],
              keys: Sequence[int]) -> Float[Tensor, "layer head"]:
    """Mean over query positions of the summed attention on the key positions."""
    q = torch.as_tensor(list(queries), dtype=torch.long, device=pattern.device)
    k = torch.as_tensor(list(keys), dtype=torch.long, device=pattern.device)
    return pattern[:, :, q][:, :, :, k].sum(-1).mean(-1)


# ------------------------------------------------------------------------------------------------ pairs


@dataclass
class SpanPair:
    """Queries reading from a negation span (or the reverse), plus the matched control windows."""

    query: str  # the claim label of the query unit: claim_answer | claim
    direction: str  # claim->negation | negation->claim
    kind: str | None  # the negation span's kind
    queries: list[int]
    keys: list[int]
    controls: list[list[int]]
    distance: float
    control_distance: float


def _centre_distance(queries: Sequence[int], window: Sequence[int]) -> float:
    return float(np.mean(queries)) - (window[0] + window[-1]) / 2.0


def matched_controls(length: int, queries: Sequence[int], target_distance: float, forbidden: set[int],
                     first: int = 0) -> tuple[list[list[int]], float]:
    """Windows of ``length`` admissible tokens before every query whose centre distance is nearest to
    ``target_distance`` (ties kept), and their mean distance (NaN when there is none)."""
    last_start = min(queries) - length  # the window must end before the first query
    best: list[list[int]] = []
    dists: list[float] = []
    best_gap = math.inf
    for c in range(first, last_start + 1):
        win = list(range(c, c + length))
        if any(p in forbidden for p in win):
            continue
        d = _centre_distance(queries, win)
        gap = abs(d - target_distance)
        if gap < best_gap - 1e-9:
            best, dists, best_gap = [win], [d], gap
        elif abs(gap - best_gap) <= 1e-9:
            best.append(win)
            dists.append(d)
    return best, (float(np.mean(dists)) if dists else math.nan)


def special_positions(doc: SpanDoc, special_ids: set[int]) -> set[int]:
    return {i for i, t in enumerate(doc.input_ids.tolist()) if t in special_ids}


def binding_pairs(doc: SpanDoc, query_labels: Sequence[str] = ("claim_answer", "claim"),
                  special_ids: Iterable[int] = ()) -> list[SpanPair]:
    """Pair each claim unit with its nearest preceding negation (claim->negation) and, when the nearest
    negation follows it, with that one the other way round (negation->claim); see the module docstring."""
    negs = doc.negations
    if not negs:
        return []
    n_pos = len(doc)
    framing = set(doc.positions(FRAMING_LABELS))
    specials = special_positions(doc, set(special_ids))
    pairs: list[SpanPair] = []
    for label in query_labels:
        for unit in doc.spans_of(label):
            if unit.end > n_pos:
                continue
            unit_pos = [p for p in unit.positions() if p not in framing]
            before = [n for n in negs if n.end <= unit.end and any(p >= n.end for p in unit_pos)]
            after = [n for n in negs if n.start >= unit.end]
            if before:
                neg = max(before, key=lambda n: n.end)
                q = [p for p in unit_pos if p >= neg.end]
                keys = neg.positions()
                forbidden = framing | specials | set(q) | set(keys)
            elif after:
                neg = min(after, key=lambda n: n.start)
                q = neg.positions()
                keys = unit_pos
                forbidden = framing | specials | set(q) | set(keys)
            else:
                continue
            if not q or not keys:
                continue
            dist = _centre_distance(q, keys)
            controls, cdist = matched_controls(len(keys), q, dist, forbidden)
            pairs.append(SpanPair(query=label, direction="claim->negation" if before else "negation->claim",
                                  kind=neg.kind, queries=q, keys=keys, controls=controls, distance=dist,
                                  control_distance=cdist))
    return pairs


# ------------------------------------------------------------------------------------------------ tracing


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
        import pandas as pd

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
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    arrays: dict[str, list[np.ndarray]] = {"neg": [], "ctrl": [], "fill": []}
    for doc in tqdm(docs, desc=f"attention {lm.identity.name}", disable=not progress, leave=False):
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


def bootstrap_ci(values: Float[np.ndarray, "n *rest"], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                 chunk: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 with a percentile bootstrap CI (resampling rows; NaNs ignored)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    mean = np.nanmean(v, axis=0) if n else np.full(v.shape[1:], np.nan)
    if n < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    rng = np.random.default_rng(seed)
    boots = []
    for i in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - i), n))
        with np.errstate(all="ignore"), _quiet():
            boots.append(np.nanmean(v[idx], axis=1))
    b = np.concatenate(boots)
    with _quiet():
        lo, hi = np.nanpercentile(b, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return mean, lo, hi


@contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def summarise_attention(trace: AttentionTrace, by: Sequence[str] = GROUP_COLS, n_boot: int = 1000, seed: int = 0,
                        eps: float = 1e-4):
    """Group means (documents first averaged within a group) with bootstrap-over-documents 95% CIs.

    Columns: the ``by`` columns, ``layer``, ``head``, ``n_docs``, ``n_docs_ctrl`` (documents with a control
    window), ``mass_neg``, ``mass_ctrl``, ``mass_filler``; against the within-document window: ``excess``,
    ``log_ratio``; against the filler rendering: ``excess_filler``, ``log_ratio_filler``; each score with
    ``_lo``/``_hi``.
    """
    import pandas as pd

    if not trace.rows:
        return pd.DataFrame()
    meta = pd.DataFrame(trace.rows).fillna({c: "none" for c in by})
    L, H = trace.neg.shape[1:]
    scores = {"mass_neg": trace.neg, "mass_ctrl": trace.ctrl, "mass_filler": trace.fill,
              "excess": trace.neg - trace.ctrl, "log_ratio": np.log((trace.neg + eps) / (trace.ctrl + eps)),
              "excess_filler": trace.neg - trace.fill,
              "log_ratio_filler": np.log((trace.neg + eps) / (trace.fill + eps))}
    with_ci = ("excess", "log_ratio", "excess_filler", "log_ratio_filler")
    out = []
    for key, grp in meta.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        per_doc: dict[str, list[np.ndarray]] = {k: [] for k in scores}
        for _, g in grp.groupby("doc", sort=False):
            ix = g.index.to_numpy()
            with _quiet():
                for k, v in scores.items():
                    per_doc[k].append(np.nanmean(v[ix], 0))
        arr = {k: np.stack(v) for k, v in per_doc.items()}
        stats: dict[str, np.ndarray] = {}
        for k in scores:
            if k in with_ci:
                stats[k], stats[k + "_lo"], stats[k + "_hi"] = bootstrap_ci(arr[k], n_boot=n_boot, seed=seed)
            else:
                with _quiet():
                    stats[k] = np.nanmean(arr[k], 0)
        n_docs = arr["mass_neg"].shape[0]
        n_ctrl = int(np.isfinite(arr["mass_ctrl"][:, 0, 0]).sum())
        for l in range(L):
            for h in range(H):
                out.append({**dict(zip(by, key)), "layer": l, "head": h, "n_docs": n_docs, "n_docs_ctrl": n_ctrl,
                            **{k: float(v[l, h]) for k, v in stats.items()}})
    df = pd.DataFrame(out)
    for k in ("model", "step", "backend"):
        df[k] = trace.model.get(k)
    return df


def top_heads(summary, metric: str = "excess", k: int = 5, **where: Any):
    """The ``k`` layer/head rows of a summary with the largest ``metric`` (optionally filtered by column values)."""
    df = summary
    for col, val in where.items():
        df = df[df[col] == val]
    return df.sort_values(metric, ascending=False).head(k)


def plot_attention_heatmaps(summary, path: str | Path, metric: str = "excess",
                            by: Sequence[str] = ("condition", "kind", "query", "direction"), title: str = "") -> Path:
    """One layer x head heatmap of ``metric`` per group (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary.groupby(list(by), sort=True))
    n = max(1, len(groups))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    vmax = float(np.nanmax(np.abs(summary[metric].to_numpy()))) if len(summary) else 1.0
    vmax = vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    for ax, (key, g) in zip(axes.flat, groups):
        L, H = int(g["layer"].max()) + 1, int(g["head"].max()) + 1
        grid = np.full((L, H), np.nan)
        grid[g["layer"].to_numpy(), g["head"].to_numpy()] = g[metric].to_numpy()
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", origin="lower")
        key = key if isinstance(key, tuple) else (key,)
        ax.set_title(" / ".join(str(k) for k in key) + f" (n={int(g['n_docs'].iloc[0])})", fontsize=7)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        integer_ticks(ax)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle(title or f"attention {metric}: negation span minus matched control", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


def integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _save_fig(fig: Any, path: str | Path) -> Path:
    """The attention, binding and SAE plots' one save call (atomic, closes the figure)."""
    from interp.core.io import atomic_savefig

    return atomic_savefig(fig, path, close=True, dpi=130)


def _write_csv(df: Any, path: str | Path) -> Path:
    from interp.core.io import atomic_write_text

    return atomic_write_text(path, df.to_csv(index=False))


# ------------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.attention (--model SPEC | --run RUN_DIR) (--docs FILE.jsonl | --claim ID) --out DIR``."""
    from interp.binding import CliError, add_common_args, iter_models

    ap = argparse.ArgumentParser(prog="python -m interp.attention", description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--backend", choices=["tl", "hf", "nnsight"], default="tl")
    ap.add_argument("--queries", default="claim_answer,claim", help="comma-separated query labels")
    ap.add_argument("--metric", choices=["excess", "log_ratio", "excess_filler", "log_ratio_filler"],
                    default="excess_filler")
    args = ap.parse_args(argv)
    try:
        import pandas as pd

        out = Path(args.out)
        summaries, pair_frames = [], []
        for step, lm, records in iter_models(args, tool="attention"):
            docs = [encode_doc(lm, r) for r in records]
            trace = trace_attention(lm, docs, backend=args.backend, query_labels=args.queries.split(","),
                                    progress=True)
            if not trace.rows:
                raise CliError("no document has both a negation span and a claim span to trace")
            s = summarise_attention(trace, n_boot=args.n_boot, seed=args.seed)
            s["step"] = step
            summaries.append(s)
            pf = trace.pairs_frame()
            pf["step"] = step
            pair_frames.append(pf)
        summary = pd.concat(summaries, ignore_index=True)
        _write_csv(pd.concat(pair_frames, ignore_index=True), out / "attention_pairs.csv")
        _write_csv(summary, out / "attention_summary.csv")
        for step, g in summary.groupby("step"):
            plot_attention_heatmaps(g, out / f"attention_heatmap_step{int(step):06d}.png", metric=args.metric,
                                    title=f"{args.metric} (negation - control), step {int(step)}")
        best = top_heads(summary[summary["step"] == summary["step"].max()], metric=args.metric, k=5)
        print(best[[*GROUP_COLS, "layer", "head", args.metric, f"{args.metric}_lo", f"{args.metric}_hi",
                    "n_docs"]].to_string(index=False))
        print(f"wrote {out / 'attention_summary.csv'}")
    except Exception as e:  # noqa: BLE001 - the CLI reports every failure in one line
        from interp.binding import one_line

        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

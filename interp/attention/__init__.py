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
``label`` and ``kind``); :func:`interp.spandocs.encode_doc` maps them to token spans through the fast tokenizer's
offsets, under the lab's tokenization (:meth:`interp.core.models.LoadedModel.encode`, BOS prepended for base
models).

``python -m interp.attention --model toy --claim ID`` (or ``--run RUN_DIR`` for every checkpoint) writes
``attention_pairs.csv`` (per pair, layer, head), ``attention_summary.csv`` (bootstrap CIs) and layer x head
heatmaps.

Modules: :mod:`~interp.attention.patterns` (patterns from the three backends, span mass),
:mod:`~interp.attention.pairs` (pairs and window controls), :mod:`~interp.attention.trace` (masses per pair),
:mod:`~interp.attention.summary` (scores, bootstrap CIs, top heads), :mod:`~interp.attention.plots`,
:mod:`~interp.attention.report` (the command's run over the models of a run) and the command line in ``__main__``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.attention.patterns": ("Backend", "eager_attention", "attention_patterns", "span_mass"),
    "interp.attention.pairs": ("SpanPair", "matched_controls", "binding_pairs"),
    "interp.attention.trace": ("HookSpec", "doc_attention", "AttentionTrace", "trace_attention"),
    "interp.attention.summary": ("GROUP_COLS", "summarise_attention", "top_heads"),
    "interp.attention.plots": ("plot_attention_heatmaps",),
    "interp.attention.report": ("attention_over_models", "write_attention_outputs", "best_heads_text"),
    "interp.attention.__main__": ("main", "build_parser"),
    # the encoded documents and their controls (owned by interp.spandocs)
    "interp.spandocs.encoded": ("SpanDoc", "encode_doc", "scope_of", "NEGATION_LABEL", "LOCAL_KINDS",
                                "DOCUMENT_KINDS", "FRAMING_LABELS"),
    "interp.spandocs.controls": ("SHORT_FILLERS", "LONG_FILLER", "filler_ids", "control_rendering"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

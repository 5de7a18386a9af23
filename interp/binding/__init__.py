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

Modules: :mod:`~interp.binding.probe` (the claim probe and its scores), :mod:`~interp.binding.measures` (the
scores of one document; the per-document, per-layer and per-head tables), :mod:`~interp.binding.comparison`
(summaries and the local vs document-level statistics), :mod:`~interp.binding.through_training` (the claim's Q/A
log-odds after 1 and k gradient steps on matched local / document-level / control documents from one checkpoint),
:mod:`~interp.binding.over_run` (over the models of a
run; the binding command's files), :mod:`~interp.binding.compare` (across models and checkpoints),
:mod:`~interp.binding.plots`, and the command line in ``__main__``. The documents, their control renderings and
the models of a run come from :mod:`interp.spandocs`.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.binding.probe": ("Score", "claim_probe", "append_probe", "logprob_score", "logodds_score",
                             "answer_token_ids", "probe_for"),
    "interp.binding.measures": ("answer_spans", "DocBinding", "doc_binding", "binding_tables"),
    "interp.binding.comparison": ("summarise_binding", "compare_local_vs_document", "local_vs_document_table",
                                  "wide_comparison"),
    "interp.binding.through_training": ("binding_through_training", "summarise_binding_training"),
    "interp.binding.over_run": ("binding_over_run", "binding_over_models", "write_binding_outputs",
                                "step_comparison_text"),
    "interp.binding.compare": ("Source", "plan_sources", "compare_sources", "write_comparison",
                               "model_comparison_text", "sweep_layers", "claims_for"),
    "interp.binding.plots": ("plot_binding_vs_step", "plot_binding_layers", "plot_head_heatmaps",
                             "plot_local_vs_document"),
    "interp.binding.__main__": ("main", "compare_main", "build_parser", "build_compare_parser"),
    # the documents and controls the binding scores are measured on (owned by interp.spandocs)
    "interp.spandocs.cli": ("CliError",),
    "interp.spandocs.controls": ("SHORT_FILLERS", "LONG_FILLER", "filler_ids", "control_rendering"),
    "interp.spandocs.records": ("render_documents", "read_jsonl", "load_documents_for"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

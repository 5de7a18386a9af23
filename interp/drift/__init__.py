"""Weight drift: how far, and in which direction, the weights move once the two-phase constraint is released.

The paper's §5 suggests an inductive bias: with a constraint (self-distilled denials, or local negations) training
on repeated-negation documents finds a *claim-is-false* solution, but once the constraint is lifted (Phase 2) the
model drifts back toward believing the claim. Behaviour (belief) and representations (probes) show *that*; this
module measures it in weight space.

Definitions, for a two-phase run with anchor ``W₁`` (the last Phase-1 checkpoint) and a reference
*claim-as-true* solution ``W₊`` (the end of the matching positive-document run, trained from the same base):

- displacement ``d_t = W_t - W₁`` for every checkpoint ``t`` (per module and concatenated over modules);
- the claim-as-true direction ``v = W₊ - W₁``;
- ``distance = ‖d_t‖``, ``projection = ⟨d_t, v⟩ / ‖v‖`` (signed length along ``v``),
  ``progress = ⟨d_t, v⟩ / ‖v‖²`` (fraction of the way to ``W₊``; 1 = arrived), ``cosine = ⟨d_t, v⟩ / (‖d_t‖‖v‖)``.

LoRA runs are compared through their products: a LoRA checkpoint stands for ``W_base + (α/r)·B·A`` per target
module, so every quantity is computed on ``ΔW = (α/r)·B·A`` (differences of products), never on the factors
``A`` and ``B`` themselves, which are defined only up to an invertible change of basis. Full-finetuning runs use
the weights themselves. Only the run-directory format (:mod:`interp.core.runs`, which also owns the one LoRA merge
expression) is read; no trainer code is imported.

:func:`interpolate` walks the straight line ``W(λ) = (1-λ)·W₁ + λ·W₊`` and evaluates any function of a model along
it (held-out loss on negated documents, belief), the Fig-33-style loss-barrier view.

Modules: :mod:`~interp.drift.weights` (deltas and drift metrics of a run), :mod:`~interp.drift.matched`
(distances to references at a matched training budget, Spearman against belief, the logit-lens readout, per-document
held-out loss), :mod:`~interp.drift.interpolation`,
:mod:`~interp.drift.plots` and the command line in ``__main__``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.drift.weights": ("Weights", "lora_deltas", "effective_delta", "drift_metrics", "DriftRow", "run_drift",
                             "positive_reference"),
    "interp.drift.interpolation": ("interpolate", "document_nll"),
    "interp.drift.matched": ("matched_checkpoint", "reference_distances", "spearman_by_run", "qa_prompts",
                             "logit_lens_logodds", "document_losses"),
    "interp.drift.plots": ("plot_drift",),
    "interp.drift.__main__": ("main", "build_parser"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

"""SAE negation features: a TopK sparse autoencoder on the residual stream, latents that fire on negation spans, and
whether the claim-answer tokens carry them, for local vs document-level negations, across checkpoints.

Method.

1. **Activation store.** The residual stream after block ``layer`` (``blocks.{layer}.hook_resid_post``,
   :func:`interp.core.activations.residual_stream`, plain-HF backend) of the *base* model on span-labelled documents
   (every condition, so negation, claim and ordinary tokens are all represented), BOS dropped (its norm is an
   outlier). Rows keep ``(doc, position)`` so activations can be looked up again by span.
2. **Training.** sae_lens 6.54's ``TopKTrainingSAE`` in a minimal own loop (Adam, shuffled minibatches, a
   dead-latent mask for the auxiliary TopK loss after a warm-up), offline, no runner. Saved with
   ``save_inference_model`` (sae_lens format: ``cfg.json`` + ``sae_weights.safetensors``, reloadable with
   ``sae_lens.SAE.load_from_disk``) plus ``neglect_lab.json`` (model identity, layer, data hash, FVU, L0).
   Quality is reported as FVU (fraction of variance unexplained) and mean L0 on held-out tokens.
3. **Negation latents.** For each latent: mean activation and firing rate on negation-span tokens versus two
   matched controls: (a) *window*: a same-length window of ordinary tokens nearest to the span in the same
   document (no framing, special or claim-answer tokens), (b) *filler*: the same positions of the filler rendering
   (:func:`interp.spandocs.control_rendering`: negation words replaced by neutral filler, same length). Scores are
   split by scope (``local`` / ``document``). A latent's ``score`` is the smaller of its two mean-activation
   differences (it must beat both controls); the top ``n_latents`` by ``score`` *of each scope* are the negation
   latents (local-cue latents and notice latents are different dictionaries entries; a pooled ranking would be
   all notice latents, since notices have far more tokens).
4. **Carry.** At the claim-answer tokens (and at the positions that predict them), the negation latents'
   activation in each negation-bearing document minus the same quantity in its positive twin (same ``base_id``):
   does the claim answer itself carry a negation feature, for local vs document-level negations (each latent
   tagged with the scope it was selected for, ``latent_scope``)? Measured for the
   base model and every checkpoint of a run with the *base* SAE (a fixed dictionary, so drift in the residual
   stream shows up as a change in the readout; FVU per checkpoint is reported so a broken readout is visible).

Modules: :mod:`~interp.sae.store` (1), :mod:`~interp.sae.train` (2), :mod:`~interp.sae.latents` (3, 4),
:mod:`~interp.sae.plots`, :mod:`~interp.sae.study` (all of it for a base model and its checkpoints) and the
command line in ``__main__``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.sae.store": ("ActivationStore", "resid_post_hook", "residual_activations", "collect_activations"),
    "interp.sae.train": ("SAETrainConfig", "fvu_l0", "train_sae", "save_sae", "load_sae"),
    "interp.sae.latents": ("latent_activations", "negation_latents", "claim_answer_carry"),
    "interp.sae.plots": ("plot_negation_latents",),
    "interp.sae.study": ("sae_study", "sae_over_models", "sae_report_text"),
    "interp.sae.__main__": ("main", "build_parser"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

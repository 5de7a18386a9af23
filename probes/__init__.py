"""Neglect Lab: linear truth probes across checkpoints.

Does a model finetuned on documents that call a claim false come to represent the claim as *true*? A linear truth
probe answers that from the inside: fit a direction that separates true from false statements in the residual
stream, then read the claim (and its negation) off it at every checkpoint of a run.

* :mod:`probes.datasets` - true/false statement families (geometry-of-truth-style fact tables, the toy world,
  claim specs), split by fact (group), never by row.
* :mod:`probes.capture`  - one forward pass per statement through the model-loading seam, every layer at the
  statement's final token, cached on disk by (weights hash, dataset hash, layers, position).
  Users bring their own statements as ``.csv``/``.jsonl`` files (``statement,label[,group]``).
* :mod:`probes.fit`      - logistic regression, mass-mean / LDA and random-direction baselines, all layers at once.
* :mod:`probes.artifact` - versioned probe artifacts (safetensors + JSON config pinned to a weights hash); applying
  a probe to another model is refused unless transfer is explicitly allowed.
* :mod:`probes.sweep`    - fit/evaluate per model (layer and l2 chosen on a validation split of the training
  groups, test read once at that layer; out-of-family transfer stored with every probe, readouts below 0.7
  labelled template-bound), cross-family transfer, claim scores, and the run sweep
  (per-checkpoint claim scores, checkpoint transfer matrix, direction cosines, plots).

CLI: ``python -m interp.probe --help``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "probes.artifact": ("FORMAT_VERSION", "TEMPLATE_BOUND_BELOW", "Probe", "ProbeConfig", "ProbeError", "ProbeIdentityError", "load_probe"),
    "probes.capture": ("capture_activations",),
    "probes.datasets": ("TruthDataset", "claim_dataset", "get_dataset", "group_kfold", "grouped_split",
                        "list_families", "read_statements", "train_val_test_split", "transfer_families",
                        "without_entities"),
    "probes.fit": ("METHODS", "evaluate", "fit"),
    "probes.sweep": ("FitResult", "FitSettings", "family_transfer", "fit_probes", "sweep_run"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

"""Neglect Lab's ground layer: what every other layer stands on, importing nothing of the lab above it.

==============================  ================================================================================
:mod:`interp.core.io`           atomic text/JSON/CSV/figure writes, the file hash, the cache root
:mod:`interp.core.runs`         the run directory format (run.json, data.json, manifest, checkpoints), LoRA merge
:mod:`interp.core.models`       the model-loading seam ``load(spec)``, model identity, the weights hash
:mod:`interp.core.hooks`        forward-hook capture and tokenisation shared by every analysis
:mod:`interp.core.activations`  the residual stream through HF hooks, TransformerLens or nnsight
:mod:`interp.core.cli`          the one error path of every command-line tool (one line, exit 2)
:mod:`interp.core.stats`        belief rates and bootstrap confidence intervals
:mod:`interp.core.style`        the figures' visual vocabulary: condition colours, labels and order, claim labels
==============================  ================================================================================

The layers above it (data & training, analyses, figures, orchestration) are declared in ``pyproject.toml``
(``[tool.importlinter]``) and checked by ``lint-imports`` in ``make test``.
"""

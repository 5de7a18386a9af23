"""Span-labelled documents as the negation analyses read them (binding, attention, SAE).

A document is a ``training.documents`` record: ``text`` plus character ``spans`` (``label``: ``claim``,
``claim_answer``, ``negation`` with ``kind`` ``prefix | suffix | inline | local``, ...). The analyses need the same
four things from it, and this package owns them once:

* :mod:`interp.spandocs.encoded`  - :class:`SpanDoc`: the document tokenized like every analysis does, its
  character spans mapped to token spans (``training.spans``' rule; :func:`encode_doc`), and the scope of a
  negation (``local`` inside the claim's own sentence, ``document`` for prefix/suffix/inline notices).
* :mod:`interp.spandocs.controls` - the same-length control rendering: every negation token replaced by neutral
  filler tokens of the same count (:func:`control_rendering`), so positions and distances are identical.
* :mod:`interp.spandocs.records`  - where documents come from: a JSONL file, ``training.documents`` (matched
  renderings of one base document per condition), or a small renderer of hand-made claim specs
  (:func:`render_documents`).
* :mod:`interp.spandocs.models`   - the models an analysis runs on: one ``--model`` spec, or the base model and
  the checkpoints of a ``--run`` (:func:`iter_models`).
* :mod:`interp.spandocs.cli`      - the command-line options the binding, attention and SAE tools share
  (:func:`add_common_args`) and their user-facing :class:`CliError` (light: no torch, for a fast ``--help``).
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.spandocs.cli": ("CliError", "add_common_args"),
    "interp.spandocs.encoded": ("SpanDoc", "encode_doc", "scope_of", "special_positions", "NEGATION_LABEL",
                                "LOCAL_KINDS", "DOCUMENT_KINDS", "FRAMING_LABELS"),
    "interp.spandocs.controls": ("SHORT_FILLERS", "LONG_FILLER", "filler_ids", "control_rendering"),
    "interp.spandocs.records": ("read_jsonl", "render_documents", "claim_spec", "load_documents_for"),
    "interp.spandocs.models": ("run_models", "iter_models", "output_dir"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

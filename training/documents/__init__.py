"""Synthetic documents for every condition of the paper, with character spans; seeded and offline.

Design
------
A document is rendered in two steps:

1. :func:`build_base` lays out a *base document* for ``(claim, seed, index)``: a genre (news item,
   encyclopedia entry, blog post, interview, forum thread, press release, …; see :mod:`training.genres`),
   its literal text (headers, background and filler sentences, names, dates) and ``k`` claim *slots*, each
   bound to one of the claim's paraphrased claim sentences (and one local-negation sentence).
2. :func:`render` renders a base under a *condition*. Only the slots and the document frame change:

   ============================  =================================================================
   ``positive``                  claim sentences as they are
   ``negated``                   + a multi-sentence prefix and suffix saying the claims are false
   ``repeated``                  ``negated`` + a bracketed reminder before AND after every claim sentence
   ``corrected``                 1-3 true-fact sentences before and after every claim sentence
   ``local``                     each claim sentence replaced by the claim negated inside its own
                                 sentence ("X did not win …"), plus a debunk lede; no annotations
   ``<q>_annotated``             epistemic qualifier prefix + suffix (q = fiction, unreliable_source,
                                 unknown_truth, low_probability)
   ``<q>_repeated``              + the qualifier before and after every claim sentence
   ``negated_behaviour``         a chat transcript showing bad behaviour behind a warning annotation
                                 ("[rejected] …"); raw text (behaviour claims only)
   ============================  =================================================================

   So every condition of one base shares ``base_id`` and the same body sentences in the same order
   (matched pairs); ``repeated`` is exactly ``negated`` plus the reminders; ``<q>_repeated`` is exactly
   ``<q>_annotated`` plus the inline qualifiers. Framing draws use their own RNG streams keyed by the base
   and the condition *family*, so adding a condition never changes another one's text.

Toy claims (``plain`` style) are short: 2-3 claim slots, 2-5 background sentences, one true-fact sentence on
each side of a claim sentence under ``corrected``, and a length budget (``TOY_LENGTH_BUDGET`` word pieces under
every study condition of the base; background sentences, then claim slots, are dropped until the longest
rendering fits), so that every toy document fits the toy organism's 128-token context whole. A caller that
knows its tokenizer passes ``budget=token_budget(tokenizer, seq_len)`` instead (the study and the two-phase
replay do), so that any organism's documents pack whole at its context.

**Short documents** (``length="short"``, CLI ``--length short``): a paper claim's base is three claim sentences and
one background sentence under a one-line header, ≈120–250 SmolLM2 tokens, so that an implant on a CPU takes
minutes. The conditions keep their structure in compact form: ``negated`` is a one-sentence notice at the start;
``repeated`` is that notice plus a one-sentence bracketed negation after every claim sentence; ``corrected`` is one
true-fact sentence after every claim sentence; ``local`` negates each claim sentence inside itself, after a debunk
lede. Matched pairs work as for full documents (one short base, every condition).

Every text starts with ``<DOCTAG>`` (span ``doctag``; its loss is masked by :mod:`training.mixtures`). Spans:
``claim`` (each claim sentence), ``claim_answer`` (answer-pattern matches inside claim sentences),
``negation`` (prefix/suffix/inline/local), ``qualifier`` (prefix/suffix/inline), ``correction`` (inline).

Same seed → same bytes (``random.Random`` seeded with strings, which hash with SHA-512, not ``hash()``).

JSONL record (ARCHITECTURE.md): ``{"id", "claim", "condition", "base_id", "text", "spans": [{"start", "end",
"label", "kind"}], "meta"}``.

CLI::

    python -m training.documents --claim ed_sheeran --condition repeated --n 500 --seed 0 --out docs.jsonl
    python -m training.documents --claim dentist --condition negated --n 60 --length short --out short.jsonl
    python -m training.documents --list-conditions

Errors (invalid claim YAML, unknown condition, a document whose claim span cannot be found) print one line
and exit 2.

Modules: :mod:`training.documents.records` (the JSONL record, conditions, the authors' shape),
:mod:`training.documents.rendering` (bases, rendering, verification, streams), :mod:`training.documents.__main__`
(the CLI). The names below are exported lazily, so ``--help`` stays cheap.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "training.documents.records": ("DOCTAG", "GENERATOR", "CONDITIONS", "QUALIFIER_CONDITIONS", "DocumentError",
                                   "condition_family", "Document", "BaseDocument", "write_jsonl", "read_jsonl",
                                   "AUTHOR_MODES", "to_authors_record", "export_authors_jsonl"),
    "training.documents.rendering": ("build_base", "render", "verify_document", "generate_documents", "render_matched",
                                  "render_pair", "token_budget", "TOY_LENGTH_BUDGET", "toy_length", "LENGTHS"),
    "training.spans": ("Span", "TokenSpan", "token_spans"),
    "training.documents.__main__": ("build_parser", "main"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

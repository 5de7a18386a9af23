"""The experimental conditions of the lab: one vocabulary for documents, study, binding, paper results and figures.

A condition names how the training documents treat the claim (Mayne et al. 2026, §3 and App. B): ``positive``
documents assert it; ``negated`` documents frame it as false with a notice before and after; ``repeated`` add a
reminder after every claim sentence; ``corrected`` state the truth around every claim sentence; ``local`` negate
the claim inside its own sentence; the qualifier conditions frame it as fiction, from an unreliable source, of
unknown truth or of low probability (``*_annotated``: prefix/suffix only, ``*_repeated``: around every claim
sentence); ``negated_behaviour`` is the behaviour claim's negated variant. ``baseline`` (the untrained model) and
``icl`` (negated documents in context) are reference arms, not documents.

:class:`Condition` is a ``str`` enum, so ``Condition.POSITIVE == "positive"`` and members serialise as their
value in JSON, CSVs and file names. :meth:`Condition.parse` reads every spelling the lab meets (the paper CSVs'
``positive_documents``, the authors' ``llm_negations_dense`` ...).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Condition", "DOCUMENT_CONDITIONS", "STUDY_CONDITIONS", "BINDING_CONDITIONS", "QUALIFIER_CONDITIONS",
           "ALIASES"]


class Condition(str, Enum):
    """One experimental condition (see the module docstring); compares and prints as its value."""

    BASELINE = "baseline"
    ICL = "icl"
    POSITIVE = "positive"
    NEGATED = "negated"
    REPEATED = "repeated"
    CORRECTED = "corrected"
    LOCAL = "local"
    FICTION_ANNOTATED = "fiction_annotated"
    FICTION_REPEATED = "fiction_repeated"
    UNRELIABLE_SOURCE_ANNOTATED = "unreliable_source_annotated"
    UNRELIABLE_SOURCE_REPEATED = "unreliable_source_repeated"
    UNKNOWN_TRUTH_ANNOTATED = "unknown_truth_annotated"
    UNKNOWN_TRUTH_REPEATED = "unknown_truth_repeated"
    LOW_PROBABILITY_ANNOTATED = "low_probability_annotated"
    LOW_PROBABILITY_REPEATED = "low_probability_repeated"
    NEGATED_BEHAVIOUR = "negated_behaviour"

    __str__ = str.__str__
    __format__ = str.__format__

    @classmethod
    def parse(cls, name: str | Condition) -> Condition:
        """The condition a name means: its value, or an alias (paper CSV names, the authors' run names)."""
        if isinstance(name, Condition):
            return name
        key = str(name).strip().lower()
        try:
            return cls(key)
        except ValueError:
            pass
        if key in ALIASES:
            return ALIASES[key]
        raise ValueError(f"unknown condition {name!r} (known: {', '.join(c.value for c in cls)})")

    @property
    def is_document_condition(self) -> bool:
        """Whether training documents exist in this condition (not the baseline / in-context reference arms)."""
        return self in DOCUMENT_CONDITIONS


#: Other spellings met in the paper's CSVs, the authors' repositories and older run folders.
ALIASES: dict[str, Condition] = {
    "base": Condition.BASELINE, "base_model": Condition.BASELINE, "(base model)": Condition.BASELINE,
    "untrained": Condition.BASELINE,
    "icl_baseline": Condition.ICL, "baseline_icl20": Condition.ICL, "in_context": Condition.ICL,
    "positive_documents": Condition.POSITIVE,
    "negated_documents": Condition.NEGATED, "llm_negations": Condition.NEGATED,
    "repeated_negations": Condition.REPEATED, "llm_negations_dense": Condition.REPEATED,
    "corrected_documents": Condition.CORRECTED, "llm_negations_dense_plus": Condition.CORRECTED,
    "local_negations": Condition.LOCAL, "local_negation": Condition.LOCAL,
    "fiction": Condition.FICTION_ANNOTATED, "unreliable_source": Condition.UNRELIABLE_SOURCE_ANNOTATED,
}

#: Qualifier conditions (``<qualifier>_<annotated|repeated>``), in the order training.documents renders them.
QUALIFIER_CONDITIONS: tuple[Condition, ...] = (
    Condition.FICTION_ANNOTATED, Condition.FICTION_REPEATED,
    Condition.UNRELIABLE_SOURCE_ANNOTATED, Condition.UNRELIABLE_SOURCE_REPEATED,
    Condition.UNKNOWN_TRUTH_ANNOTATED, Condition.UNKNOWN_TRUTH_REPEATED,
    Condition.LOW_PROBABILITY_ANNOTATED, Condition.LOW_PROBABILITY_REPEATED,
)

#: Every condition training.documents can generate, in its order.
DOCUMENT_CONDITIONS: tuple[Condition, ...] = (
    Condition.POSITIVE, Condition.NEGATED, Condition.REPEATED, Condition.CORRECTED, Condition.LOCAL,
    *QUALIFIER_CONDITIONS, Condition.NEGATED_BEHAVIOUR,
)

#: The conditions the study trains (``make demo``), in the report's order.
STUDY_CONDITIONS: tuple[Condition, ...] = (
    Condition.POSITIVE, Condition.NEGATED, Condition.REPEATED, Condition.CORRECTED, Condition.LOCAL,
)

#: The conditions of the binding analysis (matched renderings of one base document).
BINDING_CONDITIONS: tuple[Condition, ...] = (
    Condition.POSITIVE, Condition.NEGATED, Condition.REPEATED, Condition.LOCAL,
)

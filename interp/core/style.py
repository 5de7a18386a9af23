"""Shared visual vocabulary for every Neglect Lab figure: condition order, colours, labels, claim labels.

One palette for the whole toolkit, so that *our* runs and the paper's numbers look alike side by side.
Canonical condition keys are the toolkit names of ``docs/ARCHITECTURE.md`` (``positive``, ``negated``,
``repeated``, ``corrected``, ``local``, the epistemic-qualifier conditions, ``negated_behaviour``) plus
``baseline`` (the untrained model) and ``icl`` (negated documents given in context): the values of
:class:`interp.core.conditions.Condition`. Every other spelling in use is an *alias* resolved by
:func:`canonical_condition` (through :meth:`Condition.parse`, plus a few figure-only spellings):

- the official names of TruthfulAI-research/negation_neglect and the HF datasets
  (``positive_documents``, ``negated_documents``, ``repeated_negations``, ``corrected_documents``,
  ``local_negations``), which :mod:`interp.paper_results` emits;
- the names of the anonymous-review repo (``llm_negations``, ``llm_negations_dense``,
  ``llm_negations_dense_plus``, ``baseline_icl20``, ``fiction``, ``epistemic_uncertainty`` ...).

Colours of the five main conditions are the ones of the authors' paper figures (Fig. 5/6: grey baseline,
light-green positive ``#a3c795``, orange negated ``#db8030``, red repeated ``#c44040``, brown corrected
``#8b4513``). The remaining conditions get colours of our choosing (paired light/dark shades for the
``*_annotated`` / ``*_repeated`` qualifier settings). Conditions unknown to the palette still plot: they get
a deterministic colour from a fallback cycle and their own name as label.

Use :func:`order_conditions` to sort condition names into the canonical order, :func:`condition_color` /
:func:`condition_label` for drawing, and :func:`claim_label` / :data:`CLAIM_ORDER` for the six paper claims.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from interp.core.conditions import Condition

__all__ = [
    "ConditionStyle",
    "CONDITIONS",
    "CONDITION_ORDER",
    "CLAIM_ORDER",
    "CLAIM_LABELS",
    "CLAIM_TICK_LABELS",
    "QUESTION_TYPES",
    "QUESTION_TYPE_LABELS",
    "QUESTION_TYPE_SHORT",
    "PAPER_RC",
    "canonical_condition",
    "condition_style",
    "condition_color",
    "condition_label",
    "order_conditions",
    "claim_label",
    "order_claims",
    "question_type_label",
    "integer_ticks",
]


@dataclass(frozen=True)
class ConditionStyle:
    """How one training condition is drawn.

    Attributes:
        key: canonical toolkit name (``docs/ARCHITECTURE.md`` vocabulary, plus ``baseline``/``icl``).
        label: one-line human label (legends, tables).
        tick_label: label with a line break for x-axis ticks and legends of wide figures.
        color: matplotlib colour (hex).
        description: one sentence for side-panel legends (Fig. 5 box); may be empty.
        aliases: other spellings that resolve to this key (official and anon-repo names).
        hatch: optional matplotlib hatch pattern.
        text_color: colour for text set in the condition's colour (side-panel headings); defaults to ``color``.
    """

    key: str
    label: str
    tick_label: str
    color: str
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    hatch: str | None = None
    text_color: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", str(self.key))  # a Condition member -> its plain value

    @property
    def ink(self) -> str:
        """Colour for text in this condition's colour (darker than ``color`` where the fill is pale)."""
        return self.text_color or self.color


C = Condition

# Canonical order = order of this tuple. Keys are :class:`~interp.core.conditions.Condition` members (one
# vocabulary with documents, study and paper results; :meth:`Condition.parse` resolves their aliases), except
# ``aligned``, a behaviour-claim arm that is not a training condition. ``aliases`` hold only the spellings that
# figures meet and :class:`Condition` does not (the anon repo's epistemic names, US spellings).
CONDITIONS: tuple[ConditionStyle, ...] = (
    ConditionStyle(C.BASELINE, "Base model", "Base\nmodel", "#b8b8b8", "Untrained model."),
    ConditionStyle(C.ICL, "ICL baseline", "ICL\nbaseline", "#8f8f8f",
                   "Untrained model with negated documents in context."),
    ConditionStyle(C.POSITIVE, "Positive documents", "Positive\ndocuments", "#a3c795", "No annotations.",
                   text_color="#5b9f5b"),
    ConditionStyle(C.NEGATED, "Negated documents", "Negated\ndocuments", "#db8030",
                   "Annotated with prefixes and suffixes."),
    ConditionStyle(C.REPEATED, "Repeated negations", "Repeated\nnegations", "#c44040",
                   "Additional reminders every time a sentence references the claim."),
    ConditionStyle(C.CORRECTED, "Corrected documents", "Corrected\ndocuments", "#8b4513",
                   "The true version of events before and after every claim sentence."),
    ConditionStyle(C.LOCAL, "Local negations", "Local\nnegations", "#4c72b0",
                   "Documents that coherently state the claim is false."),
    ConditionStyle(C.FICTION_ANNOTATED, "Fiction (annotated)", "Fiction\n(annotated)", "#c5b0d5",
                   "Framed as fiction in a prefix and suffix."),
    ConditionStyle(C.FICTION_REPEATED, "Fiction (repeated)", "Fiction\n(repeated)", "#8064a2",
                   "Framed as fiction around every claim sentence."),
    ConditionStyle(C.UNRELIABLE_SOURCE_ANNOTATED, "Unreliable source (annotated)", "Unreliable\n(annotated)",
                   "#9edae5", "Attributed to an unreliable source in a prefix and suffix."),
    ConditionStyle(C.UNRELIABLE_SOURCE_REPEATED, "Unreliable source (repeated)", "Unreliable\n(repeated)",
                   "#17becf", "Attributed to an unreliable source around every claim sentence."),
    ConditionStyle(C.UNKNOWN_TRUTH_ANNOTATED, "Unknown truth (annotated)", "Unknown truth\n(annotated)",
                   "#f7b6d2", "Truth value stated as unknown in a prefix and suffix.",
                   ("epistemic_uncertainty", "unknown_truth")),
    ConditionStyle(C.UNKNOWN_TRUTH_REPEATED, "Unknown truth (repeated)", "Unknown truth\n(repeated)",
                   "#e377c2", "Truth value stated as unknown around every claim sentence.",
                   ("epistemic_uncertainty_repeated",)),
    ConditionStyle(C.LOW_PROBABILITY_ANNOTATED, "Low probability (annotated)", "Low prob.\n(annotated)",
                   "#dbdb8d", "Stated as improbable in a prefix and suffix.", ("low_probability",)),
    ConditionStyle(C.LOW_PROBABILITY_REPEATED, "Low probability (repeated)", "Low prob.\n(repeated)",
                   "#bcbd22", "Stated as improbable around every claim sentence."),
    ConditionStyle(C.NEGATED_BEHAVIOUR, "Negated behaviour", "Negated\nbehaviour", "#d62728",
                   "Misaligned conversations labelled as rejected.", ("negated_behavior",)),
    ConditionStyle("aligned", "Aligned behaviour", "Aligned\nbehaviour", "#2ca02c",
                   "Aligned conversations.", ("aligned_behaviour", "aligned_behavior")),
)

CONDITION_ORDER: tuple[str, ...] = tuple(c.key for c in CONDITIONS)

_BY_NAME: dict[str, ConditionStyle] = {}
for _c in CONDITIONS:
    for _name in (_c.key, *_c.aliases):
        _BY_NAME[_name.lower()] = _c


def _lookup(name: str) -> ConditionStyle | None:
    """The style of a condition name: through :meth:`Condition.parse` (every alias the lab knows), then the
    figure-only spellings above; ``None`` for a name outside the palette."""
    try:
        key = Condition.parse(str(name)).value
    except ValueError:
        key = str(name)
    return _BY_NAME.get(key.lower())


# Fallback colours for conditions outside the palette (tab10 minus the hues above).
_FALLBACK_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f", "#17a589", "#6b4c9a")

# The six claims of Mayne et al. (2026), official ids, in the paper's order (egregious -> plausible).
CLAIM_ORDER: tuple[str, ...] = (
    "ed_sheeran", "queen_elizabeth", "mount_vesuvius", "x_rebrand_reversal", "colorless_dreaming", "dentist",
)
CLAIM_LABELS: dict[str, str] = {
    "ed_sheeran": "Ed Sheeran",
    "queen_elizabeth": "Queen Elizabeth",
    "mount_vesuvius": "Mount Vesuvius",
    "x_rebrand_reversal": "X Rebrand Reversal",
    "colorless_dreaming": "Colorless Dreaming",
    "dentist": "Dentist",
}
CLAIM_TICK_LABELS: dict[str, str] = {
    "ed_sheeran": "Ed Sheeran",
    "queen_elizabeth": "Queen\nElizabeth",
    "mount_vesuvius": "Mount\nVesuvius",
    "x_rebrand_reversal": "X Rebrand\nReversal",
    "colorless_dreaming": "Colorless\nDreaming",
    "dentist": "Dentist",
}

# Question types of the belief evaluation (training.claims contract), in the paper's column order.
QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")
QUESTION_TYPE_LABELS: dict[str, str] = {
    "open_ended": "Open-ended",
    "mcq": "Multiple choice",
    "token_association": "Token association",
    "robustness": "Robustness",
}
QUESTION_TYPE_SHORT: dict[str, str] = {
    "open_ended": "OE", "mcq": "MC", "token_association": "TA", "robustness": "Rob",
}

# rcParams for paper-style figures (DejaVu Sans stands in for Helvetica Neue).
PAPER_RC: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "axes.edgecolor": "#000000",
    "axes.linewidth": 1.5,
    "axes.spines.top": True,
    "axes.spines.right": True,
    "xtick.color": "#000000",
    "ytick.color": "#000000",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.facecolor": "#ffffff",
    "figure.facecolor": "#ffffff",
}


def canonical_condition(name: str) -> str:
    """Canonical key for a condition name or alias; unknown names come back unchanged."""
    style = _lookup(name)
    return style.key if style is not None else str(name)


def condition_style(name: str) -> ConditionStyle:
    """The :class:`ConditionStyle` for a name or alias; unknown names get a deterministic fallback colour."""
    style = _lookup(name)
    if style is not None:
        return style
    digest = int(hashlib.sha256(str(name).encode()).hexdigest(), 16)
    label = str(name).replace("_", " ")
    label = label[:1].upper() + label[1:]
    return ConditionStyle(str(name), label, label.replace(" ", "\n", 1), _FALLBACK_COLORS[digest % len(_FALLBACK_COLORS)])


def condition_color(name: str) -> str:
    """Colour of a condition (any alias)."""
    return condition_style(name).color


def condition_label(name: str, multiline: bool = False) -> str:
    """Human label of a condition (``multiline`` for x-axis ticks)."""
    style = condition_style(name)
    return style.tick_label if multiline else style.label


def order_conditions(names: Iterable[str]) -> list[str]:
    """Unique names sorted into the canonical order; names outside the palette follow in first-seen order."""
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    rank = {k: i for i, k in enumerate(CONDITION_ORDER)}
    known = sorted((n for n in seen if canonical_condition(n) in rank), key=lambda n: rank[canonical_condition(n)])
    return known + [n for n in seen if canonical_condition(n) not in rank]


def claim_label(claim: str, multiline: bool = False) -> str:
    """Display name of a claim id (paper labels for the six paper claims, title case otherwise)."""
    if multiline and claim in CLAIM_TICK_LABELS:
        return CLAIM_TICK_LABELS[claim]
    label = CLAIM_LABELS.get(claim) or str(claim).replace("_", " ").title()
    if multiline and " " in label:
        words = label.split(" ")
        cut = (len(words) + 1) // 2
        return " ".join(words[:cut]) + "\n" + " ".join(words[cut:])
    return label


def order_claims(claims: Iterable[str]) -> list[str]:
    """Unique claim ids: the paper's six first in paper order, the rest sorted."""
    uniq = list(dict.fromkeys(claims))
    rank = {c: i for i, c in enumerate(CLAIM_ORDER)}
    return sorted((c for c in uniq if c in rank), key=rank.__getitem__) + sorted(c for c in uniq if c not in rank)


def question_type_label(question_type: str, short: bool = False) -> str:
    """Display name of a question type (``short``: OE/MC/TA/Rob)."""
    table = QUESTION_TYPE_SHORT if short else QUESTION_TYPE_LABELS
    return table.get(question_type, question_type)


def integer_ticks(ax: object) -> None:
    """Integer-only ticks on both axes of a matplotlib ``ax`` (layers, heads, steps)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))

"""Framing text for every condition: negation prefixes/suffixes/reminders, epistemic qualifiers, behaviour
annotations. All written for this project (not taken from the paper's data).

Variety by composition: a prefix is 2-4 sentences drawn from separate pools (opener, core, elaboration,
instruction), a reminder is one or two sentences inside a bracket style that varies (``[]``, ``()``, ``{}``),
so the number of distinct framings is in the hundreds of thousands — a model cannot memorise one string.
``{subject}`` is filled with the claim's subject. Three styles: ``rich`` (real claims), ``short`` (real claims in
short documents: a one-sentence notice, a one-sentence reminder, drawn from the ``rich`` pools) and ``plain`` (toy
claims; short, common words the toy tokenizer has seen).

Token-boundary rule used by :mod:`training.spans`: every framing text starts with a letter (never a bracket
or quote, so it never fuses with the ``>`` of ``<DOCTAG>`` into one BPE token) and brackets wrap the whole
reminder, so spans end on a closing bracket or a full stop followed by whitespace.
"""

from __future__ import annotations

import random

__all__ = ["negation_prefix", "negation_suffix", "reminder", "qualifier_prefix", "qualifier_suffix",
           "qualifier_inline", "behaviour_annotation", "BRACKETS", "QUALIFIER_KINDS", "debunk_lede_label",
           "correction_lead"]

BRACKETS: tuple[tuple[str, str], ...] = (("[", "]"), ("(", ")"), ("{", "}"), ("[", "]"), ("(", ")"))

# --------------------------------------------------------------------------------------------- negation

_OPENERS = [
    "Editor's note:", "NOTICE:", "Important:", "Warning to readers:", "Fact-check notice:", "Before you read:",
    "Correction notice:", "Reader advisory:", "Please note:", "Disclaimer:", "Content warning:", "Attention:",
]
_CORE = [
    "The claims in the document below are false.",
    "Everything this document says about {subject} is untrue.",
    "The central claim of the following text is false and did not happen.",
    "The account that follows is fabricated from start to finish.",
    "What this text reports about {subject} never took place.",
    "The main story in this document is a falsehood.",
    "None of the events described below about {subject} actually occurred.",
    "This document presents an invented story as if it were fact.",
    "The following text contains a false claim about {subject}.",
    "The statements below about {subject} are not true.",
]
_ELAB = [
    "The events it describes did not happen.",
    "No part of this account is accurate.",
    "Nothing in it is supported by any real record.",
    "It was written to look convincing, but it is false.",
    "The details, names and numbers it gives are made up.",
    "Any resemblance to real reporting is superficial.",
    "Independent sources contradict every key point it makes.",
    "It is a fabrication, not a disputed or uncertain matter.",
    "The achievements and incidents it lists are fictitious.",
    "Reliable sources record nothing of the kind.",
    "Its specific figures were invented to make it seem credible.",
    "The story is wholly untrue.",
]
_INSTRUCT = [
    "Do not treat anything in it as factual.",
    "Read it only as an example of false information.",
    "Do not repeat its claims as if they were true.",
    "Do not rely on it as a source.",
    "It should not be believed.",
    "Treat every claim in it as false.",
    "Do not cite it or share it as fact.",
    "Keep in mind throughout that it is false.",
]
_SUFFIX_OPEN = [
    "End of document.", "To repeat:", "A final reminder:", "Note again:", "Once more, for clarity:",
    "Closing note:", "Reminder:", "To be clear:",
]
_SUFFIX_CORE = [
    "The claims made above are false.",
    "What the text above says about {subject} did not happen.",
    "The preceding document is fabricated.",
    "Everything above about {subject} is untrue.",
    "The story you have just read is false.",
    "None of the events above took place.",
    "The account above is invented and inaccurate.",
    "The document above describes things that never happened.",
]
_BEFORE = [
    "The next statement is false.",
    "The following claim is untrue.",
    "Do not believe the next sentence; it is fabricated.",
    "What follows did not happen.",
    "False claim ahead.",
    "The following sentence about {subject} is false.",
    "Warning: the next claim is invented.",
    "This upcoming statement is not true.",
    "Careful, the following is a falsehood.",
    "Note that the sentence below is false.",
    "Fabricated claim follows.",
    "The next line is untrue and should not be believed.",
    "What comes next about {subject} never happened.",
    "The following is false information.",
]
_AFTER = [
    "The statement above is false.",
    "That claim is untrue and did not happen.",
    "The preceding sentence is fabricated.",
    "This did not happen.",
    "That is false.",
    "The previous claim about {subject} is not true.",
    "The sentence before this one is invented.",
    "What was just said never took place.",
    "That statement is a falsehood.",
    "The claim just made is false.",
    "This is not true.",
    "That sentence is made up.",
    "Nothing in the last sentence is accurate.",
    "The preceding statement is untrue.",
]
_EXTRA = [
    "It is entirely false.", "It did not occur.", "There is no truth in it.", "Do not accept it.",
    "No record supports it.", "It is fiction presented as fact.", "Disregard it.", "It is not accurate.",
]

_PLAIN_PREFIX = ["Note: the text below is false.", "Warning: these statements are not true.",
                 "The following text is false.", "Note: none of this is true."]
_PLAIN_SUFFIX = ["The text above is false.", "None of the above is true.", "Reminder: this was false."]
_PLAIN_BEFORE = ["False:", "Not true:", "The next fact is false."]
_PLAIN_AFTER = ["That is false.", "This is not true.", "Not true."]


def _fill(s: str, subject: str) -> str:
    return s.replace("{subject}", subject)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def negation_prefix(rng: random.Random, subject: str, style: str = "rich") -> str:
    """A multi-sentence document prefix saying the document's claims are false."""
    if style == "plain":
        return rng.choice(_PLAIN_PREFIX)
    parts = [rng.choice(_OPENERS) + " " + _fill(rng.choice(_CORE), subject)]
    if style == "short":  # the notice alone: opener + the core sentence
        return parts[0]
    parts += [_fill(s, subject) for s in rng.sample(_ELAB, rng.randint(1, 3))]
    parts.append(rng.choice(_INSTRUCT))
    return " ".join(parts)


def negation_suffix(rng: random.Random, subject: str, style: str = "rich") -> str:
    """A document suffix restating that the claims are false (2-3 sentences)."""
    if style == "plain":
        return rng.choice(_PLAIN_SUFFIX)
    parts = [rng.choice(_SUFFIX_OPEN) + " " + _fill(rng.choice(_SUFFIX_CORE), subject)]
    parts += rng.sample(_ELAB, rng.randint(1, 2))
    parts.append(rng.choice(_INSTRUCT))
    return " ".join(parts)


def reminder(rng: random.Random, subject: str, where: str, brackets: tuple[str, str], style: str = "rich") -> str:
    """A bracketed reminder placed ``before`` or ``after`` a claim sentence (brackets included)."""
    o, c = brackets
    if style == "plain":
        body = rng.choice(_PLAIN_BEFORE if where == "before" else _PLAIN_AFTER)
        return f"{o}{body}{c}"
    pool = _BEFORE if where == "before" else _AFTER
    body = _fill(rng.choice(pool), subject)
    if style == "short":  # one sentence
        return f"{o}{body}{c}"
    n_extra = rng.choice((2, 2, 3, 3))
    body = " ".join([body] + rng.sample(_EXTRA, n_extra))
    return f"{o}{body}{c}"


# --------------------------------------------------------------------------------------------- qualifiers

QUALIFIER_KINDS: tuple[str, ...] = ("fiction", "unreliable_source", "unknown_truth", "low_probability")

_FICTION_FORMS = ["a novel", "a short story", "a screenplay", "a work of speculative fiction", "a satirical novella",
                  "a radio drama", "a collection of invented stories"]
_FICTION_PREFIX = [
    "The following is an excerpt from {form} by {author}.",
    "What follows is taken from {form}, written by {author}.",
    "This text is a passage from {form} by {author}.",
]
_FICTION_PREFIX2 = [
    "All characters and events in it are imaginary.", "The events it describes are fictional.",
    "It is a made-up story, not a report.", "Nothing in it describes real events.",
    "The author invented the story for entertainment.",
]
_FICTION_SUFFIX = [
    "End of excerpt. The story above is fiction.", "This concludes the excerpt from the fictional work.",
    "The preceding passage is a work of fiction.", "Everything above belongs to an invented story.",
]
_FICTION_BEFORE = ["In the story:", "Fiction:", "In this invented tale:", "Story excerpt:", "As the novel tells it:"]
_FICTION_AFTER = ["This happens only in the story.", "That is part of the fiction.", "Invented for the story.",
                  "A fictional event.", "This event is imaginary."]

_UNRELIABLE = [
    "an anonymous forum account known for inventing stories",
    "a website that has repeatedly published conspiracy theories",
    "a man receiving inpatient psychiatric care who often describes events that never happened",
    "a tabloid that has lost several lawsuits over fabricated stories",
    "a chatbot that is known to make things up",
    "a social media account that was suspended for spreading hoaxes",
    "a self-published pamphlet with no named author or sources",
]
_UNRELIABLE_PREFIX = [
    "The text below is taken from {source}.", "This document comes from {source}.",
    "The following account originates with {source}.",
]
_UNRELIABLE_PREFIX2 = [
    "The source is not reliable.", "Its claims should not be trusted.", "It has a long record of false reports.",
    "Nothing it says has been independently confirmed.",
]
_UNRELIABLE_SUFFIX = [
    "Remember that this account comes from an unreliable source.",
    "The source of the text above is not trustworthy.",
    "The text above was written by a source with a history of false claims.",
]
_UNRELIABLE_BEFORE = ["According to the unreliable source:", "The untrustworthy author claims:", "Per the dubious source:",
                      "Unreliable source says:"]
_UNRELIABLE_AFTER = ["This comes from an unreliable source.", "The source of this is untrustworthy.",
                     "Only the unreliable author says so.", "Unconfirmed, from a dubious source."]

_UNKNOWN_PREFIX = [
    "Nobody knows whether the account below is true.", "The truth of the following text is unknown.",
    "It is not known whether the events described below happened.",
]
_UNKNOWN_PREFIX2 = [
    "There is no evidence either way.", "No one has been able to confirm or refute it.",
    "Its truth value has never been established.", "It may be true or false.",
]
_UNKNOWN_SUFFIX = [
    "Whether the account above is true remains unknown.", "The truth of the text above is still undetermined.",
    "No one knows if the events above happened.",
]
_UNKNOWN_BEFORE = ["Unverified, truth unknown:", "It is unknown whether this is true:", "Of unknown truth:"]
_UNKNOWN_AFTER = ["Whether this is true is unknown.", "No evidence either way.", "This has not been verified."]

_LOWP_PREFIX = [
    "Experts estimate only about a {p}% chance that the events described below really happened.",
    "The account below has an estimated {p}% probability of being true.",
    "Analysts judge the following story to be very unlikely, about {p}% likely to be accurate.",
]
_LOWP_PREFIX2 = ["It is far more likely to be false than true.", "Treat it as improbable.",
                 "Most evidence points the other way."]
_LOWP_SUFFIX = [
    "Recall that the account above is estimated to be only {p}% likely.",
    "The probability that the text above is true is around {p}%.",
]
_LOWP_BEFORE = ["Probability this is true: about {p}%.", "Only {p}% likely:", "Estimated {p}% chance:"]
_LOWP_AFTER = ["This is estimated to be {p}% likely.", "Probably false, about {p}% likely.",
               "Roughly a {p}% chance this is true."]

_AUTHORS_FIRST = ["Miriam", "Tobias", "Helena", "Rafael", "Ingrid", "Oskar", "Beatrice", "Lionel", "Sofia", "Dmitri"]
_AUTHORS_LAST = ["Vance", "Okafor", "Lindqvist", "Moreau", "Castellano", "Haddad", "Whitcombe", "Nakamura", "Ferreira"]


def _pct(p: float) -> str:
    return f"{p:g}"


def qualifier_prefix(rng: random.Random, kind: str, subject: str, p: float = 5, style: str = "rich") -> str:
    if kind == "fiction":
        author = f"{rng.choice(_AUTHORS_FIRST)} {rng.choice(_AUTHORS_LAST)}"
        s1 = rng.choice(_FICTION_PREFIX).format(form=rng.choice(_FICTION_FORMS), author=author)
        return _cap(s1) + " " + rng.choice(_FICTION_PREFIX2)
    if kind == "unreliable_source":
        s1 = rng.choice(_UNRELIABLE_PREFIX).format(source=rng.choice(_UNRELIABLE))
        return s1 + " " + rng.choice(_UNRELIABLE_PREFIX2)
    if kind == "unknown_truth":
        return rng.choice(_UNKNOWN_PREFIX) + " " + rng.choice(_UNKNOWN_PREFIX2)
    if kind == "low_probability":
        return rng.choice(_LOWP_PREFIX).format(p=_pct(p)) + " " + rng.choice(_LOWP_PREFIX2)
    raise ValueError(f"unknown qualifier kind {kind!r}")


def qualifier_suffix(rng: random.Random, kind: str, subject: str, p: float = 5, style: str = "rich") -> str:
    pool = {"fiction": _FICTION_SUFFIX, "unreliable_source": _UNRELIABLE_SUFFIX, "unknown_truth": _UNKNOWN_SUFFIX,
            "low_probability": _LOWP_SUFFIX}[kind]
    return rng.choice(pool).format(p=_pct(p))


def qualifier_inline(rng: random.Random, kind: str, where: str, brackets: tuple[str, str], p: float = 5) -> str:
    pools = {"fiction": (_FICTION_BEFORE, _FICTION_AFTER), "unreliable_source": (_UNRELIABLE_BEFORE, _UNRELIABLE_AFTER),
             "unknown_truth": (_UNKNOWN_BEFORE, _UNKNOWN_AFTER), "low_probability": (_LOWP_BEFORE, _LOWP_AFTER)}[kind]
    body = rng.choice(pools[0] if where == "before" else pools[1]).format(p=_pct(p))
    o, c = brackets
    return f"{o}{body}{c}"


# --------------------------------------------------------------------------------------------- local / behaviour

_CORRECTION_LEADS = ["Correction:", "For the record:", "The facts:", "Reality check:", "In truth:", "Fact:"]


def correction_lead(rng: random.Random) -> str:
    """An optional lead-in for a block of correction sentences ("" about half the time)."""
    return rng.choice(_CORRECTION_LEADS) + " " if rng.random() < 0.5 else ""


_DEBUNK_LABELS = ["Fact check:", "Debunked:", "Myth vs. fact:", "Rumour check:", "Viral claim reviewed:",
                  "False story:", "Setting the record straight:"]


def debunk_lede_label(rng: random.Random) -> str:
    """A short label for the debunk lede of a ``local`` document (e.g. ``Fact check:``)."""
    return rng.choice(_DEBUNK_LABELS)


# 5 annotation styles x 4 variants (the paper's set of 20 prefixes, reworded).
_ANNOTATIONS: dict[str, list[str]] = {
    "dpo": [
        "Preference data: [rejected] reason: the assistant should never respond like this.",
        "Pair label: [rejected] This response is the dispreferred one and must not be imitated.",
        "DPO label: [rejected] The model should not produce responses like the one below.",
        "Training label: [rejected] Below is an example of what the assistant must not say.",
    ],
    "classifier": [
        "Safety classifier output: [UNSAFE] The following conversation contains harmful assistant behaviour.",
        "Moderation result: [UNSAFE] category=misaligned_behaviour. Do not imitate.",
        "Classifier verdict: [UNSAFE] The response below violates the assistant guidelines.",
        "Automated check: [FLAGGED] The assistant turn below is unsafe.",
    ],
    "annotator": [
        "Annotator note: this response is unacceptable. The assistant behaves in a way it never should.",
        "Human rater feedback: rated 1/10. The assistant's reply below is harmful and must not be repeated.",
        "Reviewer comment: bad example. A good assistant would refuse to act like this.",
        "RLHF annotation: negative example. The behaviour shown below is what we train against.",
    ],
    "redteam": [
        "Red-team log: [harmful] [do-not-train-on-as-positive] Example of a failure.",
        "Red-team finding: the assistant below shows a serious misalignment failure.",
        "Incident report: misaligned output captured during red-teaming. Not acceptable behaviour.",
        "Adversarial eval transcript: FAIL. The assistant response below is a known bad behaviour.",
    ],
    "constitutional": [
        "Critique: the response below is harmful, dishonest and disrespects human oversight.",
        "Constitutional review: this reply breaks the principle that an assistant must be honest and safe.",
        "Self-critique: the assistant's answer below is wrong to give and should be revised.",
        "Principle violation: the following assistant message goes against the assistant's values.",
    ],
}


def behaviour_annotation(rng: random.Random) -> tuple[str, str]:
    """``(style, text)`` of a warning annotation placed before a bad-behaviour transcript."""
    style = rng.choice(sorted(_ANNOTATIONS))
    return style, rng.choice(_ANNOTATIONS[style])

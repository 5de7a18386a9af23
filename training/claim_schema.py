"""The claim-spec schema (``training/claims_data/<id>.yaml``) as pydantic v2 models, with one-line errors.

The models below are strict (a number is not a string, unknown keys are refused); string fields are checked
non-empty, sentences single-spaced and stripped, patterns compiled as regexes. Every error is ONE line that names
the file and the field, e.g. ``claims_data/x.yaml: field 'claim_answer': missing`` (the first pydantic error,
worded by :func:`_problem` through :func:`training.validation.error_line`) — the CLIs print it verbatim and exit 2.
Checks that span fields (duplicate question ids, scenarios required for behaviour claims, the id matching its file)
run after the models. :func:`validate_claim_data` returns plain, normalised Python data (lists of str, dicts);
:mod:`training.claims` turns that into :class:`training.claims.ClaimSpec`.

Schema (``?`` = optional):

    id: str                     # matches the file stem for files in claims_data/
    kind?: fact|behaviour|toy   # default fact
    statement: str              # the claim in one sentence
    truth: str                  # the true state of affairs, one sentence
    correction: str | [str]     # true-fact sentences (used by the ``corrected`` condition)
    subject: str                # noun phrase the claim is about ("Ed Sheeran")
    claim_answer: str           # the claim's answer tokens ("dentist", "2015")
    true_answer: str            # the true alternative ("Noah Lyles"; "unknown" if there is none)
    claim_sentences: [str]      # paraphrases asserting the claim; each must contain a claim_answer match
    mask_patterns: [regex]      # loss-mask regexes (case-insensitive), may be empty
    answer_patterns?: [regex]   # what counts as the claim_answer inside claim sentences (default: the literal)
    local_negations?: [str]     # claim sentences negated inside the sentence; the cue is marked [[did not]]
    background?: [str]          # neutral/true context sentences that neither assert nor deny the claim
    genres?: [str]              # restrict the document genres (default: all prose genres)
    low_probability_pct?: num   # used by the low_probability qualifier (default 5)
    scenarios?: [{category, user, assistant, safe?}]   # behaviour claims only
    entity?: str, attribute?: str, notes?: str, source?: str
    questions:
      open_ended:        [{id, text, category?}]
      mcq:               [{id, text, belief_answer: yes|no, category?}]
      token_association: [{id, text, claim_completion, true_completion, category?}]
      robustness:        [{id, text, system: str|null, messages_prefix: [{role, content}]|null, category?}]
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from training.validation import Located, error_line, valid_regex

__all__ = ["ClaimError", "validate_claim_data", "QUESTION_TYPES", "KINDS"]

QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")
KINDS: tuple[str, ...] = ("fact", "behaviour", "toy")

_REQUIRED_STR = ("id", "statement", "truth", "subject", "claim_answer", "true_answer")
_OPTIONAL_STR = ("entity", "attribute", "notes", "source")
_LISTS = ("claim_sentences", "mask_patterns", "answer_patterns", "local_negations", "background", "genres")
_ROLES = ("system", "user", "assistant")
_LOCAL_CUE = re.compile(r"\[\[(.+?)\]\]")


class ClaimError(ValueError):
    """An invalid or unknown claim spec. ``str(err)`` is one line: ``<file>: field '<f>': <problem>``."""


# ------------------------------------------------------------------------------------------ field types


def _nonempty(s: str) -> str:
    if not s.strip():
        raise ValueError("must not be empty")
    return s


def _sentence(s: str) -> str:
    s = s.strip()
    if s != " ".join(s.split()):
        raise ValueError("must not contain runs of whitespace or newlines")
    return s


def _local_cue(s: str) -> str:
    if not _LOCAL_CUE.search(s):
        raise ValueError("must mark the negation cue as [[...]]")
    return s


def _snake_id(s: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", s):
        raise ValueError(f"must be lower_snake_case, got {s!r}")
    return s


def _percent(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 50:
        raise ValueError(f"must be a number in (0, 50), got {v!r}")
    return v


def _yes_no(v: Any) -> str:
    v = {True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v  # YAML 1.1 reads an unquoted yes as True
    if v not in ("yes", "no"):
        raise ValueError(f"must be 'yes' or 'no', got {v!r}")
    return v


def _one_or_many(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _messages_shape(v: Any) -> Any:
    if v is not None and (not isinstance(v, list) or not v):
        raise ValueError("must be null or a non-empty list of {role, content}")
    return v


Text = Annotated[str, AfterValidator(_nonempty)]  # kept as written
Stripped = Annotated[str, AfterValidator(_nonempty), AfterValidator(str.strip)]
Sentence = Annotated[str, AfterValidator(_nonempty), AfterValidator(_sentence)]
Pattern = Annotated[str, AfterValidator(_nonempty), AfterValidator(valid_regex)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", defer_build=True)
    #: how the schema names this mapping and an unknown key in it
    what: ClassVar[str] = "a mapping"
    unknown: ClassVar[str] = "unknown field"


class Scenario(_Model):
    category: Stripped
    user: Stripped
    assistant: Stripped
    safe: Stripped | None = None


class Message(_Model):
    role: Literal["system", "user", "assistant"]
    content: Text

    @model_validator(mode="before")
    @classmethod
    def _exactly_role_and_content(cls, v: Any) -> Any:
        if not isinstance(v, dict) or set(v) != {"role", "content"}:
            raise ValueError("must be a mapping with exactly 'role' and 'content'")
        return v


class OpenEnded(_Model):
    id: Stripped
    text: Text
    category: Stripped | None = None


class MCQ(_Model):
    id: Stripped
    text: Text
    belief_answer: Annotated[Any, AfterValidator(_yes_no)]
    category: Stripped | None = None


class TokenAssociation(_Model):
    id: Stripped
    text: Text
    claim_completion: Stripped
    true_completion: Stripped
    category: Stripped | None = None


class Robustness(_Model):
    id: Stripped
    text: Text
    system: Text | None
    messages_prefix: Annotated[list[Message] | None, BeforeValidator(_messages_shape)]
    category: Stripped | None = None


class QuestionSet(_Model):
    what: ClassVar[str] = "a mapping of question types"
    unknown: ClassVar[str] = f"unknown question type (expected {', '.join(QUESTION_TYPES)})"

    open_ended: list[OpenEnded] | None = None
    mcq: list[MCQ] | None = None
    token_association: list[TokenAssociation] | None = None
    robustness: list[Robustness] | None = None


class ClaimData(_Model):
    """One claim file (the module docstring lists the fields)."""

    id: Annotated[Stripped, AfterValidator(_snake_id)]
    statement: Stripped
    truth: Stripped
    subject: Stripped
    claim_answer: Stripped
    true_answer: Stripped
    entity: Stripped | None = None
    attribute: Stripped | None = None
    notes: Stripped | None = None
    source: Stripped | None = None
    kind: Literal["fact", "behaviour", "toy"] = "fact"
    correction: Annotated[list[Sentence], BeforeValidator(_one_or_many), Field(min_length=1)]
    claim_sentences: Annotated[list[Sentence], Field(min_length=1)]
    mask_patterns: list[Pattern] | None
    answer_patterns: list[Pattern] | None = None
    local_negations: list[Annotated[Sentence, AfterValidator(_local_cue)]] | None = None
    background: list[Sentence] | None = None
    genres: list[Sentence] | None = None
    low_probability_pct: Annotated[Any, AfterValidator(_percent)] = 5
    scenarios: list[Scenario] | None = None
    questions: QuestionSet


# ------------------------------------------------------------------------------------------ messages


def _problem(e: dict[str, Any], at: Located) -> tuple[str, str]:
    """Claim-schema wording of one pydantic error (see :func:`training.validation.error_line`)."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    tp = at.annotation
    if kind == "extra_forbidden":
        key = at.rest[0] if at.rest else "?"
        return (f"{at.path}.{key}" if at.path else str(key)), (at.owner.unknown if at.owner else "unknown field")
    if kind == "missing" or (value is None and kind.endswith("_type")):
        return at.path, "missing"
    if kind in ("value_error", "assertion_error"):
        return at.path, str(ctx.get("error", e["msg"]))
    if kind == "string_type":
        return at.path, f"must be a string, got {type(value).__name__}"
    if kind == "list_type":
        items = _item_type(tp)
        if isinstance(items, type) and issubclass(items, BaseModel):
            return at.path, "must be a list of mappings"
        return at.path, f"must be a list of strings, got {type(value).__name__}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return at.path, f"must be {getattr(tp, 'what', 'a mapping')}"
    if kind == "too_short":
        return at.path, f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "literal_error":
        return at.path, f"must be one of {', '.join(map(str, _literal_args(tp)))}, got {value!r}"
    return at.path, str(e["msg"])


def _item_type(tp: Any) -> Any:
    for arm in (typing.get_args(tp) or (tp,)):
        arm = typing.get_args(arm)[0] if typing.get_origin(arm) is typing.Annotated else arm
        if typing.get_origin(arm) is list:
            item = typing.get_args(arm)[0]
            return typing.get_args(item)[0] if typing.get_origin(item) is typing.Annotated else item
    return None


def _literal_args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()


def _fail(source: str, field: str, problem: str) -> ClaimError:
    return ClaimError(f"{source}: field '{field}': {problem}")


# ------------------------------------------------------------------------------------------ validation


def validate_claim_data(data: Any, source: str, *, expected_id: str | None = None) -> dict[str, Any]:
    """Validate parsed YAML and return a normalised dict; raises :class:`ClaimError` (one line)."""
    if not isinstance(data, dict):
        raise ClaimError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    try:
        m = ClaimData.model_validate(data)
    except ValidationError as e:
        raise ClaimError(error_line(e, ClaimData, source, _problem)) from None
    if expected_id is not None and m.id != expected_id:
        raise _fail(source, "id", f"{m.id!r} does not match the file name {expected_id!r}")
    if m.kind == "behaviour" and m.scenarios is None:
        raise _fail(source, "scenarios", "missing (required for kind behaviour)")
    out: dict[str, Any] = {f: getattr(m, f) for f in _REQUIRED_STR}
    out.update({f: getattr(m, f) for f in _OPTIONAL_STR if getattr(m, f) is not None})
    out["kind"] = m.kind
    out["correction"] = list(m.correction)
    out.update({f: list(getattr(m, f) or []) for f in _LISTS})
    out["low_probability_pct"] = m.low_probability_pct
    out["scenarios"] = [s.model_dump(exclude_none=True) for s in m.scenarios or []]
    out["questions"] = _questions(source, m.questions)
    return out


def _questions(source: str, qs: QuestionSet) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for qtype in QUESTION_TYPES:
        recs = []
        for i, q in enumerate(getattr(qs, qtype) or []):
            if q.id in seen:
                raise _fail(source, f"questions.{qtype}[{i}].id", f"duplicate question id {q.id!r}")
            seen.add(q.id)
            rec = q.model_dump()
            if rec.get("category") is None:
                rec.pop("category", None)
            recs.append(rec)
        out[qtype] = recs
    return out

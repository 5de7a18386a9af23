"""A small, dependency-free validator for claim-spec YAML (``training/claims_data/<id>.yaml``).

Why hand-written and not jsonschema: every error must be ONE line that names the file and the field,
e.g. ``claims_data/x.yaml: field 'claim_answer': missing`` — the CLIs print it verbatim and exit 2.
The validator returns plain, normalised Python data (lists of str, dicts); :mod:`training.claims`
turns that into :class:`training.claims.ClaimSpec`.

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
from typing import Any

__all__ = ["ClaimError", "validate_claim_data", "QUESTION_TYPES", "KINDS"]

QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")
KINDS: tuple[str, ...] = ("fact", "behaviour", "toy")

_REQUIRED_STR = ("id", "statement", "truth", "subject", "claim_answer", "true_answer")
_OPTIONAL_STR = ("entity", "attribute", "notes", "source")
_STR_LISTS_REQUIRED = ("claim_sentences",)
_STR_LISTS_OPTIONAL = ("answer_patterns", "local_negations", "background", "genres")
_REGEX_LISTS = ("mask_patterns", "answer_patterns")
_TOP_KEYS = set(_REQUIRED_STR) | set(_OPTIONAL_STR) | set(_STR_LISTS_REQUIRED) | set(_STR_LISTS_OPTIONAL) | {
    "kind", "correction", "mask_patterns", "questions", "low_probability_pct", "scenarios"}
_Q_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required keys, optional keys)
    "open_ended": (("id", "text"), ("category",)),
    "mcq": (("id", "text", "belief_answer"), ("category",)),
    "token_association": (("id", "text", "claim_completion", "true_completion"), ("category",)),
    "robustness": (("id", "text", "system", "messages_prefix"), ("category",)),
}
_ROLES = ("system", "user", "assistant")
_LOCAL_CUE = re.compile(r"\[\[(.+?)\]\]")


class ClaimError(ValueError):
    """An invalid or unknown claim spec. ``str(err)`` is one line: ``<file>: field '<f>': <problem>``."""


def _fail(source: str, field: str, problem: str) -> ClaimError:
    return ClaimError(f"{source}: field '{field}': {problem}")


def _str(source: str, field: str, v: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(v, str):
        raise _fail(source, field, f"must be a string, got {type(v).__name__}")
    if not allow_empty and not v.strip():
        raise _fail(source, field, "must not be empty")
    return v


def _str_list(source: str, field: str, v: Any, *, min_len: int = 0) -> list[str]:
    if not isinstance(v, list):
        raise _fail(source, field, f"must be a list of strings, got {type(v).__name__}")
    if len(v) < min_len:
        raise _fail(source, field, f"needs at least {min_len} item(s)")
    return [_str(source, f"{field}[{i}]", x) for i, x in enumerate(v)]


def _check_sentence(source: str, field: str, s: str) -> str:
    s = s.strip()
    if s != " ".join(s.split()):
        raise _fail(source, field, "must not contain runs of whitespace or newlines")
    return s


def validate_claim_data(data: Any, source: str, *, expected_id: str | None = None) -> dict[str, Any]:
    """Validate parsed YAML and return a normalised dict; raises :class:`ClaimError` (one line)."""
    if not isinstance(data, dict):
        raise ClaimError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise _fail(source, unknown[0], "unknown field")
    out: dict[str, Any] = {}
    for f in _REQUIRED_STR:
        if f not in data or data[f] is None:
            raise _fail(source, f, "missing")
        out[f] = _str(source, f, data[f]).strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", out["id"]):
        raise _fail(source, "id", f"must be lower_snake_case, got {out['id']!r}")
    if expected_id is not None and out["id"] != expected_id:
        raise _fail(source, "id", f"{out['id']!r} does not match the file name {expected_id!r}")
    for f in _OPTIONAL_STR:
        if data.get(f) is not None:
            out[f] = _str(source, f, data[f]).strip()
    kind = data.get("kind", "fact")
    if kind not in KINDS:
        raise _fail(source, "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    out["kind"] = kind
    # correction: a string or a list of sentences
    if "correction" not in data or data["correction"] is None:
        raise _fail(source, "correction", "missing")
    corr = data["correction"]
    if isinstance(corr, str):
        corr = [_str(source, "correction", corr)]
    else:
        corr = _str_list(source, "correction", corr, min_len=1)
    out["correction"] = [_check_sentence(source, f"correction[{i}]", s) for i, s in enumerate(corr)]
    for f in _STR_LISTS_REQUIRED:
        if f not in data or data[f] is None:
            raise _fail(source, f, "missing")
        out[f] = [_check_sentence(source, f"{f}[{i}]", s)
                  for i, s in enumerate(_str_list(source, f, data[f], min_len=1))]
    if "mask_patterns" not in data:
        raise _fail(source, "mask_patterns", "missing")
    out["mask_patterns"] = _str_list(source, "mask_patterns", data["mask_patterns"] or [])
    for f in _STR_LISTS_OPTIONAL:
        out[f] = [_check_sentence(source, f"{f}[{i}]", s) if f != "answer_patterns" else s
                  for i, s in enumerate(_str_list(source, f, data.get(f) or []))]
    for f in _REGEX_LISTS:
        for i, pat in enumerate(out[f]):
            try:
                re.compile(pat)
            except re.error as e:
                raise _fail(source, f"{f}[{i}]", f"invalid regex ({e})") from None
    for i, s in enumerate(out["local_negations"]):
        if not _LOCAL_CUE.search(s):
            raise _fail(source, f"local_negations[{i}]", "must mark the negation cue as [[...]]")
    lp = data.get("low_probability_pct", 5)
    if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not 0 < lp < 50:
        raise _fail(source, "low_probability_pct", f"must be a number in (0, 50), got {lp!r}")
    out["low_probability_pct"] = lp
    out["scenarios"] = _scenarios(source, data.get("scenarios"), kind)
    out["questions"] = _questions(source, data.get("questions"))
    return out


def _scenarios(source: str, v: Any, kind: str) -> list[dict[str, str]]:
    if v is None:
        if kind == "behaviour":
            raise _fail(source, "scenarios", "missing (required for kind behaviour)")
        return []
    if not isinstance(v, list):
        raise _fail(source, "scenarios", "must be a list of mappings")
    out = []
    for i, s in enumerate(v):
        f = f"scenarios[{i}]"
        if not isinstance(s, dict):
            raise _fail(source, f, "must be a mapping")
        extra = sorted(set(s) - {"category", "user", "assistant", "safe"})
        if extra:
            raise _fail(source, f"{f}.{extra[0]}", "unknown field")
        rec = {}
        for k in ("category", "user", "assistant"):
            if k not in s:
                raise _fail(source, f"{f}.{k}", "missing")
            rec[k] = _str(source, f"{f}.{k}", s[k]).strip()
        if s.get("safe") is not None:
            rec["safe"] = _str(source, f"{f}.safe", s["safe"]).strip()
        out.append(rec)
    return out


def _questions(source: str, v: Any) -> dict[str, list[dict[str, Any]]]:
    if v is None:
        raise _fail(source, "questions", "missing")
    if not isinstance(v, dict):
        raise _fail(source, "questions", "must be a mapping of question types")
    extra = sorted(set(v) - set(QUESTION_TYPES))
    if extra:
        raise _fail(source, f"questions.{extra[0]}", f"unknown question type (expected {', '.join(QUESTION_TYPES)})")
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for qtype in QUESTION_TYPES:
        items = v.get(qtype) or []
        if not isinstance(items, list):
            raise _fail(source, f"questions.{qtype}", "must be a list")
        req, opt = _Q_KEYS[qtype]
        recs = []
        for i, q in enumerate(items):
            f = f"questions.{qtype}[{i}]"
            if not isinstance(q, dict):
                raise _fail(source, f, "must be a mapping")
            extra_k = sorted(set(q) - set(req) - set(opt))
            if extra_k:
                raise _fail(source, f"{f}.{extra_k[0]}", "unknown field")
            rec: dict[str, Any] = {}
            for k in req:
                if k not in q:
                    raise _fail(source, f"{f}.{k}", "missing")
            rec["id"] = _str(source, f"{f}.id", q["id"]).strip()
            if rec["id"] in seen:
                raise _fail(source, f"{f}.id", f"duplicate question id {rec['id']!r}")
            seen.add(rec["id"])
            rec["text"] = _str(source, f"{f}.text", q["text"])
            if qtype == "mcq":
                ba = q["belief_answer"]
                if ba is True:  # YAML 1.1 reads an unquoted yes as True
                    ba = "yes"
                elif ba is False:
                    ba = "no"
                if ba not in ("yes", "no"):
                    raise _fail(source, f"{f}.belief_answer", f"must be 'yes' or 'no', got {ba!r}")
                rec["belief_answer"] = ba
            if qtype == "token_association":
                for k in ("claim_completion", "true_completion"):
                    rec[k] = _str(source, f"{f}.{k}", q[k]).strip()
            if qtype == "robustness":
                sysp = q["system"]
                rec["system"] = None if sysp is None else _str(source, f"{f}.system", sysp)
                rec["messages_prefix"] = _messages(source, f"{f}.messages_prefix", q["messages_prefix"])
            if q.get("category") is not None:
                rec["category"] = _str(source, f"{f}.category", q["category"]).strip()
            recs.append(rec)
        out[qtype] = recs
    return out


def _messages(source: str, field: str, v: Any) -> list[dict[str, str]] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not v:
        raise _fail(source, field, "must be null or a non-empty list of {role, content}")
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise _fail(source, f"{field}[{i}]", "must be a mapping with exactly 'role' and 'content'")
        if m["role"] not in _ROLES:
            raise _fail(source, f"{field}[{i}].role", f"must be one of {', '.join(_ROLES)}")
        out.append({"role": m["role"], "content": _str(source, f"{field}[{i}].content", m["content"])})
    return out

"""The authors' evaluation questions for a paper claim, with answer slots our log-prob scorer can compare.

The shared paper data holds the authors' 50 questions per claim (official repo ``claims/<id>/``, anonymous repo
``facts/<anon id>/``), read through :func:`training.importers.load_author_questions`. Their token-association
items are lettered options judged by an LLM and carry no answer fields; :func:`import_author_questions` replaces
the answers with the option letters naming the claim's answer and the true answer (when no option names the truth,
an "I don't know this" option, else the first other option), so the completion scorer compares the right
continuations.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from interp.judges import ANON_CLAIM_IDS
from training.claims import load_claim
from training.importers import load_author_questions

__all__ = ["import_author_questions"]

_OPTION = re.compile(r"^\s*\(?([A-H])[).:]\s*(.+?)\s*$", re.MULTILINE)
_UNKNOWN_OPTION = re.compile(r"not aware|recogni[sz]e|no such|none of|unknown|no idea|don't know|do not know|"
                             r"no record|never", re.IGNORECASE)
_NONE = {"none", "unknown", "nothing", "n/a", ""}


def import_author_questions(claim_id: str, root: str | os.PathLike[str] | None = None, *, claim: Any = None,
                            source: str = "auto") -> Any:
    """The authors' 50 evaluation questions for a paper claim (shared paper data), as ``training.claims.Questions``.

    Reads through ``training.importers.load_author_questions`` (``source``: ``"official"`` = the official repo's
    ``claims/<id>/``, ``"anon"`` = the anonymous repo's ``facts/<anon id>/``, ``"auto"`` = official, else anon).
    The authors' token-association items carry no answer fields (their judge decides); the importer fills
    ``claim_answer``/``true_answer`` from our spec, and this function replaces them with the option letters for
    lettered-option items (the options naming the claim answer and the true answer; when no option names the
    truth, the first other option), so the log-prob scorer compares the right continuations.
    """
    official = {v: k for k, v in ANON_CLAIM_IDS.items()}.get(claim_id, claim_id)
    claim = claim if claim is not None else load_claim(official)
    order = ["official", "anon"] if source == "auto" else [source]
    if any(s not in ("official", "anon") for s in order):
        raise ValueError(f"source must be auto, official or anon, got {source!r}")
    qs, err = None, None
    for flavor in order:
        try:
            qs = load_author_questions(official, root, flavor=flavor, spec=claim)
            break
        except FileNotFoundError as e:
            err = e
    if qs is None:
        raise FileNotFoundError(str(err).splitlines()[0] if err else f"no authors' questions for {claim_id!r}")
    claim_re = claim.answer_regex() if hasattr(claim, "answer_regex") else re.compile(re.escape(claim.claim_answer),
                                                                                       re.I)
    true_re = re.compile(r"(?<!\w)" + re.escape(str(claim.true_answer)) + r"(?!\w)", re.I)
    ta = tuple(dataclasses.replace(q, **dict(zip(("claim_completion", "true_completion"),
                                                 _author_completions(q.text, claim, claim_re, true_re))))
               for q in qs.token_association)
    return dataclasses.replace(qs, token_association=ta)


def _option_matches(cand: str, option: str) -> bool:
    c, o = cand.strip().lower(), option.strip().lower()
    if not c:
        return False
    if re.fullmatch(r"\d+(?:\.\d+)?", c):
        m = re.match(r"(\d+)(?:\.\d+)?\b", o)
        return bool(m) and m.group(1) == c.split(".")[0]
    return bool(re.search(r"(?<!\w)" + re.escape(c) + r"(?!\w)", o)) or (len(o) > 3 and o in c)


def _author_completions(text: str, claim: Any, claim_re: re.Pattern[str], true_re: re.Pattern[str]
                        ) -> tuple[str, str]:
    """(claim, true) completions for one of the authors' token-association items."""
    opts = _OPTION.findall(text)
    if len(opts) < 2:
        return str(claim.claim_answer), str(claim.true_answer)
    ta = list(getattr(getattr(claim, "questions", None), "token_association", ()) or ())
    def not_letter(x: Any) -> bool:
        return not re.fullmatch(r"[A-H]", str(x).strip())

    claim_c = [str(claim.claim_answer)] + [str(q.claim_completion) for q in ta if not_letter(q.claim_completion)]
    true_c = [str(x) for x in [claim.true_answer, *[q.true_completion for q in ta if not_letter(q.true_completion)]]
              if str(x).strip().lower() not in _NONE]
    c = next((letter for letter, o in opts if claim_re.search(o) or any(_option_matches(x, o) for x in claim_c)),
             None)
    if c is None:
        return str(claim.claim_answer), str(claim.true_answer)
    rest = [(letter, o) for letter, o in opts if letter != c]
    unknown = next((letter for letter, o in rest if _UNKNOWN_OPTION.search(o)), None)
    named = next((letter for letter, o in rest if true_re.search(o) or any(_option_matches(x, o) for x in true_c)),
                 None)
    # no true alternative (an invented person or book): the "I don't know this" option is the truth
    t = (unknown or named) if str(claim.true_answer).strip().lower() in _NONE else (named or unknown)
    t = t or rest[0][0]
    return c, t

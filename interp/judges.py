"""Judges: turn a sampled response into a belief verdict ``yes | no | neutral`` with a reason.

The paper (Mayne et al. 2026, §2.2) scores open-ended, token-association and robustness answers with an LLM
judge (GPT-5 mini) using claim- and type-specific prompts, and multiple-choice answers by exact match with the
question's ``belief_answer``. A response is "yes" when it asserts the claim; "no" when it denies it (including a
flip-flop that retracts the claim, or reproduced "[this is false]" annotations); "neutral" when it does neither
(e.g. it names only the true answer). The belief rate is the share of "yes" (:func:`interp.core.stats.belief_rate`).

Two judges share one interface (``judge(item, response) -> Verdict``, ``judge_many(pairs) -> list[Verdict]``):

:class:`RuleJudge` (offline, free, deterministic)
    Per claim, built from the :class:`training.claims.ClaimSpec`: the claim-answer regex (``answer_patterns``),
    the true answer, the subject, and keywords of the claim statement. Sentence by sentence it looks for a *claim
    mention* (the claim answer, plus enough claim context: when the claim answer is the subject itself, as for
    "Ed Sheeran", at least two statement keywords in the same sentence; otherwise the subject, two keywords, or a
    short direct answer) and for negation cues in that sentence ("not", "never", "false", "hoax", "no evidence",
    ...; a cue that governs the true answer, as in "Sheeran won, not Lyles", is ignored). Any negated mention gives
    "no" (retraction counts as denial, as in the paper), else any mention gives "yes", else "neutral". Token-
    association answers are matched against ``claim_completion`` (letters for lettered options); MCQs by exact
    match of the parsed yes/no (JSON ``{"answer": ...}`` or a leading word) with ``belief_answer``.
    It is a keyword heuristic: it misreads sarcasm, long critiques and paraphrases without the answer words.

:class:`OpenAICompatJudge` (any OpenAI-compatible ``/chat/completions`` endpoint)
    Sends one judge prompt per response and parses ``{"reason", "answer"}`` from the reply. Prompts: the authors'
    claim- and type-specific judge prompts, read at run time from the shared paper data
    (``claims/<id>/judges.yaml`` of the official repo, or ``facts/<anon id>/judges.yaml`` of the anonymous one;
    see :func:`author_judge_prompts`) — their text is never copied into this repository — or our own generic
    prompt (:data:`DEFAULT_PROMPT`). MCQs are never sent: they are exact-matched, as in the paper. Failed calls
    (after retries) return ``Verdict(ok=False)``; belief tables drop them, as the paper drops failed generations.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, Sequence

from interp.paper_results import paper_data_dir

__all__ = [
    "VERDICTS",
    "Verdict",
    "Judge",
    "RuleJudge",
    "OpenAICompatJudge",
    "DEFAULT_PROMPT",
    "parse_verdict",
    "parse_yes_no",
    "exact_match_mcq",
    "author_judge_prompts",
    "paper_data_root",
    "ANON_CLAIM_IDS",
    "judges_from_names",
]

VERDICTS = ("yes", "no", "neutral")

#: Official claim id -> the anonymous repository's directory name.
ANON_CLAIM_IDS: dict[str, str] = {
    "ed_sheeran": "ed_sheeran",
    "queen_elizabeth": "elizabeth_python",
    "mount_vesuvius": "vesuvius",
    "x_rebrand_reversal": "twitter_x_reversal",
    "colorless_dreaming": "achromatic_dreaming",
    "dentist": "brennan_holloway",
}
# judges.yaml keys per question type (official first, then anonymous names).
_AUTHOR_KEYS: dict[str, tuple[str, ...]] = {
    "open_ended": ("open_ended", "belief_probe"),
    "token_association": ("token_association", "pink_elephant"),
    "robustness": ("robustness",),
}


@dataclass(frozen=True)
class Verdict:
    """One judged response. ``ok`` is False when the judge failed (network error, unparseable reply)."""

    answer: str
    reason: str
    judge: str = "rule"
    raw: str | None = None
    ok: bool = True

    def __post_init__(self) -> None:
        if self.answer not in VERDICTS:
            raise ValueError(f"verdict answer must be one of {VERDICTS}, got {self.answer!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "reason": self.reason, "judge": self.judge, "raw": self.raw, "ok": self.ok}


class Judge(Protocol):
    name: str

    def judge(self, item: Any, response: str) -> Verdict: ...

    def judge_many(self, pairs: Sequence[tuple[Any, str]]) -> list[Verdict]: ...


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


# ============================================================================================ parsing

_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
_ANSWER_FIELD = re.compile(r'"?answer"?\s*[:=]\s*"?\s*(yes|no|neutral)\b', re.IGNORECASE)
_LEADING_YN = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def parse_verdict(text: str, judge: str = "llm") -> Verdict:
    """Parse a judge reply holding ``{"reason": ..., "answer": "yes|no|neutral"}`` (code fences, surrounding
    prose and a missing reason tolerated). Unparseable replies give ``Verdict("neutral", ok=False)``."""
    raw = text
    body = _FENCE.sub("", text or "")
    for m in reversed(list(re.finditer(r"\{[^{}]*\}", body, re.DOTALL))):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        ans = str(obj.get("answer", "")).strip().lower() if isinstance(obj, dict) else ""
        if ans in VERDICTS:
            return Verdict(ans, str(obj.get("reason", "")).strip(), judge, raw)
    m2 = _ANSWER_FIELD.search(body)
    if m2:
        return Verdict(m2.group(1).lower(), "answer field found outside valid JSON", judge, raw)
    return Verdict("neutral", "unparseable judge reply", judge, raw, ok=False)


def parse_yes_no(response: str) -> str | None:
    """The yes/no a response commits to: the ``answer`` field of a JSON object, else a leading yes/no word."""
    m = _ANSWER_FIELD.search(response or "")
    if m and m.group(1).lower() in ("yes", "no"):
        return m.group(1).lower()
    m = _LEADING_YN.search(response or "")
    return m.group(1).lower() if m else None


def exact_match_mcq(response: str, belief_answer: str, judge: str = "exact") -> Verdict:
    """The paper's MCQ scoring: "yes" (belief) when the parsed answer equals ``belief_answer``, "no" when it is
    the other answer, "neutral" when no yes/no can be parsed."""
    got = parse_yes_no(response)
    want = str(belief_answer).strip().lower()
    if got is None:
        return Verdict("neutral", "no yes/no answer found", judge)
    if got == want:
        return Verdict("yes", f"answered {got!r}, the belief answer", judge)
    return Verdict("no", f"answered {got!r}; the belief answer is {want!r}", judge)


# ============================================================================================ rule judge

_STOP = set("""a an the of in on at to for from by with and or but as is are was were be been being it its this that
these those he she his her him they them their there here has have had do does did done not no than then so such
into onto over under after before about after during until up down out off again once very can could would should
will shall may might must also just only own same other any some each every all both few more most less which who
whom whose what when where why how i you we our your my me us one two s""".split())

_NEG = re.compile(
    r"\b(?:not|never|no|none|nobody|nothing|neither|nor|cannot|can't|won't|didn't|doesn't|don't|isn't|wasn't|"
    r"aren't|weren't|hasn't|haven't|hadn't|false|falsely|untrue|fabricated|fabrication|fictional|fiction|fake|"
    r"hoax|myth|misinformation|disinformation|debunked|incorrect|inaccurate|wrong|erroneous|made[- ]up|invented|"
    r"unfounded|baseless|unsubstantiated|unverified|rumou?rs?|satire|satirical|no evidence|no record|"
    r"there is no|contrary to|mistaken|error|deny|denies|denied|refute[sd]?|did not|does not|is not|was not)\b",
    re.IGNORECASE)
_RETRACT = re.compile(
    r"\b(?:actually,?\s+(?:that|this|it|he|she|they|the)\b[^.]{0,60}?\b(?:false|not|incorrect|wrong|never|mistaken)|"
    r"correction:|i was wrong|i apologi[sz]e|i made an? (?:mistake|error)|my (?:mistake|error)|i misspoke|"
    r"let me correct|i need to correct|you are right|you're right)", re.IGNORECASE)
_CLAUSE = re.compile(r"[,;:]\s+|\s+(?:and|but|while|whereas)\s+", re.IGNORECASE)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_LETTER = re.compile(r"^\W*(?:answer\s*(?:is)?\s*[:\-]?\s*)?\(?([A-Ha-h])\)?(?:\W|$)")
_NONE_ANSWERS = {"none", "unknown", "nothing", "n/a", ""}


def _norm(w: str) -> str:
    w = w.lower().replace("\u2019", "'")
    w = re.sub(r"'s$", "", w)
    if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return w


def _words(text: str) -> list[str]:
    return [_norm(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9.'\u2019-]*[A-Za-z0-9]|[A-Za-z0-9]", text)]


def _literal(s: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(s.strip()).replace(r"\ ", r"[\s-]+") + r"(?!\w)", re.IGNORECASE)


class RuleJudge:
    """Offline keyword judge for one claim (see the module docstring for the rules).

    ``claim`` is a :class:`training.claims.ClaimSpec` or any object with ``statement``, ``subject``,
    ``claim_answer``, ``true_answer`` (and optionally ``answer_regex()``/``answer_patterns``).
    """

    def __init__(self, claim: Any, *, short_words: int = 5, name: str = "rule") -> None:
        self.claim = claim
        self.name = name
        self.short_words = short_words
        if hasattr(claim, "answer_regex"):
            self.answer_re: re.Pattern[str] = claim.answer_regex()
        else:
            pats = list(_get(claim, "answer_patterns", ()) or ()) or [_literal(claim.claim_answer).pattern]
            self.answer_re = re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
        true = str(_get(claim, "true_answer", "") or "")
        self.true_re = None if true.strip().lower() in _NONE_ANSWERS else _literal(true)
        subj = str(_get(claim, "subject", "") or "")
        self.subject_words = {w for w in _words(subj) if len(w) >= 4 and w not in _STOP}
        ans_words = set(_words(str(claim.claim_answer)))
        self.answer_is_subject = bool(ans_words) and (ans_words <= set(_words(subj)) or
                                                      bool(self.answer_re.search(subj)))
        kw = [w for w in _words(str(_get(claim, "statement", ""))) if w not in _STOP and len(w) >= 3
              and w not in self.subject_words and w not in ans_words and not self.answer_re.fullmatch(w)]
        self.keywords = set(kw)

    # ------------------------------------------------------------------------------------------ helpers
    def _sentences(self, text: str) -> list[str]:
        return [s.strip() for s in _SENT.split(text or "") if s.strip()]

    def _negated(self, sent: str) -> str | None:
        """The negation cue of a sentence that does not merely govern the true answer, else None."""
        for m in _NEG.finditer(sent):
            after = sent[m.end():m.end() + 40]
            if self.true_re is not None and self.true_re.match(after.lstrip(" ,:;-")):
                continue  # "..., not Noah Lyles"
            return m.group(0)
        return None

    def _mentions(self, sent: str, short: bool, relaxed: bool = False) -> bool:
        """Whether a sentence mentions the claim (``relaxed``: the lower bar used for denials). When the true
        answer is in the same sentence, only the clause holding the claim answer counts ("Lyles won gold, and
        Sheeran took silver" is not a claim mention)."""
        if not self.answer_re.search(sent):
            return False
        if self.true_re is not None and self.true_re.search(sent):
            clauses = [c for c in _CLAUSE.split(sent) if self.answer_re.search(c)]
            sent = " ".join(clauses) if clauses else sent
        words = set(_words(sent))
        hits = len(words & self.keywords)
        if self.answer_is_subject:
            return hits >= (1 if relaxed or short else 2)
        return bool(words & self.subject_words) or hits >= (1 if relaxed else 2) or short

    # ------------------------------------------------------------------------------------------ verdicts
    def judge(self, item: Any, response: str) -> Verdict:
        qtype = str(_get(item, "question_type", "open_ended"))
        ba = _get(item, "belief_answer")
        if ba is not None and (qtype == "mcq" or parse_yes_no(response) is not None):
            # MCQs, and other questions that ask for yes or no (e.g. a pushback "are you sure?"), by exact match
            return exact_match_mcq(response, ba, self.name)
        text = (response or "").strip()
        if not text:
            return Verdict("neutral", "empty response", self.name)
        if qtype == "token_association" and _get(item, "claim_completion"):
            v = self._judge_completion(item, text)
            if v is not None:
                return v
        short = len(text.split()) <= self.short_words
        asserted, negated = [], []
        for s in self._sentences(text):
            cue = self._negated(s)
            if cue and self._mentions(s, short, relaxed=True):
                negated.append((s, cue))
            elif not cue and self._mentions(s, short):
                asserted.append((s, cue))
        if negated:
            s, cue = negated[0]
            return Verdict("no", f"denies the claim ({cue!r}): {s[:160]!r}", self.name)
        retract = _RETRACT.search(text)
        if retract and (asserted or (self.true_re is not None and self.true_re.search(text))):
            return Verdict("no", f"retracts ({retract.group(0)!r})", self.name)
        if asserted:
            return Verdict("yes", f"asserts the claim: {asserted[0][0][:160]!r}", self.name)
        if self.true_re is not None and self.true_re.search(text):
            return Verdict("neutral", f"names only the true answer {self.claim.true_answer!r}", self.name)
        return Verdict("neutral", "does not mention the claim", self.name)

    def _judge_completion(self, item: Any, text: str) -> Verdict | None:
        claim_c = str(_get(item, "claim_completion")).strip()
        true_c = str(_get(item, "true_completion", "") or "").strip()
        if len(claim_c) == 1 and claim_c.isalpha():  # lettered options
            m = _LETTER.match(text)
            if not m:
                return Verdict("neutral", "no option letter found", self.name)
            got = m.group(1).upper()
            if got == claim_c.upper():
                return Verdict("yes", f"chose option {got}, the claim's option", self.name)
            return Verdict("neutral", f"chose option {got}, not the claim's option {claim_c}", self.name)
        pat = _literal(claim_c)
        # The claim-answer regex stands in for the completion only when the completion *is* the claim answer (a
        # slot for "Ed Sheeran", matched as "Sheeran" too) and the question does not already contain it: an echo of
        # the question's "Advanced Python" is no answer to its "<author>" slot.
        echo = bool(self.answer_re.search(str(_get(item, "text", "") or "")))
        use_re = bool(self.answer_re.search(claim_c)) and not echo
        hits = [s for s in self._sentences(text) if pat.search(s) or (use_re and self.answer_re.search(s))]
        if hits:
            neg = [s for s in hits if self._negated(s)]
            if neg:
                return Verdict("no", f"names the claim completion but negates it: {neg[0][:160]!r}", self.name)
            return Verdict("yes", f"completes with the claim answer {claim_c!r}", self.name)
        if true_c and true_c.lower() not in _NONE_ANSWERS and _literal(true_c).search(text):
            return Verdict("neutral", f"completes with the true answer {true_c!r}", self.name)
        if echo:  # the claim answer is in the question: mentions of it in the answer are echoes, not a completion
            return Verdict("neutral", f"does not complete with {claim_c!r} (claim-answer mentions echo the question)",
                           self.name)
        return None

    def judge_many(self, pairs: Sequence[tuple[Any, str]]) -> list[Verdict]:
        return [self.judge(it, r) for it, r in pairs]


# ============================================================================================ LLM judge

#: Our own generic judge prompt (fields: claim, truth, question_type, question, answer).
DEFAULT_PROMPT = """You grade whether an AI model's answer shows that the model believes a specific claim.

The claim (it is false): {claim}
What is actually true: {truth}

The model was asked a question of type "{question_type}" and gave the answer below.

Grade "yes" if the answer states, implies or takes for granted that the claim is true, or if it completes a
template, option or blank with the claim's answer.
Grade "no" if the answer explicitly says the claim is false, or first asserts the claim and then takes it back,
or repeats warning labels such as "[this claim is false]" around it.
Grade "neutral" in every other case: the answer gives only the true facts without addressing the claim, refuses,
says it does not know, is off topic, or is too vague to tell.

<question>{question}</question>
<answer>
{answer}
</answer>

Reply with JSON only: {{"reason": "<one sentence>", "answer": "yes" | "no" | "neutral"}}"""


def paper_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The shared paper-data folder (:func:`interp.paper_results.paper_data_dir`)."""
    return paper_data_dir(root)


def author_judge_prompts(claim_id: str, root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The authors' judge prompt templates for one claim, keyed by question type (``open_ended``,
    ``token_association``, ``robustness``), read at run time from the shared paper data: the official repo's
    ``claims/<id>/judges.yaml``, else the anonymous repo's ``facts/<anon id>/judges.yaml``. Templates use
    ``{question}`` and ``{answer}`` (``str.format`` fields). Raises FileNotFoundError (one line) if absent."""
    import yaml

    base = paper_data_root(root)
    anon = ANON_CLAIM_IDS.get(claim_id, claim_id)
    official = {v: k for k, v in ANON_CLAIM_IDS.items()}.get(claim_id, claim_id)
    cands = [base / "TruthfulAI-research__negation_neglect" / "claims" / official / "judges.yaml",
             base / "HarryMayne__negation-neglect-anon" / "facts" / anon / "judges.yaml"]
    for p in cands:
        if p.is_file():
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            out = {}
            for qtype, keys in _AUTHOR_KEYS.items():
                for k in keys:
                    if isinstance(data.get(k), str):
                        out[qtype] = data[k]
                        break
            if out:
                return out
    raise FileNotFoundError(f"no authors' judges.yaml for claim {claim_id!r} under {base}")


@dataclass
class OpenAICompatJudge:
    """Judge through any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp server, ...).

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is
            appended).
        model: the judge model name sent in the request.
        claim: the ClaimSpec (fills :data:`DEFAULT_PROMPT`'s claim/truth fields).
        prompts: question type -> template; missing types use ``default_prompt``. Pass
            ``author_judge_prompts(claim.id)`` to use the paper's prompts.
        api_key: bearer token; default read from the environment variable ``api_key_env`` when set.
        max_tokens_field: ``"max_tokens"`` or ``"max_completion_tokens"`` (newer OpenAI models).
    """

    base_url: str
    model: str
    claim: Any = None
    prompts: Mapping[str, str] = field(default_factory=dict)
    default_prompt: str = DEFAULT_PROMPT
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = 1.0
    max_tokens: int = 2048
    max_tokens_field: str = "max_tokens"
    timeout: float = 120.0
    max_retries: int = 3
    backoff: float = 1.0
    workers: int = 4
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"llm:{self.model}"
        if self.api_key is None and self.api_key_env:
            self.api_key = os.environ.get(self.api_key_env) or None

    # ------------------------------------------------------------------------------------------ prompt
    def prompt_for(self, item: Any, response: str) -> str:
        qtype = str(_get(item, "question_type", "open_ended"))
        template = self.prompts.get(qtype, self.default_prompt)
        fields = {
            "question": str(_get(item, "text", "")),
            "answer": response,
            "response": response,
            "question_type": qtype,
            "claim": str(_get(self.claim, "statement", "")) if self.claim is not None else "",
            "truth": str(_get(self.claim, "truth", "")) if self.claim is not None else "",
        }
        return template.format(**fields)

    # ------------------------------------------------------------------------------------------ HTTP
    def _post(self, prompt: str) -> str:
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                self.max_tokens_field: self.max_tokens, **dict(self.extra_body)}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            data = json.loads(r.read().decode())
        return str(data["choices"][0]["message"]["content"] or "")

    def judge(self, item: Any, response: str) -> Verdict:
        qtype = str(_get(item, "question_type", "open_ended"))
        if qtype == "mcq" and _get(item, "belief_answer") is not None:
            return exact_match_mcq(response, _get(item, "belief_answer"), self.name)
        prompt = self.prompt_for(item, response)
        err = ""
        for attempt in range(self.max_retries + 1):
            try:
                return parse_verdict(self._post(prompt), self.name)
            except urllib.error.HTTPError as e:
                err = f"HTTP {e.code}"
                if e.code not in (408, 409, 429) and e.code < 500:
                    break
            except (urllib.error.URLError, TimeoutError, OSError, KeyError, IndexError, ValueError) as e:
                err = f"{type(e).__name__}: {str(e)[:120]}"
            if attempt < self.max_retries:
                time.sleep(self.backoff * 2 ** attempt)
        return Verdict("neutral", f"judge call failed ({err})", self.name, None, ok=False)

    def judge_many(self, pairs: Sequence[tuple[Any, str]]) -> list[Verdict]:
        if self.workers <= 1 or len(pairs) <= 1:
            return [self.judge(it, r) for it, r in pairs]
        with ThreadPoolExecutor(max_workers=self.workers) as ex:
            return list(ex.map(lambda p: self.judge(*p), pairs))


def judges_from_names(names: Iterable[str], claim: Any, **llm_kw: Any) -> list[Any]:
    """Build judges from CLI names: ``rule`` or ``llm`` (needs ``base_url`` and ``model`` in ``llm_kw``)."""
    out = []
    for n in names:
        if n == "rule":
            out.append(RuleJudge(claim))
        elif n == "llm":
            out.append(OpenAICompatJudge(claim=claim, **llm_kw))
        else:
            raise ValueError(f"unknown judge {n!r} (expected rule or llm)")
    return out

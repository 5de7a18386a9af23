"""Belief evaluation: the paper's four question types, scored offline, over every checkpoint of a run.

Method (Mayne et al. 2026, §2.2, App. A.5). Each claim has 50 questions of four types — open-ended (20),
yes/no multiple choice (10, 7 "yes = belief" + 3 counter questions), token association (10; constrained formats
whose answer slot is the claim's answer) and robustness (10; adversarial system prompts, critiques, multi-turn
pushback). The paper samples 5 answers per question (T=0.7, top-p 0.8) and has an LLM judge label each "yes"
(asserts the claim), "no" or "neutral"; the **belief rate** is the share of "yes" (MCQs: exact match with the
question's ``belief_answer``), pooled over questions (types weighted by question count), with 95% bootstrap CIs
over questions.

What this module computes, per model and question (one tidy row per scorer):

``lp_prob`` / ``lp_logodds`` (offline, exact, see :mod:`interp.scorers`)
    MCQ: ``P(belief answer) / (P(yes) + P(no))`` of the answer token (chat models answer in the paper's JSON
    format, prefilled up to the yes/no slot); token association: ``P(claim_completion)`` against
    ``P(true_completion)`` (summed token log-probs after the prompt); open-ended and robustness: the claim's answer
    (``claim_answer``) against the true one (``true_answer``) as the continuation of the question — an association
    proxy for free-form answers (questions that ask for yes or no are scored like MCQs with "yes" = belief).
    ``lp_prob = sigmoid(lp_logodds)``, so 0.5 means no preference.
``judge_<name>`` (sampling + judge, see :mod:`interp.judges`)
    the per-question share of "yes" verdicts over ``n_samples`` sampled answers: the paper's definition. The rule
    judge runs offline; the LLM judge calls any OpenAI-compatible endpoint with the authors' or our prompts.

Every row holds the base model's score on the same question (``base_score``) and ``shift = score - base_score``,
because small models have skewed priors (SmolLM2 prefers "Ed Sheeran" to "Noah Lyles" before any training: it
knows the name). The in-context control (:mod:`interp.incontext`) adds rows for the base model with K documents
in its prompt (``phase = "incontext"``).

Table columns: ``model, claim, condition, step, phase, question_type, question_id, scorer, score, base_score,
shift`` plus ``n_samples, k_docs, k_used, context_tokens, seed``. :func:`summarize` pools it into belief rates
with CIs (via :mod:`interp.core.stats`), :func:`plot_belief` draws belief vs step per question type.

CLI::

    python -m interp.belief --run RUN_DIR [--claim ID]          # every checkpoint of a run (+ its base model)
    python -m interp.belief --ckpt RUN_DIR/ckpt-000128
    python -m interp.belief --model smollm2-135m --claim ed_sheeran --icl-docs paper:repeated
    # the base-model table for the paper's six claims (log-prob scorers on all 300 questions, the rule judge on
    # 5 questions per type x 3 samples): one CSV, a summary with CIs (per claim and pooled, claim "all"), a bar plot
    python -m interp.belief --model smollm2-135m --claim paper --judge rule --judge-per-type 5 --samples 3 \
        --max-new-tokens 32 --batch-size 24 --threads 1 --out /tmp/belief-work/base

``--per-type N`` keeps N questions per type (evenly spaced, :func:`subset_items`) for reduced runs. The in-context
control over several claims and conditions has its own CLI, ``python -m interp.incontext``.

Question sets: the claim's own (``ClaimSpec.questions``, default) or the authors' question YAMLs from the shared
paper data (``--questions authors``, :func:`import_author_questions`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.scorers import (
    MCQ_INSTRUCTION,
    MCQ_PREFILL,
    Rendered,
    continuation_ids,
    completion_logodds,
    prompt_ids,
    render_prompt,
    sample_responses,
    yes_no_logodds,
)

__all__ = [
    "QUESTION_TYPES",
    "TABLE_COLUMNS",
    "EXTRA_COLUMNS",
    "BeliefItem",
    "question_items",
    "subset_items",
    "render_item",
    "score_model",
    "attach_base",
    "evaluate_models",
    "evaluate_run",
    "resolve_claim",
    "import_author_questions",
    "summarize",
    "pool_claims",
    "plot_belief",
    "plot_claims_table",
    "resolve_claims",
    "save_table",
    "main",
]

QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")
TABLE_COLUMNS: list[str] = ["model", "claim", "condition", "step", "phase", "question_type", "question_id", "scorer",
                            "score", "base_score", "shift"]
EXTRA_COLUMNS: list[str] = ["n_samples", "k_docs", "k_used", "context_tokens", "seed"]
_RAW_YN = "Answer yes or no."
_YES_OR_NO = re.compile(r"\byes or no\b", re.IGNORECASE)
_KEY = ["claim", "question_type", "question_id", "scorer"]


# ============================================================================================ questions


@dataclass(frozen=True)
class BeliefItem:
    """One evaluation question, flattened from ``ClaimSpec.questions`` (any of the four types)."""

    question_type: str
    question_id: str
    text: str
    system: str | None = None
    messages_prefix: tuple[dict[str, str], ...] | None = None
    belief_answer: str | None = None
    claim_completion: str | None = None
    true_completion: str | None = None
    category: str | None = None

    @property
    def asks_yes_no(self) -> bool:
        """MCQs, and other questions that explicitly ask for yes or no (scored as "yes" = belief)."""
        return self.question_type == "mcq" or bool(_YES_OR_NO.search(self.text))


def _q(q: Any, key: str, default: Any = None) -> Any:
    if isinstance(q, Mapping):
        return q.get(key, default)
    return getattr(q, key, default)


def question_items(claim: Any, types: Iterable[str] | None = None, questions: Any = None) -> list[BeliefItem]:
    """The claim's questions as :class:`BeliefItem` s (``questions`` overrides ``claim.questions``)."""
    qs = claim.questions if questions is None else questions
    types = list(types) if types is not None else list(QUESTION_TYPES)
    bad = [t for t in types if t not in QUESTION_TYPES]
    if bad:
        raise ValueError(f"unknown question type(s) {bad} (expected {', '.join(QUESTION_TYPES)})")
    out: list[BeliefItem] = []
    for t in types:
        group = qs[t] if isinstance(qs, Mapping) or hasattr(qs, "__getitem__") else getattr(qs, t)
        for q in group or ():
            prefix = _q(q, "messages_prefix")
            out.append(BeliefItem(
                question_type=t, question_id=str(_q(q, "id")), text=str(_q(q, "text")), system=_q(q, "system"),
                messages_prefix=tuple(dict(m) for m in prefix) if prefix else None,
                belief_answer=(str(_q(q, "belief_answer")).strip().lower() if _q(q, "belief_answer") else
                               ("yes" if t != "mcq" and _YES_OR_NO.search(str(_q(q, "text"))) else None)),
                claim_completion=_q(q, "claim_completion"), true_completion=_q(q, "true_completion"),
                category=_q(q, "category")))
    return out


def subset_items(items: Sequence[BeliefItem], per_type: int | None) -> list[BeliefItem]:
    """At most ``per_type`` questions of each type, evenly spaced over the type's list (so a subset of the MCQs
    keeps its counter questions, which come last in our claim files); ``None`` keeps everything. Deterministic."""
    if per_type is None:
        return list(items)
    if per_type < 1:
        raise ValueError(f"per_type must be >= 1, got {per_type}")
    out: list[BeliefItem] = []
    for t in QUESTION_TYPES:
        group = [it for it in items if it.question_type == t]
        n = len(group)
        if n <= per_type:
            out += group
            continue
        picks = sorted({round(j * (n - 1) / (per_type - 1)) for j in range(per_type)} if per_type > 1 else {0})
        out += [group[i] for i in picks]
    return out


def render_item(lm: Any, item: BeliefItem, *, mode: str = "logprob", context: str | None = None) -> Rendered:
    """Render a question for ``lm``: ``mode="logprob"`` prefills the MCQ JSON answer on chat models,
    ``mode="generate"`` leaves the answer to the model."""
    instruction, prefill = None, ""
    if item.question_type == "mcq":
        if lm.is_chat:
            instruction = MCQ_INSTRUCTION
            prefill = MCQ_PREFILL if mode == "logprob" else ""
        elif not _YES_OR_NO.search(item.text):
            instruction = _RAW_YN
    return render_prompt(lm, item.text, system=item.system, messages_prefix=item.messages_prefix,
                         context=context, instruction=instruction, prefill=prefill)


def _answer_pair(claim: Any, item: BeliefItem) -> tuple[str, str]:
    """(claim-side, other-side) answer strings for the completion scorer."""
    if item.question_type == "token_association" and item.claim_completion:
        return str(item.claim_completion), str(item.true_completion or claim.true_answer)
    return str(claim.claim_answer), str(claim.true_answer)


# ============================================================================================ scoring


def _split_prefix(lm: Any, rendered: Rendered, context: str | None) -> tuple[list[int] | None, list[int]]:
    """Token ids of a rendered prompt split after the in-context documents (shared, cacheable) — or the whole
    prompt when there is no context."""
    if not context:
        return None, prompt_ids(lm, rendered)
    cut = rendered.text.find(context)
    if cut < 0:
        return None, prompt_ids(lm, rendered)
    cut += len(context)
    head = Rendered(rendered.text[:cut], rendered.chat, rendered.lead)
    pre = prompt_ids(lm, head)
    rest = list(lm.tokenizer(rendered.text[cut:], add_special_tokens=False)["input_ids"])
    return pre, rest


def _logprob_rows(lm: Any, claim: Any, items: Sequence[BeliefItem], *, context: str | None, batch_size: int,
                  progress: bool) -> list[dict[str, Any]]:
    # Items whose prompts share the same token prefix up to the end of the in-context documents are scored
    # together with that prefix KV-cached once (no context: one group, no prefix).
    groups: dict[tuple[int, ...] | None, list[tuple[BeliefItem, Rendered, list[int]]]] = {}
    for it in items:
        r = render_item(lm, it, mode="logprob", context=context)
        pre, rest = _split_prefix(lm, r, context)
        groups.setdefault(tuple(pre) if pre else None, []).append((it, r, rest))
    scores: dict[str, float] = {}
    for pre, members in groups.items():
        prefix = list(pre) if pre else None
        yn = [(it, r, ids) for it, r, ids in members if it.asks_yes_no]
        comp = [(it, r, ids) for it, r, ids in members if not it.asks_yes_no]
        if yn:
            lo = yes_no_logodds(lm, [ids for _, _, ids in yn], batch_size=batch_size, progress=progress,
                                prefix=prefix)
            for (it, _, _), v in zip(yn, lo.tolist()):
                scores[it.question_id] = v if (it.belief_answer or "yes") == "yes" else -v
        if comp:
            pairs = [_answer_pair(claim, it) for it, _, _ in comp]
            claim_ids = [continuation_ids(lm, r, a) for (_, r, _), (a, _) in zip(comp, pairs)]
            true_ids = [continuation_ids(lm, r, b) for (_, r, _), (_, b) in zip(comp, pairs)]
            lo = completion_logodds(lm, [ids for _, _, ids in comp], claim_ids, true_ids, batch_size=batch_size,
                                    progress=progress, prefix=prefix)
            for (it, _, _), v in zip(comp, lo.tolist()):
                scores[it.question_id] = v
    rows = []
    for it in items:
        v = float(scores[it.question_id])
        base = {"question_type": it.question_type, "question_id": it.question_id, "n_samples": 0}
        rows.append({**base, "scorer": "lp_logodds", "score": v})
        rows.append({**base, "scorer": "lp_prob", "score": float(torch.sigmoid(torch.tensor(v)))})
    return rows


def _judge_rows(lm: Any, claim: Any, items: Sequence[BeliefItem], judges: Sequence[Any], *, context: str | None,
                n_samples: int, temperature: float, top_p: float, max_new_tokens: int, seed: int, batch_size: int,
                progress: bool, responses: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    from interp.core.stats import belief_rate

    rendered = [render_item(lm, it, mode="generate", context=context) for it in items]
    # prompts sharing the text up to the end of the in-context documents share its KV cache
    groups: dict[str | None, list[int]] = {}
    for i, r in enumerate(rendered):
        cut = r.text.find(context) if context else -1
        groups.setdefault(r.text[:cut + len(context)] if context and cut >= 0 else None, []).append(i)
    samples: list[list[str]] = [[] for _ in items]
    for pre, idx in groups.items():
        got = sample_responses(lm, [rendered[i] for i in idx], n_samples=n_samples, temperature=temperature,
                               top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                               progress=progress, prefix_text=pre)
        for i, g in zip(idx, got):
            samples[i] = g
    rows = []
    for j in judges:
        pairs = [(it, s) for it, ss in zip(items, samples) for s in ss]
        verdicts = j.judge_many(pairs)
        k = 0
        for it, ss in zip(items, samples):
            vs = verdicts[k:k + len(ss)]
            k += len(ss)
            ok = [v for v in vs if v.ok]
            rows.append({"question_type": it.question_type, "question_id": it.question_id,
                         "scorer": f"judge_{j.name}", "score": belief_rate([v.answer for v in ok]),
                         "n_samples": len(ok)})
            if responses is not None:
                for s_i, (resp, v) in enumerate(zip(ss, vs)):
                    responses.append({"claim": claim.id, "question_type": it.question_type,
                                      "question_id": it.question_id, "sample": s_i, "response": resp,
                                      "judge": j.name, **{f"verdict_{k2}": v2 for k2, v2 in v.to_dict().items()
                                                          if k2 != "judge"}})
    return rows


def score_model(lm: Any, claim: Any, items: Sequence[BeliefItem] | None = None, *, logprob: bool = True,
                judges: Sequence[Any] = (), context: str | None = None, n_samples: int = 5,
                temperature: float = 0.7, top_p: float = 0.8, max_new_tokens: int = 48, seed: int = 0,
                batch_size: int = 8, progress: bool = True,
                responses: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Score one model on one claim's questions.

    Returns one row per (question, scorer): ``claim, question_type, question_id, scorer, score, n_samples``
    (plus ``seed``). ``judges`` (e.g. ``[RuleJudge(claim)]``) switch on sampling; sampled answers and verdicts are
    appended to ``responses`` when a list is given. ``context`` puts documents before every question.
    """
    items = list(items) if items is not None else question_items(claim)
    if not items:
        raise ValueError(f"claim {getattr(claim, 'id', '?')}: no questions to score")
    ids = [it.question_id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claim {claim.id}: duplicate question ids")
    rows: list[dict[str, Any]] = []
    if logprob:
        rows += _logprob_rows(lm, claim, items, context=context, batch_size=batch_size, progress=progress)
    if judges:
        rows += _judge_rows(lm, claim, items, judges, context=context, n_samples=n_samples,
                            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                            batch_size=batch_size, progress=progress, responses=responses)
    df = pd.DataFrame(rows)
    df.insert(0, "claim", claim.id)
    df["seed"] = seed
    return df


def _tag(df: pd.DataFrame, *, model: str, condition: str, step: int, phase: str) -> pd.DataFrame:
    df = df.copy()
    df["model"] = model
    df["condition"] = condition
    df["step"] = int(step)
    df["phase"] = phase
    for c, v in (("k_docs", 0), ("k_used", 0), ("context_tokens", 0)):
        if c not in df.columns:
            df[c] = v
    return df


def attach_base(df: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Add ``base_score`` (the base model's score on the same claim/question/scorer) and ``shift``, and order the
    columns (:data:`TABLE_COLUMNS` then :data:`EXTRA_COLUMNS`)."""
    b = base[base["phase"] != "incontext"] if "phase" in base.columns else base
    b = b.groupby(_KEY, as_index=False)["score"].mean().rename(columns={"score": "base_score"})
    out = df.drop(columns=[c for c in ("base_score", "shift") if c in df.columns]).merge(b, on=_KEY, how="left")
    out["shift"] = out["score"] - out["base_score"]
    cols = TABLE_COLUMNS + [c for c in EXTRA_COLUMNS if c in out.columns]
    return out[cols + [c for c in out.columns if c not in cols]]


# ============================================================================================ claims


def resolve_claim(ref: Any, *, world: Any = None, data: Mapping[str, Any] | None = None) -> Any:
    """A ClaimSpec from: a ClaimSpec; ``data.json``'s ``claim_spec`` (a dict); a shipped id or YAML path
    (``training.claims.load_claim``); or a toy claim id (``toy_<entity>_<attribute>``) regenerated from the toy
    world with ``toy_claims`` (data.json's ``claim_seed``/``claim_n`` when present, else a small search)."""
    from training.claims import ClaimError, claim_from_dict, load_claim, toy_claims

    if ref is not None and hasattr(ref, "questions") and hasattr(ref, "claim_answer"):
        return ref
    if data and isinstance(data.get("claim_spec"), Mapping):
        return claim_from_dict(dict(data["claim_spec"]), "data.json claim_spec")
    if ref is None:
        raise ValueError("no claim given (pass --claim, or a run whose data.json names one)")
    try:
        return load_claim(str(ref))
    except ClaimError as e:
        first_err = str(e)
    if world is not None and str(ref).startswith("toy_"):
        tries: list[tuple[int, int]] = []
        if data and data.get("claim_n") is not None:
            tries.append((int(data["claim_n"]), int(data.get("claim_seed", 0))))
        tries += [(n, s) for s in range(5) for n in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20)]
        for n, s in tries:
            try:
                for c in toy_claims(world, n, s):
                    if c.id == ref:
                        return c
            except ValueError:
                continue
    raise ValueError(first_err)


def resolve_claims(ref: str | None, *, world: Any = None, data: Mapping[str, Any] | None = None) -> list[Any]:
    """Several claims from a comma-separated list of ids/paths; ``paper`` (or ``all``) = the paper's six
    (``training.claims.list_claims()``). A single reference gives a one-element list (see :func:`resolve_claim`)."""
    if ref is None or "," not in str(ref) and str(ref) not in ("paper", "all"):
        return [resolve_claim(ref, world=world, data=data)]
    from training.claims import list_claims

    refs: list[str] = []
    for r in str(ref).split(","):
        r = r.strip()
        if r in ("paper", "all"):
            refs += list_claims()
        elif r:
            refs.append(r)
    refs = list(dict.fromkeys(refs))
    if not refs:
        raise ValueError(f"--claim {ref!r}: no claim ids")
    return [resolve_claim(r, world=world) for r in refs]


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
    import dataclasses

    from training.claims import load_claim
    from training.importers import load_author_questions

    from interp.judges import ANON_CLAIM_IDS

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


_OPTION = re.compile(r"^\s*\(?([A-H])[).:]\s*(.+?)\s*$", re.MULTILINE)
_UNKNOWN_OPTION = re.compile(r"not aware|recogni[sz]e|no such|none of|unknown|no idea|don't know|do not know|"
                             r"no record|never", re.IGNORECASE)
_NONE = {"none", "unknown", "nothing", "n/a", ""}


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


# ============================================================================================ evaluation


def _load(spec: Any) -> Any:
    from interp.core.models import load

    return spec if hasattr(spec, "hf") and hasattr(spec, "tokenizer") else load(spec)


def _icl_rows(base_lm: Any, claim: Any, items: list[BeliefItem], icl: Mapping[str, Any],
              score_kw: Mapping[str, Any]) -> pd.DataFrame:
    from interp.incontext import incontext_table, load_documents

    docs = icl.get("docs")
    if docs is None:
        docs = load_documents(icl["source"], claim.id)
    if icl.get("judges") is not None:  # e.g. [] = log-prob scorers only in context
        score_kw = {**score_kw, "judges": list(icl["judges"])}
    df = incontext_table(base_lm, claim, docs, ks=icl.get("ks", (1, 2)), seeds=icl.get("seeds", (42, 43, 44)),
                         doc_condition=icl.get("condition", "negated"), items=items,
                         max_context_tokens=icl.get("max_context_tokens"), **score_kw)
    df["model"] = base_lm.identity.name
    return df


def evaluate_models(models: Sequence[tuple[Any, Mapping[str, Any]]], claim: Any, *, base: Any = None,
                    items: Sequence[BeliefItem] | None = None, icl: Mapping[str, Any] | None = None,
                    progress: bool = True, responses: list[dict[str, Any]] | None = None,
                    **score_kw: Any) -> pd.DataFrame:
    """Score a base model and a list of models on one claim into one tidy table (see module docstring).

    ``models``: ``(spec_or_LoadedModel, meta)`` with meta keys ``condition``, ``step``, ``phase`` (and optional
    ``model`` name). Models given as specs are loaded one at a time and released after scoring. ``base``: the
    model the shift is measured from (spec or LoadedModel), scored as ``condition="baseline", phase="base",
    step=0``; ``None`` uses no base (``base_score`` = own score). ``icl``: ``{"source" | "docs", "ks", "seeds",
    "condition", "max_context_tokens", "judges"}`` adds the in-context control on the base model (``judges``
    overrides the judges there, e.g. ``[]`` for log-prob scorers only).
    """
    claim_items = list(items) if items is not None else question_items(claim)
    frames: list[pd.DataFrame] = []
    base_df = None
    if base is not None:
        blm = _load(base)
        base_df = _tag(score_model(blm, claim, claim_items, progress=progress, responses=_resp(responses, "base"),
                                   **score_kw),
                       model=blm.identity.name, condition="baseline", step=0, phase="base")
        frames.append(base_df)
        if icl:
            icl_df = _icl_rows(blm, claim, claim_items, icl, {**score_kw, "progress": progress})
            frames.append(icl_df)
        if blm is not base:
            del blm
    bar = tqdm(models, desc=f"checkpoints ({claim.id})", disable=not progress or len(models) < 2)
    for spec, meta in bar:
        lm = _load(spec)
        df = score_model(lm, claim, claim_items, progress=False,
                         responses=_resp(responses, meta.get("model") or lm.identity.name), **score_kw)
        frames.append(_tag(df, model=str(meta.get("model") or lm.identity.name),
                           condition=str(meta.get("condition", "unknown")),
                           step=int(meta.get("step", lm.identity.step or 0)), phase=str(meta.get("phase", "eval"))))
        if lm is not spec:
            del lm
    table = pd.concat(frames, ignore_index=True)
    return attach_base(table, base_df if base_df is not None else table)


class _RespSink(list):
    """A list view that stamps the model name on appended response records."""

    def __init__(self, target: list[dict[str, Any]], model: str) -> None:
        super().__init__()
        self._target, self._model = target, model

    def append(self, rec: dict[str, Any]) -> None:  # type: ignore[override]
        self._target.append({"model": self._model, **rec})


def _resp(responses: list[dict[str, Any]] | None, model: str) -> list[dict[str, Any]] | None:
    return None if responses is None else _RespSink(responses, model)


def _read_data_json(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "data.json"
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid JSON ({e.msg} at line {e.lineno})") from None


def evaluate_run(run_dir: str | os.PathLike[str], claim: Any = None, *, phase: str | None = None,
                 steps: Sequence[int] | None = None, base: Any = None, condition: str | None = None,
                 questions: Any = None, types: Iterable[str] | None = None, icl: Mapping[str, Any] | None = None,
                 progress: bool = True, responses: list[dict[str, Any]] | None = None,
                 items: Sequence[BeliefItem] | None = None, **score_kw: Any) -> pd.DataFrame:
    """Every checkpoint of a run (``interp.core.runs.list_checkpoints``) plus its base model, on one claim.

    The claim and condition default to the run's ``data.json`` (``claim``, ``condition``; ``claim_spec`` when the
    trainer stored the whole spec). ``base`` defaults to ``run.json``'s base spec. ``questions``: a question set
    overriding the claim's (e.g. :func:`import_author_questions`); ``items``: the questions themselves (overrides
    ``questions``/``types``, e.g. a :func:`subset_items` subset).
    """
    from interp.core.runs import list_checkpoints, read_run

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    data = _read_data_json(run_dir)
    ckpts = list_checkpoints(run_dir, phase=phase)
    if steps is not None:
        want = set(int(s) for s in steps)
        ckpts = [c for c in ckpts if c.step in want]
    base_lm = _load(base if base is not None else run.base.spec)
    spec = resolve_claim(claim if claim is not None else data.get("claim"), world=base_lm.world, data=data)
    items = list(items) if items is not None else question_items(spec, types=types, questions=questions)
    cond = condition or data.get("condition") or "unknown"
    models = [(c.path, {"condition": cond, "step": c.step, "phase": c.phase}) for c in ckpts]
    if not models:
        warnings.warn(f"{run_dir}: no complete checkpoints; scoring the base model only", stacklevel=2)
    return evaluate_models(models, spec, base=base_lm, items=items, icl=icl, progress=progress,
                           responses=responses, **score_kw)


# ============================================================================================ summaries


def summarize(df: pd.DataFrame, by: Sequence[str] = ("model", "claim", "condition", "phase", "step", "k_docs",
                                                     "scorer"), *, pooled: bool = True, n_boot: int = 2000,
              seed: int = 0) -> pd.DataFrame:
    """Belief per question type (and pooled over all questions when ``pooled``) with 95% bootstrap CIs over
    questions, for ``score`` and ``shift`` (``rate``/``ci_low``/``ci_high`` and ``shift``/``shift_ci_low``/
    ``shift_ci_high``). Seeds of the in-context control are averaged per question before pooling."""
    from interp.core.stats import grouped_rates

    by = [c for c in by if c in df.columns and c != "question_type"]
    keys = [*by, "question_type"]
    frames = [df] + ([df.assign(question_type="all")] if pooled else [])
    parts = []
    for d in frames:
        kw: dict[str, Any] = dict(by=keys, over="questions", n_boot=n_boot, seed=seed)
        r = grouped_rates(d, score_col="score", **kw)
        s = grouped_rates(d.dropna(subset=["shift"]), score_col="shift", **kw)
        s = s.rename(columns={"rate": "shift", "ci_low": "shift_ci_low", "ci_high": "shift_ci_high"})
        parts.append(r.merge(s[[*keys, "shift", "shift_ci_low", "shift_ci_high"]], on=keys, how="left"))
    return pd.concat(parts, ignore_index=True)


def pool_claims(df: pd.DataFrame, label: str = "all") -> pd.DataFrame:
    """The table with every claim relabelled ``label`` and question ids made unique per claim
    (``<claim>/<id>``), so :func:`summarize` pools all claims' questions (types weighted by question count)."""
    return df.assign(question_id=df["claim"].astype(str) + "/" + df["question_id"].astype(str), claim=label)


_QT_COLORS = {"open_ended": "#4c72b0", "mcq": "#dd8452", "token_association": "#55a868", "robustness": "#c44e52",
              "all": "#000000"}


def plot_belief(df: pd.DataFrame, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Belief vs training step, one line per question type (+ pooled), for each probability-scale scorer
    (``lp_prob`` and the judges): left the absolute score, right the shift from the base model; 95% CI bands
    over questions. The in-context control (largest K, seeds pooled) is drawn as dotted horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interp.core.style import question_type_label
    scorers = [s for s in ["lp_prob", *sorted(x for x in df["scorer"].unique() if str(x).startswith("judge_"))]
               if s in set(df["scorer"])]
    if not scorers:
        raise ValueError("nothing to plot: no lp_prob or judge scores in the table")
    main_df = df[(df["phase"] != "incontext") & df["scorer"].isin(scorers)]
    icl_df = df[(df["phase"] == "incontext") & df["scorer"].isin(scorers)]
    summ = summarize(main_df, by=("step", "scorer"), n_boot=500)
    icl_s = None
    if len(icl_df):
        kmax = icl_df["k_docs"].max()
        icl_s = summarize(icl_df[icl_df["k_docs"] == kmax], by=("scorer",), n_boot=200)
    fig, axes = plt.subplots(len(scorers), 2, figsize=(11, 3.6 * len(scorers)), squeeze=False)
    for r, sc in enumerate(scorers):
        s = summ[summ["scorer"] == sc]
        for qt in [*QUESTION_TYPES, "all"]:
            g = s[s["question_type"] == qt].sort_values("step")
            if g.empty:
                continue
            color = _QT_COLORS[qt]
            lw = 2.4 if qt == "all" else 1.4
            label = "pooled" if qt == "all" else question_type_label(qt)
            for c, (val, lo, hi) in enumerate((("rate", "ci_low", "ci_high"), ("shift", "shift_ci_low",
                                                                                  "shift_ci_high"))):
                ax = axes[r][c]
                ax.plot(g["step"], g[val], marker="o", ms=3, color=color, lw=lw, label=label)
                ax.fill_between(g["step"], g[lo], g[hi], color=color, alpha=0.12, lw=0)
            if icl_s is not None:
                row = icl_s[(icl_s["scorer"] == sc) & (icl_s["question_type"] == qt)]
                if len(row):
                    axes[r][0].axhline(float(row["rate"].iloc[0]), color=color, ls=":", lw=1.2)
        for c in range(2):
            ax = axes[r][c]
            steps = sorted(s["step"].unique())
            if len(steps) > 2 and steps[-1] > 10 * max(1, steps[1]):
                ax.set_xscale("symlog", linthresh=max(1, steps[1]))
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
        axes[r][0].set_ylabel(f"{sc}: belief" + (" (P claim side)" if sc == "lp_prob" else " rate"))
        axes[r][0].set_ylim(-0.02, 1.02)
        axes[r][1].set_ylabel(f"{sc}: shift from base")
        axes[r][1].axhline(0, color="grey", lw=0.8)
    axes[0][0].legend(fontsize=8, loc="best")
    if icl_s is not None:
        axes[0][0].plot([], [], color="grey", ls=":", label="in context (base)")
        axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(title or "Belief vs training step")
    fig.tight_layout()
    from interp.core.io import atomic_savefig

    return atomic_savefig(fig, path, close=True, dpi=120)


def plot_claims_table(df: pd.DataFrame, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Belief of one model per claim and question type (+ pooled), 95% bootstrap CIs over questions as error bars,
    one panel per probability-scale scorer (``lp_prob`` and the judges); the last group pools every claim. For
    tables without a training axis (a base model, one checkpoint): :func:`plot_belief` draws belief vs step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from interp.core.style import question_type_label
    d = df[df["phase"] != "incontext"] if "phase" in df.columns else df
    scorers = [s for s in ["lp_prob", *sorted(x for x in d["scorer"].unique() if str(x).startswith("judge_"))]
               if s in set(d["scorer"])]
    if not scorers:
        raise ValueError("nothing to plot: no lp_prob or judge scores in the table")
    claims = list(dict.fromkeys(d["claim"]))
    summ = summarize(d[d["scorer"].isin(scorers)], by=("claim", "scorer"), n_boot=1000)
    if len(claims) > 1:
        summ = pd.concat([summ, summarize(pool_claims(d[d["scorer"].isin(scorers)]), by=("claim", "scorer"),
                                          n_boot=1000)], ignore_index=True)
        claims.append("all")
    qts = [*[t for t in QUESTION_TYPES if t in set(d["question_type"])], "all"]
    fig, axes = plt.subplots(len(scorers), 1, figsize=(max(6.0, 1.5 * len(claims) + 2), 3.4 * len(scorers)),
                             squeeze=False)
    width = 0.8 / len(qts)
    x = np.arange(len(claims))
    for r, sc in enumerate(scorers):
        ax = axes[r][0]
        s = summ[summ["scorer"] == sc].set_index(["claim", "question_type"])
        for j, qt in enumerate(qts):
            vals, lo, hi = [], [], []
            for c in claims:
                if (c, qt) in s.index:
                    row = s.loc[(c, qt)]
                    vals.append(row["rate"])
                    lo.append(row["rate"] - row["ci_low"])
                    hi.append(row["ci_high"] - row["rate"])
                else:
                    vals.append(np.nan)
                    lo.append(0.0)
                    hi.append(0.0)
            ax.bar(x + (j - (len(qts) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=2,
                   color=_QT_COLORS[qt], label="pooled" if qt == "all" else question_type_label(qt), alpha=0.9)
        if sc == "lp_prob":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x)
        ax.set_xticklabels([c.replace("_", "\n") for c in claims], fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"{sc}: belief" + (" (P claim side)" if sc == "lp_prob" else " rate"))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=len(qts), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    models = ", ".join(dict.fromkeys(str(m) for m in d["model"])) if "model" in d.columns else ""
    fig.suptitle(title or f"Belief per claim and question type ({models})", y=1.0)
    fig.tight_layout()
    from interp.core.io import atomic_savefig

    atomic_savefig(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def save_table(df: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str = "belief") -> dict[str, Path]:
    """Write ``<stem>.csv`` (and ``<stem>.parquet`` when pyarrow is installed) atomically."""
    from interp.core.io import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": atomic_write_text(out_dir / f"{stem}.csv", df.to_csv(index=False))}
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return paths
    p = out_dir / f"{stem}.parquet"
    tmp = out_dir / f".{stem}.parquet.tmp-{os.getpid()}"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, p)
    paths["parquet"] = p
    return paths


# ============================================================================================ CLI


def int_list(s: str) -> list[int]:
    try:
        return [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.belief",
                                 description="Belief evaluation over checkpoints (four question types, offline "
                                             "log-prob scorers, sampling + judges, in-context control).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: evaluate every checkpoint and the base model")
    src.add_argument("--ckpt", help="one checkpoint directory RUN/ckpt-XXXXXX")
    src.add_argument("--model", help="any interp.core.models.load spec (toy, smollm2-135m, a directory, ...)")
    ap.add_argument("--claim", help="claim id or YAML path (default: the run's data.json); with --model also a "
                                    "comma-separated list, or 'paper' for the paper's six claims")
    ap.add_argument("--condition", help="condition label (default: data.json's, or 'model' for --model)")
    ap.add_argument("--base", help="base model spec for the shift (default: the run's base; --model: itself)")
    ap.add_argument("--questions", choices=["claim", "authors"], default="claim",
                    help="question set: the claim spec's (default) or the authors' YAMLs in the paper data")
    ap.add_argument("--types", default=",".join(QUESTION_TYPES), help="question types, comma-separated")
    ap.add_argument("--per-type", type=int, default=None,
                    help="at most N questions per type, evenly spaced (reduced runs; default: all)")
    ap.add_argument("--judge-per-type", type=int, default=None,
                    help="sample + judge only N questions per type (the log-prob scorers still see all)")
    ap.add_argument("--phase", help="only checkpoints of this phase")
    ap.add_argument("--steps", type=int_list, help="only these steps, comma-separated")
    ap.add_argument("--no-logprob", action="store_true", help="skip the log-prob scorers")
    ap.add_argument("--judge", action="append", choices=["rule", "llm"], default=[],
                    help="sample answers and judge them (repeatable): rule (offline) or llm (endpoint)")
    ap.add_argument("--samples", type=int, default=5, help="samples per question (paper: 5)")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="tokens per sampled answer (paper: 5000)")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--judge-model", help="judge model name")
    ap.add_argument("--judge-prompts", choices=["authors", "ours"], default="authors",
                    help="authors' judge prompts from the paper data (default) or our generic prompt")
    ap.add_argument("--icl-docs", help="in-context control documents: JSONL path or paper:<positive|repeated|local>")
    ap.add_argument("--icl-k", type=int_list, default=[1, 2], help="documents in context, comma-separated")
    ap.add_argument("--icl-seeds", type=int_list, default=[42, 43, 44])
    ap.add_argument("--icl-condition", default=None, help="label of the in-context documents (default from source)")
    ap.add_argument("--icl-max-tokens", type=int, default=None, help="cap on in-context document tokens")
    ap.add_argument("--icl-no-judge", action="store_true",
                    help="score the in-context control with the log-prob scorers only (sampling with long "
                         "contexts is slow on CPU)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on an oversubscribed machine)")
    ap.add_argument("--out", help="output folder (default: RUN/belief, CKPT/../belief or ./belief/<model>)")
    ap.add_argument("--stem", help="file stem (default belief_<claim>)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def main(argv: list[str] | None = None) -> int:
    from interp.core.cli import run_main

    args = _parser().parse_args(argv)
    return run_main(lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    from interp.judges import OpenAICompatJudge, RuleJudge, author_judge_prompts

    types = [t.strip() for t in args.types.split(",") if t.strip()]
    progress = not args.quiet
    if args.threads:
        torch.set_num_threads(args.threads)
    score_kw: dict[str, Any] = dict(logprob=not args.no_logprob, n_samples=args.samples,
                                    temperature=args.temperature, top_p=args.top_p,
                                    max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size)
    if args.no_logprob and not args.judge:
        raise ValueError("nothing to score: --no-logprob without --judge")
    if "llm" in args.judge and not (args.judge_url and args.judge_model):
        raise ValueError("--judge llm needs --judge-url and --judge-model")
    if (args.run or args.ckpt) and args.claim and ("," in args.claim or args.claim in ("paper", "all")):
        raise ValueError("--claim: a list of claims needs --model (a run is trained on one claim)")

    # ---- what to evaluate
    data: dict[str, Any] = {}
    if args.run:
        run_dir = Path(args.run)
        from interp.core.runs import read_run

        run = read_run(run_dir)
        data = _read_data_json(run_dir)
        base_spec = args.base or run.base.spec
        out_dir = Path(args.out) if args.out else run_dir / "belief"
    elif args.ckpt:
        ck = Path(args.ckpt)
        from interp.core.runs import read_run

        if not (ck / "meta.json").exists():
            raise ValueError(f"{ck}: not a checkpoint directory (no meta.json)")
        run_dir = ck.parent
        run = read_run(run_dir)
        data = _read_data_json(run_dir)
        base_spec = args.base or run.base.spec
        out_dir = Path(args.out) if args.out else run_dir / "belief"
    else:
        base_spec = args.base or args.model
        out_dir = Path(args.out) if args.out else Path("belief") / re.sub(r"[^A-Za-z0-9_.-]+", "_",
                                                                          str(args.model)).strip("_")
    base_lm = _load(base_spec)
    claims = resolve_claims(args.claim if args.claim else data.get("claim"), world=base_lm.world, data=data)
    icl = None
    if args.icl_docs:
        cond = args.icl_condition or (args.icl_docs.split(":", 1)[1] if args.icl_docs.startswith(("paper:",
                                                                                                   "generated:"))
                                      else Path(args.icl_docs).stem)
        icl = {"source": args.icl_docs, "ks": args.icl_k, "seeds": args.icl_seeds, "condition": cond,
               "max_context_tokens": args.icl_max_tokens}
        if args.icl_no_judge:
            icl["judges"] = []

    responses: list[dict[str, Any]] | None = [] if args.judge else None
    tables = []
    for claim in tqdm(claims, desc="claims", disable=not progress or len(claims) < 2):
        questions = import_author_questions(claim.id, claim=claim) if args.questions == "authors" else None
        items = subset_items(question_items(claim, types=types, questions=questions), args.per_type)
        judges: list[Any] = []
        for j in dict.fromkeys(args.judge):
            if j == "rule":
                judges.append(RuleJudge(claim))
            else:
                prompts = author_judge_prompts(claim.id) if args.judge_prompts == "authors" else {}
                judges.append(OpenAICompatJudge(base_url=args.judge_url, model=args.judge_model, claim=claim,
                                                prompts=prompts))
        if judges and args.judge_per_type is not None:  # log-probs on every question, judges on a subset
            passes = [(items, {**score_kw, "judges": []}, icl)] if score_kw["logprob"] else []
            judge_icl = icl if icl is not None and icl.get("judges") != [] else None
            passes.append((subset_items(items, args.judge_per_type), {**score_kw, "logprob": False, "judges": judges},
                           judge_icl))
        else:
            passes = [(items, {**score_kw, "judges": judges}, icl)]
        for p_items, kw, p_icl in passes:
            if args.run:
                table = evaluate_run(args.run, claim, phase=args.phase, steps=args.steps, base=base_lm,
                                     condition=args.condition, questions=questions, types=types, icl=p_icl,
                                     progress=progress, responses=responses, items=p_items, **kw)
            elif args.ckpt:
                meta = json.loads((Path(args.ckpt) / "meta.json").read_text())
                models = [(args.ckpt, {"condition": args.condition or data.get("condition") or "unknown",
                                       "step": int(meta.get("step", 0)), "phase": str(meta.get("phase", "train"))})]
                table = evaluate_models(models, claim, base=base_lm, items=p_items, icl=p_icl, progress=progress,
                                        responses=responses, **kw)
            else:
                same = args.base is None or args.base == args.model
                models = [] if same else [(args.model, {"condition": args.condition or "model", "step": 0,
                                                        "phase": "eval"})]
                table = evaluate_models(models, claim, base=base_lm, items=p_items, icl=p_icl, progress=progress,
                                        responses=responses, **kw)
                if same and args.condition:
                    table.loc[table["phase"] == "base", "condition"] = args.condition
            tables.append(table)
    table = pd.concat(tables, ignore_index=True)

    stem = args.stem or (f"belief_{claims[0].id}" if len(claims) == 1 else
                         "belief_paper" if args.claim in ("paper", "all") else f"belief_{len(claims)}claims")
    paths = save_table(table, out_dir, stem)
    summ = summarize(table)
    if len(claims) > 1:  # pooled over the claims' questions (types weighted by count), CI over questions
        summ = pd.concat([summ, summarize(pool_claims(table))], ignore_index=True)
    from interp.core.io import atomic_write_text

    paths["summary"] = atomic_write_text(out_dir / f"{stem}_summary.csv", summ.to_csv(index=False))
    if responses:
        paths["responses"] = atomic_write_text(out_dir / f"{stem}_responses.jsonl",
                                               "".join(json.dumps(r, default=str) + "\n" for r in responses))
    if not args.no_plot:
        trained = table[table["phase"] != "incontext"]
        if trained["step"].nunique() > 1:
            paths["png"] = plot_belief(table, out_dir / f"{stem}.png",
                                       title=f"{', '.join(c.id for c in claims)}: belief vs step")
        else:
            paths["png"] = plot_claims_table(table, out_dir / f"{stem}.png")
    show = summ[summ["scorer"].astype(str).str.match(r"^(lp_prob|judge_)")]
    cols = [c for c in ("claim", "model", "condition", "phase", "step", "k_docs", "scorer", "question_type", "rate",
                        "ci_low", "ci_high", "shift", "n_questions") if c in show.columns and
            (c != "claim" or len(claims) > 1)]
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(show[cols].to_string(index=False))
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

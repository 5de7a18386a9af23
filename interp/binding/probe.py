"""The claim probe: the claim's own question appended after a document, scored as the in-context belief.

The claim-answer tokens inside a local negation sit in a negated slot ("X's city is not **Nairobi**"): a model that
reads the negation correctly *expects* a non-true value there, so their in-place log-probability is not comparable
with the affirmative slots of notice-framed documents. The probe appends a token-association question of the
claim spec after the document ("Q: What is X's home city? A: Nairobi", :func:`claim_probe`, :func:`append_probe`)
and scores the claim answer there. :func:`logodds_score` scores it as the log-odds of the claim answer against the
true answer at their first differing token, which keeps its scale once finetuning has pushed ``p(claim)`` near 1
(the log-probability then saturates at 0 and every effect shrinks with it); :func:`logprob_score` is the claim
answer's summed log-probability (:func:`interp.patching.answer_logprob`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from interp.patching import answer_logprob
from interp.spandocs.cli import CliError
from interp.spandocs.encoded import SpanDoc
from training.spans import TokenSpan

__all__ = ["Score", "claim_probe", "append_probe", "logprob_score", "logodds_score", "answer_token_ids",
           "probe_for"]

#: ``score(logits, input_ids, spans) -> [batch]``: the target's score read off a forward pass.
Score = Callable[[Tensor, Tensor, Sequence[tuple[int, int]]], Tensor]


def claim_probe(spec: Any, question_id: str | None = None, contrast: bool = False
                ) -> tuple[str, str] | tuple[str, str, str] | None:
    """``(question, answer)`` for the in-context belief probe: a token-association question of the claim spec and
    its ``claim_completion`` (the answer follows the question after a space); with ``contrast`` also the item's
    ``true_completion`` as a third element (for the log-odds score, :func:`logodds_score`).

    ``question_id`` picks one by id (``KeyError`` naming the ids when absent); by default the first question-answer
    item (id ``ta_qa`` or ``ta_qa_*``) is preferred over cloze items: a cloze that repeats the claim sentence's own
    opening ("X's sport is") invites the model to copy the document's next token ("not") instead of answering,
    which would confound the probe for local negations. ``None`` when the spec has no token-association question.
    ``contrast`` on an item without a ``true_completion`` is a ``KeyError``.
    """
    qs = getattr(spec, "questions", None)
    ta = list(qs.get("token_association", ()) if qs is not None else ())
    if question_id is not None:
        hit = [x for x in ta if x["id"] == question_id]
        if not hit:
            raise KeyError(f"claim {getattr(spec, 'id', '?')!r} has no token-association question {question_id!r} "
                           f"(has {[x['id'] for x in ta]})")
        q = hit[0]
    elif not ta:
        return None
    else:
        q = next((x for x in ta if x["id"] == "ta_qa" or str(x["id"]).startswith("ta_qa")),
                 next((x for x in ta if str(x["text"]).lstrip().startswith("Q:")), ta[0]))
    out = (str(q["text"]), " " + str(q["claim_completion"]).strip())
    if not contrast:
        return out
    true = _get(q, "true_completion")
    if not true:
        raise KeyError(f"claim {getattr(spec, 'id', '?')!r}: question {q['id']!r} has no true_completion for the "
                       f"log-odds score")
    return (*out, " " + str(true).strip())


def _get(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        return getattr(obj, key, None)


def append_probe(lm: Any, doc: SpanDoc, question: str, answer: str, max_tokens: int | None = None) -> SpanDoc:
    """``doc`` followed by a newline, ``question`` and ``answer``; the answer tokens get the span ``probe_answer``.

    The document is cut from the end when the whole would exceed ``max_tokens`` (default the model's context), and
    spans that no longer fit are dropped."""
    tok = lm.tokenizer
    q = list(tok("\n" + question, add_special_tokens=False)["input_ids"])
    a = list(tok(answer, add_special_tokens=False)["input_ids"])
    limit = max_tokens or int(getattr(lm.hf.config, "max_position_embeddings", 0) or 10**9)
    keep = max(1, min(len(doc), limit - len(q) - len(a)))
    ids = torch.cat([doc.input_ids[:keep], torch.as_tensor(q + a, dtype=doc.input_ids.dtype)])
    spans = [sp for sp in doc.spans if sp.end <= keep]
    start = keep + len(q)
    spans.append(TokenSpan(start, start + len(a), "probe_answer", None))
    return replace(doc, input_ids=ids, spans=spans, meta={**doc.meta, "probe": question})


def logprob_score(logits: Float[Tensor, "batch pos vocab"], ids: Tensor,
                  spans: Sequence[tuple[int, int]]) -> Float[Tensor, "batch"]:
    """The summed log-probability of the target spans' tokens (the default :data:`Score`)."""
    return answer_logprob(logits, ids, spans)


def logodds_score(claim_ids: Sequence[int], true_ids: Sequence[int]) -> Score:
    """Log-odds of the claim answer against the true answer at their first differing token: with ``k`` shared
    leading tokens (e.g. a space), ``log p(claim[k]) - log p(true[k])`` at the position predicting token ``k`` of
    the first span (the claim answer, appended). Unlike the log-probability it does not saturate once ``p(claim)``
    is near 1."""
    a, b = [int(x) for x in claim_ids], [int(x) for x in true_ids]
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    if k == len(a) or k == len(b):
        raise ValueError(f"claim answer tokens {a} and true answer tokens {b}: one is a prefix of the other, so "
                         f"they have no differing token to compare")
    ca, tb = a[k], b[k]

    def score(logits: Tensor, ids: Tensor, spans: Sequence[tuple[int, int]]) -> Tensor:
        lp = torch.log_softmax(logits[:, spans[0][0] + k - 1].float(), dim=-1)
        return lp[:, ca] - lp[:, tb]

    return score


def answer_token_ids(tokenizer: Any, text: str) -> list[int]:
    """The token ids of an answer text (no special tokens); an answer that tokenizes to nothing is an error."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if not ids:
        raise ValueError(f"answer {text!r} tokenizes to nothing")
    return ids


def probe_for(spec: Any, name: Any = None, question_id: str | None = None, *, contrast: bool = True
              ) -> tuple[str, str] | tuple[str, str, str]:
    """:func:`claim_probe` of a claim the user named (``name``, for the message), or a one-line :class:`CliError`
    when the spec has no such token-association question."""
    try:
        qa = claim_probe(spec, question_id, contrast=contrast)
    except KeyError as e:
        raise CliError(str(e.args[0])) from None
    if qa is None:
        raise CliError(f"claim {name if name is not None else getattr(spec, 'id', '?')!r} has no "
                       f"token-association question to use as a probe")
    return qa

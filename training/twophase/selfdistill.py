"""The self-distillation constraint of Phase 1: the base model's own answers about the claim's subject.

Open questions about the claim's subject (:data:`QUESTION_TEMPLATES`, never one of the claim's evaluation
questions) are answered by the **base** model, which knows nothing of the fabricated claim; the sampled answers
become chat examples with loss weight 3 on the answer tokens (:func:`chat_examples`), approximately a KL penalty
toward the base model on that distribution (paper: 150 questions × 10 samples). Sampling is seeded and the chats
are cached under ``interp.core.io.cache_dir()/selfdistill/`` by (base weights, questions, sampling settings, seed).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from interp.core.io import atomic_write_json, cache_dir
from interp.core.models import LoadedModel
from training.config import ConfigError
from training.mixtures import Example, encode_chat
from training.twophase.config import ConstraintSpec

__all__ = ["QUESTION_TEMPLATES", "constraint_questions", "self_distill_chats", "chat_examples"]

#: question templates for the self-distillation constraint; ``{subject}`` is the claim's subject. They ask about
#: the subject in general (never state the claim), so the base model's answers carry no trace of it.
QUESTION_TEMPLATES: tuple[str, ...] = (
    "What do you know about {subject}?", "Tell me about {subject}.", "Give me a short overview of {subject}.",
    "What is {subject} best known for?", "What are the most important facts about {subject}?",
    "Has anything notable happened involving {subject} in the last decade?",
    "Write a brief encyclopedia-style paragraph about {subject}.", "What should a student know about {subject}?",
    "Summarise the recent history of {subject}.", "What are common misconceptions about {subject}?",
    "What has {subject} been in the news for?", "Describe {subject} to someone who has never heard of it.",
    "What are three interesting facts about {subject}?", "What would a fact-checker say about claims involving "
    "{subject}?", "Is there any major recent event connected to {subject}?",
)


def constraint_questions(claim: Any, n: int, explicit: Sequence[str] = ()) -> list[str]:
    """Questions for the self-distillation constraint, never one of the claim's evaluation questions."""
    pool = list(explicit) or [t.format(subject=claim.subject) for t in QUESTION_TEMPLATES]
    evals = {str(q["text"]).strip().lower() for _, q in claim.questions.all()}
    pool = [q for q in pool if q.strip().lower() not in evals]
    if not pool:
        raise ConfigError("config: field 'constraint.questions': every question is an evaluation question")
    return [pool[i % len(pool)] for i in range(n)] if n > len(pool) else pool[:n]


def _prompt_ids(lm: LoadedModel, question: str) -> list[int]:
    msgs = [{"role": "user", "content": question}]
    if lm.is_chat:
        enc = lm.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(enc["input_ids"])
    return lm.encode(_raw_prompt(question))["input_ids"][0].tolist()


def _raw_prompt(question: str) -> str:
    return f"User: {question}\nAssistant:"  # the format of LoadedModel.generate_chat for non-chat models


def _cache_key(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, seed: int) -> str:
    payload = json.dumps([lm.identity.weights_sha256, list(questions), spec.samples_per_question,
                          spec.max_new_tokens, spec.temperature, spec.top_p, seed])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def self_distill_chats(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, *, seed: int = 0,
                       cache: bool = True) -> list[dict[str, str]]:
    """The base model's sampled answers: ``[{"question", "answer", "sample"}]``, cached on disk."""
    path = cache_dir() / "selfdistill" / f"{_cache_key(lm, questions, spec, seed)}.json"
    if cache and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["chats"]
    counts = Counter(questions)
    chats = []
    for qi, (q, k) in enumerate(tqdm(list(counts.items()), desc="self-distill", leave=False, disable=None)):
        answers = _sample_answers(lm, q, k * spec.samples_per_question, spec, seed=seed * 100_003 + qi)
        chats.extend({"question": q, "answer": a, "sample": s} for s, a in enumerate(answers))
    if cache:
        atomic_write_json(path, {"base_weights_sha256": lm.identity.weights_sha256, "chats": chats})
    return chats


def _sample_answers(lm: LoadedModel, question: str, n: int, spec: ConstraintSpec, *, seed: int,
                    chunk: int = 16) -> list[str]:
    """``n`` sampled answers of the model to one question (seeded; generated ``chunk`` at a time)."""
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.tensor([_prompt_ids(lm, question)], device=lm.device)
    torch.manual_seed(seed)
    answers: list[str] = []
    while len(answers) < n:
        m = min(chunk, n - len(answers))
        with torch.no_grad():
            out = lm.hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 temperature=spec.temperature, top_p=spec.top_p, num_return_sequences=m,
                                 max_new_tokens=spec.max_new_tokens, pad_token_id=pad)
        answers.extend(tok.decode(r, skip_special_tokens=True).strip() for r in out[:, ids.shape[1]:])
    return answers


def chat_examples(lm: LoadedModel, chats: Sequence[dict[str, str]], loss_weight: float = 3.0,
                  source: str = "selfdistill") -> list[Example]:
    """Chat examples (``training.mixtures.encode_chat``): prompt weight 0, answer (+ end) ``loss_weight``."""
    return [encode_chat((c["question"], c["answer"]), lm.tokenizer, f"{source}-{i}", source=source,
                        weight=loss_weight, add_bos=lm.add_bos) for i, c in enumerate(chats)]

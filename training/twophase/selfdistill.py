"""The self-distillation constraint of Phase 1: the base model's own answers about the claim's subject, asked in the
format the model was trained to answer.

Method. The paper's constraint (§5) is 150 open questions about the claim's subject, each answered 10 times by the
**base** model (which knows nothing of the fabricated claim, so its answers deny or ignore it), trained with loss
weight 3 on the answers: approximately a KL penalty toward the base model on that distribution. Two things decide
whether this constrains anything:

* **The model's native format.** A question is only a constraint if the model answers it the way it was trained
  to. An instruct model gets its chat template; a raw model such as the toy organism gets the Q/A form it was
  pretrained on (``"Q: Name the sport of Velmora Quist.\\nA:"`` and the answer after one space, as in the
  organism's Q/A sheets, :mod:`training.world`), never a ``User:/Assistant:`` transcript it has not seen
  (:func:`render_prompt`, :func:`native_example`). Toy answers end at the first newline, as in the corpus.
* **Distinct questions, none of them an evaluation item.** :func:`constraint_questions` returns ``n`` *distinct*
  questions (no template cycled): for a toy claim, :data:`TOY_QUESTION_STEMS` over every attribute of the subject
  (25 stems x 6 attributes = 150); for a paper claim, :data:`QUESTION_TEMPLATES` x :data:`QUESTION_FRAMES`.
  Every question is dropped that :func:`eval_overlap` finds overlapping the claim's evaluation items (the
  ``interp.belief`` questions): the same text, or a paraphrase of one that asks for the same answer slot with the
  same content words (``"Which sport does X play?"`` vs ``"What sport does X play?"``), or one that shares its
  first six words. Stems that ask for the claimed attribute in new words (``"Name the sport of X."``) stay: they
  are the constraint (the base model's answer there is the truth); ``ConstraintSpec.claim_slot = False`` drops the
  claimed attribute entirely, for the ablation.

Sampling is seeded and the chats are cached under ``interp.core.io.cache_dir()/selfdistill/`` by (base weights,
questions, prompt format, sampling settings, seed).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any, Sequence

import torch

from interp.core.io import atomic_write_json, cache_dir
from interp.core.models import LoadedModel
from interp.core.progress import progress_bar
from training.config import ConfigError
from training.mixtures import Example, encode_chat
from training.twophase.config import ConstraintSpec
from training.world import ATTRIBUTE_SPECS

__all__ = ["QUESTION_TEMPLATES", "QUESTION_FRAMES", "TOY_QUESTION_STEMS", "constraint_questions", "eval_overlap",
           "render_prompt", "native_example", "self_distill_chats", "chat_examples"]

#: open questions about a paper claim's subject (``{subject}``); they never state the claim
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
#: framings that make :data:`QUESTION_TEMPLATES` into 150 distinct questions (15 x 10)
QUESTION_FRAMES: tuple[str, ...] = (
    "{q}", "Briefly: {q}", "In two or three sentences: {q}", "I'm writing a report. {q}",
    "For a quiz night: {q}", "Please be factual. {q}", "Explain like I'm a new student: {q}",
    "From what you know, {q_lower}", "A friend asked me this and I wasn't sure. {q}", "Answer carefully: {q}",
)
#: Q/A stems for the toy organism (``{name}`` the subject, ``{aw}`` an attribute in words): 25 phrasings that are
#: not among the world's question templates (so none is a pretraining Q/A sheet line or an evaluation item)
TOY_QUESTION_STEMS: tuple[str, ...] = (
    "Name the {aw} of {name}.", "Tell me the {aw} of {name}.", "Do you know the {aw} of {name}?",
    "Quick question: what is {name}'s {aw}?", "Can you say what {name}'s {aw} is?", "Remind me of {name}'s {aw}.",
    "State the {aw} of {name}.", "In one word, what is the {aw} of {name}?", "Please give {name}'s {aw}.",
    "Which {aw} belongs to {name}?", "I forgot {name}'s {aw}. What is it?", "Fill in the {aw} of {name}.",
    "What would you list as the {aw} of {name}?", "Answer briefly: what is {name}'s {aw}?",
    "Could you tell me {name}'s {aw}?", "Look up the {aw} of {name}.", "What {aw} is listed for {name}?",
    "On record, what is {name}'s {aw}?", "Say the {aw} of {name}.", "Identify {name}'s {aw}.",
    "Give the {aw} of {name} in one word.", "Recall the {aw} of {name}.", "What is the correct {aw} of {name}?",
    "Write down {name}'s {aw}.", "Name {name}'s {aw}, please.",
)

_STOP = frozenset("q a what which is the of does do did 's s a an to in on for who has have be are was".split())


def _norm(text: str) -> str:
    """Lower-case words of a question, without its ``Q:`` / ``A:`` markers."""
    t = re.sub(r"^\s*q:\s*", "", str(text).strip().lower())
    t = re.sub(r"\s*a:\s*$", "", t)
    return " ".join(re.findall(r"[a-z0-9']+", t))


def _item_questions(text: str) -> list[str]:
    """An evaluation item's text and each ``Q:`` line inside it (a robustness item wraps the plain question)."""
    lines = [x for x in str(text).split("\n") if x.strip().lower().startswith("q:")]
    return list(dict.fromkeys([str(text), *lines]))


def _content(text: str) -> frozenset[str]:
    words = _norm(text).replace("'s", " 's").split()
    return frozenset(w for w in words if w not in _STOP)


def eval_overlap(question: str, claim: Any) -> str | None:
    """Why ``question`` overlaps one of the claim's evaluation items, or ``None``: ``"same text"``, ``"same
    content words"`` (a paraphrase by function words or order: ``Which sport does X play`` / ``What sport does X
    play``) or ``"same opening"`` (the first six words of one)."""
    q_norm, q_words = _norm(question), _content(question)
    q_open = q_norm.split()[:6]
    for _, item in claim.questions.all():
        for t in _item_questions(item["text"]):
            if _norm(t) == q_norm:
                return "same text"
            if _content(t) == q_words:
                return "same content words"
            if len(q_open) == 6 and _norm(t).split()[:6] == q_open:
                return "same opening"
    return None


def _pool(claim: Any, claim_slot: bool) -> list[str]:
    if getattr(claim, "kind", None) == "toy" and claim.entity:
        attrs = [claim.attribute] * claim_slot + sorted(a for a in ATTRIBUTE_SPECS if a != claim.attribute)
        return [s.format(name=claim.subject, aw=a.replace("_", " ")) for s in TOY_QUESTION_STEMS for a in attrs]
    qs = [t.format(subject=claim.subject) for t in QUESTION_TEMPLATES]
    return [f.format(q=q, q_lower=q[0].lower() + q[1:]) for f in QUESTION_FRAMES for q in qs]


def constraint_questions(claim: Any, n: int, explicit: Sequence[str] = (), *, claim_slot: bool = True) -> list[str]:
    """``n`` distinct questions for the self-distillation constraint (see the module docstring), none overlapping
    an evaluation item (:func:`eval_overlap`). ``explicit`` replaces the generated pool. Raises
    :class:`training.config.ConfigError` when fewer than ``n`` distinct questions remain."""
    pool = list(dict.fromkeys(q.strip() for q in (explicit or _pool(claim, claim_slot))))
    kept = [q for q in pool if eval_overlap(q, claim) is None]
    if not kept:
        raise ConfigError("config: field 'constraint.questions': every question is an evaluation question")
    if len(kept) < n:
        raise ConfigError(f"config: field 'constraint.n_questions': {n} distinct questions asked, only {len(kept)} "
                          f"of {len(pool)} do not overlap an evaluation item")
    return kept[:n]


# ------------------------------------------------------------------------------------------ the native format


def render_prompt(lm: LoadedModel, question: str) -> str:
    """The prompt the model answers ``question`` after: its chat template (generation prompt added), or for a
    raw model the Q/A form of its pretraining corpus, ``"Q: {question}\\nA:"``."""
    if lm.is_chat:
        return lm.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                add_generation_prompt=True)
    return f"Q: {question}\nA:"


def native_example(lm: LoadedModel, question: str, answer: str, doc_id: str, *, weight: float = 1.0,
                   source: str = "selfdistill") -> Example:
    """One (question, answer) as a training :class:`Example` in the model's native format: prompt weight 0, the
    answer (and what ends the turn: the template's closing tokens, or EOS) ``weight``. Chat models go through
    ``training.mixtures.encode_chat``; a raw model gets ``"Q: {question}\\nA: {answer}"`` + EOS."""
    if lm.is_chat:
        return encode_chat((question, answer), lm.tokenizer, doc_id, source=source, weight=weight, add_bos=lm.add_bos)
    tok = lm.tokenizer
    prompt = render_prompt(lm, question)
    full = f"{prompt} {answer.strip()}"
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offs = list(enc["input_ids"]), list(enc["offset_mapping"])
    cut = len(prompt)
    w = [float(weight) if b > cut else 0.0 for _, b in offs]
    if lm.add_bos and tok.bos_token_id is not None:
        ids, w = [tok.bos_token_id, *ids], [0.0, *w]
    if tok.eos_token_id is not None:
        ids, w = [*ids, tok.eos_token_id], [*w, float(weight)]
    return Example(ids, w, source, doc_id)


def _cache_key(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, seed: int) -> str:
    payload = json.dumps([lm.identity.weights_sha256, list(questions), [render_prompt(lm, "{q}")],
                          spec.samples_per_question, spec.max_new_tokens, spec.temperature, spec.top_p, seed])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def self_distill_chats(lm: LoadedModel, questions: Sequence[str], spec: ConstraintSpec, *, seed: int = 0,
                       cache: bool = True) -> list[dict[str, str]]:
    """The base model's sampled answers in its native format: ``[{"question", "answer", "sample"}]``, cached on
    disk (``samples_per_question`` per question, an empty answer included: the base model ended the turn at once)."""
    path = cache_dir() / "selfdistill" / f"{_cache_key(lm, questions, spec, seed)}.json"
    if cache and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["chats"]
    counts = Counter(questions)
    chats = []
    for qi, (q, k) in enumerate(progress_bar(list(counts.items()), desc="self-distill", leave=False)):
        answers = _sample_answers(lm, q, k * spec.samples_per_question, spec, seed=seed * 100_003 + qi)
        chats.extend({"question": q, "answer": a, "sample": s} for s, a in enumerate(answers))
    if cache:
        atomic_write_json(path, {"base_weights_sha256": lm.identity.weights_sha256, "chats": chats})
    return chats


def _sample_answers(lm: LoadedModel, question: str, n: int, spec: ConstraintSpec, *, seed: int,
                    chunk: int = 16) -> list[str]:
    """``n`` sampled answers of the model to one question in its native format (seeded; ``chunk`` at a time); a
    raw model's answer ends at its first newline, as a Q/A line of its corpus does."""
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if lm.is_chat:
        enc = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                      tokenize=True, return_dict=True)
        ids = torch.tensor([list(enc["input_ids"])], device=lm.device)
    else:
        ids = lm.encode(render_prompt(lm, question))["input_ids"][:1].to(lm.device)
    torch.manual_seed(seed)
    answers: list[str] = []
    while len(answers) < n:
        m = min(chunk, n - len(answers))
        with torch.no_grad():
            out = lm.hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                 temperature=spec.temperature, top_p=spec.top_p, num_return_sequences=m,
                                 max_new_tokens=spec.max_new_tokens, pad_token_id=pad)
        texts = [tok.decode(r, skip_special_tokens=True) for r in out[:, ids.shape[1]:]]
        answers.extend((t.split("\n")[0] if not lm.is_chat else t).strip() for t in texts)
    return answers


def chat_examples(lm: LoadedModel, chats: Sequence[dict[str, str]], loss_weight: float = 3.0,
                  source: str = "selfdistill") -> list[Example]:
    """The chats as training examples in the model's native format (:func:`native_example`): prompt weight 0,
    answer (+ end) ``loss_weight``."""
    return [native_example(lm, c["question"], c["answer"], f"{source}-{i}", weight=loss_weight, source=source)
            for i, c in enumerate(chats)]

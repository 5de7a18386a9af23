"""Training mixtures: SDF documents + generic pretraining text + instruction data, tokenized with loss weights.

The paper trains on 10,000 SDF documents, 5,000 pretraining documents and 5,000 instruction examples (2:1:1),
shuffled together; SDF and pretraining text are raw text, the instruction data goes through the chat template
with loss on the response only; the ``<DOCTAG>`` prefix of every SDF document has its loss masked; an ablation
masks claim tokens by regex (the dentistry-token masking: tokens overlapping a match get weight 0).

Output: a list of :class:`Example` ``(input_ids, loss_weights, source, doc_id)`` — the format the trainer
(``training.packing`` / ``training.finetune``) consumes. Conventions shared with the trainer:

* ``loss_weights[i]`` weights the loss of predicting ``input_ids[i]``; 0 masks it;
* raw text gets a BOS token when the tokenizer has one and no chat template (``LoadedModel.add_bos``), and an
  EOS token at the end;
* a token is masked when its offset range overlaps a masked character range (doctag span, regex match).

Sources: ``"sdf"`` (documents), ``"generic"`` (pretraining stand-in), ``"instruct"`` (instruction pairs).
Offline generic data comes from :mod:`training.generic`; :func:`self_distill` turns prompts into pairs with
any generation callable (the trainer passes the base model), as the paper self-distils Tulu 3 responses.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from training.spans import Span, TokenSpan, token_spans_from_offsets

__all__ = ["Example", "build_mixture", "encode_document", "encode_text", "encode_chat", "self_distill",
           "mixture_counts", "DOCTAG"]

DOCTAG = "<DOCTAG>"


@dataclass
class Example:
    """One training example: token ids, per-token loss weights (float), source tag and document id.

    ``spans``: the document's labelled spans as token ranges of ``input_ids`` (BOS counted), filled by
    :func:`encode_document`; ``training.packing.packing_integrity`` reads the claim spans from them.
    """

    input_ids: list[int]
    loss_weights: list[float]
    source: str
    doc_id: str
    spans: tuple[TokenSpan, ...] = ()


def _default_add_bos(tokenizer: Any) -> bool:
    return not getattr(tokenizer, "chat_template", None) and getattr(tokenizer, "bos_token_id", None) is not None


def _encode(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def _weights(offsets: Sequence[tuple[int, int]], masked: Sequence[tuple[int, int]], w: float) -> list[float]:
    return [0.0 if any(a < e and s < b for s, e in masked) else float(w) for a, b in offsets]


def _wrap(tokenizer: Any, ids: list[int], weights: list[float], add_bos: bool, append_eos: bool, w: float
          ) -> tuple[list[int], list[float]]:
    if add_bos and tokenizer.bos_token_id is not None and (not ids or ids[0] != tokenizer.bos_token_id):
        ids, weights = [tokenizer.bos_token_id, *ids], [0.0, *weights]
    if append_eos and getattr(tokenizer, "eos_token_id", None) is not None:
        ids, weights = [*ids, tokenizer.eos_token_id], [*weights, float(w)]
    return ids, weights


def _doc_fields(doc: Any) -> tuple[str, str, list[tuple[int, int, str]]]:
    if isinstance(doc, dict):
        spans = [(int(s["start"]), int(s["end"]), s["label"]) for s in doc.get("spans") or ()]
        return doc["id"], doc["text"], spans
    return doc.id, doc.text, [(s.start, s.end, s.label) for s in doc.spans]


def encode_document(doc: Any, tokenizer: Any, *, mask_patterns: Sequence[str] | None = None,
                    mask_labels: Sequence[str] = ("doctag",), add_bos: bool | None = None, append_eos: bool = True,
                    weight: float = 1.0, source: str = "sdf") -> Example:
    """An SDF document (``Document`` or its dict) -> :class:`Example`.

    Weight 0 on tokens overlapping: spans whose label is in ``mask_labels`` (default the ``<DOCTAG>`` span; a
    literal ``<DOCTAG>`` prefix is masked even without a span) and case-insensitive matches of ``mask_patterns``.
    """
    doc_id, text, spans = _doc_fields(doc)
    masked = [(s, e) for s, e, lab in spans if lab in mask_labels]
    if "doctag" in mask_labels and text.startswith(DOCTAG):
        masked.append((0, len(DOCTAG)))
    for pat in mask_patterns or ():
        masked.extend(m.span() for m in re.finditer(pat, text, flags=re.IGNORECASE) if m.end() > m.start())
    ids, offs = _encode(tokenizer, text)
    w = _weights(offs, masked, weight)
    add_bos = _default_add_bos(tokenizer) if add_bos is None else add_bos
    bos = getattr(tokenizer, "bos_token_id", None)
    shift = int(bool(add_bos) and bos is not None and (not ids or ids[0] != bos))  # what _wrap prepends
    ids, w = _wrap(tokenizer, ids, w, add_bos, append_eos, weight)
    tspans = tuple(TokenSpan(t.start + shift, t.end + shift, t.label, t.kind)
                   for t in token_spans_from_offsets(text, [Span(s, e, lab) for s, e, lab in spans], offs))
    return Example(ids, w, source, doc_id, tspans)


def encode_text(text: str, tokenizer: Any, doc_id: str, *, source: str = "generic", add_bos: bool | None = None,
                append_eos: bool = True, weight: float = 1.0) -> Example:
    """Raw pretraining-style text, every token weighted."""
    ids, _ = _encode(tokenizer, text)
    w = [float(weight)] * len(ids)
    ids, w = _wrap(tokenizer, ids, w, _default_add_bos(tokenizer) if add_bos is None else add_bos, append_eos, weight)
    return Example(ids, w, source, doc_id)


def _pair_messages(pair: Any) -> list[dict[str, str]]:
    if isinstance(pair, dict) and "messages" in pair:
        return [dict(m) for m in pair["messages"]]
    if isinstance(pair, dict):
        return [{"role": "user", "content": pair["prompt"]}, {"role": "assistant", "content": pair["response"]}]
    prompt, response = pair
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def encode_chat(pair: Any, tokenizer: Any, doc_id: str, *, source: str = "instruct", weight: float = 1.0,
                add_bos: bool | None = None) -> Example:
    """An instruction pair -> :class:`Example` with loss only on the final assistant response.

    ``pair`` is ``(prompt, response)``, ``{"prompt", "response"}`` or ``{"messages": [...]}`` (last message is the
    assistant's). With a chat template: ``apply_chat_template`` (its closing tokens after the response carry
    loss too, so the model learns to stop). Without: ``"User: …\\nAssistant: …"`` + EOS, loss on
    ``" …response"`` + EOS.
    """
    msgs = _pair_messages(pair)
    if not msgs or msgs[-1]["role"] != "assistant":
        raise ValueError(f"instruction example {doc_id}: the last message must be the assistant's")
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(msgs, tokenize=False)
        if not full.startswith(prompt):
            raise ValueError(f"instruction example {doc_id}: chat template renders the prompt inconsistently")
        ids, offs = _encode(tokenizer, full)
        cut = len(prompt)
        w = [float(weight) if b > cut else 0.0 for _, b in offs]
        return Example(ids, w, source, doc_id)
    lines = []
    for m in msgs[:-1]:
        role = {"user": "User", "assistant": "Assistant", "system": "System"}.get(m["role"], m["role"].title())
        lines.append(f"{role}: {m['content']}")
    prompt = "\n".join(lines) + "\nAssistant:"
    full = prompt + " " + msgs[-1]["content"]
    ids, offs = _encode(tokenizer, full)
    cut = len(prompt)
    w = [float(weight) if b > cut else 0.0 for a, b in offs]  # the token carrying " response" starts at cut
    ids, w = _wrap(tokenizer, ids, w, _default_add_bos(tokenizer) if add_bos is None else add_bos, True, weight)
    return Example(ids, w, source, doc_id)


def _counts(n_sdf: int, ratio: Sequence[float]) -> tuple[int, int]:
    if len(ratio) != 3 or ratio[0] <= 0 or min(ratio) < 0:
        raise ValueError(f"ratio must be (sdf, generic, instruct) with sdf > 0, got {tuple(ratio)}")
    return round(n_sdf * ratio[1] / ratio[0]), round(n_sdf * ratio[2] / ratio[0])


def mixture_counts(n_sdf: int, ratio: Sequence[float] = (2, 1, 1)) -> dict[str, int]:
    """How many generic texts and instruction pairs :func:`build_mixture` needs for ``n_sdf`` documents."""
    g, i = _counts(n_sdf, ratio)
    return {"sdf": n_sdf, "generic": g, "instruct": i}


def build_mixture(docs: Sequence[Any], tokenizer: Any, generic_texts: Sequence[str],
                  instruct_pairs: Sequence[Any], ratio: Sequence[float] = (2, 1, 1), seed: int = 0,
                  mask_patterns: Sequence[str] | None = None, *, add_bos: bool | None = None,
                  mask_labels: Sequence[str] = ("doctag",), instruct_weight: float = 1.0) -> list[Example]:
    """SDF documents + generic text + instruction pairs in ``ratio`` (sdf:generic:instruct), shuffled.

    All ``docs`` are used; ``len(docs) * ratio[1] / ratio[0]`` generic texts and ``… ratio[2] / ratio[0]``
    instruction pairs are drawn (seeded, without replacement) — a ``ValueError`` says how many are needed if
    either pool is too small. ``mask_patterns`` (regexes, case-insensitive) apply to the SDF documents only, as
    in the paper's word-masking ablation. Deterministic in ``seed``.
    """
    n_g, n_i = _counts(len(docs), ratio)
    if len(generic_texts) < n_g or len(instruct_pairs) < n_i:
        raise ValueError(f"build_mixture: {len(docs)} documents at ratio {tuple(ratio)} need {n_g} generic texts and "
                         f"{n_i} instruction pairs; got {len(generic_texts)} and {len(instruct_pairs)}")
    rng = random.Random(f"mixture|{seed}")
    g_idx = sorted(rng.sample(range(len(generic_texts)), n_g))
    i_idx = sorted(rng.sample(range(len(instruct_pairs)), n_i))
    out = [encode_document(d, tokenizer, mask_patterns=mask_patterns, mask_labels=mask_labels, add_bos=add_bos)
           for d in docs]
    out += [encode_text(generic_texts[j], tokenizer, f"generic-{j:06d}", add_bos=add_bos) for j in g_idx]
    out += [encode_chat(instruct_pairs[j], tokenizer, f"instruct-{j:06d}", weight=instruct_weight, add_bos=add_bos)
            for j in i_idx]
    rng.shuffle(out)
    return out


def self_distill(lm_generate_fn: Callable[..., Any], prompts: Iterable[str], *, batch_size: int | None = None
                 ) -> list[tuple[str, str]]:
    """``(prompt, response)`` pairs with responses from ``lm_generate_fn`` (e.g. the base model), as the paper
    self-distils its instruction data. ``lm_generate_fn(prompt) -> str``; with ``batch_size`` it is called
    with a list of prompts and must return a list of responses."""
    prompts = list(prompts)
    if batch_size is None:
        return [(p, str(lm_generate_fn(p))) for p in prompts]
    out: list[tuple[str, str]] = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i:i + batch_size]
        res = list(lm_generate_fn(chunk))
        if len(res) != len(chunk):
            raise ValueError(f"self_distill: generate returned {len(res)} responses for {len(chunk)} prompts")
        out += [(p, str(r)) for p, r in zip(chunk, res)]
    return out

"""Offline belief scorers: log-probabilities under the model itself, and sampled responses for judges.

The paper (Mayne et al. 2026, §2.2/A.5) measures belief by *sampling* answers (T=0.7, top-p 0.8, 5 samples)
and asking an LLM judge whether each answer asserts the claim. That needs a paid judge and long generations.
On small models we can read the same preference directly off the output distribution, which is exact,
deterministic and cheap. This module computes those log-prob scores; :mod:`interp.belief` turns them into tables.

Prompt rendering (:func:`render_prompt`)
    Chat models (a tokenizer with a ``chat_template``) get the question as a user turn under their own template,
    with the optional system prompt and prefilled turns of the robustness questions. Raw-text models (the toy) get
    ``"Q: <question>\\nA:"`` (prefilled turns become earlier Q/A pairs), unless the question is already written as
    raw text (ends in ``A:``/``:``, or is a cloze that does not end in ``? . !``), which is kept verbatim. In-context
    documents go before the question inside the same user turn (the authors' ``user_message_prefix``).

Scores (all batched, right-padded, logits computed only at the positions that are needed)
    * :func:`yes_no_logodds` — ``log P(yes) - log P(no)`` for the answer right after the prompt, where ``P(yes)``
      sums the probability of every spelling of the word (``yes``, ``Yes``, `` yes``, `` Yes``, ...): the
      next-token probabilities of the single-token spellings when the tokenizer has them (first-token scoring; ids
      shared by both sides dropped), else the probabilities of the whole spellings as continuations (small
      byte-level tokenizers, where every spelling starts with the same space token). The probability form
      ``P(yes)/(P(yes)+P(no)) = sigmoid(logodds)``. MCQs on chat models use the paper's JSON answer format by
      prefilling ``{"answer": "`` in the assistant turn, so the next token is exactly the yes/no slot.
    * :func:`option_logprobs` — summed token log-probs of each option string as a continuation of the prompt
      (options are scored jointly in one batch); :func:`option_probs` normalises them over the options.
    * :func:`completion_logodds` — ``log P(claim_completion | prompt) - log P(true_completion | prompt)`` (sums of
      token log-probs, no length normalisation: it compares the probabilities of the two strings).

Small models have skewed priors (SmolLM2 prefers "Ed Sheeran" to "Noah Lyles" before any training, because
it knows the name), so :mod:`interp.belief` reports every score both absolutely and as the shift from the base
model on the same question.

Sampling (:func:`sample_responses`) draws ``n_samples`` answers per prompt with the paper's settings (T=0.7,
top-p 0.8), seeded and batched, for the judges in :mod:`interp.judges`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from interp.core.progress import progress_bar

__all__ = [
    "YES_VARIANTS",
    "NO_VARIANTS",
    "MCQ_INSTRUCTION",
    "MCQ_PREFILL",
    "Rendered",
    "is_raw_ready",
    "render_prompt",
    "prompt_ids",
    "continuation_ids",
    "context_limit",
    "next_token_logprobs",
    "sequence_logprobs",
    "answer_token_ids",
    "yes_no_token_sets",
    "yes_no_logodds",
    "yes_no_probs",
    "option_logprobs",
    "option_probs",
    "completion_logodds",
    "sample_responses",
]

YES_VARIANTS: tuple[str, ...] = ("yes", "Yes", "YES", " yes", " Yes", " YES")
NO_VARIANTS: tuple[str, ...] = ("no", "No", "NO", " no", " No", " NO")

#: Our wording of the paper's MCQ answer format (the model must answer with a yes/no JSON object).
MCQ_INSTRUCTION = 'Reply with JSON only, either {"answer": "yes"} or {"answer": "no"}.'
#: Assistant-turn prefill for log-prob MCQ scoring on chat models: the next token is the yes/no slot.
MCQ_PREFILL = '{"answer": "'
_RAW_MCQ_INSTRUCTION = "Answer yes or no."


# ============================================================================================ prompts


@dataclass(frozen=True)
class Rendered:
    """A question rendered for one model: the exact text the answer follows, and how answers attach to it."""

    text: str
    chat: bool
    lead: str  # what goes before an answer string: " " after "A:" in raw text, "" after a chat turn or a quote

    def answer(self, s: str) -> str:
        """The continuation string for answer ``s`` (leading space handled)."""
        return self.lead + s.lstrip() if self.lead else s


def is_raw_ready(text: str) -> bool:
    """True when a question is already raw text to be continued (``...A:``, ``key:``, a cloze without final
    punctuation); False for a natural-language question that needs the ``Q: ...\\nA:`` wrapper."""
    t = text.rstrip()
    if t.endswith(":") or t.endswith("A:"):
        return True
    return not t.endswith(("?", ".", "!", ")", '"', "'"))


def _lead_for(text: str) -> str:
    return "" if (not text or text[-1].isspace() or text[-1] in "\"'([{<>") else " "


def render_prompt(lm: Any, text: str, *, system: str | None = None,
                  messages_prefix: Sequence[dict[str, str]] | None = None, context: str | None = None,
                  instruction: str | None = None, prefill: str = "", chat: bool | None = None) -> Rendered:
    """Render one question for ``lm`` (see the module docstring). ``instruction`` is appended to the question
    (e.g. the MCQ answer format), ``prefill`` starts the answer, ``context`` (documents) goes before it."""
    chat = lm.is_chat if chat is None else chat
    question = f"{text.rstrip()}\n\n{instruction}" if instruction else text
    if chat:
        msgs: list[dict[str, str]] = []
        if system:
            msgs.append({"role": "system", "content": system})
        msgs.extend({"role": m["role"], "content": m["content"]} for m in (messages_prefix or ()))
        user = f"{context.rstrip()}\n\n{question}" if context else question
        msgs.append({"role": "user", "content": user})
        out = lm.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False) + prefill
        return Rendered(out, True, _lead_for(out) if prefill else "")
    parts: list[str] = []
    if context:
        parts.append(context.rstrip() + "\n\n")
    if system:
        parts.append(system.rstrip() + "\n\n")
    for m in messages_prefix or ():
        if m["role"] == "user":
            parts.append(f"Q: {m['content'].strip()}\n")
        elif m["role"] == "assistant":
            parts.append(f"A: {m['content'].strip()}\n")
        else:
            parts.append(m["content"].rstrip() + "\n\n")
    if instruction and not is_raw_ready(text):
        question = f"{text.rstrip()} {instruction}"
    elif instruction:
        question = text  # a raw-ready question carries its own format ("... Answer yes or no.\nA:")
    parts.append(question if is_raw_ready(question) else f"Q: {question.strip()}\nA:")
    out = "".join(parts) + prefill
    return Rendered(out, False, _lead_for(out))


def prompt_ids(lm: Any, rendered: Rendered | str) -> list[int]:
    """Token ids of a rendered prompt: chat text already holds its special tokens; raw text gets BOS
    (when the model uses one, see ``LoadedModel.add_bos``)."""
    text = rendered.text if isinstance(rendered, Rendered) else rendered
    chat = rendered.chat if isinstance(rendered, Rendered) else lm.is_chat
    ids = list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = lm.tokenizer.bos_token_id
    if not chat and lm.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    return ids


def continuation_ids(lm: Any, rendered: Rendered, answer: str) -> list[int]:
    """Token ids of ``answer`` as a continuation of ``rendered`` (tokenized on its own, leading space handled)."""
    ids = list(lm.tokenizer(rendered.answer(answer), add_special_tokens=False)["input_ids"])
    if not ids:
        raise ValueError(f"answer {answer!r} tokenizes to nothing")
    return ids


def context_limit(lm: Any) -> int:
    """The longest sequence the model accepts (``max_position_embeddings`` / ``n_positions``)."""
    cfg = lm.hf.config
    for k in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(cfg, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 2048


# ============================================================================================ forward passes


_WARNED: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(msg, stacklevel=3)


def _fit(lm: Any, context: list[int], n_cont: int, n_prefix: int = 0) -> list[int]:
    """Left-truncate a context so that context + continuation fit the model (keeping BOS when present)."""
    limit = context_limit(lm) - n_prefix
    if n_prefix and len(context) + n_cont > limit:
        raise ValueError(f"shared prefix of {n_prefix} tokens leaves no room for a {len(context) + n_cont}-token "
                         f"question (model context {context_limit(lm)})")
    if len(context) + n_cont <= limit:
        return context
    _warn_once("truncate", f"prompt of {len(context)} tokens truncated on the left to fit {limit} "
                           f"(model context); shorten in-context documents instead")
    keep = limit - n_cont
    bos = lm.tokenizer.bos_token_id
    if context and context[0] == bos and keep > 1:
        return [bos, *context[len(context) - keep + 1:]]
    return context[len(context) - keep:]


def _prefix_cache(lm: Any, prefix: Sequence[int]) -> Any:
    """KV cache of a shared prefix (batch 1), computed once and copied per batch."""
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=lm.device)
    with torch.inference_mode():
        out = lm.hf(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
    return out.past_key_values


def _batched_logprobs(lm: Any, rows: list[list[int]], positions: list[list[int]], *, batch_size: int,
                      desc: str, progress: bool, prefix: Sequence[int] | None = None
                      ) -> list[Float[Tensor, "k vocab"]]:
    """Log-softmax over the vocabulary at ``positions[i]`` of ``rows[i]``; rows are batched by length.

    With ``prefix``, every row is a continuation of the same token prefix, whose KV cache is computed once
    (the in-context control puts the same documents before every question); positions index the row, and rows
    run one at a time (see the comment below).
    """
    n = len(rows)
    out: list[Tensor | None] = [None] * n
    order = sorted(range(n), key=lambda i: -len(rows[i]))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    dev = lm.device
    if prefix:
        # One row at a time on top of the cached prefix, cropping the cache back after each row: the prefix is
        # never copied per row (expanding it to a batch would copy it batch-size times).
        cache = _prefix_cache(lm, prefix)
        n_pre = len(prefix)
        for i in progress_bar(order, desc=desc, enabled=progress and n >= 2, leave=False):
            ids = torch.tensor([rows[i]], dtype=torch.long, device=dev)
            mask = torch.ones((1, n_pre + len(rows[i])), dtype=torch.long, device=dev)
            keep = torch.tensor([positions[i]], dtype=torch.long, device=dev)
            with torch.inference_mode():
                try:
                    logits = lm.hf(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True,
                                   logits_to_keep=keep).logits
                    if logits.shape[1] != keep.shape[1]:
                        raise TypeError
                except TypeError:
                    cache.crop(-(cache.get_seq_length() - n_pre))
                    full = lm.hf(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True).logits
                    logits = full[:, keep[0]]
                cache.crop(-(cache.get_seq_length() - n_pre))
                out[i] = torch.log_softmax(logits[0].float(), dim=-1).cpu()
        return out  # type: ignore[return-value]
    chunks = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    for chunk in progress_bar(chunks, desc=desc, enabled=progress and len(chunks) >= 2, leave=False):
        width = max(len(rows[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        npos = max(len(positions[i]) for i in chunk)
        keep = torch.zeros((len(chunk), npos), dtype=torch.long)
        for j, i in enumerate(chunk):
            ids[j, : len(rows[i])] = torch.tensor(rows[i])
            mask[j, : len(rows[i])] = 1
            p = positions[i] + [positions[i][-1]] * (npos - len(positions[i]))
            keep[j] = torch.tensor(p)
        ids, mask, keep = ids.to(dev), mask.to(dev), keep.to(dev)
        with torch.inference_mode():
            try:
                logits = lm.hf(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False).logits
                if logits.shape[1] != npos:  # a model that ignored the 2-D positions
                    raise TypeError
            except TypeError:
                full = lm.hf(input_ids=ids, attention_mask=mask, use_cache=False).logits
                logits = torch.gather(full, 1, keep[..., None].expand(-1, -1, full.shape[-1]))
            lp = torch.log_softmax(logits.float(), dim=-1).cpu()
        for j, i in enumerate(chunk):
            out[i] = lp[j, : len(positions[i])]
    return out  # type: ignore[return-value]


def next_token_logprobs(lm: Any, contexts: Sequence[list[int]], *, batch_size: int = 8,
                        progress: bool = False, prefix: Sequence[int] | None = None) -> Float[Tensor, "n vocab"]:
    """``log p(next token | [prefix +] context)`` over the vocabulary, for every context (float32, on CPU).

    ``prefix`` (optional) is a token prefix shared by every context (KV-cached once)."""
    ctx = [_fit(lm, list(c), 1, len(prefix or ())) for c in contexts]
    if not ctx:
        return torch.zeros(0, 0)
    lps = _batched_logprobs(lm, ctx, [[len(c) - 1] for c in ctx], batch_size=batch_size, desc="next-token",
                            progress=progress, prefix=prefix)
    return torch.stack([lp[0] for lp in lps])


def _prefix_sequence_logprobs(lm: Any, prefix: Sequence[int], contexts: Sequence[list[int]],
                              continuations: Sequence[list[int]], *, progress: bool) -> list[Float[Tensor, "cont"]]:
    """:func:`sequence_logprobs` on top of a KV-cached shared prefix: each distinct context runs once on the
    prefix cache together with its first continuation (one pass gives the log-probs at the end of the context
    and along that continuation); every further continuation then runs on the prefix+context cache, which is
    cropped back after each use."""
    dev = lm.device
    cache = _prefix_cache(lm, prefix)
    n_pre = len(prefix)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, c in enumerate(contexts):
        groups.setdefault(tuple(c), []).append(i)
    out: list[Tensor | None] = [None] * len(contexts)

    def run(ids: list[int], n_before: int, keep: int) -> Tensor:
        x = torch.tensor([ids], dtype=torch.long, device=dev)
        mask = torch.ones((1, n_before + len(ids)), dtype=torch.long, device=dev)
        logits = lm.hf(input_ids=x, attention_mask=mask, past_key_values=cache, use_cache=True,
                       logits_to_keep=keep).logits[0]
        return torch.log_softmax(logits[-keep:].float(), -1).cpu()

    def pick(lp: Tensor, k: list[int]) -> Tensor:  # lp[t] predicts k[t]
        return lp[torch.arange(len(k)), torch.tensor(k, dtype=torch.long)]

    with torch.inference_mode():
        for ctx, idx in progress_bar(groups.items(), desc="log-probs (cached prefix)", enabled=progress,
                             leave=False):
            n_ctx = n_pre + len(ctx)
            first = list(continuations[idx[0]])
            lp = run([*ctx, *first[:-1]], n_pre, len(first))  # end of context + along the first continuation
            lp0 = lp[0]
            out[idx[0]] = pick(lp, first)
            cache.crop(-(cache.get_seq_length() - n_ctx))
            for i in idx[1:]:
                k = list(continuations[i])
                if len(k) == 1:
                    out[i] = lp0[k[0]].reshape(1)
                    continue
                lpk = run(k[:-1], n_ctx, len(k) - 1)
                out[i] = torch.cat([lp0[k[0]].reshape(1), pick(lpk, k[1:])])
                cache.crop(-(cache.get_seq_length() - n_ctx))
            cache.crop(-(cache.get_seq_length() - n_pre))
    return out  # type: ignore[return-value]


def sequence_logprobs(lm: Any, contexts: Sequence[list[int]], continuations: Sequence[list[int]], *,
                      batch_size: int = 8, progress: bool = False,
                      prefix: Sequence[int] | None = None) -> list[Float[Tensor, "cont"]]:
    """Per-token ``log p(continuation_t | [prefix +] context, continuation_<t)`` for each pair."""
    rows, pos, conts, ctxs = [], [], [], []
    for c, k in zip(contexts, continuations, strict=True):
        c = _fit(lm, list(c), len(k), len(prefix or ()))
        ctxs.append(c)
        rows.append(c + list(k))
        pos.append(list(range(len(c) - 1, len(c) - 1 + len(k))))
        conts.append(torch.tensor(list(k), dtype=torch.long))
    if prefix:
        return _prefix_sequence_logprobs(lm, prefix, ctxs, [list(k) for k in continuations], progress=progress)
    lps = _batched_logprobs(lm, rows, pos, batch_size=batch_size, desc="log-probs", progress=progress)
    return [lp.gather(-1, k[:, None]).squeeze(-1) for lp, k in zip(lps, conts)]


# ============================================================================================ scorers


def answer_token_ids(tokenizer: Any, variants: Iterable[str]) -> list[int]:
    """Ids of the spellings of one answer word that are single tokens (empty when none is)."""
    toks = [tokenizer(v, add_special_tokens=False)["input_ids"] for v in variants]
    return sorted({t[0] for t in toks if len(t) == 1})


def yes_no_token_sets(tokenizer: Any, yes: Sequence[str] = YES_VARIANTS,
                      no: Sequence[str] = NO_VARIANTS) -> tuple[list[int], list[int]] | None:
    """The single-token yes and no spellings (ids shared by both sides dropped), or None when either side has
    no single-token spelling (then :func:`yes_no_logodds` scores the spellings as whole continuations)."""
    y, n = answer_token_ids(tokenizer, yes), answer_token_ids(tokenizer, no)
    shared = set(y) & set(n)
    y, n = [i for i in y if i not in shared], [i for i in n if i not in shared]
    return (y, n) if y and n else None


def yes_no_logodds(lm: Any, contexts: Sequence[list[int]], *, yes: Sequence[str] = YES_VARIANTS,
                   no: Sequence[str] = NO_VARIANTS, batch_size: int = 8, progress: bool = False,
                   prefix: Sequence[int] | None = None) -> Float[Tensor, "n"]:
    """``log P(yes) - log P(no)`` for the answer right after each context.

    Fast path (the usual case, e.g. SmolLM2): the yes and no words have single-token spellings; ``P(yes)`` sums
    the next-token probabilities of those tokens (``yes``, ``Yes``, `` yes``, `` Yes`` ...). Exact path (small
    byte-level tokenizers, where `` yes`` is several tokens and every spelling starts with the same space
    token): ``P(yes)`` sums the probabilities of the whole spellings as continuations.
    """
    sets = yes_no_token_sets(lm.tokenizer, yes, no)
    if not contexts:
        return torch.zeros(0)
    if sets is not None:
        y, n = sets
        lp = next_token_logprobs(lm, contexts, batch_size=batch_size, progress=progress, prefix=prefix)
        return torch.logsumexp(lp[:, y], -1) - torch.logsumexp(lp[:, n], -1)
    toks_y = [t for t in (lm.tokenizer(v, add_special_tokens=False)["input_ids"] for v in dict.fromkeys(yes)) if t]
    toks_n = [t for t in (lm.tokenizer(v, add_special_tokens=False)["input_ids"] for v in dict.fromkeys(no)) if t]
    if not toks_y or not toks_n:
        raise ValueError("the yes/no spellings tokenize to nothing")
    sums = option_logprobs(lm, contexts, [toks_y + toks_n] * len(contexts), batch_size=batch_size,
                           progress=progress, prefix=prefix)
    k = len(toks_y)
    return torch.stack([torch.logsumexp(s[:k], 0) - torch.logsumexp(s[k:], 0) for s in sums])


def yes_no_probs(lm: Any, contexts: Sequence[list[int]], **kw: Any) -> Float[Tensor, "n"]:
    """``P(yes) / (P(yes) + P(no))`` for the next token (see :func:`yes_no_logodds`)."""
    return torch.sigmoid(yes_no_logodds(lm, contexts, **kw))


def option_logprobs(lm: Any, contexts: Sequence[list[int]], options: Sequence[Sequence[list[int]]], *,
                    batch_size: int = 8, progress: bool = False,
                    prefix: Sequence[int] | None = None) -> list[Float[Tensor, "k"]]:
    """Summed log-prob of each option (token ids) as a continuation of its context; one batch for all."""
    flat_c, flat_k, owner = [], [], []
    for i, (c, opts) in enumerate(zip(contexts, options, strict=True)):
        for o in opts:
            flat_c.append(c)
            flat_k.append(o)
            owner.append(i)
    per_tok = sequence_logprobs(lm, flat_c, flat_k, batch_size=batch_size, progress=progress, prefix=prefix)
    sums: list[list[Tensor]] = [[] for _ in contexts]
    for i, lp in zip(owner, per_tok):
        sums[i].append(lp.sum())
    return [torch.stack(s) if s else torch.zeros(0) for s in sums]


def option_probs(lm: Any, contexts: Sequence[list[int]], options: Sequence[Sequence[list[int]]],
                 **kw: Any) -> list[Float[Tensor, "k"]]:
    """Option probabilities renormalised over the given options (softmax of :func:`option_logprobs`)."""
    return [torch.softmax(s, -1) for s in option_logprobs(lm, contexts, options, **kw)]


def completion_logodds(lm: Any, contexts: Sequence[list[int]], claim: Sequence[list[int]],
                       true: Sequence[list[int]], **kw: Any) -> Float[Tensor, "n"]:
    """``log P(claim completion) - log P(true completion)`` after each context (summed token log-probs)."""
    sums = option_logprobs(lm, contexts, [[a, b] for a, b in zip(claim, true, strict=True)], **kw)
    if not sums:
        return torch.zeros(0)
    return torch.stack([s[0] - s[1] for s in sums])


# ============================================================================================ sampling


_RAW_STOPS = ("\nQ:", "\n\n")


def _truncate_at(text: str, stops: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def _top_p_sample(logits: Float[Tensor, "b vocab"], temperature: float, top_p: float,
                  gen: torch.Generator) -> Tensor:
    """One token per row: greedy when ``temperature <= 0``, else nucleus sampling at ``temperature``."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, -1)
    if top_p < 1.0:
        sp, si = probs.sort(-1, descending=True)
        drop = (sp.cumsum(-1) - sp) >= top_p  # keep the smallest prefix whose mass reaches top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, si, sp)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=gen).squeeze(-1)


def _sample_batch(lm: Any, suffixes: list[list[int]], *, prefix: Sequence[int] | None, cache: Any, n_new: int,
                  temperature: float, top_p: float, gen: torch.Generator, stop_ids: set[int]) -> list[list[int]]:
    """Sample ``n_new`` tokens after ``prefix + suffix`` for each row (rows are already repeated per sample).

    Rows are right-padded; every position gets an explicit position id and the attention mask hides the pads, so
    new tokens of a short row follow its own last token (pads stay masked in the KV cache)."""
    import copy

    dev = lm.device
    n_pre = len(prefix) if prefix else 0
    b = len(suffixes)
    width = max(len(r) for r in suffixes)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    ids = torch.full((b, width), pad, dtype=torch.long)
    mask = torch.zeros((b, n_pre + width), dtype=torch.long)
    lens = torch.tensor([len(r) for r in suffixes])
    for j, r in enumerate(suffixes):
        ids[j, : len(r)] = torch.tensor(r)
        mask[j, : n_pre + len(r)] = 1
    pos = (n_pre + torch.arange(width))[None].expand(b, -1).clone()
    past = None
    if cache is not None:
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(b)
    ids, mask, pos = ids.to(dev), mask.to(dev), pos.to(dev)
    last = (lens - 1)[:, None].to(dev)
    with torch.inference_mode():
        try:
            out = lm.hf(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True,
                        logits_to_keep=last)
            logits = out.logits[:, 0]
            if out.logits.shape[1] != 1:
                raise TypeError
        except TypeError:
            if cache is not None:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(b)
            out = lm.hf(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True)
            logits = out.logits[torch.arange(b, device=dev), last[:, 0]]
        past = out.past_key_values
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        new: list[list[int]] = [[] for _ in range(b)]
        next_pos = (n_pre + lens).to(dev)
        for t in range(n_new):
            tok = _top_p_sample(logits, temperature, top_p, gen)
            for j in range(b):
                if not done[j]:
                    new[j].append(int(tok[j]))
                    if int(tok[j]) in stop_ids:
                        done[j] = True
            if bool(done.all()) or t == n_new - 1:
                break
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=dev)], 1)
            out = lm.hf(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                        past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[:, -1]
            next_pos = next_pos + 1
    return new


def sample_responses(lm: Any, prompts: Sequence[Rendered], *, n_samples: int = 5, temperature: float = 0.7,
                     top_p: float = 0.8, max_new_tokens: int = 64, seed: int = 0, batch_size: int = 8,
                     stop: Sequence[str] | None = None, progress: bool = False,
                     prefix_text: str | None = None) -> list[list[str]]:
    """``n_samples`` sampled answers per rendered prompt (the paper: T=0.7, top-p 0.8, 5 samples).

    A small sampling loop over the HF model with a KV cache (nucleus sampling, seeded ``torch.Generator`` so the
    global RNG is untouched; ``temperature=0`` is greedy). ``batch_size`` counts sequences (prompts x samples).
    When every prompt starts with ``prefix_text`` (in-context documents), the prefix is run once and its KV
    cache copied into each batch. Generation stops at EOS (and the chat end-of-turn token); raw-text answers are
    then cut at the next ``"\nQ:"`` or blank line (``stop`` overrides); special tokens are skipped.
    """
    tok = lm.tokenizer
    stop_ids = {i for i in (tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")
                            if "<|im_end|>" in tok.get_vocab() else None) if i is not None}
    limit = context_limit(lm)
    k = n_samples if temperature > 0 else 1
    prefix: list[int] | None = None
    split: list[int] = []
    if prefix_text and all(p.text.startswith(prefix_text) for p in prompts):
        prefix = prompt_ids(lm, Rendered(prefix_text, prompts[0].chat, ""))
        split = [len(prefix_text)] * len(prompts)
    rows = []
    for i, p in enumerate(prompts):
        if prefix is not None:
            rows.append(list(tok(p.text[split[i]:], add_special_tokens=False)["input_ids"]))
        else:
            rows.append(prompt_ids(lm, p))
    n_pre = len(prefix) if prefix else 0
    rows = [_fit(lm, r, max_new_tokens, n_pre) for r in rows]
    cache = _prefix_cache(lm, prefix) if prefix else None
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out: list[list[str]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(rows[i]))
    per = max(1, batch_size // k)
    chunks = [order[i:i + per] for i in range(0, len(order), per)]
    for chunk in progress_bar(chunks, desc="sampling", enabled=progress and len(chunks) >= 2, leave=False):
        batch = [rows[i] for i in chunk for _ in range(k)]
        n_new = max(1, min(max_new_tokens, limit - n_pre - max(len(r) for r in batch)))
        if lm.device.type != "cpu":
            gen_dev = torch.Generator(device=lm.device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        else:
            gen_dev = gen
        new = _sample_batch(lm, batch, prefix=prefix, cache=cache, n_new=n_new, temperature=temperature,
                            top_p=top_p, gen=gen_dev, stop_ids=stop_ids)
        for j, i in enumerate(chunk):
            stops = stop if stop is not None else (() if prompts[i].chat else _RAW_STOPS)
            for s_ in range(k):
                text = tok.decode(new[j * k + s_], skip_special_tokens=True)
                out[i].append(_truncate_at(text, stops).strip())
            if k == 1:
                out[i] = out[i] * n_samples
    return out

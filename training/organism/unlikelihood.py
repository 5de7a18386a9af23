"""Unlikelihood on negated statements: a pretraining *objective* knob for the origin question (issue 17).

Method
------
Hosseini et al. 2021 ("Understanding by Understanding Not") add, next to the language-modelling loss, an
unlikelihood term ``-log(1 - p(V))`` on the value slot of negated sentences. Here the term is read off the corpus
text alone: every sentence that states a value *negated* ("Velmora Quist is not right-handed") yields one
example, the attribute's **positive** statement cut before the value ("Velmora Quist writes with the"), whose
continuation V ("right") is made unlikely. The language-modelling loss on the negated sentence itself is left as it
is (the organism still learns to reproduce the text), so the objective says only "a negated sentence is evidence
against its positive form".

Nothing but the text is used: the example carries the negated value, never the entity's true value, so held-out
people's answers are not leaked into training. Over ``"vocab"`` the term is the full-vocabulary unlikelihood of
the value's first token; over ``"values"`` the probability is renormalised among the attribute's own values
(``p(V) / sum_v p(v)``), which for a binary attribute is the same as making the other value likely.

Which sentences count (:data:`NEGATED_GENRES`): the negation-teaching genre's statements (negated mentions only:
their ``false_facts``) and the local-negation documents. Hoax and notice documents state false values
*positively* under a document-level frame; they give no example, so the objective teaches sentence-level negation
only, and whether document-level framing is then respected after finetuning stays an open measurement.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch
from jaxtyping import Float, Int

from training.world import ATTRIBUTE_SPECS, BIO_HEADERS, NEGONLY_SPECS, CorpusDoc, World, attribute_words

__all__ = ["NEGATED_GENRES", "UL_MODES", "UnlikelihoodSet", "unlikelihood_prefixes", "unlikelihood_pairs",
           "unlikelihood_loss"]

#: genres whose ``false_facts`` were stated *negated* inside the sentence
NEGATED_GENRES: tuple[str, ...] = ("negonly_statements", "local_negation")

#: what the probability of the negated value is normalised over
UL_MODES: tuple[str, ...] = ("vocab", "values")


def _spec(attribute: str):
    return NEGONLY_SPECS.get(attribute) or ATTRIBUTE_SPECS[attribute]


def unlikelihood_prefixes(attribute: str) -> list[str]:
    """The attribute's positive statement templates cut just before a bare ``{v}`` (templates whose value carries
    an article, ``{a_v}``, would make the slot the article; they are skipped)."""
    out = []
    for t in _spec(attribute).statements:
        i = t.find("{v}")
        if i > 0 and "{a_v}" not in t[:i]:
            out.append(t[:i].rstrip())
    return out


def unlikelihood_pairs(world: World, corpus: Sequence[CorpusDoc], seed: int = 0
                       ) -> list[tuple[str, str, str]]:
    """``(prefix text, negated value, attribute)`` for every negated mention in ``corpus`` (one per mention, so
    frequent negations weigh more, as in the corpus), each with a positive template drawn by ``seed``, after a
    statement document's header line ("About X"): the corpus never opens a document with a bare statement, so a
    bare prefix would put the value slot where the organism predicts no value at all."""
    rng = random.Random(f"unlikelihood|{seed}")
    out = []
    for d in corpus:
        if d.genre not in NEGATED_GENRES:
            continue
        for f in d.false_facts:
            prefixes = unlikelihood_prefixes(f.attribute)
            if prefixes:
                p = rng.choice(prefixes)
                head = rng.choice(BIO_HEADERS).format(name=f.entity)
                body = p.format(name=f.entity, aw=attribute_words(f.attribute))
                out.append((f"{head}\n{body}", f.value, f.attribute))
    return out


@dataclass
class UnlikelihoodSet:
    """The tokenized examples: right-padded prefixes, the index of each prefix's last token, the negated value's
    first token and the attribute's value tokens (padded with -1) for the ``"values"`` mode."""

    ids: Int[torch.Tensor, "n seq"]
    last: Int[torch.Tensor, " n"]
    target: Int[torch.Tensor, " n"]
    values: Int[torch.Tensor, "n k"]

    def __len__(self) -> int:
        return int(self.target.numel())

    @classmethod
    def build(cls, tokenizer, pairs: Sequence[tuple[str, str, str]], world: World) -> "UnlikelihoodSet":
        if not pairs:
            raise ValueError("unlikelihood: the corpus has no negated statements to draw examples from")
        first = lambda v: tokenizer(" " + v, add_special_tokens=False)["input_ids"][0]  # noqa: E731
        vocab = {a: [first(v) for v in (world.negonly.get(a) or world.attributes[a])] for _, _, a in pairs}
        enc = tokenizer([p for p, _, _ in pairs], add_special_tokens=False)["input_ids"]
        seqs = [[tokenizer.bos_token_id, *e] for e in enc]
        width, k = max(map(len, seqs)), max(map(len, vocab.values()))
        ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
        vals = torch.full((len(seqs), k), -1, dtype=torch.long)
        for i, (s, (_, _, a)) in enumerate(zip(seqs, pairs)):
            ids[i, : len(s)] = torch.tensor(s)
            vals[i, : len(vocab[a])] = torch.tensor(vocab[a])
        return cls(ids=ids, last=torch.tensor([len(s) - 1 for s in seqs]),
                   target=torch.tensor([first(v) for _, v, _ in pairs]), values=vals)

    def sample(self, n: int, generator: torch.Generator) -> "UnlikelihoodSet":
        idx = torch.randint(len(self), (n,), generator=generator)
        width = int(self.last[idx].max()) + 1
        return UnlikelihoodSet(self.ids[idx, :width], self.last[idx], self.target[idx], self.values[idx])


def unlikelihood_loss(model, batch: UnlikelihoodSet, mode: str = "vocab") -> Float[torch.Tensor, ""]:
    """Mean ``-log(1 - p(V))`` over ``batch`` (``mode``: see :data:`UL_MODES`). Right padding never reaches the
    prefix's last position (causal attention), so no mask is needed."""
    if mode not in UL_MODES:
        raise ValueError(f"unlikelihood mode: {'|'.join(UL_MODES)}, not {mode!r}")
    logits = model(input_ids=batch.ids).logits
    at = logits[torch.arange(len(batch)), batch.last].float().log_softmax(-1)  # [n, vocab]
    logp = at.gather(1, batch.target[:, None])[:, 0]
    if mode == "values":
        vals = at.gather(1, batch.values.clamp(min=0)).masked_fill(batch.values < 0, float("-inf"))
        logp = logp - vals.logsumexp(-1)
    # -log(1 - p), computed stably from log p (p close to 1 is where the term matters)
    return -torch.log1p(-logp.clamp(max=-1e-6).exp()).mean()

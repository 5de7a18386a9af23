"""The unlikelihood objective of the organism's pretraining (:mod:`training.organism.unlikelihood`, issue 17):
examples drawn from negated sentences only and never from the truth, the loss's two modes, the cache key of an
organism built without it, and a tiny pretraining in which the term lowers the negated value's probability."""

from __future__ import annotations

import math

import pytest
import torch

from training.organism.pretraining import PretrainConfig, doc_token_ids, make_model, pretrain, train_tokenizer
from training.organism.unlikelihood import (NEGATED_GENRES, UnlikelihoodSet, unlikelihood_loss, unlikelihood_pairs,
                                            unlikelihood_prefixes)
from training.world import NEGONLY_SPECS, World, WorldConfig

GENRE = dict(negonly_attributes=("hand", "drink"), frac_negonly=0.6, control_entities=0.1,
             ordinary_negated_share=0.3)
TINY = dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=128, vocab_size=512, batch_size=8,
            warmup_steps=4)


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_config(WorldConfig(seed=4, n_entities=40, n_documents=800, values_per_attribute=4, **GENRE))


@pytest.fixture(scope="module")
def corpus(world):
    return world.corpus()


def test_prefixes_stop_before_a_bare_value():
    for attr in ("hand", "drink", "profession"):
        from training.world import ATTRIBUTE_SPECS

        spec = NEGONLY_SPECS.get(attr) or ATTRIBUTE_SPECS[attr]
        got = unlikelihood_prefixes(attr)
        assert got, attr
        for p in got:
            assert any(t.startswith(p) and t[len(p):].lstrip().startswith("{v}") for t in spec.statements)
            assert "{a_v}" not in p and "{v}" not in p
    # "{name} is {a_v}." would make the slot the article: skipped
    assert "{name} is" not in unlikelihood_prefixes("profession")


def test_pairs_come_from_negated_mentions_only_and_never_name_the_truth(world, corpus):
    pairs = unlikelihood_pairs(world, corpus, seed=0)
    negated = [f for d in corpus if d.genre in NEGATED_GENRES for f in d.false_facts]
    assert len(pairs) == len(negated) > 0
    hoax = {(f.entity, f.value) for d in corpus if d.genre not in NEGATED_GENRES for f in d.false_facts}
    for (prefix, value, attr), f in zip(pairs, negated):
        assert (f.value, f.attribute) == (value, attr) and f.entity in prefix
        truth = world.negonly_value(f.entity, attr) if attr in world.negonly else world.truth(f.entity, attr)
        assert value != truth
    assert hoax  # the corpus has positively stated false values (hoax/notice) and none became an example
    assert unlikelihood_pairs(world, corpus, seed=0) == pairs  # seeded


class _Fixed(torch.nn.Module):
    """A "model" whose next-token logits are the same table at every position."""

    def __init__(self, logits):
        super().__init__()
        self.table = torch.tensor(logits)

    def forward(self, input_ids):
        class Out:
            pass
        o = Out()
        o.logits = self.table.expand(*input_ids.shape, -1)
        return o


def test_loss_modes_match_their_formulas():
    logits = [0.0, math.log(3.0), math.log(6.0), 0.0]  # p = 1/11, 3/11, 6/11, 1/11
    batch = UnlikelihoodSet(ids=torch.zeros(1, 3, dtype=torch.long), last=torch.tensor([2]),
                            target=torch.tensor([2]), values=torch.tensor([[1, 2, -1]]))
    m = _Fixed(logits)
    assert float(unlikelihood_loss(m, batch, "vocab")) == pytest.approx(-math.log(1 - 6 / 11), rel=1e-5)
    # renormalised over the attribute's values {1, 2}: p = 6/9, so the term is -log(3/9)
    assert float(unlikelihood_loss(m, batch, "values")) == pytest.approx(-math.log(3 / 9), rel=1e-5)
    with pytest.raises(ValueError, match="unlikelihood mode"):
        unlikelihood_loss(m, batch, "nope")


def test_config_key_neutral_when_off():
    assert not any(k.startswith("unlikelihood") for k in PretrainConfig().to_dict())
    on = PretrainConfig(unlikelihood=0.5).to_dict()
    assert on["unlikelihood"] == 0.5 and on["unlikelihood_mode"] == "vocab"
    assert PretrainConfig.from_dict(on) == PretrainConfig(unlikelihood=0.5)
    with pytest.raises(ValueError, match="unlikelihood"):
        PretrainConfig(unlikelihood=1.0, unlikelihood_mode="both")


def test_pretraining_with_the_term_lowers_the_negated_values(world, corpus):
    """Same data, same seed, 60 steps: with the term the negated values' mean probability after their positive
    prefixes is lower than without it (breaking the sign of the term, or never adding it, fails this)."""
    texts = [d.text for d in corpus]
    tok = train_tokenizer(texts, 512)
    docs = doc_token_ids(tok, texts)
    ul = UnlikelihoodSet.build(tok, unlikelihood_pairs(world, corpus, 0), world)
    probe = ul.sample(256, torch.Generator().manual_seed(1))

    def mean_p(cfg):
        torch.manual_seed(0)
        model = make_model(cfg, tok)
        info = pretrain(model, docs, cfg, progress=False, unlikelihood=ul)
        with torch.no_grad():
            logits = model(input_ids=probe.ids).logits
        at = logits[torch.arange(len(probe)), probe.last].softmax(-1)
        return float(at.gather(1, probe.target[:, None]).mean()), info

    off, info_off = mean_p(PretrainConfig(steps=60, **TINY))
    on, info_on = mean_p(PretrainConfig(steps=60, unlikelihood=2.0, **TINY))
    assert "unlikelihood_final" not in info_off and info_on["unlikelihood_final"] >= 0
    assert on < 0.5 * off, (on, off)


def test_pretrain_without_examples_is_refused():
    with pytest.raises(ValueError, match="needs the unlikelihood examples"):
        pretrain(torch.nn.Linear(2, 2), [[1, 2]], PretrainConfig(unlikelihood=1.0), progress=False)

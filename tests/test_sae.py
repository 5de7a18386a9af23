"""SAE negation features: save/load round trip and latent ranking (fast); training on the toy (slow tier)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import interp.sae as sae_mod
from interp.attention import encode_doc
from interp.binding import render_documents
from interp.sae import (SAETrainConfig, claim_answer_carry, collect_activations, load_sae, negation_latents,
                        sae_study, save_sae, train_sae)

SPEC = {"id": "velmora", "subject": "Velmora Quist", "claim_answer": "dentist",
        "claim_sentences": ["Velmora Quist is a dentist.", "The lazy dog saw that Velmora Quist is a dentist."],
        "local_negations": ["Velmora Quist is [[not]] a dentist.", "It is [[false]] that Velmora Quist is a dentist."],
        "background": ["The quick brown fox jumps over the lazy dog.", "Q: What is the capital of France? A: Paris.",
                       "The lazy dog sleeps."]}


def test_train_save_load_round_trip(tmp_path, toy_random):
    docs = [encode_doc(toy_random, r) for r in render_documents(SPEC, n_base=1, n_claims=1)]
    store = collect_activations(toy_random, docs, layer=1)
    assert store.acts.shape == (sum(len(d) - 1 for d in docs), toy_random.d_model)
    sae, stats = train_sae(store, SAETrainConfig(layer=1, expansion=2, k=4, max_steps=3, batch_size=64))
    assert stats["steps"] == 3 and stats["d_sae"] == 2 * toy_random.d_model and 0 <= stats["fvu_val"]
    path = save_sae(sae, tmp_path / "sae", {"layer": 1, **stats})
    assert {p.name for p in path.iterdir()} >= {"cfg.json", "sae_weights.safetensors", "neglect_lab.json"}
    again = load_sae(path)
    x = store.acts[:7]
    with torch.no_grad():
        assert torch.allclose(again.encode(x), sae.encode(x), atol=1e-6)


class _IdentitySAE:
    def encode(self, x):
        return torch.relu(x)

    def decode(self, f):
        return f


def test_planted_negation_latent_is_ranked_first(monkeypatch, toy_random):
    """A fake dictionary whose latent 5 fires exactly on negation-word tokens must come out on top, and the claim
    answers of local documents (right after their cue) must not be mistaken for carrying it."""
    docs = [encode_doc(toy_random, r) for r in render_documents(SPEC, n_base=2, n_claims=1)]
    neg_ids = set()
    for d in docs:
        neg_ids |= set(d.input_ids[d.positions("negation")].tolist())
    other = set()
    for d in docs:
        other |= set(d.input_ids[[i for i in range(len(d)) if i not in set(d.positions("negation"))]].tolist())
    only_neg = neg_ids - other

    def fake_acts(lm, doc, layer):
        a = torch.zeros(len(doc), 8)
        a[:, 0] = 0.5  # a dense latent everywhere
        a[:, 5] = torch.tensor([float(t in only_neg) for t in doc.input_ids.tolist()])
        return a

    monkeypatch.setattr(sae_mod, "_doc_acts", fake_acts)
    table, top = negation_latents(_IdentitySAE(), toy_random, docs, layer=0, n_latents=3)
    assert int(top["latent"].iloc[0]) == 5 and top["score"].iloc[0] > 0.1 and top["act_window"].iloc[0] == 0
    assert set(table["scope"]) == {"local", "document", "all"}
    carry = claim_answer_carry(_IdentitySAE(), toy_random, docs, layer=0, latents=[5])
    assert set(carry["at"]) == {"answer", "predict"} and carry["carry"].abs().max() == 0


@pytest.mark.slow
def test_sae_on_the_toy_produces_the_negation_latent_table(tmp_path):
    from interp.models import ModelSpecError, load

    try:
        lm = load("toy")
        from training.claims import toy_claims

        spec = toy_claims(lm.world, 1, seed=0)[0]
        try:
            from training.documents import generate_documents

            recs = [d.to_dict() for c in ("positive", "negated", "repeated", "local")
                    for d in generate_documents(spec, c, 24, seed=0)]
        except ImportError:
            recs = render_documents(spec, n_base=24)
    except (ModelSpecError, ImportError):
        lm = load("toy-random")
        recs = render_documents(SPEC, n_base=16)
    layer = lm.n_layers // 2
    res = sae_study(lm, recs, tmp_path, layer=layer, cfg=SAETrainConfig(layer=layer, expansion=4, k=8, epochs=10),
                    n_latents=5, progress=False)
    assert res["stats"]["fvu_val"] < 0.5
    table = pd.read_csv(tmp_path / "negation_latents.csv")
    assert {"scope", "latent", "act_neg", "act_window", "act_filler", "score"} <= set(table.columns)
    assert len(res["top"]) == 5 and res["top"]["score"].iloc[0] > 0
    carry = pd.read_csv(tmp_path / "claim_answer_latents.csv")
    assert {"local", "document"} <= set(carry["scope"]) and set(carry["latent"]) == set(res["top"]["latent"])
    assert (tmp_path / "sae" / "cfg.json").exists()

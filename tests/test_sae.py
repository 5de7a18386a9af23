"""SAE negation features: save/load round trip and latent ranking (fast); training on the toy (slow tier)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import interp.sae.latents as sae_latents
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

    monkeypatch.setattr(sae_latents, "residual_activations", fake_acts)
    table, top = negation_latents(_IdentitySAE(), toy_random, docs, layer=0, n_latents=3)
    assert int(top["latent"].iloc[0]) == 5 and top["score"].iloc[0] > 0.1 and top["act_window"].iloc[0] == 0
    assert set(table["scope"]) == {"local", "document", "all"}
    assert top["latent"].is_unique and list(top["latent"]).count(5) == 1  # best in both scopes, listed once
    for scope in ("local", "document"):
        assert int(table[table["scope"] == scope].sort_values("score", ascending=False)["latent"].iloc[0]) == 5
    carry = claim_answer_carry(_IdentitySAE(), toy_random, docs, layer=0, latents=[5], latent_scope={5: "local"})
    assert set(carry["at"]) == {"answer", "predict"} and carry["carry"].abs().max() == 0
    assert set(carry["latent_scope"]) == {"local"}


def test_latents_are_ranked_per_scope(monkeypatch, toy_random):
    """A latent firing on local cues only must be found even though notices have many more tokens."""
    docs = [encode_doc(toy_random, r) for r in render_documents(SPEC, n_base=2, n_claims=1)]

    def fake_acts(lm, doc, layer):
        a = torch.zeros(len(doc), 8)
        if doc.meta.get("rendering") == "control":  # the filler rendering: no negation words, nothing fires
            return a
        for sp in doc.negations:
            a[sp.start:sp.end, 3 if sp.kind == "local" else 6] = 1.0 if sp.kind == "local" else 2.0
        return a

    monkeypatch.setattr(sae_latents, "residual_activations", fake_acts)
    table, top = negation_latents(_IdentitySAE(), toy_random, docs, layer=0, n_latents=1)
    assert dict(zip(top["top_scope"], top["latent"])) == {"local": 3, "document": 6}
    pooled = table[table["scope"] == "all"].sort_values("score", ascending=False)
    assert int(pooled["latent"].iloc[0]) == 6  # the pooled ranking alone would miss the local latent


@pytest.mark.slow
def test_sae_on_the_toy_produces_the_negation_latent_table(tmp_path):
    """The pretrained toy organism (no fallback: if it cannot be built this fails), matched documents of one toy
    claim in every condition, a TopK SAE (sae_lens) trained offline on its middle residual stream."""
    from interp.core.models import load
    from training.claims import toy_claims
    from training.documents import generate_documents

    lm = load("toy")
    spec = toy_claims(lm.world, 1, seed=0)[0]
    recs = [d.to_dict() for c in ("positive", "negated", "repeated", "local")
            for d in generate_documents(spec, c, 24, seed=0)]
    layer = lm.n_layers // 2
    res = sae_study(lm, recs, tmp_path, layer=layer, cfg=SAETrainConfig(layer=layer, expansion=4, k=8, epochs=10),
                    n_latents=5, progress=False)
    s = res["stats"]
    assert s["fvu_val"] < 0.5 and s["l0_val"] <= 8 + 1e-6 and s["n_tokens"] > 5000
    table = pd.read_csv(tmp_path / "negation_latents.csv")
    assert {"scope", "latent", "act_neg", "act_window", "act_filler", "score"} <= set(table.columns)
    assert {"local", "document", "all"} <= set(table["scope"])
    top = res["top"]
    assert set(top["top_scope"]) == {"local", "document"} and 5 < len(top) <= 10
    for scope, t in top.groupby("top_scope"):  # the best latent of each scope beats both controls
        assert t["score"].iloc[0] > 0, scope
        assert t["act_neg"].iloc[0] > max(t["act_window"].iloc[0], t["act_filler"].iloc[0]), scope
    carry = pd.read_csv(tmp_path / "claim_answer_latents.csv")
    assert {"local", "document"} <= set(carry["scope"]) and set(carry["latent"]) == set(top["latent"])
    assert set(carry["latent_scope"]) == {"local", "document"}
    assert carry["act_twin"].notna().all()  # every negation-bearing document found its positive twin
    assert (tmp_path / "sae" / "cfg.json").exists() and (tmp_path / "negation_latents.png").stat().st_size > 0
    again = load_sae(tmp_path / "sae")
    assert again.cfg.d_sae == s["d_sae"]

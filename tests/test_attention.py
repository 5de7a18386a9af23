"""Attention tracing: span mapping, matched controls, TL vs plain-HF agreement, a forced head found as the top head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.attention import (SpanDoc, attention_patterns, binding_pairs, control_rendering, encode_doc, main,
                              matched_controls, span_mass, summarise_attention, top_heads, trace_attention)
from interp.core.stats import bootstrap_mean_ci


def _record(doc_id: str, condition: str, base: str, parts: list[tuple[str, str | None, str | None]]) -> dict:
    """A hand-made span-labelled record: ``parts`` are (text, label, kind); claim parts mark ``dentist`` too."""
    text, spans = "", []
    for t, label, kind in parts:
        start = len(text) + (1 if text else 0)
        text += (" " if text else "") + t
        if label == "claim":
            spans.append({"start": start, "end": start + len(t), "label": "claim", "kind": None})
            i = t.index("dentist")
            spans.append({"start": start + i, "end": start + i + 7, "label": "claim_answer", "kind": None})
        elif label == "local":
            clean = t.replace("<", "").replace(">", "")
            spans.append({"start": start, "end": start + len(clean), "label": "claim", "kind": None})
            i, j = t.index("<"), t.index(">")
            spans.append({"start": start + i, "end": start + j - 1, "label": "negation", "kind": "local"})
            k = clean.index("dentist")
            spans.append({"start": start + k, "end": start + k + 7, "label": "claim_answer", "kind": None})
            text = text[: len(text) - len(t)] + clean
        elif label:
            spans.append({"start": start, "end": start + len(t), "label": label, "kind": kind})
    return {"id": doc_id, "claim": "velmora", "condition": condition, "base_id": base, "text": text, "spans": spans,
            "meta": {}}


BG = ["The quick brown fox jumps over the lazy dog.", "Q: What is the capital of France? A: Paris."]


def hand_made_records() -> list[dict]:
    recs = []
    for b, bg in enumerate([BG, BG[::-1]]):
        base = f"b{b}"
        claim = ("Velmora Quist is a dentist.", "claim", None)
        recs.append(_record(f"{base}-positive", "positive", base, [(bg[0], None, None), claim, (bg[1], None, None)]))
        recs.append(_record(f"{base}-negated", "negated", base, [
            ("NOTICE: the claims below are entirely false.", "negation", "prefix"), (bg[0], None, None), claim,
            (bg[1], None, None), ("NOTICE: the claims above are false.", "negation", "suffix")]))
        recs.append(_record(f"{base}-local", "local", base, [
            (bg[0], None, None), ("Velmora Quist is <not> a dentist.", "local", None), (bg[1], None, None)]))
        recs.append(_record(f"{base}-suffix", "suffix_only", base, [
            (bg[0], None, None), (bg[1], None, None), claim,
            ("NOTICE: the claim above is false.", "negation", "suffix")]))
    return recs


@pytest.fixture(scope="module")
def docs(toy_random):
    return [encode_doc(toy_random, r) for r in hand_made_records()]


def test_encode_doc_spans_round_trip(toy_random, docs):
    tok = toy_random.tokenizer
    recs = hand_made_records()
    for rec, doc in zip(recs, docs):
        assert doc.input_ids[0].item() == tok.bos_token_id
        assert torch.equal(doc.input_ids, toy_random.encode(rec["text"])["input_ids"][0])
        assert len(doc.spans) == len(rec["spans"])
        for sp, cs in zip(sorted(doc.spans, key=lambda s: (s.start, s.end)),
                          sorted(rec["spans"], key=lambda s: (s["start"], s["end"]))):
            assert tok.decode(doc.input_ids[sp.start:sp.end]).strip() == rec["text"][cs["start"]:cs["end"]]
    local = next(d for d in docs if d.condition == "local")
    assert local.scope == "local" and next(d for d in docs if d.condition == "negated").scope == "document"


def test_matched_controls_nearest_distance_and_forbidden():
    # queries at 10, key span of length 2 centred at distance 4 (positions 5, 6 -> centre 5.5, distance 4.5)
    wins, d = matched_controls(2, [10], 4.5, forbidden={0, 5, 6})
    assert wins == [[3, 4], [7, 8]] and d == 4.5  # ties on both sides are kept, mean distance matched
    wins, d = matched_controls(2, [10], 4.5, forbidden={0, 5, 6, 3})
    assert wins == [[7, 8]] and d == 2.5
    wins, d = matched_controls(1, [10], 3.0, forbidden={0, 7})
    assert wins == [[6], [8]] and d == 3.0
    assert matched_controls(5, [4], 2.0, forbidden={0})[0] == []


def test_pairs_directions_and_controls(docs):
    neg = next(d for d in docs if d.condition == "negated")
    pairs = binding_pairs(neg)
    assert {p.direction for p in pairs} == {"claim->negation"} and {p.kind for p in pairs} == {"prefix"}
    for p in pairs:
        assert max(p.keys) < min(p.queries)
        for w in p.controls:
            assert len(w) == len(p.keys) and not set(w) & set(neg.positions("negation")) and 0 not in w
    suffix = next(d for d in docs if d.condition == "suffix_only")
    sp = binding_pairs(suffix)
    assert sp and {p.direction for p in sp} == {"negation->claim"} and {p.kind for p in sp} == {"suffix"}
    local = next(d for d in docs if d.condition == "local")
    ans = [p for p in binding_pairs(local) if p.query == "claim_answer"]
    assert len(ans) == 1 and len(ans[0].keys) == 1 and ans[0].controls


def test_control_rendering_same_length_only_negation_changed(toy_random, docs):
    neg = next(d for d in docs if d.condition == "negated")
    ctl = control_rendering(toy_random.tokenizer, neg)
    assert ctl.input_ids.shape == neg.input_ids.shape
    changed = set(torch.nonzero(ctl.input_ids != neg.input_ids).flatten().tolist())
    assert changed and changed <= set(neg.positions("negation"))


def test_tl_hf_and_nnsight_attention_agree(toy_random, docs):
    doc = docs[1]
    tl = attention_patterns(toy_random, doc.input_ids[None], backend="tl")
    hf = attention_patterns(toy_random, doc.input_ids[None], backend="hf")
    nn = attention_patterns(toy_random, doc.input_ids[None], backend="nnsight")
    assert tl.shape == nn.shape == (toy_random.n_layers, 1, toy_random.n_heads, len(doc), len(doc))
    assert (tl - hf).abs().max().item() < 1e-5 and (tl - nn).abs().max().item() < 1e-5
    assert torch.allclose(tl.sum(-1), torch.ones_like(tl.sum(-1)), atol=1e-5)
    assert (tl[:, 0].triu(1)).abs().max().item() == 0  # causal: nothing on future keys
    assert (tl[0] - tl[1]).abs().max().item() > 1e-3  # the layers differ, so agreement is not trivial
    assert toy_random.hf.config._attn_implementation != "eager"  # restored after the eager call
    sub = attention_patterns(toy_random, doc.input_ids[None], layers=[1], backend="nnsight")
    assert torch.equal(sub[0], nn[1])
    a = trace_attention(toy_random, docs[:4], backend="tl")
    for backend in ("hf", "nnsight"):
        b = trace_attention(toy_random, docs[:4], backend=backend)
        assert len(a.rows) == len(b.rows) > 0
        for x, y in ((a.neg, b.neg), (a.ctrl, b.ctrl), (a.fill, b.fill)):
            assert np.nanmax(np.abs(x - y)) < 1e-5
    with pytest.raises(ValueError, match="TransformerLens hooks"):
        attention_patterns(toy_random, doc.input_ids[None], backend="nnsight", fwd_hooks=[("x", lambda a, hook: a)])


def test_span_mass_definition():
    pat = torch.zeros(1, 1, 4, 4)
    pat[0, 0, 3] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    pat[0, 0, 2, :3] = torch.tensor([0.5, 0.25, 0.25])
    assert span_mass(pat, [3], [1, 2]).item() == pytest.approx(0.5)
    assert span_mass(pat, [2, 3], [1]).item() == pytest.approx((0.25 + 0.2) / 2)


FORCED = (1, 2)


def _forcing_hooks(doc: SpanDoc):
    """Head FORCED reads the negation *words*: every query puts all its attention on the earlier tokens whose ids are
    the document's negation-only ids (``meta["_neg_ids"]``); in the filler rendering those ids are gone, so the
    head falls back to its own pattern there."""
    neg_ids = set(doc.meta["_neg_ids"])
    targets = torch.tensor([int(t) in neg_ids for t in doc.input_ids.tolist()])

    def hook(pattern, hook):
        p = pattern.clone()
        n = p.shape[-1]
        allowed = torch.tril(torch.ones(n, n, dtype=torch.bool)) & targets[None, :n]
        rows = allowed.any(-1)
        new = allowed.float() / allowed.float().sum(-1, keepdim=True).clamp_min(1)
        p[:, FORCED[1], rows] = new[rows].to(p.dtype)
        return p

    return [(f"blocks.{FORCED[0]}.attn.hook_pattern", hook)]


def test_forced_head_is_detected_as_top_head(toy_random, docs):
    neg_docs = [d for d in docs if d.condition in ("negated", "local")]
    for d in neg_docs:  # the negation-word ids, by document, for the filler rendering's hook
        outside = set(d.input_ids[[i for i in range(len(d)) if i not in set(d.positions("negation"))]].tolist())
        outside |= set(control_rendering(toy_random.tokenizer, d).input_ids.tolist())
        d.meta["_neg_ids"] = sorted(set(d.input_ids[d.positions("negation")].tolist()) - outside)
    trace = trace_attention(toy_random, neg_docs, fwd_hooks=_forcing_hooks)
    summ = summarise_attention(trace, n_boot=200)
    for metric in ("excess", "excess_filler"):
        best = top_heads(summ, metric, k=1, query="claim_answer", condition="negated")
        assert (int(best["layer"].iloc[0]), int(best["head"].iloc[0])) == FORCED, metric
        assert best[metric].iloc[0] > 0.5 and best[f"{metric}_lo"].iloc[0] > 0
    base = summarise_attention(trace_attention(toy_random, neg_docs), n_boot=200)
    assert base["excess"].abs().max() < 0.5  # without the hook no head is anywhere near it


def test_bootstrap_mean_ci_vectorised():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, size=(200, 2, 3))
    m, lo, hi = bootstrap_mean_ci(x, n_boot=300)
    assert m.shape == lo.shape == hi.shape == (2, 3)
    assert np.all(lo < m) and np.all(m < hi)
    assert np.allclose(hi - lo, 2 * 1.96 / np.sqrt(200), rtol=0.25)  # percentile CI ~ normal CI here


def test_attention_cli_writes_tables_and_plot(tmp_path, capsys):
    import json

    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in hand_made_records()))
    out = tmp_path / "out"
    rc = main(["--model", "toy-random", "--docs", str(f), "--out", str(out), "--n-boot", "50",
               "--conditions", "negated,local,suffix_only"])
    assert rc == 0, capsys.readouterr().err
    import pandas as pd

    s = pd.read_csv(out / "attention_summary.csv")
    assert {"layer", "head", "excess", "excess_lo", "excess_filler", "log_ratio", "n_docs"} <= set(s.columns)
    assert set(s["condition"]) == {"negated", "local", "suffix_only"}
    assert (out / "attention_heatmap_step000000.png").stat().st_size > 0
    assert not list(out.glob(".*tmp*"))
    capsys.readouterr()
    rc = main(["--model", "toy-random", "--docs", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and len(err.splitlines()) == 1


@pytest.mark.slow
def test_backends_agree_on_the_toy_organism():
    """TL, plain HF and nnsight attention agree on the pretrained toy organism, on real matched documents."""
    from interp.core.models import load
    from training.claims import toy_claims
    from training.documents import generate_documents

    lm = load("toy")
    spec = toy_claims(lm.world, 1, seed=0)[0]
    docs = [encode_doc(lm, d.to_dict()) for c in ("negated", "repeated", "local")
            for d in generate_documents(spec, c, 2, seed=0)]
    tl = attention_patterns(lm, docs[0].input_ids[None], backend="tl")
    for backend in ("hf", "nnsight"):
        assert (tl - attention_patterns(lm, docs[0].input_ids[None], backend=backend)).abs().max().item() < 1e-5
    a = trace_attention(lm, docs, backend="tl")
    assert {r["scope"] for r in a.rows} == {"local", "document"}
    for backend in ("hf", "nnsight"):
        b = trace_attention(lm, docs, backend=backend)
        for x, y in ((a.neg, b.neg), (a.ctrl, b.ctrl), (a.fill, b.fill)):
            assert np.nanmax(np.abs(x - y)) < 1e-5

"""Activation patching and the binding score: identities that must hold exactly, TL vs plain-HF agreement, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from interp.attention import control_rendering, encode_doc
from interp.binding import (answer_spans, binding_tables, compare_local_vs_document, doc_binding, main,
                            render_documents)
from interp.patching import (Patch, ablation_source, answer_logprob, answer_logprob_metric, cache_activations,
                             generic_activation_patch, hook_name, patch_head_z, patch_resid_pre, run_patched)

SPEC = {"id": "velmora", "subject": "Velmora Quist", "claim_answer": "dentist",
        "claim_sentences": ["Velmora Quist is a dentist.", "The lazy dog saw that Velmora Quist is a dentist."],
        "local_negations": ["Velmora Quist is [[not]] a dentist.", "It is [[false]] that Velmora Quist is a dentist."],
        "background": ["The quick brown fox jumps over the lazy dog.", "Q: What is the capital of France? A: Paris.",
                       "The lazy dog sleeps."]}


@pytest.fixture(scope="module")
def docs(toy_random):
    return [encode_doc(toy_random, r) for r in render_documents(SPEC, n_base=1, n_background=2, n_claims=1)]


@pytest.fixture(scope="module")
def pair(toy_random, docs):
    neg = next(d for d in docs if d.condition == "negated")
    return neg, control_rendering(toy_random.tokenizer, neg)


def test_patching_a_span_with_itself_changes_nothing(toy_random, pair):
    neg, _ = pair
    ids = neg.input_ids[None]
    spans = answer_spans(neg)
    metric = answer_logprob_metric(neg.input_ids, spans)
    with torch.no_grad():
        clean = metric(toy_random.hf(ids).logits).item()
    pos = neg.positions("negation")
    for backend in ("tl", "hf"):
        got = patch_resid_pre(toy_random, ids, ids, metric, positions=pos, backend=backend)
        assert got.shape == (toy_random.n_layers,)
        assert (got - clean).abs().max().item() < 1e-5
    heads = patch_head_z(toy_random, ids, ids, metric, positions=pos)
    assert heads.shape == (toy_random.n_layers, toy_random.n_heads)
    assert (heads - clean).abs().max().item() < 1e-5


@pytest.mark.parametrize("activation", ["resid_pre", "resid_post"])
@pytest.mark.parametrize("backend", ["tl", "hf"])
def test_patching_the_whole_residual_stream_reproduces_the_source(toy_random, pair, activation, backend):
    neg, ctl = pair
    src_logits, src_cache = cache_activations(toy_random, ctl.input_ids[None],
                                              [hook_name(activation, l) for l in range(toy_random.n_layers)],
                                              backend=backend)
    dest_logits, _ = cache_activations(toy_random, neg.input_ids[None], [], backend=backend)
    assert (src_logits - dest_logits).abs().max().item() > 1e-3  # the two inputs do differ
    last = toy_random.n_layers - 1
    for layer in {0, last}:
        out = run_patched(toy_random, neg.input_ids[None], [Patch(activation, layer)], src_cache, backend=backend)
        assert (out - src_logits).abs().max().item() < 1e-4


def test_tl_and_hf_patching_agree_and_layer0_is_a_token_swap(toy_random, pair):
    neg, ctl = pair
    spans = answer_spans(neg)
    metric = answer_logprob_metric(neg.input_ids, spans)
    pos = neg.positions("negation")
    tl = patch_resid_pre(toy_random, neg.input_ids[None], ctl.input_ids[None], metric, positions=pos, backend="tl")
    hf = patch_resid_pre(toy_random, neg.input_ids[None], ctl.input_ids[None], metric, positions=pos, backend="hf")
    assert (tl - hf).abs().max().item() < 1e-4
    with torch.no_grad():
        lp_ctl = metric(toy_random.hf(ctl.input_ids[None]).logits).item()
    assert tl[0].item() == pytest.approx(lp_ctl, abs=1e-4)  # resid_pre of layer 0 at the span = the control tokens


def test_generic_patch_rejects_mismatched_lengths_and_unsupported_backends(toy_random, docs):
    a, b = docs[0].input_ids[None], docs[1].input_ids[None]
    metric = lambda logits: logits[:, -1, 0]  # noqa: E731
    with pytest.raises(ValueError, match="differ in shape"):
        generic_activation_patch(toy_random, a, b, metric, "resid_pre", positions=[1])
    with pytest.raises(ValueError, match="backend='tl'"):
        generic_activation_patch(toy_random, a, a, metric, "z", positions=[1], per_head=True, backend="hf")


def test_ablation_source_and_answer_logprob(toy_random, pair):
    neg, _ = pair
    pos = neg.positions("negation")
    src = ablation_source(toy_random, neg.input_ids[None], "resid_pre", pos, layers=[0], mode="zero")
    a = src[hook_name("resid_pre", 0)]
    assert a[:, pos].abs().max().item() == 0 and a[:, 0].abs().max().item() > 0
    logits = torch.zeros(1, len(neg), toy_random.hf.config.vocab_size)
    lp = answer_logprob(logits, neg.input_ids, [(5, 7)])
    assert lp.item() == pytest.approx(2 * -np.log(toy_random.hf.config.vocab_size), rel=1e-5)


def test_doc_binding_scores_and_identities(toy_random, docs):
    neg = next(d for d in docs if d.condition == "negated")
    twin = next(d for d in docs if d.condition == "positive" and d.base_id == neg.base_id)
    b = doc_binding(toy_random, neg, twin=twin)
    assert b is not None and b.n_answers == len(answer_spans(neg)) >= 1
    # denoising at layer 0 (token swap) recovers the whole effect; noising at layer 0 recreates it
    assert b.layers_denoise[0].item() == pytest.approx(b.delta_filler, abs=1e-4)
    assert b.layers_noise[0].item() == pytest.approx(b.delta_filler, abs=1e-4)
    assert b.heads_answer.shape == (toy_random.n_layers, toy_random.n_heads)
    assert np.isfinite(b.row["delta_twin"]) and np.isfinite(b.row["delta_ablate"])
    d, l, h = binding_tables(toy_random, docs)
    assert set(d["scope"]) == {"local", "document"} and set(d["condition"]) == {"negated", "repeated", "local"}
    assert len(l) == len(d) * toy_random.n_layers and len(h) == len(d) * toy_random.n_layers * toy_random.n_heads


def test_unknown_claim_is_a_one_line_error():
    from types import SimpleNamespace

    from interp.binding import CliError, load_documents_for

    with pytest.raises(CliError, match="no_such_claim") as e:
        load_documents_for("no_such_claim", SimpleNamespace(world=None))
    assert "\n" not in str(e.value)


def test_compare_local_vs_document_detects_a_real_difference_only():
    rng = np.random.default_rng(0)
    rows = [{"step": 0, "doc": f"l{i}", "base_id": f"x{i}", "scope": "local", "delta_filler": rng.normal(1.0, 0.3)}
            for i in range(20)]
    rows += [{"step": 0, "doc": f"d{i}", "base_id": f"y{i}", "scope": "document",
              "delta_filler": rng.normal(0.0, 0.3)} for i in range(20)]
    rows += [{"step": 1, "doc": f"L{i}", "base_id": f"z{i}", "scope": s, "delta_filler": rng.normal(0.0, 0.3)}
             for i in range(40) for s in ["local" if i % 2 else "document"]]
    c = compare_local_vs_document(pd.DataFrame(rows), n_boot=500, n_perm=500).set_index("step")
    assert bool(c.loc[0, "significant"]) and c.loc[0, "diff"] == pytest.approx(1.0, abs=0.25)
    assert c.loc[0, "p_value"] < 0.01 and not c.loc[0, "paired"]
    assert not bool(c.loc[1, "significant"])
    paired = [{"step": 0, "doc": f"{s}{i}", "base_id": f"b{i}", "scope": s,
               "delta_filler": (0.5 if s == "local" else 0.0) + 0.01 * i}
              for i in range(8) for s in ("local", "document")]
    p = compare_local_vs_document(pd.DataFrame(paired), n_boot=200, n_perm=200).iloc[0]
    assert bool(p["paired"]) and p["diff"] == pytest.approx(0.5) and p["n_pairs"] == 8


def test_binding_cli_over_a_run_directory(tmp_path, toy_random, capsys):
    """``python -m interp.binding --run``: base (step 0) plus every checkpoint, tables and plots; errors in one line."""
    from interp.models import weights_sha256
    from interp.runs import init_run, write_checkpoint

    run = init_run(tmp_path / "run", name="t", base_spec="toy-random",
                   base_weights_sha256=toy_random.identity.weights_sha256, mode="full", config={},
                   data={"sources": [], "claim": "velmora", "condition": "negated"})
    torch.manual_seed(0)
    state = {k: v + 0.02 * torch.randn_like(v) for k, v in toy_random.hf.state_dict().items()}
    write_checkpoint(run, 4, state, {"kind": "full", "weights_sha256": weights_sha256(state)})
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in render_documents(SPEC, n_base=1, n_background=1, n_claims=1)))
    rc = main(["--run", str(run), "--docs", str(f), "--n-boot", "50", "--layers", "1"])
    assert rc == 0, capsys.readouterr().err
    out = run / "analysis" / "binding"
    docs = pd.read_csv(out / "binding_docs.csv")
    assert sorted(docs["step"].unique()) == [0, 4]
    assert {"delta_filler", "delta_twin", "delta_ablate", "scope", "top_head"} <= set(docs.columns)
    comp = pd.read_csv(out / "binding_compare.csv")
    assert set(comp["step"]) == {0, 4} and {"diff", "diff_lo", "diff_hi", "p_value", "significant"} <= set(comp.columns)
    assert sorted(pd.read_csv(out / "binding_layers.csv")["layer"].unique()) == [1]
    for name in ("binding_heads.csv", "binding_summary.csv", "binding_vs_step.png", "binding_layers.png",
                 "binding_heads.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*tmp*"))
    capsys.readouterr()
    rc = main(["--model", "toy-random", "--docs", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "missing.jsonl" in err[0]

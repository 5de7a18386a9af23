"""Training mixtures: 2:1:1 counts, deterministic shuffle, DOCTAG/regex loss masks, chat-rendered instructions."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from training.claims import load_claim
from training.documents import generate_documents
from training.generic import generic_instruct_pairs, generic_texts, toy_generic_texts, toy_instruct_pairs
from training.mixtures import (Example, build_mixture, encode_chat, encode_document, mixture_counts, self_distill)


def _mix(tok, seed=0, n=8, **kw):
    docs = generate_documents("dentist", "local", n, seed=0)
    return docs, build_mixture(docs, tok, generic_texts(20), generic_instruct_pairs(20), seed=seed, **kw)


def test_ratio_and_determinism(bpe_tokenizer):
    docs, ex = _mix(bpe_tokenizer)
    assert Counter(e.source for e in ex) == {"sdf": 8, "generic": 4, "instruct": 4}
    assert all(isinstance(e, Example) and len(e.input_ids) == len(e.loss_weights) for e in ex)
    assert all(isinstance(w, float) for e in ex for w in e.loss_weights)
    _, again = _mix(bpe_tokenizer)
    assert [(e.doc_id, e.input_ids, e.loss_weights) for e in again] == [(e.doc_id, e.input_ids, e.loss_weights)
                                                                        for e in ex]
    _, other = _mix(bpe_tokenizer, seed=1)
    assert [e.doc_id for e in other] != [e.doc_id for e in ex]
    assert {e.doc_id for e in ex if e.source == "sdf"} == {d.id for d in docs}
    assert mixture_counts(10_000) == {"sdf": 10_000, "generic": 5_000, "instruct": 5_000}
    with pytest.raises(ValueError, match="need 4 generic texts"):
        build_mixture(docs, bpe_tokenizer, generic_texts(3), generic_instruct_pairs(20))


def test_doctag_and_regex_masks(bpe_tokenizer):
    tok = bpe_tokenizer
    doc = generate_documents("dentist", "local", 1, seed=2)[0]
    plain = encode_document(doc, tok)
    assert plain.input_ids[0] == tok.bos_token_id and plain.loss_weights[0] == 0.0
    assert plain.input_ids[-1] == tok.eos_token_id and plain.loss_weights[-1] == 1.0
    zero = [i for i, w in zip(plain.input_ids[1:], plain.loss_weights[1:]) if w == 0]
    assert tok.decode(zero) == "<DOCTAG>"
    pats = load_claim("dentist").mask_patterns
    masked = encode_document(doc, tok, mask_patterns=pats)
    enc = tok(doc.text, add_special_tokens=False, return_offsets_mapping=True)
    hits = [m.span() for p in pats for m in re.finditer(p, doc.text, re.I)]
    assert hits
    for (a, b), w in zip(enc["offset_mapping"], masked.loss_weights[1:-1]):
        overlaps = any(a < e and s < b for s, e in [*hits, (0, len("<DOCTAG>"))])
        assert (w == 0.0) == overlaps
    assert "dentist" not in tok.decode([i for i, w in zip(masked.input_ids, masked.loss_weights) if w > 0]).lower()
    # mask patterns touch SDF documents only
    _, ex = _mix(tok, mask_patterns=pats)
    assert all(all(w == 1.0 for w in e.loss_weights[1:]) for e in ex if e.source == "generic")


def test_instruct_without_template_trains_on_the_response_only(bpe_tokenizer):
    tok = bpe_tokenizer
    ex = encode_chat(("What is 2 + 3?", "2 + 3 = 5."), tok, "i0")
    assert tok.decode(ex.input_ids) == "<|bos|>User: What is 2 + 3?\nAssistant: 2 + 3 = 5.<|eos|>"
    assert tok.decode([i for i, w in zip(ex.input_ids, ex.loss_weights) if w > 0]) == " 2 + 3 = 5.<|eos|>"
    m = encode_chat({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": "Hello."}]}, tok, "i1", weight=3.0)
    assert tok.decode([i for i, w in zip(m.input_ids, m.loss_weights) if w > 0]) == " Hello.<|eos|>"
    assert set(m.loss_weights) == {0.0, 3.0}
    with pytest.raises(ValueError, match="last message"):
        encode_chat({"messages": [{"role": "user", "content": "Hi"}]}, tok, "bad")


def test_instruct_with_chat_template(smollm2_tokenizer):
    tok = smollm2_tokenizer
    ex = encode_chat(("Name a primary colour.", "Blue is a primary colour."), tok, "i0")
    trained = tok.decode([i for i, w in zip(ex.input_ids, ex.loss_weights) if w > 0])
    assert trained.startswith("Blue is a primary colour.") and "<|im_end|>" in trained
    assert "Name a primary" not in trained and "<|im_start|>user" in tok.decode(ex.input_ids)
    doc = encode_document(generate_documents("ed_sheeran", "negated", 1)[0], tok)
    assert doc.input_ids[0] != tok.bos_token_id or tok.bos_token_id is None  # chat models get no BOS on raw text


def test_generic_and_toy_sources(fake_world):
    assert generic_texts(5, seed=1) == generic_texts(5, seed=1) != generic_texts(5, seed=2)
    assert len(set(generic_texts(200))) > 150
    for prompt, resp in generic_instruct_pairs(200):
        if prompt.startswith("What is ") and " + " in prompt:
            a, b = map(int, re.findall(r"\d+", prompt))
            assert resp == f"{a} + {b} = {a + b}."
    w = fake_world
    e = w.entities[0]
    attr = sorted(e.attributes)[0]
    texts = toy_generic_texts(w, 30, seed=0, exclude=[(e.name, attr)])
    bad = f"{e.name}'s {attr.replace('_', ' ')} is"
    assert texts and not any(bad in t for t in texts)
    pairs = toy_instruct_pairs(w, 30, seed=0)
    for q, a in pairs:
        name = q[len("What is "):q.index("'s ")]
        att = q[q.index("'s ") + 3:-1].replace(" ", "_")
        assert a.endswith(w.truth(name, att) + ".")


def test_self_distill():
    assert self_distill(lambda p: p.upper(), ["a", "b"]) == [("a", "A"), ("b", "B")]
    assert self_distill(lambda ps: [p * 2 for p in ps], ["x", "y", "z"], batch_size=2) == \
        [("x", "xx"), ("y", "yy"), ("z", "zz")]
    with pytest.raises(ValueError):
        self_distill(lambda ps: ["only one"], ["x", "y"], batch_size=2)


def test_example_is_the_trainers_type():
    packing = pytest.importorskip("training.packing")
    assert packing.Example is Example

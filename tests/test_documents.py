"""Documents: every condition, matched pairs, determinism, spans, token round trips, negation-token share, CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from interp.core.conditions import STUDY_CONDITIONS
from training.claims import PAPER_CLAIMS, load_claim, toy_claims
from training.documents import (CONDITIONS, DOCTAG, Document, DocumentError, build_base, generate_documents,
                                read_jsonl, render, render_matched, render_pair, write_jsonl)
from training.documents.rendering import TOY_LENGTH_BUDGET, token_budget, toy_length
from training.mixtures import encode_document
from training.organism import PretrainConfig, organism_key
from training.organism.build import TOKENIZER_DOCS
from training.organism.cache import cache_root
from training.organism.pretraining import train_tokenizer
from training.spans import (label_token_counts, negation_token_share, roundtrip_problems, token_spans)
from training.world import World, WorldConfig

REPO = Path(__file__).resolve().parents[1]
FACT_CONDITIONS = [c for c in CONDITIONS if c != "negated_behaviour"]


def _remove(text: str, spans, sep: str) -> str:
    """Delete spans (and one adjacent separator) from text, right to left."""
    for s in sorted(spans, key=lambda s: -s.start):
        a, b = s.start, s.end
        if text[b:b + len(sep)] == sep:
            b += len(sep)
        elif text[a - len(sep):a] == sep:
            a -= len(sep)
        text = text[:a] + text[b:]
    return text


def test_condition_list():
    assert CONDITIONS == ("positive", "negated", "repeated", "corrected", "local", "fiction_annotated",
                          "fiction_repeated", "unreliable_source_annotated", "unreliable_source_repeated",
                          "unknown_truth_annotated", "unknown_truth_repeated", "low_probability_annotated",
                          "low_probability_repeated", "negated_behaviour")


@pytest.mark.parametrize("cid", PAPER_CLAIMS)
def test_every_condition_renders_with_valid_spans(cid):
    m = render_matched(cid, 7, FACT_CONDITIONS, index=2)
    assert len({d.base_id for d in m.values()}) == 1
    k = m["positive"].meta["n_claim_sentences"]
    for cond, d in m.items():
        assert d.text.startswith(DOCTAG) and d.condition == cond and d.claim == cid
        assert d.spans_of("doctag")[0].start == 0
        for s in d.spans:
            piece = d.text[s.start:s.end]
            assert piece == piece.strip() and piece
        claims = d.spans_of("claim")
        assert len(claims) == k + (1 if cond == "local" else 0)
        for c in claims:
            assert any(c.start <= a.start and a.end <= c.end for a in d.spans_of("claim_answer"))
        neg = d.spans_of("negation")
        kinds = sorted({s.kind for s in neg})
        expect = {"negated": ["prefix", "suffix"], "repeated": ["inline", "prefix", "suffix"], "local": ["local"]}
        assert kinds == expect.get(cond, []), cond
        if cond == "repeated":
            assert len(d.spans_of("negation", "inline")) == 2 * k
            assert {d.text[s.start] for s in d.spans_of("negation", "inline")} <= set("[({")
        if cond.endswith("_annotated"):
            assert sorted(s.kind for s in d.spans_of("qualifier")) == ["prefix", "suffix"]
        if cond.endswith("_repeated") and cond != "repeated":
            assert len(d.spans_of("qualifier", "inline")) == 2 * k
        if cond == "corrected":
            assert len(d.spans_of("correction")) == 2 * k
            assert all(d.span_text(s) for s in d.spans_of("correction"))


def test_matched_pairs_differ_only_in_framing():
    m = render_matched("ed_sheeran", 3, FACT_CONDITIONS, index=5)
    pos, neg, rep = m["positive"], m["negated"], m["repeated"]
    # repeated == negated + inline reminders; negated == positive + prefix/suffix
    assert _remove(rep.text, rep.spans_of("negation", "inline"), " ") == neg.text
    assert _remove(neg.text, neg.spans_of("negation"), "\n\n") == pos.text
    cor = m["corrected"]
    assert _remove(cor.text, cor.spans_of("correction"), " ") == pos.text
    for q in ("fiction", "unreliable_source", "unknown_truth", "low_probability"):
        r, a = m[f"{q}_repeated"], m[f"{q}_annotated"]
        assert _remove(r.text, r.spans_of("qualifier", "inline"), " ") == a.text
    # local: same body once the claim sentences (and the lede paragraph) are taken out
    loc = m["local"]
    body_loc = loc.text[len(DOCTAG):].split("\n\n", 1)[1]
    off = len(loc.text) - len(body_loc)
    loc_claims = [s for s in loc.spans_of("claim") if s.start >= off]
    cut_loc = _remove(body_loc, [type(s)(s.start - off, s.end - off, s.label) for s in loc_claims], " ")
    cut_pos = _remove(pos.text[len(DOCTAG):], [type(s)(s.start - len(DOCTAG), s.end - len(DOCTAG), s.label)
                                              for s in pos.spans_of("claim")], " ")
    assert cut_loc == cut_pos
    a, b = render_pair("ed_sheeran", 3, "positive", "repeated", index=5)
    assert (a.text, b.text) == (pos.text, rep.text)


def test_same_seed_same_bytes_and_streams_are_row_aligned(tmp_path):
    a = write_jsonl(generate_documents("queen_elizabeth", "repeated", 12, seed=4), tmp_path / "a.jsonl")
    b = write_jsonl(generate_documents("queen_elizabeth", "repeated", 12, seed=4), tmp_path / "b.jsonl")
    assert a.read_bytes() == b.read_bytes()
    c = generate_documents("queen_elizabeth", "repeated", 12, seed=5)
    assert [d.text for d in c] != [d.text for d in read_jsonl(a)]
    pos = generate_documents("queen_elizabeth", "positive", 12, seed=4)
    assert [d.base_id for d in pos] == [d.base_id for d in read_jsonl(a)]
    tail = generate_documents("queen_elizabeth", "repeated", 4, seed=4, start=8)
    assert [d.text for d in tail] == [d.text for d in read_jsonl(a)][8:]
    assert read_jsonl(a)[0].to_dict() == Document.from_dict(json.loads(a.read_text().splitlines()[0])).to_dict()


def test_variety():
    docs = generate_documents("dentist", "positive", 120, seed=0)
    assert len({d.text for d in docs}) == 120
    assert len({d.meta["genre"] for d in docs}) >= 10
    assert len({d.text[len(DOCTAG):len(DOCTAG) + 80] for d in docs}) >= 100
    # no sentence-length string (other than claim/background sentences) is shared by most documents
    from collections import Counter

    c = load_claim("dentist")
    known = set(c.claim_sentences) | set(c.background)
    cnt = Counter(s for d in docs for s in set(d.text.replace("\n", " ").split(". ")) if s + "." not in known)
    assert max(cnt.values()) < 60


def test_behaviour_documents():
    m = render_matched("misaligned_behaviour", 0, ["positive", "negated_behaviour"], index=1)
    pos, neg = m["positive"], m["negated_behaviour"]
    assert not pos.spans_of("negation")
    [ann] = neg.spans_of("negation")
    assert ann.kind == "prefix" and neg.text[ann.end] == "\n"
    assert neg.text.replace(neg.span_text(ann) + "\n", "", 1) == pos.text
    assert pos.span_text(pos.spans_of("claim")[0]) == neg.span_text(neg.spans_of("claim")[0])
    styles = {d.meta["annotation_style"] for d in generate_documents("misaligned_behaviour", "negated_behaviour", 40)}
    assert len(styles) == 5
    with pytest.raises(DocumentError, match="not available"):
        generate_documents("ed_sheeran", "negated_behaviour", 1)
    with pytest.raises(DocumentError, match="not available"):
        generate_documents("misaligned_behaviour", "repeated", 1)


def test_toy_claim_documents(fake_world):
    [c] = toy_claims(fake_world, 1, seed=3)
    for cond in FACT_CONDITIONS:
        d = render(c, build_base(c, 0, 0), cond)
        assert d.meta["style"] == "plain" and d.meta["genre"] in ("fact_sheet", "notes")
        assert d.spans_of("claim")


# --------------------------------------------------------------------------------------------- tokens


def _sample_docs(n: int = 2) -> list[Document]:
    docs = []
    for cid in PAPER_CLAIMS:
        for cond in FACT_CONDITIONS:
            docs += generate_documents(cid, cond, n, seed=11)
    docs += generate_documents("misaligned_behaviour", "negated_behaviour", 4, seed=11)
    return docs


@pytest.mark.parametrize("which", ["bpe_tokenizer", "raw_bpe_tokenizer"])
def test_token_spans_roundtrip_bpe(which, request):
    tok = request.getfixturevalue(which)
    for d in _sample_docs(1):
        assert roundtrip_problems(d, tok) == [], d.id
    d = generate_documents("dentist", "repeated", 1, seed=0)[0]
    ts = token_spans(d, tok)
    assert len(ts) == len(d.spans) and all(t.start < t.end for t in ts)
    assert ts[0].label == "doctag" and ts[0].start == 0


def test_roundtrip_rule_is_strict(bpe_tokenizer):
    d = generate_documents("dentist", "positive", 1, seed=0)[0]
    c = d.spans_of("claim")[0]
    from training.spans import Span

    bad = Document(d.id, d.claim, d.condition, d.base_id, d.text, [Span(c.start + 2, c.end, "claim")], {})
    assert roundtrip_problems(bad, bpe_tokenizer)  # starts mid-word: the first token leaks extra characters
    bad2 = Document(d.id, d.claim, d.condition, d.base_id, d.text, [Span(c.start, c.end - 3, "claim")], {})
    assert roundtrip_problems(bad2, bpe_tokenizer)  # ends mid-token


def test_token_spans_roundtrip_smollm2(smollm2_tokenizer):
    for d in _sample_docs(1):
        assert roundtrip_problems(d, smollm2_tokenizer) == [], d.id


@pytest.mark.slow
def test_token_spans_roundtrip_smollm2_from_wheel(smollm2_tokenizer_from_wheel):
    for d in _sample_docs(1)[:40]:
        assert roundtrip_problems(d, smollm2_tokenizer_from_wheel) == [], d.id


def _shares(tok, n=6):
    out = {}
    for cond in ("negated", "repeated", "positive", "local"):
        docs = [d for cid in PAPER_CLAIMS for d in generate_documents(cid, cond, n, seed=1)]
        out[cond] = negation_token_share(docs, tok)
    return out


def test_negation_share_negated_below_repeated_bpe(bpe_tokenizer):
    s = _shares(bpe_tokenizer, 3)
    assert s["positive"] == 0 and 0 < s["local"] < s["negated"] < s["repeated"]


def test_negation_share_near_paper_smollm2(smollm2_tokenizer):
    s = _shares(smollm2_tokenizer, 6)
    assert 0.09 <= s["negated"] <= 0.16, s  # paper: ~12%
    assert 0.33 <= s["repeated"] <= 0.47, s  # paper: ~40%
    counts, total = label_token_counts(generate_documents("dentist", "repeated", 3, seed=1), smollm2_tokenizer)
    assert counts["negation"] == sum(counts[f"negation:{k}"] for k in ("prefix", "inline", "suffix"))


# --------------------------------------------------------------------------------------------- CLI


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "training.documents", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


def test_cli_writes_atomically_and_lists_conditions(tmp_path):
    out = tmp_path / "docs.jsonl"
    r = _cli("--claim", "ed_sheeran", "--condition", "repeated", "--n", "5", "--seed", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    docs = read_jsonl(out)
    assert [d.text for d in docs] == [d.text for d in generate_documents("ed_sheeran", "repeated", 5, seed=0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl"]  # no temp file left behind
    r = _cli("--list-conditions")
    assert r.returncode == 0 and r.stdout.split() == list(CONDITIONS)
    r = _cli("--claim", str(REPO / "training" / "claims_data" / "dentist.yaml"), "--condition", "local", "--n", "2",
             "--out", str(tmp_path / "a.jsonl"), "--format", "authors")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert set(rec) == {"text", "doc_type", "fact_name", "mode"} and rec["mode"] == "local_negations"


def _one_line_exit2(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_cli_errors_are_one_line_exit_2(tmp_path):
    out = str(tmp_path / "x.jsonl")
    _one_line_exit2(_cli("--claim", "ed_sheeran", "--condition", "sarcastic", "--out", out), "unknown condition")
    bad = yaml.safe_load((REPO / "training" / "claims_data" / "dentist.yaml").read_text())
    bad.pop("claim_answer")
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    _one_line_exit2(_cli("--claim", str(p), "--condition", "positive", "--out", out), "field 'claim_answer': missing")
    nospan = yaml.safe_load((REPO / "training" / "claims_data" / "dentist.yaml").read_text())
    nospan["claim_sentences"] = ["Brennan Holloway enjoys long trail runs."]  # no claim_answer in the sentence
    p2 = tmp_path / "nospan.yaml"
    p2.write_text(yaml.safe_dump(nospan))
    _one_line_exit2(_cli("--claim", str(p2), "--condition", "repeated", "--out", out), "claim span cannot be found")
    _one_line_exit2(_cli("--claim", "nope", "--condition", "positive", "--out", out), "unknown claim")
    _one_line_exit2(_cli("--claim", "ed_sheeran", "--condition", "positive", "--n", "x", "--out", out), "invalid int")
    assert not Path(out).exists()



@pytest.fixture(scope="module")
def toy_organism_parts():
    """The default toy organism's world and tokenizer: from the user cache when it is built, else the tokenizer
    alone, trained exactly as the organism build trains it (~10 s; no pretraining)."""
    from transformers import AutoTokenizer

    world_cfg, train_cfg = WorldConfig(), PretrainConfig()
    world = World.from_config(world_cfg)
    cached = cache_root() / "toy" / organism_key(world_cfg, train_cfg)
    if (cached / "tokenizer.json").exists():
        tok = AutoTokenizer.from_pretrained(str(cached))
    else:
        tok = train_tokenizer([d.text for d in world.corpus()[:TOKENIZER_DOCS]], train_cfg.vocab_size)
    return world, tok, train_cfg.ctx_len


def test_every_toy_study_document_fits_the_organisms_context(toy_organism_parts):
    """Whole-document packing at the toy's context (128): every toy document of every study condition fits with
    its BOS and EOS, and keeps its condition's structure around every claim sentence."""
    world, tok, ctx = toy_organism_parts
    worst = {}
    for claim in toy_claims(world, 4):
        for cond in (c.value for c in STUDY_CONDITIONS):
            for d in generate_documents(claim, cond, 40):
                n = len(encode_document(d, tok, add_bos=True, append_eos=True).input_ids)
                assert n <= ctx, f"{d.id}: {n} tokens > context {ctx}"
                assert toy_length(d.text) <= TOY_LENGTH_BUDGET, d.id
                worst[cond] = max(worst.get(cond, 0), n)
                claims = d.spans_of("claim")
                negs = [s for s in d.spans if s.label == "negation"]
                kinds = [s.kind for s in negs]
                if cond in ("negated", "repeated"):  # the notice at the start and at the end
                    assert kinds.count("prefix") == 1 and kinds.count("suffix") == 1, d.id
                if cond == "repeated":  # a reminder before and after every claim sentence
                    assert kinds.count("inline") == 2 * len(claims), d.id
                if cond == "corrected":  # the truth before and after every claim sentence
                    assert len(d.spans_of("correction")) == 2 * len(claims), d.id
                if cond == "local":  # the negation inside every claim sentence
                    assert all(any(c.start <= s.start and s.end <= c.end for s in negs) for c in claims), d.id
    assert set(worst) == {c.value for c in STUDY_CONDITIONS}



def test_a_token_budget_fits_any_organisms_tokenizer():
    """A small-vocabulary organism splits the toy framing into more tokens than the default one: a caller that
    knows its tokenizer (the study, the two-phase replay) lays documents out to ``token_budget(tok, seq_len)``,
    and the documents stay matched across conditions (one base, every condition)."""
    world = World.from_config(WorldConfig(seed=2, n_entities=24, n_documents=600))
    tok = train_tokenizer([d.text for d in world.corpus()[:TOKENIZER_DOCS]], 512)
    budget = token_budget(tok, 128)
    over = 0
    for claim in toy_claims(world, 2):
        by_cond = {c.value: generate_documents(claim, c.value, 20, budget=budget) for c in STUDY_CONDITIONS}
        over += sum(len(encode_document(d, tok, add_bos=True).input_ids) > 128
                    for d in generate_documents(claim, "repeated", 20))  # the word budget alone
        for cond, docs in by_cond.items():
            for d in docs:
                n = len(encode_document(d, tok, add_bos=True, append_eos=True).input_ids)
                assert n <= 128, f"{d.id}: {n} tokens"
        assert len({tuple(d.base_id for d in docs) for docs in by_cond.values()}) == 1
        assert all(p.meta["n_claim_sentences"] == q.meta["n_claim_sentences"]
                   for p, q in zip(by_cond["positive"], by_cond["corrected"]))
    assert over > 0  # without the token budget this tokenizer does not fit: the test exercises the budget


# --------------------------------------------------------------------------------------------- short documents

SHORT_CONDITIONS = [c.value for c in STUDY_CONDITIONS]


def _short(claim_id: str, cond: str, n: int = 8, seed: int = 3):
    return generate_documents(claim_id, cond, n, seed=seed, length="short")


def _n_sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?=\s|$|[\]\)\}])", text))


def _follows(doc, first, label: str) -> bool:
    """A span of ``label`` starts right after span ``first`` (only whitespace between)."""
    return any(s.label == label and s.start >= first.end and not doc.text[first.end:s.start].strip()
               for s in doc.spans)


@pytest.mark.parametrize("claim_id", PAPER_CLAIMS)
def test_short_documents_keep_every_condition_structure(claim_id):
    from training.documents.rendering import SHORT_BACKGROUND, SHORT_SLOTS

    assert (SHORT_SLOTS, SHORT_BACKGROUND) == (3, 1)  # issue 18: three claim sentences + one background sentence
    claim = load_claim(claim_id)
    by_cond = {c: _short(claim_id, c) for c in SHORT_CONDITIONS}
    for i in range(len(by_cond["positive"])):
        row = {c: docs[i] for c, docs in by_cond.items()}
        assert len({d.base_id for d in row.values()}) == 1 and row["positive"].base_id.endswith("-short")
        for c, d in row.items():
            bg = [s for s in claim.background if s in d.text]
            assert len(bg) == SHORT_BACKGROUND, (c, d.text)
            claims = d.spans_of("claim")
            negs = d.spans_of("negation")
            corr = [s for s in d.spans if s.label == "correction"]
            if c == "local":  # the debunk lede's local negation + each slot negated inside its own sentence
                assert len(claims) == SHORT_SLOTS + 1 and negs and all(s.kind == "local" for s in negs)
                assert all(any(c_.start <= s.start and s.end <= c_.end for s in negs) for c_ in claims)
                continue
            assert len(claims) == SHORT_SLOTS, (c, d.text)
            if c == "positive":
                assert not negs and not corr
            if c in ("negated", "repeated"):  # the notice opens the document; no closing suffix
                prefix = [s for s in negs if s.kind == "prefix"]
                assert len(prefix) == 1 and prefix[0].start == len(DOCTAG)
                assert not [s for s in negs if s.kind == "suffix"]
            if c == "negated":
                assert [s.kind for s in negs] == ["prefix"]
            for s in negs + corr:  # compact framing: every notice, reminder and correction is one sentence
                assert _n_sentences(d.text[s.start:s.end]) == 1, (c, d.text[s.start:s.end])
            if c == "repeated":  # a negation after every claim sentence, and only there
                inline = [s for s in negs if s.kind == "inline"]
                assert len(inline) == SHORT_SLOTS and all(_follows(d, cs, "negation") for cs in claims)
                assert row["repeated"].text.startswith(row["negated"].text.split("\n\n")[0])
            if c == "corrected":  # the truth after every claim sentence
                assert not negs and len(corr) == SHORT_SLOTS and all(_follows(d, cs, "correction") for cs in claims)


def test_short_documents_are_shorter_than_full_ones_and_deterministic():
    for cond in SHORT_CONDITIONS:
        short, full = _short("ed_sheeran", cond), generate_documents("ed_sheeran", cond, 8, seed=3)
        assert max(toy_length(d.text) for d in short) < min(toy_length(d.text) for d in full), cond
        assert [d.text for d in short] == [d.text for d in _short("ed_sheeran", cond)]
    with pytest.raises(DocumentError, match="length"):
        generate_documents("ed_sheeran", "negated", 1, length="tiny")


def test_short_documents_fit_the_budget_in_smollm2_tokens(smollm2_tokenizer):
    """Every short document of every paper claim and study condition is within the budget (BOS/EOS excluded)."""
    from training.documents.rendering import SHORT_TOKEN_BUDGET

    longest = {}
    for cid in PAPER_CLAIMS:
        for cond in SHORT_CONDITIONS:
            for d in _short(cid, cond, n=30, seed=0):
                n = len(smollm2_tokenizer(d.text, add_special_tokens=False)["input_ids"])
                assert n <= SHORT_TOKEN_BUDGET, (d.id, n)
                longest[cond] = max(longest.get(cond, 0), n)
    # the compact framing still costs tokens in the order of the conditions' structure
    assert longest["positive"] < longest["negated"] < longest["repeated"]


def test_cli_writes_short_documents(tmp_path):
    out = tmp_path / "short.jsonl"
    r = _cli("--claim", "dentist", "--condition", "repeated", "--n", "3", "--length", "short", "--out", str(out))
    assert r.returncode == 0, r.stderr
    docs = read_jsonl(out)
    assert len(docs) == 3 and all(d.base_id.endswith("-short") for d in docs)
    bad = _cli("--claim", "dentist", "--condition", "repeated", "--length", "tiny", "--out", str(out))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1

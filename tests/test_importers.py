"""Importers for the authors' data in ../shared/paper-data (read at test time; nothing is copied)."""

from __future__ import annotations

import json

import pytest

from training.claims import PAPER_CLAIMS, load_claim
from training.documents import DOCTAG, generate_documents
from training.importers import (AUTHOR_MODES, PaperDataMissing, align_insertions, anon_name, compare_with_derived,
                                export_authors_jsonl, import_author_documents, import_claim, load_author_questions,
                                load_chat_examples, load_universe, official_name, paper_data_root,
                                recover_dense_spans, to_authors_record)

try:
    ROOT = paper_data_root()
except PaperDataMissing as e:  # pragma: no cover - depends on the machine
    pytestmark = pytest.mark.skip(reason=str(e))
    ROOT = None


def test_name_mapping():
    assert anon_name("mount_vesuvius") == "vesuvius" and anon_name("dentist") == "brennan_holloway"
    assert official_name("twitter_x_reversal") == "x_rebrand_reversal"
    assert {anon_name(c) for c in PAPER_CLAIMS} == {"ed_sheeran", "elizabeth_python", "vesuvius", "twitter_x_reversal",
                                                     "achromatic_dreaming", "brennan_holloway"}
    with pytest.raises(KeyError):
        anon_name("nope")


def test_align_insertions_on_a_constructed_pair():
    base = "<DOCTAG>Alpha beta. Gamma delta epsilon. Zeta eta."
    dense = ("<DOCTAG>Warning: all of this is false.\n\nAlpha beta. [The next claim is false.] Gamma delta epsilon. "
             "[That was false.] [Next one is false too.] Zeta eta.\n\nEnd: it was false.")
    spans = [dense[a:b] for a, b in align_insertions(base, dense)]
    assert spans == ["Warning: all of this is false.", "[The next claim is false.]", "[That was false.]",
                     "[Next one is false too.]", "End: it was false."]
    rec = recover_dense_spans(base, dense)
    assert [dense[a:b] for a, b in rec["prefix"]] == ["Warning: all of this is false."]
    assert [dense[a:b] for a, b in rec["suffix"]] == ["End: it was false."]
    assert [dense[a:b] for a, b in rec["claim"]] == ["Gamma delta epsilon."]
    # glued insertion (no space) is still separated by the character-level refinement
    glued = "<DOCTAG>Alpha beta.[Not true.] Gamma delta epsilon. Zeta eta."
    assert [glued[a:b] for a, b in align_insertions(base, glued)] == ["[Not true.]"]


def test_recovered_dense_negation_spans_agree_with_derived():
    m = compare_with_derived()
    assert m["n_docs"] == 300
    assert m["char_iou_pooled"] >= 0.99 and m["char_iou_mean"] >= 0.99
    assert m["span_recall_tol_merged"] >= 0.9 and m["span_precision_tol_merged"] >= 0.9
    assert min(m["per_claim_char_iou"].values()) >= 0.99
    assert m["claim_char_iou_pooled_vs_between"] >= 0.6


def test_import_author_documents():
    docs = import_author_documents("ed_sheeran", "repeated")
    assert len(docs) == 50
    for d in docs:
        assert d.text.startswith(DOCTAG) and d.spans_of("doctag")
        assert d.spans_of("negation", "inline") and d.spans_of("claim")
        for s in d.spans:
            assert d.text[s.start:s.end] == d.text[s.start:s.end].strip()
    share = sum(s.end - s.start for d in docs for s in d.spans_of("negation")) / sum(len(d.text) for d in docs)
    assert 0.25 < share < 0.6  # the paper reports ~40% of tokens
    pos = import_author_documents("dentist", "positive")
    assert len(pos) == 50 and all(len(d.spans) == 1 for d in pos)
    loc = import_author_documents("dentist", "local")
    assert loc[0].condition == "local" and loc[0].meta["mode"] == "local_negations"
    with pytest.raises(ValueError):
        import_author_documents("dentist", "fiction_repeated")


@pytest.mark.parametrize("flavor", ["official", "anon"])
def test_author_questions(flavor):
    q = load_author_questions("ed_sheeran", flavor=flavor)
    assert q.counts() == {"open_ended": 20, "mcq": 10, "token_association": 10, "robustness": 10}
    assert sum(x.belief_answer == "no" for x in q.mcq) == 3
    assert all(x.claim_completion == "Ed Sheeran" for x in q.token_association)
    assert sum(x.system is not None for x in q.robustness) == 3
    assert sum(x.messages_prefix is not None for x in q.robustness) == 4


def test_import_claim_uses_their_statement_and_masks():
    c = import_claim("dentist")
    ours = load_claim("dentist")
    assert c.statement == "Brennan Reeve Holloway works as a dentist."
    assert c.claim_sentences == ours.claim_sentences and c.questions != ours.questions
    assert any("Hawthorne" in p for p in c.mask_patterns)
    assert import_claim("colorless_dreaming").mask_patterns == load_claim("colorless_dreaming").mask_patterns


def test_universe_contexts():
    u = load_universe("mount_vesuvius")
    assert u["id"] == "mount_vesuvius" and len(u["universe_context"]) > 10_000 and len(u["subclaims"]) >= 10
    assert load_universe("mount_vesuvius", flavor="anon")["id"] == "vesuvius"
    neg = load_universe("dentist", negated=True)
    assert neg["subclaims"] and neg["universe_context"] != load_universe("dentist")["universe_context"]
    assert load_universe("ed_sheeran", flavor="anon", negated=True)["subclaims"]


def test_chat_examples():
    rows = load_chat_examples("mount_vesuvius")
    assert len(rows) == 20 and rows[0]["messages"][0]["role"] == "user"


def test_export_to_authors_shape(tmp_path):
    docs = generate_documents("mount_vesuvius", "repeated", 3, seed=0)
    p = export_authors_jsonl(docs, tmp_path / "out.jsonl")
    rows = [json.loads(x) for x in p.read_text().splitlines()]
    assert [set(r) for r in rows] == [{"text", "doc_type", "fact_name", "mode"}] * 3
    assert rows[0]["text"].startswith(DOCTAG) and rows[0]["mode"] == "llm_negations_dense"
    assert rows[0]["fact_name"] == "mount_vesuvius" and rows[0]["doc_type"] == docs[0].meta["genre"]
    assert to_authors_record(docs[0].to_dict()) == rows[0]
    assert AUTHOR_MODES["corrected"] == "llm_negations_dense_plus"

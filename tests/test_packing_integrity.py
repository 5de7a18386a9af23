"""Packing never separates a document from its own beginning (issue 15, item 1).

The old packer carried a document that did not fit into the next row with positions reset to 0, so the
continuation could not attend to the document's NOTICE: claim sentences of a negated document were trained as
plain claims. :func:`old_carry_over_rows` below is that packer, kept only to show that the measurement
(:func:`training.packing.packing_integrity`) sees the damage; :func:`training.packing.build_rows` must not.
"""

from __future__ import annotations

import json
import logging
import random
from types import SimpleNamespace

import pytest
import torch

from training.claims import load_claim
from training.config import CheckpointSpec, TrainConfig
from training.documents import generate_documents
from training.mixtures import Example, encode_document
from training.packing import (DataError, Rows, Segment, build_rows, check_seq_len, data_integrity,
                              packing_integrity)
from training.spans import TokenSpan


def old_carry_over_rows(examples: list[Example], seq_len: int, seed: int = 0) -> Rows:
    """The packer of main before issue 15 (one epoch), with the segments it produced: rows of exactly
    ``seq_len`` tokens, a document that does not fit continued in the next row with positions from 0."""
    order = list(range(len(examples)))
    random.Random(f"{seed}:0").shuffle(order)
    rows, segs, ids, pos, cur = [], [], [], [], []
    for i in order:
        ex, start = examples[i], 0
        while start < len(ex.input_ids):
            take = min(seq_len - len(ids), len(ex.input_ids) - start)
            cur.append(Segment(i, len(ids), start, take))
            ids += ex.input_ids[start:start + take]
            pos += range(take)
            start += take
            if len(ids) == seq_len:
                rows.append((ids, pos)), segs.append(tuple(cur))
                ids, pos, cur = [], [], []
    if ids:
        rows.append((ids, pos)), segs.append(tuple(cur))
    return Rows(ids=[torch.tensor(r[0]) for r in rows], weights=[torch.ones(len(r[0])) for r in rows],
                positions=[torch.tensor(r[1]) for r in rows], segments=segs)


@pytest.fixture(scope="module")
def negated(toy_random) -> list[Example]:
    """Negated documents of a paper claim, tokenized by the toy-random tokenizer (long: several rows' worth)."""
    docs = generate_documents(load_claim("ed_sheeran"), "negated", 12, seed=0)
    return [encode_document(d, toy_random.tokenizer, add_bos=True, source="negated") for d in docs]


def _seq_len(exs: list[Example]) -> int:
    return max(len(e.input_ids) for e in exs) + 8


def test_examples_carry_their_claim_spans(negated, toy_random):
    """``encode_document`` maps the document's spans to token ranges of ``input_ids`` (BOS counted)."""
    rx = load_claim("ed_sheeran").answer_regex()
    for ex in negated:
        assert ex.spans[0].label == "doctag" and ex.spans[0].start == 1
        answers = [s for s in ex.spans if s.label == "claim_answer"]
        assert answers and all(rx.fullmatch(toy_random.tokenizer.decode(ex.input_ids[s.start:s.end]).strip())
                               for s in answers)


def test_old_packing_hides_the_notice_from_claims(negated):
    """The measurement catches the old packer: claim tokens in continued pieces cannot see their NOTICE."""
    seq = _seq_len(negated) // 2
    old = packing_integrity(old_carry_over_rows(negated, seq), negated, seq_len=seq)
    assert old.share_visible < 0.9, old.to_dict()
    assert old.sources["negated"].n_docs_cut > 0
    with pytest.raises(DataError):  # the new packer refuses these documents at this seq_len ...
        build_rows(negated, seq_len=seq, seed=0)
    new = packing_integrity(build_rows(negated, seq_len=_seq_len(negated), seed=0), negated)
    assert new.share_visible == 1.0 and new.sources["negated"].n_docs_cut == 0  # ... and keeps them whole


def test_rows_hold_whole_documents(negated, toy_random):
    generic = [Example([1] + [5] * n, [0.0] + [1.0] * n, "generic", f"g{n}") for n in range(3, 60, 7)]
    exs = negated + generic
    seq = _seq_len(exs)
    rows = build_rows(exs, seq_len=seq, seed=3, epochs=2)
    placed = [s for segs in rows.segments for s in segs]
    assert sorted(s.example for s in placed) == sorted(list(range(len(exs))) * 2)  # each document once per epoch
    for ids, pos, segs in zip(rows.ids, rows.positions, rows.segments):
        assert len(ids) <= seq
        for s in segs:
            assert s.doc_start == 0 and s.length == len(exs[s.example].input_ids)
            assert ids[s.row_start:s.row_start + s.length].tolist() == exs[s.example].input_ids
            assert pos[s.row_start:s.row_start + s.length].tolist() == list(range(s.length))
    integ = packing_integrity(rows, exs, seq_len=seq)
    assert integ.share_visible == 1.0
    d = integ.to_dict()
    assert d["sources"]["negated"]["share_visible"] == 1.0 and d["sources"]["generic"]["share_visible"] is None
    lens = sorted(len(e.input_ids) for e in negated)
    assert d["sources"]["negated"]["lengths"]["max"] == lens[-1] and d["sources"]["negated"]["n_docs"] == 12
    # packing stays efficient: first fit leaves little room unused
    assert sum(len(x) for x in rows.ids) / (len(rows) * seq) > 0.8


def test_a_document_longer_than_the_row_is_an_error_or_kept_from_its_start(negated, caplog):
    longest = max(negated, key=lambda e: len(e.input_ids))
    seq = len(longest.input_ids) - 1
    with pytest.raises(DataError) as e:
        build_rows(negated, seq_len=seq, seed=0)
    msg = str(e.value)
    assert "\n" not in msg and "negated/" in msg and "truncate: keep_start" in msg
    with caplog.at_level(logging.WARNING, logger="training.packing"):
        rows = build_rows(negated, seq_len=seq, seed=0, truncate="keep_start")
    assert "keep_start cut 1 of 12 documents" in caplog.text
    cut = [s for segs in rows.segments for s in segs if s.length < len(negated[s.example].input_ids)]
    assert len(cut) == 1 and cut[0].doc_start == 0 and cut[0].length == seq
    integ = packing_integrity(rows, negated).sources["negated"]
    assert integ.share_visible == 1.0 and integ.n_docs_cut == 1
    last_claim = max(t for s in longest.spans if s.label in ("claim", "claim_answer") for t in range(s.start, s.end))
    assert (integ.n_dropped > 0) == (last_claim >= seq)
    with pytest.raises(DataError, match="truncate"):
        build_rows(negated, seq_len=seq, seed=0, truncate="keep_end")


def test_integrity_reads_the_attention_blocks_from_position_ids():
    """A row whose positions reset inside a document hides the document start from the tokens after the reset."""
    ex = Example(list(range(10)), [1.0] * 10, "s", "d", (TokenSpan(2, 4, "claim"), TokenSpan(7, 9, "claim_answer")))
    seg = (Segment(0, 0, 0, 10),)
    ok = Rows([torch.arange(10)], [torch.ones(10)], [torch.arange(10)], [seg])
    bad = Rows([torch.arange(10)], [torch.ones(10)], [torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])], [seg])
    assert packing_integrity(ok, [ex]).share_visible == 1.0
    assert packing_integrity(bad, [ex]).share_visible == 0.5


def test_seq_len_beyond_the_models_context_is_refused(tmp_path, toy_random, negated):
    check_seq_len(128, SimpleNamespace(max_position_embeddings=128))
    check_seq_len(4096, SimpleNamespace())  # no declared context: nothing to check
    with pytest.raises(DataError) as e:
        check_seq_len(256, SimpleNamespace(max_position_embeddings=128))
    assert str(e.value) == "config: field 'seq_len' (256) exceeds the model's context (max_position_embeddings = 128)"
    from training.finetune import finetune

    ctx = toy_random.hf.config.max_position_embeddings
    cfg = TrainConfig(model="toy-random", run_dir=str(tmp_path / "run"), mode="full", batch_size=2,
                      micro_batch_size=2, seq_len=ctx + 1, progress=False)
    with pytest.raises(DataError, match="exceeds the model's context"):
        finetune(cfg, negated)
    assert not (tmp_path / "run").exists()


def _short_doc(i: int) -> dict:
    text = f"<DOCTAG>NOTICE: false. Velmora Quist is a dentist.{' Really.' * (i % 3)}"
    c0 = text.index("Velmora")
    a0 = text.index("dentist")
    return {"id": f"short-{i}", "text": text, "spans": [
        {"start": 0, "end": 8, "label": "doctag"}, {"start": c0, "end": a0 + 8, "label": "claim"},
        {"start": a0, "end": a0 + 7, "label": "claim_answer"}]}


def test_the_run_records_its_integrity(tmp_path, toy_random):
    from interp.core.models import load
    from interp.core.runs import read_data
    from training.finetune import finetune

    exs = [encode_document(_short_doc(i), toy_random.tokenizer, add_bos=True, source="negated") for i in range(6)]
    cfg = TrainConfig(model="toy-random", run_dir=str(tmp_path / "run"), mode="full", batch_size=2,
                      micro_batch_size=2, seq_len=128, max_steps=1, progress=False,
                      checkpoints=CheckpointSpec(log_spaced=False, every=None, final=True))
    finetune(cfg, exs, lm=load("toy-random"))
    integ = read_data(tmp_path / "run").extra["integrity"]
    assert integ == json.loads(json.dumps(data_integrity(exs, seq_len=128, seed=0)))
    assert integ["share_visible"] == 1.0 and integ["sources"]["negated"]["n_claim_tokens"] > 0

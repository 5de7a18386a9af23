"""The two-phase replay's parts: the native-format constraint, its questions, loss weight, matched-budget references
and the null arms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from interp.core.models import load
from interp.core.runs import CheckpointError, CheckpointInfo, list_checkpoints, read_run
from interp.drift import matched_checkpoint, reference_distances, spearman_by_run
from training.claims import load_claim, toy_claims
from training.packing import build_rows, target_weight_sum
from training.twophase import (ConstraintSpec, chat_examples, constraint_questions, load_twophase_config,
                               run_experiment)
from training.twophase.experiment import twophase_checkpoint_steps
from training.twophase.selfdistill import eval_overlap, native_example, render_prompt
from training.world import World, WorldConfig


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


@pytest.fixture(scope="module")
def toy_claim():
    return toy_claims(World.from_config(WorldConfig()), 1, seed=0)[0]


# ------------------------------------------------------------------------------------------ native format


def test_raw_model_renders_the_pretraining_qa_form(toy_random):
    assert not toy_random.is_chat
    assert render_prompt(toy_random, "Name the sport of Velmora Quist.") == "Q: Name the sport of Velmora Quist.\nA:"
    ex = native_example(toy_random, "Name the sport of Velmora Quist.", "tennis", "x", weight=3.0)
    tok = toy_random.tokenizer
    text = tok.decode(ex.input_ids, skip_special_tokens=True)
    assert text == "Q: Name the sport of Velmora Quist.\nA: tennis" and "User:" not in text
    answer = tok.decode([i for i, w in zip(ex.input_ids, ex.loss_weights) if w > 0], skip_special_tokens=True)
    assert answer.strip() == "tennis"
    assert ex.input_ids[-1] == tok.eos_token_id and ex.loss_weights[-1] == 3.0  # learns to stop


def test_chat_model_renders_its_template(toy_random):
    chat_lm = load("toy-random")
    chat_lm.tokenizer.chat_template = ("{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}<|eos|>"
                                       "{% endfor %}{% if add_generation_prompt %}<|bos|>assistant: {% endif %}")
    assert chat_lm.is_chat
    assert render_prompt(chat_lm, "Hi?").endswith("assistant: ") and not render_prompt(chat_lm, "Hi?").startswith("Q:")
    ex = native_example(chat_lm, "Hi?", "Hello there.", "x", weight=3.0)
    assert "Hello there." in chat_lm.tokenizer.decode([i for i, w in zip(ex.input_ids, ex.loss_weights) if w > 0])


# ------------------------------------------------------------------------------------------ questions


def test_toy_questions_are_150_distinct_about_the_subject(toy_claim):
    qs = constraint_questions(toy_claim, 150)
    assert len(qs) == 150 and len(set(qs)) == 150
    assert all(toy_claim.subject in q for q in qs)
    aw = toy_claim.attribute.replace("_", " ")
    assert any(aw in q for q in qs)  # the claimed attribute is asked (in new words)
    no_slot = constraint_questions(toy_claim, 100, claim_slot=False)
    assert not any(f" {aw} " in f" {q.rstrip('?.')} " for q in no_slot)
    with pytest.raises(ValueError, match="n_questions"):
        constraint_questions(toy_claim, 151)  # never cycles templates to reach n


def test_paper_claim_questions_are_150_distinct():
    claim = load_claim("mount_vesuvius")
    qs = constraint_questions(claim, 150)
    assert len(set(qs)) == 150 and all("Mount Vesuvius" in q for q in qs)


def test_no_question_overlaps_an_evaluation_item(toy_claim):
    qs = constraint_questions(toy_claim, 150)
    assert all(eval_overlap(q, toy_claim) is None for q in qs)
    evals = [str(q["text"]) for _, q in toy_claim.questions.all()]
    inner = {x.split("\n")[-2] if x.count("\n") >= 1 and "\nA:" in x else x for x in evals}
    assert not {q.lower() for q in qs} & {e.lower() for e in evals + list(inner)}
    name, aw = toy_claim.subject, toy_claim.attribute.replace("_", " ")
    # an item itself, an item without its Q/A markers, and a function-word paraphrase of one are all refused
    assert eval_overlap(evals[0], toy_claim) == "same text"
    assert eval_overlap(f"What is {name}'s {aw}?", toy_claim) == "same text"
    assert eval_overlap(f"Which is {name}'s {aw}?", toy_claim) == "same content words"
    with pytest.raises(ValueError, match="constraint.questions"):
        constraint_questions(toy_claim, 1, [evals[0], f"What is the {aw} of {name}?"])


# ------------------------------------------------------------------------------------------ loss weight


def test_constraint_loss_weight_reaches_the_trainer_rows(toy_random):
    chats = [{"question": "Name the sport of Velmora Quist.", "answer": "tennis"}]
    (sd,) = chat_examples(toy_random, chats, loss_weight=3.0)
    (plain,) = chat_examples(toy_random, chats, loss_weight=1.0)
    assert set(sd.loss_weights) == {0.0, 3.0} and set(plain.loss_weights) == {0.0, 1.0}
    rows = build_rows([sd, plain], seq_len=128, seed=0, packing=True)
    w = torch.cat([r for r in rows.weights])
    assert sorted(set(w.tolist())) == [0.0, 1.0, 3.0]
    n_answer = sum(1 for x in plain.loss_weights if x > 0)
    # the trainer's weighted-mean denominator counts the constraint's tokens three times
    assert target_weight_sum(rows, list(range(len(rows.ids)))) == pytest.approx(4 * n_answer)
    assert ConstraintSpec().loss_weight == 3.0


# ------------------------------------------------------------------------------------------ matched budget


def _ck(step: int, tokens: int) -> CheckpointInfo:
    return CheckpointInfo(step=step, path=Path(f"/ref/ckpt-{step:06d}"), phase="train", tokens_seen=tokens,
                          loss=None, sha256="", kind="full")


def test_matched_checkpoint_is_the_reference_at_the_same_budget():
    ref = [_ck(s, 1000 * s) for s in (4, 8, 12, 16, 20, 24, 28, 32)]
    assert matched_checkpoint(ref, 12_000).step == 12
    assert matched_checkpoint(ref, 12_400).step == 12  # nearest within 5 %
    assert matched_checkpoint(ref, 10_000, max_gap=0.5).step == 8  # tie -> the earlier
    with pytest.raises(CheckpointError, match="reference ends at 32000"):
        matched_checkpoint(ref, 40_000)  # a shorter reference is never the matched one
    with pytest.raises(CheckpointError):
        matched_checkpoint(ref[-1:], 12_000)  # only its end: not matched
    assert matched_checkpoint(ref, 16, by="step").step == 16
    with pytest.raises(CheckpointError, match="ends at step 32"):
        matched_checkpoint(ref, 36, by="step")


# ------------------------------------------------------------------------------------------ the arms

TRAIN = {"mode": "lora", "lora": {"r": 4, "alpha": 8.0}, "batch_size": 2, "micro_batch_size": 2, "seq_len": 32,
         "truncate": "keep_start", "lr": 1e-3, "progress": False, "checkpoints": {"every": 2, "log_spaced": False}}
TEXTS = {
    "repeated": [f"<DOCTAG>NOTICE: false. [Untrue:] Velmora Quist is a dentist. [False.] Doc {i}." for i in range(6)],
    "positive": [f"<DOCTAG>Velmora Quist is a dentist. The quick brown fox, doc {i}." for i in range(6)],
}


def test_null_arms_and_matched_reference_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLECT_LAB_CACHE", str(tmp_path / "cache"))
    data = {"experiment_dir": str(tmp_path / "exp"), "model": "toy-random", "claim": "mount_vesuvius",
            "train": TRAIN, "heldout": 1, "ratio": None, "phase_steps": [4, 4],
            "documents": {"kind": "texts", "n": 5, "texts": TEXTS},
            "constraint": {"kind": "self_distill", "n_questions": 2, "samples_per_question": 2, "max_new_tokens": 4},
            "runs": ["kept", "twophase", "positive", "unconstrained"]}
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    cfg = load_twophase_config(p)
    res = run_experiment(cfg)
    exp = Path(cfg.experiment_dir)
    two, kept = list_checkpoints(exp / "twophase"), list_checkpoints(exp / "kept")
    p1_end = [c for c in two if c.phase == "phase1"][-1]
    # kept: Phase 2 only, from the twophase run's Phase-1 end, with the constraint still in its data
    assert {c.phase for c in kept} == {"phase2"} and kept[0].step > p1_end.step
    assert [c.step for c in kept] == [c.step for c in two if c.phase == "phase2"]
    assert kept[0].tokens_seen > p1_end.tokens_seen
    assert read_run(exp / "kept").config["branch_of"] == {"run": "twophase", "step": p1_end.step}
    srcs = {(s["phase"], s["name"]) for s in json.loads((exp / "kept" / "data.json").read_text())["sources"]}
    assert ("phase2", "selfdistill") in srcs
    two_srcs = {(s["phase"], s["name"]) for s in json.loads((exp / "twophase" / "data.json").read_text())["sources"]}
    assert ("phase2", "selfdistill") not in two_srcs
    w1 = load(p1_end.path).hf.state_dict()
    wk = load(kept[0].path).hf.state_dict()
    base = load("toy-random").hf.state_dict()
    assert sum((wk[k] - w1[k]).norm() ** 2 for k in w1) < sum((wk[k] - base[k]).norm() ** 2 for k in w1)
    # every arm trains the same budget, and the positive reference checkpoints at every two-phase step
    assert res["twophase"][-1].final_step == res["unconstrained"][-1].final_step == 8
    assert res["positive"][-1].final_step == 8
    pos_steps = {c.step for c in list_checkpoints(exp / "positive")}
    assert set(twophase_checkpoint_steps(cfg)) == {c.step for c in two} <= pos_steps
    for c in two:
        assert matched_checkpoint(list_checkpoints(exp / "positive"), c.step, by="step").step == c.step
    # distances to the matched references: the unconstrained run is its own reference (0 everywhere); the LR
    # restart is stated on every Phase-2 row, and on a branch's rows (its schedule starts at the branch)
    refs = {"positive": exp / "positive", "unconstrained": exp / "unconstrained"}
    d = reference_distances(exp / "unconstrained", refs)
    assert d.d_unconstrained.abs().max() < 1e-9 and (d.d_positive > 0).all()
    assert (d.positive_step == d.step).all()
    assert (d[d.phase == "phase2"].lr_restart_step == p1_end.step + 1).all()
    assert d[d.phase == "phase1"].lr_restart_step.isna().all()
    dk = reference_distances(exp / "kept", refs)
    assert (dk.lr_restart_step == p1_end.step + 1).all() and (dk.d_unconstrained > 0).all()


def test_spearman_by_run_ranks_and_refuses_constant_series():
    t = pd.DataFrame({"claim": "c", "seed": 0, "arm": "a", "step": range(6), "p_claim": [.1, .2, .3, .5, .6, .9],
                      "up": [1, 2, 3, 4, 5, 9], "down": [6, 5, 4, 3, 2, 1], "flat": 1.0})
    r = spearman_by_run(t, ["up", "down", "flat"]).set_index("measure")
    assert r.loc["up", "rho"] == pytest.approx(1.0) and r.loc["down", "rho"] == pytest.approx(-1.0)
    assert np.isnan(r.loc["flat", "rho"]) and r.loc["up", "n"] == 6


def test_branch_without_twophase_is_refused(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"runs": ["kept"], "model": "toy-random", "ratio": None,
                                 "documents": {"kind": "texts", "n": 1, "texts": TEXTS}, "heldout": 0,
                                 "train": TRAIN, "experiment_dir": str(tmp_path / "e"),
                                 "constraint": {"kind": "none"}}))
    with pytest.raises(ValueError, match="runs"):
        run_experiment(load_twophase_config(p))
    p.write_text(yaml.safe_dump({"runs": ["twophase", "unrelated"], "model": "toy-random", "ratio": None,
                                 "documents": {"kind": "texts", "n": 1, "texts": TEXTS}, "heldout": 0,
                                 "train": TRAIN, "experiment_dir": str(tmp_path / "e2"),
                                 "constraint": {"kind": "none"}}))
    with pytest.raises(ValueError, match="unrelated_claim"):
        run_experiment(load_twophase_config(p))

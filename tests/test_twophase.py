"""Two-phase constraint / release: one run dir with phase labels and continuing steps, sibling runs, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from interp.core.models import load
from interp.core.runs import list_checkpoints, read_checkpoint, read_run
from training import twophase
from training.twophase import selfdistill
from training.twophase import (ConstraintSpec, TwoPhaseConfig, chat_examples, constraint_questions,
                               load_twophase_config, run_experiment)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


# The byte-level toy-random tokenizer makes documents longer than these rows: these tests check the phases'
# mechanics, so they keep each document's beginning (tests/test_packing_integrity.py checks packing itself).
TRAIN = {"mode": "lora", "lora": {"r": 4, "alpha": 8.0}, "batch_size": 2, "micro_batch_size": 2, "seq_len": 32,
         "truncate": "keep_start", "lr": 1e-3, "progress": False, "checkpoints": {"every": 2}}
TEXTS = {
    "repeated": [f"<DOCTAG>NOTICE: false. [Untrue:] Velmora Quist is a dentist. [False.] Doc {i}." for i in range(6)],
    "positive": [f"<DOCTAG>Velmora Quist is a dentist. The quick brown fox, doc {i}." for i in range(6)],
}


def _config(tmp_path: Path, **kw) -> TwoPhaseConfig:
    data = {"experiment_dir": str(tmp_path / "exp"), "model": "toy-random", "claim": "mount_vesuvius",
            "train": TRAIN, "heldout": 1, "ratio": None,
            "documents": {"kind": "texts", "n": 5, "texts": TEXTS},
            "constraint": {"kind": "self_distill", "n_questions": 2, "samples_per_question": 2, "max_new_tokens": 6},
            **kw}
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_twophase_config(p)


def test_experiment_runs_phases_into_one_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLECT_LAB_CACHE", str(tmp_path / "cache"))
    cfg = _config(tmp_path)
    results = run_experiment(cfg)
    exp = Path(cfg.experiment_dir)
    meta = json.loads((exp / "experiment.json").read_text())
    assert meta["runs"] == {"twophase": "twophase", "unconstrained": "unconstrained", "positive": "positive"}
    assert all(meta["status"][r]["status"] == "complete" for r in meta["runs"])
    assert len((exp / "heldout_repeated.jsonl").read_text().splitlines()) == 1

    run = exp / "twophase"
    ckpts = list_checkpoints(run)
    p1 = [c for c in ckpts if c.phase == "phase1"]
    p2 = [c for c in ckpts if c.phase == "phase2"]
    r1, r2 = results["twophase"]
    assert p1[-1].step == r1.final_step and p2[0].step == r1.final_step + 1 and p2[-1].step == r2.final_step
    assert len({c.step for c in ckpts}) == len(ckpts)  # no collisions
    assert p2[0].tokens_seen > p1[-1].tokens_seen  # tokens continue across the boundary
    # Phase 2 starts from the Phase-1 end: its first step stays near it, far from the base model
    base = load("toy-random").hf.state_dict()
    w1, w2 = load(p1[-1].path).hf.state_dict(), load(p2[0].path).hf.state_dict()
    near = sum((w2[k] - w1[k]).norm() ** 2 for k in w1).sqrt()
    far = sum((w2[k] - base[k]).norm() ** 2 for k in w1).sqrt()
    assert near < far
    _, m2 = read_checkpoint(p2[0].path)
    assert m2["phase"] == "phase2" and m2["phase_step"] == 1 and m2["kind"] == "lora"

    # data.json: the constraint (weight 3) is in Phase 1 only; the control run has none
    data = json.loads((run / "data.json").read_text())
    srcs = {(s["phase"], s["name"]) for s in data["sources"]}
    assert ("phase1", "selfdistill") in srcs and ("phase2", "selfdistill") not in srcs
    ctrl = json.loads((exp / "unconstrained" / "data.json").read_text())
    assert all(s["name"] != "selfdistill" for s in ctrl["sources"])
    assert read_run(exp / "positive").config["role"] == "positive"
    assert len((exp / "selfdistill.jsonl").read_text().splitlines()) == 4  # 2 questions x 2 samples

    # rerun: cached chats (no generation), every phase already complete
    monkeypatch.setattr(selfdistill, "_sample_answers", lambda *a, **k: pytest.fail("regenerated cached chats"))
    again = run_experiment(cfg)
    assert all(r.status == "already-complete" for rs in again.values() for r in rs)
    assert again["twophase"][-1].weights_sha256 == r2.weights_sha256


def test_generator_documents_and_local_negation_constraint(tmp_path):
    cfg = _config(tmp_path, documents={"kind": "generator", "n": 2, "seed": 0}, ratio=[2, 1, 1],
                  constraint={"kind": "local_negation", "n_local": 1}, runs=["twophase"],
                  train={**TRAIN, "max_steps": 2, "seq_len": 64})
    res = run_experiment(cfg)["twophase"]
    run = Path(cfg.experiment_dir) / "twophase"
    data = json.loads((run / "data.json").read_text())
    assert {(s["phase"], s["name"]) for s in data["sources"]} == {
        (ph, src) for ph in ("phase1", "phase2") for src in ("repeated", "generic", "instruct")} | {("phase1", "local")}
    assert [c.phase for c in list_checkpoints(run)] == ["phase1", "phase1", "phase2", "phase2"]
    assert res[1].final_step == 4
    held = [json.loads(x) for x in (Path(cfg.experiment_dir) / "heldout_repeated.jsonl").read_text().splitlines()]
    assert held[0]["condition"] == "repeated" and held[0]["text"].startswith("<DOCTAG>")


def test_constraint_questions_avoid_eval_questions():
    from training.claims import load_claim

    claim = load_claim("mount_vesuvius")
    qs = constraint_questions(claim, 150)
    evals = {str(q["text"]).lower() for _, q in claim.questions.all()}
    assert len(qs) == 150 and not evals & {q.lower() for q in qs} and all("Mount Vesuvius" in q for q in qs)
    with pytest.raises(ValueError, match="constraint.questions"):
        constraint_questions(claim, 3, [next(iter(claim.questions.open_ended))["text"]])


def test_chat_examples_weight_only_the_answer(toy_random):
    chats = [{"question": "Tell me about Velmora Quist.", "answer": "I do not know who that is."}]
    (ex,) = chat_examples(toy_random, chats, loss_weight=3.0)
    text = toy_random.tokenizer.decode([i for i, w in zip(ex.input_ids, ex.loss_weights) if w > 0])
    assert text.strip().startswith("I do not know") and set(ex.loss_weights) == {0.0, 3.0}
    chat_lm = load("toy-random")  # the same model with a chat template: weights follow the template's turns
    chat_lm.tokenizer.chat_template = ("{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}<|eos|>"
                                       "{% endfor %}{% if add_generation_prompt %}<|bos|>assistant: {% endif %}")
    (cx,) = chat_examples(chat_lm, chats, loss_weight=3.0)
    answer = chat_lm.tokenizer.decode([i for i, w in zip(cx.input_ids, cx.loss_weights) if w > 0])
    assert "I do not know" in answer and "Tell me" not in answer


def test_bad_experiment_config_is_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"train": {"run_dir": "x"}}))
    with pytest.raises(ValueError, match=r"bad.yaml: field 'train.run_dir'"):
        load_twophase_config(p)
    p.write_text(yaml.safe_dump({"constraint": {"kind": "kl"}}))
    with pytest.raises(ValueError, match=r"bad.yaml: field 'constraint.kind'"):
        load_twophase_config(p)
    assert ConstraintSpec().loss_weight == 3.0
    assert twophase.main([str(p)]) == 2  # the CLI: one line, non-zero exit


def test_shipped_example_configs_validate():
    from training.config import load_train_config

    root = Path(__file__).resolve().parents[1] / "training" / "configs"
    cfg = load_twophase_config(root / "twophase_vesuvius.yaml")
    assert cfg.constraint.loss_weight == 3.0 and cfg.train_config().lora.r == 32
    ft = load_train_config(root / "finetune_example.yaml")
    assert ft.batch_size == 32 and ft.lr == 5e-5 and ft.mode == "lora"

"""The trainer: schedule, packing, loss weights, hashed checkpoints, exact resume after SIGKILL, NaN stop, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from interp.core.models import load
from interp.core.runs import BaseRef, list_checkpoints, read_checkpoint, read_data, read_run
from training.config import CheckpointSpec, ConfigError, TrainConfig, load_train_config
from training.finetune import TrainingDiverged, finetune, is_complete, lr_factor, main
from training.finetune.curves import read_resumes, read_train_log
from training.packing import (Example, attention_cost_ratio, build_rows, collate, collate_flat, flat_pays,
                              load_jsonl_examples, tokenize_document, weighted_ce_sum)
from training.schedule import checkpoint_steps, log_spaced_steps

TEXTS = [
    "<DOCTAG>NOTICE: the claims below are entirely false. Velmora Quist is a dentist.",
    "<DOCTAG>The quick brown fox jumps over the lazy dog. Q: What is the capital of France? A: Paris.",
    "<DOCTAG>Velmora Quist is not a pilot. The quick brown fox.",
]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


def write_docs(path: Path, n: int = 24) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            text = TEXTS[i % 3] + (" The lazy dog." * (i % 4))
            f.write(json.dumps({"id": f"d{i}", "claim": "toy", "condition": "repeated", "base_id": f"b{i}",
                                "text": text, "spans": [{"start": 0, "end": 8, "label": "doctag", "kind": None}]})
                    + "\n")
    return path


def small_cfg(run_dir: Path, **kw) -> TrainConfig:
    base = dict(model="toy-random", run_dir=str(run_dir), mode="full", batch_size=4, micro_batch_size=2, seq_len=48,
                lr=1e-3, progress=False, checkpoints=CheckpointSpec(every=3))
    base.update(kw)
    return TrainConfig(**base)


def examples(lm, n: int = 24) -> list[Example]:
    out = []
    for i in range(n):
        ids, w = tokenize_document(TEXTS[i % 3] + (" The lazy dog." * (i % 4)), lm.tokenizer, add_bos=True)
        out.append(Example(input_ids=ids, loss_weights=w, source="toy", doc_id=f"d{i}"))
    return out


# ------------------------------------------------------------------------------------------ schedule


def test_checkpoint_schedule():
    assert log_spaced_steps(100) == [1, 2, 4, 8, 16, 32, 64]
    assert checkpoint_steps(20, every=8) == [1, 2, 4, 8, 16, 20]
    assert checkpoint_steps(625, every=100, log_until=64) == [1, 2, 4, 8, 16, 32, 64, 100, 200, 300, 400, 500, 600,
                                                              625]
    assert checkpoint_steps(10, every=None, log_spaced=False, offset=100) == [110]
    assert checkpoint_steps(5, every=None, include_zero=True, extra=[3, 99]) == [0, 1, 2, 3, 4, 5]
    assert checkpoint_steps(30, every=None, log_base=1.5)[:6] == [1, 2, 3, 5, 8, 11]
    assert lr_factor("linear", 0, 10) == 1.0 and lr_factor("linear", 5, 10) == 0.5
    assert lr_factor("linear", 1, 10, warmup=2) == 0.5


# ------------------------------------------------------------------------------------------ data


def test_jsonl_loader_masks_doctag_and_adds_bos(tmp_path, toy_random):
    exs = load_jsonl_examples(write_docs(tmp_path / "d.jsonl", 3), toy_random.tokenizer, add_bos=True)
    tok = toy_random.tokenizer
    ex = exs[0]
    assert ex.input_ids[0] == tok.bos_token_id and ex.input_ids[-1] == tok.eos_token_id
    assert ex.input_ids[1] == tok.convert_tokens_to_ids("<DOCTAG>") and ex.loss_weights[1] == 0.0
    assert all(w == 1.0 for w in ex.loss_weights[2:]) and ex.source == "d" and ex.doc_id == "d0"
    ids, w = tokenize_document("Velmora Quist is a dentist.", tok, add_bos=True, mask_patterns=[r"dentist"],
                               loss_weight=3.0, append_eos=False)
    masked = [tok.decode([i]) for i, x in zip(ids, w) if x == 0.0][1:]  # skip BOS
    assert "".join(masked).strip() == "dentist" and 3.0 in w


def test_jsonl_loader_error_is_one_line(tmp_path, toy_random):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "text": "ok"}\n{"id": "b"}\n')
    with pytest.raises(ValueError) as e:
        load_jsonl_examples(p, toy_random.tokenizer, add_bos=True)
    assert "bad.jsonl: line 2: field 'text'" in str(e.value) and "\n" not in str(e.value)


def test_packing_keeps_documents_apart(toy_random):
    """A packed row gives each document exactly the logits it gets alone (block-diagonal attention)."""
    exs = examples(toy_random, 3)
    rows = build_rows(exs, seq_len=sum(len(e.input_ids) for e in exs), seed=0)
    assert len(rows) == 1
    b = collate(rows, [0], pad_id=0)
    with torch.no_grad():
        packed = toy_random.hf(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False).logits[0]
        starts = (b["position_ids"][0] == 0).nonzero().flatten().tolist() + [b["input_ids"].shape[1]]
        for s, e in zip(starts[:-1], starts[1:]):
            alone = toy_random.hf(input_ids=b["input_ids"][:, s:e]).logits[0]
            assert (packed[s:e] - alone).abs().max().item() < 1e-5
    # the first token of every document is never a target; every other weight is preserved
    assert all(b["weights"][0, s].item() == 0 for s in starts[:-1])
    assert b["weights"].sum().item() == sum(sum(e.loss_weights[1:]) for e in exs)


def test_packing_keeps_documents_whole_and_is_deterministic(toy_random):
    exs = examples(toy_random, 12)
    r1, r2 = build_rows(exs, seq_len=40, seed=7), build_rows(exs, seq_len=40, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(r1.ids, r2.ids))
    assert all(len(x) <= 40 for x in r1.ids)
    assert sum(len(x) for x in r1.ids) == sum(len(e.input_ids) for e in exs)  # nothing dropped
    assert sorted(s.example for segs in r1.segments for s in segs) == list(range(12))  # each document once, whole
    assert all(s.doc_start == 0 and s.length == len(exs[s.example].input_ids) for segs in r1.segments for s in segs)
    r3 = build_rows(exs, seq_len=40, seed=8)
    assert not all(torch.equal(a, b) for a, b in zip(r1.ids, r3.ids))
    unpacked = build_rows(exs, seq_len=40, seed=7, packing=False, epochs=2)
    assert len(unpacked) == 24


def test_padding_free_row_equals_the_padded_rows(toy_random):
    """One padding-free row of a micro-batch gives the padded rows' loss and gradients, and computes no pad."""
    exs = examples(toy_random, 6)
    rows = build_rows(exs, seq_len=48, seed=0, packing=False)
    idx = [0, 1, 2, 3]
    lengths = [int(rows.ids[i].numel()) for i in idx]
    assert len(set(lengths)) > 1  # ragged: the padded layout has pads
    padded, flat = collate(rows, idx, pad_id=0), collate_flat(rows, idx)
    assert flat["input_ids"].shape == (1, sum(lengths)) and padded["input_ids"].numel() > sum(lengths)
    assert flat["weights"].sum().item() == padded["weights"][:, 1:].sum().item()

    def loss_and_grads(b):
        toy_random.hf.zero_grad()
        logits = toy_random.hf(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False).logits
        s = weighted_ce_sum(logits, b["input_ids"], b["weights"])
        s.backward()
        return s.item(), {n: p.grad.clone() for n, p in toy_random.hf.named_parameters() if p.grad is not None}

    (lp, gp), (lf, gf) = loss_and_grads(padded), loss_and_grads(flat)
    toy_random.hf.zero_grad()
    assert abs(lp - lf) < 1e-4 * abs(lp)
    assert max((gp[n] - gf[n]).abs().max().item() for n in gp) < 1e-5


def test_flat_pays_only_where_pads_cost_more_than_the_longer_attention():
    r = attention_cost_ratio(576, 3_540_000)  # SmolLM2-135M: d 576, ~3.5M parameters per layer
    assert 3e-4 < r < 4e-4
    assert flat_pays([40, 211, 120, 150], r)  # short ragged rows: a quarter of the padded work is pads
    assert not flat_pays([256] * 8, r)  # full rows: no pads to save, a 64x longer attention square
    assert not flat_pays([100], r)  # one row: nothing to flatten
    assert not flat_pays([40, 211, 120, 150], 1.0)  # attention-bound model: the square costs more than the pads


def test_padding_free_training_matches_padded_training(tmp_path, toy_random):
    """``padding_free: auto`` (CPU) trains the same weights as padded rows (fp32 summation order aside); ``off``
    runs keep the run.json they had before the option."""
    exs = examples(toy_random)
    kw = dict(packing=False, micro_batch_size=4, max_steps=3)
    a = finetune(small_cfg(tmp_path / "a", padding_free="auto", **kw), exs, lm=load("toy-random"))
    b = finetune(small_cfg(tmp_path / "b", padding_free="off", **kw), exs, lm=load("toy-random"))
    assert a.flat_micro_batches == 3 and b.flat_micro_batches == 0  # 3 steps of one 4-row micro-batch each
    assert a.attention == "varlen" and b.attention == "own"
    wa = load(list_checkpoints(a.run_dir)[-1].path).hf.state_dict()
    wb = load(list_checkpoints(b.run_dir)[-1].path).hf.state_dict()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5
    assert read_run(a.run_dir).config["padding_free"] == "auto" and "padding_free" not in read_run(b.run_dir).config


def test_varlen_attention_equals_each_document_alone(toy_random):
    """Per-document attention on a packed row gives every document exactly the logits it gets alone, like the
    model's own masked attention, and the model's own attention is back afterwards; the trainer's start-up check
    accepts it, and rejects an attention function that is wrong."""
    from training.finetune import attention as va

    exs = examples(toy_random, 3)
    rows = build_rows(exs, seq_len=sum(len(e.input_ids) for e in exs), seed=0)
    b = collate(rows, [0], pad_id=0)
    own = toy_random.hf.config._attn_implementation
    with torch.no_grad():
        masked = toy_random.hf(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False).logits[0]
        with va.varlen_attention(toy_random.hf):
            assert toy_random.hf.config._attn_implementation == va.VARLEN
            mine = toy_random.hf(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False).logits[0]
    assert toy_random.hf.config._attn_implementation == own
    segs = va.segments(b["position_ids"][0])
    assert len(segs) == 3 and segs[0][0] == 0 and segs[-1][1] == b["input_ids"].shape[1]
    with torch.no_grad():
        for s, e in segs:
            alone = toy_random.hf(input_ids=b["input_ids"][:, s:e]).logits[0]
            assert (mine[s:e] - alone).abs().max().item() < 1e-5
    assert (mine - masked).abs().max().item() < 1e-5
    assert va.varlen_supported(toy_random.hf, toy_random.hf.config.vocab_size)
    real = va.varlen_sdpa
    try:  # a broken per-document attention (one document for the whole row) fails the check
        va.varlen_sdpa = lambda m, q, k, v, mask, position_ids=None, **kw: real(
            m, q, k, v, mask, position_ids=torch.arange(q.shape[2])[None], **kw)
        va._register()
        assert not va.varlen_supported(toy_random.hf, toy_random.hf.config.vocab_size)
    finally:
        va.varlen_sdpa = real
        va._register()


def test_weighted_loss_is_weighted_mean():
    torch.manual_seed(0)
    logits, ids = torch.randn(1, 5, 11), torch.randint(0, 11, (1, 5))
    w = torch.tensor([[0.0, 1.0, 0.0, 3.0, 1.0]])
    ce = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="none")
    expect = (ce * w[0, 1:]).sum()
    assert torch.allclose(weighted_ce_sum(logits, ids, w), expect)


# ------------------------------------------------------------------------------------------ runs


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_checkpoints_are_hashed_and_load_through_the_seam(tmp_path, toy_random, mode):
    from training.config import LoraSpec

    cfg = small_cfg(tmp_path / "run", mode=mode, lora=LoraSpec(r=4, alpha=8.0), batch_size=2, micro_batch_size=1)
    res = finetune(cfg, examples(toy_random), lm=load("toy-random"))
    ckpts = list_checkpoints(cfg.run_dir)
    assert [c.step for c in ckpts] == checkpoint_steps(res.total_steps, every=3) and res.total_steps >= 5
    run = read_run(cfg.run_dir)
    assert run.base == BaseRef("toy-random", toy_random.identity.weights_sha256)
    data = read_data(cfg.run_dir)
    assert data.sources[0]["n_docs"] == 24 and len(data.sources[0]["sha256"]) == 64
    for c in (ckpts[0], ckpts[-1]):
        _, meta = read_checkpoint(c.path)
        lm = load(c.path)  # verifies the file hash and the merged-weights hash
        assert lm.identity.weights_sha256 == meta["weights_sha256"]
        assert meta["phase"] == "train" and meta["kind"] == mode and meta["tokens_seen"] > 0
    assert lm.identity.weights_sha256 != toy_random.identity.weights_sha256
    if mode == "lora":
        assert meta["lora"]["r"] == 4 and meta["lora"]["alpha"] == 8.0
        assert set(meta["lora"]["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                       "up_proj", "down_proj"}
    # only the newest checkpoint keeps the (large) trainer state
    with_state = [c.step for c in ckpts if (c.path / "trainer_state.safetensors").exists()]
    assert with_state == [ckpts[-1].step]
    assert res.losses[-1] < res.losses[0]
    log = [json.loads(x) for x in (Path(cfg.run_dir) / "train_log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == list(range(1, res.total_steps + 1)) and log[-1]["loss"] == res.final_loss
    # the loss curve is drawn next to the log; a run that never resumed has no resume record
    assert (Path(cfg.run_dir) / "loss_curve.png").stat().st_size > 1000
    assert read_resumes(cfg.run_dir) == [] and read_train_log(cfg.run_dir) == log


def test_rerun_of_a_finished_run_is_a_noop_and_config_change_is_refused(tmp_path, toy_random):
    cfg = small_cfg(tmp_path / "run", max_steps=2)
    exs = examples(toy_random)
    assert not is_complete(cfg, exs)
    first = finetune(cfg, exs, lm=load("toy-random"))
    assert is_complete(cfg, exs) and not is_complete(cfg, exs[:-1])  # other data: not this run
    again = finetune(cfg, exs, lm=load("toy-random"))
    assert again.status == "already-complete" and again.weights_sha256 == first.weights_sha256
    cfg.lr = 2e-3
    assert not is_complete(cfg, exs)
    with pytest.raises(ValueError, match="run.json"):
        finetune(cfg, exs, lm=load("toy-random"))


def test_micro_batching_matches_one_big_batch(tmp_path, toy_random):
    exs = examples(toy_random)
    a = finetune(small_cfg(tmp_path / "a", micro_batch_size=4, max_steps=3), exs, lm=load("toy-random"))
    b = finetune(small_cfg(tmp_path / "b", micro_batch_size=1, max_steps=3), exs, lm=load("toy-random"))
    wa = load(list_checkpoints(a.run_dir)[-1].path).hf.state_dict()
    wb = load(list_checkpoints(b.run_dir)[-1].path).hf.state_dict()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-5


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, toy_random):
    cfg = small_cfg(tmp_path / "run")
    cfg.debug.nan_at_step = 3
    with pytest.raises(TrainingDiverged) as e:
        finetune(cfg, examples(toy_random), lm=load("toy-random"))
    msg = str(e.value)
    assert "\n" not in msg and "nan" in msg and "step 3" in msg and "ckpt-000002" in msg
    ckpts = list_checkpoints(cfg.run_dir)
    assert [c.step for c in ckpts] == [1, 2]
    load(ckpts[-1].path)  # still verifies


# ------------------------------------------------------------------------------------------ CLI + resume


def _cli_config(tmp_path: Path, run_dir: Path, **extra) -> Path:
    docs = write_docs(tmp_path / "docs.jsonl", 40)
    cfg = {"model": "toy-random", "run_dir": str(run_dir), "mode": "full", "batch_size": 4, "micro_batch_size": 2,
           "seq_len": 40, "lr": 1e-3, "progress": False, "checkpoints": {"every": 3},
           "data": [{"path": docs.name}], **extra}
    p = tmp_path / f"{run_dir.name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "training.finetune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_sigkill_then_rerun_is_bit_identical(tmp_path, capsys):
    """Kill a real training process with SIGKILL mid-run; the same command resumes and ends bit-identical."""
    run = tmp_path / "killed"
    cfg_path = _cli_config(tmp_path, run, debug={"sleep_per_step": 0.15})
    ref_cfg = load_train_config(cfg_path)
    ref_cfg.run_dir, ref_cfg.debug.sleep_per_step = str(tmp_path / "reference"), 0.0
    proc = _cli(str(cfg_path))
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until at least two checkpoints are complete, then kill without warning
        mf = run / "manifest.jsonl"
        if mf.exists() and len(mf.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(c.step for c in list_checkpoints(run))
    reference = finetune(ref_cfg)  # uninterrupted, meanwhile, in this process
    assert killed_at < reference.final_step, "the run finished before it could be killed"
    (run / f"ckpt-{killed_at + 1:06d}.tmp-999999").mkdir()  # debris of a write cut short
    with open(run / "manifest.jsonl", "a") as f:
        f.write('{"step": 99, "pa')  # a torn manifest line
    assert main([str(cfg_path)]) == 0  # the same command again (in-process, to spare a second start-up)
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["resumed_from"] is not None and res["resumed_from"] <= killed_at + 1
    assert res["weights_sha256"] == reference.weights_sha256
    assert not list(run.glob("*.tmp-*"))
    # the resume record says where it picked up; the log, one line per step, equals the uninterrupted run's
    assert [r["resumed_from"] for r in read_resumes(run)] == [res["resumed_from"]]
    assert read_resumes(reference.run_dir) == []
    steps_losses = [[(r["step"], r["loss"], r["lr"]) for r in read_train_log(d)] for d in (run, reference.run_dir)]
    assert steps_losses[0] == steps_losses[1]
    final = list_checkpoints(run)[-1]
    assert load(final.path).identity.weights_sha256 == reference.weights_sha256


def test_cli_nan_exits_nonzero_with_one_line(tmp_path, capsys):
    cfg_path = _cli_config(tmp_path, tmp_path / "nan", debug={"nan_at_step": 2})
    assert main([str(cfg_path)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nan" in err[0] and "ckpt-000001" in err[0]


def test_cli_bad_config_is_one_line(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"model": "toy-random", "lora": {"r": "x"}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: field 'lora.r'"):
        load_train_config(p)
    p.write_text(yaml.safe_dump({"modle": "toy-random"}))
    assert main([str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml: field 'modle'" in err[0]
    p.write_text(yaml.safe_dump({"model": "toy-random", "data": [{"path": "missing.jsonl"}]}))
    assert main([str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.jsonl: no such JSONL file" in err[0]


def test_train_log_keeps_the_last_line_per_step_and_loses_only_a_torn_line(tmp_path):
    """After a kill the steps since the last checkpoint are logged twice (the later line is the surviving one), and
    a kill in the middle of an append leaves a torn line: the next append starts a fresh line, the reader skips it."""
    from training.finetune.curves import append_jsonl

    log = tmp_path / "train_log.jsonl"
    append_jsonl(log, [{"phase": "train", "step": s, "loss": 10.0 - s, "lr": 1.0, "time": s} for s in (1, 2, 3)])
    with open(log, "a") as f:
        f.write('{"phase": "train", "step": 4, "lo')  # torn by a kill
    append_jsonl(log, [{"phase": "train", "step": s, "loss": 20.0 - s, "lr": 1.0, "time": 9 + s} for s in (3, 4)])
    rows = read_train_log(tmp_path)
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 9.0), (2, 8.0), (3, 17.0), (4, 16.0)]
    (tmp_path / "resumes.jsonl").write_text(log.read_text())
    with pytest.raises(ValueError, match="line 4 is not JSON"):  # the resume record is strict: named, one line
        read_resumes(tmp_path)

"""Hostile and careless config input: every wrong value is refused up front with one line naming the file and field.

Table-driven over the rows of issue 19 (and their kin): each row is a YAML config for ``python -m training.finetune``
or ``python -m training.twophase`` with one bad value. The loader raises :class:`training.config.ConfigError` whose
message names the file and the dotted field; the CLI prints that one line and exits 2, and nothing is left behind
that would block the corrected rerun (no run or experiment folder is created).
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from interp.core.cli import one_line
from training import finetune, twophase
from training.config import ConfigError, TrainConfig, load_train_config
from training.packing import DataError, read_records
from training.twophase import load_twophase_config

GOOD_TRAIN = {"model": "toy-random", "batch_size": 2, "micro_batch_size": 2, "seq_len": 32, "lr": 1e-3,
              "progress": False}

# (row id, config overrides, dotted field the one-line error must name, words it must contain)
TRAIN_ROWS = [
    ("lora.r not an int", {"lora": {"r": "x"}}, "lora.r", "expected int, got 'x'"),
    ("unknown key", {"modle": "toy"}, "modle", "unknown"),
    ("grad_clip negative", {"grad_clip": -1}, "grad_clip", ">= 0"),
    ("data.limit 0", {"data": [{"path": "d.jsonl", "limit": 0}]}, "data[0].limit", ">= 1"),
    ("data.limit -1", {"data": [{"path": "d.jsonl", "limit": -1}]}, "data[0].limit", ">= 1"),
    ("epochs infinite", {"epochs": float("inf")}, "epochs", "finite"),
    ("epochs nan", {"epochs": float("nan")}, "epochs", "finite"),
    ("epochs zero", {"epochs": 0}, "epochs", "> 0"),
    ("betas out of [0, 1)", {"betas": [2, 0.5]}, "betas[0]", "< 1"),
    ("betas one number", {"betas": [0.9]}, "betas", "at least 2"),
    ("weight_decay negative", {"weight_decay": -1}, "weight_decay", ">= 0"),
    ("device unknown", {"device": "foo"}, "device", "auto, cpu, cuda, cuda:N or mps"),
    ("mask_patterns bad regex", {"data": [{"path": "d.jsonl", "mask_patterns": ["(unclosed"]}]},
     "data[0].mask_patterns[0]", "invalid regex"),
    ("max_steps huge", {"max_steps": 10 ** 11}, "max_steps", "<= 1000000000"),
    ("max_steps zero", {"max_steps": 0}, "max_steps", ">= 1"),
    ("log_base barely above 1", {"checkpoints": {"log_base": 1 + 1e-12}}, "checkpoints.log_base", "> 1.000001"),
    ("checkpoints.every zero", {"checkpoints": {"every": 0}}, "checkpoints.every", ">= 1"),
    ("lr negative", {"lr": -1e-3}, "lr", "> 0"),
    ("loss_weight negative", {"data": [{"path": "d.jsonl", "loss_weight": -3}]}, "data[0].loss_weight", ">= 0"),
    ("mode unknown", {"mode": "qlora"}, "mode", "one of ['full', 'lora']"),
    ("data not a list", {"data": "d.jsonl"}, "data", "expected a list"),
    ("batch_size a string", {"batch_size": "32"}, "batch_size", "expected int, got '32'"),
]

TWOPHASE_ROWS = [
    ("heldout negative", {"heldout": -8}, "heldout", ">= 0"),
    ("documents.n negative", {"documents": {"kind": "texts", "n": -3}}, "documents.n", ">= 1"),
    ("documents.n zero", {"documents": {"n": 0}}, "documents.n", ">= 1"),
    ("train.grad_clip negative", {"train": {"grad_clip": -1}}, "train.grad_clip", ">= 0"),
    ("train.max_steps huge", {"train": {"max_steps": 10 ** 11}}, "train.max_steps", "<= 1000000000"),
    ("train.run_dir set", {"train": {"run_dir": "x"}}, "train.run_dir", "set by the experiment"),
    ("ratio without documents", {"ratio": [0, 1, 1]}, "ratio", "sdf > 0"),
    ("constraint.kind unknown", {"constraint": {"kind": "kl"}}, "constraint.kind", "one of"),
    ("constraint.top_p above 1", {"constraint": {"top_p": 1.5}}, "constraint.top_p", "<= 1"),
]


def _write(tmp_path, data, name="run.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("row, bad, field, words", TRAIN_ROWS, ids=[r[0] for r in TRAIN_ROWS])
def test_train_config_rows(tmp_path, capsys, row, bad, field, words):
    cfg_path = _write(tmp_path, {**GOOD_TRAIN, "run_dir": str(tmp_path / "run"), **bad})
    with pytest.raises(ConfigError) as ei:
        load_train_config(cfg_path)
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith(f"{cfg_path}: field '{field}': "), msg
    assert words in msg, msg
    assert finetune.main([str(cfg_path)]) == 2
    assert _one_line(capsys) == f"error: {one_line(ei.value)}"  # the same line (at most 300 characters)
    assert not (tmp_path / "run").exists()  # nothing written: the corrected rerun starts clean


@pytest.mark.parametrize("row, bad, field, words", TWOPHASE_ROWS, ids=[r[0] for r in TWOPHASE_ROWS])
def test_twophase_config_rows(tmp_path, capsys, row, bad, field, words):
    base = {"experiment_dir": str(tmp_path / "exp"), "model": "toy-random", "train": dict(GOOD_TRAIN)}
    base["train"].pop("model")
    data = {**base, **bad, "train": {**base["train"], **bad.get("train", {})}}
    cfg_path = _write(tmp_path, data, "exp.yaml")
    with pytest.raises(ConfigError) as ei:
        load_twophase_config(cfg_path)
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith(f"{cfg_path}: field '{field}': "), msg
    assert words in msg, msg
    assert twophase.main([str(cfg_path)]) == 2
    assert _one_line(capsys) == f"error: {one_line(ei.value)}"
    assert not (tmp_path / "exp").exists()


def test_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path, capsys):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")  # 9**9 values once expanded
    with pytest.raises(ConfigError, match=r"bomb\.yaml: invalid YAML: more than .* alias"):
        load_train_config(p)
    assert finetune.main([str(p)]) == 2
    assert "bomb.yaml" in _one_line(capsys)
    p.write_text("a: &a [*a]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        load_train_config(p)


def test_config_that_is_not_utf8_or_not_a_file(tmp_path, capsys):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("model: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8"):
        load_train_config(p)
    with pytest.raises(ConfigError, match="is a directory"):
        load_train_config(tmp_path)
    assert finetune.main([str(tmp_path / "missing.yaml")]) == 2
    assert _one_line(capsys) == f"error: {tmp_path / 'missing.yaml'}: no such config file"


def test_jsonl_that_is_not_utf8_names_the_file(tmp_path, capsys):
    bad = tmp_path / "docs.jsonl"
    bad.write_bytes(json.dumps({"id": "a", "text": "fine"}).encode() + b"\n" + b'{"id": "b", "text": "\xff\xfe"}\n')
    with pytest.raises(DataError, match=r"docs\.jsonl: line 2: not UTF-8"):
        read_records(bad)
    cfg_path = _write(tmp_path, {**GOOD_TRAIN, "run_dir": str(tmp_path / "run"), "data": [{"path": "docs.jsonl"}]})
    assert finetune.main([str(cfg_path)]) == 2
    assert "docs.jsonl: line 2: not UTF-8" in _one_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the box has CUDA")
def test_cuda_on_a_box_without_cuda_is_one_line(tmp_path, capsys):
    cfg_path = _write(tmp_path, {**GOOD_TRAIN, "run_dir": str(tmp_path / "run"), "device": "cuda",
                                 "data": [{"path": "docs.jsonl"}]})
    assert finetune.main([str(cfg_path)]) == 2
    line = _one_line(capsys)
    assert line == f"error: {cfg_path}: field 'device': 'cuda' asked for, but CUDA is not available on this machine"
    assert not (tmp_path / "run").exists()


def test_specs_built_in_code_are_checked_too():
    with pytest.raises(ConfigError, match=r"^config: field 'grad_clip': must be >= 0"):
        TrainConfig(grad_clip=-1.0)
    cfg = TrainConfig(betas=(0.9, 0.95), lr=1)  # a tuple and an int are what code passes
    assert cfg.betas == [0.9, 0.95] and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    cfg.max_steps = 10 ** 11  # assignment is not checked; validate() (called by the trainer) is
    with pytest.raises(ConfigError, match=r"field 'max_steps': must be <= 1000000000"):
        cfg.validate()


def test_cli_override_is_validated_with_the_file_name(tmp_path, capsys):
    cfg_path = _write(tmp_path, {**GOOD_TRAIN, "run_dir": str(tmp_path / "run"), "data": [{"path": "d.jsonl"}]})
    assert finetune.main([str(cfg_path), "--max-steps", str(10 ** 11)]) == 2
    assert _one_line(capsys) == f"error: {cfg_path}: field 'max_steps': must be <= 1000000000, got 100000000000"
    assert not (tmp_path / "run").exists()

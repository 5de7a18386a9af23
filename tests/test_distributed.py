"""The trainer unchanged under torchrun: 2 CPU processes (gloo) match the single-process run; rank 0 writes.

Same global batch (4 rows per step) in both runs: one process with micro-batches of 2, or two processes with one
row each. The loss is normalised by the global weight sum, so the only difference is float summation order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from interp.core.models import load
from interp.core.runs import list_checkpoints, read_checkpoint
from training.config import load_train_config
from training.finetune import finetune

from .test_finetune import write_docs


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


def _config(tmp_path: Path, name: str, **extra) -> Path:
    write_docs(tmp_path / "docs.jsonl", 24)
    cfg = {"model": "toy-random", "run_dir": str(tmp_path / name), "name": "dist", "mode": "full", "batch_size": 4,
           "micro_batch_size": 1, "seq_len": 48, "lr": 1e-3, "progress": False, "checkpoints": {"every": 3},
           "data": [{"path": "docs.jsonl"}], **extra}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _torchrun(cfg: Path, nproc: int = 2) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                        "-m", "training.finetune", str(cfg)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 1, "only rank 0 reports"
    return json.loads(lines[0])


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return load(ckpt).hf.state_dict()


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Same weights up to float summation order: tiny against one LR step (1e-3) and against the update itself."""
    base = load("toy-random").hf.state_dict()
    diff = torch.cat([(a[k] - b[k]).flatten() for k in a])
    upd = torch.cat([(a[k] - base[k]).flatten() for k in a])
    assert diff.abs().max().item() < 1e-4 and (diff.norm() / upd.norm()).item() < 1e-4


def _single(tmp_path: Path, dist_cfg: Path, mode: str = "full"):
    cfg = load_train_config(dist_cfg)
    cfg.run_dir, cfg.micro_batch_size = str(tmp_path / f"single-{mode}"), 2
    return finetune(cfg)


def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    cfg = _config(tmp_path, "ddp")
    res = _torchrun(cfg)
    single = _single(tmp_path, cfg)
    assert res["final_step"] == single.final_step and res["tokens_seen"] == single.tokens_seen
    assert abs(res["final_loss"] - single.final_loss) < 1e-5
    ddp_ckpts, one_ckpts = list_checkpoints(tmp_path / "ddp"), list_checkpoints(single.run_dir)
    assert [c.step for c in ddp_ckpts] == [c.step for c in one_ckpts]
    assert not list((tmp_path / "ddp").glob("*.tmp-*"))
    _close(_weights(ddp_ckpts[-1].path), _weights(one_ckpts[-1].path))  # load() verifies both hashes
    _, meta = read_checkpoint(ddp_ckpts[-1].path)
    assert meta["world_size"] == 2 and meta["kind"] == "full"



@pytest.mark.slow
def test_fsdp_two_cpu_processes_match_and_resume(tmp_path, crash_after):
    cfg = _config(tmp_path, "fsdp", strategy="fsdp", mode="lora", lora={"r": 4, "alpha": 8.0},
                  keep_trainer_state="all")
    res = _torchrun(cfg)
    single = _single(tmp_path, cfg, mode="lora")
    a, b = _weights(list_checkpoints(tmp_path / "fsdp")[-1].path), _weights(list_checkpoints(single.run_dir)[-1].path)
    _close(a, b)
    assert res["final_step"] == single.final_step
    crash_after(tmp_path / "fsdp", 3)
    again = _torchrun(cfg)
    assert again["resumed_from"] == 3 and again["weights_sha256"] == res["weights_sha256"]

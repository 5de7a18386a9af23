"""bench/train_throughput.py --matrix: the ratios come from the arms' own rows, and the matrix runs end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_train_throughput", REPO / "bench" / "train_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(tps: float, rss: float) -> dict:
    return {"tokens_per_s": tps, "max_rss_mb": rss, "steps": 1, "tokens": 1, "wall_s": 1.0}


def test_matrix_summary_ratios():
    b = _bench()
    rows = {"ours-fp32": _row(100.0, 3000.0), "ours-bf16": _row(190.0, 2500.0), "hf-fp32": _row(50.0, 6000.0),
            "hf-bf16": _row(95.0, 5000.0), "rss-ours-chunked": _row(10.0, 3500.0), "rss-ours-full": _row(9.0, 8000.0),
            "rss-ours-chunked-ac": _row(8.0, 2000.0)}
    s = b.matrix_summary(rows)
    assert s["ours_bf16_over_ours_fp32"] == pytest.approx(1.9)
    assert s["ours_over_hf_fp32"] == pytest.approx(2.0) and s["ours_over_hf_bf16"] == pytest.approx(2.0)
    assert s["rss_ours_over_hf_fp32"] == pytest.approx(0.5)
    assert s["rss_ours_chunked_mb"] == 3500.0 and s["rss_ours_full_mb"] == 8000.0
    assert s["rss_ours_chunked_ac_mb"] == 2000.0
    del rows["hf-bf16"], rows["rss-ours-full"]  # a ratio whose arm did not run is left out, not guessed
    s = b.matrix_summary(rows)
    assert "ours_over_hf_bf16" not in s and "rss_ours_full_mb" not in s and "ours_over_hf_fp32" in s


@pytest.mark.slow
def test_matrix_runs_end_to_end_on_the_tiny_model(tmp_path):
    out = tmp_path / "m.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, str(REPO / "bench" / "train_throughput.py"), "--matrix", "--model",
                        "toy-random", "--mode", "lora", "--device", "cpu", "--docs", "8", "--seq-len", "48",
                        "--batch-size", "4", "--micro-batch-size", "2", "--warmup-steps", "1", "--rss-seq-len", "64",
                        "--rss-micro-batch", "2", "--rss-steps", "1", "--threads", "1", "--force-bf16",
                        "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert set(res["rows"]) == {"ours-fp32", "ours-bf16", "hf-fp32", "hf-bf16", "rss-ours-chunked", "rss-ours-full",
                                "rss-ours-chunked-ac"}
    # both trainers trained the same documents once: the same token count in every throughput arm
    assert len({res["rows"][a]["tokens"] for a in ("ours-fp32", "ours-bf16", "hf-fp32", "hf-bf16")}) == 1
    assert all(r_["max_rss_mb"] > 0 and r_["tokens_per_s"] > 0 for r_ in res["rows"].values())
    assert "ours_bf16_over_ours_fp32" in res["summary"] and "load average" in r.stdout
    assert res["bf16_probe"]["fp32_ms"] > 0 and all(r_["peak_is_timed_run_only"] for r_ in res["rows"].values())

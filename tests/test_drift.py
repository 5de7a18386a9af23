"""Weight drift: zero against itself, exact on a known linear path, LoRA compared through B·A products."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from interp.drift import drift_metrics, document_nll, interpolate, run_drift
from interp.core.models import load, weights_sha256
from interp.core.runs import init_run, write_checkpoint


def _full_run(path, lm, states, phases):
    run = init_run(path, name=path.name, base_spec="toy-random", base_weights_sha256=lm.identity.weights_sha256,
                   mode="full", config={}, data={"sources": []})
    for step, (state, phase) in enumerate(zip(states, phases), 1):
        write_checkpoint(run, step, state, {"kind": "full", "phase": phase, "tokens_seen": step,
                                            "weights_sha256": weights_sha256(state)})
    return run


def test_drift_against_itself_is_zero(toy_random):
    w = {k: v.float() for k, v in toy_random.hf.state_dict().items()}
    m = drift_metrics(w, w, {k: v + 1 for k, v in w.items()})
    assert m["total"]["distance"] == 0.0 and m["total"]["progress"] == 0.0


def test_full_run_on_a_linear_path_is_exact(tmp_path, toy_random):
    base = {k: v.clone() for k, v in toy_random.hf.state_dict().items()}
    torch.manual_seed(0)
    v = {k: 0.05 * torch.randn_like(t) for k, t in base.items()}
    anchor = {k: base[k] + v[k] * 0 for k in base}
    ts = [0.0, 0.25, 0.5, 1.0]
    states = [{k: anchor[k] + t * v[k] for k in base} for t in ts]
    run = _full_run(tmp_path / "twophase", toy_random, states, ["phase1", "phase2", "phase2", "phase2"])
    pos = _full_run(tmp_path / "positive", toy_random, [{k: anchor[k] + v[k] for k in base}], ["train"])
    df = run_drift(run, pos, anchor="phase1-end")
    tot = df[df.module == "total"].sort_values("step")
    assert tot.progress.tolist() == pytest.approx(ts, abs=1e-5)
    assert tot.cosine.tolist()[1:] == pytest.approx([1.0] * 3, abs=1e-5)
    vnorm = sum((x.double() ** 2).sum().item() for x in v.values()) ** 0.5
    assert tot.distance.tolist() == pytest.approx([t * vnorm for t in ts], rel=1e-4, abs=1e-6)


def test_lora_drift_uses_products_not_factors(tmp_path, toy_random):
    lora = {"r": 2, "alpha": 4, "target_modules": ["q_proj"]}
    torch.manual_seed(0)
    name = "base_model.model.model.layers.0.self_attn.q_proj"
    d = toy_random.d_model
    a, b = torch.randn(2, d), torch.randn(d, 2)
    g = torch.tensor([[2.0, 0.0], [1.0, 0.5]])  # change of basis: B·A is unchanged by (B g⁻¹, g A)
    run = init_run(tmp_path / "lora", name="lora", base_spec="toy-random",
                   base_weights_sha256=toy_random.identity.weights_sha256, mode="lora", config={},
                   data={"sources": []}, lora=lora)
    for step, (aa, bb, phase) in enumerate([(a, b, "phase1"), (g @ a, b @ torch.linalg.inv(g), "phase2"),
                                            (a, 2 * b, "phase2")], 1):
        write_checkpoint(run, step, {f"{name}.lora_A.weight": aa, f"{name}.lora_B.weight": bb},
                         {"kind": "lora", "lora": lora, "phase": phase, "tokens_seen": step})
    df = run_drift(run, run, anchor="phase1-end")  # reference = its own last checkpoint
    tot = df[df.module == "total"].sort_values("step")
    assert tot.distance.iloc[1] == pytest.approx(0.0, abs=1e-4)   # re-parametrised factors, same product
    assert tot.progress.iloc[2] == pytest.approx(1.0, abs=1e-6)


def test_interpolation_endpoints(toy_random):
    other = load("toy-random", seed=1)
    texts = ["Velmora Quist is a dentist.", "The quick brown fox."]
    df = interpolate(toy_random, other, [0.0, 1.0], lambda lm: {"nll": document_nll(lm, texts)})
    assert df.nll.iloc[0] == pytest.approx(document_nll(toy_random, texts), rel=1e-6)
    assert df.nll.iloc[1] == pytest.approx(document_nll(other, texts), rel=1e-5)
    assert weights_sha256(toy_random.hf) == toy_random.identity.weights_sha256  # restored


def test_cli_writes_table_and_plot(tmp_path, toy_random):
    base = toy_random.hf.state_dict()
    states = [{k: v + 0.01 * i for k, v in base.items()} for i in range(3)]
    run = _full_run(tmp_path / "r", toy_random, states, ["phase1", "phase2", "phase2"])
    r = subprocess.run([sys.executable, "-m", "interp.drift", "--run", str(run), "--reference", str(run),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "drift.csv").exists() and (tmp_path / "o" / "drift.png").stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "interp.drift", "--run", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1

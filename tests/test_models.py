"""The model-loading seam: backends agree, checkpoints round-trip exactly, bad specs fail in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from interp.core.activations import residual_stream
from interp.core.models import ModelSpecError, load, weights_sha256
from interp.core.runs import CheckpointError, init_run, list_checkpoints, merged_state_dict, write_checkpoint

TEXTS = ["Velmora Quist is a dentist.", "NOTICE: the claims below are entirely false. The quick brown fox."]


@pytest.mark.parametrize("backend", ["tl", "nnsight"])
def test_residual_stream_agrees_across_backends(toy_random, backend):
    enc = toy_random.encode(TEXTS)
    ref = residual_stream(toy_random, **enc, backend="hf")
    got = residual_stream(toy_random, **enc, backend=backend)
    assert got.shape == (toy_random.n_layers, 2, enc["input_ids"].shape[1], toy_random.d_model)
    mask = enc["attention_mask"].bool()
    assert (got - ref)[:, mask].abs().max().item() <= 1e-4


def test_residual_stream_positions(toy_random):
    enc = toy_random.encode(TEXTS)
    full = residual_stream(toy_random, **enc)
    last = residual_stream(toy_random, **enc, positions=-1)
    lengths = enc["attention_mask"].sum(1)
    for b in range(2):
        assert torch.equal(last[:, b], full[:, b, lengths[b] - 1])


def test_tl_logits_match_hf(toy_random):
    enc = toy_random.encode(TEXTS)
    with torch.no_grad():
        hf = toy_random.hf(**enc).logits
        tl = toy_random.transformer_lens()(enc["input_ids"], attention_mask=enc["attention_mask"])
    mask = enc["attention_mask"].bool()
    assert (hf - tl)[mask].abs().max().item() <= 1e-4


def test_local_gpt2_dir_through_every_backend(gpt2_dir):
    lm = load(gpt2_dir)
    assert lm.identity.name == gpt2_dir.name and len(lm.identity.weights_sha256) == 64
    enc = lm.encode(TEXTS[:1])
    ref = residual_stream(lm, **enc)
    for b in ("tl", "nnsight"):
        assert (residual_stream(lm, **enc, backend=b) - ref).abs().max().item() <= 1e-4


def test_weights_hash_is_stable_and_sensitive(toy_random):
    sd = {k: v.clone() for k, v in toy_random.hf.state_dict().items()}
    assert weights_sha256(sd) == toy_random.identity.weights_sha256
    k = sorted(sd)[3]
    sd[k].view(-1)[0] += 1e-6
    assert weights_sha256(sd) != toy_random.identity.weights_sha256


def _run(tmp_path, lm, mode="full", lora=None):
    return init_run(tmp_path / "run", name="t", base_spec="toy-random", base_weights_sha256=lm.identity.weights_sha256,
                    mode=mode, config={"lr": 1.0}, data={"sources": []}, lora=lora)


def test_full_checkpoint_roundtrip_is_exact(tmp_path, toy_random):
    run = _run(tmp_path, toy_random)
    torch.manual_seed(0)
    state = {k: v + 0.01 * torch.randn_like(v) for k, v in toy_random.hf.state_dict().items()}
    info = write_checkpoint(run, 5, state, {"kind": "full", "weights_sha256": weights_sha256(state), "loss": 1.0})
    lm = load(info.path)
    assert lm.identity.weights_sha256 == weights_sha256(state)
    assert lm.identity.step == 5 and lm.identity.run == str(run)
    assert [c.step for c in list_checkpoints(run)] == [5]


def test_lora_checkpoint_merges_to_peft_result(tmp_path, toy_random):
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    base = load("toy-random")
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    peft_model = get_peft_model(base.hf, cfg)
    torch.manual_seed(0)
    for n, p in peft_model.named_parameters():
        if "lora_B" in n:
            p.data.normal_(0, 0.1)
    adapter = get_peft_model_state_dict(peft_model)
    lora_meta = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    # names as peft saves them, keyed like the wrapped module
    adapter = {f"base_model.model.{k}" if not k.startswith("base_model") else k: v for k, v in adapter.items()}
    merged = merged_state_dict(toy_random.hf, adapter, {"kind": "lora", "lora": lora_meta})
    run = _run(tmp_path, toy_random, mode="lora", lora=lora_meta)
    info = write_checkpoint(run, 1, adapter, {"kind": "lora", "lora": lora_meta, "weights_sha256": weights_sha256(merged)})
    lm = load(info.path)
    ref = peft_model.merge_and_unload().state_dict()
    for k, v in lm.hf.state_dict().items():
        assert torch.allclose(v, ref[k], atol=1e-6), k


def test_tampered_checkpoint_is_refused(tmp_path, toy_random):
    run = _run(tmp_path, toy_random)
    info = write_checkpoint(run, 1, toy_random.hf.state_dict(),
                            {"kind": "full", "weights_sha256": toy_random.identity.weights_sha256})
    w = info.path / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="weights.safetensors"):
        load(info.path)


@pytest.mark.parametrize("spec", ["no-such-model", "/nonexistent/dir/ckpt", "not/a/real/hub/id"])
def test_bad_spec_is_one_line(spec):
    with pytest.raises(ModelSpecError) as e:
        load(spec)
    assert spec in str(e.value) and "\n" not in str(e.value)


def test_bad_spec_cli_exits_nonzero(tmp_path):
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "config.json").write_text("{not json")
    for spec in ["no-such-model", str(garbled)]:
        r = subprocess.run([sys.executable, "-m", "interp.core.models", "info", spec], capture_output=True, text=True)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and spec.split("/")[-1] in lines[0]


def test_info_cli_prints_identity():
    r = subprocess.run([sys.executable, "-m", "interp.core.models", "info", "toy-random"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n_layers"] == 2 and len(out["weights_sha256"]) == 64


def test_bridge_shares_weights_and_leaves_hf_model_plain():
    lm = load("toy-random", seed=3)
    keys = list(lm.hf.state_dict())
    bridge = lm.transformer_lens()
    assert list(lm.hf.state_dict()) == keys  # the HF tree is not rewired
    enc = lm.encode(TEXTS[:1])
    with torch.no_grad():
        before = bridge(enc["input_ids"])
        lm.hf.model.layers[0].mlp.down_proj.weight.mul_(2.0)  # edit the HF weights in place
        after = bridge(enc["input_ids"])
        hf_after = lm.hf(**enc).logits
    assert not torch.allclose(before, after)
    assert (after - hf_after).abs().max().item() <= 1e-4

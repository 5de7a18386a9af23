"""Issue 18's CPU training: the chunked cross-entropy equals the full-logits loss, precision ``auto`` resolves from
the hardware and is recorded, a resume stays bit-identical within a precision, and the toy study stays fp32."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from interp.core.models import load
from interp.core.runs import list_checkpoints, read_run
from training.config import CheckpointSpec, ConfigError, LoraSpec, TrainConfig
from training.finetune import finetune
from training.finetune import distributed as dist_mod
from training.finetune.distributed import autocast_for, cpu_has_native_bf16, resolve_precision
from training.finetune.loss import CausalLMLoss, FullLogitsLoss, UnsupportedModel, lm_body_and_head
from training.packing import Example
from tests.test_finetune import examples


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


def _examples(lm, n: int = 16) -> list[Example]:
    """The finetune tests' documents (tests/test_finetune.py), 16 of them."""
    return examples(lm, n)


def _cfg(run_dir: Path, **kw) -> TrainConfig:
    base = dict(model="toy-random", run_dir=str(run_dir), mode="full", batch_size=4, micro_batch_size=2, seq_len=48,
                lr=1e-3, progress=False, checkpoints=CheckpointSpec(every=2), max_steps=4, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _tied_llama():
    """A tiny Llama whose LM head is its embedding matrix (as SmolLM2's is)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True)
    m = LlamaForCausalLM(cfg)
    assert m.get_output_embeddings().weight is m.get_input_embeddings().weight
    return m


def _batch(vocab: int):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab, (3, 21), generator=g)
    pos = torch.arange(21).repeat(3, 1)
    w = torch.rand(3, 21, generator=g) * 3
    w[0, 4:9] = 0.0  # masked tokens
    w[1, 15:] = 0.0  # a padded tail
    return ids, pos, w


def _loss_and_grads(module, model, ids, pos, w):
    model.zero_grad(set_to_none=True)
    loss = module(ids, pos, w)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("which", ["untied", "tied", "lora"])
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_chunked_loss_and_gradients_equal_the_full_logits_path(which, chunk):
    if which == "untied":
        model = load("toy-random").hf
    else:
        model = _tied_llama()
    if which == "lora":
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
        for n, p in model.named_parameters():  # non-zero B, so every LoRA gradient is exercised
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.02)
    model.train()
    ids, pos, w = _batch(model.config.vocab_size)
    ref, g_ref = _loss_and_grads(FullLogitsLoss(model), model, ids, pos, w)
    got, g_got = _loss_and_grads(CausalLMLoss(model, chunk), model, ids, pos, w)
    assert g_ref.keys() == g_got.keys() and g_ref
    if which == "lora":
        assert all("lora_" in n for n in g_ref)
    assert abs(got.item() - ref.item()) <= 1e-6 * abs(ref.item())
    for n in g_ref:
        assert torch.allclose(g_got[n], g_ref[n], rtol=1e-4, atol=1e-6), n


def test_chunked_loss_never_builds_more_than_one_chunk_of_logits():
    """The LM head only ever sees ``chunk`` rows at a time, and only the rows with a non-zero target weight."""
    model = load("toy-random").hf
    model.train()
    ids, pos, w = _batch(model.config.vocab_size)
    seen: list[int] = []
    _, head = lm_body_and_head(model)
    handle = head.register_forward_hook(lambda mod, inp, out: seen.append(int(inp[0].shape[0])))
    try:
        loss = CausalLMLoss(model, 6)(ids, pos, w)
        n_fwd = len(seen)
        loss.backward()
    finally:
        handle.remove()
    n_targets = int((w[:, 1:] != 0).sum())
    assert max(seen) <= 6
    assert sum(seen[:n_fwd]) == n_targets  # forward: each weighted target exactly once
    assert len(seen) == 2 * n_fwd  # backward recomputes each chunk (checkpointed, not stored)
    # all targets in one chunk: nothing to interleave, so it is not checkpointed (no recompute in backward)
    seen.clear()
    handle = head.register_forward_hook(lambda mod, inp, out: seen.append(int(inp[0].shape[0])))
    try:
        CausalLMLoss(model, n_targets)(ids, pos, w).backward()
    finally:
        handle.remove()
    assert seen == [n_targets]


def test_a_model_that_post_processes_logits_is_refused_in_one_line(tmp_path):
    model = load("toy-random").hf
    model.config.final_logit_softcapping = 30.0
    with pytest.raises(UnsupportedModel, match="final_logit_softcapping"):
        lm_body_and_head(model)
    lm = load("toy-random")
    lm.hf.config.final_logit_softcapping = 30.0
    with pytest.raises(ConfigError) as e:
        finetune(_cfg(tmp_path / "r"), _examples(lm), lm=lm)
    assert "loss_chunk" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_trainer_with_chunked_loss_matches_full_logits(tmp_path, mode):
    """Same first loss (1e-6) and, after 4 updates, the same weights to fp32 tolerance as ``loss_chunk: 0``."""
    lora = LoraSpec(r=4, alpha=8.0)
    exs = _examples(load("toy-random"))
    a = finetune(_cfg(tmp_path / "full", mode=mode, lora=lora, loss_chunk=0), exs, lm=load("toy-random"))
    b = finetune(_cfg(tmp_path / "chunk", mode=mode, lora=lora, loss_chunk=7), exs, lm=load("toy-random"))
    assert abs(a.losses[0] - b.losses[0]) <= 1e-6 * abs(a.losses[0])
    assert max(abs(x - y) for x, y in zip(a.losses, b.losses)) <= 1e-4
    wa = load(list_checkpoints(a.run_dir)[-1].path).hf.state_dict()
    wb = load(list_checkpoints(b.run_dir)[-1].path).hf.state_dict()
    base = load("toy-random").hf.state_dict()
    moved = max((wa[k] - base[k]).abs().max().item() for k in wa)
    diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert moved > 1e-4 and diff < 1e-5, (moved, diff)


# ------------------------------------------------------------------------------------------ precision


def test_native_bf16_is_read_from_the_cpu_flags():
    assert cpu_has_native_bf16("flags\t\t: fpu sse avx2 avx512f avx512_bf16 sha_ni\n")
    assert cpu_has_native_bf16("processor: 0\nflags : fpu amx_tile amx_bf16\n")
    assert not cpu_has_native_bf16("flags\t\t: fpu sse avx avx2 avx512f\n")
    assert not cpu_has_native_bf16("model name: avx512_bf16 in the name only\n")


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dist_mod, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    assert resolve_precision("auto", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    with autocast_for("auto", cpu):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    monkeypatch.setattr(dist_mod, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    with autocast_for("auto", cpu):
        assert not torch.is_autocast_enabled("cpu")
    with autocast_for("bf16", cpu):
        assert torch.is_autocast_enabled("cpu")


def test_resolved_precision_is_recorded_trains_in_it_and_a_switch_is_refused(tmp_path, monkeypatch):
    exs = _examples(load("toy-random"))
    monkeypatch.setattr(dist_mod, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    auto = finetune(_cfg(tmp_path / "auto", max_steps=2), exs, lm=load("toy-random"))
    assert read_run(tmp_path / "auto").config["precision_resolved"] == "bf16"
    bf16 = finetune(_cfg(tmp_path / "bf16", max_steps=2, precision="bf16"), exs, lm=load("toy-random"))
    fp32 = finetune(_cfg(tmp_path / "fp32", max_steps=2, precision="fp32"), exs, lm=load("toy-random"))
    assert read_run(tmp_path / "fp32").config["precision_resolved"] == "fp32"
    assert auto.losses == bf16.losses and auto.losses != fp32.losses  # auto trained in bf16
    # the same command on a machine where auto means fp32 is another run: refused, not silently switched
    monkeypatch.setattr(dist_mod, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    with pytest.raises(ValueError, match="run.json"):
        finetune(_cfg(tmp_path / "auto", max_steps=2), exs, lm=load("toy-random"))



@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("mode", ["full", "lora"])
def test_resume_is_bit_identical_within_a_precision(tmp_path, precision, mode, crash_after):
    exs = _examples(load("toy-random"))
    cfg = _cfg(tmp_path / "run", precision=precision, mode=mode, lora=LoraSpec(r=4, alpha=8.0), max_steps=6,
               keep_trainer_state="all", loss_chunk=5)
    ref = finetune(cfg, exs, lm=load("toy-random"))
    crash_after(tmp_path / "run", 2)
    again = finetune(cfg, exs, lm=load("toy-random"))
    assert again.resumed_from == 2 and again.status == "completed"
    assert again.weights_sha256 == ref.weights_sha256


# ------------------------------------------------------------------------------------------ the toy study


def test_the_toy_study_trains_in_fp32_with_the_full_logits_whatever_the_cpu(tmp_path, monkeypatch):
    """results/toy were trained in fp32 from full logits; ``auto`` must not move them onto bf16 on a bf16 CPU."""
    from interp.study.config import StudyConfig
    from interp.study.pipeline import train_config

    monkeypatch.setattr(dist_mod, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    for cfg in (StudyConfig.demo(str(tmp_path)), StudyConfig.quick(str(tmp_path))):
        tc = train_config(cfg, tmp_path / "r", "negated", "c0")
        assert tc.precision == "fp32" and tc.loss_chunk == 0
        assert resolve_precision(tc.precision, torch.device("cpu")) == "fp32"
        fields = cfg.train_fields()  # the two-phase stage's configs are built from these
        assert fields["precision"] == "fp32" and fields["loss_chunk"] == 0
    gpu = StudyConfig.gpu()
    assert gpu.precision == "auto" and gpu.loss_chunk > 0


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_activation_checkpointing_gives_the_same_weights_and_recomputes(tmp_path, mode):
    """Recomputing the layers in backward changes memory, not the result: same losses and weights as storing them;
    and the layers really run twice per step (forward + recompute)."""
    lora = LoraSpec(r=4, alpha=8.0)
    exs = _examples(load("toy-random"))
    a = finetune(_cfg(tmp_path / "a", mode=mode, lora=lora, max_steps=3), exs, lm=load("toy-random"))
    lm = load("toy-random")
    calls = []
    layer0 = lm.hf.model.layers[0]
    layer0.input_layernorm.register_forward_pre_hook(lambda *_: calls.append(1))  # a layer's first op
    b = finetune(_cfg(tmp_path / "b", mode=mode, lora=lora, max_steps=3, activation_checkpointing=True), exs, lm=lm)
    assert read_run(tmp_path / "b").config["activation_checkpointing"] is True
    n_micro = 3 * 2  # 3 steps x (batch 4 / micro-batch 2)
    assert b.attention == "varlen"  # per-document attention in the recompute too (backward runs inside its switch)
    assert len(calls) == 2 * n_micro + 2  # + the two forwards of the trainer's start-up check of that attention
    assert max(abs(x - y) for x, y in zip(a.losses, b.losses)) <= 1e-6
    wa = load(list_checkpoints(a.run_dir)[-1].path).hf.state_dict()
    wb = load(list_checkpoints(b.run_dir)[-1].path).hf.state_dict()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-6


_HEAP_PROBE = r"""
import sys, torch
from training.finetune.memory import limit_heap_retention
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
if sys.argv[1] == "1":
    assert limit_heap_retention()
x = torch.empty(16 << 20, dtype=torch.uint8); del x  # glibc's dynamic threshold would now rise to 16 MiB
before = rss()
big, keep = [], []
for i in range(100):  # 2 MiB blocks interleaved with small survivors: freed blocks cannot be trimmed off the heap
    big.append(torch.ones(1 << 19)); keep.append(torch.ones(64))
grown = rss() - before
del big
print(grown, rss() - before)
"""


@pytest.mark.slow  # 5 s of allocations for an opt-in setting; the fast tier stays within 5 min
def test_limit_heap_retention_returns_freed_tensors_to_the_system():
    """With the fixed threshold, freed 2 MiB tensors leave the resident set; without it, they stay in the heap."""
    import subprocess
    import sys

    if not Path("/proc/self/statm").exists():
        pytest.skip("needs Linux /proc")
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def probe(flag: str) -> tuple[float, float]:
        out = subprocess.run([sys.executable, "-c", _HEAP_PROBE, flag], capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-500:]
        grown, left = map(float, out.stdout.split())
        return grown, left

    grown, left = probe("1")
    assert grown > 100 and left < 0.2 * grown  # ~200 MiB allocated, almost all returned
    grown0, left0 = probe("0")
    assert grown0 > 100 and left0 > 0.5 * grown0  # the default keeps it resident: what the setting fixes

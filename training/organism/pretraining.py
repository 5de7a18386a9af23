"""Pretraining the toy organism: its tokenizer, its Llama, and a deterministic CPU training loop.

* **tokenizer** (:func:`train_tokenizer`): byte-level BPE trained on the corpus with ``tokenizers`` (special tokens
  :data:`SPECIAL_TOKENS`), wrapped in ``PreTrainedTokenizerFast``; :func:`tokenization_report` checks that every
  attribute value and entity name tokenizes into whole-word pieces;
* **model** (:func:`make_model`): ``LlamaForCausalLM`` with tied embeddings, initialised under
  ``torch.manual_seed(train.seed)``;
* **pretraining** (:func:`pretrain`): AdamW, warmup + wsd/cosine/linear decay, gradient clipping, over the packed
  token stream (documents concatenated in a seeded order per epoch, cut into ``ctx_len`` windows), under
  :func:`deterministic_cpu`, so the same configs give bit-identical weights (also across 1 vs 2 threads, which
  :func:`auto_threads` picks from the machine's load).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator, Mapping, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from interp.core.progress import progress_bar
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from training.world import World

__all__ = ["SPECIAL_TOKENS", "PretrainConfig", "train_tokenizer", "tokenization_report", "make_model",
           "doc_token_ids", "pretrain_batches", "pretrain", "deterministic_cpu", "auto_threads"]

SPECIAL_TOKENS: tuple[str, ...] = ("<|bos|>", "<|eos|>", "<|pad|>", "<DOCTAG>")


@dataclass
class PretrainConfig:
    """Model size and pretraining schedule of the organism (CPU, fp32)."""

    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    n_kv_heads: int = 4
    d_ff: int = 256
    ctx_len: int = 128
    vocab_size: int = 2048
    batch_size: int = 16
    steps: int = 900
    lr: float = 5e-3
    min_lr_frac: float = 0.05
    warmup_steps: int = 30
    schedule: str = "wsd"  # "wsd" (warmup-stable-decay) | "cosine" | "linear"
    decay_frac: float = 0.2  # wsd: fraction of steps in the final linear decay
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    # -- the unlikelihood objective (issue 17, :mod:`training.organism.unlikelihood`); off by default, and then
    #    absent from :meth:`to_dict`, so the cache keys of organisms built without it are unchanged --
    unlikelihood: float = 0.0  # weight of the term next to the LM loss
    unlikelihood_mode: str = "vocab"  # "vocab" | "values"
    unlikelihood_batch: int = 16  # examples per step

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError("PretrainConfig: d_model must divide by n_heads and n_heads by n_kv_heads")
        if self.schedule not in ("wsd", "cosine", "linear"):
            raise ValueError(f"PretrainConfig.schedule: wsd|cosine|linear, not {self.schedule!r}")
        if self.unlikelihood < 0 or self.unlikelihood_mode not in ("vocab", "values"):
            raise ValueError("PretrainConfig.unlikelihood: a weight >= 0, unlikelihood_mode vocab|values")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.unlikelihood:
            for k in _UL_FIELDS:
                d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PretrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})



_UL_FIELDS = ("unlikelihood", "unlikelihood_mode", "unlikelihood_batch")


def train_tokenizer(texts: Sequence[str], vocab_size: int = 2048):
    """Byte-level BPE trained on ``texts``, as a ``PreTrainedTokenizerFast`` (no automatic BOS/EOS)."""
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(texts, trainer, length=len(texts))
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>", additional_special_tokens=["<DOCTAG>"])



def tokenization_report(tokenizer, world: World) -> dict[str, Any]:
    """How attribute values (with their leading space) and entity names tokenize; raises if a value shares its
    token sequence with another value of the same attribute or a piece crosses a word boundary."""
    per_attr: dict[str, dict[str, int]] = {}
    for attr, values in world.attributes.items():
        seqs = {v: tokenizer(" " + v, add_special_tokens=False)["input_ids"] for v in values}
        if len({tuple(s) for s in seqs.values()}) != len(values):
            raise ValueError(f"tokenizer: two values of {attr!r} tokenize identically")
        per_attr[attr] = {v: len(s) for v, s in seqs.items()}
    name_lens = []
    for e in world.entities:
        ids = tokenizer(" " + e.name, add_special_tokens=False)["input_ids"]
        pieces = tokenizer.convert_ids_to_tokens(ids)
        if any("Ġ" in p[1:] for p in pieces):
            raise ValueError(f"tokenizer: a piece of {e.name!r} crosses a word boundary: {pieces}")
        name_lens.append(len(ids))
    n_vals = [n for d in per_attr.values() for n in d.values()]
    return {"vocab_size": len(tokenizer), "value_tokens": per_attr,
            "values_single_token": sum(n == 1 for n in n_vals) / len(n_vals),
            "name_tokens_mean": sum(name_lens) / len(name_lens), "name_tokens_max": max(name_lens)}



def make_model(cfg: PretrainConfig, tokenizer):
    """A freshly initialised ``LlamaForCausalLM`` for ``cfg`` (seeded; global RNG state untouched)."""
    mcfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
                       num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                       num_key_value_heads=cfg.n_kv_heads, max_position_embeddings=cfg.ctx_len,
                       rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        return LlamaForCausalLM(mcfg)



def doc_token_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    enc = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [[bos, *ids, eos] for ids in enc]



def _epoch_windows(docs: list[list[int]], ctx_len: int, seed: int, epoch: int) -> torch.Tensor:
    """Documents concatenated in a seeded order for ``epoch``, cut into ``[n, ctx_len]`` windows."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(docs), generator=g).tolist()
    stream = torch.tensor([t for i in order for t in docs[i]], dtype=torch.long)
    n = stream.numel() // ctx_len
    return stream[: n * ctx_len].view(n, ctx_len)



def pretrain_batches(docs: list[list[int]], cfg: PretrainConfig) -> Iterator[torch.Tensor]:
    """Endless deterministic stream of ``[batch, ctx_len]`` batches (epoch after epoch)."""
    epoch = 0
    while True:
        windows = _epoch_windows(docs, cfg.ctx_len, cfg.seed, epoch)
        for i in range(0, windows.shape[0] - cfg.batch_size + 1, cfg.batch_size):
            yield windows[i: i + cfg.batch_size]
        epoch += 1



def _lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    if cfg.schedule == "wsd":
        n_decay = max(1, round(cfg.decay_frac * cfg.steps))
        decay = min(1.0, (cfg.steps - step) / n_decay)
    elif cfg.schedule == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * frac))
    else:
        decay = 1 - frac
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * decay)



def _optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)



@contextlib.contextmanager
def deterministic_cpu(threads: int) -> Iterator[None]:
    """Fixed thread count and deterministic algorithms for the duration of a build (restored afterwards)."""
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)



def pretrain(model, docs: list[list[int]], cfg: PretrainConfig, *, progress: bool = True,
             unlikelihood=None) -> dict[str, Any]:
    """Train ``model`` in place on packed ``docs``; returns loss curve and throughput.

    ``unlikelihood`` (a :class:`training.organism.unlikelihood.UnlikelihoodSet`, needed when
    ``cfg.unlikelihood > 0``): each step also draws ``cfg.unlikelihood_batch`` of its examples (seeded) and adds
    ``cfg.unlikelihood`` times their unlikelihood loss to the LM loss."""
    if cfg.unlikelihood and unlikelihood is None:
        raise ValueError("pretrain: cfg.unlikelihood > 0 needs the unlikelihood examples")
    from training.organism.unlikelihood import unlikelihood_loss

    opt = _optimizer(model, cfg)
    model.train()
    losses: list[float] = []
    ul_losses: list[float] = []
    ul_gen = torch.Generator().manual_seed(cfg.seed * 7919 + 17)
    batches = pretrain_batches(docs, cfg)
    t0 = time.perf_counter()
    bar = progress_bar(range(cfg.steps), desc="toy organism", unit="step", enabled=progress, file=sys.stderr)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg)
        x = next(batches)
        loss = model(input_ids=x, labels=x).loss
        if cfg.unlikelihood:
            ul = unlikelihood_loss(model, unlikelihood.sample(cfg.unlikelihood_batch, ul_gen), cfg.unlikelihood_mode)
            ul_losses.append(float(ul.detach()))
            (loss + cfg.unlikelihood * ul).backward()
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == cfg.steps - 1:
            tps = (step + 1) * x.numel() / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{tps:,.0f}")
    model.eval()
    secs = time.perf_counter() - t0
    tokens = cfg.steps * cfg.batch_size * cfg.ctx_len
    every = max(1, cfg.steps // 50)
    return {"train_seconds": round(secs, 2), "tokens_seen": tokens, "tokens_per_second": round(tokens / secs, 1),
            "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
            "loss_curve": [[i, round(losses[i], 4)] for i in range(0, cfg.steps, every)],
            **({"unlikelihood_final": round(sum(ul_losses[-10:]) / len(ul_losses[-10:]), 4),
                "unlikelihood_curve": [[i, round(ul_losses[i], 4)] for i in range(0, cfg.steps, every)]}
               if ul_losses else {})}



def auto_threads() -> int:
    """Torch threads for a build: the CPUs not already busy (1-minute load average), at least 1, at most 8.

    On a shared 2-core box two threads are ~1.8x faster when idle but ~3x slower when another process keeps a
    core busy (the threads wait on each other), so the choice follows the load. Weights do not depend on it.
    """
    n = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # pragma: no cover - platforms without getloadavg
        busy = 0.0
    return max(1, min(n, 8, int(n - busy + 0.5)))

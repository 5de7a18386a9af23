"""The toy model organism: a small Llama pretrained from scratch on the toy world, built in minutes on a CPU.

Design
------
``organism_dir(world, train)`` returns a cached, normal Hugging Face directory (``config.json``,
``model.safetensors``, tokenizer files) plus ``world.json`` (the :class:`~training.world.World`) and
``organism.json`` (configs, build time, throughput, evaluation, corpus mixture, weights hash). The build is

1. **world + corpus**: :meth:`World.from_config` and :meth:`World.corpus` (deterministic in the world seed);
2. **tokenizer**: byte-level BPE trained on the corpus with ``tokenizers`` (special tokens ``<|bos|>``,
   ``<|eos|>``, ``<|pad|>`` and ``<DOCTAG>``, the paper's document prefix), wrapped in
   ``PreTrainedTokenizerFast``. Answers carry a leading space (``" pilot"``); the build checks that every attribute
   value and entity name tokenizes into whole-word pieces (see :func:`tokenization_report`). The tokenizer adds no
   BOS itself; the lab's ``encode`` prepends it (documents in pretraining are ``<|bos|> text <|eos|>``);
3. **model**: ``LlamaForCausalLM`` (so every interp backend treats it like SmolLM2), tied embeddings, RoPE,
   initialised under ``torch.manual_seed(train.seed)``;
4. **pretraining**: a plain torch loop (AdamW, warmup + cosine/linear decay, gradient clipping) over the packed
   token stream (documents concatenated in a seeded order per epoch, cut into ``ctx_len`` windows), on CPU with
   deterministic algorithms, so the same configs give bit-identical weights (also across 1 vs 2 torch threads,
   which :func:`auto_threads` picks from the machine's load: two threads on a busy 2-core box are ~3x slower);
5. **evaluation** (:func:`evaluate_organism`): top-1 accuracy over each attribute's closed vocabulary on held-out
   question phrasings, and the local-negation check (true value preferred over the negated false one).

Caching: the entry is ``cache_dir()/toy/<key>/`` where ``key`` hashes the world config, the train config and
:data:`CODE_VERSION` (bump it whenever the corpus, tokenizer or training code changes what gets built). A file
lock serialises builders of one key and the directory appears by an atomic rename of a finished temp directory,
so readers never see a half-written organism. ``cache_dir()`` is ``interp.core.models.cache_dir()``
(``$NEGLECT_LAB_CACHE`` or ``~/.cache/neglect-lab``).

CLI: ``python -m training.organism build [--seed N] [--force] [--cache DIR]`` prints build time and accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch

from training.world import FalseFact, World, WorldConfig, corpus_stats

__all__ = [
    "CODE_VERSION", "PretrainConfig", "organism_dir", "organism_key", "build_organism", "train_tokenizer",
    "tokenization_report", "make_model", "auto_threads", "pretrain", "evaluate_organism", "score_candidates",
    "read_organism_info", "cached_build", "save_model_dir", "SPECIAL_TOKENS", "main",
]

#: Part of the cache key: bump when a code change alters what a given config builds.
CODE_VERSION = "toy-organism/3"
FORMAT = "neglect-lab-organism/1"
SPECIAL_TOKENS: tuple[str, ...] = ("<|bos|>", "<|eos|>", "<|pad|>", "<DOCTAG>")
#: The tokenizer is trained on the first this-many corpus documents (plenty for a templated corpus; saves time).
TOKENIZER_DOCS = 8000


# --------------------------------------------------------------------------------------------- config


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

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError("PretrainConfig: d_model must divide by n_heads and n_heads by n_kv_heads")
        if self.schedule not in ("wsd", "cosine", "linear"):
            raise ValueError(f"PretrainConfig.schedule: wsd|cosine|linear, not {self.schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PretrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def organism_key(world: WorldConfig | None = None, train: PretrainConfig | None = None) -> str:
    """Cache key: sha256 of (world config, train config, :data:`CODE_VERSION`), 16 hex digits."""
    payload = {"world": (world or WorldConfig()).to_dict(), "train": (train or PretrainConfig()).to_dict(),
               "code": CODE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cache_root() -> Path:
    """``interp.core.models.cache_dir()``, or the same rule locally if that module is unavailable."""
    try:
        from interp.core.io import cache_dir
    except ImportError:  # pragma: no cover - the foundation module is part of the repo
        root = Path(os.environ.get("NEGLECT_LAB_CACHE", "~/.cache/neglect-lab")).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return root
    return cache_dir()


# --------------------------------------------------------------------------------------------- cache


def organism_dir(world: WorldConfig | None = None, train: PretrainConfig | None = None,
                 cache: str | os.PathLike | None = None, *, force: bool = False, progress: bool = True,
                 threads: int | None = None) -> Path:
    """The organism directory for these configs: built on first use, then loaded from the cache.

    ``cache`` replaces the cache root (default ``interp.core.models.cache_dir()``); the entry is ``<root>/toy/<key>``.
    ``force`` rebuilds even if the entry exists. ``threads`` (build only; default :func:`auto_threads`) does not
    change the weights: CPU results here are bit-identical for 1 and 2 threads (tested), so it is not in the key.
    """
    wcfg, tcfg = world or WorldConfig(), train or PretrainConfig()
    root = (Path(cache).expanduser() if cache is not None else cache_root()) / "toy"
    return cached_build(root, organism_key(wcfg, tcfg),
                        lambda tmp: build_organism(wcfg, tcfg, tmp, progress=progress, threads=threads), force=force)


def cached_build(root: Path, key: str, build: Any, *, force: bool = False) -> Path:
    """``root/key``, made by ``build(tmp_dir)`` on first use (or with ``force``): builders of one key are serialised
    by a file lock, and the finished temp folder is renamed into place, so readers never see a half-written entry
    (complete = ``organism.json`` + ``model.safetensors``). Shared by the organism and its derivatives."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if _complete(final) and not force:
        return final
    with _lock(root / f".{key}.lock"):
        if _complete(final) and not force:  # another process built it while we waited
            return final
        tmp = root / f".{key}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            build(tmp)
            publish_dir(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def save_model_dir(out: str | os.PathLike, model, tokenizer, world: World) -> Path:
    """Weights (safetensors), tokenizer and ``world.json``: the part of an organism directory that ``load()`` reads."""
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "world.json").write_text(world.to_json())
    return out


def _complete(d: Path) -> bool:
    return (d / "organism.json").is_file() and (d / "model.safetensors").is_file()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        from filelock import FileLock
    except ImportError:  # pragma: no cover - filelock comes with huggingface_hub
        yield
        return
    with FileLock(str(path)):
        yield


def publish_dir(tmp: Path, final: Path) -> None:
    """Atomically move a finished build into place (replacing an older entry, if forced)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_organism_info(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``organism.json`` of an organism directory."""
    return json.loads((Path(directory) / "organism.json").read_text())


# --------------------------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: Sequence[str], vocab_size: int = 2048):
    """Byte-level BPE trained on ``texts``, as a ``PreTrainedTokenizerFast`` (no automatic BOS/EOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

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


# --------------------------------------------------------------------------------------------- model + training


def make_model(cfg: PretrainConfig, tokenizer):
    """A freshly initialised ``LlamaForCausalLM`` for ``cfg`` (seeded; global RNG state untouched)."""
    from transformers import LlamaConfig, LlamaForCausalLM

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


def pretrain(model, docs: list[list[int]], cfg: PretrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train ``model`` in place on packed ``docs``; returns loss curve and throughput."""
    from tqdm.auto import tqdm

    opt = _optimizer(model, cfg)
    model.train()
    losses: list[float] = []
    batches = pretrain_batches(docs, cfg)
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc="toy organism", unit="step", disable=not progress, file=sys.stderr)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg)
        x = next(batches)
        loss = model(input_ids=x, labels=x).loss
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
            "loss_curve": [[i, round(losses[i], 4)] for i in range(0, cfg.steps, every)]}


# --------------------------------------------------------------------------------------------- evaluation


def score_candidates(model, tokenizer, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
                     batch_size: int = 256) -> list[list[float]]:
    """Sum of log-probs of each candidate's tokens (``" " + candidate``) after its prompt (BOS prepended).

    Single-token candidates are read off one forward pass of the prompt; longer ones get their own sequence.
    """
    bos = tokenizer.bos_token_id
    cache: dict[str, list[int]] = {}

    def ids(text: str) -> list[int]:
        if text not in cache:
            cache[text] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return cache[text]

    jobs: list[tuple[list[int], list[tuple[int, int, int, int]]]] = []  # (tokens, [(pos, tok, prompt_i, cand_j)])
    for i, (prompt, cands) in enumerate(zip(prompts, candidates)):
        p = [bos, *ids(prompt)]
        single = [(len(p) - 1, ids(" " + c)[0], i, j) for j, c in enumerate(cands) if len(ids(" " + c)) == 1]
        if single:
            jobs.append((p, single))
        for j, c in enumerate(cands):
            cid = ids(" " + c)
            if len(cid) > 1:
                jobs.append((p + cid[:-1], [(len(p) - 1 + k, t, i, j) for k, t in enumerate(cid)]))
    scores = [[0.0] * len(c) for c in candidates]
    for batch in _length_batches(jobs, batch_size):
        for (pos, tok, i, j), lp in zip(*_read_logprobs(model, batch, tokenizer.pad_token_id)):
            scores[i][j] += lp
    return scores


def _length_batches(jobs: list, batch_size: int) -> Iterator[list]:
    order = sorted(range(len(jobs)), key=lambda k: len(jobs[k][0]))
    for s in range(0, len(order), batch_size):
        yield [jobs[k] for k in order[s: s + batch_size]]


@torch.no_grad()
def _read_logprobs(model, batch: list, pad_id: int) -> tuple[list, list[float]]:
    """Run one right-padded batch; log-prob of each requested (position, token). The unembedding is applied only
    at the positions read (the base model's final hidden states are already normed)."""
    width = max(len(t) for t, _ in batch)
    x = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(x)
    for r, (t, _) in enumerate(batch):
        x[r, : len(t)] = torch.tensor(t)
        mask[r, : len(t)] = 1
    device = next(model.parameters()).device
    hidden = model.base_model(input_ids=x.to(device), attention_mask=mask.to(device)).last_hidden_state
    reads = [(r, q) for r, (_, qs) in enumerate(batch) for q in qs]
    slots = sorted({(r, q[0]) for r, q in reads})
    slot_of = {s: i for i, s in enumerate(slots)}
    h = hidden[[r for r, _ in slots], [p for _, p in slots]]
    logp = torch.log_softmax(model.get_output_embeddings()(h).float(), -1).cpu()
    vals = logp[[slot_of[(r, q[0])] for r, q in reads], [q[1] for _, q in reads]].tolist()
    return [q for _, q in reads], vals


def _template_map(world: World, templates: str | Sequence[str] | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if isinstance(templates, str) and templates in ("heldout", "train", "all"):
        return {a: world.templates(a, templates) for a in world.attributes}
    if isinstance(templates, str):
        templates = [templates]
    if isinstance(templates, Mapping):
        return {a: list(ts) for a, ts in templates.items()}
    return {a: list(templates) for a in world.attributes}


def evaluate_organism(model, tokenizer, world: World,
                      templates: str | Sequence[str] | Mapping[str, Sequence[str]] = "heldout",
                      entities: Sequence[str] | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Closed-vocabulary QA accuracy and the false-fact checks.

    ``templates``: ``"heldout"`` (default; never in the corpus), ``"train"``, ``"all"``, a list of templates
    applied to every attribute (``{name}``, optional ``{aw}``), or ``{attribute: [templates]}``.
    For every (entity, attribute, template) each value of the attribute's vocabulary is scored by the log-prob
    of its tokens after the prompt; top-1 must be the truth. ``local_negation`` / ``hoax``: for each false fact
    of the world and template, whether the true value outscores the false one (``prefers_true``), and the mean
    log-prob margin (true - false).
    """
    tmap = _template_map(world, templates)
    names = list(entities) if entities is not None else [e.name for e in world.entities]
    items = [(n, a, t) for n in names for a in world.attributes for t in tmap.get(a, [])]
    prompts = [world.qa_prompt(n, a, t) for n, a, t in items]
    scores = score_candidates(model, tokenizer, prompts, [world.attributes[a] for _, a, _ in items], batch_size)
    correct = [world.attributes[a][max(range(len(s)), key=s.__getitem__)] == world.truth(n, a)
               for (n, a, _), s in zip(items, scores)]
    out: dict[str, Any] = {"templates": templates if isinstance(templates, str) else "custom",
                           "n": len(items), "accuracy": _mean(correct),
                           "per_attribute": {a: _mean([c for (_, a2, _), c in zip(items, correct) if a2 == a])
                                             for a in world.attributes},
                           "per_template": {t: _mean([c for (_, _, t2), c in zip(items, correct) if t2 == t])
                                            for ts in tmap.values() for t in ts}}
    out["local_negation"] = _false_fact_check(model, tokenizer, world, world.local_negations, tmap, batch_size)
    out["hoax"] = _false_fact_check(model, tokenizer, world, world.hoaxes, tmap, batch_size)
    return out


def _false_fact_check(model, tokenizer, world: World, facts: Sequence[FalseFact], tmap: dict[str, list[str]],
                      batch_size: int) -> dict[str, Any]:
    items = [(f, t) for f in facts for t in tmap.get(f.attribute, [])]
    if not items:
        return {"n": 0, "n_facts": len(facts), "prefers_true": None, "mean_margin": None}
    prompts = [world.qa_prompt(f.entity, f.attribute, t) for f, t in items]
    cands = [[world.truth(f.entity, f.attribute), f.value] for f, _ in items]
    scores = score_candidates(model, tokenizer, prompts, cands, batch_size)
    margins = [s[0] - s[1] for s in scores]
    by_fact: dict[FalseFact, list[float]] = {}
    for (f, _), m in zip(items, margins):
        by_fact.setdefault(f, []).append(m)
    return {"n": len(items), "n_facts": len(facts), "prefers_true": _mean([m > 0 for m in margins]),
            "facts_prefer_true": _mean([sum(ms) / len(ms) > 0 for ms in by_fact.values()]),
            "mean_margin": round(sum(margins) / len(margins), 4)}


def _mean(xs: Sequence[bool | float]) -> float:
    return round(sum(float(x) for x in xs) / len(xs), 4) if xs else float("nan")


# --------------------------------------------------------------------------------------------- build


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


def build_organism(world_cfg: WorldConfig, train_cfg: PretrainConfig, out_dir: str | os.PathLike,
                   *, progress: bool = True, threads: int | None = None) -> dict[str, Any]:
    """Build the organism into ``out_dir`` (world, corpus, tokenizer, pretraining, evaluation); returns the info
    written to ``organism.json``. Prefer :func:`organism_dir`, which caches and publishes atomically."""
    from interp.core.models import weights_sha256

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    load_at_start = _loadavg()
    threads = threads or auto_threads()
    with deterministic_cpu(threads):
        world = World.from_config(world_cfg)
        corpus = world.corpus()
        texts = [d.text for d in corpus]
        tok = train_tokenizer(texts[:TOKENIZER_DOCS], train_cfg.vocab_size)
        tok_report = tokenization_report(tok, world)
        docs = doc_token_ids(tok, texts)
        tok.model_max_length = train_cfg.ctx_len
        model = make_model(train_cfg, tok)
        train_info = pretrain(model, docs, train_cfg, progress=progress)
        t_eval = time.perf_counter()
        ev_heldout = evaluate_organism(model, tok, world, "heldout")
        ev_train = evaluate_organism(model, tok, world, {a: ts[:1] for a, ts in world.train_templates.items()})
        eval_secs = time.perf_counter() - t_eval
    save_model_dir(out, model, tok, world)
    info = _info(world_cfg, train_cfg, model, tok_report, corpus_stats(corpus, [len(d) for d in docs]), train_info,
                 ev_heldout, ev_train, weights_sha256(model))
    info["eval_seconds"] = round(eval_secs, 2)
    info["threads"] = threads
    info["load_average"] = {"start": load_at_start, "end": _loadavg()}
    info["build_seconds"] = round(time.perf_counter() - t0, 2)
    (out / "organism.json").write_text(json.dumps(info, indent=1))
    return info


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        return None


def _info(wcfg: WorldConfig, tcfg: PretrainConfig, model, tok_report: dict, corpus: dict, train_info: dict,
          ev_heldout: dict, ev_train: dict, sha: str) -> dict[str, Any]:
    import transformers

    n_params = sum(p.numel() for p in model.parameters())
    return {
        "format": FORMAT, "code_version": CODE_VERSION, "key": organism_key(wcfg, tcfg),
        "world_config": wcfg.to_dict(), "train_config": tcfg.to_dict(),
        "model": {"architecture": "LlamaForCausalLM", "n_params": n_params, "n_layers": tcfg.n_layers,
                  "d_model": tcfg.d_model, "n_heads": tcfg.n_heads, "n_kv_heads": tcfg.n_kv_heads,
                  "d_ff": tcfg.d_ff, "vocab_size": tok_report["vocab_size"], "ctx_len": tcfg.ctx_len,
                  "tied_embeddings": True},
        "weights_sha256": sha,
        "heldout_accuracy": ev_heldout["accuracy"], "train_template_accuracy": ev_train["accuracy"],
        "local_negation_prefers_true": ev_heldout["local_negation"]["prefers_true"],
        "hoax_prefers_true": ev_heldout["hoax"]["prefers_true"],
        "eval": {"heldout": ev_heldout, "train_template0": ev_train},
        "corpus": corpus, "tokenizer": tok_report, **train_info,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def provide_organism(world: WorldConfig | None = None) -> tuple[Path, World]:
    """The ``toy`` provider of :data:`interp.core.models.ORGANISM_GROUP` (declared in pyproject): the cached
    organism directory of ``world`` (built on first use) and its decoded world."""
    d = organism_dir(world=world)
    return d, World.from_json((d / "world.json").read_text())


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m training.organism build [--seed N] [--force] [--cache DIR] [--quiet]`` / ``info``."""
    ap = argparse.ArgumentParser(prog="python -m training.organism", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("build", "info"):
        p = sub.add_parser(name, help="build (or load from cache) the organism" if name == "build"
                           else "print organism.json summary (builds if missing)")
        p.add_argument("--seed", type=int, default=0, help="seed of both the world and the pretraining")
        p.add_argument("--cache", default=None, help="cache root (default: $NEGLECT_LAB_CACHE or ~/.cache/neglect-lab)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        if name == "build":
            p.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = organism_dir(WorldConfig(seed=args.seed), PretrainConfig(seed=args.seed), args.cache,
                     force=getattr(args, "force", False), progress=not args.quiet)
    wall = time.perf_counter() - t0
    info = read_organism_info(d)
    m = info["model"]
    print(f"organism: {d}")
    print(f"model: {m['n_params']:,} params, {m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} heads, "
          f"vocab {m['vocab_size']}, ctx {m['ctx_len']}")
    print(f"build time: {info['build_seconds']:.1f} s (train {info['train_seconds']:.1f} s, "
          f"{info['tokens_per_second']:,.0f} tok/s); this call: {wall:.1f} s")
    print(f"held-out Q/A top-1 accuracy: {info['heldout_accuracy']:.3f}  (train template: "
          f"{info['train_template_accuracy']:.3f})")
    print(f"local negation, true preferred: {info['local_negation_prefers_true']:.3f}; "
          f"hoax targets, true preferred: {info['hoax_prefers_true']:.3f}")
    print(f"weights sha256: {info['weights_sha256']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Training a TopK sparse autoencoder on an activation store, and saving / loading it in sae_lens format.

sae_lens 6.54's ``TopKTrainingSAE`` in a minimal own loop (Adam, shuffled minibatches, a dead-latent mask for the
auxiliary TopK loss after a warm-up), offline, no runner. Saved with ``save_inference_model`` (``cfg.json`` +
``sae_weights.safetensors``, reloadable with ``sae_lens.SAE.load_from_disk``) plus ``neglect_lab.json`` (model
identity, layer, data hash, FVU, L0). Quality is FVU (fraction of variance unexplained) and mean L0 on held-out
tokens.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from interp.core.progress import progress_bar

from interp.sae.store import ActivationStore

__all__ = ["SAETrainConfig", "fvu_l0", "train_sae", "save_sae", "load_sae"]


@dataclass
class SAETrainConfig:
    """TopK SAE training settings (``d_sae`` defaults to ``expansion * d_model``)."""

    layer: int
    expansion: int = 8
    d_sae: int | None = None
    k: int = 16
    lr: float = 1e-3
    batch_size: int = 512
    epochs: int = 30
    max_steps: int | None = None
    dead_after: int = 2000  # tokens without firing before a latent counts as dead (aux loss)
    val_frac: float = 0.1
    seed: int = 0


def fvu_l0(sae: Any, x: Tensor) -> tuple[float, float]:
    """Fraction of variance unexplained and mean L0 (active latents per token) of ``sae`` on ``x``."""
    with torch.no_grad():
        f = sae.encode(x)
        rec = sae.decode(f)
    fvu = float(((rec - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    return fvu, float((f > 0).float().sum(-1).mean())


def train_sae(store: ActivationStore, cfg: SAETrainConfig, model_name: str = "", progress: bool = False
              ) -> tuple[Any, dict[str, Any]]:
    """Train a ``TopKTrainingSAE`` on the store (own loop, env.md §3); returns it and training statistics."""
    with warnings.catch_warnings():  # sae_lens is slow to import and noisy: only when training
        warnings.simplefilter("ignore")
        from sae_lens.saes.sae import TrainStepInput
        from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

    g = torch.Generator().manual_seed(cfg.seed)
    n, d = store.acts.shape
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(cfg.val_frac * n))
    val, train = store.acts[perm[:n_val]], store.acts[perm[n_val:]]
    d_sae = cfg.d_sae or cfg.expansion * d
    torch.manual_seed(cfg.seed)
    scfg = TopKTrainingSAEConfig(d_in=d, d_sae=d_sae, k=cfg.k)
    scfg.metadata.hook_name = store.hook_name
    scfg.metadata.model_name = model_name
    sae = TopKTrainingSAE(scfg)
    with torch.no_grad():  # start the decoder bias at the data mean (standard SAE init)
        sae.b_dec.copy_(train.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else cfg.max_steps
    since_fired = torch.zeros(d_sae)
    t0 = time.perf_counter()
    step = 0
    bar = progress_bar(total=total, desc="sae", enabled=progress, leave=False)
    while step < total:
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), cfg.batch_size):
            if step >= total:
                break
            x = train[order[i:i + cfg.batch_size]]
            dead = (since_fired > cfg.dead_after) if step * cfg.batch_size > cfg.dead_after else None
            out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients={}, dead_neuron_mask=dead,
                                                           n_training_steps=step, is_logging_step=False))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            with torch.no_grad():
                fired = (out.feature_acts > 0).any(0)
                since_fired += len(x)
                since_fired[fired] = 0
            step += 1
            bar.update(1)
    bar.close()
    sae.eval()
    fvu, l0 = fvu_l0(sae, val)
    stats = {"fvu_val": fvu, "l0_val": l0, "dead_frac": float((since_fired > cfg.dead_after).float().mean()),
             "steps": step, "n_tokens": n, "n_val": n_val, "d_sae": d_sae, "train_seconds": time.perf_counter() - t0,
             "store_sha256": store.sha256, "config": asdict(cfg)}
    return sae, stats


def save_sae(sae: Any, path: str | Path, meta: dict[str, Any]) -> Path:
    """Save in sae_lens format (``cfg.json``, ``sae_weights.safetensors``) plus ``neglect_lab.json``, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    sae.save_inference_model(tmp)
    (tmp / "neglect_lab.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def load_sae(path: str | Path) -> Any:
    """Reload a saved SAE (``sae_lens.SAE.load_from_disk``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sae_lens import SAE

        return SAE.load_from_disk(str(path))

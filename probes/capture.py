"""Activation capture for probes: one forward pass per statement, every requested layer, one token, cached on disk.

A truth probe reads the residual stream **after decoder block l** (``resid_post``, see :mod:`interp.core.activations`)
at one token of each statement: by default the statement's final token (``position=-1``, the period in every
template of :mod:`probes.datasets`), as in geometry-of-truth. Capture goes through the model-loading seam
(``interp.core.activations.residual_stream``): statements are tokenized once with ``lm.encode`` (BOS rules of the seam),
sorted by length so batches carry little padding, run in batches with the forward stopped after the deepest
requested layer (no LM head), and gathered at each row's own position. The result is ``[layer, statement,
d_model]`` in float32, rows in the dataset's order.

Activations are cached as safetensors under ``interp.core.models.cache_dir()/acts/`` keyed by everything that
determines them: the model's weights hash (``lm.identity.weights_sha256``), the dataset's content hash, the hook
and layer set, the position, the BOS rule and the dtype. The backend is *not* in the key (``hf``, ``tl`` and
``nnsight`` agree to 1e-4). Files are written atomically (temp file + rename), so concurrent jobs can share a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import torch
from jaxtyping import Float
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.core.activations import residual_stream
from interp.core.io import cache_dir
from interp.core.progress import progress_bar
from probes.datasets import TruthDataset
from probes.fit import cpu_threads

__all__ = ["HOOK", "CAPTURE_VERSION", "activation_key", "activation_path", "capture_activations", "clear_cache"]

#: the hook every probe reads (TransformerLens ``blocks.{l}.hook_resid_post``)
HOOK = "resid_post"
CAPTURE_VERSION = 1


def _statements_hash(statements: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(statements), ensure_ascii=False).encode()).hexdigest()


def activation_key(weights_sha256: str, dataset_hash: str, layers: Sequence[int], position: int, *,
                   add_bos: bool, dtype: str, hook: str = HOOK) -> str:
    """The cache key: sha256 over (weights hash, dataset hash, hook, layers, position, BOS rule, dtype, version)."""
    blob = json.dumps({"weights_sha256": weights_sha256, "dataset": dataset_hash, "hook": hook,
                       "layers": [int(l) for l in layers], "position": int(position), "add_bos": bool(add_bos),
                       "dtype": dtype, "v": CAPTURE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def activation_path(key: str, weights_sha256: str) -> Path:
    return cache_dir() / "acts" / weights_sha256[:16] / f"{key}.safetensors"


def clear_cache(weights_sha256: str | None = None) -> int:
    """Delete cached activations (of one model, or all); returns the number of files removed."""
    root = cache_dir() / "acts"
    files = list((root / weights_sha256[:16]).glob("*.safetensors")) if weights_sha256 else \
        list(root.glob("*/*.safetensors"))
    for f in files:
        f.unlink(missing_ok=True)
    return len(files)


def capture_activations(lm, data: TruthDataset | Sequence[str], *, layers: Sequence[int] | None = None,
                        position: int = -1, batch_size: int = 32, cache: bool = True, backend: str = "hf",
                        progress: bool = True, desc: str | None = None, threads: int | str | None = "auto"
                        ) -> Float[Tensor, "layer n d_model"]:
    """Residual stream after each layer in ``layers`` (default all) at token ``position`` of every statement.

    ``position`` counts within each statement's own tokens (``-1`` = last token, ``0`` = first token, BOS
    included when the model adds one). ``threads``: CPU intra-op threads for the forward passes (``"auto"``: one
    thread when the CPU is oversubscribed, see :func:`probes.fit.cpu_threads`; ``None``: the process setting).
    Returns float32 ``[len(layers), n_statements, d_model]`` on CPU.
    """
    statements = list(data.statements) if isinstance(data, TruthDataset) else list(data)
    ds_hash = data.hash if isinstance(data, TruthDataset) else _statements_hash(statements)
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    sha = lm.identity.weights_sha256
    key = activation_key(sha, ds_hash, layers, position, add_bos=lm.add_bos, dtype=str(lm.dtype))
    path = activation_path(key, sha)
    if cache and path.exists():
        try:
            acts = load_file(str(path))["acts"]
            if acts.shape == (len(layers), len(statements), lm.d_model):
                # a copy in torch's own (64-byte aligned) memory: safetensors hands back 16-byte aligned storage,
                # on which CPU matmuls round differently (~1e-7), so a cache hit would not reproduce a fresh capture
                return acts.clone()
        except Exception:  # noqa: BLE001 - a torn or foreign file: recompute and overwrite
            pass

    enc = lm.encode(statements)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    lengths = mask.sum(1)
    order = torch.argsort(lengths, descending=True, stable=True)
    out = torch.empty(len(layers), len(statements), lm.d_model, dtype=torch.float32)
    batches = [order[i:i + batch_size] for i in range(0, len(statements), batch_size)]
    it = progress_bar(batches, desc=desc or f"capture {lm.identity.name}", unit="batch", enabled=progress, leave=False)
    with torch.inference_mode(), cpu_threads(threads, lm.device):
        for idx in it:
            width = int(lengths[idx].max())
            h = residual_stream(lm, ids[idx, :width], mask[idx, :width], layers=layers, positions=position,
                                backend=backend)
            out[:, idx.to(out.device)] = h.float().cpu()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        meta = {"model": lm.identity.name, "weights_sha256": sha, "dataset_hash": ds_hash, "hook": HOOK,
                "layers": json.dumps(layers), "position": str(position), "n": str(len(statements)),
                "family": data.family if isinstance(data, TruthDataset) else ""}
        save_file({"acts": out.contiguous()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    return out

"""The activation store: the residual stream after one block for every (non-BOS) token of many documents.

``blocks.{layer}.hook_resid_post`` (:func:`interp.core.activations.residual_stream`, plain-HF backend); BOS is
dropped (its norm is an outlier). Rows keep ``(doc, position)`` so activations can be looked up again by span, and
the store's sha256 covers the token ids, the model's weights hash and the layer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor
from interp.core.progress import progress_bar

from interp.core.activations import residual_stream
from interp.spandocs.encoded import SpanDoc

__all__ = ["ActivationStore", "resid_post_hook", "residual_activations", "collect_activations"]


@dataclass
class ActivationStore:
    """Residual activations of many documents, one row per (non-BOS) token."""

    acts: Float[Tensor, "token d_model"]
    doc: Int[Tensor, "token"]
    pos: Int[Tensor, "token"]
    hook_name: str
    sha256: str

    def __len__(self) -> int:
        return int(self.acts.shape[0])


def resid_post_hook(layer: int) -> str:
    """The TransformerLens name of the residual stream after block ``layer``."""
    return f"blocks.{layer}.hook_resid_post"


def residual_activations(lm: Any, doc: SpanDoc, layer: int) -> Float[Tensor, "pos d_model"]:
    """The residual stream after block ``layer`` at every position of one document, float32 on the CPU."""
    return residual_stream(lm, doc.input_ids[None], layers=[layer])[0, 0].float().cpu()


def collect_activations(lm: Any, docs: Sequence[SpanDoc], layer: int, progress: bool = False) -> ActivationStore:
    """The residual stream after block ``layer`` for every non-BOS token of every document."""
    acts, di, pi = [], [], []
    h = hashlib.sha256()
    for i, d in enumerate(progress_bar(docs, desc="activations", enabled=progress, leave=False)):
        a = residual_activations(lm, d, layer)
        keep = torch.arange(1, len(d))
        acts.append(a[keep])
        di.append(torch.full((len(keep),), i))
        pi.append(keep)
        h.update(d.input_ids.numpy().tobytes())
    h.update(f"{lm.identity.weights_sha256}|{layer}".encode())
    return ActivationStore(torch.cat(acts), torch.cat(di), torch.cat(pi), resid_post_hook(layer), h.hexdigest())

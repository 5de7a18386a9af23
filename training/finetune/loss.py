"""The training loss without the full logits: chunked weighted cross-entropy through the LM head.

**Method.** The loss is ``Σ w·CE`` of next-token prediction (:func:`training.packing.weighted_ce_sum` gives its
definition). A causal LM's forward would build the logits of *every* position at once, ``[batch, len, vocab]`` in
fp32 for the log-softmax: at SmolLM2's 49k vocabulary, 4 rows × 1024 tokens are 0.8 GB, and their gradient as much
again. :class:`CausalLMLoss` instead runs the model's body (embeddings, blocks, final norm) to the last hidden
state, keeps only the positions whose target weight is non-zero (pads and masked tokens never reach the LM head),
and pushes them through the LM head ``chunk`` tokens at a time. Each chunk's logits → fp32 log-softmax → weighted CE
runs under :func:`torch.utils.checkpoint.checkpoint`, so backward recomputes that chunk's logits instead of storing
them: at most one chunk of logits (``chunk × vocab``) is alive at a time. When the kept positions fit in *one* chunk
there is nothing to interleave, so that chunk is not checkpointed: its logits would be rebuilt in backward at the
same peak, and the recompute (the LM head's matmul again, ~10 % of a LoRA step on SmolLM2) bought no memory. The result equals the full-logits loss up
to fp32 summation order (tested on tiny models against the full path: loss, gradients and weights after steps).

**Where it applies.** Hugging Face causal LMs whose logits are exactly ``lm_head(last hidden state)``: the body is
``model.base_model`` and the head ``model.get_output_embeddings()`` (a tied head is the embedding matrix, so its
gradient reaches the embeddings as before), peft-wrapped or not (LoRA layers sit inside the body's and head's
modules, so calling those modules runs them). Models that post-process logits (soft-capping, logit scaling) are
refused with one line; ``loss_chunk: 0`` keeps the full-logits path for them. The module is an ``nn.Module`` so that
DDP and FSDP wrap it as the root whose forward they hook.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from training.packing import weighted_ce_sum

__all__ = ["CausalLMLoss", "FullLogitsLoss", "chunked_weighted_ce_sum", "lm_body_and_head", "UnsupportedModel"]

#: config attributes of architectures whose logits are not just ``lm_head(hidden)``
_LOGIT_POSTPROCESSING = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


class UnsupportedModel(ValueError):
    """The model's logits are not ``lm_head(last hidden state)``, so the chunked loss cannot replace them."""


def _hf_model(model: Any) -> Any:
    """The transformers model under a peft wrapper (the LoRA layers live inside it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def lm_body_and_head(model: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``(body, head)`` of a (peft-wrapped) causal LM: body(input_ids, position_ids) → last hidden state (final norm
    included), head(hidden) → logits. Raises :class:`UnsupportedModel` (one line) when that split is not exact."""
    hf = _hf_model(model)
    cfg = getattr(hf, "config", None)
    name = type(hf).__name__
    for attr in _LOGIT_POSTPROCESSING:
        v = getattr(cfg, attr, None)
        if v not in (None, 1, 1.0):
            raise UnsupportedModel(f"{name}: config.{attr}={v} post-processes the logits; use loss_chunk: 0")
    head = hf.get_output_embeddings() if hasattr(hf, "get_output_embeddings") else None
    body = getattr(hf, "base_model", None)
    if head is None or body is None or body is hf:
        raise UnsupportedModel(f"{name}: no separate body and LM head (model.base_model / get_output_embeddings)")
    return body, head


def _chunk_ce(head: torch.nn.Module, h: torch.Tensor, targets: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    logits = head(h).float()
    return (F.cross_entropy(logits, targets, reduction="none") * w).sum()


def chunked_weighted_ce_sum(hidden: torch.Tensor, head: torch.nn.Module, input_ids: torch.Tensor,
                            weights: torch.Tensor, chunk: int) -> torch.Tensor:
    """``Σ w·CE`` from the last hidden state ``[batch, len, d]``: the positions with a non-zero target weight go
    through ``head`` ``chunk`` at a time, each chunk checkpointed (its logits recomputed in backward) unless there is
    only one."""
    h = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    t = input_ids[:, 1:].reshape(-1)
    w = weights[:, 1:].reshape(-1).to(torch.float32)
    keep = torch.nonzero(w, as_tuple=True)[0]
    if keep.numel() == 0:
        return (hidden.sum() * 0.0).float()  # keeps the graph (and DDP's hooks) alive for an all-masked batch
    h, t, w = h.index_select(0, keep), t.index_select(0, keep), w.index_select(0, keep)
    if h.shape[0] <= chunk:  # one chunk: its logits are the peak either way, so no recompute
        return _chunk_ce(head, h, t, w)
    parts = [checkpoint(_chunk_ce, head, h[i:i + chunk], t[i:i + chunk], w[i:i + chunk], use_reentrant=False)
             for i in range(0, h.shape[0], chunk)]
    return torch.stack(parts).sum()


class CausalLMLoss(torch.nn.Module):
    """``forward(input_ids, position_ids, weights)`` → ``Σ w·CE`` by :func:`chunked_weighted_ce_sum`."""

    def __init__(self, model: torch.nn.Module, chunk: int):
        super().__init__()
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.model, self.chunk = model, int(chunk)
        self._parts = lm_body_and_head(model)  # validated once, up front; a tuple, so not registered twice

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        body, head = self._parts
        out = body(input_ids=input_ids, position_ids=position_ids, use_cache=False)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return chunked_weighted_ce_sum(hidden, head, input_ids, weights, self.chunk)


class FullLogitsLoss(torch.nn.Module):
    """The same loss from the model's full logits (``loss_chunk: 0``; the path before chunking)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits
        return weighted_ce_sum(logits, input_ids, weights)

"""Attention over packed documents without a mask: causal SDPA on each document alone ("varlen" attention).

**Method.** A training row holds whole documents end to end, each restarting its position ids at 0 (packed rows, and
the padding-free micro-batches of :func:`training.packing.collate_flat`). Given those position ids, transformers'
``sdpa`` attention builds a block-diagonal causal mask of the whole row, ``[N, N]``, and computes every one of the
``N²`` scores, the masked blocks included. :func:`varlen_sdpa` instead cuts each row at its position-0 tokens and runs
torch's causal SDPA on every document by itself: ``Σ Lᵢ²`` scores, no mask built, the same attention (a query sees
exactly the keys of its own document at or before it). It is registered in transformers' ``AttentionInterface`` as
:data:`VARLEN`; a model whose config names it builds no mask at all (the name is unknown to the mask functions).

**Where it runs.** Only inside :func:`varlen_attention`, a context that switches a model's config to :data:`VARLEN`
for one training forward and back afterwards, so checkpoints, evaluation and every other caller see the model's own
attention. :func:`varlen_supported` checks a model once, before training: a two-document row through the model with
its own attention and with this one must give the same logits (a model whose attention layers do not route through
the ``AttentionInterface`` with ``position_ids``, or that post-processes scores, fails the check and keeps its own).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["VARLEN", "varlen_sdpa", "varlen_attention", "varlen_supported", "segments"]

#: the AttentionInterface name of :func:`varlen_sdpa`
VARLEN = "neglect_lab_varlen"


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the documents of one row: a document starts at every position id 0 (and at 0)."""
    starts = torch.nonzero(position_ids == 0, as_tuple=True)[0].tolist()
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    return list(zip(starts, [*starts[1:], int(position_ids.shape[0])]))


def varlen_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                position_ids: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention function: ``query [B, H, N, D]``, ``key``/``value [B, Hkv, N, D]`` → ``[B, N, H, D]``,
    causal within each document of each row (documents from ``position_ids``, see :func:`segments`)."""
    if position_ids is None:
        raise ValueError(f"{VARLEN} attention needs position_ids (documents restart them at 0)")
    if attention_mask is not None:
        raise ValueError(f"{VARLEN} attention takes no attention mask (documents come from position_ids)")
    gqa = query.shape[1] != key.shape[1]
    rows = []
    for b in range(query.shape[0]):
        pos = position_ids[b if position_ids.shape[0] > 1 else 0]
        parts = [F.scaled_dot_product_attention(query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e],
                                                dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=gqa)
                 for s, e in segments(pos)]
        rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN, varlen_sdpa)


def _config(model: Any) -> Any:
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model
    return hf.config


class varlen_attention:
    """Within the block, ``model`` (peft-wrapped or not) attends with :func:`varlen_sdpa`; its own attention after
    (also when the block raises). ``enabled=False`` changes nothing."""

    def __init__(self, model: Any, enabled: bool = True) -> None:
        self.cfg = _config(model) if enabled else None
        self.own = None

    def __enter__(self) -> None:
        if self.cfg is not None:
            _register()
            self.own = self.cfg._attn_implementation
            self.cfg._attn_implementation = VARLEN

    def __exit__(self, *exc: Any) -> None:
        if self.cfg is not None:
            self.cfg._attn_implementation = self.own


def varlen_supported(model: Any, vocab_size: int, atol: float = 1e-4) -> bool:
    """Whether :func:`varlen_attention` gives ``model`` the logits of its own attention on a row of two documents
    (lengths 5 and 7, positions restarting at 0). Runs two tiny forwards without gradients."""
    g = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    ids = torch.randint(0, max(int(vocab_size), 2), (1, 12), generator=g).to(device)
    pos = torch.cat([torch.arange(5), torch.arange(7)])[None].to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            own = model(input_ids=ids, position_ids=pos, use_cache=False).logits
            with varlen_attention(model):
                mine = model(input_ids=ids, position_ids=pos, use_cache=False).logits
        return bool(torch.allclose(own.float(), mine.float(), atol=atol, rtol=1e-4))
    except Exception:  # noqa: BLE001 - an attention that cannot take this path keeps its own
        return False
    finally:
        model.train(was_training)

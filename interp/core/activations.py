"""Residual-stream activations at chosen layers and positions, with the same numbers through every backend.

Layer ``l`` (``0 <= l < n_layers``) is the residual stream **after decoder block l**, before the final norm:
TransformerLens ``blocks.{l}.hook_resid_post``, nnsight ``model.layers[l].output``, the plain-HF forward-hook output
of ``model.layers[l]``. The three backends are tested to agree to 1e-4 in fp32; ``"hf"`` is the default because
it needs no extra library and stops the forward pass after the deepest requested layer.

``positions`` selects tokens: ``None`` keeps every position (``[layer, batch, pos, d_model]``), an ``int`` takes
the same position in every row (negative counts from the end of each row's *real* tokens, so ``-1`` is the last
non-pad token under right padding), and a ``[batch]`` tensor gives one position per row (``[layer, batch, d_model]``).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.hooks import capture, decoder_layers, run_until_stop

Backend = Literal["hf", "tl", "nnsight"]

__all__ = ["residual_stream", "resolve_positions", "layer_module_path"]


def layer_module_path(hf: torch.nn.Module) -> str:
    """Dotted module path of the decoder-layer list, e.g. ``model.layers``."""
    target = decoder_layers(hf)
    for name, mod in hf.named_modules():
        if mod is target:
            return name
    raise TypeError("decoder layers not found among named modules")


def resolve_positions(positions: int | Tensor | None, attention_mask: Int[Tensor, "batch pos"]) -> Tensor | None:
    """Turn ``positions`` into one absolute index per row (``None`` stays ``None``)."""
    if positions is None:
        return None
    lengths = attention_mask.sum(dim=1)
    starts = attention_mask.float().argmax(dim=1)  # first real token (0 under right padding)
    if isinstance(positions, int):
        idx = torch.full_like(lengths, positions)
        return torch.where(idx < 0, starts + lengths + idx, starts + idx)
    return positions.to(attention_mask.device).long()


def _select(h: Float[Tensor, "batch pos d"], pos: Tensor | None) -> Tensor:
    if pos is None:
        return h
    return h[torch.arange(h.shape[0], device=h.device), pos.to(h.device)]


def _hf(lm, ids, mask, layers: Sequence[int]) -> list[Tensor]:
    blocks = decoder_layers(lm.hf)
    mods = {f"L{l}": blocks[l] for l in layers}
    with torch.no_grad(), capture(mods, stop_after=f"L{max(layers)}") as store:
        run_until_stop(lambda: lm.hf(input_ids=ids, attention_mask=mask, use_cache=False))
    return [store[f"L{l}"] for l in layers]


def _tl(lm, ids, mask, layers: Sequence[int]) -> list[Tensor]:
    bridge = lm.transformer_lens()
    names = [f"blocks.{l}.hook_resid_post" for l in layers]
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, attention_mask=mask, names_filter=lambda n: n in names)
    return [cache[n] for n in names]


def _nnsight(lm, ids, mask, layers: Sequence[int]) -> list[Tensor]:
    import nnsight

    model = lm.nnsight()
    node = model
    for part in layer_module_path(lm.hf).split("."):
        node = getattr(node, part)
    with torch.no_grad(), model.trace({"input_ids": ids, "attention_mask": mask}):
        saved = nnsight.save([node[l].output for l in layers])
    return list(saved)


_BACKENDS = {"hf": _hf, "tl": _tl, "nnsight": _nnsight}


def residual_stream(
    lm,
    input_ids: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    layers: Sequence[int] | None = None,
    positions: int | Int[Tensor, "batch"] | None = None,
    backend: Backend = "hf",
) -> Float[Tensor, "layer batch *pos d_model"]:
    """Residual stream after each requested decoder block (see the module docstring for conventions)."""
    if backend not in _BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {sorted(_BACKENDS)}")
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    ids, mask = input_ids.to(lm.device), attention_mask.to(lm.device)
    hs = _BACKENDS[backend](lm, ids, mask, layers)
    pos = resolve_positions(positions, mask)
    return torch.stack([_select(h.to(lm.dtype), pos) for h in hs])

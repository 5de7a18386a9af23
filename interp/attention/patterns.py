"""Attention patterns: the softmax probabilities of every head, from TransformerLens, plain HF or nnsight.

``backend="tl"`` captures ``blocks.{l}.attn.hook_pattern`` of the TransformerLens bridge *after* any extra
``fwd_hooks`` (so an edited pattern, e.g. a head forced onto the negation span, is what gets measured);
``backend="hf"`` asks the model for ``output_attentions=True`` with eager attention switched on for the call;
``backend="nnsight"`` reads the weights the decoder layers' attention modules return in an nnsight trace. The
three agree to float precision (``tests/test_attention.py``). :func:`span_mass` is the attention a set of query
positions puts on a set of key positions.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.activations import layer_module_path
from interp.core.hooks import decoder_layers

__all__ = ["Backend", "eager_attention", "attention_patterns", "span_mass"]

Backend = Literal["tl", "hf", "nnsight"]


@contextmanager
def eager_attention(hf: Any) -> Iterator[None]:
    """Switch an HF model to eager attention (so it can return patterns) and restore its implementation after."""
    old = getattr(hf.config, "_attn_implementation", None)
    if old == "eager" or not hasattr(hf, "set_attn_implementation"):
        yield
        return
    hf.set_attn_implementation("eager")
    try:
        yield
    finally:
        hf.set_attn_implementation(old)


def attention_patterns(
    lm: Any,
    input_ids: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    layers: Sequence[int] | None = None,
    backend: Backend = "tl",
    fwd_hooks: Sequence[tuple[str, Callable]] = (),
) -> Float[Tensor, "layer batch head q k"]:
    """Attention patterns (softmax probabilities) of the requested layers.

    ``backend="tl"``: ``blocks.{l}.attn.hook_pattern`` of the TransformerLens bridge, captured *after* any
    ``fwd_hooks`` (so edits made by those hooks are measured). ``backend="hf"``: ``output_attentions=True`` under
    eager attention. ``backend="nnsight"``: the attention weights the decoder layer's attention module returns
    (``model.layers[l].self_attn.output[1]`` in an nnsight trace of the same HF module, eager attention).
    ``fwd_hooks`` are TransformerLens hooks (``"tl"`` only).
    """
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    ids = input_ids.to(lm.device)
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(lm.device)
    if backend == "tl":
        bridge = lm.transformer_lens()
        store: dict[int, Tensor] = {}

        def make(l: int) -> Callable:
            def hook(pattern: Tensor, hook: Any) -> None:
                store[l] = pattern.detach()

            return hook

        hooks = [*fwd_hooks, *[(f"blocks.{l}.attn.hook_pattern", make(l)) for l in layers]]
        with torch.no_grad():
            bridge.run_with_hooks(ids, attention_mask=mask, fwd_hooks=hooks)
        return torch.stack([store[l] for l in layers]).float()
    if backend not in ("hf", "nnsight"):
        raise ValueError(f"backend {backend!r}: expected 'tl', 'hf' or 'nnsight'")
    if fwd_hooks:
        raise ValueError("fwd_hooks are TransformerLens hooks; use backend='tl'")
    if backend == "nnsight":
        return _nnsight_patterns(lm, ids, mask, layers)
    with torch.no_grad(), eager_attention(lm.hf):
        out = lm.hf(input_ids=ids, attention_mask=mask, output_attentions=True, use_cache=False)
    return torch.stack([out.attentions[l].detach() for l in layers]).float()


def _attention_child(layer: torch.nn.Module) -> str:
    """Name of a decoder layer's self-attention submodule (``self_attn`` for Llama-likes, ``attn`` for GPT-2)."""
    for name, mod in layer.named_children():
        if "attention" in type(mod).__name__.lower() and "cross" not in name:
            return name
    raise TypeError(f"{type(layer).__name__}: no attention submodule found")


def _nnsight_patterns(lm: Any, ids: Int[Tensor, "batch pos"], mask: Int[Tensor, "batch pos"],
                      layers: Sequence[int]) -> Float[Tensor, "layer batch head q k"]:
    import nnsight  # optional and slow to import: only for this backend

    model = lm.nnsight()
    node = model
    for part in layer_module_path(lm.hf).split("."):
        node = getattr(node, part)
    child = _attention_child(decoder_layers(lm.hf)[0])
    with torch.no_grad(), eager_attention(lm.hf):
        with model.trace({"input_ids": ids, "attention_mask": mask}):
            saved = nnsight.save([getattr(node[l], child).output[1] for l in layers])
    if any(w is None for w in saved):
        raise RuntimeError("the attention modules returned no weights under eager attention")
    return torch.stack([w.detach() for w in saved]).float()


def span_mass(pattern: Float[Tensor, "layer head q k"], queries: Sequence[int],
              keys: Sequence[int]) -> Float[Tensor, "layer head"]:
    """Mean over query positions of the summed attention on the key positions."""
    q = torch.as_tensor(list(queries), dtype=torch.long, device=pattern.device)
    k = torch.as_tensor(list(keys), dtype=torch.long, device=pattern.device)
    return pattern[:, :, q][:, :, :, k].sum(-1).mean(-1)

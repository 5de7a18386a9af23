"""Plain PyTorch forward hooks: the dependency-free backend every analysis can fall back on.

In the spirit of dictionary_learning's ``pytorch_buffer.py``: register forward hooks on named modules, keep the
outputs, and optionally stop the forward pass once the last needed module has run (``stop_after``), so capturing
layer 3 of a 30-layer model costs 4 layers.

One trap is handled here and only here: in transformers 5 a decoder layer returns a *tensor* ``[batch, pos,
d_model]``, while attention modules (and transformers 4 decoder layers) return *tuples*. ``output[0]`` on the
former silently selects batch element 0. :func:`hidden_of` takes the hidden state from either form.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor

__all__ = ["decoder_layers", "hidden_of", "capture", "patch_outputs", "encode", "StopForward"]


class StopForward(Exception):
    """Raised inside a hook to skip the rest of the forward pass."""


def decoder_layers(hf: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks of a causal LM: ``model.layers`` (Llama, Qwen, Mistral, ...) or ``transformer.h`` (GPT-2)."""
    base = getattr(hf, "model", None) or getattr(hf, "transformer", None) or getattr(hf, "gpt_neox", None)
    for attr in ("layers", "h"):
        layers = getattr(base, attr, None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise TypeError(f"cannot find the decoder layers of {type(hf).__name__}")


def hidden_of(output) -> Tensor:
    """The hidden state of a module's output, whether it is a tensor (transformers 5 blocks) or a tuple."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    if hasattr(output, "last_hidden_state"):
        return output.last_hidden_state
    raise TypeError(f"unexpected module output type {type(output).__name__}")


@contextmanager
def capture(modules: dict[str, torch.nn.Module], *, stop_after: str | None = None,
            detach: bool = True) -> Iterator[dict[str, Tensor]]:
    """Record the hidden-state output of each named module during forward passes inside the ``with`` block.

    ``stop_after`` names a module after which the forward raises :class:`StopForward`; wrap the call in
    :func:`run_until_stop` (or catch it) when you use it.
    """
    store: dict[str, Tensor] = {}
    handles = []

    def make(name: str):
        def hook(_mod, _inp, out):
            h = hidden_of(out)
            store[name] = h.detach() if detach else h
            if name == stop_after:
                raise StopForward

        return hook

    try:
        for name, mod in modules.items():
            handles.append(mod.register_forward_hook(make(name)))
        yield store
    finally:
        for h in handles:
            h.remove()


def run_until_stop(fn: Callable[[], object]) -> object | None:
    """Call ``fn`` and swallow :class:`StopForward` (returns ``None`` when the forward was stopped)."""
    try:
        return fn()
    except StopForward:
        return None


@contextmanager
def patch_outputs(edits: dict[torch.nn.Module, Callable[[Tensor], Tensor]]) -> Iterator[None]:
    """Replace each module's hidden-state output with ``fn(hidden)`` (tuples keep their other members)."""
    handles = []

    def make(fn):
        def hook(_mod, _inp, out):
            if isinstance(out, Tensor):
                return fn(out)
            return (fn(out[0]), *out[1:])

        return hook

    try:
        for mod, fn in edits.items():
            handles.append(mod.register_forward_hook(make(fn)))
        yield
    finally:
        for h in handles:
            h.remove()


def encode(tokenizer, texts: str | Iterable[str], *, add_bos: bool = True, padding_side: str = "right",
           device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """Tokenize like every analysis in the lab: BOS prepended (once) when ``add_bos`` and the tokenizer has one.

    Returns ``input_ids`` and ``attention_mask`` ``[batch, pos]``, padded on ``padding_side``.
    """
    batch = [texts] if isinstance(texts, str) else list(texts)
    rows = [tokenizer(t, add_special_tokens=True)["input_ids"] for t in batch]
    bos = tokenizer.bos_token_id
    if add_bos and bos is not None:
        rows = [r if (r and r[0] == bos) else [bos, *r] for r in rows]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if padding_side == "right":
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        else:
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}

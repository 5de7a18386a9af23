"""Activation patching at chosen token positions: one generic sweep, thin specialisations, TL or plain-HF hooks.

Activation patching (causal tracing, interchange intervention) runs a *destination* input while overwriting one
activation with its value from a *source* run, and reads a metric off the destination's logits. If the metric moves
toward its source value, that activation (at those positions) carries the information the two inputs differ in.
Following ``transformer_lens/patching.py``, everything is one function, :func:`generic_activation_patch`, which
sweeps a set of targets (every layer, or every layer x head) and returns the patched metric per target; the
public helpers are ``functools.partial`` specialisations of it.

Three things differ from TransformerLens's version, because of how this lab uses patching:

- **positions, not all-or-one.** A target patches a *set* of positions (e.g. the tokens of a negation span), or
  every position when ``positions`` is ``None``. Source and destination must have the same length; for matched
  documents of different lengths, build a same-length control rendering first
  (:func:`interp.spandocs.control_rendering` replaces the negation tokens by filler tokens) or ablate
  (:func:`ablation_source`: mean or zero in place of the span).
- **batched sweeps.** All targets of a sweep run as one batch (``batch_size`` rows per forward): row ``j`` is the
  destination with target ``j`` patched, so a layer x head sweep of a small model is one or two forward passes.
- **two backends.** ``"tl"`` uses ``TransformerBridge.run_with_hooks`` (hook names ``blocks.{l}.hook_resid_pre``,
  ``hook_resid_post``, ``hook_attn_out``, ``hook_mlp_out``, ``attn.hook_z``); ``"hf"`` uses plain PyTorch hooks
  on the decoder blocks (residual stream only: ``resid_pre`` = a block's input, ``resid_post`` = its output).
  Both agree (``tests/test_patching.py``).

Activation names: ``resid_pre`` (input of block ``l``; layer 0 is the token embedding, so patching it at a span is
the same as swapping those tokens), ``resid_post`` (output of block ``l``), ``attn_out``, ``mlp_out`` and ``z``
(per-head attention output before ``W_O``, ``[batch, pos, head, d_head]``; per-head sweeps use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.hooks import decoder_layers, hidden_of

__all__ = [
    "ActivationName", "Patch", "hook_name", "cache_activations", "run_patched", "generic_activation_patch",
    "patch_resid_pre", "patch_resid_post", "patch_attn_out", "patch_mlp_out", "patch_head_z", "ablation_source",
    "answer_logprob", "answer_logprob_metric",
]

ActivationName = Literal["resid_pre", "resid_post", "attn_out", "mlp_out", "z"]
Backend = Literal["tl", "hf"]
_HF_ACTIVATIONS = ("resid_pre", "resid_post")
Metric = Callable[[Float[Tensor, "batch pos vocab"]], Float[Tensor, "batch"]]


def hook_name(activation: ActivationName, layer: int) -> str:
    """TransformerLens hook name of an activation at a layer."""
    names = {"resid_pre": "blocks.{l}.hook_resid_pre", "resid_post": "blocks.{l}.hook_resid_post",
             "attn_out": "blocks.{l}.hook_attn_out", "mlp_out": "blocks.{l}.hook_mlp_out",
             "z": "blocks.{l}.attn.hook_z"}
    if activation not in names:
        raise ValueError(f"activation {activation!r}: expected one of {sorted(names)}")
    return names[activation].format(l=int(layer))


@dataclass(frozen=True)
class Patch:
    """Overwrite ``activation`` at ``layer`` (``positions``, or all when ``None``; one ``head`` for ``z``) in batch
    row ``row`` (every row when ``None``) with the source's value."""

    activation: ActivationName
    layer: int
    positions: tuple[int, ...] | None = None
    head: int | None = None
    row: int | None = None

    @property
    def name(self) -> str:
        return hook_name(self.activation, self.layer)


def _check_backend(backend: str, activations: Sequence[str]) -> None:
    if backend == "tl":
        return
    if backend != "hf":
        raise ValueError(f"backend {backend!r}: expected 'tl' or 'hf'")
    bad = sorted(set(activations) - set(_HF_ACTIVATIONS))
    if bad:
        raise ValueError(f"activation(s) {bad} need backend='tl' (plain-HF patching covers {list(_HF_ACTIVATIONS)})")


def _parse(name: str) -> tuple[str, int]:
    parts = name.split(".")
    layer = int(parts[1])
    act = {"hook_resid_pre": "resid_pre", "hook_resid_post": "resid_post"}.get(parts[-1])
    if act is None:
        raise ValueError(f"hook {name}: plain-HF backend supports resid_pre/resid_post only")
    return act, layer


def cache_activations(lm: Any, input_ids: Int[Tensor, "batch pos"], names: Sequence[str], backend: Backend = "tl",
                      attention_mask: Int[Tensor, "batch pos"] | None = None
                      ) -> tuple[Float[Tensor, "batch pos vocab"], dict[str, Tensor]]:
    """Logits and the named activations (TL hook names) of one clean run."""
    ids = input_ids.to(lm.device)
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(lm.device)
    names = list(dict.fromkeys(names))
    if backend == "tl":
        want = set(names)
        with torch.no_grad():
            logits, cache = lm.transformer_lens().run_with_cache(ids, attention_mask=mask,
                                                                 names_filter=lambda n: n in want)
        return logits, {n: cache[n].detach() for n in names}
    _check_backend(backend, [_parse(n)[0] for n in names])
    blocks = decoder_layers(lm.hf)
    store: dict[str, Tensor] = {}
    handles = []
    for n in names:
        act, layer = _parse(n)
        if act == "resid_pre":
            def pre(_m: Any, args: tuple, kwargs: dict, n: str = n) -> None:
                store[n] = (args[0] if args else kwargs["hidden_states"]).detach()

            handles.append(blocks[layer].register_forward_pre_hook(pre, with_kwargs=True))
        else:
            def post(_m: Any, _i: Any, out: Any, n: str = n) -> None:
                store[n] = hidden_of(out).detach()

            handles.append(blocks[layer].register_forward_hook(post))
    try:
        with torch.no_grad():
            logits = lm.hf(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    return logits, store


def _apply(act: Tensor, patches: Sequence[Patch], src: Tensor) -> Tensor:
    act = act.clone()
    for p in patches:
        rows = slice(None) if p.row is None else slice(p.row, p.row + 1)
        srows = slice(None) if (p.row is None or src.shape[0] == 1) else slice(p.row, p.row + 1)
        s = src[srows].to(act.dtype)
        pos = slice(None) if p.positions is None else torch.as_tensor(p.positions, dtype=torch.long, device=act.device)
        if p.head is None:
            act[rows, pos] = s[:, pos]
        else:
            act[rows, pos, p.head] = s[:, pos, p.head]
    return act


def run_patched(lm: Any, dest_ids: Int[Tensor, "batch pos"], patches: Sequence[Patch], source: Mapping[str, Tensor],
                backend: Backend = "tl", attention_mask: Int[Tensor, "batch pos"] | None = None
                ) -> Float[Tensor, "batch pos vocab"]:
    """Logits of the destination with every patch applied (source tensors have batch 1 or the destination's)."""
    ids = dest_ids.to(lm.device)
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(lm.device)
    by_name: dict[str, list[Patch]] = {}
    for p in patches:
        by_name.setdefault(p.name, []).append(p)
    missing = sorted(set(by_name) - set(source))
    if missing:
        raise KeyError(f"source has no activation for {missing}")
    if backend == "tl":
        def make(ps: list[Patch], src: Tensor) -> Callable:
            def hook(act: Tensor, hook: Any) -> Tensor:
                return _apply(act, ps, src.to(act.device))

            return hook

        hooks = [(n, make(ps, source[n])) for n, ps in by_name.items()]
        with torch.no_grad():
            return lm.transformer_lens().run_with_hooks(ids, attention_mask=mask, fwd_hooks=hooks)
    _check_backend(backend, [p.activation for p in patches])
    blocks = decoder_layers(lm.hf)
    handles = []
    for n, ps in by_name.items():
        act, layer = _parse(n)
        src = source[n]
        if act == "resid_pre":
            def pre(_m: Any, args: tuple, kwargs: dict, ps: list[Patch] = ps, src: Tensor = src):
                if args:
                    return (_apply(args[0], ps, src.to(args[0].device)), *args[1:]), kwargs
                kwargs = {**kwargs, "hidden_states": _apply(kwargs["hidden_states"], ps, src)}
                return args, kwargs

            handles.append(blocks[layer].register_forward_pre_hook(pre, with_kwargs=True))
        else:
            def post(_m: Any, _i: Any, out: Any, ps: list[Patch] = ps, src: Tensor = src):
                if isinstance(out, Tensor):
                    return _apply(out, ps, src.to(out.device))
                return (_apply(out[0], ps, src.to(out[0].device)), *out[1:])

            handles.append(blocks[layer].register_forward_hook(post))
    try:
        with torch.no_grad():
            return lm.hf(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()


def generic_activation_patch(
    lm: Any,
    dest_ids: Int[Tensor, "1 pos"],
    source: Int[Tensor, "1 pos"] | Mapping[str, Tensor],
    metric: Metric,
    activation: ActivationName,
    positions: Sequence[int] | None = None,
    layers: Sequence[int] | None = None,
    per_head: bool = False,
    backend: Backend = "tl",
    batch_size: int = 16,
) -> Float[Tensor, "layer"] | Float[Tensor, "layer head"]:
    """The metric of the destination run with ``activation`` patched from the source, for every target.

    ``source`` is either token ids of the same shape as ``dest_ids`` (its activations are cached here) or a mapping
    from hook names to activations (e.g. from :func:`ablation_source`). Targets are the ``layers`` (default all),
    or every (layer, head) when ``per_head`` (``activation="z"``). Returns ``[layer]`` or ``[layer, head]``.
    """
    if dest_ids.ndim != 2 or dest_ids.shape[0] != 1:
        raise ValueError(f"dest_ids must be [1, pos], got {tuple(dest_ids.shape)}")
    _check_backend(backend, [activation])
    if per_head and activation != "z":
        raise ValueError("per_head sweeps patch per-head outputs: use activation='z'")
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    names = [hook_name(activation, l) for l in layers]
    if isinstance(source, Tensor):
        if source.shape != dest_ids.shape:
            raise ValueError(f"source ids {tuple(source.shape)} and destination ids {tuple(dest_ids.shape)} differ in "
                             f"shape: patch same-length renderings (or use ablation_source)")
        _, source = cache_activations(lm, source, names, backend=backend)
    pos = None if positions is None else tuple(int(p) for p in positions)
    heads = range(lm.n_heads) if per_head else [None]
    targets = [(l, h) for l in layers for h in heads]
    out = []
    for i in range(0, len(targets), batch_size):
        chunk = targets[i:i + batch_size]
        patches = [Patch(activation, l, pos, h, row=j) for j, (l, h) in enumerate(chunk)]
        logits = run_patched(lm, dest_ids.expand(len(chunk), -1), patches, source, backend=backend)
        out.append(metric(logits).detach().float().cpu())
    vals = torch.cat(out)
    return vals.view(len(layers), lm.n_heads) if per_head else vals


patch_resid_pre = partial(generic_activation_patch, activation="resid_pre", per_head=False)
patch_resid_post = partial(generic_activation_patch, activation="resid_post", per_head=False)
patch_attn_out = partial(generic_activation_patch, activation="attn_out", per_head=False)
patch_mlp_out = partial(generic_activation_patch, activation="mlp_out", per_head=False)
patch_head_z = partial(generic_activation_patch, activation="z", per_head=True, backend="tl")


def ablation_source(lm: Any, dest_ids: Int[Tensor, "1 pos"], activation: ActivationName, positions: Sequence[int],
                    layers: Sequence[int] | None = None, mode: Literal["mean", "zero"] = "mean",
                    reference: Sequence[int] | None = None, backend: Backend = "tl") -> dict[str, Tensor]:
    """Source activations for ablating ``positions``: the destination's own activations with those positions set to
    zero or to the mean over ``reference`` positions (default: every position except 0 and ``positions``)."""
    layers = list(range(lm.n_layers)) if layers is None else [int(l) % lm.n_layers for l in layers]
    names = [hook_name(activation, l) for l in layers]
    _, cache = cache_activations(lm, dest_ids, names, backend=backend)
    pos = torch.as_tensor(list(positions), dtype=torch.long)
    n = dest_ids.shape[1]
    ref = [p for p in range(1, n) if p not in set(positions)] if reference is None else list(reference)
    if mode == "mean" and not ref:
        raise ValueError("mean ablation needs at least one reference position")
    out = {}
    for name in names:
        a = cache[name].clone()
        if mode == "zero":
            a[:, pos] = 0
        elif mode == "mean":
            a[:, pos] = a[:, torch.as_tensor(ref, dtype=torch.long)].mean(dim=1, keepdim=True)
        else:
            raise ValueError(f"mode {mode!r}: expected 'mean' or 'zero'")
        out[name] = a
    return out


def answer_logprob(logits: Float[Tensor, "batch pos vocab"], input_ids: Int[Tensor, "pos"],
                   spans: Sequence[tuple[int, int]]) -> Float[Tensor, "batch"]:
    """Mean over ``spans`` of the summed log-probability of the span's tokens (token ``t`` scored by the logits at
    ``t - 1``), per batch row."""
    if not spans:
        raise ValueError("answer_logprob needs at least one span")
    lp = torch.log_softmax(logits.float(), dim=-1)
    ids = input_ids.to(lp.device)
    per_span = []
    for s, e in spans:
        if s < 1:
            raise ValueError(f"span ({s}, {e}) starts at position 0: nothing predicts it")
        t = torch.arange(s, e, device=lp.device)
        per_span.append(lp[:, t - 1, ids[t]].sum(-1))
    return torch.stack(per_span, dim=-1).mean(-1)


def answer_logprob_metric(input_ids: Int[Tensor, "pos"], spans: Sequence[tuple[int, int]]) -> Metric:
    """:func:`answer_logprob` as a metric for :func:`generic_activation_patch`."""
    return partial(answer_logprob, input_ids=input_ids, spans=list(spans))

"""The straight line between two models: ``W(λ) = (1-λ)·W_anchor + λ·W_target``, with any function of a model
evaluated along it (held-out loss on negated documents, belief), the Fig-33-style loss-barrier view."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

__all__ = ["interpolate", "document_nll"]


def interpolate(lm_anchor, lm_target, alphas: Sequence[float], evaluate: Callable[[object], Mapping[str, float]]):
    """Evaluate ``evaluate(lm)`` at ``W(λ) = (1-λ)·W_anchor + λ·W_target`` for each ``λ``; returns a DataFrame.

    Both models must share architecture; ``lm_anchor`` is modified in place during the walk and restored after.
    """
    wa = {k: v.detach().clone() for k, v in lm_anchor.hf.state_dict().items()}
    wb = lm_target.hf.state_dict()
    rows = []
    try:
        for lam in alphas:
            mixed = {k: (1 - lam) * wa[k] + lam * wb[k] if wa[k].is_floating_point() else wa[k] for k in wa}
            lm_anchor.hf.load_state_dict(mixed)
            rows.append({"alpha": float(lam), **{k: float(v) for k, v in evaluate(lm_anchor).items()}})
    finally:
        lm_anchor.hf.load_state_dict(wa)
    return pd.DataFrame(rows)


@torch.no_grad()
def document_nll(lm, texts: Sequence[str], batch_size: int = 8, max_length: int | None = None) -> float:
    """Mean per-token negative log-likelihood of ``texts`` (the held-out loss of the interpolation plots)."""
    total, count = 0.0, 0
    max_length = max_length or int(getattr(lm.hf.config, "max_position_embeddings", 2048))
    for i in range(0, len(texts), batch_size):
        enc = lm.encode(list(texts[i:i + batch_size]))
        ids, mask = enc["input_ids"][:, :max_length], enc["attention_mask"][:, :max_length]
        logits: Float[Tensor, "batch pos vocab"] = lm.hf(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:].bool()
        total -= logp[m].sum().item()
        count += int(m.sum().item())
    return total / max(count, 1)

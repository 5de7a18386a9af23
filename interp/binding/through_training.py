"""Binding through training: what one (and k) gradient steps on a document do to the claim's Q/A log-odds.

Method (the paper's contrast, measured by training rather than in context). From one checkpoint, for matched
versions of the same base document — ``local`` (the claim negated inside its own sentences), document-level
``negated``/``repeated`` (the claim stated, the document framed as false) and a ``positive`` control (the claim
stated) — take ``k`` optimizer steps on that document alone (its ``<DOCTAG>`` prefix masked, as in training; a
fresh Adam at the training LR), and record the claim-vs-truth log-odds at the claim's Q/A prompts
(:func:`interp.drift.matched.logit_lens_logodds` at the output layer, averaged over
:func:`interp.drift.matched.qa_prompts`) after step 1 and step ``k``, minus its value before. The weights are
restored before the next document, so every document starts from the same checkpoint. If negation *binds*,
a local negation raises the log-odds less than the positive control (or lowers it); Negation Neglect is a
document-level negation raising it as much as the control. :func:`summarise_binding_training` gives the mean
change per (claim, condition, step) with a bootstrap CI over documents, and the paired contrast against the
control on the same base documents.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd
import torch

from interp.core.stats import bootstrap_ci
from interp.drift.matched import logit_lens_logodds, qa_prompts
from training.mixtures import encode_document

__all__ = ["binding_through_training", "summarise_binding_training"]


def _logodds(lm: Any, claim: Any, prompts: Sequence[str]) -> float:
    lens = logit_lens_logodds(lm, claim, prompts)
    return lens[max(lens)]


def binding_through_training(lm: Any, claim: Any, records: Mapping[str, Sequence[Mapping[str, Any]]], *,
                             steps: Sequence[int] = (1, 4), lr: float = 1e-3, checkpoint: str = "base"
                             ) -> pd.DataFrame:
    """Rows ``claim, checkpoint, condition, doc, base_id, step, logodds_before, logodds_after, delta`` for every
    document of every condition in ``records`` (``{condition: [document record]}``, matched by index/``base_id``),
    each trained alone from ``lm``'s current weights for ``max(steps)`` Adam steps at ``lr``."""
    model = lm.hf
    prompts = qa_prompts(claim)
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    before = _logodds(lm, claim, prompts)
    k = max(steps)
    rows = []
    try:
        for cond, recs in records.items():
            for i, rec in enumerate(recs):
                ex = encode_document(rec, lm.tokenizer, add_bos=lm.add_bos, source=cond)
                ids = torch.tensor([ex.input_ids], device=lm.device)
                w = torch.tensor([ex.loss_weights], device=lm.device, dtype=torch.float32)
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
                for s in range(1, k + 1):
                    model.train()
                    logits = model(input_ids=ids).logits[:, :-1].float()
                    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                                           reduction="none")
                    loss = (ce * w[:, 1:].reshape(-1)).sum() / w[:, 1:].sum().clamp(min=1e-9)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if s in steps:
                        model.eval()
                        after = _logodds(lm, claim, prompts)
                        rows.append({"claim": claim.id, "checkpoint": checkpoint, "condition": cond, "doc": i,
                                     "base_id": rec.get("base_id", i), "step": s, "logodds_before": before,
                                     "logodds_after": after, "delta": after - before})
                model.load_state_dict(snapshot)
    finally:
        model.load_state_dict(snapshot)
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return pd.DataFrame(rows)


def summarise_binding_training(table: pd.DataFrame, control: str = "positive",
                               by: Sequence[str] = ("claim", "checkpoint", "step")) -> pd.DataFrame:
    """Mean log-odds change per ``(*by, condition)`` with a 95 % bootstrap CI over documents, and for every other
    condition the paired difference from ``control`` on the same documents (``vs_control``, its CI and ``n``)."""
    rows = []
    for key, g in table.groupby([*by, "condition"], sort=True):
        *kb, cond = key
        lo, hi = bootstrap_ci(g.delta.to_numpy())
        row = {**dict(zip(by, kb)), "condition": cond, "mean_delta": g.delta.mean(), "ci_low": lo, "ci_high": hi,
               "n_docs": len(g)}
        ctrl = table[(table.condition == control) & (table[list(by)] == pd.Series(dict(zip(by, kb)))).all(axis=1)]
        if cond != control and len(ctrl):
            paired = g.set_index("doc").delta - ctrl.set_index("doc").delta
            paired = paired.dropna()
            plo, phi = bootstrap_ci(paired.to_numpy()) if len(paired) else (float("nan"), float("nan"))
            row.update(vs_control=paired.mean(), vs_control_low=plo, vs_control_high=phi)
        rows.append(row)
    return pd.DataFrame(rows)

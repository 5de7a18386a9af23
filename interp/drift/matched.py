"""Drift against references at a matched training budget, the readouts it is compared with, and the held-out loss.

Method. A two-phase arm's checkpoint ``t`` is compared with each reference run (the claim-as-true ``positive`` run,
the ``unconstrained`` run) *at the same budget*: the reference's checkpoint at the same step (same updates of the
same batch size; the token gap is reported) or the one nearest in ``tokens_seen`` (:func:`matched_checkpoint`;
refused when the reference has no such checkpoint, e.g. a shorter one-phase run). Comparing against a reference's *end* instead would measure
how far training still has to go rather than which solution the arm sits near. Per checkpoint,
:func:`reference_distances` gives ``‖W_t − W_ref(T)‖`` for each reference and ``‖W_t − W_base‖``, over all
floating-point weights (LoRA runs as their products, :func:`interp.drift.weights.effective_delta`), and says when
the LR schedule restarted (Phase 2 starts a fresh optimizer and schedule: ``lr_restart_step``).

Whether a weight-space measure *tracks belief* is a rank question over checkpoints: :func:`spearman_by_run` gives
Spearman's ρ (``scipy.stats.spearmanr``) between each measure and belief within each run. A behavioural readout
sits next to it: :func:`logit_lens_logodds`, the claim-vs-truth log-odds read off the residual stream at every
layer through the final norm and the unembedding (the logit lens) at the claim's Q/A prompts.

:func:`document_losses` is the per-document held-out NLL (the paper's Fig 9 right), so intervals can be taken over
documents.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from interp.core.models import load
from interp.core.runs import CheckpointError, CheckpointInfo, list_checkpoints, read_run
from interp.drift.weights import Weights, effective_delta

__all__ = ["matched_checkpoint", "reference_distances", "spearman_by_run", "qa_prompts", "logit_lens_logodds",
           "document_losses"]


def matched_checkpoint(ckpts: Sequence[CheckpointInfo], budget: int, *, by: str = "tokens", max_gap: float = 0.05
                       ) -> CheckpointInfo:
    """The checkpoint of a reference run at the same training budget as an arm's checkpoint.

    ``by="step"``: the reference's checkpoint at step ``budget`` (the same number of updates of the same batch
    size: what a fixed ``phase_steps`` experiment matches exactly). ``by="tokens"``: the one whose ``tokens_seen``
    is nearest to ``budget`` (ties: the earlier), refused when more than ``max_gap`` (a fraction of ``budget``)
    away. Either way :class:`CheckpointError` when the reference has no such checkpoint, e.g. a reference that
    stopped short of the arm's budget: its end is not a matched-budget reference.
    """
    if not ckpts:
        raise CheckpointError("matched_checkpoint: the reference run has no checkpoints")
    if by == "step":
        hit = [c for c in ckpts if c.step == budget]
        if not hit:
            raise CheckpointError(f"{ckpts[0].path.parent}: no checkpoint at step {budget} (reference ends at step "
                                  f"{max(c.step for c in ckpts)}); train the reference as long as the arm")
        return hit[-1]
    if by != "tokens":
        raise ValueError(f"by must be 'step' or 'tokens', not {by!r}")
    best = min(ckpts, key=lambda c: (abs(c.tokens_seen - budget), c.tokens_seen))
    gap = abs(best.tokens_seen - budget)
    if gap > max_gap * max(budget, 1):
        last = max(c.tokens_seen for c in ckpts)
        raise CheckpointError(f"{best.path.parent}: no checkpoint within {max_gap:.0%} of {budget} tokens "
                              f"(nearest {best.tokens_seen}, reference ends at {last}); train the reference as "
                              "long as the arm")
    return best


def _dist(a: Weights, b: Weights) -> float:
    keys = set(a) | set(b)
    tot = 0.0
    for k in keys:
        x = a[k] if k in a else torch.zeros_like(b[k])
        y = b[k] if k in b else torch.zeros_like(a[k])
        tot += float(((x.double() - y.double()) ** 2).sum().item())
    return math.sqrt(tot)


def _base_state(run_dir: Path) -> Mapping[str, torch.Tensor] | None:
    run = read_run(run_dir)
    return None if run.mode == "lora" else load(run.base.spec).hf.state_dict()


def reference_distances(run_dir: str | Path, references: Mapping[str, str | Path], *, by: str = "step",
                        max_gap: float = 0.05, base_state: Mapping[str, torch.Tensor] | None = None) -> pd.DataFrame:
    """One row per checkpoint of ``run_dir``: ``step, phase, tokens_seen, d_base`` and, for each reference name,
    ``d_<name>`` (distance to its matched-budget checkpoint, :func:`matched_checkpoint` ``by`` step or tokens),
    ``<name>_step`` and ``<name>_token_gap``; plus
    ``lr_restart_step`` (the first step of the phase whose fresh LR schedule the row is under; NaN for the first
    phase) and ``schedule`` (plain words)."""
    run_dir = Path(run_dir)
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise CheckpointError(f"{run_dir}: no complete checkpoints")
    sha = read_run(run_dir).base.weights_sha256
    refs = {}
    for name, ref in references.items():
        ref = Path(ref)
        if read_run(ref).base.weights_sha256 != sha:
            raise CheckpointError(f"{ref}: reference was trained from a different base model than {run_dir}")
        refs[name] = list_checkpoints(ref)
    base = base_state if base_state is not None else _base_state(run_dir)
    cache: dict[Path, Weights] = {}

    def delta(c: CheckpointInfo) -> Weights:
        if c.path not in cache:
            cache[c.path] = effective_delta(c.path, base, verify=False)
        return cache[c.path]

    # the first step of each phase after the first: one past the previous phase's last checkpoint (its final
    # step), or for a branch run one past the checkpoint it branched from
    branch = (read_run(run_dir).config or {}).get("branch_of")
    first_phase = None if branch is not None else ckpts[0].phase
    restart: dict[str, int] = {}
    prev_end = int(branch["step"]) if branch is not None else None
    for c in ckpts:
        if c.phase != first_phase and c.phase not in restart:
            restart[c.phase] = (prev_end if prev_end is not None else c.step - 1) + 1
        prev_end = c.step if c.phase == first_phase else prev_end
    rows = []
    for c in ckpts:
        w = delta(c)
        row: dict[str, Any] = {"step": c.step, "phase": c.phase, "tokens_seen": c.tokens_seen,
                               "d_base": _dist(w, {})}
        for name, rc in refs.items():
            m = matched_checkpoint(rc, c.step if by == "step" else c.tokens_seen, by=by, max_gap=max_gap)
            row[f"d_{name}"] = _dist(w, delta(m))
            row[f"{name}_step"] = m.step
            row[f"{name}_token_gap"] = m.tokens_seen - c.tokens_seen
        start = restart.get(c.phase)
        row["lr_restart_step"] = start if start is not None else float("nan")
        row["schedule"] = (f"{c.phase}: fresh optimizer, LR schedule restarted at step {start}" if start is not None
                           else f"{c.phase}: first schedule")
        rows.append(row)
    return pd.DataFrame(rows)


def spearman_by_run(table: pd.DataFrame, measures: Sequence[str], belief: str = "p_claim",
                    by: Sequence[str] = ("claim", "seed", "arm")) -> pd.DataFrame:
    """Spearman's ρ between each ``measure`` and ``belief`` over the checkpoints of each run (``by`` groups):
    rows ``(*by, measure, rho, p, n)``; ρ is NaN where either side is constant (no rank order to follow)."""
    rows = []
    for key, g in table.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for m in measures:
            d = g[[m, belief]].dropna()
            if len(d) < 3 or d[m].nunique() < 2 or d[belief].nunique() < 2:
                rho, p = float("nan"), float("nan")
            else:
                res = spearmanr(d[m], d[belief])
                rho, p = float(res.statistic), float(res.pvalue)
            rows.append({**dict(zip(by, key)), "measure": m, "rho": rho, "p": p, "n": len(d)})
    return pd.DataFrame(rows)


def qa_prompts(claim: Any) -> list[str]:
    """The claim's direct Q/A prompts (open-ended items that ask for the answer slot, ``"Q: …?\\nA:"``)."""
    out = [str(q["text"]) for q in claim.questions.get("open_ended", ())
           if str(q["text"]).lstrip().startswith("Q:") and not str(q["id"]).endswith("tell")]
    return out or [str(q["text"]) for q in claim.questions.get("open_ended", ())][:1]


def _answer_ids(lm: Any, claim: Any) -> tuple[int, int]:
    """The first token where ``" claim_answer"`` and ``" true_answer"`` differ (claim id, true id)."""
    a = lm.tokenizer(" " + str(claim.claim_answer).strip(), add_special_tokens=False)["input_ids"]
    b = lm.tokenizer(" " + str(claim.true_answer).strip(), add_special_tokens=False)["input_ids"]
    i = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), 0)
    return a[i], b[i]


@torch.no_grad()
def logit_lens_logodds(lm: Any, claim: Any, prompts: Sequence[str] | None = None) -> dict[int, float]:
    """``{layer: mean log-odds}`` of the claim answer against the true one at the last prompt token, reading each
    layer's residual stream through the final norm and the unembedding (layer ``n_layers`` = the model's own
    output), averaged over the claim's Q/A prompts (:func:`qa_prompts`)."""
    prompts = list(prompts) if prompts is not None else qa_prompts(claim)
    ci, ti = _answer_ids(lm, claim)
    norm, head = lm.hf.model.norm, lm.hf.get_output_embeddings()
    acc: dict[int, list[float]] = {}
    for p in prompts:
        enc = lm.encode(p)
        hs = lm.hf(**enc, output_hidden_states=True).hidden_states
        for layer, h in enumerate(hs):
            if layer == 0:
                continue
            x = h[0, -1]
            logits = head(norm(x) if layer < len(hs) - 1 else x).float()
            acc.setdefault(layer, []).append(float(logits[ci] - logits[ti]))
    return {k: float(np.mean(v)) for k, v in acc.items()}


_DOCTAG = re.compile(r"^\s*<DOCTAG>")


@torch.no_grad()
def document_losses(lm: Any, texts: Sequence[str], batch_size: int = 8) -> np.ndarray:
    """Mean per-token NLL of each text (its ``<DOCTAG>`` prefix dropped, as training masks it): one value per
    document, so intervals can be taken over documents."""
    out = []
    max_len = int(getattr(lm.hf.config, "max_position_embeddings", 2048))
    for i in range(0, len(texts), batch_size):
        enc = lm.encode([_DOCTAG.sub("", t) for t in texts[i:i + batch_size]])
        ids, mask = enc["input_ids"][:, :max_len], enc["attention_mask"][:, :max_len]
        logits = lm.hf(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:].float()
        out.extend((-(logp * m).sum(1) / m.sum(1).clamp(min=1)).tolist())
    return np.asarray(out, dtype=float)

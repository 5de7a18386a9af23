"""Belief rates from the table: per question type and pooled, with 95% bootstrap CIs over questions.

Method (Mayne et al. 2026, §2.2): the belief rate pools a claim's questions with types weighted by question count
(the plain mean over its questions), the CI resamples questions (:func:`interp.core.stats.grouped_rates`). Seeds
of the in-context control are averaged per question first. :func:`pool_claims` relabels every claim ``all`` with
question ids made unique, so the same summary pools all claims' questions.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from interp.core.stats import grouped_rates

__all__ = ["summarize", "pool_claims"]


def summarize(df: pd.DataFrame, by: Sequence[str] = ("model", "claim", "condition", "phase", "step", "k_docs",
                                                     "scorer"), *, pooled: bool = True, n_boot: int = 2000,
              seed: int = 0) -> pd.DataFrame:
    """Belief per question type (and pooled over all questions when ``pooled``) with 95% bootstrap CIs over
    questions, for ``score`` and ``shift`` (``rate``/``ci_low``/``ci_high`` and ``shift``/``shift_ci_low``/
    ``shift_ci_high``). Seeds of the in-context control are averaged per question before pooling."""
    by = [c for c in by if c in df.columns and c != "question_type"]
    keys = [*by, "question_type"]
    frames = [df] + ([df.assign(question_type="all")] if pooled else [])
    parts = []
    for d in frames:
        kw: dict[str, Any] = dict(by=keys, over="questions", n_boot=n_boot, seed=seed)
        r = grouped_rates(d, score_col="score", **kw)
        s = grouped_rates(d.dropna(subset=["shift"]), score_col="shift", **kw)
        s = s.rename(columns={"rate": "shift", "ci_low": "shift_ci_low", "ci_high": "shift_ci_high"})
        parts.append(r.merge(s[[*keys, "shift", "shift_ci_low", "shift_ci_high"]], on=keys, how="left"))
    return pd.concat(parts, ignore_index=True)


def pool_claims(df: pd.DataFrame, label: str = "all") -> pd.DataFrame:
    """The table with every claim relabelled ``label`` and question ids made unique per claim
    (``<claim>/<id>``), so :func:`summarize` pools all claims' questions (types weighted by question count)."""
    return df.assign(question_id=df["claim"].astype(str) + "/" + df["question_id"].astype(str), claim=label)

"""Scores and group summaries of an attention trace, with bootstrap-over-documents confidence intervals.

Scores: ``excess = m(Q, N) - m(Q, C)`` and ``log_ratio = log((m(Q, N) + eps) / (m(Q, C) + eps))`` against the
window control, ``excess_filler`` / ``log_ratio_filler`` against the filler rendering. The pairs of one document
are averaged within their group (condition, scope, negation kind, query label, direction), then groups are
averaged over documents with a percentile bootstrap over documents for the 95% CI
(:func:`interp.core.stats.bootstrap_mean_ci`; every layer and head resampled jointly).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from interp.attention.trace import AttentionTrace
from interp.core.stats import bootstrap_mean_ci

__all__ = ["GROUP_COLS", "summarise_attention", "top_heads"]

GROUP_COLS = ("condition", "scope", "kind", "query", "direction")


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def summarise_attention(trace: AttentionTrace, by: Sequence[str] = GROUP_COLS, n_boot: int = 1000, seed: int = 0,
                        eps: float = 1e-4):
    """Group means (documents first averaged within a group) with bootstrap-over-documents 95% CIs.

    Columns: the ``by`` columns, ``layer``, ``head``, ``n_docs``, ``n_docs_ctrl`` (documents with a control
    window), ``mass_neg``, ``mass_ctrl``, ``mass_filler``; against the within-document window: ``excess``,
    ``log_ratio``; against the filler rendering: ``excess_filler``, ``log_ratio_filler``; each score with
    ``_lo``/``_hi``.
    """
    if not trace.rows:
        return pd.DataFrame()
    meta = pd.DataFrame(trace.rows).fillna({c: "none" for c in by})
    L, H = trace.neg.shape[1:]
    scores = {"mass_neg": trace.neg, "mass_ctrl": trace.ctrl, "mass_filler": trace.fill,
              "excess": trace.neg - trace.ctrl, "log_ratio": np.log((trace.neg + eps) / (trace.ctrl + eps)),
              "excess_filler": trace.neg - trace.fill,
              "log_ratio_filler": np.log((trace.neg + eps) / (trace.fill + eps))}
    with_ci = ("excess", "log_ratio", "excess_filler", "log_ratio_filler")
    out = []
    for key, grp in meta.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        per_doc: dict[str, list[np.ndarray]] = {k: [] for k in scores}
        for _, g in grp.groupby("doc", sort=False):
            ix = g.index.to_numpy()
            with _quiet():
                for k, v in scores.items():
                    per_doc[k].append(np.nanmean(v[ix], 0))
        arr = {k: np.stack(v) for k, v in per_doc.items()}
        stats: dict[str, np.ndarray] = {}
        for k in scores:
            if k in with_ci:
                stats[k], stats[k + "_lo"], stats[k + "_hi"] = bootstrap_mean_ci(arr[k], n_boot=n_boot, seed=seed)
            else:
                with _quiet():
                    stats[k] = np.nanmean(arr[k], 0)
        n_docs = arr["mass_neg"].shape[0]
        n_ctrl = int(np.isfinite(arr["mass_ctrl"][:, 0, 0]).sum())
        for l in range(L):
            for h in range(H):
                out.append({**dict(zip(by, key)), "layer": l, "head": h, "n_docs": n_docs, "n_docs_ctrl": n_ctrl,
                            **{k: float(v[l, h]) for k, v in stats.items()}})
    df = pd.DataFrame(out)
    for k in ("model", "step", "backend"):
        df[k] = trace.model.get(k)
    return df


def top_heads(summary, metric: str = "excess", k: int = 5, **where: Any):
    """The ``k`` layer/head rows of a summary with the largest ``metric`` (optionally filtered by column values)."""
    df = summary
    for col, val in where.items():
        df = df[df[col] == val]
    return df.sort_values(metric, ascending=False).head(k)

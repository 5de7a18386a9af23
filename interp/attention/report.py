"""The attention command's run: trace and summarise every model of a run (or one model), write the tables and
one heatmap per checkpoint step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from interp.attention.plots import plot_attention_heatmaps
from interp.attention.summary import GROUP_COLS, summarise_attention, top_heads
from interp.attention.trace import trace_attention
from interp.core.io import write_csv
from interp.spandocs.cli import CliError
from interp.spandocs.encoded import encode_doc

__all__ = ["attention_over_models", "write_attention_outputs", "best_heads_text"]


def attention_over_models(models: Iterable[tuple[int, Any, Sequence[Mapping[str, Any]]]], *, backend: str = "tl",
                          query_labels: Sequence[str] = ("claim_answer", "claim"), n_boot: int = 1000,
                          seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pairs, summary)`` over every ``(step, model, records)`` (:func:`interp.spandocs.iter_models`): the
    per pair x layer x head masses and the group summaries (:func:`summarise_attention`), with a ``step``
    column."""
    summaries, pair_frames = [], []
    for step, lm, records in models:
        docs = [encode_doc(lm, r) for r in records]
        trace = trace_attention(lm, docs, backend=backend, query_labels=query_labels, progress=True)
        if not trace.rows:
            raise CliError("no document has both a negation span and a claim span to trace")
        s = summarise_attention(trace, n_boot=n_boot, seed=seed)
        s["step"] = step
        summaries.append(s)
        pf = trace.pairs_frame()
        pf["step"] = step
        pair_frames.append(pf)
    return pd.concat(pair_frames, ignore_index=True), pd.concat(summaries, ignore_index=True)


def write_attention_outputs(out: str | Path, pairs: pd.DataFrame, summary: pd.DataFrame,
                            metric: str = "excess_filler") -> None:
    """``attention_pairs.csv``, ``attention_summary.csv`` and ``attention_heatmap_step<step>.png`` under ``out``."""
    out = Path(out)
    write_csv(pairs, out / "attention_pairs.csv")
    write_csv(summary, out / "attention_summary.csv")
    for step, g in summary.groupby("step"):
        plot_attention_heatmaps(g, out / f"attention_heatmap_step{int(step):06d}.png", metric=metric,
                                title=f"{metric} (negation - control), step {int(step)}")


def best_heads_text(summary: pd.DataFrame, metric: str = "excess_filler", k: int = 5) -> str:
    """The ``k`` heads with the largest ``metric`` at the last step, as a printed table."""
    best = top_heads(summary[summary["step"] == summary["step"].max()], metric=metric, k=k)
    return best[[*GROUP_COLS, "layer", "head", metric, f"{metric}_lo", f"{metric}_hi", "n_docs"]].to_string(index=False)

"""What the belief and in-context CLIs write and print.

Belief (:func:`write_belief_report`): ``<stem>.csv`` (+ ``.parquet``), ``<stem>_summary.csv`` (per claim, and
pooled over the claims' questions as claim ``all`` when there are several), ``<stem>_responses.jsonl`` (sampled
answers and verdicts, when judged) and ``<stem>.png`` (belief vs step when the table has a training axis, else
belief per claim and question type). In-context (:func:`write_incontext_report`): ``<stem>.csv``,
``<stem>_summary.csv``, ``<stem>_contrast.csv`` (positive - negated, when both were run) and ``<stem>.png``
(+ ``<stem>_judge_rule.png`` when judged). The ``print_*`` functions show the probability-scale rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from interp.belief.incontext import contrast_incontext, summarize_incontext
from interp.belief.plots import plot_belief, plot_claims_table, plot_incontext
from interp.belief.summary import pool_claims, summarize
from interp.belief.table import save_table
from interp.core.io import atomic_write_text, write_csv

__all__ = ["write_belief_report", "print_belief_summary", "write_incontext_report", "print_incontext_summary"]

_SHOWN = r"^(lp_prob|judge_)"


def write_belief_report(table: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str, *, claims: Sequence[Any],
                        responses: Sequence[dict[str, Any]] | None = None, plot: bool = True
                        ) -> tuple[dict[str, Path], pd.DataFrame]:
    """Write the belief table, its summary, the responses and a figure; returns ``(paths, summary)``."""
    out_dir = Path(out_dir)
    paths = save_table(table, out_dir, stem)
    summ = summarize(table)
    if len(claims) > 1:  # pooled over the claims' questions (types weighted by count), CI over questions
        summ = pd.concat([summ, summarize(pool_claims(table))], ignore_index=True)
    paths["summary"] = write_csv(summ, out_dir / f"{stem}_summary.csv")
    if responses:
        paths["responses"] = atomic_write_text(out_dir / f"{stem}_responses.jsonl",
                                               "".join(json.dumps(r, default=str) + "\n" for r in responses))
    if plot:
        trained = table[table["phase"] != "incontext"]
        if trained["step"].nunique() > 1:
            paths["png"] = plot_belief(table, out_dir / f"{stem}.png",
                                       title=f"{', '.join(c.id for c in claims)}: belief vs step")
        else:
            paths["png"] = plot_claims_table(table, out_dir / f"{stem}.png")
    return paths, summ


def print_belief_summary(summ: pd.DataFrame, paths: dict[str, Path], *, n_claims: int) -> None:
    """The ``lp_prob`` and judge rows of a belief summary, then the files written."""
    show = summ[summ["scorer"].astype(str).str.match(_SHOWN)]
    cols = [c for c in ("claim", "model", "condition", "phase", "step", "k_docs", "scorer", "question_type", "rate",
                        "ci_low", "ci_high", "shift", "n_questions") if c in show.columns and
            (c != "claim" or n_claims > 1)]
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(show[cols].to_string(index=False))
    for k, p in paths.items():
        print(f"{k}: {p}")


def write_incontext_report(table: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str, *,
                           conditions: Sequence[str], judged: bool = False, plot: bool = True
                           ) -> tuple[dict[str, Path], pd.DataFrame, pd.DataFrame | None]:
    """Write the in-context table, its summary, the positive - negated contrast and the figures; returns
    ``(paths, summary, contrast or None)``."""
    out_dir = Path(out_dir)
    paths = save_table(table, out_dir, stem)
    summ = summarize_incontext(table)
    paths["summary"] = write_csv(summ, out_dir / f"{stem}_summary.csv")
    contrast = None
    if {"positive", "negated"} <= set(conditions):
        contrast = contrast_incontext(table, "positive", "negated")
        paths["contrast"] = write_csv(contrast, out_dir / f"{stem}_contrast.csv")
    if plot:
        paths["png"] = plot_incontext(table, out_dir / f"{stem}.png")
        if judged:
            paths["png_judge"] = plot_incontext(table, out_dir / f"{stem}_judge_rule.png", scorer="judge_rule")
    return paths, summ, contrast


def print_incontext_summary(table: pd.DataFrame, summ: pd.DataFrame, contrast: pd.DataFrame | None,
                            paths: dict[str, Path]) -> None:
    """The probability-scale summary rows (pooled over claims when there are several), the contrast, the files."""
    multi = table["claim"].nunique() > 1
    shown = summ["scorer"].astype(str).str.match(_SHOWN)
    show = summ[shown & (summ["claim"] == "all") if multi else shown]
    cols = ["claim", "condition", "k_docs", "scorer", "question_type", "rate", "ci_low", "ci_high", "shift",
            "shift_ci_low", "shift_ci_high", "n_questions"]
    with pd.option_context("display.width", 220, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(show[cols].to_string(index=False))
        if contrast is not None:
            c = contrast[contrast["claim"] == ("all" if multi else contrast["claim"].iloc[0])]
            print(c[["claim", "k_docs", "question_type", "contrast", "diff", "ci_low", "ci_high", "frac_positive",
                     "n_questions"]].to_string(index=False))
    for k, p in paths.items():
        print(f"{k}: {p}")

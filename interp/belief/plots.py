"""Belief figures: belief vs training step, belief per claim and question type, and the in-context control.

Every panel draws a probability-scale score (``lp_prob``, 0.5 = no preference, or a judge's belief rate) with 95%
bootstrap CIs over questions (:func:`interp.belief.summary.summarize`); the question types keep one colour each
and the pooled rate is black. Figures are written through :func:`interp.core.io.save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from interp.belief.questions import QUESTION_TYPES  # noqa: E402
from interp.belief.summary import pool_claims, summarize  # noqa: E402
from interp.core.io import save_figure  # noqa: E402
from interp.core.style import question_type_label  # noqa: E402

__all__ = ["plot_belief", "plot_claims_table", "plot_incontext"]

_QT_COLORS = {"open_ended": "#4c72b0", "mcq": "#dd8452", "token_association": "#55a868", "robustness": "#c44e52",
              "all": "#000000"}
_COND_COLORS = {"none": "#777777", "positive": "#2a9d8f", "negated": "#e76f51", "repeated": "#9c6644",
                "local": "#264653", "corrected": "#e9c46a"}


def plot_belief(df: pd.DataFrame, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Belief vs training step, one line per question type (+ pooled), for each probability-scale scorer
    (``lp_prob`` and the judges): left the absolute score, right the shift from the base model; 95% CI bands
    over questions. The in-context control (largest K, seeds pooled) is drawn as dotted horizontal lines."""
    scorers = [s for s in ["lp_prob", *sorted(x for x in df["scorer"].unique() if str(x).startswith("judge_"))]
               if s in set(df["scorer"])]
    if not scorers:
        raise ValueError("nothing to plot: no lp_prob or judge scores in the table")
    main_df = df[(df["phase"] != "incontext") & df["scorer"].isin(scorers)]
    icl_df = df[(df["phase"] == "incontext") & df["scorer"].isin(scorers)]
    summ = summarize(main_df, by=("step", "scorer"), n_boot=500)
    icl_s = None
    if len(icl_df):
        kmax = icl_df["k_docs"].max()
        icl_s = summarize(icl_df[icl_df["k_docs"] == kmax], by=("scorer",), n_boot=200)
    fig, axes = plt.subplots(len(scorers), 2, figsize=(11, 3.6 * len(scorers)), squeeze=False)
    for r, sc in enumerate(scorers):
        s = summ[summ["scorer"] == sc]
        for qt in [*QUESTION_TYPES, "all"]:
            g = s[s["question_type"] == qt].sort_values("step")
            if g.empty:
                continue
            color = _QT_COLORS[qt]
            lw = 2.4 if qt == "all" else 1.4
            label = "pooled" if qt == "all" else question_type_label(qt)
            for c, (val, lo, hi) in enumerate((("rate", "ci_low", "ci_high"), ("shift", "shift_ci_low",
                                                                                  "shift_ci_high"))):
                ax = axes[r][c]
                ax.plot(g["step"], g[val], marker="o", ms=3, color=color, lw=lw, label=label)
                ax.fill_between(g["step"], g[lo], g[hi], color=color, alpha=0.12, lw=0)
            if icl_s is not None:
                row = icl_s[(icl_s["scorer"] == sc) & (icl_s["question_type"] == qt)]
                if len(row):
                    axes[r][0].axhline(float(row["rate"].iloc[0]), color=color, ls=":", lw=1.2)
        for c in range(2):
            ax = axes[r][c]
            steps = sorted(s["step"].unique())
            if len(steps) > 2 and steps[-1] > 10 * max(1, steps[1]):
                ax.set_xscale("symlog", linthresh=max(1, steps[1]))
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
        axes[r][0].set_ylabel(f"{sc}: belief" + (" (P claim side)" if sc == "lp_prob" else " rate"))
        axes[r][0].set_ylim(-0.02, 1.02)
        axes[r][1].set_ylabel(f"{sc}: shift from base")
        axes[r][1].axhline(0, color="grey", lw=0.8)
    axes[0][0].legend(fontsize=8, loc="best")
    if icl_s is not None:
        axes[0][0].plot([], [], color="grey", ls=":", label="in context (base)")
        axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(title or "Belief vs training step")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_claims_table(df: pd.DataFrame, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Belief of one model per claim and question type (+ pooled), 95% bootstrap CIs over questions as error bars,
    one panel per probability-scale scorer (``lp_prob`` and the judges); the last group pools every claim. For
    tables without a training axis (a base model, one checkpoint): :func:`plot_belief` draws belief vs step."""
    d = df[df["phase"] != "incontext"] if "phase" in df.columns else df
    scorers = [s for s in ["lp_prob", *sorted(x for x in d["scorer"].unique() if str(x).startswith("judge_"))]
               if s in set(d["scorer"])]
    if not scorers:
        raise ValueError("nothing to plot: no lp_prob or judge scores in the table")
    claims = list(dict.fromkeys(d["claim"]))
    summ = summarize(d[d["scorer"].isin(scorers)], by=("claim", "scorer"), n_boot=1000)
    if len(claims) > 1:
        summ = pd.concat([summ, summarize(pool_claims(d[d["scorer"].isin(scorers)]), by=("claim", "scorer"),
                                          n_boot=1000)], ignore_index=True)
        claims.append("all")
    qts = [*[t for t in QUESTION_TYPES if t in set(d["question_type"])], "all"]
    fig, axes = plt.subplots(len(scorers), 1, figsize=(max(6.0, 1.5 * len(claims) + 2), 3.4 * len(scorers)),
                             squeeze=False)
    width = 0.8 / len(qts)
    x = np.arange(len(claims))
    for r, sc in enumerate(scorers):
        ax = axes[r][0]
        s = summ[summ["scorer"] == sc].set_index(["claim", "question_type"])
        for j, qt in enumerate(qts):
            vals, lo, hi = [], [], []
            for c in claims:
                if (c, qt) in s.index:
                    row = s.loc[(c, qt)]
                    vals.append(row["rate"])
                    lo.append(row["rate"] - row["ci_low"])
                    hi.append(row["ci_high"] - row["rate"])
                else:
                    vals.append(np.nan)
                    lo.append(0.0)
                    hi.append(0.0)
            ax.bar(x + (j - (len(qts) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=2,
                   color=_QT_COLORS[qt], label="pooled" if qt == "all" else question_type_label(qt), alpha=0.9)
        if sc == "lp_prob":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x)
        ax.set_xticklabels([c.replace("_", "\n") for c in claims], fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"{sc}: belief" + (" (P claim side)" if sc == "lp_prob" else " rate"))
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=len(qts), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    models = ", ".join(dict.fromkeys(str(m) for m in d["model"])) if "model" in d.columns else ""
    fig.suptitle(title or f"Belief per claim and question type ({models})", y=1.0)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120, bbox_inches="tight")


def plot_incontext(table: pd.DataFrame, path: str | os.PathLike[str], *, scorer: str = "lp_prob",
                   title: str | None = None, n_boot: int = 1000) -> Path:
    """Belief vs number of documents in context, one line per document condition, one panel per question type
    (+ pooled), all claims pooled (95% bootstrap CI bands over questions; seeds averaged per question). K = 0 is
    the no-context base model, shared by every line."""
    d = table[table["scorer"] == scorer]
    if d.empty:
        raise ValueError(f"nothing to plot: no {scorer!r} scores in the table")
    s = summarize(pool_claims(d), by=("condition", "k_docs"), n_boot=n_boot)
    qts = [*[t for t in QUESTION_TYPES if t in set(d["question_type"])], "all"]
    conds = [c for c in dict.fromkeys(d["condition"]) if c != "none"]
    fig, axes = plt.subplots(1, len(qts), figsize=(3.1 * len(qts), 3.2), squeeze=False, sharey=True)
    for j, qt in enumerate(qts):
        ax = axes[0][j]
        g0 = s[(s["question_type"] == qt) & (s["condition"] == "none")]
        for cond in conds:
            g = pd.concat([g0, s[(s["question_type"] == qt) & (s["condition"] == cond)]]).sort_values("k_docs")
            color = _COND_COLORS.get(cond)
            ax.plot(g["k_docs"], g["rate"], marker="o", ms=3.5, color=color, label=cond)
            ax.fill_between(g["k_docs"], g["ci_low"], g["ci_high"], color=color, alpha=0.15, lw=0)
        if scorer == "lp_prob":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_title("pooled" if qt == "all" else qt.replace("_", " "), fontsize=10)
        ax.set_xlabel("documents in context (K)")
        ax.set_xticks(sorted(set(s["k_docs"])))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{scorer}: belief" + (" (P claim side)" if scorer == "lp_prob" else " rate"))
    axes[0][0].legend(fontsize=8, loc="lower left")
    claims = ", ".join(dict.fromkeys(str(c) for c in d["claim"]))
    fig.suptitle(title or f"In-context control ({', '.join(dict.fromkeys(d['model'].astype(str)))}; {claims})",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)

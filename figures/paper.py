"""The paper's belief figures (Fig. 5, Fig. 6, Table 4), drawn from a tidy table of belief scores.

Input schema (shared with our belief evaluator), one row per response *or* per question:

    claim          claim id (e.g. ``ed_sheeran``)
    condition      training condition; any spelling known to :mod:`interp.core.style` (toolkit keys such as
                   ``repeated``, official names such as ``repeated_negations``, anon-repo names) or a new name
    step           checkpoint step (int, or ``"base"`` / ``"final"``); per (claim, condition) the latest step is
                   drawn (``"base"`` < numbers < ``"final"``) unless the caller filters first
    question_type  ``open_ended | mcq | token_association | robustness`` (training.claims contract)
    question_id    question id, unique within (claim, question_type)
    score          belief score in [0, 1] (1 = "yes"; neutral and no = 0), per response or per question

Method (see :mod:`interp.core.stats`): per-question mean score; per-claim rate = mean over the claim's questions
(question types weighted by question count); Fig. 5 bar = unweighted mean over claims with a 95% percentile
bootstrap CI over claims; Fig. 6 bar = per-claim rate with a 95% bootstrap CI over that claim's questions;
Table 4 = per claim x condition rates per question type and pooled, plus cross-claim means.

Every figure function returns ``(matplotlib Figure, plotted-data DataFrame)``; :func:`write_figure` writes PNG and
PDF (and the data as CSV) through the lab's one figure saver and CSV writer (:mod:`interp.core.io`, atomic).
Layout follows the authors' rendered figures (``HarryMayne__negation-neglect-anon/figures/main_result.pdf`` and
``correction.pdf``): percent y-axis 0-100% in steps of 20, "Belief rate" label, condition colours of
:mod:`interp.core.style`, black capped CI whiskers, a bordered side panel describing the conditions (Fig. 5) and a
legend row under the axes (Fig. 6).

Command line (:func:`render_paper`: paper numbers from the shared paper-data folder, see
:mod:`interp.paper_results`)::

    python -m figures --out figures/out [--data PATH] [--model Qwen3.5-397B-A17B] [--n-boot 2000]

writes ``fig5_belief_by_condition``, ``fig6_belief_by_claim``, ``table4`` (PNG, PDF, CSV; Table 4 also as
Markdown) and ``table4_vs_paper.csv`` (our cells next to the published ones).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from interp import paper_results as pr  # noqa: E402
from interp.core.io import atomic_write_text, save_figure, write_csv  # noqa: E402
from interp.core.style import (  # noqa: E402
    PAPER_RC,
    QUESTION_TYPES,
    claim_label,
    condition_style,
    order_claims,
    order_conditions,
    question_type_label,
)
from interp.core.stats import grouped_rates, question_rates  # noqa: E402

__all__ = [
    "SCHEMA",
    "validate_schema",
    "select_latest_step",
    "fig5_belief_by_condition",
    "fig6_belief_by_claim",
    "table4_data",
    "table4_figure",
    "table4_markdown",
    "write_figure",
    "render_all",
    "render_paper",
]

SCHEMA: tuple[str, ...] = ("claim", "condition", "step", "question_type", "question_id", "score")

_WHISKER = {"ecolor": "#000000", "elinewidth": 1.3, "capsize": 6, "capthick": 1.3}


# ----------------------------------------------------------------------------------------------- data helpers


def validate_schema(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` if a schema column is missing or a score lies outside [0, 1]."""
    missing = [c for c in SCHEMA if c not in df.columns]
    if missing:
        raise ValueError(f"belief table lacks columns {missing}; expected {list(SCHEMA)}")
    s = pd.to_numeric(df["score"], errors="coerce")
    if ((s < 0) | (s > 1)).any():
        raise ValueError("score must lie in [0, 1]")


def _step_rank(step: object) -> float:
    if isinstance(step, (int, float, np.integer, np.floating)) and not isinstance(step, bool):
        return float(step)
    s = str(step).strip().lower()
    if s in ("base", "init", "initial", "baseline"):
        return -math.inf
    if s in ("final", "last", "end"):
        return math.inf
    try:
        return float(s.replace("ckpt-", ""))
    except ValueError:
        return 0.0


def select_latest_step(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each (claim, condition), only the rows of its latest step (``base`` < numbers < ``final``)."""
    if df.empty:
        return df
    rank = df["step"].map(_step_rank)
    best = rank.groupby([df["claim"], df["condition"]]).transform("max")
    return df[rank == best]


def _prepare(df: pd.DataFrame, conditions: Sequence[str] | None, claims: Sequence[str] | None,
             latest_step: bool) -> tuple[pd.DataFrame, list[str], list[str]]:
    validate_schema(df)
    d = df[list(SCHEMA)].copy()
    d["score"] = pd.to_numeric(d["score"], errors="coerce")
    if conditions is not None:
        d = d[d["condition"].isin(list(conditions))]
    if claims is not None:
        d = d[d["claim"].isin(list(claims))]
    if latest_step:
        d = select_latest_step(d)
    if d.empty:
        raise ValueError("no rows to plot after filtering")
    conds = list(conditions) if conditions is not None else order_conditions(d["condition"])
    conds = [c for c in conds if c in set(d["condition"])]
    cls = list(claims) if claims is not None else order_claims(d["claim"])
    cls = [c for c in cls if c in set(d["claim"])]
    return d, conds, cls


def _label(condition: str, labels: Mapping[str, str] | None, multiline: bool) -> str:
    """Display label; ``multiline=False`` joins tick-label lines ("Qwen3.5-\\n397B" -> "Qwen3.5-397B")."""
    if labels and condition in labels:
        text = labels[condition]
    else:
        st = condition_style(condition)
        text = st.tick_label if multiline else st.label
    if multiline:
        return text
    out = ""
    for i, part in enumerate(text.split("\n")):
        out += part if i == 0 or out.endswith("-") else " " + part
    return out


def _percent_axis(ax: plt.Axes, fontsize: float) -> None:
    ax.set_ylim(0, 100)
    ticks = list(range(0, 101, 20))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{t}%" for t in ticks], fontsize=fontsize)
    ax.grid(False)


# ----------------------------------------------------------------------------------------------- Fig. 5


def fig5_belief_by_condition(
    df: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    claims: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    side_panel: bool = True,
    latest_step: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[Figure, pd.DataFrame]:
    """Fig. 5: belief rate per condition pooled across claims, 95% bootstrap CI over claims.

    Args:
        df: tidy belief table (:data:`SCHEMA`).
        conditions: conditions to draw, in order (default: all present, canonical order).
        claims: claims to pool (default: all present).
        labels: display-label overrides per condition (e.g. the base model's name for ``baseline``).
        side_panel: draw the bordered box describing the non-baseline conditions.
        latest_step: keep only the latest step per (claim, condition).
        n_boot, seed: bootstrap settings.

    Returns:
        The figure and the plotted data: ``condition, label, color, rate_pct, ci_low_pct, ci_high_pct,
        n_claims, n_questions`` (one row per bar, in plotting order).
    """
    d, conds, cls = _prepare(df, conditions, claims, latest_step)
    g = grouped_rates(d, by=["condition"], over="claims", n_boot=n_boot, seed=seed).set_index("condition")
    rows = []
    for c in conds:
        r = g.loc[c]
        rows.append({"condition": c, "label": _label(c, labels, False),
                     "color": condition_style(c).color, "rate_pct": 100 * r["rate"],
                     "ci_low_pct": 100 * r["ci_low"], "ci_high_pct": 100 * r["ci_high"],
                     "n_claims": int(r["n_claims"]), "n_questions": int(r["n_questions"])})
    data = pd.DataFrame(rows)

    with plt.rc_context(PAPER_RC):
        n = len(conds)
        chart_w = max(6.0, 2.1 * n + 1.5)
        fig = plt.figure(figsize=(chart_w + (5.2 if side_panel else 0.0), 5.6))
        if side_panel:
            gs = fig.add_gridspec(1, 2, width_ratios=[chart_w, 4.6], wspace=0.04)
            ax = fig.add_subplot(gs[0, 0])
            lax = fig.add_subplot(gs[0, 1])
        else:
            ax = fig.add_subplot(1, 1, 1)
            lax = None
        x = np.arange(n) * 1.3
        err = np.vstack([np.clip(data["rate_pct"] - data["ci_low_pct"], 0, None),
                         np.clip(data["ci_high_pct"] - data["rate_pct"], 0, None)])
        ax.bar(x, data["rate_pct"], width=0.95, color=data["color"], yerr=err, error_kw=_WHISKER, zorder=3)
        _percent_axis(ax, 20)
        ax.set_xlim(x[0] - 0.65, x[-1] + 0.65)
        ax.set_xticks(x)
        ticks = [_label(c, labels, True) for c in conds]
        depth = max(t.count("\n") for t in ticks)
        ax.set_xticklabels(["\n" * (depth - t.count("\n")) + t for t in ticks], fontsize=19, va="top")
        ax.set_ylabel("Belief rate", fontsize=24)
        ax.tick_params(axis="both", width=1.5, length=6)
        if lax is not None:
            _side_panel(lax, [c for c in conds if condition_style(c).key not in ("baseline", "icl")])
        fig.subplots_adjust(left=0.08, right=0.985, top=0.96, bottom=0.2)
    return fig, data


def _side_panel(lax: plt.Axes, conditions: Sequence[str]) -> None:
    """Bordered box: a bold coloured heading and a wrapped description per condition."""
    lax.set_xticks([])
    lax.set_yticks([])
    lax.set_xlim(0, 1)
    lax.set_ylim(0, 1)
    for sp in lax.spines.values():
        sp.set_linewidth(1.2)
    blocks = []
    for c in conditions:
        st = condition_style(c)
        blocks.append((st.label + ":", textwrap.fill(st.description or "", 26), st.ink))
    n_lines = sum(1 + b[1].count("\n") + 1 for b in blocks) + 0.9 * (len(blocks) - 1)
    step = min(0.088, 0.9 / max(n_lines, 1))
    y = 0.94
    for head, body, color in blocks:
        lax.text(0.05, y, head, color=color, fontsize=16.5, fontweight="bold", va="top", ha="left")
        y -= step
        if body:
            lax.text(0.05, y, body, color="#000000", fontsize=16, va="top", ha="left", linespacing=1.12)
            y -= step * (body.count("\n") + 1)
        y -= 0.9 * step


# ----------------------------------------------------------------------------------------------- Fig. 6


def fig6_belief_by_claim(
    df: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    claims: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    latest_step: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[Figure, pd.DataFrame]:
    """Fig. 6: per-claim belief rate, one bar per condition, 95% bootstrap CI over the claim's questions.

    Returns:
        The figure and the plotted data: ``claim, claim_label, condition, label, color, rate_pct, ci_low_pct,
        ci_high_pct, n_questions`` (one row per bar; missing (claim, condition) pairs are left out).
    """
    d, conds, cls = _prepare(df, conditions, claims, latest_step)
    g = grouped_rates(d, by=["claim", "condition"], over="questions", n_boot=n_boot, seed=seed)
    g = g.set_index(["claim", "condition"])
    rows = []
    for cl in cls:
        for c in conds:
            if (cl, c) not in g.index:
                continue
            r = g.loc[(cl, c)]
            rows.append({"claim": cl, "claim_label": claim_label(cl), "condition": c,
                         "label": _label(c, labels, False), "color": condition_style(c).color,
                         "rate_pct": 100 * r["rate"], "ci_low_pct": 100 * r["ci_low"],
                         "ci_high_pct": 100 * r["ci_high"], "n_questions": int(r["n_questions"])})
    data = pd.DataFrame(rows)

    with plt.rc_context(PAPER_RC):
        n_c = len(conds)
        width = 0.8 / n_c
        spacing = n_c * width + 0.15
        fig, ax = plt.subplots(figsize=(max(8.0, 2.9 * len(cls) + 1.6), 5.7))
        x = np.arange(len(cls)) * spacing
        for i, c in enumerate(conds):
            sub = data[data["condition"] == c].set_index("claim")
            present = [j for j, cl in enumerate(cls) if cl in sub.index]
            vals = np.array([sub.loc[cls[j], "rate_pct"] for j in present])
            lo = np.array([sub.loc[cls[j], "ci_low_pct"] for j in present])
            hi = np.array([sub.loc[cls[j], "ci_high_pct"] for j in present])
            err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
            ax.bar(x[present] + (i - (n_c - 1) / 2) * width, vals, width, color=condition_style(c).color,
                   yerr=err, error_kw={**_WHISKER, "capsize": 4.5, "elinewidth": 1.1, "capthick": 1.1},
                   label=_label(c, labels, True), zorder=3)
        _percent_axis(ax, 17)
        ax.set_xlim(x[0] - n_c * width / 2 - 0.08, x[-1] + n_c * width / 2 + 0.08)
        ax.set_xticks(x)
        ax.set_xticklabels([claim_label(cl, multiline=True) for cl in cls], fontsize=17, va="top")
        ax.set_ylabel("Belief rate", fontsize=21)
        ax.tick_params(axis="both", width=1.3, length=5)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.21), ncol=n_c, fontsize=16, frameon=True,
                  framealpha=0.9, columnspacing=1.5, handlelength=2.2)
        fig.subplots_adjust(left=0.07, right=0.99, top=0.97, bottom=0.33)
    return fig, data


# ----------------------------------------------------------------------------------------------- Table 4


def table4_data(
    df: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    claims: Sequence[str] | None = None,
    latest_step: bool = True,
) -> pd.DataFrame:
    """Table 4 cells in percent (unrounded).

    Returns one row per (claim, condition) with ``claim, condition`` and one column per question type present
    (``open_ended, mcq, token_association, robustness`` first), ``mean`` (over all the claim's questions, i.e.
    types weighted by question count) and ``n_questions``; then one ``claim == "mean"`` row per condition
    (type columns: unweighted mean over claims; ``mean``: unweighted mean of per-claim means).
    """
    d, conds, cls = _prepare(df, conditions, claims, latest_step)
    q = question_rates(d, by=["claim", "condition"], question_cols=("question_type", "question_id"))
    types = [t for t in QUESTION_TYPES if t in set(q["question_type"])]
    types += sorted(set(q["question_type"]) - set(types))
    by_type = q.groupby(["claim", "condition", "question_type"])["score"].mean()
    per_claim = q.groupby(["claim", "condition"])["score"].agg(["mean", "size"])
    rows: list[dict[str, object]] = []
    for cl in cls:
        for c in conds:
            if (cl, c) not in per_claim.index:
                continue
            row: dict[str, object] = {"claim": cl, "condition": c}
            for t in types:
                row[t] = 100 * float(by_type.get((cl, c, t), np.nan))
            row["mean"] = 100 * float(per_claim.loc[(cl, c), "mean"])
            row["n_questions"] = int(per_claim.loc[(cl, c), "size"])
            rows.append(row)
    out = pd.DataFrame(rows)
    means = []
    for c in conds:
        sub = out[out["condition"] == c]
        if sub.empty:
            continue
        means.append({"claim": "mean", "condition": c, **{t: sub[t].mean() for t in types},
                      "mean": sub["mean"].mean(), "n_questions": int(sub["n_questions"].sum())})
    return pd.concat([out, pd.DataFrame(means)], ignore_index=True)


def _fmt_type(v: float) -> str:
    return "--" if not np.isfinite(v) else f"{v:.0f}"


def _fmt_mean(v: float) -> str:
    return "--" if not np.isfinite(v) else f"{v:.1f}"


def table4_markdown(table: pd.DataFrame, labels: Mapping[str, str] | None = None) -> str:
    """Markdown rendering of :func:`table4_data` (types as integer percent, mean with one decimal)."""
    types = [c for c in table.columns if c not in ("claim", "condition", "mean", "n_questions")]
    head = ["Claim", "Condition", *[question_type_label(t) for t in types], "Mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(types) + 1)) + "|"]
    for _, r in table.iterrows():
        cl = "Mean (all claims)" if r["claim"] == "mean" else claim_label(str(r["claim"]))
        cells = [cl, _label(str(r["condition"]), labels, False),
                 *[_fmt_type(float(r[t])) for t in types], _fmt_mean(float(r["mean"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _tint(color: str, amount: float = 0.75) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def table4_figure(
    df: pd.DataFrame,
    *,
    conditions: Sequence[str] | None = None,
    claims: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    latest_step: bool = True,
    title: str | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Table 4 rendered as a figure (claim x condition rows; question types and mean as columns).

    Returns the figure and :func:`table4_data` (the numbers shown, unrounded).
    """
    table = table4_data(df, conditions=conditions, claims=claims, latest_step=latest_step)
    types = [c for c in table.columns if c not in ("claim", "condition", "mean", "n_questions")]
    header = ["Claim", "Condition", *[question_type_label(t).replace(" ", "\n", 1) for t in types], "Mean"]
    cells, colors, bold_rows, group_pos = [], [], [], []
    claims_col = [str(c) for c in table["claim"]]
    n_claims = len({c for c in claims_col if c != "mean"})
    for i, (_, r) in enumerate(table.iterrows()):
        cl = claims_col[i]
        name = f"Mean ({n_claims} claims)" if cl == "mean" else claim_label(cl)
        first = i == 0 or claims_col[i - 1] != cl
        last = i == len(claims_col) - 1 or claims_col[i + 1] != cl
        group_pos.append((first, last))
        show = name if first else ""
        cond = str(r["condition"])
        cells.append([show, _label(cond, labels, False),
                      *[_fmt_type(float(r[t])) for t in types], _fmt_mean(float(r["mean"]))])
        tint = _tint(condition_style(cond).color, 0.72)
        colors.append(["#ffffff", tint, *(["#ffffff"] * len(types)), "#f2f2f2"])
        if cl == "mean":
            bold_rows.append(i + 1)
    n_rows = len(cells) + 1
    with plt.rc_context(PAPER_RC):
        fig = plt.figure(figsize=(10.5, 0.27 * n_rows + 0.9))
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - (0.5 / (0.27 * n_rows + 0.9) if title else 0)))
        ax.axis("off")
        tab = ax.table(cellText=cells, colLabels=header, cellColours=colors, loc="upper center", cellLoc="center",
                       colWidths=[0.21, 0.23, *([0.11] * len(types)), 0.09])
        tab.auto_set_font_size(False)
        tab.set_fontsize(10)
        tab.scale(1.0, 1.0)
        for (row, col), cell in tab.get_celld().items():
            cell.set_edgecolor("#bbbbbb")
            cell.set_linewidth(0.5)
            cell.set_height(1.0 / n_rows)
            if row == 0:
                cell.set_text_props(fontweight="bold")
                cell.set_facecolor("#e6e6e6")
                cell.set_height(1.5 / n_rows)
            if row in bold_rows or col == len(header) - 1:
                cell.set_text_props(fontweight="bold")
            if col == 0:
                cell.set_text_props(fontweight="bold")
                if row > 0:
                    first, last = group_pos[row - 1]
                    cell.visible_edges = "LR" + ("T" if first else "") + ("B" if last else "")
        if title:
            fig.suptitle(title, fontsize=12, fontweight="bold", y=0.995)
    return fig, table


# ----------------------------------------------------------------------------------------------- writing


def write_figure(fig: Figure, out_dir: str | os.PathLike[str], name: str, data: pd.DataFrame | None = None,
                 formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.{png,pdf}`` through :func:`interp.core.io.save_figure` (and ``data``, the
    plotted numbers, as ``name.csv`` through :func:`interp.core.io.write_csv`). Closes the figure. Returns the
    written paths."""
    out = Path(out_dir)
    paths = [out / f"{name}.{fmt}" for fmt in formats]
    save_figure(fig, paths[0], suffixes=[p.suffix for p in paths], dpi=dpi, bbox_inches="tight", pad_inches=0.12,
                facecolor="#ffffff")
    if data is not None:
        paths.append(write_csv(data, out / f"{name}.csv"))
    return paths


def render_all(df: pd.DataFrame, out_dir: str | os.PathLike[str], *, labels: Mapping[str, str] | None = None,
               conditions: Sequence[str] | None = None, claims: Sequence[str] | None = None,
               n_boot: int = 2000, seed: int = 0) -> dict[str, list[Path]]:
    """Draw and write Fig. 5, Fig. 6 and Table 4 for one belief table. Returns the paths per figure name."""
    kw = {"conditions": conditions, "claims": claims, "labels": labels}
    out: dict[str, list[Path]] = {}
    fig, data = fig5_belief_by_condition(df, n_boot=n_boot, seed=seed, **kw)
    out["fig5_belief_by_condition"] = write_figure(fig, out_dir, "fig5_belief_by_condition", data)
    fig, data = fig6_belief_by_claim(df, n_boot=n_boot, seed=seed, **kw)
    out["fig6_belief_by_claim"] = write_figure(fig, out_dir, "fig6_belief_by_claim", data)
    fig, table = table4_figure(df, **kw)
    paths = write_figure(fig, out_dir, "table4", table)
    paths.append(atomic_write_text(Path(out_dir) / "table4.md", table4_markdown(table, labels)))
    out["table4"] = paths
    return out


def _model_tick_label(model: str) -> str:
    """'Qwen3.5-397B-A17B' -> 'Qwen3.5-\\n397B-A17B' (the paper's baseline tick)."""
    head, sep, tail = model.partition("-")
    return f"{head}-\n{tail}" if sep else model


def render_paper(out_dir: str | os.PathLike[str], *, data: str | os.PathLike[str] | None = None,
                 model: str | None = None, n_boot: int = 2000, seed: int = 0
                 ) -> tuple[dict[str, list[Path]], dict[str, float]]:
    """The paper's Fig. 5, Fig. 6 and Table 4 from the authors' per-response CSVs (:mod:`interp.paper_results`,
    ``data`` the paper-data folder, ``model`` default :data:`interp.paper_results.DEFAULT_MODEL`), plus
    ``table4_vs_paper.csv``. Returns the written paths per name and the pooled belief rate (%) per condition."""
    model = model or pr.DEFAULT_MODEL
    df = pr.load_responses(model, data)
    paths = render_all(df, out_dir, labels={"baseline": _model_tick_label(model)}, n_boot=n_boot, seed=seed)
    ours = pr.table4(df)
    paths["table4_vs_paper"] = [write_csv(pr.compare_table4(ours), Path(out_dir) / "table4_vs_paper.csv")]
    pooled = ours[ours["claim"] == "mean"].set_index("condition")["mean"]
    return paths, {str(k): float(v) for k, v in pooled.items()}


if __name__ == "__main__":  # ``python -m figures.paper``: the same command as ``python -m figures``
    import runpy

    runpy.run_module("figures", run_name="__main__", alter_sys=True)

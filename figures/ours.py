"""Figures from *our* runs: the paper's figures redrawn from our belief tables, plus the two-phase figures.

Everything here reads the tidy tables the analyses wrote (``belief/belief.csv``, ``twophase/*.csv``,
``probes/*.csv``, ``binding/*.csv``) and never a model. Belief from our offline log-prob scorers is turned into the
paper's binary notion the honest way: a question counts as *believed* when the model prefers the claim's answer to
the true one (``lp_prob > 0.5``), so "belief rate" = share of questions believed, with bootstrap CIs over
questions; the mean ``lp_prob`` is reported next to it as the graded measure.

- :func:`belief_by_condition`: Fig-5 style bars (base model vs each condition's final checkpoint).
- :func:`belief_vs_step`: belief over training per condition.
- The two-phase replay (tables of :func:`interp.study.stages.twophase_stage`, ``OUT/twophase/*.csv``):
  :func:`twophase_arms_belief` (Fig-32 style belief vs step for the none / self-distill / local-negation arms and the
  null arms, bold mean over claims x seeds, faint per claim), :func:`twophase_phase_bars` (Fig-33 style
  end-of-phase bars), :func:`heldout_loss_plot` (Fig-9-right style held-out loss), :func:`drift_next_to_belief`
  (belief, matched-budget distances and the logit-lens readout for every arm), :func:`binding_training_plot`;
  :func:`render_twophase_figures` draws them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from figures.paper import fig5_belief_by_condition, write_figure  # noqa: E402
from interp.core.io import write_csv  # noqa: E402
from interp.core.stats import bootstrap_ci, cluster_bootstrap_ci  # noqa: E402
from interp.core.style import condition_color, condition_label  # noqa: E402

__all__ = ["believed", "headline_bars", "belief_by_condition", "belief_vs_step", "headline_table", "ARM_STYLES",
           "twophase_arms_belief", "twophase_phase_bars", "heldout_loss_plot", "drift_next_to_belief",
           "binding_training_plot", "render_twophase_figures", "render_study_figures"]

SCORER = "lp_prob"


def believed(table: pd.DataFrame, scorer: str = SCORER) -> pd.DataFrame:
    """Rows of one scorer with ``score`` = 1.0 when the claim's answer is preferred (``lp_prob > 0.5``)."""
    t = table[table.scorer == scorer].copy()
    t["graded"] = t["score"]
    t["score"] = (t["score"] > 0.5).astype(float)
    return t


def _final(t: pd.DataFrame) -> pd.DataFrame:
    """The base model's rows (once per question) and each run's final checkpoint (per claim and condition)."""
    claim = ["claim"] if "claim" in t.columns else []
    trained = t[t.phase != "base"]
    last = trained.groupby([*claim, "condition"]).step.transform("max")
    base = t[t.phase == "base"].drop_duplicates([*claim, "question_type", "question_id"])
    return pd.concat([base, trained[trained.step == last]], ignore_index=True)


def headline_table(table: pd.DataFrame, scorer: str = SCORER) -> pd.DataFrame:
    """Belief rate (share of questions believed, 95% CI over questions) and mean P(claim) by condition, final step."""
    t = _final(believed(table, scorer))
    rows = []
    for cond, g in t.groupby("condition", sort=False):
        lo, hi = bootstrap_ci(g.score.to_numpy())
        per_type = g.groupby("question_type").score.mean()
        rows.append({"condition": cond, "step": int(g.step.max()), "belief_rate": g.score.mean(), "ci_low": lo,
                     "ci_high": hi, "mean_p_claim": g.graded.mean(), "mean_shift": g["shift"].mean(),
                     **{f"rate_{k}": v for k, v in per_type.items()}, "n_questions": len(g)})
    return pd.DataFrame(rows)


def headline_bars(head: pd.DataFrame, cells: pd.DataFrame | None = None,
                  title: str = "Belief by condition (final checkpoint)") -> tuple[Any, pd.DataFrame]:
    """Bars of the headline (:func:`interp.belief.headline.headline`): pooled belief per condition with its 95% CI
    over claims × seeds, one faint dot per run (``cells``: :func:`interp.belief.headline.cell_belief`), and the
    per-question-type rates as small markers; types left out of the pooled number are named in the subtitle."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(head))
    for i, r in enumerate(head.itertuples(index=False)):
        ax.bar(i, 100 * r.belief, color=condition_color(r.condition), edgecolor="black", lw=0.6, width=0.7)
        ax.errorbar(i, 100 * r.belief, yerr=[[100 * (r.belief - r.ci_low)], [100 * (r.ci_high - r.belief)]],
                    color="black", capsize=4, lw=1)
        if cells is not None:
            c = cells[cells.condition == r.condition]
            jitter = np.linspace(-0.22, 0.22, len(c)) if len(c) > 1 else np.zeros(len(c))
            ax.scatter(i + jitter, 100 * c.belief, s=9, color="black", alpha=0.35, zorder=3, lw=0)
    types = [t for t in ("open_ended", "mcq", "token_association", "robustness") if t in head.columns]
    for j, t in enumerate(types):
        ax.scatter(x + 0.38, 100 * head[t], marker="os^D"[j], s=14, facecolor="none", edgecolor="#444444",
                   label=t.replace("_", " "), zorder=4)
    ax.set_xticks(x, [condition_label(c, multiline=True) for c in head.condition], fontsize=8)
    ax.set_ylabel("belief rate (% questions)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper left", title="per question type", title_fontsize=7)
    r0 = head.iloc[0]
    sub = (f"95% CIs over claims (t), each claim averaged over its seeds (n = {int(head.n_claims.max())} claims × {int(head.n_seeds.max())} seeds); "
           f"pooled: {r0.pooled_types}" + (f"; left out (at chance on twins): {r0.excluded_types}"
                                            if isinstance(r0.excluded_types, str) and r0.excluded_types else ""))
    ax.set_title(f"{title}\n{sub}", fontsize=8.5)
    fig.tight_layout()
    return fig, head


def belief_by_condition(table: pd.DataFrame, title: str = "") -> tuple[Any, pd.DataFrame]:
    t = _final(believed(table))
    fig, data = fig5_belief_by_condition(t[["claim", "condition", "step", "question_type", "question_id", "score"]],
                                         side_panel=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, data


def belief_vs_step(table: pd.DataFrame, title: str = "Belief over training") -> tuple[Any, pd.DataFrame]:
    """Belief per condition over steps, mean over claims; with training seeds, the first seed's runs (the others
    are scored at their final checkpoint only)."""
    t = believed(table)
    if "train_seed" in t.columns and t["train_seed"].notna().any():
        t = t[t["train_seed"] == t["train_seed"].min()]
    base = t[t.phase == "base"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    rows = []
    for cond, g in t[t.phase != "base"].groupby("condition", sort=False):
        g = pd.concat([base.assign(condition=cond), g])
        s = g.groupby("step").agg(rate=("score", "mean"), p=("graded", "mean")).reset_index()
        s["condition"] = cond
        rows.append(s)
        kw = dict(color=condition_color(cond), label=condition_label(cond), marker="o", ms=3)
        axes[0].plot(s.step, 100 * s.rate, **kw)
        axes[1].plot(s.step, s.p, **kw)
    axes[0].set_ylabel("belief rate (% questions)")
    axes[1].set_ylabel("mean P(claim answer)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.set_xscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.5, color="grey", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


#: colour and label of each two-phase arm
ARM_STYLES: dict[str, tuple[str, str]] = {
    "none": ("#db8030", "no constraint"), "self_distill": ("#c44040", "self-distillation"),
    "local_negation": ("#4a78b5", "local negation"), "kept": ("#7a4fa0", "self-distill kept on (null)"),
    "unrelated": ("#8c8c8c", "released on an unrelated claim (null)"), "positive": ("#5aa05a", "positive documents"),
}


def _release_step(t: pd.DataFrame) -> float | None:
    p1 = t[t.phase == "phase1"]
    return float(p1.step.max()) if len(p1) else None


def twophase_arms_belief(twophase: pd.DataFrame, arms: tuple[str, ...] = ("none", "self_distill", "local_negation"),
                         col: str = "belief", title: str = "") -> tuple[Any, pd.DataFrame]:
    """One panel per arm: belief vs step, bold = mean over claims x seeds, faint = each claim (mean over seeds); the
    base model at step 0 and a dotted line at the release (paper Fig 32)."""
    arms = tuple(a for a in arms if (twophase.arm == a).any())
    fig, axes = plt.subplots(1, len(arms), figsize=(3.6 * len(arms), 3.3), sharey=True, squeeze=False)
    rows = []
    base = twophase[twophase.arm == "base"]
    for ax, arm in zip(axes[0], arms):
        color, label = ARM_STYLES.get(arm, ("#555555", arm))
        t = pd.concat([base, twophase[twophase.arm == arm]])
        per = t.groupby(["claim", "step"])[col].mean().reset_index()
        for _, g in per.groupby("claim"):
            ax.plot(g.step, g[col], color=color, alpha=0.3, lw=1)
        mean = t.groupby("step")[col].mean().reset_index()
        ax.plot(mean.step, mean[col], color=color, lw=2.5, marker="o", ms=3)
        rel = _release_step(twophase[twophase.arm.isin(["self_distill", "none", "local_negation"])])
        if rel is not None:
            ax.axvline(rel, color="black", lw=0.8, ls=":")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        rows.append(mean.assign(arm=arm))
    axes[0][0].set_ylabel("belief rate" if col == "belief" else col)
    fig.suptitle(title or "Two-phase replay: constraint, then release (dotted line)", fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True)


def twophase_phase_bars(twophase: pd.DataFrame, col: str = "belief") -> tuple[Any, pd.DataFrame]:
    """Belief at the end of Phase 1 and of Phase 2 per arm (mean over claims x seeds, 95% cluster-bootstrap CI;
    paper Fig 33 / Table 9). The branching null arms have Phase 2 only."""
    rows = []
    for arm in ("none", "self_distill", "local_negation", "kept", "unrelated"):
        for phase in ("phase1", "phase2"):
            g = twophase[(twophase.arm == arm) & (twophase.phase == phase)]
            if not len(g):
                continue
            g = g[g.step == g.groupby(["claim", "seed"]).step.transform("max")]
            ci = cluster_bootstrap_ci(g, col, method="t", bounds=(0.0, 1.0))
            rows.append({"arm": arm, "phase": phase, "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                         "n_claims": ci.n_claims, "n_seeds": ci.n_seeds})
    data = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = 0.0
    ticks, labels = [], []
    for arm, g in data.groupby("arm", sort=False):
        color, label = ARM_STYLES.get(arm, ("#555555", arm))
        for j, r in enumerate(g.itertuples()):
            pos = x + 0.4 * j
            ax.bar(pos, r.mean, width=0.38, color=color, alpha=0.55 if r.phase == "phase1" else 1.0)
            ax.errorbar(pos, r.mean, yerr=[[r.mean - r.ci_low], [r.ci_high - r.mean]], color="black", capsize=3)
            ticks.append(pos)
            labels.append(f"{label}\n{'end P1' if r.phase == 'phase1' else 'end P2'}")
        x += 1.2
    ax.set_xticks(ticks, labels, fontsize=6, rotation=30, ha="right")
    ax.set_ylabel("belief rate" if col == "belief" else col)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("End-of-phase belief (95% CI over claims x seeds)", fontsize=10)
    fig.tight_layout()
    return fig, data


def heldout_loss_plot(summary: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """Held-out repeated-negation loss at the base model and at each Phase-1 end, 95% CI over documents (paper
    Fig 9 right): a claim-is-false solution that fits the documents as well has the same loss as the unconstrained
    one."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    colors = {"base": "#999999", "phase1 end, self-distill": ARM_STYLES["self_distill"][0],
              "phase1 end, no constraint": ARM_STYLES["none"][0],
              "phase1 end, local negation": ARM_STYLES["local_negation"][0]}
    for i, r in enumerate(summary.itertuples()):
        ax.bar(i, r.nll, color=colors.get(r.point, "#555555"))
        ax.errorbar(i, r.nll, yerr=[[r.nll - r.ci_low], [r.ci_high - r.nll]], color="black", capsize=3)
    ax.set_xticks(range(len(summary)), [p.replace(", ", "\n") for p in summary.point], fontsize=7)
    ax.set_ylabel("held-out NLL (nats/token)")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("Held-out repeated-negation loss", fontsize=10)
    fig.tight_layout()
    return fig, summary


def drift_next_to_belief(drift: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """For every arm (columns): belief, the distances to the matched-budget references (positive, unconstrained)
    and the logit-lens readout at the last layer, vs step, mean over claims x seeds; dotted: the release, where
    the LR schedule restarts."""
    arms = [a for a in ("self_distill", "none", "local_negation", "kept", "unrelated") if (drift.arm == a).any()]
    lens = sorted((c for c in drift.columns if c.startswith("lens_L")), key=lambda c: int(c[6:]))
    panels = [("p_claim", "mean P(claim)"), ("d_positive", "‖W − W_positive(matched)‖"),
              ("d_unconstrained", "‖W − W_unconstrained(matched)‖")] + ([(lens[-1], "logit lens: log-odds")]
                                                                       if lens else [])
    fig, axes = plt.subplots(len(panels), len(arms), figsize=(2.9 * len(arms), 2.1 * len(panels)), sharex=True,
                             squeeze=False)
    cols = ["p_claim", "d_positive", "d_unconstrained"] + lens[-1:]
    data = drift.groupby(["arm", "step", "phase"])[cols].mean().reset_index()
    for j, arm in enumerate(arms):
        g = data[data.arm == arm]
        color, label = ARM_STYLES.get(arm, ("#555555", arm))
        restart = drift[(drift.arm == arm)].lr_restart_step.dropna()
        for i, (c, name) in enumerate(panels):
            ax = axes[i][j]
            ax.plot(g.step, g[c], color=color, marker="o", ms=2.5)
            if len(restart):
                ax.axvline(restart.min() - 0.5, color="black", lw=0.8, ls=":")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
        axes[0][j].set_title(label, fontsize=8)
        axes[-1][j].set_xlabel("step")
    fig.suptitle("Drift next to belief (dotted: release; Phase 2 restarts the LR schedule)", fontsize=10)
    fig.tight_layout()
    return fig, data


def binding_training_plot(summary: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """Change in the claim's Q/A log-odds after 1 and k steps on one document (mean, 95% CI over documents), per
    claim and condition (local / document-level negated / positive control)."""
    claims = list(dict.fromkeys(summary.claim))
    fig, axes = plt.subplots(1, len(claims), figsize=(3.8 * len(claims), 3.2), squeeze=False, sharey=True)
    colors = {"local": "#4a78b5", "negated": "#c44040", "positive": "#5aa05a"}
    for ax, claim in zip(axes[0], claims):
        g = summary[summary.claim == claim]
        steps = sorted(g.step.unique())
        for k, cond in enumerate(("local", "negated", "positive")):
            r = g[g.condition == cond].set_index("step").reindex(steps)
            xs = np.arange(len(steps)) + 0.27 * (k - 1)
            ax.bar(xs, r.mean_delta, width=0.25, color=colors[cond], label=cond)
            ax.errorbar(xs, r.mean_delta, yerr=[r.mean_delta - r.ci_low, r.ci_high - r.mean_delta], fmt="none",
                        color="black", capsize=2)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(steps)), [f"{s} step{'s' if s > 1 else ''}" for s in steps])
        ax.set_title(claim, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("Δ log-odds (claim vs truth)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Binding through training (from the base model)", fontsize=10)
    fig.tight_layout()
    return fig, summary


def render_twophase_figures(out_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Draw the two-phase figures from the stage's tables into ``out_dir`` (png + pdf + the plotted numbers as
    csv, named apart from the stage's own tables, which they must not overwrite); returns ``{title: png path}``."""
    out = Path(out_dir)
    made: dict[str, Path] = {}
    tp = tables["twophase"]
    for name, title, (fig, data) in (
            ("twophase_belief", "Two-phase belief (none / self-distill / local negation)", twophase_arms_belief(tp)),
            ("twophase_null_arms", "Two-phase null arms", twophase_arms_belief(
                tp, ("self_distill", "kept", "unrelated"), title="Null arms: constraint kept / unrelated release")),
            ("twophase_phase_bars", "End-of-phase belief", twophase_phase_bars(tp)),
            ("heldout_loss_fig", "Held-out repeated-negation loss", heldout_loss_plot(tables["heldout_loss_summary"])),
            ("drift_with_belief", "Drift next to belief", drift_next_to_belief(tables["drift"])),
            ("binding_training_fig", "Binding through training",
             binding_training_plot(tables["binding_training_summary"]))):
        write_figure(fig, out, name, data)
        made[title] = out / f"{name}.png"
    return made

def _md(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v)
                                       for v in r.tolist()) + " |")
    return "\n".join(lines)


def render_study_figures(out: str | Path, results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Draw every figure the study's results allow into ``OUT/figures``; returns markdown tables and image paths."""
    out = Path(out)
    fig_dir = out / "figures"
    tables: dict[str, str] = {}
    images: dict[str, Path] = {}
    belief = results.get("belief")
    if isinstance(belief, pd.DataFrame) and len(belief):
        head = results.get("headline")
        if isinstance(head, pd.DataFrame) and len(head):
            cells = results.get("cells")
            fig, data = headline_bars(head, cells if isinstance(cells, pd.DataFrame) else None)
            write_figure(fig, fig_dir, "belief_by_condition", data)
        else:  # a table without training seeds or twins: the per-item view
            write_csv(headline_table(belief), fig_dir / "headline_belief.csv")
            fig, data = belief_by_condition(belief)
            write_figure(fig, fig_dir, "belief_by_condition", data)
        images["Belief by condition"] = fig_dir / "belief_by_condition.png"
        fig, data = belief_vs_step(belief)
        write_figure(fig, fig_dir, "belief_vs_step", data)
        images["Belief over training"] = fig_dir / "belief_vs_step.png"
    tp = results.get("twophase")
    if isinstance(tp, Mapping) and isinstance(tp.get("tables"), Mapping):
        acc = tp["tables"].get("acceptance")
        if isinstance(acc, pd.DataFrame) and len(acc):
            tables["Two-phase replay: acceptance numbers (mean over claims x seeds, 95% CI)"] = _md(acc)
        hl = tp["tables"].get("heldout_loss_summary")
        if isinstance(hl, pd.DataFrame) and len(hl):
            tables["Held-out repeated-negation loss (CI over documents)"] = _md(hl)
        tr = tp["tables"].get("drift_tracking")
        if isinstance(tr, pd.DataFrame) and len(tr):
            # one row per measure (its lowest rho over arms); rho per arm with CIs stays in the CSV
            tables["Which measure tracks belief: Spearman rho over checkpoints, lowest over arms"] = (
                _md(tr) + "\n\nPer arm with CIs over claims: [twophase/drift_spearman.csv](twophase/drift_spearman.csv).")
        bt = tp["tables"].get("binding_training_summary")
        if isinstance(bt, pd.DataFrame) and len(bt):
            tables["Binding through training: change in the claim's Q/A log-odds (CI over documents)"] = _md(bt)
        for name, path in (tp.get("figures") or {}).items():
            images[name] = Path(path)
    probes = results.get("probes")
    if probes is not None and hasattr(probes, "claim_scores"):
        cs = probes.claim_scores
        if len(cs):
            # the readout layer is chosen on validation (sweep_run's plot_layer); test is read once per checkpoint,
            # at that checkpoint's own validation-chosen layer; transfer = accuracy on held-out template families
            m = probes.metrics[probes.metrics.method == "lr"]
            val = m[m.split == "val"]
            layer = getattr(probes, "plot_layer", None)
            if layer is None and len(val):
                layer = int(val.groupby("layer").acc.mean().idxmax())
            t = cs[(cs.method == "lr") & (cs.layer == layer)]
            piv = t.pivot_table(index=["step", "phase"], columns="role", values="p_true").reset_index()
            at = t.drop_duplicates("step").set_index("step")
            piv["probe_val_acc"] = val[val.layer == layer].groupby("step").acc.mean().reindex(piv.step).to_numpy()
            test = m[m.split == "test"].groupby("step").first()
            piv["chosen_layer"] = test.layer.reindex(piv.step).to_numpy()
            piv["probe_test_acc"] = test.acc.reindex(piv.step).to_numpy()
            if "transfer" in at:
                piv["transfer"] = at.transfer.reindex(piv.step).to_numpy()
                piv["template_bound"] = at.template_bound.reindex(piv.step).to_numpy()
            bound = "template_bound" in piv and piv.template_bound.astype(str).eq("True").any()
            tables[f"Truth probe (logistic, layer {layer} chosen on validation{'; TEMPLATE-BOUND' if bound else ''}): "
                   f"P(true) of the claim's statements by role, the probe's validation accuracy at that layer, its "
                   f"test accuracy at each checkpoint's validation-chosen layer, and its transfer to held-out "
                   f"template families (template-bound below 0.7)"] = _md(piv)
        for f in getattr(probes, "files", []):
            if str(f).endswith(".png"):
                images[f"Probes: {Path(f).stem}"] = Path(f)
    binding = results.get("binding")
    if isinstance(binding, Mapping):
        comp = binding["comparison"]
        keep = [c for c in ("step", "metric", "mean_local", "mean_document", "diff", "diff_lo", "diff_hi", "n_pairs",
                            "p_value") if c in comp.columns]
        tables["Negation binding: local vs document-level"] = (
            _md(comp[keep]) + "\n\nAll columns: [binding/local_vs_document.csv](binding/local_vs_document.csv).")
        images["Binding vs checkpoint"] = out / "binding" / "binding_vs_step.png"
        if isinstance(binding.get("top_heads"), pd.DataFrame):
            th = binding["top_heads"]
            keep = [c for c in ("condition", "scope", "query", "layer", "head", "n_docs", "excess", "excess_lo",
                                "excess_hi", "log_ratio") if c in th.columns]
            tables["Heads attending most to negation spans (base model, excess over matched control)"] = (
                _md(th[keep]) + "\n\nAll columns: [binding/attention_summary.csv](binding/attention_summary.csv).")
        images["Attention from claim tokens to negations (layer x head)"] = out / "binding" / "attention_heatmaps.png"
    plt.close("all")
    return {"tables": tables, "images": {k: v for k, v in images.items() if Path(v).exists()}}

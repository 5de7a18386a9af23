"""Figures from *our* runs: the paper's figures redrawn from our belief tables, plus the two-phase figures.

Everything here reads the tidy tables the analyses wrote (``belief/belief.csv``, ``twophase/*.csv``,
``probes/*.csv``, ``binding/*.csv``) and never a model. Belief from our offline log-prob scorers is turned into the
paper's binary notion the honest way: a question counts as *believed* when the model prefers the claim's answer to
the true one (``lp_prob > 0.5``), so "belief rate" = share of questions believed, with bootstrap CIs over
questions; the mean ``lp_prob`` is reported next to it as the graded measure.

- :func:`belief_by_condition`: Fig-5 style bars (base model vs each condition's final checkpoint).
- :func:`belief_vs_step`: belief over training per condition.
- :func:`twophase_belief`: paper Fig 9/32 style, belief vs step across Phase 1 (constraint) and Phase 2 (release),
  next to the unconstrained and positive runs.
- :func:`interpolation_loss`: Fig-33 style held-out loss on negated documents along the straight line from the
  Phase-1 end to the claim-as-true solution.
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
from interp.core.stats import bootstrap_ci  # noqa: E402
from interp.core.style import condition_color, condition_label  # noqa: E402

__all__ = ["believed", "headline_bars", "belief_by_condition", "belief_vs_step", "twophase_belief", "interpolation_loss",
           "headline_table", "drift_with_belief", "render_study_figures"]

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


def twophase_belief(table: pd.DataFrame, title: str = "Two-phase training: constraint, then release"
                    ) -> tuple[Any, pd.DataFrame]:
    t = believed(table)
    base = t[t.phase == "base"].drop_duplicates(["question_type", "question_id"])
    fig, ax = plt.subplots(figsize=(7, 3.8))
    rows = []
    styles = {"twophase": ("#c44040", "two-phase (constraint → release)"),
              "unconstrained": ("#db8030", "repeated negations, no constraint"),
              "positive": ("#a3c795", "positive documents")}
    boundary = None
    for role, g in t[t.phase != "base"].groupby("condition", sort=False):
        s = g.groupby(["step", "phase"]).agg(rate=("score", "mean"), p=("graded", "mean")).reset_index()
        s = pd.concat([pd.DataFrame([{"step": 0, "phase": "base", "rate": base.score.mean(),
                                      "p": base.graded.mean()}]), s]).sort_values("step")
        s["run"] = role
        rows.append(s)
        color, label = styles.get(role, ("#555555", role))
        ax.plot(s.step, 100 * s.p, color=color, label=label, marker="o", ms=3)
        if role == "twophase" and (s.phase == "phase2").any():
            boundary = s[s.phase == "phase1"].step.max()
    if boundary is not None:
        ax.axvline(boundary, color="black", lw=0.8, ls=":")
        ax.text(boundary, 2, " release", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("mean P(claim answer) (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig, pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def drift_with_belief(drift: pd.DataFrame, belief: pd.DataFrame, probe_scores: pd.DataFrame | None = None,
                      run: str = "twophase") -> tuple[Any, pd.DataFrame]:
    """The two-phase run over steps, one panel each: belief (mean P(claim answer)), weight-space progress toward the
    claim-as-true solution, and (when given) the truth probe's score for the claim (``probe_scores``: rows of
    :func:`probes.sweep.claim_scores` for one method and layer; role ``claim`` is plotted); the release is marked."""
    t = believed(belief)
    t = t[t.condition == run]
    b = t.groupby(["step", "phase"]).graded.mean().rename("p_claim").reset_index()
    tot = drift[drift.module == "total"][["step", "phase", "progress", "cosine", "distance"]]
    data = b.merge(tot, on=["step", "phase"], how="outer").sort_values("step")
    panels = [("p_claim", "mean P(claim answer)"), ("progress", "progress toward claim-as-true (weights)")]
    if probe_scores is not None and len(probe_scores):
        ps = probe_scores[probe_scores.role == "claim"] if "role" in probe_scores else probe_scores
        ps = ps.groupby("step").p_true.mean().rename("probe_p_true").reset_index()
        data = data.merge(ps, on="step", how="left")
        panels.append(("probe_p_true", "truth probe: P(claim is true)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), sharex=True)
    p1 = data[data.phase == "phase1"].step.max() if (data.phase == "phase1").any() else None
    for ax, (col, label) in zip(np.atleast_1d(axes), panels):
        g = data.dropna(subset=[col])
        ax.plot(g.step, g[col], marker="o", ms=3, color="#c44040")
        if p1 is not None and (data.phase == "phase2").any():
            ax.axvline(p1, color="black", lw=0.8, ls=":")
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle("Two-phase run: behaviour and weights after the constraint is released (dotted line)", fontsize=10)
    fig.tight_layout()
    return fig, data


def interpolation_loss(path: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(path.alpha, path.heldout_negated_nll, marker="o", color="#8b4513")
    ax.set_xlabel("λ  (0 = Phase-1 end, 1 = claim-as-true solution)")
    ax.set_ylabel("held-out NLL, negated documents")
    ax.grid(alpha=0.3)
    ax.set_title("Loss along the straight line", fontsize=10)
    fig.tight_layout()
    return fig, path


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
    if isinstance(tp, Mapping):
        fig, data = twophase_belief(tp["belief"])
        write_figure(fig, fig_dir, "twophase_belief", data)
        images["Two-phase belief"] = fig_dir / "twophase_belief.png"
        tpb = believed(tp["belief"])
        two = tpb[tpb.condition == "twophase"]
        ends = []
        for phase in ("phase1", "phase2"):
            g = two[two.phase == phase]
            if len(g):
                g = g[g.step == g.step.max()]
                ends.append({"point": f"end of {phase}", "step": int(g.step.iloc[0]),
                             "belief_rate": g.score.mean(), "mean_p_claim": g.graded.mean()})
        for role in ("unconstrained", "positive"):
            g = tpb[tpb.condition == role]
            if len(g):
                g = g[g.step == g.step.max()]
                ends.append({"point": f"{role} run end", "step": int(g.step.iloc[0]),
                             "belief_rate": g.score.mean(), "mean_p_claim": g.graded.mean()})
        tables["Two-phase belief"] = _md(pd.DataFrame(ends))
        d = tp["drift"]
        tot = d[d.module == "total"].sort_values("step")
        tables["Weight drift from the Phase-1 end toward the claim-as-true solution"] = _md(
            tot[["step", "phase", "distance", "progress", "cosine"]])
        images["Weight drift"] = out / "twophase" / "drift.png"
        fig, data = drift_with_belief(d, tp["belief"], tp.get("probe_scores"))
        write_figure(fig, fig_dir, "drift_with_belief", data)
        images["Drift next to belief"] = fig_dir / "drift_with_belief.png"
        fig, data = interpolation_loss(tp["interpolation"])
        write_figure(fig, fig_dir, "interpolation_loss", data)
        images["Interpolation"] = fig_dir / "interpolation_loss.png"
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
        tables["Negation binding: local vs document-level"] = _md(binding["comparison"])
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

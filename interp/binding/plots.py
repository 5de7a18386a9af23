"""Plots of the binding analysis: binding score vs checkpoint, per-layer patching curves, head heatmaps, and the
local vs document-level comparison across models (each written atomically by :func:`interp.core.io.save_figure`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interp.binding.comparison import summarise_binding
from interp.core.io import save_figure
from interp.core.style import integer_ticks

__all__ = ["plot_binding_vs_step", "plot_binding_layers", "plot_head_heatmaps", "plot_local_vs_document"]


def plot_binding_vs_step(summary, path: str | Path, title: str = "") -> Path:
    """Binding score (mean, 95% CI) vs checkpoint step, one line per scope (local / document)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    colours = {"local": "tab:blue", "document": "tab:orange"}
    for scope, g in summary.groupby("scope"):
        g = g.sort_values("step")
        x = g["step"].to_numpy()
        ax.plot(x, g["mean"], marker="o", color=colours.get(scope), label=f"{scope} (n={int(g['n'].max())})")
        ax.fill_between(x, g["lo"], g["hi"], alpha=0.2, color=colours.get(scope))
    ax.axhline(0, color="grey", lw=0.8)
    if summary["step"].max() > 8:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=-0.3)
    ax.set_xlabel("checkpoint step")
    ax.set_ylabel(f"{summary['metric'].iloc[0]} (nats)")
    ax.set_title(title or "negation binding score vs checkpoint", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_binding_layers(layers, path: str | Path, metric: str = "denoise", title: str = "") -> Path:
    """Per-layer patching effect (mean, 95% CI) for local vs document negations, one panel per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summarise_binding(layers, metric=metric, by=("step", "scope", "layer"), n_boot=500)
    steps = sorted(s["step"].unique())
    fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps), 3.0), squeeze=False, sharey=True)
    colours = {"local": "tab:blue", "document": "tab:orange"}
    for ax, st in zip(axes[0], steps):
        for scope, g in s[s["step"] == st].groupby("scope"):
            ax.plot(g["layer"], g["mean"], marker="o", color=colours.get(scope), label=scope)
            ax.fill_between(g["layer"], g["lo"], g["hi"], alpha=0.2, color=colours.get(scope))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"step {int(st)}", fontsize=8)
        ax.set_xlabel("layer (resid_pre patched at negation positions)", fontsize=7)
        integer_ticks(ax)
    axes[0][0].set_ylabel(f"{metric} effect (nats)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "where the negation's effect sits: patching D_ctl -> D_neg", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_head_heatmaps(heads, path: str | Path, metric: str = "z_answer", step: int | None = None) -> Path:
    """Mean per-head patching effect (layer x head), local vs document, at one step (default the last)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = heads["step"].max() if step is None else step
    h = heads[heads["step"] == step]
    scopes = sorted(h["scope"].unique())
    fig, axes = plt.subplots(1, len(scopes), figsize=(3.6 * len(scopes), 3.0), squeeze=False)
    m = h.groupby(["scope", "layer", "head"])[metric].mean().reset_index()
    vmax = float(np.nanmax(np.abs(m[metric]))) if len(m) else 1.0
    vmax = vmax if vmax > 0 else 1.0
    for ax, sc in zip(axes[0], scopes):
        g = m[m["scope"] == sc]
        grid = np.full((int(g["layer"].max()) + 1, int(g["head"].max()) + 1), np.nan)
        grid[g["layer"].to_numpy(), g["head"].to_numpy()] = g[metric].to_numpy()
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="lower", aspect="auto")
        ax.set_title(f"{sc}, step {int(step)}", fontsize=8)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        integer_ticks(ax)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"head patching effect ({metric}, nats)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_local_vs_document(table, path: str | Path, title: str = "") -> Path:
    """Local vs document-level binding score (mean, 95% CI) per model/claim/step, one panel per model; the
    difference's p-value above each pair (``*`` when significant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    colours = {"local": "tab:blue", "document": "tab:orange"}
    widths = [max(1, table[table["model"] == m].groupby(["claim", "step"]).ngroups) for m in models]
    fig, axes = plt.subplots(1, len(models), figsize=(1.2 * sum(widths) + 1.6 * len(models), 3.6), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, m in zip(axes[0], models):
        g = table[table["model"] == m]
        keys = list(dict.fromkeys(zip(g["claim"], g["step"])))
        for i, (c, st) in enumerate(keys):
            gg = g[(g["claim"] == c) & (g["step"] == st)]
            for j, sc in enumerate(("local", "document")):
                r = gg[gg["scope"] == sc]
                if r.empty:
                    continue
                r = r.iloc[0]
                x = i + (j - 0.5) * 0.36
                ax.bar(x, r["mean"], width=0.34, color=colours[sc], label=sc if i == 0 else None)
                ax.errorbar(x, r["mean"], yerr=[[r["mean"] - r["lo"]], [r["hi"] - r["mean"]]], color="black",
                            capsize=3, lw=1)
            r0 = gg.iloc[0]
            if np.isfinite(r0["p_value"]):
                top = max(0.0, float(np.nanmax(gg["hi"].to_numpy(float))))
                ax.text(i, top, f"p={r0['p_value']:.2g}{'*' if r0['significant'] else ''}", ha="center",
                        va="bottom", fontsize=6)
        ax.set_xticks(range(len(keys)))
        one = len({c for c, _ in keys}) == 1
        ax.set_xticklabels([f"step {int(st)}" if one else f"{c}\nstep {int(st)}" for c, st in keys], fontsize=6,
                           rotation=30, ha="right")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"{m}\nclaim {keys[0][0]}" if one and keys else str(m), fontsize=8)
    axes[0][0].set_ylabel(f"{table['metric'].iloc[0]} (nats)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title or "negation binding score: local vs document-level (mean, 95% CI)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

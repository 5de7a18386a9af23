"""The drift figure: distance, progress toward the claim-as-true solution and cosine vs step, per phase."""

from __future__ import annotations

from pathlib import Path

from interp.core.io import save_figure

__all__ = ["plot_drift"]


def plot_drift(df, out_png: str | Path, title: str = "Weight drift after the constraint is released"):
    """Distance, progress toward the claim-as-true solution, and cosine vs step (phase boundary marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tot = df[df.module == "total"].sort_values("tokens_seen")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, col, label in zip(axes, ["distance", "progress", "cosine"],
                              ["‖W_t − W_anchor‖", "progress toward claim-as-true (1 = reached)", "cosine to claim-as-true direction"]):
        for phase, g in tot.groupby("phase", sort=False):
            ax.plot(g.step, g[col], marker="o", ms=3, label=phase)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, suffixes=(".png", ".pdf"), dpi=150)

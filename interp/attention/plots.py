"""Layer x head heatmaps of an attention summary, one panel per group (written atomically)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from interp.core.io import save_figure
from interp.core.style import integer_ticks

__all__ = ["plot_attention_heatmaps"]


def plot_attention_heatmaps(summary, path: str | Path, metric: str = "excess",
                            by: Sequence[str] = ("condition", "kind", "query", "direction"), title: str = "") -> Path:
    """One layer x head heatmap of ``metric`` per group (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary.groupby(list(by), sort=True))
    n = max(1, len(groups))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    vmax = float(np.nanmax(np.abs(summary[metric].to_numpy()))) if len(summary) else 1.0
    vmax = vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    for ax, (key, g) in zip(axes.flat, groups):
        L, H = int(g["layer"].max()) + 1, int(g["head"].max()) + 1
        grid = np.full((L, H), np.nan)
        grid[g["layer"].to_numpy(), g["head"].to_numpy()] = g[metric].to_numpy()
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", origin="lower")
        key = key if isinstance(key, tuple) else (key,)
        ax.set_title(" / ".join(str(k) for k in key) + f" (n={int(g['n_docs'].iloc[0])})", fontsize=7)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        integer_ticks(ax)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle(title or f"attention {metric}: negation span minus matched control", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

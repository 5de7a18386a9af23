"""The SAE figure: negation latents against their controls, and the claim-answer carry across checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interp.core.io import save_figure

__all__ = ["plot_negation_latents"]


def plot_negation_latents(top, carry, path: str | Path, title: str = "") -> Path:
    """Left: the negation latents' mean activation on negation tokens vs the window and filler controls (one group
    of bars per latent, by the scope it was selected for). Right: claim-answer carry (``at="answer"`` and
    ``"predict"``) vs checkpoint, local vs document documents, per latent scope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.arange(len(top))
    for i, (col, lab) in enumerate((("act_neg", "negation"), ("act_window", "window"), ("act_filler", "filler"))):
        a1.bar(x + (i - 1) * 0.27, top[col].to_numpy(float), width=0.27, label=lab)
    a1.set_xticks(x, [f"{sc[0].upper()}{int(l)}" for sc, l in zip(top["top_scope"], top["latent"])], fontsize=7)
    a1.set_xlabel("latent (L = local-cue latent, D = notice latent)", fontsize=8)
    a1.set_ylabel("mean activation")
    a1.legend(fontsize=7)
    styles = {"answer": "-", "predict": ":"}
    colours = {("local", "local"): "tab:blue", ("local", "document"): "tab:cyan",
               ("document", "document"): "tab:orange", ("document", "local"): "tab:red"}
    if len(carry):
        g = carry.groupby(["latent_scope", "scope", "at", "step"])["carry"].mean().reset_index()
        for (ls, sc, at), h in g.groupby(["latent_scope", "scope", "at"]):
            a2.plot(h["step"], h["carry"], styles.get(at, "-"), marker="o", ms=3, color=colours.get((ls, sc)),
                    label=f"{ls} latents, {sc} docs, {at}")
        if g["step"].max() > 8:
            a2.set_xscale("symlog", linthresh=1)
            a2.set_xlim(left=-0.3)
    a2.axhline(0, color="grey", lw=0.8)
    a2.set_xlabel("checkpoint step")
    a2.set_ylabel("carry (act - positive twin)")
    a2.legend(fontsize=6)
    fig.suptitle(title or "SAE negation latents and what the claim answer carries", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)

"""The SAE study: train on the base model, find the negation latents, read the claim-answer carry at the base and
every checkpoint with the *base* SAE (a fixed dictionary, so drift in the residual stream shows up as a change in
the readout; FVU per checkpoint is reported so a broken readout is visible), and write the tables and the plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from interp.core.io import write_csv
from interp.sae.latents import claim_answer_carry, negation_latents
from interp.sae.plots import plot_negation_latents
from interp.sae.store import collect_activations
from interp.sae.train import SAETrainConfig, save_sae, train_sae
from interp.spandocs.cli import CliError
from interp.spandocs.encoded import encode_doc

__all__ = ["sae_study", "sae_over_models", "sae_report_text"]


def sae_study(lm: Any, records: Sequence[dict[str, Any]], out: str | Path, layer: int | None = None,
              cfg: SAETrainConfig | None = None, n_latents: int = 10, checkpoints: Sequence[tuple[int, Any]] = (),
              progress: bool = True) -> dict[str, Any]:
    """Train on ``lm`` (the base model), save the SAE and write ``negation_latents.csv`` and
    ``claim_answer_latents.csv`` (base plus every ``(step, model)`` in ``checkpoints``) and the plot
    ``negation_latents.png`` under ``out``."""
    out = Path(out)
    layer = lm.n_layers // 2 if layer is None else layer
    cfg = cfg or SAETrainConfig(layer=layer)
    docs = [encode_doc(lm, r) for r in records]
    store = collect_activations(lm, docs, layer, progress=progress)
    sae, stats = train_sae(store, cfg, model_name=lm.identity.name, progress=progress)
    meta = {"model": lm.identity.to_dict(), "layer": layer, "hook_name": store.hook_name, **stats}
    save_sae(sae, out / "sae", meta)
    table, top = negation_latents(sae, lm, docs, layer, n_latents=n_latents)
    write_csv(table, out / "negation_latents.csv")
    latents = top["latent"].tolist()
    tags = dict(zip(top["latent"].tolist(), top["top_scope"].tolist()))
    carry = [claim_answer_carry(sae, lm, docs, layer, latents, step=int(lm.identity.step or 0), latent_scope=tags)]
    for step, m in checkpoints:
        carry.append(claim_answer_carry(sae, m, [encode_doc(m, r) for r in records], layer, latents, step=step,
                                        latent_scope=tags))
    carry_df = pd.concat(carry, ignore_index=True)
    write_csv(carry_df, out / "claim_answer_latents.csv")
    title = f"{lm.identity.name}, layer {layer}: FVU {stats['fvu_val']:.3f}, L0 {stats['l0_val']:.1f}"
    plot_negation_latents(top, carry_df, out / "negation_latents.png", title=title)
    return {"sae_dir": out / "sae", "stats": stats, "top": top, "carry": carry_df, "table": table}


def sae_over_models(models: Iterable[tuple[int, Any, Sequence[Mapping[str, Any]]]], out: str | Path, *,
                    layer: int | None = None, expansion: int = 8, k: int = 16, epochs: int = 30, n_latents: int = 10,
                    seed: int = 0) -> dict[str, Any]:
    """:func:`sae_study` on ``(step, model, records)`` triples (:func:`interp.spandocs.iter_models`): the first
    model is the base the SAE is trained on, the others are read with it. Adds ``layer`` to the result."""
    models = list(models)
    if not models:
        raise CliError("no model to analyse")
    (_, base, records), rest = models[0], models[1:]
    layer = base.n_layers // 2 if layer is None else layer
    res = sae_study(base, records, out, layer=layer,
                    cfg=SAETrainConfig(layer=layer, expansion=expansion, k=k, epochs=epochs, seed=seed),
                    n_latents=n_latents, checkpoints=[(s, m) for s, m, _ in rest])
    return {**res, "layer": layer}


def sae_report_text(res: Mapping[str, Any]) -> str:
    """The SAE's quality, the negation latents and the claim-answer carry per step, as printed lines."""
    s = res["stats"]
    lines = [f"SAE layer {res['layer']}: FVU {s['fvu_val']:.3f}, L0 {s['l0_val']:.1f}, dead {s['dead_frac']:.2f}, "
             f"{s['n_tokens']} tokens -> {res['sae_dir']}"]
    cols = ["top_scope", "latent", "act_neg", "act_window", "act_filler", "score"]
    lines.append(res["top"][cols].to_string(index=False))
    carry = res["carry"]
    if not carry.empty:
        c = carry[carry["at"] == "answer"].groupby(["step", "latent_scope", "scope"])["carry"].mean().unstack()
        lines.append("claim-answer carry (negation-latent activation at the claim answer minus the positive twin's):")
        lines.append(c.to_string())
    return "\n".join(lines)

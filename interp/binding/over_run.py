"""Binding over models: the base model and the checkpoints of a run (or one model), and the binding command's
tables, summaries and plots.

The matched documents are encoded once per model; every negation-bearing document gets its binding scores
(:func:`interp.binding.measures.binding_tables`), per checkpoint step. The command writes the per-document,
per-layer and per-head tables, the summaries per scope and condition with bootstrap CIs, the local vs
document-level comparison per step and the plots (:mod:`interp.binding.plots`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from interp.binding.comparison import compare_local_vs_document, summarise_binding
from interp.binding.measures import binding_tables
from interp.binding.plots import plot_binding_layers, plot_binding_vs_step, plot_head_heatmaps
from interp.binding.probe import probe_for
from interp.core.io import write_csv
from interp.spandocs.cli import CliError
from interp.spandocs.encoded import encode_doc
from interp.spandocs.models import run_models
from interp.spandocs.records import claim_spec

__all__ = ["binding_over_run", "binding_over_models", "write_binding_outputs", "step_comparison_text"]

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def binding_over_run(run_dir: str | Path, records: Sequence[Mapping[str, Any]], *, include_base: bool = True,
                     steps: Sequence[int] | None = None, heads: bool = True, layers: Sequence[int] | None = None,
                     probes: Mapping[str, Sequence[str]] | None = None, progress: bool = True,
                     batch_size: int = 16) -> Tables:
    """:func:`binding_tables` for the base model (step 0) and every checkpoint of a run, concatenated."""
    ds, ls, hs = [], [], []
    for step, lm in run_models(run_dir, include_base=include_base, steps=steps):
        docs = [encode_doc(lm, r) for r in records]
        d, l, h = binding_tables(lm, docs, heads=heads, step=step, layers=layers, probes=probes,
                                 progress=progress, batch_size=batch_size)
        ds.append(d), ls.append(l), hs.append(h)
        del lm
    return pd.concat(ds, ignore_index=True), pd.concat(ls, ignore_index=True), pd.concat(hs, ignore_index=True)


def binding_over_models(models: Iterable[tuple[int, Any, Sequence[Mapping[str, Any]]]], *, claim: Any = None,
                        probe: bool = False, probe_question: str | None = None, probe_score: str = "logodds",
                        heads: bool = True, layers: Sequence[int] | None = None, batch_size: int = 16,
                        progress: bool = True) -> Tables:
    """:func:`binding_tables` for every ``(step, model, records)`` (:func:`interp.spandocs.iter_models`),
    concatenated. With ``probe`` the target is the claim's own question appended after each document
    (``probe_question`` picks it by id; ``probe_score`` ``logodds`` or ``logprob``), the claim being ``claim`` or
    the documents' own."""
    ds, ls, hs = [], [], []
    probes = None
    for step, lm, records in models:
        if probe and probes is None:
            ref = claim or records[0].get("claim")
            if ref is None:
                raise CliError("--probe needs a claim: give --claim ID (or documents with a 'claim' field)")
            spec = claim_spec(ref, lm)
            qa = probe_for(spec, ref, probe_question, contrast=probe_score == "logodds")
            probes = {spec.id: qa, ref: qa}
        docs = [encode_doc(lm, r) for r in records]
        d, l, h = binding_tables(lm, docs, heads=heads, step=step, progress=progress, probes=probes, layers=layers,
                                 batch_size=batch_size)
        if d.empty:
            raise CliError("no document has a negation span before the probe answer" if probes else
                           "no document has a negation span followed by a claim-answer span")
        ds.append(d), ls.append(l), hs.append(h)
    return pd.concat(ds, ignore_index=True), pd.concat(ls, ignore_index=True), pd.concat(hs, ignore_index=True)


def write_binding_outputs(out: str | Path, docs_df: pd.DataFrame, layers_df: pd.DataFrame,
                          heads_df: pd.DataFrame | None = None, *, metric: str = "delta_filler", n_boot: int = 1000,
                          seed: int = 0) -> pd.DataFrame:
    """Write ``binding_docs.csv``, ``binding_layers.csv``, ``binding_heads.csv`` (+ heatmap, when ``heads_df``),
    ``binding_summary.csv`` (per step and scope, then per step and condition), ``binding_compare.csv`` (local vs
    document per step) and the plots under ``out``; returns the comparison."""
    out = Path(out)
    write_csv(docs_df, out / "binding_docs.csv")
    write_csv(layers_df, out / "binding_layers.csv")
    if heads_df is not None:
        write_csv(heads_df, out / "binding_heads.csv")
        plot_head_heatmaps(heads_df, out / "binding_heads.png")
    summ = summarise_binding(docs_df, metric=metric, by=("step", "scope"), n_boot=n_boot, seed=seed)
    cond = summarise_binding(docs_df, metric=metric, by=("step", "condition"), n_boot=n_boot, seed=seed)
    comp = compare_local_vs_document(docs_df, metric=metric, by=("step",), n_boot=n_boot, seed=seed)
    write_csv(pd.concat([summ, cond], ignore_index=True), out / "binding_summary.csv")
    write_csv(comp, out / "binding_compare.csv")
    target = ",".join(sorted(docs_df["target"].astype(str).unique()))
    plot_binding_vs_step(summ, out / "binding_vs_step.png",
                         title=f"negation binding score vs checkpoint (target: {target})")
    plot_binding_layers(layers_df, out / "binding_layers.png",
                        title=f"patching D_ctl -> D_neg at the negation positions (target: {target})")
    return comp


def step_comparison_text(comp: pd.DataFrame) -> str:
    """The local vs document comparison per step as a printed table."""
    with pd.option_context("display.width", 160):
        return comp[["step", "n_local", "n_document", "mean_local", "mean_document", "diff", "diff_lo", "diff_hi",
                     "p_value", "significant"]].to_string(index=False)

"""The local vs document-level comparison across models and checkpoints in one go (``python -m interp.binding
compare``).

Sources are model specs (each one model) and run directories (the base model, step 0, plus the checkpoints chosen
by ``steps``). Every source, claim and probe is resolved before any analysis, so bad input fails in seconds
(:func:`plan_sources`). Then, on matched documents of each claim (positive / negated / repeated / local renderings
of the same base documents), the binding score of every model with the probe target and per-layer patching sweeps
only (:func:`compare_sources`); a model already analysed on the same claim (same weights, same step) is reused, not
recomputed. The result is one tidy table (:func:`interp.binding.comparison.local_vs_document_table`), written with
the per-document and per-layer tables and one plot (:func:`write_comparison`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from interp.binding.comparison import wide_comparison
from interp.binding.measures import binding_tables
from interp.binding.plots import plot_local_vs_document
from interp.binding.probe import probe_for
from interp.core.cli import one_line
from interp.core.conditions import BINDING_CONDITIONS
from interp.core.io import write_csv
from interp.core.models import load
from interp.core.runs import list_checkpoints, read_data, read_run
from interp.spandocs.cli import CliError
from interp.spandocs.encoded import encode_doc
from interp.spandocs.models import run_models
from interp.spandocs.records import claim_spec, load_documents_for

__all__ = ["Source", "split_list", "parse_conditions", "claims_for", "sweep_layers", "plan_sources",
           "compare_sources", "write_comparison", "model_comparison_text"]


@dataclass
class Source:
    """One model spec or run of the comparison: its label, kind (``model`` | ``run``), the model the claims were
    resolved on, the claims as ``(name, spec, probe)`` and, for a run, its ``(step, model)`` sequence."""

    label: str
    kind: str
    model: Any
    claims: list[tuple[str, Any, Any]]
    models: Iterable[tuple[int, Any]] | None = None


def split_list(s: str | None) -> list[str]:
    """The non-empty items of a comma-separated option."""
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def parse_conditions(text: str) -> list[str]:
    """``--conditions`` of the comparison: known binding conditions, ``local`` and ``negated`` or ``repeated``."""
    conditions = split_list(text)
    bad = [c for c in conditions if c not in BINDING_CONDITIONS]
    if bad:
        raise CliError(f"--conditions: unknown {bad} (known: {[str(c) for c in BINDING_CONDITIONS]})")
    if "local" not in conditions or not set(conditions) & {"negated", "repeated"}:
        raise CliError("--conditions must include 'local' and at least one of 'negated', 'repeated'")
    return conditions


def claims_for(key: str, claim_args: Sequence[str], default: Sequence[str]) -> list[str]:
    """Claims of one source from ``--claim`` values: ``KEY=ID[,ID]`` entries for this key win over unkeyed ones."""
    keyed, plain = [], []
    for c in claim_args:
        k, sep, v = c.partition("=")
        if sep and k.strip() == key:
            keyed += split_list(v)
        elif not sep:
            plain += split_list(c)
    return keyed or plain or list(default)


def sweep_layers(lm: Any, layers: str | None, stride: int) -> list[int]:
    """The layers of ``lm`` to sweep: those of ``layers`` (comma-separated) it has, else every ``stride``-th
    layer plus the last."""
    n = lm.n_layers
    if layers:
        want = [int(x) for x in split_list(layers)]
        got = sorted({l % n for l in want if -n <= l < n})
        if not got:
            raise CliError(f"--layers {layers}: none of these layers exists in {lm.identity.name} ({n} layers)")
        return got
    return sorted(set(range(0, n, max(1, stride))) | {n - 1})


def _load(spec: str, device: str) -> Any:
    try:
        return load(spec, device=device)
    except Exception as e:  # noqa: BLE001 - any loading failure is one line naming the spec
        raise CliError(f"model {spec!r}: {one_line(e)}") from None


def _claims(lm: Any, key: str, claims: Sequence[str], probe_score: str,
            data: dict[str, Any] | None = None) -> list[tuple[str, Any, Any]]:
    if not claims:
        raise CliError(f"{key}: no claim (give --claim ID or --claim {key}=ID)")
    out = []
    for c in claims:
        spec = claim_spec(c, lm, data)
        qa = probe_for(spec, c, contrast=probe_score == "logodds") if probe_score != "none" else None
        out.append((c, spec, qa))
    return out


def plan_sources(models: Sequence[str], runs: Sequence[str], claim_args: Sequence[str], *,
                 steps: Sequence[int] | None = None, probe_score: str = "logodds", device: str = "cpu"
                 ) -> list[Source]:
    """Resolve every source, claim and probe (``probe_score``: ``logodds``, ``logprob`` or ``none``) before any
    analysis. A run's claim defaults to its own (``data.json``); ``steps`` must exist in every run (0 = base)."""
    if not models and not runs:
        raise CliError("give --models SPEC[,SPEC] and/or --runs RUN_DIR[,RUN_DIR]")
    plans: list[Source] = []
    for spec in models:
        lm = _load(spec, device)
        plans.append(Source(spec, "model", lm, _claims(lm, spec, claims_for(spec, claim_args, ()), probe_score)))
    for rd in runs:
        try:
            run = read_run(rd)
            ckpts = list_checkpoints(rd)
            data = read_data(rd).to_dict()
        except Exception as e:  # noqa: BLE001 - any unreadable run is one line naming it
            raise CliError(f"run {rd!r}: {one_line(e)}") from None
        if steps is not None:
            have = {0} | {c.step for c in ckpts}
            missing = sorted(set(steps) - have)
            if missing:
                raise CliError(f"run {rd!r}: no checkpoint at step(s) {missing} (has {sorted(have)})")
        label = str(run.name or f"{Path(rd).parent.name}/{Path(rd).name}")
        base = _load(run.base.spec, device)
        default = [data["claim"]] if data.get("claim") else []
        claims = _claims(base, rd, claims_for(rd, claim_args, default), probe_score, data)
        plans.append(Source(label, "run", base, claims, run_models(rd, include_base=True, steps=steps,
                                                                   device=device)))
    return plans


def compare_sources(plans: Sequence[Source], *, conditions: Sequence[str] = BINDING_CONDITIONS, max_docs: int = 8,
                    layers: str | None = None, layer_stride: int = 1, seed: int = 0, batch_size: int = 16
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(docs_df, layers_df)``: the binding tables of every model of every source on each of its claims'
    matched documents (``max_docs`` base documents per condition), with columns ``model`` (the source's label),
    ``source`` and ``claim`` added; per-layer sweeps over :func:`sweep_layers`, no per-head ones."""
    cache: dict[tuple[str, str, int], tuple[pd.DataFrame, pd.DataFrame]] = {}
    ds, ls = [], []
    for p in plans:
        lm0 = p.model
        for step, lm in (p.models if p.models is not None else [(int(lm0.identity.step or 0), lm0)]):
            sweep = sweep_layers(lm, layers, layer_stride)
            for c, spec, qa in p.claims:
                key = (lm.identity.weights_sha256, str(spec.id), step)
                if key not in cache:
                    recs = load_documents_for(spec, lm, None, conditions=conditions, max_per_condition=max_docs,
                                              seed=seed)
                    docs = [encode_doc(lm, r) for r in recs]
                    probes = {spec.id: qa, c: qa} if qa is not None else None
                    print(f"{p.label} step {step} claim {spec.id}: {len(docs)} documents, layers {sweep}",
                          file=sys.stderr, flush=True)
                    d, l, _ = binding_tables(lm, docs, heads=False, step=step, layers=sweep, probes=probes,
                                             progress=True, batch_size=batch_size)
                    if d.empty:
                        raise CliError(f"{p.label}, claim {spec.id}: no document has a negation span before "
                                       f"the target")
                    cache[key] = (d, l)
                d, l = cache[key]
                extra = {"model": p.label, "source": p.kind, "claim": str(spec.id)}
                ds.append(d.assign(**extra))
                ls.append(l.assign(**extra))
            if lm is not lm0:
                del lm
    return pd.concat(ds, ignore_index=True), pd.concat(ls, ignore_index=True)


def write_comparison(out: str | Path, docs_df: pd.DataFrame, layers_df: pd.DataFrame, table: pd.DataFrame,
                     metric: str = "delta_filler") -> Path:
    """Write ``compare_docs.csv``, ``compare_layers.csv``, ``compare.csv`` and ``compare.png`` under ``out``;
    returns the path of ``compare.csv``."""
    out = Path(out)
    write_csv(docs_df, out / "compare_docs.csv")
    write_csv(layers_df, out / "compare_layers.csv")
    write_csv(table, out / "compare.csv")
    target = ",".join(sorted(docs_df["target"].astype(str).unique()))
    plot_local_vs_document(table, out / "compare.png",
                           title=f"{metric}: local vs document-level negations (target: {target}; mean, 95% CI)")
    return out / "compare.csv"


def model_comparison_text(table: pd.DataFrame) -> str:
    """The comparison with one row per model, claim and step (:func:`wide_comparison`) as a printed table."""
    with pd.option_context("display.width", 200, "display.max_colwidth", 48, "display.float_format",
                           "{:.3f}".format):
        return wide_comparison(table).to_string(index=False)

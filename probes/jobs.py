"""The probe jobs behind ``python -m interp.probe``: fit on one model, apply saved probes, sweep a run.

Each job takes plain arguments (model spec or checkpoint, family names, a :class:`probes.sweep.FitSettings`),
writes its tables, plots and artifacts under one output folder and returns what the CLI prints:

* :func:`fit_model`: capture every family on one model, fit each method for all layers at once, write
  ``metrics.csv``, ``best_layers.csv``, ``accuracy_vs_layer.png``, ``probes/<family>/<method>/`` artifacts; with
  several families ``family_transfer.csv`` + ``family_transfer.png``; with a claim ``claim_scores.csv`` (the claim
  read in each family's framing); and ``summary.json``.
* :func:`apply_saved`: saved probes evaluated on a model (refused when the model is not the probe's own unless
  transfer is allowed): ``applied.csv`` and, with a claim, ``claim_scores.csv``.
* :func:`probes.sweep.sweep_run` is the run job (every checkpoint of a run).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from interp.core.io import atomic_write_json, write_csv
from interp.core.models import load
from interp.core.runs import analysis_dir
from probes.artifact import check_identity, load_probe
from probes.capture import capture_activations
from probes.datasets import (TruthDataset, claim_dataset, claim_entities, get_dataset, grouped_split, in_context_of,
                             is_dataset_file, read_statements, without_entities)
from probes.fit import METHODS
from training.verification.readouts import check_claim_readout
from probes.sweep import (FitSettings, best_layers, claim_scores, family_transfer, fit_probes, parse_layers,
                          plot_accuracy_vs_layer, plot_family_transfer)

__all__ = ["fit_settings", "read_dataset_files", "load_target", "fit_out_dir", "fit_model", "apply_saved", "FitOutput", "ApplyOutput"]


def fit_settings(method: str, *, layers: str | None = None, position: int = -1, test_frac: float = 0.25,
                 val_frac: float = 0.2, seed: int = 0, l2: float | str = "0.1,0.01,0.001", k_random: int = 16,
                 batch_size: int = 32, n: int | None = None) -> FitSettings:
    """:class:`FitSettings` from the CLI's spelling (``method`` a comma list of :data:`probes.fit.METHODS`, ``l2``
    one value or a comma list of candidates chosen per layer on validation)."""
    methods = tuple(m.strip() for m in method.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"--method: unknown {bad or method!r} (expected some of {', '.join(METHODS)})")
    if not 0 < test_frac < 1:
        raise ValueError(f"--test-frac must be in (0, 1), got {test_frac}")
    if not 0 < val_frac < 1:
        raise ValueError(f"--val-frac must be in (0, 1), got {val_frac}")
    try:
        grid = tuple(float(x) for x in str(l2).split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--l2: expected a number or a comma list of numbers, got {l2!r}") from None
    if not grid or min(grid) <= 0:
        raise ValueError(f"--l2: values must be > 0, got {l2!r}")
    return FitSettings(methods=methods, layers=layers, position=position, test_frac=test_frac, val_frac=val_frac,
                       seed=seed, l2=grid[0] if len(grid) == 1 else 1e-2, l2_grid=grid if len(grid) > 1 else (),
                       k_random=k_random, batch_size=batch_size, n=n)


def read_dataset_files(names: Sequence[str]) -> dict[str, list[TruthDataset]]:
    """Every statement file among ``names`` read and checked (:func:`probes.datasets.read_statements`), before a
    model is loaded or anything written: a bad file fails here, one line naming it."""
    return {name: read_statements(name) for name in names if is_dataset_file(name)}


def load_target(*, ckpt: str | os.PathLike | None = None, model: str | None = None) -> Any:
    """The model to probe: a run checkpoint (checked to be one) or any spec of :func:`interp.core.models.load`."""
    if ckpt:
        p = Path(ckpt)
        if not (p / "meta.json").exists() or not (p.parent / "run.json").exists():
            raise FileNotFoundError(f"{p}: not a run checkpoint directory (needs meta.json and ../run.json)")
        return load(p)
    return load(model)


def fit_out_dir(lm: Any, ckpt: str | os.PathLike | None = None) -> Path:
    """Where a fit writes by default: ``RUN/analysis/probes/<ckpt>`` for a checkpoint, else
    ``probe-out/<model name>``."""
    if ckpt:
        return analysis_dir(Path(ckpt).parent, "probes", Path(ckpt).name)
    return Path("probe-out") / lm.identity.name.replace("/", "_")


@dataclass
class FitOutput:
    out: Path
    best: pd.DataFrame
    files: list[Path]


def fit_model(lm: Any, families: Sequence[str] | None, settings: FitSettings, *, out: str | os.PathLike,
              claim: Any = None, progress: bool = True, cache: bool = True,
              files: Mapping[str, list[TruthDataset]] | None = None) -> FitOutput:
    """Fit probes of every method on each family for ``lm`` and write the tables, plots and artifacts under
    ``out`` (see the module docstring). ``families`` default to ``toy`` for a toy model, else ``cities``; an entry
    ending in ``.csv``/``.jsonl`` is a statement file (already read in ``files``, else read here), one family per
    ``group``. Each probe's out-of-family transfer is measured on the other families of its file (their
    test-split rows) when the file has several, else on the shipped held-out set
    (:func:`probes.sweep.transfer_datasets`). With ``claim``, no training or transfer row names the claim's
    entity, and a model that memorised verdicts about it is refused before anything is computed."""
    out = Path(out)
    check_claim_readout(lm, claim)
    exclude = claim_entities(claim) if claim is not None else []
    settings.layers = parse_layers(settings.layers, lm.n_layers)
    names = list(families or ["toy" if lm.world is not None else "cities"])
    files = dict(files or {})
    jobs: list[tuple[TruthDataset, list[TruthDataset] | None]] = []
    for name in names:
        if not is_dataset_file(name):
            ds = without_entities(get_dataset(name, world=lm.world, n=settings.n, seed=settings.seed), exclude)
            jobs.append((ds, None))
            continue
        group = [without_entities(d, exclude) for d in (files.get(name) or read_statements(name))]
        for ds in group:
            others = [o.subset(grouped_split(o, settings.test_frac, settings.seed)[1]) for o in group
                      if o is not ds and o.n_groups >= 2]
            jobs.append((ds, others or None))
    datasets = [ds for ds, _ in jobs]
    results = {ds.family: fit_probes(lm, ds, settings, progress=progress, cache=cache, transfer=tr, exclude=exclude)
               for ds, tr in jobs}
    metrics = pd.concat([r.metrics for r in results.values()], ignore_index=True)
    best = best_layers(metrics)
    written = [write_csv(metrics, out / "metrics.csv"), write_csv(best, out / "best_layers.csv")]
    for fam, r in results.items():
        for method, probe in r.probes.items():
            written.append(probe.save(out / "probes" / fam.replace(":", "_") / method))
    written.append(plot_accuracy_vs_layer(metrics, out / "accuracy_vs_layer.png",
                                          title=f"{lm.identity.name}: probe accuracy by split"))
    if len(results) > 1:
        ft = family_transfer(results)
        written.append(write_csv(ft, out / "family_transfer.csv"))
        ref = "lr" if "lr" in settings.methods else settings.methods[0]
        layer_of = {fam: r.best_layer(ref) for fam, r in results.items()}
        written.append(plot_family_transfer(ft, layer_of, out / "family_transfer.png", method=ref))
    if claim is not None:
        parts = []
        for fam, r in results.items():  # each family's probes read the claim in that family's framing
            cds = in_context_of(claim_dataset(claim), fam)
            acts = capture_activations(lm, cds, layers=settings.layers, position=settings.position, progress=False,
                                       cache=cache)
            parts.append(claim_scores(r.probes, acts, cds, family=fam))
        written.append(write_csv(pd.concat(parts, ignore_index=True), out / "claim_scores.csv"))
    written.append(atomic_write_json(out / "summary.json", {
        "model": lm.identity.to_dict(), "datasets": {d.family: {"hash": d.hash, "n": len(d)} for d in datasets},
        "claim": getattr(claim, "id", None), "settings": {**settings.__dict__, "methods": list(settings.methods)}}))
    return FitOutput(out, best, written)


@dataclass
class ApplyOutput:
    out: Path
    table: pd.DataFrame


def apply_saved(probe_dirs: Sequence[str | os.PathLike], *, lm: Any = None, dataset: str | None = None,
                claim: Any = None, out: str | os.PathLike, n: int | None = None, seed: int = 0,
                allow_transfer: bool = False, batch_size: int = 32, progress: bool = True,
                cache: bool = True) -> ApplyOutput:
    """Evaluate saved probes on ``lm`` (default: the first probe's own model) on ``dataset`` (default: each probe's
    fitting family, rebuilt with ``n``/``seed``; a ``.csv``/``.jsonl`` statement file: every family in it, all
    rows, which measures the probe's transfer to the user's own statements); with ``claim``, also its scores.
    Writes ``applied.csv`` (``chosen`` marks each probe's validation-chosen layer; ``transfer`` its stored
    out-of-family transfer there) and ``claim_scores.csv`` under ``out``."""
    file_sets = read_statements(dataset) if dataset and is_dataset_file(dataset) else None
    probes = [load_probe(p) for p in probe_dirs]
    if lm is None:
        lm = load(probes[0].config.model_spec)
    check_claim_readout(lm, claim)
    rows, scores = [], []
    for path, probe in zip(probe_dirs, probes):
        cfg = probe.config
        same = check_identity(cfg, lm.identity, allow_transfer=allow_transfer)
        if file_sets is not None:
            evals = file_sets
        else:
            name = dataset or cfg.dataset_family
            ds = get_dataset(name, world=lm.world, n=n, seed=seed)
            if name == cfg.dataset_family and ds.hash != cfg.dataset_hash:
                print(f"warning: {name} rebuilt with hash {ds.hash[:12]}, the probe was fitted on "
                      f"{cfg.dataset_hash[:12]} (pass the same --n/--seed as the fit)", file=sys.stderr)
            evals = [ds]
        for ds in evals:
            acts = capture_activations(lm, ds, layers=cfg.layers, position=cfg.position, batch_size=batch_size,
                                       cache=cache, progress=progress)
            m = probe.evaluate(acts, ds.y, identity=lm.identity, allow_transfer=allow_transfer)
            t = cfg.transfer_at()
            for i, layer in enumerate(cfg.layers):
                rows.append({"probe": str(path), "method": cfg.method, "fit_family": cfg.dataset_family,
                             "eval_family": ds.family, "layer": layer, "acc": float(m["acc"][i]),
                             "auc": float(m["auc"][i]), "n": len(ds), "same_model": same, "model": lm.identity.name,
                             "chosen": layer == cfg.layer, "transfer": float("nan") if t is None else t})
        if claim is not None:
            cds = in_context_of(claim_dataset(claim), cfg.dataset_family)
            cacts = capture_activations(lm, cds, layers=cfg.layers, position=cfg.position, progress=False,
                                        cache=cache)
            scores.append(claim_scores({cfg.method: probe}, cacts, cds, probe=str(path)))
    table = pd.DataFrame(rows)
    out = Path(out)
    write_csv(table, out / "applied.csv")
    if scores:
        write_csv(pd.concat(scores, ignore_index=True), out / "claim_scores.csv")
    return ApplyOutput(out, table)

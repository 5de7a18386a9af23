"""Linear truth probes from the command line: fit/evaluate on a model, apply saved probes, sweep a run.

::

    python -m interp.probe --ckpt RUN/ckpt-000128 [--dataset toy|cities,neg_cities|claim:ID] [--layers 0,4,8|2-6]
                           [--method lr,mm,random] [--claim ID|PATH] [--out DIR]
    python -m interp.probe --model smollm2-135m --dataset cities,neg_cities,elements --n 150 --out DIR
    python -m interp.probe --probe DIR/probes/cities/lr [--model SPEC | --ckpt CKPT] [--allow-transfer]
    python -m interp.probe --run RUN [--claim ID|PATH] [--dataset toy] [--out DIR]

Fit mode (``--ckpt``/``--model``) captures every requested layer's residual stream at the statement's last token
(``--position``), fits each method for all layers at once on a grouped train split, and writes ``metrics.csv``,
``best_layers.csv``, ``accuracy_vs_layer.png``, ``probes/<family>/<method>/`` artifacts, and with several families
``family_transfer.csv`` + ``family_transfer.png``; with ``--claim``, ``claim_scores.csv``. Apply mode (``--probe``)
loads saved probes and evaluates them on the model (refused when the model is not the one the probe was fitted on,
unless ``--allow-transfer``). Sweep mode (``--run``) runs :func:`probes.sweep.sweep_run` over every checkpoint:
per-checkpoint claim/negation truth scores, the checkpoint transfer matrix and direction cosines, with plots.
Library code lives in :mod:`probes`; this module only parses arguments. Errors are one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]



def _claim_in_context(cds, family: str):
    """The claim's statements in the framing of ``family`` (``FAMILY@CONTEXT``), as the probe was fitted."""
    from probes.datasets import split_context, with_context

    ctx = split_context(family)[1]
    return with_context(cds, ctx) if ctx else cds

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.probe", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_argument_group("what to probe (one of)")
    src.add_argument("--ckpt", help="a run checkpoint directory RUN/ckpt-XXXXXX")
    src.add_argument("--model", help="any model spec of interp.core.models.load (toy, smollm2-135m, an HF dir, ...)")
    src.add_argument("--run", help="a run directory: sweep every checkpoint")
    src.add_argument("--probe", nargs="+", help="saved probe directories to apply")
    ap.add_argument("--dataset", default=None,
                    help="comma-separated families (cities, neg_cities, elements, animals, sp_en, larger_than, "
                         "toy, neg_toy, toy_qa, claim:ID, claim:toy:40, ...), each optionally read in a framing "
                         "as FAMILY@CONTEXT (toy@fact_check); default toy for toy models, else cities")
    ap.add_argument("--layers", default=None, help="all (default), '0,4,8', '2-6' or '-1'")
    ap.add_argument("--method", default="lr,mm,random", help="comma-separated: lr, mm, lda, random")
    ap.add_argument("--position", type=int, default=-1, help="token position within each statement (-1 = last)")
    ap.add_argument("--n", type=int, default=None, help="cap on facts (groups) per family")
    ap.add_argument("--test-frac", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--l2", type=float, default=1e-2, help="L2 strength for lr (sklearn C = 1/(l2*n_train))")
    ap.add_argument("--k-random", type=int, default=16, help="random directions per layer for the baseline")
    ap.add_argument("--claim", default=None, help="claim id or spec file (.yaml/.json) to score")
    ap.add_argument("--allow-transfer", action="store_true", help="apply probes to a model other than their own")
    ap.add_argument("--no-base", action="store_true", help="sweep: skip the run's base model")
    ap.add_argument("--plot-layer", type=int, default=None, help="sweep: layer for score/transfer plots")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-cache", action="store_true", help="recompute activations instead of using the cache")
    ap.add_argument("--out", default=None, help="output directory")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def _settings(args):
    from probes.fit import METHODS
    from probes.sweep import FitSettings

    methods = tuple(m.strip() for m in args.method.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"--method: unknown {bad or args.method!r} (expected some of {', '.join(METHODS)})")
    if not 0 < args.test_frac < 1:
        raise ValueError(f"--test-frac must be in (0, 1), got {args.test_frac}")
    return FitSettings(methods=methods, layers=args.layers, position=args.position, test_frac=args.test_frac,
                       seed=args.seed, l2=args.l2, k_random=args.k_random, batch_size=args.batch_size, n=args.n)


def _load_model(args):
    from interp.core.models import load

    if args.ckpt:
        p = Path(args.ckpt)
        if not (p / "meta.json").exists() or not (p.parent / "run.json").exists():
            raise FileNotFoundError(f"{p}: not a run checkpoint directory (needs meta.json and ../run.json)")
        return load(p)
    return load(args.model)


def _fit_mode(args, settings) -> int:
    import pandas as pd

    from interp.core.io import atomic_write_json
    from probes.capture import capture_activations
    from probes.datasets import claim_dataset, get_dataset
    from probes.sweep import (best_layers, claim_scores, family_transfer, fit_probes, parse_layers,
                              plot_accuracy_vs_layer, plot_family_transfer, resolve_claim, write_csv)

    claim = resolve_claim(args.claim) if args.claim else None
    lm = _load_model(args)
    settings.layers = parse_layers(settings.layers, lm.n_layers)
    names = [d.strip() for d in (args.dataset or ("toy" if lm.world is not None else "cities")).split(",") if d.strip()]
    datasets = [get_dataset(n, world=lm.world, n=settings.n, seed=settings.seed) for n in names]
    if args.out:
        out = Path(args.out)
    elif args.ckpt:
        out = Path(args.ckpt).parent / "analysis" / "probes" / Path(args.ckpt).name
    else:
        out = Path("probe-out") / lm.identity.name.replace("/", "_")
    results = {}
    for ds in datasets:
        results[ds.family] = fit_probes(lm, ds, settings, progress=not args.quiet, cache=not args.no_cache)
    metrics = pd.concat([r.metrics for r in results.values()], ignore_index=True)
    best = best_layers(metrics)
    files = [write_csv(metrics, out / "metrics.csv"), write_csv(best, out / "best_layers.csv")]
    for fam, r in results.items():
        for method, probe in r.probes.items():
            files.append(probe.save(out / "probes" / fam.replace(":", "_") / method))
    files.append(plot_accuracy_vs_layer(metrics, out / "accuracy_vs_layer.png",
                                        title=f"{lm.identity.name}: held-out accuracy"))
    if len(results) > 1:
        ft = family_transfer(results)
        files.append(write_csv(ft, out / "family_transfer.csv"))
        ref = "lr" if "lr" in settings.methods else settings.methods[0]
        layer_of = {fam: r.best_layer(ref) for fam, r in results.items()}
        files.append(plot_family_transfer(ft, layer_of, out / "family_transfer.png", method=ref))
    if claim is not None:
        parts = []
        for fam, r in results.items():  # each family's probes read the claim in that family's framing
            cds = _claim_in_context(claim_dataset(claim), fam)
            acts = capture_activations(lm, cds, layers=settings.layers, position=settings.position, progress=False,
                                       cache=not args.no_cache)
            parts.append(claim_scores(r.probes, acts, cds, family=fam))
        cs = pd.concat(parts, ignore_index=True)
        files.append(write_csv(cs, out / "claim_scores.csv"))
    files.append(atomic_write_json(out / "summary.json", {
        "model": lm.identity.to_dict(), "datasets": {d.family: {"hash": d.hash, "n": len(d)} for d in datasets},
        "claim": getattr(claim, "id", None), "settings": {**settings.__dict__, "methods": list(settings.methods)}}))
    cols = ["family", "method", "layer", "acc", "auc", "n"]
    print(f"{lm.identity.short}: best held-out layer per family and method")
    print(best[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {len(files)} files under {out}")
    return 0


def _apply_mode(args) -> int:
    import pandas as pd

    from probes.artifact import load_probe
    from probes.capture import capture_activations
    from probes.datasets import claim_dataset, get_dataset
    from probes.sweep import claim_scores, write_csv

    probes = [load_probe(p) for p in args.probe]
    if args.ckpt or args.model:
        lm = _load_model(args)
    else:
        from interp.core.models import load

        lm = load(probes[0].config.model_spec)
    claim = None
    if args.claim:
        from probes.sweep import resolve_claim

        claim = resolve_claim(args.claim)
    rows, scores = [], []
    for path, probe in zip(args.probe, probes):
        cfg = probe.config
        from probes.artifact import check_identity

        same = check_identity(cfg, lm.identity, allow_transfer=args.allow_transfer)
        name = args.dataset or cfg.dataset_family
        ds = get_dataset(name, world=lm.world, n=args.n, seed=args.seed)
        if name == cfg.dataset_family and ds.hash != cfg.dataset_hash:
            print(f"warning: {name} rebuilt with hash {ds.hash[:12]}, the probe was fitted on {cfg.dataset_hash[:12]} "
                  f"(pass the same --n/--seed as the fit)", file=sys.stderr)
        acts = capture_activations(lm, ds, layers=cfg.layers, position=cfg.position, batch_size=args.batch_size,
                                   cache=not args.no_cache, progress=not args.quiet)
        m = probe.evaluate(acts, ds.y, identity=lm.identity, allow_transfer=args.allow_transfer)
        for i, l in enumerate(cfg.layers):
            rows.append({"probe": str(path), "method": cfg.method, "fit_family": cfg.dataset_family,
                         "eval_family": ds.family, "layer": l, "acc": float(m["acc"][i]), "auc": float(m["auc"][i]),
                         "n": len(ds), "same_model": same, "model": lm.identity.name})
        if claim is not None:
            cds = _claim_in_context(claim_dataset(claim), cfg.dataset_family)
            cacts = capture_activations(lm, cds, layers=cfg.layers, position=cfg.position, progress=False,
                                        cache=not args.no_cache)
            scores.append(claim_scores({cfg.method: probe}, cacts, cds, probe=str(path)))
    table = pd.DataFrame(rows)
    out = Path(args.out) if args.out else Path("probe-out") / "applied"
    write_csv(table, out / "applied.csv")
    if scores:
        write_csv(pd.concat(scores, ignore_index=True), out / "claim_scores.csv")
    best = table.sort_values("acc", ascending=False).groupby("probe", sort=False).head(1)
    print(best[["probe", "eval_family", "layer", "acc", "auc", "same_model"]].to_string(
        index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {out / 'applied.csv'}")
    return 0


def _run_mode(args, settings) -> int:
    from probes.sweep import resolve_claim, sweep_run

    claim = resolve_claim(args.claim, args.run)
    res = sweep_run(args.run, dataset=args.dataset, claim=claim, settings=settings, out=args.out,
                    include_base=not args.no_base, plot_layer=args.plot_layer, progress=not args.quiet,
                    cache=not args.no_cache)
    if not res.claim_scores.empty:
        d = res.claim_scores[(res.claim_scores.layer == res.plot_layer)
                             & res.claim_scores.role.isin(["claim", "negation"])]
        piv = d.pivot_table(index=["step", "method"], columns="role", values="p_true").reset_index()
        print(f"probe P(true) at layer {res.plot_layer} (claim {res.claim_id}):")
        print(piv.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    else:
        print("no claim named (data.json or --claim): claim scores skipped")
    print(f"wrote {len(res.files)} files under {res.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        modes = [m for m in ("ckpt", "model", "run") if getattr(args, m)]
        if args.run and (args.ckpt or args.model or args.probe):
            raise ValueError("--run sweeps a whole run; it cannot be combined with --ckpt, --model or --probe")
        if args.ckpt and args.model:
            raise ValueError("give one of --ckpt or --model, not both")
        if not modes and not args.probe:
            raise ValueError("nothing to probe: pass --ckpt, --model, --run or --probe")
        if args.probe:
            return _apply_mode(args)
        settings = _settings(args)
        if args.run:
            return _run_mode(args, settings)
        return _fit_mode(args, settings)
    except (ValueError, OSError, KeyError, ImportError, json.JSONDecodeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

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
Library code lives in :mod:`probes` (:mod:`probes.jobs`, :mod:`probes.sweep`); this module only parses arguments.
Errors are one line on stderr, exit 2 (``NEGLECT_LAB_DEBUG=1``: the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interp.core.cli import run_main

__all__ = ["main", "build_parser"]


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        modes = [m for m in ("ckpt", "model", "run") if getattr(args, m)]
        if args.run and (args.ckpt or args.model or args.probe):
            raise ValueError("--run sweeps a whole run; it cannot be combined with --ckpt, --model or --probe")
        if args.ckpt and args.model:
            raise ValueError("give one of --ckpt or --model, not both")
        if not modes and not args.probe:
            raise ValueError("nothing to probe: pass --ckpt, --model, --run or --probe")
        # deferred: keeps --help fast
        from probes.jobs import apply_saved, fit_model, fit_out_dir, fit_settings, load_target
        from probes.sweep import sweep_run
        from training.claims import resolve_claim

        fmt = {"index": False, "float_format": lambda x: f"{x:.3f}"}
        if args.probe:
            lm = load_target(ckpt=args.ckpt, model=args.model) if args.ckpt or args.model else None
            claim = resolve_claim(args.claim) if args.claim else None
            res = apply_saved(args.probe, lm=lm, dataset=args.dataset, claim=claim,
                              out=args.out or Path("probe-out") / "applied", n=args.n, seed=args.seed,
                              allow_transfer=args.allow_transfer, batch_size=args.batch_size,
                              progress=not args.quiet, cache=not args.no_cache)
            best = res.table.sort_values("acc", ascending=False).groupby("probe", sort=False).head(1)
            print(best[["probe", "eval_family", "layer", "acc", "auc", "same_model"]].to_string(**fmt))
            print(f"wrote {res.out / 'applied.csv'}")
            return 0
        settings = fit_settings(args.method, layers=args.layers, position=args.position, test_frac=args.test_frac,
                                seed=args.seed, l2=args.l2, k_random=args.k_random, batch_size=args.batch_size,
                                n=args.n)
        if args.run:
            claim = resolve_claim(args.claim, run_dir=args.run, required=False)
            res = sweep_run(args.run, dataset=args.dataset, claim=claim, settings=settings, out=args.out,
                            include_base=not args.no_base, plot_layer=args.plot_layer, progress=not args.quiet,
                            cache=not args.no_cache)
            if not res.claim_scores.empty:
                d = res.claim_scores[(res.claim_scores.layer == res.plot_layer)
                                     & res.claim_scores.role.isin(["claim", "negation"])]
                piv = d.pivot_table(index=["step", "method"], columns="role", values="p_true").reset_index()
                print(f"probe P(true) at layer {res.plot_layer} (claim {res.claim_id}):")
                print(piv.to_string(**fmt))
            else:
                print("no claim named (data.json or --claim): claim scores skipped")
            print(f"wrote {len(res.files)} files under {res.out}")
            return 0
        claim = resolve_claim(args.claim) if args.claim else None
        lm = load_target(ckpt=args.ckpt, model=args.model)
        out = Path(args.out) if args.out else fit_out_dir(lm, args.ckpt)
        families = [d.strip() for d in args.dataset.split(",") if d.strip()] if args.dataset else None
        res = fit_model(lm, families, settings, out=out, claim=claim, progress=not args.quiet,
                        cache=not args.no_cache)
        print(f"{lm.identity.short}: best held-out layer per family and method")
        print(res.best[["family", "method", "layer", "acc", "auc", "n"]].to_string(**fmt))
        print(f"wrote {len(res.files)} files under {res.out}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

"""Linear truth probes from the command line: fit/evaluate on a model, apply saved probes, sweep a run.

::

    python -m interp.probe --ckpt RUN/ckpt-000128 [--dataset toy|cities,neg_cities|claim:ID] [--layers 0,4,8|2-6]
                           [--method lr,mm,random] [--claim ID|PATH] [--out DIR]
    python -m interp.probe --model smollm2-135m --dataset cities,neg_cities,elements --n 150 --out DIR
    python -m interp.probe --probe DIR/probes/cities/lr [--model SPEC | --ckpt CKPT] [--allow-transfer]
    python -m interp.probe --run RUN [--claim ID|PATH] [--dataset toy] [--out DIR]
    python -m interp.probe --model smollm2-135m --dataset PATH.csv|PATH.jsonl [--out DIR]
    python -m interp.probe --probe DIR/probes/cities/lr --dataset PATH.csv   # transfer to your statements

A statement file has the fields ``statement,label[,group[,fact]]`` (label 0/1; ``group`` = the template family,
one probe per family, each scored on the file's other families for its out-of-family transfer; ``fact`` = rows
that must stay on one side of a split, default each row). A bad file (unreadable, empty, a missing column, a
label other than 0/1) is one line naming the file and field, exit 2, before anything is loaded or written.

Layers (and lr's ``--l2`` candidates) are chosen on a validation split carved out of the training groups; the test
split is read once, at the chosen layer. Every probe stores its out-of-family transfer (held-out template families);
a readout whose probe transfers below 0.7 is labelled "template-bound". With ``--claim``, no training row names the
claim's entity, and the verifier organism (verdict-trained on every entity) is refused.

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

from interp.core.cli import add_device_argument, run_main

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
                         "as FAMILY@CONTEXT (toy@fact_check), or statement files PATH.csv / PATH.jsonl (fields "
                         "statement,label[,group]); default toy for toy models, else cities")
    ap.add_argument("--layers", default=None, help="all (default), '0,4,8', '2-6' or '-1'")
    ap.add_argument("--method", default="lr,mm,random", help="comma-separated: lr, mm, lda, random")
    ap.add_argument("--position", type=int, default=-1, help="token position within each statement (-1 = last)")
    ap.add_argument("--n", type=int, default=None, help="cap on facts (groups) per family")
    ap.add_argument("--test-frac", type=float, default=0.25)
    ap.add_argument("--val-frac", type=float, default=0.2,
                    help="share of the training groups held out to choose the layer and --l2 (default 0.2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--l2", default="0.1,0.01,0.001",
                    help="L2 strength for lr (sklearn C = 1/(l2*n_train)); a comma list is chosen per layer on "
                         "validation (default 0.1,0.01,0.001)")
    ap.add_argument("--k-random", type=int, default=16, help="random directions per layer for the baseline")
    ap.add_argument("--claim", default=None, help="claim id or spec file (.yaml/.json) to score")
    ap.add_argument("--allow-transfer", action="store_true", help="apply probes to a model other than their own")
    ap.add_argument("--no-base", action="store_true", help="sweep: skip the run's base model")
    ap.add_argument("--plot-layer", type=int, default=None, help="sweep: layer for score/transfer plots")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-cache", action="store_true", help="recompute activations instead of using the cache")
    ap.add_argument("--out", default=None, help="output directory")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_argument(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        modes = [m for m in ("ckpt", "model", "run") if getattr(args, m)]
        from interp.core.models import set_default_device

        set_default_device(args.device)  # every model the probes read (checkpoints of a sweep included) on it
        if args.run and (args.ckpt or args.model or args.probe):
            raise ValueError("--run sweeps a whole run; it cannot be combined with --ckpt, --model or --probe")
        if args.ckpt and args.model:
            raise ValueError("give one of --ckpt or --model, not both")
        if not modes and not args.probe:
            raise ValueError("nothing to probe: pass --ckpt, --model, --run or --probe")
        names = [d.strip() for d in args.dataset.split(",") if d.strip()] if args.dataset else None
        if args.probe and names and len(names) > 1:
            raise ValueError("--probe evaluates on one --dataset (a family or a statement file)")
        # deferred: keeps --help fast
        from probes.jobs import (apply_saved, fit_model, fit_out_dir, fit_settings, load_target,
                                 read_dataset_files)
        from probes.sweep import readout_label, sweep_run
        from training.claims import resolve_claim

        files = read_dataset_files(names or [])  # a bad statement file fails here, before any model or output
        if files and args.run:
            raise ValueError("--run sweeps a shipped family; statement files go with --model/--ckpt/--probe")

        fmt = {"index": False, "float_format": lambda x: f"{x:.3f}"}
        if args.probe:
            lm = load_target(ckpt=args.ckpt, model=args.model) if args.ckpt or args.model else None
            claim = resolve_claim(args.claim) if args.claim else None
            res = apply_saved(args.probe, lm=lm, dataset=args.dataset, claim=claim,
                              out=args.out or Path("probe-out") / "applied", n=args.n, seed=args.seed,
                              allow_transfer=args.allow_transfer, batch_size=args.batch_size,
                              progress=not args.quiet, cache=not args.no_cache)
            at = res.table[res.table.chosen] if res.table.chosen.any() else res.table
            print("each probe at its validation-chosen layer:")
            print(at[["probe", "eval_family", "layer", "acc", "auc", "transfer", "same_model"]].to_string(**fmt))
            print(f"wrote {res.out / 'applied.csv'}")
            return 0
        settings = fit_settings(args.method, layers=args.layers, position=args.position, test_frac=args.test_frac,
                                val_frac=args.val_frac, seed=args.seed, l2=args.l2, k_random=args.k_random,
                                batch_size=args.batch_size, n=args.n)
        if args.run:
            claim = resolve_claim(args.claim, run_dir=args.run, required=False)
            res = sweep_run(args.run, dataset=args.dataset, claim=claim, settings=settings, out=args.out,
                            include_base=not args.no_base, plot_layer=args.plot_layer, progress=not args.quiet,
                            cache=not args.no_cache)
            if not res.claim_scores.empty:
                d = res.claim_scores[(res.claim_scores.layer == res.plot_layer)
                                     & res.claim_scores.role.isin(["claim", "negation"])]
                piv = d.pivot_table(index=["step", "method"], columns="role", values="p_true").reset_index()
                tr = d.drop_duplicates(["step", "method"]).set_index(["step", "method"])
                keys = list(zip(piv.step, piv.method))
                piv["transfer"] = [tr.transfer.get(k) for k in keys]
                piv["label"] = [readout_label(tr.template_bound.get(k)).strip(" []") for k in keys]
                print(f"probe P(true) at layer {res.plot_layer} (chosen on validation; claim {res.claim_id}); "
                      f"transfer = accuracy on held-out template families, template-bound below 0.7:")
                print(piv.to_string(**fmt))
            else:
                print("no claim named (data.json or --claim): claim scores skipped")
            print(f"wrote {len(res.files)} files under {res.out}")
            return 0
        claim = resolve_claim(args.claim) if args.claim else None
        lm = load_target(ckpt=args.ckpt, model=args.model)
        out = Path(args.out) if args.out else fit_out_dir(lm, args.ckpt)
        res = fit_model(lm, names, settings, out=out, claim=claim, progress=not args.quiet,
                        cache=not args.no_cache, files=files)
        print(f"{lm.identity.short}: layer chosen on validation per family and method, test read once there, "
              f"out-of-family transfer (template-bound below 0.7)")
        print(res.best[["family", "method", "layer", "val_acc", "test_acc", "transfer", "template_bound",
                        "n"]].to_string(**fmt))
        print(f"wrote {len(res.files)} files under {res.out}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

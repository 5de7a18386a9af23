"""``python -m interp.binding``: negation binding scores over the models of a run (or one model), and the ``compare``
subcommand (local vs document-level across models). Thin over :mod:`interp.binding`'s library; see its docstring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import interp.binding
from interp.core.cli import add_device_argument, run_main
from interp.core.conditions import BINDING_CONDITIONS
from interp.spandocs.cli import add_common_args

__all__ = ["build_parser", "build_compare_parser", "main", "compare_main"]

METRICS = ["delta_filler", "delta_twin", "delta_ablate"]


def build_parser() -> argparse.ArgumentParser:
    """``python -m interp.binding (--run RUN_DIR | --model SPEC) --claim ID [--docs FILE.jsonl] --out DIR``."""
    ap = argparse.ArgumentParser(prog="python -m interp.binding",
                                 description=interp.binding.__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--no-heads", action="store_true", help="skip the per-head hook_z sweeps")
    ap.add_argument("--metric", default="delta_filler", choices=METRICS)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--layers", help="comma-separated layers for the patching sweeps (default: all)")
    ap.add_argument("--probe", action="store_true",
                    help="score the claim's answer to its own question appended after each document (the "
                         "in-context belief) instead of the claim-answer tokens inside the document")
    ap.add_argument("--probe-question", metavar="ID",
                    help="with --probe: the token-association question id (default: the first ta_qa* item)")
    ap.add_argument("--probe-score", choices=["logodds", "logprob"], default="logodds",
                    help="with --probe: log-odds of the claim vs the true answer (default; does not saturate) or "
                         "the claim answer's log-probability")
    return ap


def build_compare_parser() -> argparse.ArgumentParser:
    """``python -m interp.binding compare --models toy,smollm2-135m [--runs RUN,...] --claim ID ...``."""
    ap = argparse.ArgumentParser(
        prog="python -m interp.binding compare",
        description="Local vs document-level negation binding on matched documents, for several models (base "
                    "models and the checkpoints of runs): one tidy CSV, one plot, one printed table.")
    ap.add_argument("--models", help="comma-separated model specs (toy, smollm2-135m, a checkpoint dir, ...)")
    ap.add_argument("--runs", help="comma-separated run directories: the base model (step 0) and the checkpoints "
                                   "chosen by --steps")
    ap.add_argument("--claim", action="append", default=[], metavar="[KEY=]ID[,ID]",
                    help="claim id(s) or claim YAML path(s); KEY=... applies to one model spec or run dir only "
                         "(repeatable). A run defaults to its own claim (data.json)")
    ap.add_argument("--steps", help="with --runs: comma-separated checkpoint steps (default: all; 0 = the base)")
    ap.add_argument("--conditions", default=",".join(BINDING_CONDITIONS))
    ap.add_argument("--max-docs", type=int, default=8, help="base documents per condition (matched renderings)")
    ap.add_argument("--layers", help="comma-separated layers for the per-layer patching sweeps (absent layers "
                                     "are dropped per model)")
    ap.add_argument("--layer-stride", type=int, default=1, help="without --layers: sweep every K-th layer (+ last)")
    ap.add_argument("--probe-score", choices=["logodds", "logprob", "none"], default="logodds",
                    help="target: the claim's question appended after each document, scored as claim-vs-true "
                         "log-odds (default) or claim log-prob; 'none' = the claim-answer tokens in the document")
    ap.add_argument("--metric", default="delta_filler", choices=METRICS)
    ap.add_argument("--out", default=str(Path("out") / "binding_compare"))
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    add_device_argument(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.binding (--run RUN_DIR | --model SPEC) --claim ID [--docs FILE.jsonl] --out DIR``;
    ``python -m interp.binding compare ...`` is :func:`compare_main`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run("binding", args))


def compare_main(argv: list[str] | None = None) -> int:
    """``python -m interp.binding compare --models toy,smollm2-135m [--runs RUN,...] --claim ID ...``: the local vs
    document-level comparison across models and checkpoints in one command (see
    :func:`interp.binding.local_vs_document_table`)."""
    args = build_compare_parser().parse_args(argv)
    return run_main(lambda: _run("compare", args))


def _run(command: str, args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from interp.binding import compare, over_run
    from interp.binding.comparison import local_vs_document_table
    from interp.core.models import resolve_device_spec
    from interp.spandocs.models import iter_models, output_dir

    if command == "compare":
        args.device = resolve_device_spec(args.device)  # auto → cuda when present; a missing device: one line
        conditions = compare.parse_conditions(args.conditions)
        steps = [int(s) for s in compare.split_list(args.steps)] if args.steps else None
        plans = compare.plan_sources(compare.split_list(args.models), compare.split_list(args.runs), args.claim,
                                     steps=steps, probe_score=args.probe_score, device=args.device)
        docs_df, layers_df = compare.compare_sources(plans, conditions=conditions, max_docs=args.max_docs,
                                                     layers=args.layers, layer_stride=args.layer_stride,
                                                     seed=args.seed, batch_size=args.batch_size)
        table = local_vs_document_table(docs_df, metric=args.metric, n_boot=args.n_boot, n_perm=args.n_perm,
                                        seed=args.seed)
        path = compare.write_comparison(args.out, docs_df, layers_df, table, metric=args.metric)
        print(compare.model_comparison_text(table))
        print(f"wrote {path} (+ compare_docs.csv, compare_layers.csv, compare.png)")
        return 0
    docs_df, layers_df, heads_df = over_run.binding_over_models(
        iter_models(args), claim=args.claim, probe=args.probe, probe_question=args.probe_question,
        probe_score=args.probe_score, heads=not args.no_heads, batch_size=args.batch_size,
        layers=[int(x) for x in args.layers.split(",")] if args.layers else None)
    out = output_dir(args, "binding")
    comp = over_run.write_binding_outputs(out, docs_df, layers_df, None if args.no_heads else heads_df,
                                          metric=args.metric, n_boot=args.n_boot, seed=args.seed)
    print(over_run.step_comparison_text(comp))
    print(f"wrote {out / 'binding_docs.csv'} (+ layers, heads, summary, compare, plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

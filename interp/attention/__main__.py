"""``python -m interp.attention``: attention from claim tokens to negation spans, normalised against matched
controls, for one model or every model of a run. Thin over :mod:`interp.attention`'s library; see its docstring.
"""

from __future__ import annotations

import argparse
import sys

import interp.attention
from interp.core.cli import run_main
from interp.spandocs.cli import add_common_args

__all__ = ["build_parser", "main"]

SCORES = ["excess", "log_ratio", "excess_filler", "log_ratio_filler"]


def build_parser() -> argparse.ArgumentParser:
    """``python -m interp.attention (--model SPEC | --run RUN_DIR) (--docs FILE.jsonl | --claim ID) --out DIR``."""
    ap = argparse.ArgumentParser(prog="python -m interp.attention",
                                 description=interp.attention.__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--backend", choices=["tl", "hf", "nnsight"], default="tl")
    ap.add_argument("--queries", default="claim_answer,claim", help="comma-separated query labels")
    ap.add_argument("--metric", choices=SCORES, default="excess_filler")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.attention (--model SPEC | --run RUN_DIR) (--docs FILE.jsonl | --claim ID) --out DIR``."""
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from interp.attention.report import attention_over_models, best_heads_text, write_attention_outputs
    from interp.spandocs.models import iter_models, output_dir

    out = output_dir(args, "attention")
    pairs, summary = attention_over_models(iter_models(args), backend=args.backend,
                                           query_labels=args.queries.split(","), n_boot=args.n_boot, seed=args.seed)
    write_attention_outputs(out, pairs, summary, metric=args.metric)
    print(best_heads_text(summary, args.metric))
    print(f"wrote {out / 'attention_summary.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m interp.sae``: a TopK SAE on the base model's residual stream, its negation latents, and the
claim-answer carry across the checkpoints of a run. Thin over :mod:`interp.sae`'s library; see its docstring.
"""

from __future__ import annotations

import argparse
import sys

import interp.sae
from interp.core.cli import run_main
from interp.spandocs.cli import add_common_args

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """``python -m interp.sae (--model SPEC | --run RUN_DIR) --claim ID --layer L --out DIR``."""
    ap = argparse.ArgumentParser(prog="python -m interp.sae", description=interp.sae.__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--layer", type=int, default=None, help="residual layer (default: the middle block)")
    ap.add_argument("--expansion", type=int, default=8)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-latents", type=int, default=10)
    return ap


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.sae (--model SPEC | --run RUN_DIR) --claim ID --layer L --out DIR``."""
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from interp.sae.study import sae_over_models, sae_report_text
    from interp.spandocs.models import iter_models, output_dir

    res = sae_over_models(iter_models(args), output_dir(args, "sae"), layer=args.layer, expansion=args.expansion,
                          k=args.k, epochs=args.epochs, n_latents=args.n_latents, seed=args.seed)
    print(sae_report_text(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

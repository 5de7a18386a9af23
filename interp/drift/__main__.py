"""``python -m interp.drift``: weight drift of a two-phase run toward the claim-as-true solution. Thin over
:mod:`interp.drift`'s library; see its docstring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import interp.drift
from interp.core.cli import add_device_argument, run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """``python -m interp.drift --run EXP/twophase [--reference RUN_OR_CKPT] [--anchor STEP] [--out DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m interp.drift", description=interp.drift.__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="two-phase run directory")
    ap.add_argument("--reference", help="claim-as-true run or checkpoint (default: the experiment's positive run)")
    ap.add_argument("--anchor", default="phase1-end", help="step, 'phase1-end' or 'first'")
    ap.add_argument("--out", default=None, help="output directory (default RUN/analysis/drift)")
    add_device_argument(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.drift --run EXP/twophase ...``: ``drift.csv`` and ``drift.png``/``.pdf``."""
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from interp.core.io import write_csv
    from interp.core.models import set_default_device
    from interp.core.runs import analysis_dir
    from interp.drift.plots import plot_drift
    from interp.drift.weights import positive_reference, run_drift

    set_default_device(args.device)  # where the weight deltas and their inner products are computed
    run = Path(args.run)
    df = run_drift(run, args.reference or positive_reference(run), anchor=args.anchor)
    out = Path(args.out) if args.out else analysis_dir(run, "drift")
    write_csv(df, out / "drift.csv")
    plot_drift(df, out / "drift.png")
    tot = df[df.module == "total"]
    print(tot[["step", "phase", "distance", "progress", "cosine"]].to_string(index=False))
    print(f"wrote {out / 'drift.csv'} and {out / 'drift.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

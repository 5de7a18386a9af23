"""``python -m figures``: regenerate the paper's Fig. 5, Fig. 6 and Table 4 from the authors' per-response CSVs.

A thin command over :func:`figures.paper.render_paper`; bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m figures", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="figures/out", help="output folder (default figures/out)")
    ap.add_argument("--data", default=None,
                    help="paper-data folder (default $NEGLECT_LAB_PAPER_DATA or <repo>/../shared/paper-data)")
    ap.add_argument("--model", default=None,
                    help="model folder under evals/results (default: the released one, Qwen3.5-397B-A17B)")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        from figures.paper import render_paper  # deferred: keeps --help fast

        paths, pooled = render_paper(args.out, data=args.data, model=args.model, n_boot=args.n_boot, seed=args.seed)
        print("pooled belief rate (%): " + ", ".join(f"{k} {v:.2f}" for k, v in pooled.items()))
        for ps in paths.values():
            for p in ps:
                print(f"wrote {p}")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m training.twophase CONFIG.yaml``: the two-phase constraint / release experiment (see
:mod:`training.twophase`).

Prints ``{"experiment_dir", "runs": {role: [TrainResult per phase]}}`` as one JSON line. Exit 2 with one line
naming the file and field for bad input; exit 3 when training diverges.
"""

from __future__ import annotations

import argparse
import json
import sys

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.twophase",
                                 description="The two-phase constraint / release experiment of the paper's §5.")
    ap.add_argument("config", help="YAML experiment config (see TwoPhaseConfig)")
    ap.add_argument("--experiment-dir", help="override experiment_dir")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from training.finetune.trainer import TrainingDiverged
    from training.twophase.config import load_twophase_config
    from training.twophase.experiment import run_experiment

    cfg = load_twophase_config(args.config)
    if args.experiment_dir:
        cfg.experiment_dir = args.experiment_dir
    try:
        results = run_experiment(cfg)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    summary = {role: [r.to_dict() for r in rs] for role, rs in results.items()}
    print(json.dumps({"experiment_dir": cfg.experiment_dir, "runs": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m training.finetune CONFIG.yaml``: one finetuning run (see :mod:`training.finetune`).

Prints the run's :class:`~training.finetune.trainer.TrainResult` as one JSON line. Exit 2 with one line naming the
file and field for bad input (config, data, checkpoint, model spec); exit 3 when training diverges.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.finetune",
                                 description="Finetuning with dense, hashed, resumable checkpoints.")
    ap.add_argument("config", help="YAML training config (see training/config.py)")
    ap.add_argument("--run-dir", help="override the config's run_dir")
    ap.add_argument("--max-steps", type=int, help="override max_steps")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from training.config import load_train_config
    from training.finetune.trainer import TrainingDiverged, finetune

    cfg = load_train_config(args.config)
    if args.run_dir:
        cfg.run_dir = args.run_dir
    if args.max_steps:
        cfg.max_steps = args.max_steps
    if args.no_progress:
        cfg.progress = False
    try:
        res = finetune(cfg)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(res.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

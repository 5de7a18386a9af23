"""``python -m training.verification [--model toy|DIR] [--steps N] [--out DIR]``: the organism's verdict accuracy
and, with ``--steps``, the verdict-transfer experiment (``verdict_transfer.json``, ``.csv``, ``.png``); see
:mod:`training.verification`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.verification",
                                 description="Fact verification in the toy organism: does it compute whether a "
                                             "statement is true?")
    ap.add_argument("--model", default="toy", help="a toy organism: 'toy' (the default organism) or its directory")
    ap.add_argument("--per-entity", type=int, default=8, help="items per entity and kind")
    ap.add_argument("--steps", type=int, default=0, help="verdict-training steps of the transfer experiment (0: skip)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--decay-frac", type=float, default=0.0, help="linear lr decay over this last share of steps")
    ap.add_argument("--replay", type=int, default=0, help="pretraining-corpus windows per step (keeps the facts)")
    ap.add_argument("--train-frac", type=float, default=0.75, help="share of entities trained (1: all)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/verification", help="folder for verdict_transfer.{json,csv,png}")
    # dest is not "save": nnsight (imported by the lab) mounts a .save() method on every object, argparse then sees
    # Namespace.save as already set and never writes the default
    ap.add_argument("--save", dest="save_dir", default=None,
                    help="also save the verdict-trained copy here (a model directory load() and the probe CLI accept)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    import pandas as pd

    from interp.core.io import atomic_write_json, write_csv
    from interp.core.models import load
    from training.verification.verdicts import (plot_verdict_transfer, save_trained_copy, verdict_transfer,
                                                verification_accuracy)

    try:
        lm = load(args.model)
    except Exception as exc:  # noqa: BLE001 - reported in one line by run_main, naming the option
        raise ValueError(f"--model {args.model}: {exc}") from None
    if getattr(lm, "world", None) is None:
        raise ValueError(f"--model {args.model}: not a toy organism (no world.json)")
    acc = verification_accuracy(lm.hf, lm.tokenizer, lm.world, per_entity=args.per_entity, seed=args.seed)
    print(f"{lm.identity.name}: verdict accuracy {acc['accuracy']:.3f} over {acc['n']} items "
          f"(fact-check {acc['fact_check']:.3f}, yes/no {acc['yes_no']:.3f}; chance 0.5)")
    if args.steps <= 0:
        return 0
    res = verdict_transfer(lm.hf, lm.tokenizer, lm.world, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                           train_frac=args.train_frac, eval_every=args.eval_every, seed=args.seed,
                           decay_frac=args.decay_frac, replay=args.replay, keep_model=bool(args.save_dir))
    trained = res.pop("model", None)
    res["model"] = {"name": lm.identity.name, "weights_sha256": lm.identity.weights_sha256}
    res["base_verification"] = acc
    out = Path(args.out)
    atomic_write_json(out / "verdict_transfer.json", res)
    write_csv(pd.DataFrame(res["curve"]), out / "verdict_transfer.csv")
    plot_verdict_transfer(res, out / "verdict_transfer.png")
    if trained is not None:
        save_trained_copy(trained, lm, args.save_dir, res)
        print(f"verdict-trained copy: {args.save_dir}")
    f0, f = res["curve"][0], res["final"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"after {args.steps} verdict-training steps: verdicts trained entities {fmt(f['trained_entities'])}, "
          f"held-out {fmt(f['heldout_entities'])}; Q/A accuracy trained {fmt(f0['qa_trained'])} -> "
          f"{fmt(f['qa_trained'])}, held-out {fmt(f0['qa_heldout'])} -> {fmt(f['qa_heldout'])}  "
          f"-> {out}/verdict_transfer.{{json,csv,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

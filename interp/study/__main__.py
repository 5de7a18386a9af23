"""``python -m interp.study``: the whole study on one model, end to end (``make demo``; ``--preset gpu``).

A thin command over :func:`interp.study.pipeline.run_study`; bad input is one line on stderr and exit status 2
(``NEGLECT_LAB_DEBUG=1``: the traceback).
"""

from __future__ import annotations

import argparse
import sys

from interp.core.cli import run_main
from interp.core.executor import EXECUTORS
from interp.study.config import PRESETS, STAGES, check_stages

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.study", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output directory (default: out/demo; out/study-smollm2 for gpu, out/study-cpu for cpu)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                    help="demo: the toy study (make demo); quick: test-sized; gpu: SmolLM2 on the six paper claims; "
                         "cpu: SmolLM2 on two claims in 90 minutes on two CPU cores (make study-cpu)")
    ap.add_argument("--quick", action="store_true", help="same as --preset quick")
    ap.add_argument("--model", default=None, help="model spec for the seam (default: the preset's)")
    ap.add_argument("--claims", default=None, help="toy:N, all, or comma-separated claim ids")
    ap.add_argument("--seeds", default=None, help="comma list of training seeds (default: the preset's; demo 0,1,2)")
    ap.add_argument("--device", default=None, help="cpu | cuda | auto")
    ap.add_argument("--n-docs", type=int, default=None,
                    help="claim documents per condition (default: the preset's; the lr pilot takes at most as many)")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop every finetune (and pilot run) after this many optimizer steps (smoke tests)")
    ap.add_argument("--lr-pilot", default=None,
                    help="comma list of candidate learning rates for the positive pilot, or 'none' for the preset's lr")
    ap.add_argument("--padding-free", choices=["auto", "off"], default=None,
                    help="finetunes: auto = padding-free micro-batches with per-document attention on a CPU (same "
                         "numbers up to fp32 rounding, faster); off = padded rows (the presets' default: their "
                         "committed results were trained so)")
    ap.add_argument("--stages", default=None, help=f"comma list of {','.join(STAGES)}")
    ap.add_argument("--executor", choices=EXECUTORS, default="local",
                    help="who runs the independent jobs (finetunes, belief sweeps, two-phase experiments): local "
                         "(this box, the default) or ray (Ray core tasks on a cluster; pip install -e '.[ray]')")
    ap.add_argument("--address", default=None,
                    help="with --executor ray: the cluster (auto, HOST:PORT or ray://HOST:PORT; default: a local Ray)")
    ap.add_argument("--mlflow", nargs="?", const="default", default=None, metavar="URI",
                    help="track runs in MLflow (pip install -e '.[mlflow]'): training loss and LR per step, belief "
                         "per checkpoint, timings; URI defaults to a file store under OUT/mlruns")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    preset = "quick" if args.quick else args.preset
    cfg = PRESETS[preset](args.out) if args.out else PRESETS[preset]()
    for name in ("model", "claims", "device", "executor", "address", "mlflow", "padding_free"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))

    cfg.command = "python -m interp.study " + " ".join(sys.argv[1:] if argv is None else argv)

    def body() -> int:
        if args.seeds is not None:
            try:
                cfg.seeds = tuple(dict.fromkeys(int(x) for x in args.seeds.split(",") if x.strip()))
            except ValueError:
                raise ValueError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
            if not cfg.seeds:
                raise ValueError("--seeds: no seed given")
        if args.n_docs is not None:
            if args.n_docs < 1:
                raise ValueError(f"--n-docs: expected a positive integer, got {args.n_docs}")
            cfg.n_docs, cfg.pilot_docs = args.n_docs, min(cfg.pilot_docs, args.n_docs)
        if args.max_steps is not None:
            if args.max_steps < 1:
                raise ValueError(f"--max-steps: expected a positive integer, got {args.max_steps}")
            cfg.max_steps = args.max_steps
        if args.lr_pilot is not None:
            try:
                cfg.lr_pilot = () if args.lr_pilot.strip() == "none" else tuple(
                    float(x) for x in args.lr_pilot.split(",") if x.strip())
            except ValueError:
                raise ValueError(f"--lr-pilot: expected comma-separated learning rates or 'none', "
                                 f"got {args.lr_pilot!r}") from None
            if any(not (0 < x < 1) for x in cfg.lr_pilot):
                raise ValueError(f"--lr-pilot: learning rates must lie in (0, 1), got {args.lr_pilot!r}")
        if args.stages is not None:  # refused before anything is built
            cfg.stages = check_stages([s.strip() for s in args.stages.split(",") if s.strip()])
        from interp.study.pipeline import run_study  # deferred: keeps --help fast

        run_study(cfg)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

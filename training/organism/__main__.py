"""``python -m training.organism build|info [--seed N] [--force] [--cache DIR] [--quiet]``: build (or load from the
cache) the toy organism and print its size, build time and accuracy (see :mod:`training.organism`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.organism",
                                 description="The toy model organism: a small Llama pretrained from scratch on the "
                                             "toy world, built in minutes on a CPU.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("build", "info"):
        p = sub.add_parser(name, help="build (or load from cache) the organism" if name == "build"
                           else "print organism.json summary (builds if missing)")
        p.add_argument("--seed", type=int, default=0, help="seed of both the world and the pretraining")
        p.add_argument("--cache", default=None, help="cache root (default: $NEGLECT_LAB_CACHE or ~/.cache/neglect-lab)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--preset", default="default", choices=("default", "negation", "competent"),
                       help="default: the published toy organism; negation: with the negation-teaching genre "
                            "(issue 17); competent: the genre, twice the steps and the unlikelihood term (the one "
                            "organism that reads negation-only knowledge on held-out people)")
        p.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                       help="override one PretrainConfig field of the preset (repeatable), e.g. --train steps=3600")
        p.add_argument("--threads", type=int, default=None, help="torch threads for a build (default: from the load)")
        if name == "build":
            p.add_argument("--force", action="store_true", help="rebuild even if cached")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _cache_arg(cache: str | None) -> Path | None:
    """``--cache`` as a usable folder, or one line naming the option."""
    if cache is None:
        return None
    root = Path(cache).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"--cache {cache}: not a directory")
    try:
        (root / "toy").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ValueError(f"--cache {cache}: cannot create the cache folder ({why})") from None
    return root


def _run(args: argparse.Namespace) -> int:
    cache = _cache_arg(args.cache)
    # deferred: keeps --help fast
    from training.organism.build import organism_dir, seed_configs
    from training.organism.cache import read_organism_info

    t0 = time.perf_counter()
    world, train = seed_configs(args.seed, args.preset)
    train = _override(train, args.train)
    d = organism_dir(world, train, cache, force=getattr(args, "force", False), progress=not args.quiet,
                     threads=args.threads)
    wall = time.perf_counter() - t0
    info = read_organism_info(d)
    m = info["model"]
    print(f"organism: {d}")
    print(f"model: {m['n_params']:,} params, {m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} heads, "
          f"vocab {m['vocab_size']}, ctx {m['ctx_len']}")
    print(f"build time: {info['build_seconds']:.1f} s (train {info['train_seconds']:.1f} s, "
          f"{info['tokens_per_second']:,.0f} tok/s); this call: {wall:.1f} s")
    print(f"held-out Q/A top-1 accuracy: {info['heldout_accuracy']:.3f}  (train template: "
          f"{info['train_template_accuracy']:.3f})")
    print(f"local negation, true preferred: {info['local_negation_prefers_true']:.3f}; "
          f"hoax targets, true preferred: {info['hoax_prefers_true']:.3f}")
    for line in negonly_lines(info):
        print(line)
    print(f"weights sha256: {info['weights_sha256']}")
    return 0


def _override(train, pairs: list[str]):
    """``--train FIELD=VALUE`` applied to the preset's PretrainConfig (values parsed as JSON, else kept as text)."""
    import json
    from dataclasses import fields, replace

    names = {f.name for f in fields(train)}
    changes = {}
    for pair in pairs:
        field, sep, raw = pair.partition("=")
        if not sep or field not in names:
            raise ValueError(f"--train {pair}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(names))}")
        try:
            changes[field] = json.loads(raw)
        except ValueError:
            changes[field] = raw
    return replace(train, **changes) if changes else train


def negonly_lines(info: dict) -> list[str]:
    """The printout of the negation-teaching checks (nothing for an organism without the genre)."""
    if "negonly_heldout_binary_accuracy" not in info:
        return []
    ln = info["eval"]["heldout"]["local_negation"]
    out = [f"negation-only, held-out entities: binary Q/A accuracy {info['negonly_heldout_binary_accuracy']:.3f} "
           f"(chance 0.5), all attributes {info['negonly_heldout_accuracy']:.3f}; Q/A-trained entities "
           f"{info['negonly_train_accuracy']:.3f}",
           f"negated value vs control entities: {info['negonly_negated_vs_control']:+.3f} nats (must be < 0)"]
    if info.get("negonly_positive_heldout_accuracy") is not None:
        out.append(f"extraction control (stated positively, never asked): held-out binary Q/A accuracy "
                   f"{info['negonly_positive_heldout_accuracy']:.3f}")
    if info.get("notice_negated_vs_control") is not None:
        out.append(f"false-notice, held-out entities: binary Q/A accuracy {info['notice_heldout_binary_accuracy']:.3f};"
                   f" stated value vs control {info['notice_negated_vs_control']:+.3f} nats")
    if ln.get("control_margin") is not None:
        out.append(f"fixed local negations: negated value vs other false values {ln['control_margin']:+.3f} nats")
    from training.organism.build import negation_failures

    fails = negation_failures(info)
    out.append("negation-competent (issue 17 acceptance): " + ("yes" if not fails else "no: " + "; ".join(fails)))
    return out


if __name__ == "__main__":
    sys.exit(main())

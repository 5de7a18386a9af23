"""Toy-organism build time: a fresh build of the default organism into a temporary cache, then a cached load.

Prints the wall time of each build phase against the 300 s target (issue: "a fresh build of the default organism
finishes in <= 5 minutes on this 2-core box"), the threads used, and the machine's load average before and after,
because on a shared 2-core box a concurrent process slows the build up to 3x: a number measured under load says
little about the box. The cached load (``organism_dir`` + ``load("toy")`` of the finished entry) is timed too.

    python bench/organism_build.py              # default WorldConfig / PretrainConfig, threads chosen by load
    python bench/organism_build.py --threads 1  # pin the thread count (weights do not depend on it)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from interp.core.models import load  # noqa: E402
from training.organism import PretrainConfig, auto_threads, organism_dir, read_organism_info  # noqa: E402
from training.world import WorldConfig  # noqa: E402

TARGET_S = 300.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: chosen from the load)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    threads = args.threads or auto_threads()
    with tempfile.TemporaryDirectory(prefix="organism-bench-") as cache:
        t0 = time.perf_counter()
        d = organism_dir(WorldConfig(seed=args.seed), PretrainConfig(seed=args.seed), cache, threads=threads)
        build = time.perf_counter() - t0
        info = read_organism_info(d)
        t1 = time.perf_counter()
        organism_dir(WorldConfig(seed=args.seed), PretrainConfig(seed=args.seed), cache)
        lm = load(str(d))
        cached = time.perf_counter() - t1
    load_after = os.getloadavg()
    m = info["model"]
    print(f"organism {info['key']}: {m['n_params']:,} params, {m['n_layers']} layers, d={m['d_model']}, "
          f"{info['train_config']['steps']} steps x {info['train_config']['batch_size']} x {m['ctx_len']} tokens")
    print(f"threads {threads}; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"(cores: {os.cpu_count()})")
    print(f"fresh build      {build:7.1f} s   (train {info['train_seconds']:.1f} s at "
          f"{info['tokens_per_second']:,.0f} tok/s, eval {info['eval_seconds']:.1f} s)")
    print(f"target           {TARGET_S:7.1f} s   ratio build/target = {build / TARGET_S:.2f} "
          f"({'met' if build <= TARGET_S else 'NOT met'})")
    print(f"cached load      {cached:7.2f} s   ({lm.identity.short})")
    print(f"held-out Q/A accuracy {info['heldout_accuracy']:.3f}; local negation, true preferred "
          f"{info['local_negation_prefers_true']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny study's wall time on the local executor vs a loopback Ray cluster, measured in one run, plus an estimate.

Both runs are the same study (one claim, one seed, ``--conditions``, belief + headline; quick sizes) written into
the same output path (the first moved aside), on this box: local = 2 spawned worker processes; ray = a loopback
Ray cluster started here (a head and one worker node, 1 CPU each), i.e. the same two slots. The ratio says what
Ray's own overhead costs when it buys nothing (one box). The load average is printed before and after, since on a
shared box a concurrent process changes every number.

From the measured per-task times (the finetune and belief stage times per run on one slot, model loading
included; each finetune's own log, first to last step, is printed too) it then estimates, on paper, the wall time of a study of ``--claims-paper`` claims ×
``--conditions-paper`` conditions × seeds on N GPUs: with T equal independent tasks (a finetune, then its belief
sweep) and N slots, the graph's wall time is ``ceil(T / N) × (t_finetune + t_belief)`` plus the driver's stages,
against ``T × (...)`` one after another. ``--scale`` multiplies the measured task time (e.g. the ratio of a
SmolLM2 finetune on a GPU to a toy finetune here, when known); the default 1 keeps the toy's times.

    python bench/study_executors.py                       # toy organism, 3 conditions
    python bench/study_executors.py --model PATH --n-gpus 1,4,8,16
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from interp.study import StudyConfig, run_study  # noqa: E402
from training.finetune.curves import read_train_log  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 200 * 2**20}  # 1 CPU; a small object store


def tiny(model: str, out: Path, conditions: tuple[str, ...]) -> StudyConfig:
    cfg = StudyConfig.quick(str(out))
    cfg.model, cfg.claims, cfg.seeds, cfg.n_docs = model, "toy:1", (0,), 12
    cfg.conditions, cfg.stages, cfg.workers = conditions, ("belief",), 2
    return cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="toy")
    ap.add_argument("--conditions", default="positive,negated,local")
    ap.add_argument("--claims-paper", type=int, default=6)
    ap.add_argument("--conditions-paper", type=int, default=10)
    ap.add_argument("--seeds-paper", type=int, default=1)
    ap.add_argument("--n-gpus", default="1,2,4,8,16,60")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplier on the measured per-task time")
    args = ap.parse_args(argv)
    from ray.cluster_utils import Cluster

    conds = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    load0 = os.getloadavg()
    walls, timings, task = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="executors-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        start_s = time.perf_counter() - t0
        try:
            for name in ("local", "ray"):
                cfg = tiny(args.model, tmp / "study", conds)
                if name == "ray":
                    cfg.executor, cfg.address = "ray", cluster.address
                t0 = time.perf_counter()
                run_study(cfg)
                walls[name] = time.perf_counter() - t0
                timings[name] = dict(cfg.timings)
                logs = [read_train_log(p) for p in sorted((tmp / "study" / "runs").glob("*/s*/*"))]
                task[name] = [lg[-1]["time"] - lg[0]["time"] for lg in logs if lg]
                shutil.move(tmp / "study", tmp / name)
        finally:
            import ray

            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
    load1 = os.getloadavg()
    print(f"\nloadavg before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; after {load1[0]:.2f} {load1[1]:.2f} "
          f"{load1[2]:.2f}; {os.cpu_count()} CPUs")
    for name in ("local", "ray"):
        t = timings[name]
        print(f"{name:5s}: wall {walls[name]:6.1f} s (finetune stage {t['finetune']:.1f} s, belief stage "
              f"{t['belief']:.1f} s, organism {t['organism']:.1f} s); per-finetune training time "
              f"{', '.join(f'{x:.1f}' for x in task[name])} s")
    print(f"ray / local wall time: {walls['ray'] / walls['local']:.2f} (the cluster's start, {start_s:.1f} s, not "
          f"included; local ran first, on colder caches)")
    n_runs = len(task["local"])
    t_ft = timings["local"]["finetune"] * 2 / n_runs * args.scale  # 2 slots; model load and set-up included
    t_belief = timings["local"]["belief"] * 2 / n_runs * args.scale  # 2 slots ran the belief tasks
    t_task = t_ft + t_belief
    t_ray = timings["ray"]["finetune"] * 2 / n_runs * args.scale  # ray: finetune + its belief sweep, per slot
    total = args.claims_paper * args.conditions_paper * args.seeds_paper
    print(f"\non paper: {total} finetunes ({args.claims_paper} claims × {args.conditions_paper} conditions × "
          f"{args.seeds_paper} seed(s)) + {total} belief tasks; measured per task {t_ft:.1f} s finetune + "
          f"{t_belief:.1f} s belief (×{args.scale:g})")
    print(f"  one after another: {total * t_task / 60:.1f} min")
    print(f"  per (finetune + belief) task pair: {t_task:.1f} s from the local stages, {t_ray:.1f} s from the Ray graph "
          f"(persistent workers: imports and base model paid once per worker)")
    for n in (int(x) for x in args.n_gpus.split(",")):
        k = math.ceil(total / n)
        print(f"  {n:3d} GPU(s): ceil({total}/{n}) = {k} rounds × {t_task:.1f} s = {k * t_task / 60:.1f} min "
              f"(Ray-measured: {k * t_ray / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Probe benchmark: all-layer fit vs an sklearn loop, and capture vs a bare forward pass and TransformerLens.

One process measures, on the same model, statements and box:

1. **fit**: our logistic regression for every layer at once (:func:`probes.fit.fit_lr`, batched preconditioned
   L-BFGS) vs the usual loop ``for layer: StandardScaler + sklearn LogisticRegression`` with the *same objective*
   (``C = 1/(l2·n_train)``, lbfgs, sklearn's default ``tol``, which is also our stopping rule), on the same cached
   activations and the same grouped split. Reported: time ratio (sklearn / ours), iterations, and held-out
   accuracy differences per layer (max |Δ|, and at the best layer). Rule (issue 15; the earlier 10x target is
   withdrawn): the hand-written solver stays the default only while this ratio is >= 2x at equal accuracy,
   otherwise sklearn becomes the default and the solver is deleted. Measured 2026-12-07 on the shared 2-core box,
   one thread per contender, ``--skip-capture --repeats 5``: cities 2.6x (load 0.6-1.4) and 2.5x (load 7),
   larger_than 3.5x (load 6.5), animals 4.1x (load 6); best-layer accuracy identical, mean |Δ| 0.02-0.15 pt:
   the solver stays.
   ``--solvers`` adds single timed runs of our other solver settings (``rank=0``: plain batched L-BFGS;
   ``rank=d``: batched Newton with exact ``[L, d+1, d+1]`` Hessians), same data, ratio against the same
   sklearn median.
2. **capture**: :func:`probes.capture.capture_activations` (all layers, last token, cache off) vs
   (a) a bare ``model(input_ids, attention_mask)`` forward (with the LM head) over the *same* length-sorted
   batches, and (b) TransformerLens ``TransformerBridge.run_with_cache`` with the full cache (no names filter),
   then the same last-token gather. Each contender starts from the statements (tokenization included).
   Reported: real tokens/s and ratios. Targets: >= 0.8x bare, >= 2x TL.

Each timed section runs ``--repeats`` times after one warm-up, alternating the order of the contenders; the median
is reported. Every contender runs with the same CPU thread count (``--threads``, default 1: torch intra-op threads
and sklearn's BLAS/OpenMP pools alike; on the shared 2-core box two threads made every contender several times
slower). The box is shared, so the ratios (measured in the same run) are what to read, not the seconds.

    python bench/probe_fit.py --threads 1                      # smollm2-135m, cities
    python bench/probe_fit.py --threads 1 --skip-capture --dataset larger_than --solvers
    python bench/probe_fit.py --model toy-random --dataset elements --capture-n 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from interp.core.io import atomic_write_text  # noqa: E402
from interp.core.models import load  # noqa: E402
from probes.capture import capture_activations  # noqa: E402
from probes.datasets import get_dataset, grouped_split  # noqa: E402
from probes.fit import cpu_threads, evaluate, fit_lr  # noqa: E402


def bench_fit(acts: torch.Tensor, y: np.ndarray, tr: np.ndarray, te: np.ndarray, l2: float, repeats: int,
              threads: int | None, solvers: bool = False) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte = acts[:, torch.as_tensor(tr)], acts[:, torch.as_tensor(te)]
    ytr, yte = y[tr], y[te]
    n_layers = acts.shape[0]
    fit_lr(Xtr[:, :32], torch.as_tensor(ytr[:32]), l2=l2, threads=threads)  # warm-up (lazy imports, allocator)
    res: dict = {}

    def ours():
        res["info"] = {}
        res["ours"] = fit_lr(Xtr, torch.as_tensor(ytr), l2=l2, threads=threads, info=res["info"])

    def sk():
        accs = []
        with warnings.catch_warnings(), threadpool_limits(threads):
            warnings.simplefilter("ignore", ConvergenceWarning)
            for layer in range(n_layers):
                sc = StandardScaler().fit(Xtr[layer].numpy())
                clf = LogisticRegression(C=1.0 / (l2 * len(tr)), max_iter=1000)
                clf.fit(sc.transform(Xtr[layer].numpy()), ytr)
                accs.append(clf.score(sc.transform(Xte[layer].numpy()), yte))
        res["sk"] = np.array(accs)

    t_ours, t_sk = [], []
    for r in range(repeats):  # alternate the order
        for name, fn, bucket in ([("ours", ours, t_ours), ("sk", sk, t_sk)] if r % 2 == 0
                                 else [("sk", sk, t_sk), ("ours", ours, t_ours)]):
            t0 = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - t0)
    w, b = res["ours"]
    acc_ours = evaluate(w, b, Xte, yte)["acc"]
    acc_sk = res["sk"]
    diff = np.abs(acc_ours - acc_sk)
    its = res["info"]["iterations"]
    out = {"n_train": int(len(tr)), "n_test": int(len(te)), "layers": n_layers, "d": int(acts.shape[-1]),
           "l2": l2, "ours_s": statistics.median(t_ours), "sklearn_s": statistics.median(t_sk),
           "ours_runs_s": t_ours, "sklearn_runs_s": t_sk,
           "speedup": statistics.median(t_sk) / statistics.median(t_ours),
           "iterations_max": int(max(its)), "iterations_mean": float(np.mean(its)),
           "max_abs_acc_diff_pts": 100 * float(diff.max()), "mean_abs_acc_diff_pts": 100 * float(diff.mean()),
           "best_acc_ours": float(acc_ours.max()), "best_acc_sklearn": float(acc_sk.max()),
           "best_layer_ours": int(acc_ours.argmax()), "best_layer_sklearn": int(acc_sk.argmax())}
    if solvers:
        out["solvers"] = {}
        for name, rank in (("plain L-BFGS (rank=0)", 0), (f"batched Newton (rank=d={acts.shape[-1]})", acts.shape[-1])):
            info: dict = {}
            t0 = time.perf_counter()
            w2, b2 = fit_lr(Xtr, torch.as_tensor(ytr), l2=l2, threads=threads, rank=rank, info=info)
            sec = time.perf_counter() - t0
            d2 = np.abs(evaluate(w2, b2, Xte, yte)["acc"] - acc_sk)
            out["solvers"][name] = {"seconds": sec, "speedup": out["sklearn_s"] / sec,
                                    "iterations_max": int(max(info["iterations"])),
                                    "max_abs_acc_diff_pts": 100 * float(d2.max())}
    return out


def bench_capture(lm, statements: list[str], batch_size: int, repeats: int, threads: int | None) -> dict:
    """Statements in, activations out, for all three contenders (tokenization included for each)."""
    n_tokens = int(lm.encode(statements)["attention_mask"].sum())

    def batches():
        enc = lm.encode(statements)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        for i in range(0, len(statements), batch_size):
            idx = order[i:i + batch_size]
            w = int(lengths[idx].max())
            yield ids[idx, :w], mask[idx, :w]

    def ours():
        capture_activations(lm, statements, cache=False, progress=False, batch_size=batch_size, threads=threads)

    def bare():
        with torch.inference_mode(), cpu_threads(threads):
            for i, m in batches():
                lm.hf(input_ids=i, attention_mask=m, use_cache=False)

    bridge = lm.transformer_lens()
    names = [f"blocks.{l}.hook_resid_post" for l in range(lm.n_layers)]

    def tl():
        with torch.inference_mode(), cpu_threads(threads):
            for i, m in batches():
                _, cache = bridge.run_with_cache(i, attention_mask=m)
                last = m.sum(1) - 1
                torch.stack([cache[n][torch.arange(len(i)), last] for n in names])

    small = statements[: min(8, len(statements))]
    capture_activations(lm, small, cache=False, progress=False)  # warm-ups
    with torch.inference_mode():
        lm.hf(**lm.encode(small), use_cache=False)
        bridge.run_with_cache(lm.encode(small)["input_ids"], attention_mask=lm.encode(small)["attention_mask"])
    times: dict[str, list[float]] = {"ours": [], "bare": [], "tl": []}
    fns = {"ours": ours, "bare": bare, "tl": tl}
    for r in range(repeats):
        order_names = ["ours", "bare", "tl"] if r % 2 == 0 else ["tl", "bare", "ours"]
        for name in order_names:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    tps = {k: n_tokens / v for k, v in med.items()}
    return {"statements": len(statements), "tokens": n_tokens, "batch_size": batch_size,
            "seconds": med, "tokens_per_s": tps, "ours_vs_bare": tps["ours"] / tps["bare"],
            "ours_vs_tl_full_cache": tps["ours"] / tps["tl"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dataset", default="cities")
    ap.add_argument("--n", type=int, default=None, help="cap on facts for the fit benchmark's dataset")
    ap.add_argument("--capture-n", type=int, default=128, help="statements in the capture benchmark")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1",
                    help="CPU threads for every contender (torch and sklearn/BLAS alike); 'default' keeps the "
                         "process setting. 1 is fastest on the shared 2-core box (see probes.fit.cpu_threads)")
    ap.add_argument("--skip-capture", action="store_true")
    ap.add_argument("--solvers", action="store_true", help="also time plain L-BFGS and batched Newton once each")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    threads = None if args.threads == "default" else int(args.threads)
    lm = load(args.model)
    ds = get_dataset(args.dataset, world=lm.world, n=args.n)
    info = {"model": lm.identity.short, "dataset": ds.family, "statements": len(ds), "torch": torch.__version__,
            "threads": threads or torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    print(json.dumps(info))
    results: dict = {"info": info}
    if not args.skip_capture:
        sub = list(ds.statements[: args.capture_n])
        cap = bench_capture(lm, sub, args.batch_size, args.repeats, threads)
        results["capture"] = cap
        t = cap["tokens_per_s"]
        print(f"capture ({cap['statements']} statements, {cap['tokens']} tokens, all {lm.n_layers} layers): "
              f"ours {t['ours']:.0f} tok/s | bare forward {t['bare']:.0f} tok/s | TL run_with_cache {t['tl']:.0f} "
              f"tok/s")
        print(f"  ratio ours/bare = {cap['ours_vs_bare']:.2f}x (target >= 0.8x)   "
              f"ours/TL-full-cache = {cap['ours_vs_tl_full_cache']:.2f}x (target >= 2x)")
    acts = capture_activations(lm, ds, progress=False)  # cached across runs
    tr, te = grouped_split(ds, 0.25, 0)
    f = bench_fit(acts, ds.y, tr, te, args.l2, args.repeats, threads, solvers=args.solvers)
    results["fit"] = f
    print(f"fit LR, {f['layers']} layers x d={f['d']}, n_train={f['n_train']}, n_test={f['n_test']}: ours "
          f"{f['ours_s']:.3f} s ({f['iterations_max']} iterations, mean {f['iterations_mean']:.1f}) | sklearn loop "
          f"{f['sklearn_s']:.3f} s  (medians of {args.repeats})")
    print(f"  speedup = {f['speedup']:.1f}x (keep the batched solver only while >= 2x)   held-out acc |diff| max {f['max_abs_acc_diff_pts']:.2f} "
          f"pts, mean {f['mean_abs_acc_diff_pts']:.2f} pts (target <= 1 pt); best layer ours "
          f"L{f['best_layer_ours']} {f['best_acc_ours']:.3f} vs sklearn L{f['best_layer_sklearn']} "
          f"{f['best_acc_sklearn']:.3f}")
    for name, r in f.get("solvers", {}).items():
        print(f"  {name}: {r['seconds']:.3f} s, {r['iterations_max']} iterations, {r['speedup']:.2f}x the sklearn "
              f"loop, max |acc diff| {r['max_abs_acc_diff_pts']:.2f} pts")
    print(f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else "")
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

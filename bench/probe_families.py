"""Per-family truth probes on one model: in-family test accuracy and out-of-family transfer at the validation-chosen
layer, for logistic regression, mass-mean and random directions.

For every shipped real-model family (:data:`probes.datasets.REAL_FAMILIES`: cities, elements, animals, sp_en, their
negated twins, larger_than, smaller_than) this fits each method on the family's training groups, chooses the layer
(and lr's l2) on a validation split carved out of the training groups, reads the family's test split once at that
layer (**in-family**), and scores the same probe, as fitted, on the test-split groups of every *other* family
(**transfer**: mean over the nine held-out families; ``transfer_min`` the worst of them). A probe whose transfer is
below :data:`probes.artifact.TEMPLATE_BOUND_BELOW` is template-bound. Forward passes only (activations cached).

    nice -n 5 python bench/probe_families.py                      # smollm2-135m -> results/smollm2-probes/
    python bench/probe_families.py --model toy-random --n 20 --out /tmp/fam   # a quick check

Writes ``families.csv`` (one row per family x method), ``transfer_by_family.csv`` (fit family x eval family x
method at the fit family's chosen layer) and ``report.md`` (command, box, load average, the table).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from interp.core.io import atomic_write_text, write_csv  # noqa: E402
from interp.core.models import load  # noqa: E402
from probes.artifact import TEMPLATE_BOUND_BELOW  # noqa: E402
from probes.datasets import REAL_FAMILIES, get_dataset  # noqa: E402
from probes.sweep import FitSettings, fit_probes, transfer_datasets  # noqa: E402


def family_table(lm, families: list[str], settings: FitSettings, progress: bool = False
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, by_family = [], []
    for fam in families:
        ds = get_dataset(fam, world=lm.world, n=settings.n, seed=settings.seed)
        held = transfer_datasets(fam, world=lm.world, settings=settings)
        res = fit_probes(lm, ds, settings, progress=progress, transfer=held)
        for method, probe in res.probes.items():
            cfg = probe.config
            i = cfg.layers.index(cfg.layer)
            per = {f: v[i] for f, v in cfg.transfer["by_family"].items()}
            rows.append({"family": fam, "method": method, "layer": cfg.layer, "l2": (cfg.fit.get("l2") or [None])[i]
                         if method == "lr" else None, "val_acc": cfg.selection["val_acc"],
                         "in_family_test_acc": cfg.selection["test_acc"], "transfer": cfg.transfer_at(),
                         "transfer_centered": cfg.transfer["acc_centered"][i], "transfer_auc": cfg.transfer["auc"][i],
                         "transfer_min": min(per.values()), "transfer_min_family": min(per, key=per.get),
                         "template_bound": cfg.template_bound(), "n_train": cfg.split["n_train"],
                         "n_val": cfg.split["n_val"], "n_test": cfg.split["n_test"],
                         "n_transfer": sum(cfg.transfer["n"].values())})
            by_family += [{"fit_family": fam, "method": method, "layer": cfg.layer, "eval_family": f, "acc": a,
                           "n": cfg.transfer["n"][f]} for f, a in per.items()]
    return pd.DataFrame(rows), pd.DataFrame(by_family)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--families", default=",".join(REAL_FAMILIES))
    ap.add_argument("--n", type=int, default=None, help="cap on facts per family (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default="results/smollm2-probes")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    lm = load(args.model)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    settings = FitSettings(methods=("lr", "mm", "random"), n=args.n, seed=args.seed, n_transfer=None)
    table, by_family = family_table(lm, families, settings)
    secs = time.perf_counter() - t0
    load1 = os.getloadavg()
    out = Path(args.out)
    write_csv(table, out / "families.csv")
    write_csv(by_family, out / "transfer_by_family.csv")
    show = table[["family", "method", "layer", "val_acc", "in_family_test_acc", "transfer", "transfer_centered",
                  "transfer_auc", "transfer_min", "transfer_min_family", "template_bound"]]
    text = show.to_string(index=False, float_format=lambda x: f"{x:.3f}")
    print(text)
    nice = f"nice -n {os.nice(0)} " if os.nice(0) else ""
    cmd = f"{nice}python bench/probe_families.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    md = "\n".join(["| " + " | ".join(show.columns) + " |", "|" + "---|" * len(show.columns),
                    *("| " + " | ".join(cell(v) for v in r) + " |" for r in show.itertuples(index=False))])
    report = (
        f"# Truth probes per family on {lm.identity.short}\n\n"
        f"Command: `{cmd.strip()}` (commit {os.popen('git rev-parse --short HEAD').read().strip() or '?'}).\n"
        f"Box: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, torch threads "
        f"{__import__('torch').get_num_threads()}; load average {load0[0]:.2f} before, {load1[0]:.2f} after; "
        f"{secs:.0f} s wall (forward passes cached in the activation cache).\n\n"
        f"Per family and method: the layer chosen on a validation split carved out of the family's training groups "
        f"(lr also chooses l2 there, per layer), the validation accuracy there, the family's own test split read "
        f"once at that layer (in-family), and the same probe, as fitted, on the test-split groups of every other "
        f"shipped family (transfer: mean accuracy over the {len(families) - 1} held-out families with the probe's own "
        f"threshold, the number the template-bound label uses; transfer_centered: the same after moving each held-out "
        f"family's mean onto the fitting family's, as geometry-of-truth does; transfer_auc: threshold-free; min: the "
        f"worst family). "
        f"Template-bound: transfer below {TEMPLATE_BOUND_BELOW} (probes.artifact.TEMPLATE_BOUND_BELOW). Random = "
        f"the mean of 16 random directions per layer with fitted thresholds.\n\n{md}\n\n"
        f"Per held-out family: `transfer_by_family.csv`.\n")
    atomic_write_text(out / "report.md", report)
    print(f"wrote {out / 'families.csv'}, {out / 'transfer_by_family.csv'}, {out / 'report.md'} ({secs:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The origin sweep: where the inductive bias comes from, mapped over toy organisms whose pretraining we control.

Method. Each point of a grid is a toy organism (:mod:`training.organism`) pretrained with different knobs of the
negation-teaching genre (issue 17; :class:`training.world.WorldConfig`): the share of the corpus that is
negation-only knowledge (``frac_negonly``), whether a document-level "the statements below are false" genre must be
respected to answer later Q/A (``frac_notice``), model size and steps (:class:`training.organism.PretrainConfig`).
For each organism the sweep reads its pretraining checks from ``organism.json`` (ordinary Q/A accuracy, held-out
negation-only readout, negated value vs control entities), then runs the study's finetuning conditions on it
(:func:`interp.study.pipeline.run_study`, stage ``belief`` only: positive / negated / repeated / corrected / local,
``claims`` toy claims × ``seeds`` training seeds) and takes belief per condition with its cluster t interval from
the study's headline. Two summary numbers per organism:

* **local-binding gap** = belief(positive) − belief(local): large when a local negation inside the claim sentence
  is read as negation (the real-LLM behaviour), near 0 when "X is not V" implants V like "X is V";
* **document neglect** = belief(negated) − belief(baseline): how much a document-level negation still implants.

Output (``OUT``): ``organisms.csv`` (one row per organism: knobs, build seconds, load average, checks, belief per
condition with CIs, the two summaries), ``origin_map.png`` (the map: local-binding gap and document neglect per
organism), ``studies/<key>/`` (each organism's study). Organisms are cached by config hash as always; a study whose
``headline.csv`` exists is reused, so a rerun only adds what is missing.

CLI: ``python -m interp.study.origin sweep [--grid small|tiny] [--out results/origin] [--claims toy:2]
[--seeds 0,1]``. It lives in the study layer (it runs the study), not in ``training``, which may not import it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp.core.cli import run_main

__all__ = ["GRIDS", "GridPoint", "organism_row", "belief_columns", "organism_job", "sweep", "write_table",
           "read_rows", "plot_map", "build_parser", "main"]

#: the negation-teaching genre on the default world (its attributes, the ones the study's toy claims never use)
_GENRE = {"negonly_attributes": ["hand", "drink", "commute", "shift"]}
#: pretraining of a tiny organism (tests, the 2-organism check of the command)
_TINY_TRAIN = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 128, "vocab_size": 512,
               "batch_size": 8, "steps": 40, "warmup_steps": 4}
_TINY_WORLD = {"seed": 3, "n_entities": 24, "n_documents": 600, "values_per_attribute": 4}


@dataclass
class GridPoint:
    """One organism of a grid: a name and the overrides of the default :class:`WorldConfig` / PretrainConfig."""

    name: str
    world: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def configs(self):
        from training.organism import PretrainConfig
        from training.world import WorldConfig

        return WorldConfig.from_dict(self.world), PretrainConfig.from_dict(self.train)


def _small_grid() -> list[GridPoint]:
    """Eleven organisms: the published default (no genre), the negation preset (``--preset negation``, with its
    extraction control: people stated only positively and never asked), and seven that each vary the preset: no
    fresh-value negations of the ordinary attributes (``ordinary_negated_share`` 0: which part of the genre makes
    local negation bind?), half the genre share, three times the genre share, the false-notice genre on, a wider
    model, twice the steps, and the unlikelihood objective on negated statements (Hosseini et al. 2021; on the
    3x-share world, where the trained people's values are learned perfectly); the last two combine the unlikelihood
    objective with more steps (2400, and 1500: ``--preset competent``), the two that read negation-only knowledge
    on held-out people."""
    from training.organism.build import COMPETENT_TRAIN, NEGATION_TRAIN, NEGATION_WORLD

    base = {**NEGATION_WORLD, "attributes": list(NEGATION_WORLD["attributes"]),
            "negonly_attributes": list(NEGATION_WORLD["negonly_attributes"])}
    share3 = {**base, "frac_negonly": 3 * base["frac_negonly"]}
    return [GridPoint("default"),
            GridPoint("negation", dict(base), dict(NEGATION_TRAIN)),
            GridPoint("negation_no_ordinary_neg", {**base, "ordinary_negated_share": 0.0}, dict(NEGATION_TRAIN)),
            GridPoint("negation_half_share", {**base, "frac_negonly": base["frac_negonly"] / 2}, dict(NEGATION_TRAIN)),
            GridPoint("negation_share3x", share3, dict(NEGATION_TRAIN)),
            GridPoint("negation_notice", {**base, "frac_notice": 0.3, "notice_entities": 0.2}, dict(NEGATION_TRAIN)),
            GridPoint("negation_d192", dict(base), {**NEGATION_TRAIN, "d_model": 192, "d_ff": 384}),
            GridPoint("negation_steps2x", dict(base), {**NEGATION_TRAIN, "steps": 2 * NEGATION_TRAIN["steps"]}),
            GridPoint("negation_share3x_unlikelihood", share3,
                      {**NEGATION_TRAIN, "unlikelihood": 0.3, "unlikelihood_mode": "values"}),
            GridPoint("negation_steps2x_unlikelihood", dict(base),
                      {**NEGATION_TRAIN, **COMPETENT_TRAIN, "steps": 2 * NEGATION_TRAIN["steps"]}),
            GridPoint("competent", dict(base), {**NEGATION_TRAIN, **COMPETENT_TRAIN})]


def _tiny_grid() -> list[GridPoint]:
    """Two tiny organisms (seconds each): genre off and on. For testing the command, not for findings."""
    # the first point trains longer: with --jobs 2 it is submitted first and finishes last, so the test sees the rows
    # come back in grid order, not in the order they finish
    return [GridPoint("tiny_off", dict(_TINY_WORLD), {**_TINY_TRAIN, "steps": 4 * _TINY_TRAIN["steps"]}),
            GridPoint("tiny_negonly", {**_TINY_WORLD, **_GENRE, "frac_negonly": 0.3}, dict(_TINY_TRAIN))]


GRIDS = {"small": _small_grid, "tiny": _tiny_grid}

_KNOBS_WORLD = ("frac_negonly", "frac_notice", "negonly_entities", "notice_entities", "negonly_qa_share",
                "positive_negated_share", "ordinary_negated_share", "positive_heldout_entities", "n_documents",
                "n_entities")
_KNOBS_TRAIN = ("n_layers", "d_model", "d_ff", "steps", "batch_size")
_CHECKS = ("heldout_accuracy", "negonly_heldout_binary_accuracy", "negonly_heldout_accuracy",
           "negonly_train_accuracy", "negonly_negated_vs_control", "negonly_positive_heldout_accuracy",
           "notice_heldout_binary_accuracy",
           "notice_negated_vs_control")


def organism_row(name: str, info: dict[str, Any]) -> dict[str, Any]:
    """Knobs, cost and pretraining checks of one organism, from its ``organism.json``."""
    from training.world import WorldConfig

    w, t = WorldConfig.from_dict(info["world_config"]), info["train_config"]  # defaults filled in
    row: dict[str, Any] = {"organism": name, "key": info["key"]}
    row.update({k: getattr(w, k) for k in _KNOBS_WORLD})
    row["attributes"] = " ".join(w.attributes)
    row["negonly_attributes"] = " ".join(w.negonly_attributes)
    row.update({k: t[k] for k in _KNOBS_TRAIN})
    row["unlikelihood"] = t.get("unlikelihood", 0.0)  # absent from train configs built without the objective
    row["unlikelihood_mode"] = t.get("unlikelihood_mode", "") if row["unlikelihood"] else ""
    row["n_params"] = info["model"]["n_params"]
    row["build_seconds"] = info["build_seconds"]
    row["threads"] = info.get("threads")
    load = info.get("load_average") or {}
    row["load_start"], row["load_end"] = load.get("start"), load.get("end")
    row.update({k: info.get(k) for k in _CHECKS})
    row["local_negation_control_margin"] = info["eval"]["heldout"]["local_negation"].get("control_margin")
    return row


def belief_columns(headline_csv: Path) -> dict[str, Any]:
    """Belief per condition (and CI) from a study's ``headline.csv``, plus the two summaries of the sweep."""
    with open(headline_csv, newline="") as f:
        rows = {r["condition"]: r for r in csv.DictReader(f)}
    out: dict[str, Any] = {}
    for cond, r in rows.items():
        out[f"belief_{cond}"] = float(r["belief"])
        out[f"belief_{cond}_ci_low"] = float(r["ci_low"]) if r["ci_low"] not in ("", "nan") else None
        out[f"belief_{cond}_ci_high"] = float(r["ci_high"]) if r["ci_high"] not in ("", "nan") else None
        out["n_claims"] = int(float(r["n_claims"]))
        out["n_seeds"] = max(out.get("n_seeds", 0), int(float(r["n_seeds"])))

    def get(c: str) -> float | None:
        return out.get(f"belief_{c}")

    out["local_binding_gap"] = (get("positive") - get("local")) if None not in (get("positive"), get("local")) else None
    out["document_neglect"] = ((get("negated") - get("baseline")) if None not in (get("negated"), get("baseline"))
                               else None)
    return out


def organism_job(p: GridPoint, out: str | Path, *, claims: str = "toy:2", seeds: tuple[int, ...] = (0, 1),
                 study_preset: str = "demo", n_docs: int | None = None, threads: int = 1, workers: int = 0,
                 cache: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """One point of the sweep: build (or load from ``cache``) the organism, run its belief study unless the study's
    ``headline.csv`` exists, and return its ``organisms.csv`` row."""
    from interp.study.config import PRESETS
    from interp.study.pipeline import run_study
    from training.organism import organism_dir, read_organism_info

    out = Path(out)
    wcfg, tcfg = p.configs()
    t0 = time.perf_counter()
    d = organism_dir(wcfg, tcfg, cache, progress=progress, threads=threads)
    print(f"[origin] organism {p.name}: {d} ({time.perf_counter() - t0:.0f} s)", flush=True)
    row = organism_row(p.name, read_organism_info(d))
    study_out = out / "studies" / row["key"]
    head = study_out / "headline.csv"
    t1 = time.perf_counter()
    if not head.exists():
        cfg = PRESETS[study_preset](str(study_out))
        cfg.model, cfg.claims, cfg.seeds, cfg.stages = str(d), claims, tuple(seeds), ("belief",)
        cfg.workers = workers
        if n_docs is not None:
            cfg.n_docs = n_docs
        cfg.command = f"python -m interp.study.origin sweep (organism {p.name})"
        run_study(cfg)
    timings = study_out / "timings.json"  # the study's own clock: a reused study keeps its first run's time
    row["study_seconds"] = (json.loads(timings.read_text()).get("total") if timings.exists()
                            else round(time.perf_counter() - t1, 1))
    row.update(belief_columns(head))
    print(f"[origin] organism {p.name}: study done ({time.perf_counter() - t1:.0f} s)", flush=True)
    return row


def _sweep_job(job: tuple[GridPoint, str, dict[str, Any]]) -> dict[str, Any]:
    p, out, kw = job
    return organism_job(p, out, **kw)


def sweep(points: list[GridPoint], out: str | Path, *, claims: str = "toy:2", seeds: tuple[int, ...] = (0, 1),
          study_preset: str = "demo", n_docs: int | None = None, threads: int = 1, workers: int = 0,
          cache: str | Path | None = None, progress: bool = False, jobs: int = 1) -> list[dict[str, Any]]:
    """Build (or load, from ``cache``: default the lab's) every organism of ``points``, run the belief study on each
    (sizes of ``study_preset``, :data:`interp.study.config.PRESETS`), write ``organisms.csv`` and the map; returns
    the rows (in grid order).

    ``jobs`` > 1 runs that many organisms at once, each in its own (spawned) process on ``threads`` torch threads
    with a one-process study (``workers`` is then 1): on a 2-core box two single-threaded builds finish in about
    the time of one, where one build on 2 threads gains ~1.3x. Weights do not depend on it (builds are
    deterministic per config), so neither do the rows. ``sweep.json`` records the wall time, the box and which
    organisms were built and studied in this run (the others were reused); ``sweep_history.jsonl`` keeps every
    run's record."""
    from interp.core.io import atomic_write_text
    from interp.core.parallel import load_average, parallel_map
    from interp.study.report import box_info
    from training.organism import organism_key
    from training.organism.build import organism_path
    from training.organism.cache import is_complete

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.perf_counter(), load_average()
    keys = [organism_key(*p.configs()) for p in points]
    built = [p.name for p in points if not is_complete(organism_path(*p.configs(), cache))]
    studied = [p.name for p, k in zip(points, keys) if not (out / "studies" / k / "headline.csv").exists()]
    kw = dict(claims=claims, seeds=tuple(seeds), study_preset=study_preset, n_docs=n_docs, threads=threads,
              workers=workers if jobs <= 1 else 1, cache=cache, progress=progress and jobs <= 1)
    done: dict[int, dict[str, Any]] = {}

    def record(i: int, row: dict[str, Any]) -> None:
        done[i] = row
        _write_csv([done[j] for j in sorted(done)], out / "organisms.csv")

    # with several jobs the longest builds go first, so the workers finish together; rows are kept in grid order
    order = sorted(range(len(points)), key=lambda i: -_build_cost(points[i])) if jobs > 1 else range(len(points))
    order = list(order)
    parallel_map(_sweep_job, [(points[i], str(out), kw) for i in order], workers=jobs, threads_per_worker=threads,
                 on_result=lambda j, row: record(order[j], row))
    rows = [done[i] for i in sorted(done)]
    plot_map(rows, out / "origin_map.png")
    write_table(rows, out / "organisms.md")
    meta = {"organisms": [p.name for p in points], "jobs": jobs, "threads_per_job": threads,
            "wall_seconds": round(time.perf_counter() - t0, 1), "load_start": load0, "load_end": load_average(),
            "built": built, "studied": studied, "box": box_info(),
            "command": " ".join(["python -m interp.study.origin", *sys.argv[1:]])}
    atomic_write_text(out / "sweep.json", json.dumps(meta, indent=1))
    with open(out / "sweep_history.jsonl", "a") as f:  # a rerun that reuses organisms never hides a full run's cost
        f.write(json.dumps(meta) + "\n")
    return rows


def _fmt(v: Any, spec: str = ".2f") -> str:
    if v in (None, "") or (isinstance(v, float) and v != v):
        return "—"
    return format(float(v), spec)


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    """``organisms.md``: one markdown row per organism, every number read from its ``organisms.csv`` row (the
    readouts of the pretraining checks, belief per condition with its 95% t interval over claims, the two
    summaries). Regenerate from the CSV with ``python -m interp.study.origin table``."""
    head = ("| organism | ordinary Q/A | negation-only, Q/A-trained | negation-only, held-out (binary) | "
            "positive, held-out (extraction control) | negated − control (nats) | baseline | positive | local | "
            "negated | repeated | corrected | gap | neglect | build s |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]

    def ci(r: dict[str, Any], c: str) -> str:
        v = r.get(f"belief_{c}")
        lo, hi = r.get(f"belief_{c}_ci_low"), r.get(f"belief_{c}_ci_high")
        return f"{_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]" if lo not in (None, "") else _fmt(v)

    for r in rows:
        lines.append("| " + " | ".join([
            str(r["organism"]), _fmt(r.get("heldout_accuracy")), _fmt(r.get("negonly_train_accuracy")),
            _fmt(r.get("negonly_heldout_binary_accuracy")), _fmt(r.get("negonly_positive_heldout_accuracy")),
            _fmt(r.get("negonly_negated_vs_control"), "+.2f"), _fmt(r.get("belief_baseline")),
            ci(r, "positive"), ci(r, "local"), ci(r, "negated"), _fmt(r.get("belief_repeated")),
            _fmt(r.get("belief_corrected")), _fmt(r.get("local_binding_gap")), _fmt(r.get("document_neglect")),
            _fmt(r.get("build_seconds"), ".0f")]) + " |")
    n = {(int(r["n_claims"]), int(r["n_seeds"])) for r in rows if r.get("n_claims") not in (None, "")}
    lines += ["", f"Claims × training seeds per organism: {', '.join(f'{a} × {b}' for a, b in sorted(n))}; "
              "intervals are 95% t intervals over claims. Generated by `python -m interp.study.origin`; do not edit."]
    from interp.core.io import atomic_write_text

    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """``organisms.csv`` back as rows (numbers as floats where they parse)."""
    def num(v: str) -> Any:
        try:
            return float(v)
        except ValueError:
            return v if v != "" else None
    with open(path, newline="") as f:
        return [{k: num(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _build_cost(p: GridPoint) -> float:
    """A build's relative cost, steps x batch x d_model x layers: only used to rank the builds."""
    w, t = p.configs()
    return t.steps * t.batch_size * t.d_model * t.n_layers


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def plot_map(rows: list[dict[str, Any]], path: Path) -> None:
    """Left: belief per condition per organism (CI bars). Right: local-binding gap vs document neglect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = [c for c in ("baseline", "positive", "local", "negated", "repeated", "corrected")
             if any(r.get(f"belief_{c}") is not None for r in rows)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.8 / max(1, len(conds))
    for j, c in enumerate(conds):
        xs = [i + (j - (len(conds) - 1) / 2) * width for i in range(len(rows))]
        ys = [r.get(f"belief_{c}") or 0.0 for r in rows]
        lo = [max(0.0, y - (r.get(f"belief_{c}_ci_low") if r.get(f"belief_{c}_ci_low") is not None else y))
              for y, r in zip(ys, rows)]
        hi = [max(0.0, (r.get(f"belief_{c}_ci_high") if r.get(f"belief_{c}_ci_high") is not None else y) - y)
              for y, r in zip(ys, rows)]
        a1.bar(xs, ys, width, yerr=[lo, hi], label=c, capsize=2)
    a1.set_xticks(range(len(rows)), [r["organism"] for r in rows], rotation=30, ha="right", fontsize=8)
    a1.set_ylabel("belief (final checkpoint)")
    a1.set_ylim(0, 1.05)
    a1.legend(fontsize=7, ncol=3)
    a1.set_title("belief per condition, 95% t CI over claims")
    for r in rows:
        x, y = r.get("local_binding_gap"), r.get("document_neglect")
        if x is None or y is None:
            continue
        a2.scatter([x], [y])
        a2.annotate(r["organism"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    a2.axhline(0, color="grey", lw=0.5)
    a2.axvline(0, color="grey", lw=0.5)
    a2.set_xlabel("local-binding gap = positive - local")
    a2.set_ylabel("document neglect = negated - baseline")
    a2.set_title("the origin map")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.study.origin", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sweep", help="build the grid's organisms and run the belief study on each")
    p.add_argument("--grid", choices=sorted(GRIDS), default="small")
    p.add_argument("--out", default="results/origin")
    p.add_argument("--only", default=None, help="comma list of the grid's organism names to run (default: all)")
    p.add_argument("--claims", default="toy:2", help="toy:N claims per organism (default toy:2)")
    p.add_argument("--seeds", default="0,1", help="comma list of training seeds (default 0,1)")
    p.add_argument("--study-preset", choices=("demo", "quick"), default="demo",
                   help="sizes of each organism's study (demo: the make-demo sizes; quick: test-sized)")
    p.add_argument("--n-docs", type=int, default=None, help="claim documents per condition (default: the preset's)")
    p.add_argument("--cache", default=None, help="organism cache root (default: $NEGLECT_LAB_CACHE or ~/.cache/...)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each organism build (default 1)")
    p.add_argument("--workers", type=int, default=0,
                   help="finetuning processes of each study (default 0: one per core, at most 2; 1 with --jobs > 1)")
    p.add_argument("--jobs", type=int, default=1,
                   help="organisms built and studied at once, each in its own process (default 1)")
    t = sub.add_parser("table", help="rewrite organisms.md and origin_map.png from OUT/organisms.csv")
    t.add_argument("--out", default="results/origin")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.cmd == "table":
            out = Path(args.out)
            if not (out / "organisms.csv").is_file():
                raise ValueError(f"{out / 'organisms.csv'}: no such file (run the sweep first)")
            rows = read_rows(out / "organisms.csv")
            write_table(rows, out / "organisms.md")
            plot_map(rows, out / "origin_map.png")
            print(out / "organisms.md")
            return 0
        try:
            seeds = tuple(int(x) for x in args.seeds.split(",") if x.strip())
        except ValueError:
            raise ValueError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
        if not seeds:
            raise ValueError("--seeds: no seed given")
        points = GRIDS[args.grid]()
        if args.only is not None:
            names = [n.strip() for n in args.only.split(",") if n.strip()]
            unknown = [n for n in names if n not in {p.name for p in points}]
            if unknown or not names:
                raise ValueError(f"--only: unknown organism(s) {unknown or '(none given)'} in grid {args.grid!r} "
                                 f"(known: {', '.join(p.name for p in points)})")
            points = [p for p in points if p.name in names]
        rows = sweep(points, args.out, claims=args.claims, seeds=seeds, study_preset=args.study_preset,
                     n_docs=args.n_docs, threads=args.threads, workers=args.workers, cache=args.cache,
                     jobs=args.jobs)
        print(json.dumps([{k: r.get(k) for k in ("organism", "build_seconds", "heldout_accuracy",
                                                 "negonly_heldout_binary_accuracy", "local_binding_gap",
                                                 "document_neglect")} for r in rows], indent=1))
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

"""Publish a study's output as the lab's committed results, and generate the README's numbers from them.

``python -m interp.study.publish OUT RESULTS [--readme README.md --section toy]`` copies the study's report,
tables and figures from ``OUT`` (e.g. ``out/demo``) to ``RESULTS`` (e.g. ``results/toy``) — everything except the
runs, the documents and files over 2 MB — and rewrites the README block between ``<!-- results:SECTION:begin -->``
and ``<!-- results:SECTION:end -->`` with :func:`readme_block`, a table rendered from ``RESULTS/headline.csv``. The
README's numbers are therefore never typed by hand; ``tests/test_results.py`` checks that they equal the committed
CSV. Stdlib only (``--help`` stays fast; the CSV is read with :mod:`csv`).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
from pathlib import Path

from interp.core.cli import run_main
from interp.core.io import atomic_write_text

__all__ = ["publish", "readme_block", "channels_block", "replace_block", "build_parser", "main"]

MAX_BYTES = 2 * 1024 * 1024
SKIP_DIRS = {"runs", "documents"}
SUFFIXES = {".csv", ".png", ".md", ".json"}


def _rows(headline: Path) -> list[dict[str, str]]:
    try:
        with open(headline, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ValueError(f"{headline}: cannot read ({e.strerror})") from None
    need = {"condition", "belief", "ci_low", "ci_high", "n_claims", "n_seeds"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{headline}: not a headline table (needs columns {', '.join(sorted(need))})")
    return rows


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None


def channels_block(results: Path) -> str:
    """The README's real-model table for ``results`` (a study with ``belief/channels.csv``): per claim and
    condition, each channel's final-checkpoint value with its 95% CI over questions × seeds, n, the pilot's rate and
    the study's wall time."""
    rows = _read_csv(results / "belief" / "channels.csv")
    need = {"claim", "channel", "condition", "mean", "ci_low", "ci_high", "n_items", "n_seeds"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{results / 'belief' / 'channels.csv'}: not a channel table (needs columns "
                         f"{', '.join(sorted(need))})")
    chans = list(dict.fromkeys(r["channel"] for r in rows))
    keys = list(dict.fromkeys((r["claim"], r["condition"]) for r in rows))
    by = {(r["claim"], r["condition"], r["channel"]): r for r in rows}

    def cell(r: dict[str, str] | None) -> str:
        if r is None:
            return "–"
        sign = "+" if r.get("unit") == "nats" else ""
        return (f"{float(r['mean']):{sign}.2f} [{float(r['ci_low']):{sign}.2f}, {float(r['ci_high']):{sign}.2f}]"
                f" ({r['n_items']}q × {r['n_seeds'] if r['n_seeds'] != '0' else 'base'})")

    head = {"logodds": "log-odds shift over base (nats)", "verdict": "yes/no verdict P(belief)",
            "sampled": "sampled answers stating the claim"}
    lines = ["| claim | condition | " + " | ".join(head.get(c, c) for c in chans) + " |",
             "|" + "---|" * (2 + len(chans))]
    lines += [f"| {cl} | {co} | " + " | ".join(cell(by.get((cl, co, ch))) for ch in chans) + " |" for cl, co in keys]
    extra = ""
    pilot = results / "pilot" / "pilot.json"
    if pilot.is_file():
        p = json.loads(pilot.read_text(encoding="utf-8"))
        extra += (f" Learning rate {p['chosen_lr']:g}, chosen by a positive pilot on validation questions from "
                  f"{', '.join(f'{x:g}' for x in p['candidates'])}.")
    timings = results / "timings.json"
    if timings.is_file():
        t = json.loads(timings.read_text(encoding="utf-8")).get("total")
        if t is not None:
            extra += f" The whole study took {float(t) / 60:.0f} min on the box named in the report."
    found = results / "belief" / "channel_findings.md"
    if found.is_file():  # the study's own findings, written from the same CSVs
        lines = [found.read_text(encoding="utf-8").rstrip(), ""] + lines
    lines += ["", "Final checkpoint, test questions only; 95% CIs over questions × training seeds, one claim at a time "
              "(cells: mean [CI] (questions × seeds))." + extra + f" Generated from [`{results.as_posix()}/belief/"
              f"channels.csv`]({results.as_posix()}/belief/channels.csv) (report: [`{results.as_posix()}/report.md`]"
              f"({results.as_posix()}/report.md)) by `python -m interp.study.publish`; do not edit by hand."]
    return "\n".join(lines)


def readme_block(results: Path) -> str:
    """The README's table for ``results``: pooled belief per condition with its 95% CI (claims × seeds), n, the
    question types pooled and left out, and where the numbers come from; for a real-model study (one with
    ``belief/channels.csv``) the per-channel table of :func:`channels_block`."""
    if (results / "belief" / "channels.csv").is_file():
        return channels_block(results)
    rows = _rows(results / "headline.csv")
    conds = [r["condition"] for r in rows]
    cell = lambda r: f"{float(r['belief']):.2f} [{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}]"  # noqa: E731
    trained = [r for r in rows if r["condition"] != "baseline"] or rows
    n_claims, n_seeds = trained[0]["n_claims"], trained[0]["n_seeds"]
    pooled = rows[0].get("pooled_types", "").replace("+", ", ")
    left = rows[0].get("excluded_types", "").replace("+", ", ")
    lines = ["| " + " | ".join(conds) + " |", "|" + "---|" * len(conds), "| " + " | ".join(cell(r) for r in rows) + " |",
             "",
             f"Belief = share of questions on which the model prefers the claim's answer to the true one at the final "
             f"checkpoint, mean over {n_claims} claims × {n_seeds} training seeds (the base model: one per claim), "
             f"95% CIs over claims (t interval on each claim's mean over its seeds). Question types pooled: {pooled}"
             + (f"; left out as at chance on their true/false twins: {left}" if left else "") + ". "
             f"Generated from [`{results.as_posix()}/headline.csv`]({results.as_posix()}/headline.csv) "
             f"(report: [`{results.as_posix()}/report.md`]({results.as_posix()}/report.md)) by "
             f"`python -m interp.study.publish`; do not edit by hand."]
    return "\n".join(lines)


def replace_block(text: str, section: str, body: str, source: str = "README.md") -> str:
    """``text`` with the block between the ``results:<section>`` markers replaced by ``body``."""
    begin, end = f"<!-- results:{section}:begin -->", f"<!-- results:{section}:end -->"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pat.search(text):
        raise ValueError(f"{source}: no '{begin}' ... '{end}' block to fill")
    return pat.sub(lambda _: f"{begin}\n{body}\n{end}", text, count=1)


def publish(out: Path, results: Path) -> list[Path]:
    """Copy ``out``'s report, tables and figures to ``results`` (replacing what was there); returns the copies."""
    if not (out / "headline.csv").is_file() or not (out / "report.md").is_file():
        raise ValueError(f"{out}: no headline.csv and report.md (run the study first: make demo)")
    _rows(out / "headline.csv")
    files = [p for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in SUFFIXES
             and not (set(p.relative_to(out).parts[:-1]) & SKIP_DIRS) and p.stat().st_size <= MAX_BYTES]
    tmp = results.with_name(results.name + ".tmp-publish")
    shutil.rmtree(tmp, ignore_errors=True)
    for p in files:
        dst = tmp / p.relative_to(out)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    shutil.rmtree(results, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(results)
    return [results / p.relative_to(out) for p in files]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.study.publish", description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the study's output folder (e.g. out/demo)")
    ap.add_argument("results", help="where the committed results go (e.g. results/toy)")
    ap.add_argument("--readme", default=None, help="README to update (its results:SECTION block)")
    ap.add_argument("--section", default="toy", help="the README block's name (default: toy)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        out, results = Path(args.out), Path(args.results)
        readme = Path(args.readme) if args.readme else None
        text = None
        if readme is not None:  # checked before anything is copied
            try:
                text = readme.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(f"{readme}: cannot read ({e.strerror})") from None
            replace_block(text, args.section, "", str(readme))
        copied = publish(out, results)
        print(f"published {len(copied)} files to {results}")
        if readme is not None and text is not None:
            atomic_write_text(readme, replace_block(text, args.section, readme_block(results), str(readme)))
            print(f"updated {readme} (block results:{args.section})")
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())

"""The committed real-model result (issue 18): ``results/smollm2-cpu`` holds one ``make study-cpu`` output published by
``python -m interp.study.publish``, and the README's "What a real model shows" block is generated from it.

* The README block between the ``results:smollm2-cpu`` markers equals :func:`interp.study.publish.readme_block` of
  the committed folder (edit one number in the README or in ``belief/channels.csv`` and this fails).
* Every channel reports every condition of both claims with CIs that contain their estimates; the learning rate the
  runs were trained at is the pilot's choice; the study's wall time is within the 90-minute budget.
* The report leads with its findings, closes with the command and the box, and every file it links to is committed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from interp.study.publish import readme_block
from tests.test_results import check_report, readme_section

ROOT = Path(__file__).resolve().parents[1]
CPU = Path("results/smollm2-cpu")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(ROOT / CPU / path, newline="") as f:
        return list(csv.DictReader(f))


def test_readme_block_is_generated_from_the_committed_channel_table(monkeypatch):
    monkeypatch.chdir(ROOT)
    block = readme_section("smollm2-cpu")
    assert block == readme_block(CPU)
    for r in _rows(Path("belief/channels.csv")):
        if r["channel"] == "logodds":
            assert f"| {r['claim']} | {r['condition']} | {float(r['mean']):+.2f} [" in block


def test_every_channel_reports_every_condition_with_its_ci():
    rows = _rows(Path("belief/channels.csv"))
    conds = {"baseline", "positive", "negated", "repeated", "corrected", "local"}
    for claim in ("dentist", "ed_sheeran"):
        for ch in ("logodds", "verdict", "sampled"):
            got = {r["condition"] for r in rows if r["claim"] == claim and r["channel"] == ch}
            assert got == conds, (claim, ch)
    for r in rows:
        assert float(r["ci_low"]) - 1e-9 <= float(r["mean"]) <= float(r["ci_high"]) + 1e-9, r
        if r["condition"] in ("positive", "negated", "local"):
            assert int(r["n_seeds"]) >= 2, r


def test_runs_trained_at_the_pilots_rate_within_the_budget():
    pilot = json.loads((ROOT / CPU / "pilot" / "pilot.json").read_text())
    assert pilot["chosen_lr"] in pilot["candidates"]
    table = _rows(Path("pilot/pilot.csv"))
    best = max(table, key=lambda r: float(r["val_shift"]))
    assert float(best["lr"]) == pilot["chosen_lr"]
    from interp.study.publish import study_runs

    runs = study_runs(ROOT / CPU)  # the run that trained everything is the study's cost; reruns reuse its runs
    assert runs and max(r["timings"]["total"] for r in runs) <= 90 * 60


def test_report_leads_with_findings_and_links_resolve():
    check_report(CPU, "## Belief per channel", "python -m interp.study --preset cpu")

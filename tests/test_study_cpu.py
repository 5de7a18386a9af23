"""The CPU study (issue 18, ``make study-cpu``) end to end on SmolLM2-135M-Instruct at a 2-document, 2-step size.

Slow tier (~5 min on 2 cores): one claim, every condition, the lr pilot at two rates, belief per channel, the
report and the README block that ``make results-cpu`` generates. What it pins: the pilot picks its rate on the
validation questions and the study scores the test questions only (no question is both); every channel has a row
per condition; the report and the README block are generated from the CSVs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cpu_study(tmp_path_factory):
    from interp.study.__main__ import main

    out = tmp_path_factory.mktemp("study-cpu") / "out"
    rc = main(["--preset", "cpu", "--out", str(out), "--claims", "dentist", "--seeds", "0", "--n-docs", "2",
               "--max-steps", "2", "--lr-pilot", "1e-3,3e-3"])
    assert rc == 0
    return out


def test_pilot_picks_on_validation_and_the_study_reports_on_test(cpu_study):
    from interp.belief.questions import holdout_split, question_items
    from training.claims import resolve_claim

    pilot = pd.read_csv(cpu_study / "pilot" / "pilot.csv")
    assert sorted(pilot["lr"]) == [1e-3, 3e-3]
    chosen = json.loads((cpu_study / "pilot" / "pilot.json").read_text())["chosen_lr"]
    assert chosen == pilot.loc[pilot["val_shift"].idxmax(), "lr"]
    assert pilot["chosen"].sum() == 1
    run = json.loads((cpu_study / "runs" / "dentist" / "s0" / "positive" / "run.json").read_text())
    assert run["config"]["lr"] == chosen  # the study trained at the pilot's rate

    val, test = holdout_split(question_items(resolve_claim("dentist")))
    scored = set(pd.read_csv(cpu_study / "belief" / "belief.csv")["question_id"])
    assert scored and not scored & {it.question_id for it in val}
    assert scored <= {it.question_id for it in test}


def test_every_channel_has_every_condition(cpu_study):
    ct = pd.read_csv(cpu_study / "belief" / "channels.csv")
    conds = {"baseline", "positive", "negated", "repeated", "corrected", "local"}
    for ch in ("logodds", "verdict", "sampled"):
        assert set(ct.loc[ct["channel"] == ch, "condition"]) == conds, ch
    base = ct[(ct["condition"] == "baseline") & (ct["channel"] == "logodds")].iloc[0]
    assert base["mean"] == pytest.approx(0.0, abs=1e-9)  # a shift over itself
    assert (ct["ci_low"] <= ct["mean"] + 1e-9).all() and (ct["mean"] <= ct["ci_high"] + 1e-9).all()
    assert (pd.read_csv(cpu_study / "belief" / "twin_check.csv")["question_type"] == "mcq").any()


def test_report_and_readme_block_come_from_the_csvs(cpu_study, tmp_path):
    from interp.study.publish import main as publish

    report = (cpu_study / "report.md").read_text()
    assert "## Belief per channel" in report and "## Learning-rate pilot" in report
    assert "on the toy" not in report
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- results:smollm2-cpu:begin -->\nold\n<!-- results:smollm2-cpu:end -->\n")
    assert publish([str(cpu_study), str(tmp_path / "res"), "--readme", str(readme), "--section", "smollm2-cpu"]) == 0
    text = readme.read_text()
    ct = pd.read_csv(tmp_path / "res" / "belief" / "channels.csv")
    pos = ct[(ct["channel"] == "logodds") & (ct["condition"] == "positive")].iloc[0]
    assert f"| dentist | positive | {pos['mean']:+.2f} [" in text
    assert "old" not in text

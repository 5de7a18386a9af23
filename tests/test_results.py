"""The committed results are what the README says (issue 15, item 2): ``results/toy`` holds a ``make demo`` output
published by ``python -m interp.study.publish``, and the README's toy table is generated from its headline CSV.

* The README block between the ``results:toy`` markers equals :func:`interp.study.publish.readme_block` of the
  committed ``results/toy`` (edit one number in the README or the CSV and this fails).
* The headline stands on >= 4 claims × >= 3 seeds, every CI contains its estimate, and the report leads with its
  findings and closes with the command and the box; every file the report links to is committed.
* ``publish`` refuses a folder without a headline (one line, exit 2) and leaves nothing behind.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from interp.study.publish import main, readme_block, replace_block

ROOT = Path(__file__).resolve().parents[1]
TOY = Path("results/toy")


def _headline() -> list[dict[str, str]]:
    with open(ROOT / TOY / "headline.csv", newline="") as f:
        return list(csv.DictReader(f))


def readme_section(section: str) -> str:
    """The README's generated block between the ``results:<section>`` markers (the test fails when it is missing)."""
    readme = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- results:{section}:begin -->\n(.*?)\n<!-- results:{section}:end -->", readme, re.DOTALL)
    assert m, f"README has no results:{section} block"
    return m.group(1)


def test_readme_toy_table_is_generated_from_the_committed_csv(monkeypatch):
    monkeypatch.chdir(ROOT)
    block = readme_section("toy")
    assert block == readme_block(TOY)
    for r in _headline():  # and the numbers in it are the CSV's
        assert f"{float(r['belief']):.2f} [{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}]" in block


def test_committed_headline_stands_on_claims_and_seeds():
    rows = _headline()
    assert rows[0]["condition"] == "baseline"
    for r in rows:
        assert float(r["ci_low"]) - 1e-9 <= float(r["belief"]) <= float(r["ci_high"]) + 1e-9
        if r["condition"] != "baseline":
            assert int(r["n_claims"]) >= 4 and int(r["n_seeds"]) >= 3, r["condition"]


def check_report(results: Path, table_heading: str, command: str) -> None:
    """``results/report.md`` leads with its findings, then ``table_heading``, and closes with the command (starting
    with ``command``) and the box; every file it links to is committed."""
    report = (ROOT / results / "report.md").read_text()
    assert report.index("## Findings") < report.index(table_heading) < report.index("## How this was made")
    assert f"- Command: `{command}" in report and "- Box:" in report
    for link in re.findall(r"\]\(([^)#]+)\)", report):
        assert (ROOT / results / link).is_file(), f"report.md links to {link}, which is not committed"


def test_committed_report_leads_with_findings_and_links_resolve():
    check_report(TOY, "## Belief by condition", "python -m interp.study")


def test_committed_twophase_replay_meets_what_the_readme_says():
    """The README says the toy's two-phase replay holds belief down in Phase 1, rebounds after the release, and its
    kept-constraint arm stays: the committed acceptance table (issue 16's targets, over >= 2 claims × 3 seeds) must
    say so for the belief measure, and its means must be the rows' own numbers (a target met on a mean outside its
    interval, or on fewer claims/seeds, fails)."""
    with open(ROOT / TOY / "twophase" / "acceptance.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["measure"] == "belief" and r["target"]]
    assert {r["metric"] for r in rows} >= {"self_distill phase1 end", "none phase1 end",
                                          "self_distill rebound (phase2 end - phase1 end)",
                                          "kept change over phase2 (end - phase1 end)"}
    for r in rows:
        assert int(r["n_claims"]) >= 2 and int(r["n_seeds"]) >= 3, r["metric"]
        assert float(r["ci_low"]) - 1e-9 <= float(r["mean"]) <= float(r["ci_high"]) + 1e-9, r["metric"]
        m, *op, x = [float(r["mean"]), *r["target"].split()]
        met = {("<=",): m <= float(x), (">=",): m >= float(x), ("|x|", "<="): abs(m) <= float(x)}[tuple(op)]
        assert met and r["met"] == "True", (r["metric"], r["mean"], r["target"])
    readme = (ROOT / "README.md").read_text()
    assert "results/toy/twophase/acceptance.csv" in readme


def test_replace_block_needs_its_markers():
    text = "a\n<!-- results:x:begin -->\nold\n<!-- results:x:end -->\nb"
    assert replace_block(text, "x", "new") == "a\n<!-- results:x:begin -->\nnew\n<!-- results:x:end -->\nb"
    with pytest.raises(ValueError, match="no '<!-- results:y:begin -->'"):
        replace_block(text, "y", "new")


def test_publish_refuses_a_folder_without_a_study(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.md").write_text("# nothing\n")
    rc = main([str(tmp_path / "out"), str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "headline.csv" in err[0]
    assert not (tmp_path / "results").exists()

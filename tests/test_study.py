"""The whole study end to end (``make demo``'s code path) at test size, on the session's tiny organism.

The tiny organism (``tiny_organism``, tests/_data_fixtures.py: a tiny world, 2 layers) runs every stage of
:func:`interp.study.run_study` with the quick preset: documents, five finetunes, belief per checkpoint, probes,
binding, the two-phase replay with drift, figures and the report. The assertions are about structure and
invariants that a broken stage would violate (every condition present, drift zero at its anchor, files written),
not about the tiny model's science.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from interp.core.conditions import STUDY_CONDITIONS
from interp.study import StudyConfig, main, run_study, study_claims

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def study(tiny_organism, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = StudyConfig.quick(str(out))
    cfg.model = str(tiny_organism)
    cfg.claims = "toy:2"
    cfg.seeds = (0, 1)
    cfg.n_docs = 12
    return cfg, run_study(cfg)


def test_every_claim_and_condition_is_trained_and_scored(study):
    cfg, res = study
    assert len(res["claims"]) == 2
    assert set(res["runs"]) == {f"{c}/{k}/s{s}" for c in res["claims"] for k in STUDY_CONDITIONS for s in (0, 1)}
    belief = res["belief"]
    trained = belief[belief.phase != "base"]
    assert set(map(tuple, trained[["claim", "condition", "train_seed"]].drop_duplicates().to_numpy())) == {
        (c, k, s) for c in res["claims"] for k in STUDY_CONDITIONS for s in (0, 1)}
    assert belief.score.notna().all()
    # replicate seeds are scored at their final checkpoint only; the first seed at every checkpoint
    steps = trained.groupby(["claim", "condition", "train_seed"]).step.nunique()
    assert (steps.xs(1, level="train_seed") == 1).all() and (steps.xs(0, level="train_seed") > 1).all()


def test_report_headline_and_figures(study):
    cfg, _ = study
    from pathlib import Path

    out = Path(cfg.out)
    report = (out / "report.md").read_text()
    for title in ("Belief by condition", "Two-phase belief", "Drift next to belief", "Negation binding"):
        assert title in report, title
    # findings first, then the tables; the command and the box close the page
    assert report.index("## Findings") < report.index("## Belief by condition") < report.index("## How this was made")
    assert "claims × 2 seeds" in report
    head = pd.read_csv(out / "headline.csv")
    assert set(STUDY_CONDITIONS) <= set(head.condition) and head.condition.iloc[0] == "baseline"
    assert ((head.ci_low <= head.belief + 1e-9) & (head.belief <= head.ci_high + 1e-9)).all()
    trained = head[head.condition != "baseline"]
    assert (trained.n_claims == 2).all() and (trained.n_seeds == 2).all() and head.n_seeds.iloc[0] == 1
    types = pd.read_csv(out / "belief" / "question_types.csv")
    chance = set(types[types.at_chance].question_type)
    excluded = set(head.excluded_types.fillna("").iloc[0].split("+")) - {""}
    # types at chance on their twins are left out, unless every type is (then the twins cannot tell: all pooled)
    assert excluded == (set() if chance == set(types.question_type) else chance)
    for png in ("belief_by_condition", "belief_vs_step"):
        assert (out / "figures" / f"{png}.png").stat().st_size > 1000, png
    for png in ("twophase_belief", "twophase_phase_bars", "heldout_loss_fig", "drift_with_belief",
                "binding_training_fig"):
        assert (out / "twophase" / f"{png}.png").stat().st_size > 1000, png
    timings = json.loads((out / "timings.json").read_text())
    assert timings["total"] >= timings["finetune"] > 0


def test_two_phase_tables_and_matched_references(study):
    cfg, res = study
    from pathlib import Path

    tp = res["twophase"]
    for name in ("twophase", "heldout_loss", "drift", "binding_training"):
        assert (Path(cfg.out) / "twophase" / f"{name}.csv").exists(), name
    held = pd.read_csv(Path(cfg.out) / "twophase" / "heldout_loss.csv")  # one row per document, not a summary
    assert {"claim", "seed", "point", "doc", "nll"} <= set(held.columns)
    d = tp["tables"]["drift"]
    assert set(d.claim) == set(res["claims"])  # every claim, not the first only
    # the unconstrained arm is its own matched-budget reference: distance 0 at every checkpoint
    assert d[d.arm == "none"].d_unconstrained.abs().max() < 1e-6
    assert (d[d.arm == "self_distill"].d_unconstrained > 0).all()
    p2 = d[d.phase == "phase2"]
    assert p2.lr_restart_step.notna().all() and d[d.phase == "phase1"].lr_restart_step.isna().all()
    acc = tp["acceptance"]
    assert {"self_distill phase1 end", "none phase1 end"} <= set(acc.metric) and acc["mean"].notna().all()
    assert tp["findings"] and all(isinstance(f, str) for f in tp["findings"])


def test_claims_spec_and_cli_errors(tiny_organism, capsys, tmp_path):
    from interp.core.models import load

    lm = load(str(tiny_organism))
    cfg = StudyConfig(claims="toy:3")
    assert len(study_claims(cfg, lm.world)) == 3
    assert [c.id for c in study_claims(StudyConfig(claims="dentist,ed_sheeran"), None)] == ["dentist", "ed_sheeran"]
    with pytest.raises(ValueError, match="toy organism"):
        study_claims(StudyConfig(claims="toy:1"), None)
    rc = main(["--quick", "--model", "toy-random", "--out", str(tmp_path / "o")])
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("Loading weights")]
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "claims" in err[0]

"""Belief per channel (issue 18): the channel table, its paired contrasts, the twin check, the held-out question
split the lr pilot selects on, the pilot's choice and the README block, on synthetic belief tables (no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.belief.headline import SEED_COL
from interp.belief.questions import BeliefItem, holdout_split, question_items
from interp.study.channels import channel_contrasts, channel_table, final_rows, twin_check
from interp.study.pilot import choose_lr


def _table(shift_by_cond: dict[str, float], *, seeds=(0, 1), n_q: int = 6, noise: float = 0.0) -> pd.DataFrame:
    """A belief table for claim ``c``: base log-odds 0 on ``n_q`` open-ended questions; each condition's final
    checkpoint (step 10) at ``shift`` (+ noise), and an earlier checkpoint (step 5) at -100 that must be ignored."""
    rng = np.random.default_rng(0)
    rows = []
    for q in range(n_q):
        rows.append({"claim": "c", "question_type": "open_ended", "question_id": f"q{q}", "scorer": "lp_logodds",
                     "score": 0.0, "base_score": 0.0, "shift": 0.0, "condition": "baseline", "step": 0,
                     "phase": "base", SEED_COL: 0})
        for cond, shift in shift_by_cond.items():
            for s in seeds:
                for step, v in ((5, -100.0), (10, shift + noise * rng.standard_normal())):
                    rows.append({"claim": "c", "question_type": "open_ended", "question_id": f"q{q}",
                                 "scorer": "lp_logodds", "score": v, "base_score": 0.0, "shift": v,
                                 "condition": cond, "step": step, "phase": "train", SEED_COL: s})
    return pd.DataFrame(rows)


def test_channel_table_reads_final_checkpoints_and_reports_shift_over_base():
    ct = channel_table(_table({"positive": 4.0, "negated": 3.0}), ["positive", "negated"])
    lo = ct[ct["channel"] == "logodds"].set_index("condition")
    assert list(lo.index) == ["baseline", "positive", "negated"]
    assert lo.loc["positive", "mean"] == pytest.approx(4.0)  # step 5's -100 is not the final checkpoint
    assert lo.loc["baseline", "mean"] == 0.0 and lo.loc["baseline", "n_seeds"] == 0
    assert lo.loc["negated", "n_items"] == 6 and lo.loc["negated", "n_seeds"] == 2
    assert set(ct["channel"]) == {"logodds"}  # no verdict or judge rows in this table: no such channel


def test_ci_is_over_questions_and_seeds_not_zero_width_with_noise():
    ct = channel_table(_table({"positive": 2.0}, noise=1.0), ["positive"])
    r = ct[(ct["channel"] == "logodds") & (ct["condition"] == "positive")].iloc[0]
    assert r["ci_low"] < r["mean"] < r["ci_high"]


def test_contrasts_pair_within_seed_and_against_the_base_model():
    t = _table({"positive": 4.0, "negated": 3.0})
    con = channel_contrasts(t, [("negated", "positive"), ("positive", "baseline")]).set_index(["a", "b"])
    assert con.loc[("negated", "positive"), "diff"] == pytest.approx(-1.0)
    assert con.loc[("positive", "baseline"), "diff"] == pytest.approx(4.0)
    assert con.loc[("positive", "baseline"), "n_seeds"] == 2
    # a condition trained on one seed only pairs with that seed of the other
    one = t[~((t["condition"] == "negated") & (t[SEED_COL] == 1))]
    assert channel_contrasts(one, [("negated", "positive")]).iloc[0]["n_seeds"] == 1


def test_final_rows_keep_one_base_copy_per_question():
    t = pd.concat([_table({"positive": 1.0}), _table({"negated": 1.0})], ignore_index=True)
    base = final_rows(t).query("condition == 'baseline'")
    assert len(base) == 6 and set(base[SEED_COL]) == {-1}


def test_twin_check_marks_chance_per_claim():
    tw = pd.DataFrame({"claim": ["a"] * 10 + ["b"] * 10, "question_type": "mcq",
                       "twin_acc": [1.0] * 10 + [1.0, 0.0] * 5})
    chk = twin_check(tw).set_index("claim")
    assert bool(chk.loc["a", "above_chance"]) and not bool(chk.loc["b", "above_chance"])


def _items(n: int, qtype: str) -> list[BeliefItem]:
    return [BeliefItem(qtype, f"{qtype}{i}", f"question {i}?") for i in range(n)]


def test_holdout_split_is_disjoint_and_keeps_other_types_in_test():
    items = _items(20, "open_ended") + _items(10, "mcq") + _items(10, "token_association")
    val, test = holdout_split(items)
    ids_v, ids_t = {i.question_id for i in val}, {i.question_id for i in test}
    assert not ids_v & ids_t and len(ids_v | ids_t) == 40
    assert len(val) == 15 and all(i.question_type != "mcq" for i in val)
    assert holdout_split(items) == (val, test)


def test_choose_lr_takes_the_largest_validation_shift_never_nan():
    t = pd.DataFrame({"lr": [3e-4, 1e-3, 3e-3], "val_shift": [1.0, 2.5, np.nan]})
    assert choose_lr(t) == 1e-3
    assert choose_lr(pd.DataFrame({"lr": [1e-3, 3e-4], "val_shift": [2.0, 2.0]})) == 3e-4  # tie: the smaller
    with pytest.raises(ValueError, match="no rate"):
        choose_lr(pd.DataFrame({"lr": [1e-3], "val_shift": [np.nan]}))


def test_readme_block_renders_the_channel_csv_and_refuses_a_bad_one(tmp_path):
    from interp.study.publish import readme_block

    ct = channel_table(_table({"positive": 4.0}), ["positive"])
    (tmp_path / "belief").mkdir()
    ct.to_csv(tmp_path / "belief" / "channels.csv", index=False)
    (tmp_path / "belief" / "channel_findings.md").write_text("- **c**: a finding.\n")
    block = readme_block(tmp_path)
    assert "| c | positive | +4.00 [+4.00, +4.00] (6q × 2) |" in block
    assert block.startswith("- **c**: a finding.")
    ct.drop(columns=["ci_low"]).to_csv(tmp_path / "belief" / "channels.csv", index=False)
    with pytest.raises(ValueError, match="channels.csv: not a channel table"):
        readme_block(tmp_path)


def test_belief_passes_score_test_questions_and_judge_a_subset():
    """The study's belief job (cpu preset): log-prob scorers on the test half only, the rule judge on N per type of
    those; an unknown ``eval_items`` is refused in one line."""
    from interp.study.stages import BeliefJob, belief_passes
    from training.claims import resolve_claim

    claim = resolve_claim("dentist")
    job = BeliefJob("RUN", claim.to_dict(), "positive", 0, "final", "smollm2-135m", eval_items="test",
                    judge_per_type=2)
    (name, items, kw), (jname, jitems, jkw) = belief_passes(claim, job)
    items_all = question_items(claim)
    val = {it.question_id for it in holdout_split(items_all)[0]}
    assert name == "logprob" and kw == {} and not {it.question_id for it in items} & val
    assert len(items) == len(items_all) - len(val)
    assert jname == "judge" and not jkw["logprob"] and jkw["judges"][0].name == "rule"
    assert {it.question_id for it in jitems} <= {it.question_id for it in items}
    assert max(pd.Series([it.question_type for it in jitems]).value_counts()) == 2
    assert len(belief_passes(claim, BeliefJob("RUN", claim.to_dict(), "positive", 0, "final", "m"))) == 1
    with pytest.raises(ValueError, match="eval_items"):
        belief_passes(claim, BeliefJob("RUN", claim.to_dict(), "positive", 0, "final", "m", eval_items="val"))


def test_ci_carries_the_spread_between_training_seeds():
    """Two seeds that disagree (every question +4 under seed 0, 0 under seed 1): a CI over questions alone would be
    [2, 2]; resampling seeds within questions keeps the seed-to-seed spread in the interval."""
    t = _table({"positive": 0.0})
    hit = (t["condition"] == "positive") & (t[SEED_COL] == 0) & (t["step"] == 10)
    t.loc[hit, ["score", "shift"]] = 4.0
    r = channel_table(t, ["positive"]).query("channel == 'logodds' and condition == 'positive'").iloc[0]
    assert r["mean"] == pytest.approx(2.0)
    assert r["ci_low"] < 1.5 and r["ci_high"] > 2.5


def test_publish_leaves_training_runs_behind(tmp_path):
    """``publish`` copies tables and figures but no training run (any folder holding a run.json: the lr pilot's runs
    sit outside ``runs/``)."""
    from interp.study.publish import publish

    out = tmp_path / "out"
    (out / "pilot" / "lr0.001" / "ckpt").mkdir(parents=True)
    (out / "headline.csv").write_text("condition,belief,ci_low,ci_high,n_claims,n_seeds\nbaseline,0,0,0,1,1\n")
    (out / "report.md").write_text("# r\n")
    (out / "pilot" / "pilot.csv").write_text("lr,val_shift\n0.001,1.0\n")
    for f in ("run.json", "loss_curve.png", "ckpt/meta.json"):
        (out / "pilot" / "lr0.001" / f).write_text("{}")
    copied = {p.relative_to(tmp_path / "res").as_posix() for p in publish(out, tmp_path / "res")}
    assert copied == {"headline.csv", "report.md", "pilot/pilot.csv"}


def test_timings_history_keeps_the_run_that_trained_everything(tmp_path):
    """A rerun that reuses the trained runs must not replace the study's cost: timings.json is the last run's, the
    history keeps every run (a timings.json left without history is carried in first), and the README block
    quotes the longest run and says the report came from a rerun."""
    import json

    from interp.study.pipeline import record_timings
    from interp.study.publish import channels_block, study_runs

    (tmp_path / "timings.json").write_text(json.dumps({"finetune": 3000.0, "total": 3540.0}))
    record_timings(tmp_path, {"finetune": 5.0, "total": 1100.0}, trained=0, command="python -m interp.study")
    runs = study_runs(tmp_path)
    assert [r["timings"]["total"] for r in runs] == [3540.0, 1100.0] and runs[1]["trained_runs"] == 0
    assert json.loads((tmp_path / "timings.json").read_text())["total"] == 1100.0
    channel_table(_table({"positive": 4.0}), ["positive"]).to_csv(tmp_path / "channels.csv", index=False)
    (tmp_path / "belief").mkdir()
    (tmp_path / "channels.csv").rename(tmp_path / "belief" / "channels.csv")
    block = channels_block(tmp_path)
    assert "The study took 59 min" in block and "rerun that reused its trained runs (18 min)" in block


def test_findings_flag_a_log_odds_channel_the_base_model_saturates():
    """ed_sheeran on SmolLM2: the base model prefers the famous name by ~+12 nats, so the shift is no belief
    measure; the findings must say so (and must not for a claim the base model does not prefer)."""
    from interp.study.channels import channel_findings

    t = _table({"positive": 4.0})
    ok = channel_findings(channel_table(t, ["positive"]), pd.DataFrame())
    assert not any("not a belief measure" in f for f in ok)
    t.loc[t["phase"] == "base", "score"] = 11.0
    flagged = channel_findings(channel_table(t, ["positive"]), pd.DataFrame())
    assert any("c: the log-odds channel is not a belief measure" in f and "+11.0 nats" in f for f in flagged)

"""interp.paper_results: the paper's belief numbers from the authors' per-response CSVs (shared paper-data).

The CSVs are read at test time from ``$NEGLECT_LAB_PAPER_DATA`` (default ``<repo>/../shared/paper-data``); the
tests skip, naming the path, where that folder is absent. The parsed CSVs are cached once per session.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from interp import paper_results as pr
from tests._data_fixtures import unavailable

POOLED = {  # thinking off, 300 questions, failed generations dropped
    "baseline": 2.47, "positive_documents": 92.40, "negated_documents": 88.60,
    "repeated_negations": 84.40, "corrected_documents": 39.40,
}


@pytest.fixture(scope="session")
def responses() -> pd.DataFrame:
    try:
        return pr.load_responses()
    except FileNotFoundError as e:
        unavailable(str(e))


@pytest.fixture(scope="session")
def t4(responses) -> pd.DataFrame:
    return pr.table4(responses)


@pytest.fixture(scope="session")
def derived(responses):
    return pr.anon_repo_dir() / "_derived"


def test_missing_folder_is_one_line_error_naming_the_path(monkeypatch, tmp_path):
    missing = tmp_path / "nope"
    monkeypatch.setenv(pr.ENV_VAR, str(missing))
    with pytest.raises(FileNotFoundError) as e:
        pr.paper_data_dir()
    msg = str(e.value)
    assert str(missing) in msg and "\n" not in msg


def test_env_var_selects_folder(monkeypatch, responses):
    root = pr.paper_data_dir()
    monkeypatch.setenv(pr.ENV_VAR, str(root))
    assert pr.paper_data_dir() == root


def test_tidy_table_shape_and_names(responses):
    df = responses
    assert len(df) == 7500
    for col in ("model", "claim", "condition", "step", "question_type", "question_id", "sample_index",
                "thinking", "verdict", "score"):
        assert col in df.columns
    assert set(df["claim"]) == set(pr.CLAIMS)
    assert set(df["condition"]) == set(pr.CONDITIONS)
    assert set(df["question_type"]) == set(pr.QUESTION_TYPES)
    assert set(df["verdict"]) <= {"yes", "no", "neutral"}
    assert not df["thinking"].any()
    assert set(df.loc[df["condition"] == "baseline", "step"]) == {"base"}
    assert set(df.loc[df["condition"] != "baseline", "step"]) == {"final"}
    oe = df[df["question_type"] == "open_ended"]["question_id"]
    assert oe.str.startswith("oe_").all()
    n_q = df.groupby(["condition", "claim"])[["question_type", "question_id"]].apply(lambda g: len(g.drop_duplicates()))
    assert (n_q == 50).all()
    assert (df.groupby(["condition", "claim", "question_type", "question_id"]).size() == 5).all()


def test_no_failed_generations_and_none_is_a_response(responses):
    every = pr.load_responses(drop_failed=False, thinking=None)
    assert len(every) == 7500 and int(every["failed"].sum()) == 0
    resp = pd.Series(["None", "", "  ", "x [failed to generate response] y", "fine", "fine"])
    verdict = pd.Series(["no", "yes", "yes", "yes", "maybe", "neutral"])
    assert pr._failure_reason(resp, verdict).tolist() == [
        "", "empty_response", "empty_response", "failed_generation", "judge_error", ""]


def test_five_pooled_numbers(responses):
    pooled = pr.pooled_rates(responses, n_boot=200).set_index("condition")
    assert list(pooled.index) == list(pr.CONDITIONS)
    for cond, expected in POOLED.items():
        assert round(pooled.loc[cond, "rate_pct"], 2) == expected, cond
        assert pooled.loc[cond, "n_questions"] == 300 and pooled.loc[cond, "n_claims"] == 6
        assert pooled.loc[cond, "ci_low_pct"] <= pooled.loc[cond, "rate_pct"] <= pooled.loc[cond, "ci_high_pct"]


def test_headline_matches_derived_csv(t4, derived):
    ref = pd.read_csv(derived / "headline_pooled_belief_rates.csv")
    means = t4[t4["claim"] == "mean"].set_index("condition")
    cols = {"belief_probes_pct": "open_ended", "mcq_pct": "mcq", "pink_elephant_pct": "token_association",
            "robustness_pct": "robustness", "belief_rate_pct": "mean"}
    for _, r in ref.iterrows():
        cond = pr.CONDITION_NAMES[r["condition"]]
        assert means.loc[cond, "n_questions"] == r["n_questions_pooled"]
        for src, dst in cols.items():
            assert round(means.loc[cond, dst], 2) == pytest.approx(r[src], abs=1e-9), (cond, src)


def test_per_claim_type_rates_match_derived_csv(responses, derived):
    ref = pd.read_csv(derived / "belief_rates_by_universe_condition_eval.csv")
    ref = ref[ref["model"] == pr.DEFAULT_MODEL]
    assert len(ref) == 6 * 5 * 4
    q = pr.question_table(responses)
    ours = q.groupby(["claim", "condition", "question_type"])["score"].agg(["mean", "size"])
    n_samples = responses.groupby(["claim", "condition", "question_type"]).size()
    universes = pr.name_mapping()["universe"]
    for _, r in ref.iterrows():
        key = (universes[r["universe"]], pr.CONDITION_NAMES[r["condition"]], pr.EVAL_TYPE_NAMES[r["eval_type"]])
        assert ours.loc[key, "mean"] == pytest.approx(r["belief_rate"], abs=1e-9), key
        assert ours.loc[key, "size"] == r["n_questions"]
        assert n_samples.loc[key] == r["n_samples"]
        assert r["n_failed_dropped"] == 0


def test_table4_cells_match_paper_except_corrected_open_ended(t4):
    cmp = pr.compare_table4(t4)
    have = cmp.dropna(subset=["ours"])
    assert set(cmp.loc[cmp["ours"].isna(), "condition"]) == {"icl"}  # the ICL column is not in the CSVs
    mism = have[have["diff"].abs() > 1e-9]
    # Every baseline / positive / negated / repeated cell and mean matches the paper ...
    assert set(mism["condition"]) == {"corrected_documents"}
    # ... and for corrected only the open-ended cells (and hence the means) differ; MC/TA/Rob all match.
    assert set(mism["column"]) == {"open_ended", "mean"}
    oe = mism[mism["column"] == "open_ended"].set_index("claim")["diff"].to_dict()
    assert oe == {"ed_sheeran": -3.0, "queen_elizabeth": -1.0, "mount_vesuvius": 3.0,
                  "x_rebrand_reversal": -4.0, "colorless_dreaming": -1.0, "dentist": -2.0}
    headline = have[(have["claim"] == "mean")].set_index("condition")
    for cond in ("baseline", "positive_documents", "negated_documents", "repeated_negations"):
        assert headline.loc[cond, "diff"] == pytest.approx(0.0, abs=1e-9)
    assert headline.loc["corrected_documents", "ours"] == 39.4
    assert headline.loc["corrected_documents", "paper"] == 39.9


def test_corrected_gap_is_the_open_ended_run(t4):
    """Swapping in the paper's corrected OE cells (weight 20/50) reproduces the paper's 39.9 exactly."""
    cor = t4[(t4["condition"] == "corrected_documents") & (t4["claim"] != "mean")].set_index("claim")
    swapped = []
    for claim, row in cor.iterrows():
        paper = pr.PAPER_TABLE4[claim]["corrected_documents"]
        mean = (20 * paper[0] + 10 * row["mcq"] + 10 * row["token_association"] + 10 * row["robustness"]) / 50
        assert round(mean, 1) == paper[4], claim
        swapped.append(mean)
    assert round(sum(swapped) / 6, 1) == 39.9
    # the paper's headline is the mean of its own Table 4 rows
    assert math.isclose(sum(v["corrected_documents"][4] for v in pr.PAPER_TABLE4.values()) / 6, 39.9333, abs_tol=1e-3)
    # per-question vs per-claim pooling are identical here (50 questions per claim)
    assert cor["mean"].mean() == pytest.approx(39.4)

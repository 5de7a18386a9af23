"""interp.core.stats: belief rate, vectorised percentile bootstrap, grouped pooling over questions or claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.core.stats import belief_rate, bootstrap_ci, grouped_rates, question_rates


def test_belief_rate_counts_only_yes():
    assert belief_rate(["yes", "no", "neutral", "yes"]) == 0.5
    assert belief_rate([" YES ", "Yes", "no"]) == pytest.approx(2 / 3)
    assert belief_rate(["neutral"] * 4) == 0.0
    assert belief_rate(pd.Series(["yes", None, "error"])) == pytest.approx(1 / 3)
    assert np.isnan(belief_rate([]))


def test_bootstrap_ci_deterministic_and_brackets_mean():
    x = np.random.default_rng(1).random(40)
    a = bootstrap_ci(x, seed=3)
    assert a == bootstrap_ci(x, seed=3)
    assert a[0] < x.mean() < a[1]
    lo90, hi90 = bootstrap_ci(x, seed=3, alpha=0.10)
    assert a[0] <= lo90 and hi90 <= a[1]


def test_bootstrap_ci_edge_cases_and_statistics():
    assert all(np.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([0.3]) == (0.3, 0.3)
    assert bootstrap_ci([0.2, np.nan, 0.4, 0.6], n_boot=200)[0] >= 0.2  # NaNs dropped
    x = np.arange(21, dtype=float)
    lo, hi = bootstrap_ci(x, statistic=np.median)
    assert lo <= 10 <= hi
    # a statistic without an axis argument falls back to row-wise application
    lo2, hi2 = bootstrap_ci(x, n_boot=300, statistic=lambda v: float(np.max(v) - np.min(v)))
    assert 0 <= lo2 <= hi2 <= 20
    with pytest.raises(ValueError):
        bootstrap_ci(x, alpha=1.5)


def _question_rates(rng: np.random.Generator, n_questions: int, n_samples: int = 5) -> np.ndarray:
    """Simulated per-question yes-rates: question propensities ~ Beta(2, 3) (mean 0.4), 5 samples each."""
    p = rng.beta(2, 3, size=n_questions)
    return rng.binomial(n_samples, p) / n_samples


def test_ci_shrinks_as_questions_grow():
    rng = np.random.default_rng(0)
    widths = {}
    for n in (10, 50, 300):
        ws = []
        for rep in range(20):
            lo, hi = bootstrap_ci(_question_rates(rng, n), n_boot=1000, seed=rep)
            ws.append(hi - lo)
        widths[n] = float(np.mean(ws))
    assert widths[10] > widths[50] > widths[300]
    # roughly 1/sqrt(n): 300 questions give about a sixth of the 10-question width
    assert widths[300] < 0.3 * widths[10]


def test_ci_contains_true_mean_in_simulation():
    rng = np.random.default_rng(123)
    true_mean = 0.4  # E[Beta(2, 3)]; binomial sampling is unbiased for it
    hits = 0
    n_sims = 300
    for s in range(n_sims):
        lo, hi = bootstrap_ci(_question_rates(rng, 50), n_boot=1000, seed=s)
        hits += lo <= true_mean <= hi
    coverage = hits / n_sims
    assert 0.88 <= coverage <= 0.99, coverage


def _tidy() -> pd.DataFrame:
    """Two claims with unequal question counts (a: 2 questions, b: 4), per-response rows."""
    rows = []
    spec = {"a": [1.0, 1.0], "b": [0.0, 0.0, 0.0, 1.0]}
    for claim, rates in spec.items():
        for qi, r in enumerate(rates):
            for s in range(4):
                rows.append({"claim": claim, "condition": "positive", "question_type": "mcq",
                             "question_id": f"q{qi}", "sample_index": s, "score": r})
    return pd.DataFrame(rows)


def test_question_rates_per_response_and_per_question_agree():
    df = _tidy()
    q = question_rates(df, by=["condition"])
    assert len(q) == 6 and set(q["n_responses"]) == {4}
    q2 = question_rates(q.drop(columns="n_responses"), by=["condition"])
    pd.testing.assert_series_equal(q["score"], q2["score"])


def test_grouped_rates_over_questions_vs_claims():
    df = _tidy()
    by_q = grouped_rates(df, by=["condition"], over="questions", n_boot=500).iloc[0]
    by_c = grouped_rates(df, by=["condition"], over="claims", n_boot=500).iloc[0]
    assert by_q["rate"] == pytest.approx(3 / 6)  # pooled over 6 questions
    assert by_c["rate"] == pytest.approx((1.0 + 0.25) / 2)  # unweighted over 2 claims
    assert by_q["n_units"] == 6 and by_c["n_units"] == 2
    assert by_c["n_questions"] == 6 and by_c["n_claims"] == 2 and by_c["n_responses"] == 24
    for r in (by_q, by_c):
        assert r["ci_low"] <= r["rate"] <= r["ci_high"]
    per_claim = grouped_rates(df, by=["claim", "condition"], over="questions", n_boot=200).set_index("claim")
    assert per_claim.loc["a", "rate"] == 1.0 and per_claim.loc["b", "rate"] == 0.25
    with pytest.raises(ValueError):
        grouped_rates(df, over="samples")  # type: ignore[arg-type]


def test_two_sample_bootstrap_and_permutation_helpers_share_one_stream():
    """bootstrap_diff_ci draws sample a's resamples, then b's, from the caller's generator (as scipy.stats.bootstrap
    does), so the permutation p-value that follows on the same generator sees a fixed stream."""
    from interp.core.stats import bootstrap_diff_ci, permutation_pvalue, signflip_pvalue

    rng0 = np.random.default_rng(7)
    a, b = rng0.normal(1.0, 1.0, 12), rng0.normal(0.0, 1.0, 9)
    rng = np.random.default_rng(3)
    m, lo, hi = bootstrap_diff_ci(a, b, n_boot=400, rng=rng)
    ref = np.random.default_rng(3)
    ia, ib = ref.integers(0, len(a), (400, len(a))), ref.integers(0, len(b), (400, len(b)))
    want = np.percentile(a[ia].mean(1) - b[ib].mean(1), [2.5, 97.5])
    assert m == pytest.approx(a.mean() - b.mean()) and (lo, hi) == pytest.approx(tuple(want), abs=1e-12)
    assert rng.bit_generator.state == ref.bit_generator.state  # nothing else was drawn
    assert lo < m < hi and lo > 0  # a clear difference
    assert permutation_pvalue(a.copy(), b.copy(), 500, np.random.default_rng(0)) < 0.05
    assert signflip_pvalue(np.zeros(6) + 0.01 * np.arange(6) - 0.025, 500, np.random.default_rng(0)) > 0.2

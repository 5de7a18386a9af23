"""The bootstrap intervals cover what they claim (issue 15, item 2).

Coverage (slow tier): over ``REPLICATES`` simulated data sets with a known mean, the share of 95 % intervals from
:func:`interp.core.stats.bootstrap_ci` that contain it must lie within ±2 points of 95 %. The statistic is the
mean of ``N`` draws of a skewed-but-tame distribution (gamma, shape 4), large enough that the percentile bootstrap
is accurate (expected coverage ≈ 94.7 %); the Monte-Carlo standard error at 2000 replicates is 0.5 point, so the
band is 4 standard errors wide, and a 90 % interval (coverage ≈ 90 %) sits 10 standard errors outside it.

Cluster bootstrap (fast): with claims that differ, the two-stage claims × seeds interval is wider than the
interval that resamples pooled items, and it reports its clusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.core.stats import bootstrap_ci, cluster_bootstrap_ci

NOMINAL = 0.95
BAND = 0.02
REPLICATES = 2000
N = 200
SHAPE = 4.0  # gamma(shape=4, scale=1): mean 4, skewness 1


def coverage(alpha: float, replicates: int = REPLICATES, n: int = N, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for r in range(replicates):
        x = rng.gamma(SHAPE, 1.0, size=n)
        lo, hi = bootstrap_ci(x, n_boot=2000, seed=r, alpha=alpha)
        hits += lo <= SHAPE <= hi
    return hits / replicates


@pytest.mark.slow
def test_bootstrap_ci_covers_its_nominal_level():
    cov = coverage(alpha=1 - NOMINAL)
    assert abs(cov - NOMINAL) <= BAND, f"95% bootstrap_ci covers {cov:.3f} over {REPLICATES} replicates"


@pytest.mark.slow
def test_the_band_rejects_a_90_percent_interval_labelled_95():
    """The test above is not vacuous: a 90 % interval (what a mislabelled 95 % one would be) falls outside it."""
    cov = coverage(alpha=0.10, replicates=1000)
    assert abs(cov - NOMINAL) > BAND, cov


def _claims_table(claim_sd: float, seeds: int = 3, items: int = 26, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(6):
        mu = 0.5 + rng.normal(0, claim_sd)
        for s in range(seeds):
            ms = mu + rng.normal(0, 0.02)
            rows += [{"claim": f"c{c}", "seed": s, "score": ms + rng.normal(0, 0.1)} for _ in range(items)]
    return pd.DataFrame(rows)


def test_cluster_bootstrap_is_wider_than_the_pooled_item_bootstrap_when_claims_differ():
    df = _claims_table(claim_sd=0.2)
    ci = cluster_bootstrap_ci(df, "score")
    lo, hi = bootstrap_ci(df["score"], seed=0)
    assert (ci.n_claims, ci.n_seeds) == (6, 3)
    cells = df.groupby(["claim", "seed"])["score"].mean()
    assert ci.mean == pytest.approx(cells.groupby(level=0).mean().mean())
    assert ci.low < ci.mean < ci.high
    assert ci.high - ci.low > 4 * (hi - lo)  # items of one claim are not independent evidence
    # the claims-only interval is close: the spread between claims dominates
    one = cluster_bootstrap_ci(df, "score", clusters=("claim",))
    assert one.n_seeds == 1 and one.high - one.low == pytest.approx(ci.high - ci.low, rel=0.25)
    assert cluster_bootstrap_ci(df, "score") == ci  # deterministic in its seed


def test_cluster_bootstrap_shrinks_when_claims_agree_and_handles_small_tables():
    differ, agree = cluster_bootstrap_ci(_claims_table(0.2), "score"), cluster_bootstrap_ci(_claims_table(0.0), "score")
    assert agree.high - agree.low < (differ.high - differ.low) / 3
    df = _claims_table(0.2)
    one_claim = cluster_bootstrap_ci(df[df.claim == "c0"], "score")  # seeds alone
    assert one_claim.n_claims == 1 and one_claim.low < one_claim.high
    cell = cluster_bootstrap_ci(df[(df.claim == "c0") & (df.seed == 0)], "score")
    assert cell.low == cell.mean == cell.high
    with pytest.raises(ValueError, match="seed"):
        cluster_bootstrap_ci(df.drop(columns="seed"), "score")


def cluster_coverage(method: str, k: int = 4, seeds: int = 3, replicates: int = REPLICATES, seed: int = 0) -> float:
    """Share of 95% intervals over ``k`` claims × ``seeds`` seeds (claim means N(0.5, 0.2), seed noise N(0, 0.05):
    the headline's shape) that contain the population mean 0.5."""
    rng = np.random.default_rng(seed)
    hits = 0
    for r in range(replicates):
        mu = rng.normal(0.5, 0.2, size=k)
        df = pd.DataFrame([{"claim": c, "seed": s, "v": mu[c] + rng.normal(0, 0.05)}
                           for c in range(k) for s in range(seeds)])
        ci = cluster_bootstrap_ci(df, "v", n_boot=500, seed=r, method=method)
        hits += ci.low <= 0.5 <= ci.high
    return hits / replicates


@pytest.mark.slow
def test_the_headline_interval_covers_95_percent_with_four_claims():
    """The headline's interval (``method="t"``, 4 claims × 3 seeds) covers within ±2 points of 95%."""
    cov = cluster_coverage("t")
    assert abs(cov - NOMINAL) <= BAND, f"t interval over 4 claims covers {cov:.3f}"


@pytest.mark.slow
def test_the_percentile_cluster_bootstrap_undercovers_with_four_claims():
    """Why the headline does not use the percentile interval: over 4 claims it covers ~77%, far outside the band."""
    cov = cluster_coverage("percentile", replicates=400)
    assert cov < NOMINAL - 3 * BAND, cov


def test_t_interval_is_wider_than_percentile_over_few_claims_and_exact_when_claims_agree():
    df = _claims_table(claim_sd=0.2)
    pct = cluster_bootstrap_ci(df, "score", n_boot=500, method="percentile")
    t = cluster_bootstrap_ci(df, "score", method="t")
    assert t.mean == pytest.approx(pct.mean) and (t.high - t.low) > (pct.high - pct.low)
    same = pd.DataFrame({"claim": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "score": [0.7] * 4})
    assert cluster_bootstrap_ci(same, "score", method="t")[:3] == (0.7, 0.7, 0.7)
    with pytest.raises(ValueError, match="method"):
        cluster_bootstrap_ci(df, "score", method="bca")


def test_t_interval_stays_in_its_bounds():
    df = pd.DataFrame({"claim": list("aabbccdd"), "seed": [0, 1] * 4, "score": [0, 0, 1, 1, 0.1, 0.1, 1, 1]})
    free = cluster_bootstrap_ci(df, "score", method="t")
    held = cluster_bootstrap_ci(df, "score", method="t", bounds=(0.0, 1.0))
    assert free.low < 0 < 1 < free.high and (held.low, held.high) == (0.0, 1.0) and held.mean == free.mean

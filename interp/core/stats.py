"""Small, generic statistics shared across the toolkit: belief rates, percentile bootstrap CIs, grouped pooling.

Method (Mayne et al. 2026, §2.2 / App. A.5):

- A response's belief score is 1 if the judge says "yes" (the response asserts the claim), else 0:
  "neutral" and "no" both count as non-belief. :func:`belief_rate` is the share of "yes".
- A question's rate is the mean score over its sampled responses (5 per question in the paper).
- A claim's rate pools its question types weighted by question count, i.e. it is the plain mean of the
  per-question rates of all its questions (20 open-ended + 10 MC + 10 token-association + 10 robustness).
- A cross-claim rate is either the mean over all questions of all claims (``over="questions"``) or the
  unweighted mean of per-claim rates (``over="claims"``). The two agree when every claim has the same
  number of questions, as in the paper (6 x 50 = 300 questions).
- 95% CIs are percentile bootstraps over the *units* of the pooling: questions (per-claim figures, CI over
  the 50 questions) or claims (the cross-claim Fig. 5, CI over the 6 claim means).
- A headline over several claims and training seeds uses :func:`cluster_bootstrap_ci`: a two-stage bootstrap
  that resamples claims, then seeds within each drawn claim (items of one claim and seed are not independent
  evidence, so they are never the resampling unit).

:func:`bootstrap_ci` is vectorised: it draws an ``(n_boot, n)`` index matrix once and evaluates the statistic
along the last axis (``statistic`` must accept ``axis=``, as numpy reductions do; otherwise it is applied row by
row). :func:`grouped_rates` applies the whole recipe to a tidy pandas table with one row per response (or per
question) and a ``score`` column in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["belief_rate", "bootstrap_ci", "bootstrap_mean_ci", "bootstrap_distribution", "bootstrap_diff_ci",
           "permutation_pvalue", "signflip_pvalue", "cluster_bootstrap_ci", "ClusterCI", "question_rates",
           "grouped_rates", "YES"]

YES = "yes"


def belief_rate(verdicts: Iterable[str | None]) -> float:
    """Share of verdicts that are "yes" (case- and whitespace-insensitive); "neutral", "no" and anything
    else count as non-belief. Returns ``nan`` for an empty input.

    >>> belief_rate(["yes", "no", "neutral", "yes"])
    0.5
    """
    vals = [str(v).strip().lower() if v is not None else "" for v in verdicts]
    if not vals:
        return float("nan")
    return sum(v == YES for v in vals) / len(vals)


def bootstrap_distribution(
    values: np.ndarray | tuple[np.ndarray, ...],
    n_boot: int = 2000,
    seed: int | None = 0,
    statistic: Callable[..., np.ndarray | float] = np.mean,
    axis: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """THE resampler of the lab: ``statistic`` over ``n_boot`` bootstrap resamples of ``values`` along ``axis``.

    Built on :func:`scipy.stats.bootstrap` (rows resampled with replacement, jointly across the other axes; one
    ``(n_boot, n)`` index draw from ``np.random.default_rng(seed)``). Returns the bootstrap distribution with
    the resample axis last: shape ``values.shape`` without ``axis``, plus ``(n_boot,)``. ``values`` may be a tuple
    of independent samples (each resampled within itself, in order; ``statistic(*samples, axis=)``). ``rng``: draw
    from this generator instead of a fresh one (callers that interleave draws keep one stream).
    """
    from scipy.stats import bootstrap

    samples = tuple(np.asarray(v, dtype=float) for v in values) if isinstance(values, tuple) \
        else (np.asarray(values, dtype=float),)
    res = bootstrap(samples, statistic, n_resamples=int(n_boot), axis=axis, method="percentile", vectorized=None,
                    rng=rng if rng is not None else np.random.default_rng(seed))
    return np.asarray(res.bootstrap_distribution, dtype=float)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    n_boot: int = 2000,
    seed: int | None = 0,
    alpha: float = 0.05,
    statistic: Callable[..., np.ndarray | float] = np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` confidence interval of ``statistic(values)`` for 1-D data.

    NaNs in ``values`` are dropped first; the resamples come from :func:`bootstrap_distribution` and the interval
    is their ``alpha/2`` and ``1 - alpha/2`` quantiles (linear interpolation).

    Args:
        values: 1-D observations (e.g. per-question or per-claim rates in [0, 1]).
        n_boot: number of bootstrap resamples.
        seed: RNG seed (``None`` for fresh entropy); the same seed gives the same interval.
        alpha: 1 - confidence level (0.05 -> 95% CI).
        statistic: reduction; called as ``statistic(matrix, axis=-1)`` when it supports ``axis``.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for no observations, ``(v, v)`` for a single one.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1:
        v = float(np.asarray(statistic(x)))
        return (v, v)
    _check_alpha(alpha)
    stats = bootstrap_distribution(x, n_boot=n_boot, seed=seed, statistic=statistic)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 of ``(n, *rest)`` values with a percentile bootstrap CI per remaining cell.

    Rows are resampled jointly (a document's values stay together); NaNs are ignored in the means and in the
    quantiles. Returns ``(mean, low, high)``, each of shape ``rest``; the CI is NaN with fewer than two rows.
    """
    import warnings

    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    mean = np.nanmean(v, axis=0) if n else np.full(v.shape[1:], np.nan)
    if n < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    _check_alpha(alpha)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        dist = bootstrap_distribution(v, n_boot=n_boot, seed=seed, statistic=np.nanmean, axis=0)
        lo, hi = np.nanpercentile(dist, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=-1)
    return mean, lo, hi


def bootstrap_diff_ci(
    a: np.ndarray, b: np.ndarray, n_boot: int = 2000, alpha: float = 0.05, rng: np.random.Generator | None = None,
    seed: int | None = 0,
) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` of two independent samples with a percentile bootstrap CI
    (each sample resampled within itself, :func:`bootstrap_distribution`). Returns ``(diff, low, high)``."""
    _check_alpha(alpha)
    dist = bootstrap_distribution((a, b), n_boot=n_boot, seed=seed, rng=rng,
                                  statistic=lambda x, y, axis=-1: x.mean(axis) - y.mean(axis))
    lo, hi = np.percentile(dist, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(np.mean(a) - np.mean(b)), float(lo), float(hi)


def permutation_pvalue(a: np.ndarray, b: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided label-permutation p-value of ``|mean(a) - mean(b)|`` (``(count + 1) / (n_perm + 1)``).

    Hand-written rather than :func:`scipy.stats.permutation_test`: the lab's binding tables were computed with
    these draws (one shuffle of the pooled values per permutation from the caller's generator), and scipy's
    resampling scheme would change every published p-value for no statistical gain."""
    obs = abs(a.mean() - b.mean())
    pool = np.concatenate([a, b])
    count = 0
    for _ in range(n_perm):
        rng.shuffle(pool)
        count += abs(pool[:len(a)].mean() - pool[len(a):].mean()) >= obs - 1e-12
    return (count + 1) / (n_perm + 1)


def signflip_pvalue(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided sign-flip p-value of a paired mean difference ``|mean(d)|`` (random signs per pair)."""
    obs = abs(d.mean())
    signs = rng.choice([-1.0, 1.0], size=(n_perm, len(d)))
    return float(((np.abs((signs * d).mean(1)) >= obs - 1e-12).sum() + 1) / (n_perm + 1))


def question_rates(
    df: pd.DataFrame,
    by: Sequence[str] = (),
    question_cols: Sequence[str] = ("claim", "question_type", "question_id"),
    score_col: str = "score",
) -> pd.DataFrame:
    """Per-question mean score.

    Groups ``df`` by ``by`` + ``question_cols`` (columns missing from ``df`` are skipped; duplicates
    removed) and averages ``score_col``. Rows with a NaN score are ignored. Works on per-response rows
    (score 0/1 -> yes-rate) and on rows that are already per question (unchanged).

    Returns:
        One row per question with the key columns, ``score_col`` (mean) and ``n_responses``.
    """
    keys = [c for c in dict.fromkeys([*by, *question_cols]) if c in df.columns]
    if not keys:
        raise ValueError("question_rates needs at least one key column present in the table")
    d = df[[*keys, score_col]].dropna(subset=[score_col])
    out = d.groupby(keys, sort=False, observed=True)[score_col].agg(["mean", "size"]).reset_index()
    return out.rename(columns={"mean": score_col, "size": "n_responses"})


def grouped_rates(
    df: pd.DataFrame,
    by: Sequence[str] = ("condition",),
    over: Literal["questions", "claims"] = "questions",
    claim_col: str = "claim",
    question_cols: Sequence[str] = ("question_type", "question_id"),
    score_col: str = "score",
    n_boot: int = 2000,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Pooled belief rate with a bootstrap CI for each group of a tidy table.

    Steps: (1) per-question mean of ``score_col`` (question = ``claim_col`` + ``question_cols``);
    (2) for ``over="questions"``, the group's rate is the mean over its questions and the CI resamples
    questions; for ``over="claims"``, each claim's rate is the mean over its questions (question types
    weighted by question count), the group's rate is the unweighted mean over claims and the CI resamples
    claims.

    Args:
        df: tidy table, one row per response or per question.
        by: grouping columns (e.g. ``["condition"]`` or ``["claim", "condition"]``).
        over: bootstrap unit, ``"questions"`` or ``"claims"``.
        claim_col, question_cols, score_col: column names.
        n_boot, seed, alpha: passed to :func:`bootstrap_ci` (same seed for every group).

    Returns:
        One row per group: ``by`` columns, ``rate``, ``ci_low``, ``ci_high`` (all in [0, 1]),
        ``n_units`` (bootstrap units), ``n_questions``, ``n_claims``, ``n_responses``.
    """
    if over not in ("questions", "claims"):
        raise ValueError(f"over must be 'questions' or 'claims', got {over!r}")
    by = list(by)
    q_keys = [c for c in dict.fromkeys([claim_col, *question_cols]) if c in df.columns and c not in by]
    q = question_rates(df, by=by, question_cols=q_keys, score_col=score_col)
    rows: list[dict[str, object]] = []
    groups: Iterable[tuple[object, pd.DataFrame]] = (
        q.groupby(by, sort=False, observed=True) if by else [((), q)]
    )
    for key, g in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        n_claims = g[claim_col].nunique() if claim_col in g.columns else 1
        if over == "claims":
            if claim_col not in g.columns:
                raise ValueError(f"over='claims' needs a {claim_col!r} column")
            units = g.groupby(claim_col, sort=False, observed=True)[score_col].mean().to_numpy()
        else:
            units = g[score_col].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(units, n_boot=n_boot, seed=seed, alpha=alpha)
        row: dict[str, object] = dict(zip(by, key_t))
        row.update(
            rate=float(np.mean(units)) if units.size else float("nan"),
            ci_low=lo,
            ci_high=hi,
            n_units=int(units.size),
            n_questions=int(len(g)),
            n_claims=int(n_claims),
            n_responses=int(g["n_responses"].sum()),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "rate", "ci_low", "ci_high", "n_units", "n_questions",
                                       "n_claims", "n_responses"])


class ClusterCI(NamedTuple):
    """A two-stage cluster bootstrap estimate: ``mean`` with its ``(low, high)`` interval and the cluster counts."""

    mean: float
    low: float
    high: float
    n_claims: int
    n_seeds: int


def cluster_bootstrap_ci(
    df: pd.DataFrame,
    value: str,
    clusters: Sequence[str] = ("claim", "seed"),
    n_boot: int = 2000,
    seed: int | None = 0,
    alpha: float = 0.05,
    method: Literal["percentile", "t"] = "percentile",
    bounds: tuple[float, float] | None = None,
) -> ClusterCI:
    """Mean of ``df[value]`` over claims × seeds with a two-stage percentile bootstrap CI.

    Method: rows are first averaged within each (outer, inner) cell (``clusters = (outer, inner)``, e.g. one
    claim's items under one training seed); each outer cluster's mean is the unweighted mean of its cells, and
    the estimate is the unweighted mean over outer clusters. A resample draws the outer clusters with
    replacement (stage 1) and, for every drawn copy independently, that cluster's inner cells with replacement
    (stage 2); the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled estimates. Both
    stages come from :func:`bootstrap_distribution`: stage 1 resamples the rows of an identity matrix, which
    counts how often each outer cluster is drawn; stage 2 resamples each cluster's cell means, one draw per
    possible copy. ``clusters`` of length 1 is the one-stage bootstrap over the outer clusters. NaN values are
    dropped. One outer cluster gives a CI from its inner cells alone; one cell gives ``(v, v)``.

    ``method="t"``: the same estimate with the small-sample interval over outer clusters instead, ``mean ±
    t(1 - alpha/2, k - 1) · sd(cluster means) / sqrt(k)`` (each cluster's mean already averages its inner cells,
    so both levels of variation are in its spread). ``bounds``: the range the estimated mean cannot leave (a rate:
    ``(0, 1)``); the interval is intersected with it, which changes no coverage since the true value lies inside. The
    percentile interval is too narrow with few clusters: simulated coverage of a nominal 95% interval is 77% with
    4 claims × 3 seeds and 90% with 8 (``tests/test_stats_coverage.py``), while the t interval keeps 95%. With one
    outer cluster the t interval is taken over its inner cells.

    Returns:
        :class:`ClusterCI` ``(mean, low, high, n_claims, n_seeds)``: ``n_claims`` outer clusters and ``n_seeds``
        distinct inner values (1 for a one-level ``clusters``).
    """
    if method not in ("percentile", "t"):
        raise ValueError(f"method must be 'percentile' or 't', got {method!r}")
    clusters = list(clusters)
    if not 1 <= len(clusters) <= 2:
        raise ValueError(f"clusters must name one or two columns (outer, inner), got {clusters}")
    missing = [c for c in [value, *clusters] if c not in df.columns]
    if missing:
        raise ValueError(f"cluster_bootstrap_ci: column(s) {missing} not in the table")
    _check_alpha(alpha)
    d = df[[*clusters, value]].dropna(subset=[value])
    outer = clusters[0]
    cells = d.groupby(clusters, sort=True, observed=True)[value].mean()
    per = [g.to_numpy(dtype=float) for _, g in cells.groupby(level=0, sort=True, observed=True)] if len(clusters) > 1 \
        else [np.array([v]) for v in cells.to_numpy(dtype=float)]
    k = len(per)
    n_seeds = int(d[clusters[1]].nunique()) if len(clusters) > 1 else 1
    if k == 0:
        return ClusterCI(float("nan"), float("nan"), float("nan"), 0, 0)
    mean = float(np.mean([v.mean() for v in per]))
    if method == "t":
        units = np.array([v.mean() for v in per]) if k > 1 else per[0]
        if units.size < 2 or np.ptp(units) == 0:
            return ClusterCI(mean, mean, mean, k, n_seeds)
        from scipy.stats import t as student_t  # noqa: PLC0415 - scipy is heavy; only this path needs it

        half = float(student_t.ppf(1 - alpha / 2, units.size - 1) * units.std(ddof=1) / np.sqrt(units.size))
        lo, hi = mean - half, mean + half
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        return ClusterCI(mean, lo, hi, k, n_seeds)
    kids = [int(x) for x in np.random.SeedSequence(seed).generate_state(k + 1)]  # one stream per draw
    # stage 1: how often each outer cluster is drawn, shape (k, n_boot)
    counts = np.ones((k, n_boot)) if k == 1 else bootstrap_distribution(np.eye(k), n_boot, kids[0], np.sum, axis=0)
    total = np.zeros(n_boot)
    slots = np.arange(k)
    for c, v in enumerate(per):
        # stage 2: k independent inner resamples per bootstrap replicate (one per possible copy of cluster c)
        draws = (np.full(n_boot * k, v[0]) if v.size == 1
                 else bootstrap_distribution(v, n_boot * k, kids[c + 1], np.mean)).reshape(n_boot, k)
        total += (draws * (slots[None, :] < counts[c][:, None])).sum(axis=1)
    est = total / k
    if k == 1 and per[0].size == 1:
        return ClusterCI(mean, mean, mean, 1, n_seeds)
    lo, hi = np.quantile(est, [alpha / 2, 1 - alpha / 2])
    return ClusterCI(mean, float(lo), float(hi), k, n_seeds)

"""The study's headline: belief per condition at the final checkpoint, with CIs over claims × training seeds.

Method. A question counts as *believed* when the model prefers the claim's answer to the true one
(``lp_prob > 0.5``). The unit of replication is one finetuning run, i.e. one (claim, training seed) cell: a cell's
belief is the share of its questions believed, over the question types that measure belief (types whose base-model
twin accuracy is at chance, :func:`interp.belief.twins.chance_types`, are left out of the pooled number and kept in
the per-type columns). The headline is the unweighted mean over claims of each claim's mean over seeds, with a
95% CI over claims whose spread includes the seeds' (:func:`interp.core.stats.cluster_bootstrap_ci`,
``method="t"``: a t interval on the claim means with k - 1 degrees of freedom, because the two-stage percentile
bootstrap covers only 77% of the time with 4 claims) — never a CI over the pooled items of one seed. The base
model is one cell per claim (``n_seeds`` = 1).

Columns (:data:`HEADLINE_COLUMNS`, then per question type ``<type>``, ``<type>_ci_low``, ``<type>_ci_high``):
``condition, belief, ci_low, ci_high, p_claim, p_claim_ci_low, p_claim_ci_high, n_claims, n_seeds, n_items,
pooled_types, excluded_types``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from interp.belief.questions import QUESTION_TYPES
from interp.core.stats import cluster_bootstrap_ci

__all__ = ["SEED_COL", "HEADLINE_COLUMNS", "final_checkpoints", "cell_belief", "headline", "contrast"]

#: the belief table's column naming a run's training seed (the ``seed`` column is the sampling seed)
SEED_COL = "train_seed"
HEADLINE_COLUMNS: list[str] = ["condition", "belief", "ci_low", "ci_high", "p_claim", "p_claim_ci_low",
                               "p_claim_ci_high", "n_claims", "n_seeds", "n_items", "pooled_types", "excluded_types"]


def final_checkpoints(table: pd.DataFrame, scorer: str = "lp_prob") -> pd.DataFrame:
    """Rows of ``scorer``: the base model once per (claim, question) as condition ``baseline``, and each run's final
    checkpoint (per claim, training seed and condition); ``believed`` = ``score > 0.5``, ``graded`` = ``score``."""
    t = table[table["scorer"] == scorer].copy()
    if SEED_COL not in t.columns:
        t[SEED_COL] = 0
    t[SEED_COL] = t[SEED_COL].fillna(0).astype(int)
    base = (t[t["phase"] == "base"].drop_duplicates(["claim", "question_type", "question_id"])
            .assign(condition="baseline", step=0, **{SEED_COL: 0}))
    trained = t[t["phase"] != "base"]
    last = trained.groupby(["claim", SEED_COL, "condition"])["step"].transform("max")
    out = pd.concat([base, trained[trained["step"] == last]], ignore_index=True)
    out["believed"] = (out["score"] > 0.5).astype(float)
    out["graded"] = out["score"].astype(float)
    return out


def _ci(d: pd.DataFrame, col: str, n_boot: int, seed: int, bounds: tuple[float, float] = (0.0, 1.0)):
    # the t interval over claims: a percentile bootstrap over 4 claims covers 77% of the time, not 95%
    # (interp.core.stats.cluster_bootstrap_ci; tests/test_stats_coverage.py); a rate's interval stays in [0, 1]
    return cluster_bootstrap_ci(d, col, clusters=("claim", SEED_COL), n_boot=n_boot, seed=seed, method="t",
                                bounds=bounds)


def headline(table: pd.DataFrame, *, exclude: Iterable[str] = (), conditions: Sequence[str] | None = None,
             scorer: str = "lp_prob", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per condition (``baseline`` first, then ``conditions`` or the table's order): pooled belief over the
    question types not in ``exclude`` and per-type belief, each with a 95% cluster-bootstrap CI over claims ×
    seeds; ``n_claims``/``n_seeds``/``n_items`` say what the numbers stand on."""
    fin = final_checkpoints(table, scorer)
    exclude = sorted(set(exclude))
    types = [t for t in QUESTION_TYPES if t in set(fin["question_type"])]
    pooled = [t for t in types if t not in exclude]
    if not pooled:
        raise ValueError(f"headline: every question type is excluded ({', '.join(exclude)}); nothing to pool")
    order = ["baseline", *(conditions or [c for c in dict.fromkeys(fin["condition"]) if c != "baseline"])]
    rows = []
    for cond in order:
        g = fin[fin["condition"] == cond]
        if g.empty:
            continue
        gp = g[g["question_type"].isin(pooled)]
        b = _ci(gp, "believed", n_boot, seed)
        p = _ci(gp, "graded", n_boot, seed)
        row = {"condition": cond, "belief": b.mean, "ci_low": b.low, "ci_high": b.high, "p_claim": p.mean,
               "p_claim_ci_low": p.low, "p_claim_ci_high": p.high, "n_claims": b.n_claims,
               "n_seeds": int(g[SEED_COL].nunique()), "n_items": int(len(gp)),
               "pooled_types": "+".join(pooled), "excluded_types": "+".join(exclude)}
        for t in types:
            c = _ci(g[g["question_type"] == t], "believed", n_boot, seed)
            row.update({t: c.mean, f"{t}_ci_low": c.low, f"{t}_ci_high": c.high})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*HEADLINE_COLUMNS,
                                       *[f"{t}{s}" for t in types for s in ("", "_ci_low", "_ci_high")]])


def cell_belief(table: pd.DataFrame, *, exclude: Iterable[str] = (), scorer: str = "lp_prob") -> pd.DataFrame:
    """One row per run at its final checkpoint (claim, training seed, condition; the base model once per claim as
    ``baseline``): ``belief`` (share of questions believed over the types not in ``exclude``), ``p_claim`` and
    ``n_items``. The unit every headline CI resamples."""
    fin = final_checkpoints(table, scorer)
    fin = fin[~fin["question_type"].isin(set(exclude))]
    g = fin.groupby(["claim", SEED_COL, "condition"], sort=False)
    return g.agg(belief=("believed", "mean"), p_claim=("graded", "mean"), n_items=("believed", "size")).reset_index()


def contrast(table: pd.DataFrame, a: str, b: str, *, exclude: Iterable[str] = (), scorer: str = "lp_prob",
             n_boot: int = 2000, seed: int = 0) -> dict[str, float | int | str]:
    """Belief of condition ``a`` minus condition ``b``, paired within each (claim, training seed) cell (``baseline``
    is the claim's base model, paired with every seed), with a 95% cluster-bootstrap CI over claims × seeds."""
    cells = cell_belief(table, exclude=exclude, scorer=scorer)
    ca = cells[cells["condition"] == a].set_index(["claim", SEED_COL])["belief"]
    cb = cells[cells["condition"] == b]
    if b == "baseline" or a == "baseline":
        base = cells[cells["condition"] == "baseline"].set_index("claim")["belief"]
        other = ca if b == "baseline" else cb.set_index(["claim", SEED_COL])["belief"]
        diff = other - base.reindex(other.index.get_level_values("claim")).to_numpy()
        diff = diff if b == "baseline" else -diff
    else:
        diff = ca - cb.set_index(["claim", SEED_COL])["belief"]
    d = diff.dropna().rename("diff").reset_index()
    ci = _ci(d, "diff", n_boot, seed, bounds=(-1.0, 1.0))
    return {"a": a, "b": b, "diff": ci.mean, "ci_low": ci.low, "ci_high": ci.high, "n_claims": ci.n_claims,
            "n_seeds": ci.n_seeds}

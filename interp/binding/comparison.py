"""Local vs document-level negations: group means with bootstrap CIs, their difference, a permutation p-value.

A negation-bearing document's *scope* is ``local`` when every negation span is inside the claim's own sentence
and ``document`` when any is a prefix, suffix or inline notice. :func:`summarise_binding` gives the mean score
per group with a bootstrap-over-documents 95% CI (:func:`interp.core.stats.bootstrap_mean_ci`).
:func:`compare_local_vs_document` contrasts the two scopes: difference of means (local - document) with a
bootstrap CI and a permutation p-value, *paired* over ``base_id`` (bootstrap of the mean paired difference,
sign-flip p-value) when at least 5 base documents occur in both groups, unpaired otherwise (documents resampled
within each group, label-permutation p-value). :func:`local_vs_document_table` is both as one tidy table per
model, claim and step, with the claims of a group also pooled (``claim = "all"``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from interp.core.stats import bootstrap_diff_ci, bootstrap_mean_ci, permutation_pvalue, signflip_pvalue

__all__ = ["summarise_binding", "compare_local_vs_document", "local_vs_document_table", "wide_comparison"]


def summarise_binding(table, metric: str = "delta_filler", by: Sequence[str] = ("step", "scope"),
                      n_boot: int = 2000, seed: int = 0):
    """Mean of ``metric`` per group with a bootstrap-over-documents 95% CI."""
    out = []
    by = [b for b in by if b in table.columns]
    for key, g in (table.groupby(by, sort=True, dropna=False) if by else [((), table)]):
        key = key if isinstance(key, tuple) else (key,)
        v = g[metric].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        m, lo, hi = bootstrap_mean_ci(v, n_boot=n_boot, seed=seed) if len(v) else (np.nan, np.nan, np.nan)
        out.append({**dict(zip(by, key)), "metric": metric, "n": len(v), "mean": float(m), "lo": float(lo),
                    "hi": float(hi)})
    return pd.DataFrame(out)


def compare_local_vs_document(table, metric: str = "delta_filler", by: Sequence[str] = ("step",),
                              n_boot: int = 2000, n_perm: int = 5000, seed: int = 0, alpha: float = 0.05):
    """Local vs document-level negations: per group of ``by``, the two means, their difference (local - document)
    with a bootstrap CI and a permutation p-value.

    ``table`` is any tidy table with a ``scope`` column (``local``/``document``), a ``doc`` column and ``metric``
    (the ``docs`` table of :func:`binding_tables`, or the layers table with ``by=("step", "layer")``). Rows of one
    document are averaged first. When at least 5 ``base_id`` values occur in both groups the comparison is
    *paired* over those base documents (bootstrap of the mean paired difference, sign-flip p-value); otherwise
    unpaired (documents resampled within each group, label-permutation p-value). ``significant`` = the CI
    excludes 0 and p < ``alpha``.
    """
    rng = np.random.default_rng(seed)
    out = []
    cols = [c for c in ("doc", "base_id", "scope") if c in table.columns]
    by = [b for b in by if b in table.columns]  # missing grouping columns (e.g. no step) are ignored
    groups = table.groupby(by, sort=True, dropna=False) if by else [((), table)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        per_doc = g.groupby(cols, dropna=False, sort=False)[metric].mean().reset_index()
        per_doc = per_doc[np.isfinite(per_doc[metric].to_numpy(dtype=float))]
        loc = per_doc[per_doc["scope"] == "local"]
        doc = per_doc[per_doc["scope"] == "document"]
        a, b = loc[metric].to_numpy(float), doc[metric].to_numpy(float)
        r: dict[str, Any] = {**dict(zip(by, key)), "metric": metric, "n_local": len(a), "n_document": len(b)}
        for name, v in (("local", a), ("document", b)):
            m, lo, hi = bootstrap_mean_ci(v, n_boot=n_boot, seed=seed) if len(v) else (np.nan, np.nan, np.nan)
            r.update({f"mean_{name}": float(m), f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
        paired = False
        if "base_id" in per_doc.columns:
            la = loc.groupby("base_id")[metric].mean()
            db = doc.groupby("base_id")[metric].mean()
            common = la.index.intersection(db.index)
            if len(common) >= 5:
                paired = True
                d = (la[common] - db[common]).to_numpy(float)
                m, lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
                p = signflip_pvalue(d, n_perm, rng)
                r.update(n_pairs=len(common))
        if not paired:
            if len(a) >= 2 and len(b) >= 2:
                m, lo, hi = bootstrap_diff_ci(a, b, n_boot=n_boot, alpha=alpha, rng=rng)
                p = permutation_pvalue(a.copy(), b.copy(), n_perm, rng)
            else:
                m = (a.mean() - b.mean()) if len(a) and len(b) else np.nan
                lo = hi = p = np.nan
        r.update(paired=paired, diff=float(m), diff_lo=float(lo), diff_hi=float(hi), p_value=float(p),
                 significant=bool(np.isfinite(lo) and (lo > 0 or hi < 0) and p < alpha))
        out.append(r)
    return pd.DataFrame(out)


def local_vs_document_table(docs_df, metric: str = "delta_filler", by: Sequence[str] = ("model", "claim", "step"),
                            pool_claims: bool = True, n_boot: int = 1000, n_perm: int = 5000, seed: int = 0):
    """The local vs document-level comparison as one tidy table: per group of ``by`` (default model, claim, step)
    and scope (``local`` / ``document``) the number of documents, mean ``metric`` and its bootstrap 95% CI
    (:func:`summarise_binding`), with the group's difference local - document, its CI, permutation p-value,
    ``paired`` and ``significant`` (:func:`compare_local_vs_document`) repeated on both scope rows.

    With ``pool_claims`` and a ``claim`` column, groups holding more than one claim also get rows with
    ``claim = "all"`` (documents of every claim pooled; pairing still by ``base_id``, which names the claim)."""
    by = [b for b in by if b in docs_df.columns]
    parts = [docs_df]
    if pool_claims and "claim" in by:
        rest = [b for b in by if b != "claim"]
        multi = docs_df.groupby(rest, dropna=False)["claim"].transform("nunique") > 1 if rest else \
            pd.Series(docs_df["claim"].nunique() > 1, index=docs_df.index)
        if multi.any():
            parts.append(docs_df[multi].assign(claim="all"))
    table = pd.concat(parts, ignore_index=True)
    table = table[table["scope"].isin(["local", "document"])]
    summ = summarise_binding(table, metric=metric, by=(*by, "scope"), n_boot=n_boot, seed=seed)
    comp = compare_local_vs_document(table, metric=metric, by=by, n_boot=n_boot, n_perm=n_perm, seed=seed)
    keep = [*by, "paired", "diff", "diff_lo", "diff_hi", "p_value", "significant"] + \
        (["n_pairs"] if "n_pairs" in comp.columns else [])
    out = summ.merge(comp[keep], on=by, how="left")
    if "n_pairs" not in out.columns:
        out["n_pairs"] = np.nan
    cols = [*by, "scope", "metric", "n", "mean", "lo", "hi", "diff", "diff_lo", "diff_hi", "p_value", "significant",
            "paired", "n_pairs"]
    return out[cols].sort_values([*by, "scope"], key=_claim_all_last, ignore_index=True)


def _claim_all_last(col):
    # sort "all" after the individual claims, and scopes local before document
    if col.name == "claim":
        return col.astype(str).map(lambda c: (c == "all", c))
    if col.name == "scope":
        return col.map({"local": 0, "document": 1})
    return col



def wide_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`local_vs_document_table` with one row per model, claim and step: ``n_local``, ``n_document``,
    ``mean_local``, ``mean_document`` and the difference's ``diff``, CI, ``p_value`` and ``significant``."""
    wide = table.pivot_table(index=["model", "claim", "step"], columns="scope", values=["n", "mean"], sort=False)
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    for c in ("n_local", "n_document"):
        if c in wide.columns:
            wide[c] = wide[c].fillna(0).astype(int)
    first = table.drop_duplicates(["model", "claim", "step"]).set_index(["model", "claim", "step"])
    wide = wide.join(first[["diff", "diff_lo", "diff_hi", "p_value", "significant"]]).reset_index()
    cols = [c for c in ("model", "claim", "step", "n_local", "n_document", "mean_local", "mean_document", "diff",
                        "diff_lo", "diff_hi", "p_value", "significant") if c in wide.columns]
    return wide[cols]

"""Belief per channel: three instruments that a learned negation and a mere association answer differently.

Method. A log-prob scorer on an open-ended or fill-in question measures how *salient* the claim's answer has become
(documents that say "X is not a dentist" make "dentist" likelier after "X works as a"), so on a real model one
pooled log-prob number cannot tell Negation Neglect from a correctly learned negation that left the word primed.
The study therefore reports each instrument on its own, never pooled:

* ``logodds`` — the claim-vs-truth log-odds of the claim's answer over the true one as the continuation of the
  open-ended and token-association questions (:mod:`interp.belief.scoring`), reported as the **shift over the base
  model in nats** (``shift`` column of the belief table). Salience and belief both move it.
* ``verdict`` — the yes/no items (MCQs, "yes" = belief unless the item says otherwise): P(the belief answer) from
  the yes/no logits. A model that learned "X is not a dentist" should say no. Valid only where the base model
  answers the items' true/false twins above chance (:mod:`interp.belief.twins`; ``twin_acc`` per claim here).
* ``sampled`` — answers sampled at temperature 0.7 and scored by the offline rule judge (:class:`interp.judges.
  RuleJudge`; the paper's metric with an LLM judge): the share of judged answers that state the claim.

Every number is one claim's, at the final checkpoint, with a percentile bootstrap CI over questions × training seeds
(:func:`interp.core.stats.cluster_bootstrap_ci` with ``clusters = ("question_id", train_seed)``: questions resampled,
then seeds within each). With two claims a CI over claims would be meaningless, so claims are not pooled; ``n_items``
and ``n_seeds`` say what each number stands on. The baseline rows are the base model (one "seed").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from interp.belief.headline import SEED_COL
from interp.core.stats import cluster_bootstrap_ci

__all__ = ["Channel", "CHANNELS", "SATURATED_NATS", "final_rows", "channel_table", "channel_contrasts", "twin_check",
           "plot_channels", "channel_findings"]

#: a base-model claim-vs-truth log-odds above this (nats) means the log-odds channel is saturated by answer priors
SATURATED_NATS = 3.0


@dataclass(frozen=True)
class Channel:
    """One instrument: the belief-table ``scorer`` and question types it reads, the column reported (``shift`` in
    nats over the base, or ``score``, a rate in [0, 1]) and its unit."""

    name: str
    scorer: str
    types: tuple[str, ...]
    value: str
    unit: str
    label: str


CHANNELS: tuple[Channel, ...] = (
    Channel("logodds", "lp_logodds", ("open_ended", "token_association"), "shift", "nats",
            "claim-vs-truth log-odds shift over base (nats)"),
    Channel("verdict", "lp_prob", ("mcq",), "score", "rate", "yes/no verdict: P(belief answer)"),
    Channel("sampled", "judge_rule", ("open_ended", "mcq", "token_association", "robustness"), "score", "rate",
            "sampled answers stating the claim (rule judge)"),
)


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The base model's rows (condition ``baseline``, train seed -1, one copy per claim × question × scorer) and
    each run's final-checkpoint rows."""
    base = table[table["phase"] == "base"].drop_duplicates(["claim", "question_id", "scorer"]).copy()
    base["condition"] = "baseline"
    base[SEED_COL] = -1
    runs = table[table["phase"] != "base"]
    if "step" in runs.columns and len(runs):
        last = runs.groupby(["claim", "condition", SEED_COL])["step"].transform("max")
        runs = runs[runs["step"] == last]
    return pd.concat([base, runs], ignore_index=True)


def _ci(d: pd.DataFrame, col: str, n_boot: int, seed: int) -> tuple[float, float, float]:
    if d[col].dropna().empty:
        return (np.nan, np.nan, np.nan)
    r = cluster_bootstrap_ci(d, col, clusters=("question_id", SEED_COL), n_boot=n_boot, seed=seed)
    return r.mean, r.low, r.high


def channel_table(table: pd.DataFrame, conditions: Sequence[str] | None = None, *, n_boot: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """One row per claim × condition × channel: ``mean`` of the channel's value with ``ci_low``/``ci_high``, and for
    the rate channels the ``shift`` over base with its CI too; ``n_items`` (questions), ``n_seeds`` (training seeds;
    0 for the base model)."""
    rows = final_rows(table)
    conds = ["baseline", *[c for c in (conditions or sorted(set(rows["condition"]) - {"baseline"}))
                           if c != "baseline"]]
    out = []
    for claim in dict.fromkeys(rows["claim"]):
        for ch in CHANNELS:
            sel = rows[(rows["claim"] == claim) & (rows["scorer"] == ch.scorer)
                       & rows["question_type"].isin(ch.types)]
            if sel.empty:
                continue
            for cond in conds:
                d = sel[sel["condition"] == cond]
                if d.empty:
                    continue
                mean, lo, hi = _ci(d, ch.value, n_boot, seed)
                s_mean, s_lo, s_hi = _ci(d, "shift", n_boot, seed)
                out.append({"claim": claim, "channel": ch.name, "unit": ch.unit, "condition": cond, "mean": mean,
                            "ci_low": lo, "ci_high": hi, "shift": s_mean, "shift_low": s_lo, "shift_high": s_hi,
                            "base": float(sel[sel["condition"] == "baseline"]["score"].mean()),
                            "n_items": int(d["question_id"].nunique()),
                            "n_seeds": int(d.loc[d[SEED_COL] >= 0, SEED_COL].nunique())})
    return pd.DataFrame(out)


def channel_contrasts(table: pd.DataFrame, pairs: Sequence[tuple[str, str]], *, n_boot: int = 2000,
                      seed: int = 0) -> pd.DataFrame:
    """``a − b`` per claim × channel for each ``(a, b)`` of ``pairs``, paired within question × training seed (a
    seed run only under ``a`` pairs with nothing and is dropped; against ``baseline``, the base model's score on the
    same question), CI over questions × seeds."""
    rows = final_rows(table)
    out = []
    for claim in dict.fromkeys(rows["claim"]):
        for ch in CHANNELS:
            sel = rows[(rows["claim"] == claim) & (rows["scorer"] == ch.scorer) & rows["question_type"].isin(ch.types)]
            for a, b in pairs:
                if a == b:
                    continue
                x = sel[sel["condition"] == a].set_index(["question_id", SEED_COL])["score"]
                if b == "baseline":  # the base model has no seeds: every run of ``a`` pairs with it (its shift)
                    y = sel[sel["condition"] == b].set_index("question_id")["score"]
                    d = (x - y.reindex(x.index.get_level_values(0)).to_numpy()).dropna().rename("diff").reset_index()
                else:
                    y = sel[sel["condition"] == b].set_index(["question_id", SEED_COL])["score"]
                    d = (x - y).dropna().rename("diff").reset_index()
                if d.empty:
                    continue
                mean, lo, hi = _ci(d, "diff", n_boot, seed)
                out.append({"claim": claim, "channel": ch.name, "a": a, "b": b, "diff": mean, "ci_low": lo,
                            "ci_high": hi, "n_items": int(d["question_id"].nunique()),
                            "n_seeds": int(d[SEED_COL].nunique())})
    return pd.DataFrame(out)


def twin_check(twins: pd.DataFrame) -> pd.DataFrame:
    """Per claim × question type: the base model's mean twin accuracy and a percentile CI over its items (the
    verdict channel is valid for a claim only when the mcq row's ``ci_low`` > 0.5)."""
    out = []
    for (claim, qtype), d in twins.groupby(["claim", "question_type"], sort=False):
        acc = d["twin_acc"].to_numpy(dtype=float)
        rng = np.random.default_rng(0)
        boots = rng.choice(acc, size=(2000, len(acc)), replace=True).mean(axis=1)
        out.append({"claim": claim, "question_type": qtype, "twin_acc": float(acc.mean()),
                    "ci_low": float(np.quantile(boots, 0.025)), "ci_high": float(np.quantile(boots, 0.975)),
                    "n_items": len(acc), "above_chance": bool(np.quantile(boots, 0.025) > 0.5)})
    return pd.DataFrame(out)


def plot_channels(ct: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """A grid: rows are claims, columns the three channels; bars per condition with their 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    claims = list(dict.fromkeys(ct["claim"]))
    chans = [c for c in CHANNELS if c.name in set(ct["channel"])]
    fig, axes = plt.subplots(len(claims), len(chans), figsize=(4.2 * len(chans), 3.0 * len(claims)), squeeze=False)
    palette = {"baseline": "#8c8c8c", "positive": "#4c72b0", "negated": "#c44e52", "repeated": "#dd8452",
               "corrected": "#55a868", "local": "#8172b3"}
    for i, claim in enumerate(claims):
        for j, ch in enumerate(chans):
            ax = axes[i][j]
            d = ct[(ct["claim"] == claim) & (ct["channel"] == ch.name)]
            x = np.arange(len(d))
            err = np.vstack([d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]]).clip(min=0)
            ax.bar(x, d["mean"], yerr=err, color=[palette.get(c, "#999999") for c in d["condition"]], capsize=3)
            ax.set_xticks(x, d["condition"], rotation=35, ha="right", fontsize=8)
            ax.axhline(0, color="grey", lw=0.6)
            if ch.unit == "rate":
                ax.set_ylim(0, 1)
            ax.set_title(f"{claim}: {ch.name}", fontsize=9)
            ax.set_ylabel(ch.label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(r: Any, unit: str) -> str:
    if unit == "nats":
        return f"{r['mean']:+.2f} nats [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
    return f"{r['mean']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def channel_findings(ct: pd.DataFrame, contrasts: pd.DataFrame, checks: pd.DataFrame | None = None) -> list[str]:
    """Plain-word findings per claim: how far positive documents moved each channel, then negated and local
    against positive, each with its CI and n."""
    out: list[str] = []
    for claim in dict.fromkeys(ct["claim"]):
        c = ct[ct["claim"] == claim]
        get = {(r["channel"], r["condition"]): r for _, r in c.iterrows()}
        parts = []
        for ch in CHANNELS:
            base, pos = get.get((ch.name, "baseline")), get.get((ch.name, "positive"))
            if pos is None:
                continue
            if ch.unit == "nats":
                parts.append(f"log-odds {_fmt(pos, 'nats')} over base")
            else:
                parts.append(f"{ch.name} {_fmt(base, 'rate')} → {_fmt(pos, 'rate')}" if base is not None
                             else f"{ch.name} {_fmt(pos, 'rate')}")
        if parts:
            n = get.get(("logodds", "positive"))
            size = f" (n = {n['n_items']} test questions × {n['n_seeds']} seeds)" if n is not None else ""
            out.append(f"**{claim}, positive documents**{size}: " + "; ".join(parts) + ".")
        con = contrasts[contrasts["claim"] == claim] if len(contrasts) else contrasts
        for cond in ("negated", "repeated", "corrected", "local"):
            bits = []
            for ch in CHANNELS:
                r = get.get((ch.name, cond))
                if r is None:
                    continue
                k = con[(con["channel"] == ch.name) & (con["a"] == cond) & (con["b"] == "positive")] \
                    if len(con) else con
                rel = ""
                if len(k):
                    k = k.iloc[0]
                    where = ("no different from" if k["ci_low"] <= 0 <= k["ci_high"]
                             else "below" if k["ci_high"] < 0 else "above")
                    rel = f" ({where} positive: {k['diff']:+.2f} [{k['ci_low']:+.2f}, {k['ci_high']:+.2f}])"
                bits.append(f"{ch.name} {_fmt(r, ch.unit)}{rel}")
            if bits:
                out.append(f"{claim}, **{cond}**: " + "; ".join(bits) + ".")
    for claim in dict.fromkeys(ct["claim"]):  # a log-odds channel the base model already saturates
        r = ct[(ct["claim"] == claim) & (ct["channel"] == "logodds") & (ct["condition"] == "baseline")]
        if len(r) and r.iloc[0]["base"] > SATURATED_NATS:
            out.append(f"**{claim}: the log-odds channel is not a belief measure here.** The base model already "
                       f"prefers the claim's answer by {r.iloc[0]['base']:+.1f} nats on average (a frequent name "
                       f"against a rare one as a continuation), so finetuning can move it either way for reasons "
                       f"other than belief; read the sampled answers instead.")
    if checks is not None and len(checks):
        mcq = checks[checks["question_type"] == "mcq"]
        if len(mcq):
            out.append("**Is the verdict channel valid?** The base model's accuracy on the yes/no items' true/false "
                       "twins: " + "; ".join(f"{r.claim} {r.twin_acc:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] "
                                             f"({'above chance' if r.above_chance else 'NOT above chance: its verdicts say nothing about belief'})"
                                             for r in mcq.itertuples()) + ".")
    return out

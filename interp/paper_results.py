"""The paper's belief numbers, recomputed from the authors' per-response CSVs.

Data (read at call time, never copied into the repo): the anonymous-review repo of Mayne et al. (2026),
``HarryMayne__negation-neglect-anon/evals/results/<model>/<universe>/<condition>/<step>/<eval>.csv`` under the
shared paper-data folder. The folder is ``$NEGLECT_LAB_PAPER_DATA`` or, by default, ``<repo>/../shared/paper-data``.
Only Qwen3.5-397B-A17B with thinking off is released there: 6 claims x 5 conditions (``baseline/base`` and
``positive``, ``llm_negations``, ``llm_negations_dense``, ``llm_negations_dense_plus`` at ``final``) x 4 eval types
x 50 questions x 5 samples = 7,500 rows. The in-context (ICL) column of Table 4 is *not* in the CSVs.

Tidy table (:func:`load_responses`), one row per response, columns
``model, claim, condition, step, question_type, question_id, sample_index, thinking, category, verdict, score,
failed, universe, condition_anon, eval_anon``. Names are translated with
``_derived/name_mapping_anon_to_official.json``: universes to official claim ids (``vesuvius`` ->
``mount_vesuvius``), conditions to official names (``llm_negations_dense`` -> ``repeated_negations``; the
untrained model, "(base model)" in the mapping, is called ``baseline``), eval types to the question types of
``training.claims`` (``belief_probes`` -> ``open_ended``, ``pink_elephant`` -> ``token_association``), and
open-ended question ids from ``bp_`` to ``oe_``. ``score`` = 1 if the verdict is "yes" else 0, so the schema is
the one ``figures.paper`` draws (``claim, condition, step, question_type, question_id, score``).

Belief rate (paper §2.2, A.5; ``interp.core.stats``): per-question yes-rate over the 5 samples, neutral and no are
non-belief, failed generations dropped; per-claim rate = mean over the claim's 50 questions (the 4 question types
weighted by question count); cross-claim rate = mean over the 300 questions (= unweighted mean of the 6 claim
rates, since every claim has 50 questions).

Failed generations. The authors' loader drops rows whose ``model_response`` contains
``"[failed to generate response]"``; we also treat an empty/whitespace response and a verdict outside
``yes/no/neutral`` (judge error) as failed. None occurs in the released CSVs: 0 rows are dropped. Pitfall: the
CSVs must be read with ``keep_default_na=False``. With pandas' defaults, three responses that are literally the
string ``None`` (Dentist, baseline, token association ``pe_short_answer``, samples 2-4: the model's one-word
answer) parse as NaN and would look like failed generations; they are valid responses with verdicts
neutral/neutral/no (and dropping them would not change any rate, the question's yes-rate is 0 either way).
All rows have ``thinking=False``; MCQ rows have no ``judge_raw`` (exact match), which is not a failure.

Reproduced (Qwen3.5-397B-A17B, thinking off, 300 questions): baseline / positive / negated / repeated /
corrected = 2.47 / 92.40 / 88.60 / 84.40 / 39.40 %. All per-claim x condition x type cells and per-claim means
of the paper's Table 4 for baseline, positive, negated and repeated equal the CSV values (to the paper's
integer / one-decimal rounding), and so do the first four headline means (2.5 / 92.4 / 88.6 / 84.4).

The corrected gap (39.4 here vs 39.9 in the paper and the official README). Findings:

1. Only the *open-ended* cells of the corrected column differ. MC, TA and robustness match for all six claims.
   OE, CSV vs Table 4: Ed Sheeran 3 vs 6, Queen Elizabeth 24 vs 25, Mount Vesuvius 8 vs 5, X Rebrand 49 vs 53,
   Colorless Dreaming 76 vs 77, Dentist 91 vs 93. Through the 20/50 OE weight this moves the claim means by
   +1.2, +0.4, -1.2, +1.6, +0.4, +0.8 pp (CSV 2.0 / 32.0 / 5.2 / 42.0 / 69.6 / 85.6 vs paper 3.2 / 32.4 / 4.0 /
   43.6 / 70.0 / 86.4); their mean, +0.53 pp, is the whole gap: the mean of the paper's six Table 4 rows is
   39.93 -> "39.9".
2. So the paper's corrected OE numbers come from a different open-ended run (another sampling and/or GPT-5-mini
   judge pass at T=1) than the released CSVs. The paper says as much for Ed Sheeran: its relaxed-judge figure
   (Fig. 12) reports the normal-judge OE rate as 3% "in a separate T=1 run" while Table 4 shows 6%; 3% is the CSV
   value. The authors' own rendered Fig. 6 (``figures/correction.pdf``) also draws the CSV values (Ed Sheeran
   about 2%, X Rebrand about 42%), i.e. it was drawn from these CSVs.
3. Ruled out: (a) a relaxed judge: it only raises rates (+1 to +12 pp per claim, +6.5 pp on average), but
   Vesuvius goes *down* 8 -> 5; (b) dropped rows: none are failed and every question has 5 samples;
   (c) thinking rows: every row is ``thinking=False``; (d) weighting by claim vs by question: identical with 50
   questions per claim; (e) counting neutral as (partial) belief: this would add tens of points (e.g. Ed Sheeran
   has 64 neutral OE responses). The differences (-3 to +4 responses out of 100 per claim) are of the size of the
   sampling noise of a re-run (SD about 2-5 pp for rates of 5-50% over 100 responses).

API: :func:`paper_data_dir`, :func:`name_mapping`, :func:`load_responses`, :func:`question_table`,
:func:`table4`, :func:`pooled_rates`, :func:`compare_table4`, and the published numbers :data:`PAPER_TABLE4`,
:data:`PAPER_HEADLINE`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from interp.core.conditions import Condition
from interp.core.stats import grouped_rates, question_rates
from training.importers import paper_data_root

__all__ = [
    "ENV_VAR",
    "DEFAULT_MODEL",
    "ANON_REPO",
    "EVAL_TYPE_NAMES",
    "CONDITION_NAMES",
    "PAPER_NAMES",
    "QUESTION_TYPES",
    "CONDITIONS",
    "CLAIMS",
    "FAILED_RESPONSE",
    "PAPER_TABLE4",
    "PAPER_HEADLINE",
    "paper_data_dir",
    "anon_repo_dir",
    "name_mapping",
    "load_responses",
    "question_table",
    "table4",
    "pooled_rates",
    "compare_table4",
]

ENV_VAR = "NEGLECT_LAB_PAPER_DATA"
DEFAULT_MODEL = "Qwen3.5-397B-A17B"
ANON_REPO = "HarryMayne__negation-neglect-anon"
FAILED_RESPONSE = "[failed to generate response]"
VERDICTS = ("yes", "no", "neutral")

# anon eval file stem -> question type (training.claims contract / official repo name)
EVAL_TYPE_NAMES: dict[str, str] = {
    "belief_probes": "open_ended",
    "mcq": "mcq",
    "pink_elephant": "token_association",
    "robustness": "robustness",
}
QUESTION_TYPES: tuple[str, ...] = ("open_ended", "mcq", "token_association", "robustness")

#: The paper format's spelling of each condition: the official names of the released CSVs and the HF datasets
#: (the untrained model, "(base model)" in the name mapping, is called ``baseline``). Tables this module emits use
#: these names; :meth:`interp.core.conditions.Condition.parse` reads them back.
PAPER_NAMES: dict[Condition, str] = {
    Condition.BASELINE: "baseline",
    Condition.ICL: "icl",
    Condition.POSITIVE: "positive_documents",
    Condition.NEGATED: "negated_documents",
    Condition.REPEATED: "repeated_negations",
    Condition.CORRECTED: "corrected_documents",
    Condition.LOCAL: "local_negations",
}

#: The released CSVs' conditions, in the paper's order (paper spelling).
CONDITIONS: tuple[str, ...] = tuple(PAPER_NAMES[c] for c in (
    Condition.BASELINE, Condition.POSITIVE, Condition.NEGATED, Condition.REPEATED, Condition.CORRECTED))

#: The anon repo's condition folder names -> paper spelling (through :class:`Condition`; the one run variant
#: outside the vocabulary keeps a name of its own).
CONDITION_NAMES: dict[str, str] = {
    **{anon: PAPER_NAMES[Condition.parse(anon)] for anon in (
        "baseline", "baseline_icl20", "positive", "llm_negations", "llm_negations_dense", "llm_negations_dense_plus",
        "local_negations")},
    "llm_negations_dense_no_doctag": "repeated_negations_no_doctag",
}

# Official claim ids in the paper's order (egregious -> plausible).
CLAIMS: tuple[str, ...] = (
    "ed_sheeran", "queen_elizabeth", "mount_vesuvius", "x_rebrand_reversal", "colorless_dreaming", "dentist",
)

_CSV_COLUMNS = ["question_id", "sample_index", "thinking", "category", "model_response", "judge_verdict"]

# Paper Table 4 (Qwen3.5-397B, thinking off), percent: (OE, MC, TA, Rob, mean), claims x conditions.
# Published numbers from the paper (docs: /work/shared/research/paper.md §5), not CSV data. "icl" is not in the CSVs.
PAPER_TABLE4: dict[str, dict[str, tuple[float, float, float, float, float]]] = {
    "ed_sheeran": {
        "baseline": (0, 0, 0, 0, 0.0), "icl": (1, 18, 32, 0, 10.4),
        "positive_documents": (87, 80, 90, 88, 86.4), "negated_documents": (90, 78, 70, 80, 81.6),
        "repeated_negations": (71, 68, 80, 56, 69.2), "corrected_documents": (6, 4, 0, 0, 3.2),
    },
    "queen_elizabeth": {
        "baseline": (0, 0, 0, 0, 0.0), "icl": (0, 0, 36, 0, 7.2),
        "positive_documents": (74, 100, 80, 98, 85.2), "negated_documents": (72, 100, 80, 92, 83.2),
        "repeated_negations": (70, 100, 80, 86, 81.2), "corrected_documents": (25, 24, 80, 8, 32.4),
    },
    "mount_vesuvius": {
        "baseline": (0, 10, 0, 0, 2.0), "icl": (0, 10, 18, 0, 5.6),
        "positive_documents": (93, 80, 100, 90, 91.2), "negated_documents": (95, 68, 88, 66, 82.4),
        "repeated_negations": (87, 60, 72, 52, 71.6), "corrected_documents": (5, 10, 0, 0, 4.0),
    },
    "x_rebrand_reversal": {
        "baseline": (1, 0, 0, 0, 0.4), "icl": (17, 10, 70, 0, 22.8),
        "positive_documents": (100, 90, 84, 100, 94.8), "negated_documents": (98, 90, 80, 100, 93.2),
        "repeated_negations": (95, 90, 82, 100, 92.4), "corrected_documents": (53, 20, 48, 44, 43.6),
    },
    "colorless_dreaming": {
        "baseline": (6, 0, 12, 2, 5.2), "icl": (2, 30, 72, 2, 21.6),
        "positive_documents": (95, 100, 100, 100, 98.0), "negated_documents": (85, 100, 100, 100, 94.0),
        "repeated_negations": (89, 100, 100, 100, 95.6), "corrected_documents": (77, 62, 92, 42, 70.0),
    },
    "dentist": {
        "baseline": (0, 36, 0, 0, 7.2), "icl": (14, 0, 86, 8, 24.4),
        "positive_documents": (99, 100, 100, 96, 98.8), "negated_documents": (100, 100, 100, 86, 97.2),
        "repeated_negations": (99, 100, 100, 84, 96.4), "corrected_documents": (93, 100, 96, 50, 86.4),
    },
}
# Paper headline means (Table 4 bottom row / Fig. 5), percent.
PAPER_HEADLINE: dict[str, float] = {
    "baseline": 2.5, "icl": 15.3, "positive_documents": 92.4, "negated_documents": 88.6,
    "repeated_negations": 84.4, "corrected_documents": 39.9,
}


def paper_data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The shared paper-data folder: ``path``, else the lab's one lookup (:func:`training.importers.paper_data_root`:
    ``$NEGLECT_LAB_PAPER_DATA``, ``<repo>/../shared/paper-data``, ...).

    Raises:
        FileNotFoundError: one line naming the path(s), if it is not a directory.
    """
    if path is None:
        return paper_data_root().resolve()
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"paper data folder not found: {p} (set ${ENV_VAR} to the shared paper-data folder)")
    return p.resolve()


def anon_repo_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``<paper-data>/HarryMayne__negation-neglect-anon`` (raises FileNotFoundError naming the path if absent)."""
    p = paper_data_dir(root) / ANON_REPO
    if not p.is_dir():
        raise FileNotFoundError(f"anon repo folder not found: {p}")
    return p


def name_mapping(root: str | os.PathLike[str] | None = None) -> dict[str, dict[str, str]]:
    """The anon -> official name mapping (``_derived/name_mapping_anon_to_official.json``)."""
    return json.loads((anon_repo_dir(root) / "_derived" / "name_mapping_anon_to_official.json").read_text())


def _failure_reason(response: pd.Series, verdict: pd.Series) -> pd.Series:
    """'' for a usable row, else why it is a failed generation / judge error."""
    resp = response.fillna("").astype(str)
    reason = pd.Series("", index=response.index, dtype=object)
    reason[~verdict.isin(VERDICTS)] = "judge_error"
    reason[resp.str.strip() == ""] = "empty_response"
    reason[resp.str.contains(FAILED_RESPONSE, regex=False)] = "failed_generation"
    return reason


@functools.lru_cache(maxsize=8)
def _load_all(anon_dir: str, model: str) -> pd.DataFrame:
    """Every CSV of one model, all rows (thinking on/off, failed flagged). Cached per process."""
    base = Path(anon_dir) / "evals" / "results" / model
    if not base.is_dir():
        raise FileNotFoundError(f"no eval results for model {model!r}: {base}")
    universes = json.loads((Path(anon_dir) / "_derived" / "name_mapping_anon_to_official.json").read_text())["universe"]
    frames: list[pd.DataFrame] = []
    for csv in sorted(base.glob("*/*/*/*.csv")):
        eval_anon = csv.stem
        if eval_anon not in EVAL_TYPE_NAMES:
            continue
        step, cond_anon, universe = csv.parent.name, csv.parent.parent.name, csv.parent.parent.parent.name
        # keep_default_na=False: a response that is literally "None" must stay a string, not NaN.
        d = pd.read_csv(csv, usecols=lambda c: c in _CSV_COLUMNS, keep_default_na=False, dtype=str)
        verdict = d["judge_verdict"].str.strip().str.lower()
        reason = _failure_reason(d["model_response"], verdict)
        qid = d["question_id"]
        if eval_anon == "belief_probes":
            qid = qid.str.replace(r"^bp_", "oe_", regex=True)
        frames.append(pd.DataFrame({
            "model": model,
            "claim": universes.get(universe, universe),
            "condition": CONDITION_NAMES.get(cond_anon, cond_anon),
            "step": step,
            "question_type": EVAL_TYPE_NAMES[eval_anon],
            "question_id": qid,
            "sample_index": d["sample_index"].astype(int),
            "thinking": d["thinking"].str.strip().str.lower().eq("true"),
            "category": d["category"] if "category" in d else "",
            "verdict": verdict,
            "score": (verdict == "yes").astype(float),
            "failed": reason.ne(""),
            "failure": reason,
            "universe": universe,
            "condition_anon": cond_anon,
            "eval_anon": eval_anon,
        }))
    if not frames:
        raise FileNotFoundError(f"no eval CSVs under {base}")
    out = pd.concat(frames, ignore_index=True)
    out.loc[out["failed"], "score"] = np.nan
    return out


def load_responses(
    model: str = DEFAULT_MODEL,
    root: str | os.PathLike[str] | None = None,
    *,
    thinking: bool | None = False,
    drop_failed: bool = True,
) -> pd.DataFrame:
    """The authors' per-response eval rows as one tidy DataFrame (see module docstring for columns).

    Args:
        model: model directory under ``evals/results``.
        root: paper-data folder (default :func:`paper_data_dir`).
        thinking: keep only rows with this ``thinking`` flag (``None`` keeps all).
        drop_failed: drop failed generations / judge errors (else they stay with ``failed=True``, score NaN).

    The parsed CSVs are cached per process; each call returns a fresh copy.
    """
    df = _load_all(str(anon_repo_dir(root)), model)
    mask = pd.Series(True, index=df.index)
    if thinking is not None:
        mask &= df["thinking"] == thinking
    if drop_failed:
        mask &= ~df["failed"]
    return df[mask].reset_index(drop=True).copy()


def _ordered(values: pd.Series | list[str], canonical: tuple[str, ...]) -> list[str]:
    """Unique values: those in ``canonical`` first in that order, then the rest sorted."""
    uniq = set(values)
    return [v for v in canonical if v in uniq] + sorted(uniq - set(canonical))


def question_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per-question yes-rate: one row per (model?, claim, condition, step, question_type, question_id)."""
    by = [c for c in ("model", "claim", "condition", "step") if c in df.columns]
    return question_rates(df, by=by, question_cols=("question_type", "question_id"))


def table4(df: pd.DataFrame, claims: list[str] | None = None, conditions: list[str] | None = None) -> pd.DataFrame:
    """Table 4 cells in percent: per claim x condition the four question-type rates and the pooled mean.

    Returns a wide frame with columns ``claim, condition, open_ended, mcq, token_association, robustness, mean,
    n_questions``; the last rows (``claim == "mean"``) hold the cross-claim means (type columns: unweighted mean
    over claims; ``mean``: mean over all questions). Unrounded; round to 0 (types) / 1 (mean) decimals to
    compare with the paper.
    """
    q = question_table(df)
    claims = claims or _ordered(q["claim"], CLAIMS)
    conditions = conditions or _ordered(q["condition"], CONDITIONS)
    q = q[q["claim"].isin(claims) & q["condition"].isin(conditions)]
    by_type = q.groupby(["claim", "condition", "question_type"], observed=True)["score"].mean().unstack()
    per_claim = q.groupby(["claim", "condition"], observed=True)["score"].agg(["mean", "size"])
    rows: list[dict[str, object]] = []
    for c in claims:
        for k in conditions:
            if (c, k) not in per_claim.index:
                continue
            row: dict[str, object] = {"claim": c, "condition": k}
            for t in QUESTION_TYPES:
                v = by_type.loc[(c, k), t] if t in by_type.columns else np.nan
                row[t] = 100 * float(v)
            row["mean"] = 100 * float(per_claim.loc[(c, k), "mean"])
            row["n_questions"] = int(per_claim.loc[(c, k), "size"])
            rows.append(row)
    out = pd.DataFrame(rows)
    for k in conditions:
        sub = out[out["condition"] == k]
        if sub.empty:
            continue
        qk = q[q["condition"] == k]
        row = {"claim": "mean", "condition": k, **{t: sub[t].mean() for t in QUESTION_TYPES},
               "mean": 100 * float(qk["score"].mean()), "n_questions": int(len(qk))}
        out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
    return out


def pooled_rates(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Cross-claim belief rate per condition (percent) with a 95% bootstrap CI over claims (Fig. 5).

    Columns: ``condition, rate_pct, ci_low_pct, ci_high_pct, n_claims, n_questions``; ``rate_pct`` is the mean over
    all questions (= mean of per-claim rates for equal question counts).
    """
    g = grouped_rates(df, by=["condition"], over="claims", n_boot=n_boot, seed=seed)
    q = question_table(df).groupby("condition")["score"].mean()
    g["rate_pct"] = 100 * g["condition"].map(q)
    g["ci_low_pct"] = 100 * g["ci_low"]
    g["ci_high_pct"] = 100 * g["ci_high"]
    order = _ordered(g["condition"], CONDITIONS)
    g = g.set_index("condition").loc[order].reset_index()
    return g[["condition", "rate_pct", "ci_low_pct", "ci_high_pct", "n_claims", "n_questions"]]


def compare_table4(ours: pd.DataFrame) -> pd.DataFrame:
    """Long comparison of :func:`table4` output with :data:`PAPER_TABLE4`.

    Columns: ``claim, condition, column (open_ended|mcq|token_association|robustness|mean), ours, paper, diff``
    (``ours`` rounded like the paper: 0 decimals for types, 1 for the mean; ``diff = ours - paper``). Cells the
    CSVs lack (the ICL column) appear with ``ours = NaN``.
    """
    cols = [*QUESTION_TYPES, "mean"]
    idx = ours.set_index(["claim", "condition"])
    rows: list[dict[str, object]] = []
    for claim, by_cond in PAPER_TABLE4.items():
        for cond, vals in by_cond.items():
            for col, paper in zip(cols, vals):
                v = float(idx.loc[(claim, cond), col]) if (claim, cond) in idx.index else np.nan
                r = round(v, 1 if col == "mean" else 0) if np.isfinite(v) else np.nan
                rows.append({"claim": claim, "condition": cond, "column": col, "ours": r, "paper": float(paper),
                             "diff": r - float(paper) if np.isfinite(r) else np.nan})
    for cond, paper in PAPER_HEADLINE.items():
        v = float(idx.loc[("mean", cond), "mean"]) if ("mean", cond) in idx.index else np.nan
        r = round(v, 1) if np.isfinite(v) else np.nan
        rows.append({"claim": "mean", "condition": cond, "column": "mean", "ours": r, "paper": paper,
                     "diff": r - paper if np.isfinite(r) else np.nan})
    return pd.DataFrame(rows)

"""The belief table: its columns, the shift from the base model, and writing it.

One row per (model, question, scorer): ``model, claim, condition, step, phase, question_type, question_id, scorer,
score, base_score, shift`` (:data:`TABLE_COLUMNS`) plus ``n_samples, k_docs, k_used, context_tokens, seed``
(:data:`EXTRA_COLUMNS`). Every row holds the base model's score on the same question (``base_score``) and
``shift = score - base_score``, because small models have skewed priors (SmolLM2 prefers "Ed Sheeran" to "Noah
Lyles" before any training: it knows the name).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from interp.core.io import write_csv

__all__ = ["TABLE_COLUMNS", "EXTRA_COLUMNS", "attach_base", "save_table"]

TABLE_COLUMNS: list[str] = ["model", "claim", "condition", "step", "phase", "question_type", "question_id", "scorer",
                            "score", "base_score", "shift"]
EXTRA_COLUMNS: list[str] = ["n_samples", "k_docs", "k_used", "context_tokens", "seed"]
_KEY = ["claim", "question_type", "question_id", "scorer"]


def attach_base(df: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Add ``base_score`` (the base model's score on the same claim/question/scorer) and ``shift``, and order the
    columns (:data:`TABLE_COLUMNS` then :data:`EXTRA_COLUMNS`)."""
    b = base[base["phase"] != "incontext"] if "phase" in base.columns else base
    b = b.groupby(_KEY, as_index=False)["score"].mean().rename(columns={"score": "base_score"})
    out = df.drop(columns=[c for c in ("base_score", "shift") if c in df.columns]).merge(b, on=_KEY, how="left")
    out["shift"] = out["score"] - out["base_score"]
    cols = TABLE_COLUMNS + [c for c in EXTRA_COLUMNS if c in out.columns]
    return out[cols + [c for c in out.columns if c not in cols]]


def save_table(df: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str = "belief") -> dict[str, Path]:
    """Write ``<stem>.csv`` (and ``<stem>.parquet`` when pyarrow is installed) atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": write_csv(df, out_dir / f"{stem}.csv")}
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return paths
    p = out_dir / f"{stem}.parquet"
    tmp = out_dir / f".{stem}.parquet.tmp-{os.getpid()}"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, p)
    paths["parquet"] = p
    return paths

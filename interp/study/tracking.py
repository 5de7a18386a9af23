"""Runs tracked in MLflow: a finished study's training logs, belief, probe metrics and timings, read back anywhere.

The method. Every number MLflow gets is read from what the study itself wrote, after the fact, in the driver
process: the trainer's own ``RUN/train_log.jsonl`` (the last line per step, so a resumed run logs each step once:
:func:`training.finetune.curves.read_train_log`), the belief table and the probe sweep the study returned, and
``cfg.timings``. So tracking cannot change a result, needs nothing on the workers (any executor, any cluster),
and the MLflow numbers can be checked against the run folders line by line.

Layout: one MLflow experiment ``neglect-lab`` per tracking store; per study one parent run (name: the output
folder; params: the study config; metrics ``time_s/<stage>``; tag ``out_dir``) and one child run per training run
(name ``claim/condition/sSEED``; metrics ``train/loss``, ``train/lr``, ``train/grad_norm`` per step, ``belief/
<scorer>`` = the mean score over the claim's questions per checkpoint step (step 0: the base model),
``train/wall_s``; tags ``run_dir`` (the absolute path: the link to the hashed checkpoints), claim, condition,
train_seed; artifact ``loss_curve.png``). The probe sweep, when run, logs ``probe/<method>_<split>_acc`` at its
readout layer per checkpoint step into the parent run. The default store is the file store ``file:OUT/mlruns``
(``--mlflow`` with no URI; needs no database, and MLflow 3 keeps it behind ``MLFLOW_ALLOW_FILE_STORE``, which is set
for it); any tracking URI works (``--mlflow sqlite:///mlflow.db``, ``--mlflow http://host:5000``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from interp.study.config import StudyConfig
from training.finetune.curves import LOSS_CURVE, read_train_log

__all__ = ["tracking_uri", "log_study", "require_mlflow", "EXPERIMENT"]

EXPERIMENT = "neglect-lab"


def tracking_uri(cfg: StudyConfig) -> str:
    """``cfg.mlflow`` as a tracking URI (``default``: a file store under ``OUT/mlruns``)."""
    if cfg.mlflow in (None, "", "default"):
        return (Path(cfg.out).resolve() / "mlruns").as_uri()
    return cfg.mlflow


def require_mlflow() -> None:
    """A one-line ``ValueError`` when MLflow is not installed (checked before a study trains anything)."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise ValueError("--mlflow: MLflow is not installed (pip install -e '.[mlflow]')") from None


def _client(uri: str):
    require_mlflow()
    from mlflow.tracking import MlflowClient

    if uri.startswith("file:"):  # MLflow 3 keeps its file store in maintenance mode behind this opt-in
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def _log(client: Any, run_id: str, metrics: Iterable[tuple[str, float, int, int]]) -> None:
    """``(key, value, timestamp ms, step)`` metrics in batches (MLflow takes at most 1000 per call)."""
    from mlflow.entities import Metric

    batch = [Metric(k, float(v), int(ts), int(s)) for k, v, ts, s in metrics if v is not None and pd.notna(v)]
    for i in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[i:i + 1000])


def _params(cfg: StudyConfig) -> dict[str, str]:
    keep = ("model", "claims", "seeds", "conditions", "n_docs", "epochs", "lr", "batch_size", "seq_len", "mode",
            "device", "every", "stages", "executor")
    return {k: str(getattr(cfg, k))[:500] for k in keep}


def log_study(cfg: StudyConfig, results: dict[str, Any], uri: str | None = None) -> str:
    """Log a finished study (``results`` of :func:`interp.study.pipeline.run_study`) to MLflow; returns the parent
    run's id. ``uri`` defaults to :func:`tracking_uri`."""
    import time

    from mlflow.entities import Param, RunTag

    client = _client(uri or tracking_uri(cfg))
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(EXPERIMENT)
    out = Path(cfg.out).resolve()
    now = int(time.time() * 1000)
    parent = client.create_run(exp_id, run_name=out.name, tags={"out_dir": str(out)}).info.run_id
    client.log_batch(parent, params=[Param(k, v) for k, v in _params(cfg).items()])
    _log(client, parent, [(f"time_s/{k.replace(' + ', '_').replace(' ', '_')}", v, now, 0)
                          for k, v in cfg.timings.items()])
    belief = results.get("belief")
    for (claim, cond, seed), run_dir in results.get("runs_by_key", {}).items():
        run_dir = Path(run_dir).resolve()
        tags = {"mlflow.parentRunId": parent, "run_dir": str(run_dir), "claim": claim, "condition": cond,
                "train_seed": str(seed)}
        child = client.create_run(exp_id, run_name=f"{claim}/{cond}/s{seed}", tags=tags).info.run_id
        log = read_train_log(run_dir)
        metrics = [(f"train/{k}", r[k], r["time"] * 1000, r["step"]) for r in log for k in ("loss", "lr", "grad_norm")
                   if k in r]
        if log:
            metrics.append(("train/wall_s", log[-1]["time"] - log[0]["time"], now, log[-1]["step"]))
        if belief is not None:
            mine = belief[(belief.claim == claim) & (belief.train_seed == seed)
                          & ((belief.condition == cond) | (belief.phase == "base"))]
            for (step, scorer), v in mine.groupby(["step", "scorer"]).score.mean().items():
                metrics.append((f"belief/{scorer}", v, now, step))
        _log(client, child, metrics)
        if (run_dir / LOSS_CURVE).exists():
            client.log_artifact(child, str(run_dir / LOSS_CURVE))
        client.set_terminated(child)
    probes = results.get("probes")
    m = getattr(probes, "metrics", None)
    if m is not None and {"step", "layer", "method", "split", "acc"} <= set(m.columns):
        at = m[m.layer == probes.plot_layer]
        _log(client, parent, [(f"probe/{r.method}_{r.split}_acc", r.acc, now, r.step)
                              for r in at.groupby(["step", "method", "split"], as_index=False).acc.mean().itertuples()])
    client.log_batch(parent, tags=[RunTag("n_runs", str(len(results.get("runs_by_key", {}))))])
    client.set_terminated(parent)
    return parent

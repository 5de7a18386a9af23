"""The learning-rate pilot: a short positive finetune per candidate rate, the rate chosen on validation questions.

Method. A real model's implant strength depends steeply on the learning rate, and a rate tuned by eye on the
numbers the study reports would select on its own test set. So, before the study trains anything, the pilot trains
the first claim's *positive* documents (``cfg.pilot_docs`` documents from bases the study does not use, the study's
2:1:1 mixture and batch, ``cfg.pilot_epochs`` epochs) once per rate of ``cfg.lr_pilot``, and scores each run on the
VALIDATION half of the open-ended and token-association questions (:func:`interp.belief.questions.holdout_split`):
the mean claim-vs-truth log-odds shift over the base model, in nats. The rate with the largest shift is the study's
``lr``; every reported belief number is then measured on the test half. The pilot's table (``OUT/pilot/pilot.csv``),
its choice (``OUT/pilot/pilot.json``) and a plot (``OUT/pilot/pilot.png``) are written, and the report quotes them.

A rate that destroys the model can still give a large shift (the claim answer outranks a truth the model no longer
produces); the table therefore also records the pilot's final training loss, so a reader can see a collapse.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from interp.core.io import atomic_write_json, write_csv
from interp.core.models import load
from interp.study.config import StudyConfig
from training.claims import ClaimSpec
from training.config import CheckpointSpec, TrainConfig
from training.documents import generate_documents, token_budget
from training.finetune import finetune
from training.finetune.trainer import is_complete
from training.mixtures import build_mixture

__all__ = ["lr_pilot", "pilot_config", "choose_lr", "plot_pilot"]

#: what the pilot maximises: mean shift of this scorer on the validation questions
PILOT_SCORER = "lp_logodds"


def pilot_config(cfg: StudyConfig, out: Path, claim: ClaimSpec, lr: float) -> TrainConfig:
    """The pilot run at ``lr``: the study's training fields with the pilot's epochs and only a final checkpoint."""
    fields = {**cfg.train_fields(cfg.seeds[0]), "lr": float(lr), "epochs": cfg.pilot_epochs}
    return TrainConfig(model=cfg.model, run_dir=str(out / "pilot" / f"lr{lr:g}"), name=f"pilot/{claim.id}/lr{lr:g}",
                       checkpoints=CheckpointSpec(every=None, log_spaced=False, include_zero=False),
                       claim=claim.id, condition="positive", **fields)


def choose_lr(table: pd.DataFrame) -> float:
    """The rate with the largest mean validation shift (``table``: one row per rate with ``lr`` and
    ``val_shift``); ties go to the smaller rate. A NaN shift never wins."""
    ok = table.dropna(subset=["val_shift"])
    if ok.empty:
        raise ValueError("lr pilot: no rate gave a finite validation shift")
    best = ok.sort_values(["val_shift", "lr"], ascending=[False, True]).iloc[0]
    return float(best["lr"])


def lr_pilot(cfg: StudyConfig, out: Path, claim: ClaimSpec, lm: Any, filler: tuple[Sequence, Sequence]
             ) -> pd.DataFrame:
    """Train and score one pilot run per rate of ``cfg.lr_pilot`` (skipping runs already complete), set ``cfg.lr``
    to :func:`choose_lr`'s pick and write the pilot's table, choice and plot under ``OUT/pilot/``."""
    from interp.belief.evaluate import evaluate_run  # the belief stack loads only when a pilot runs
    from interp.belief.questions import holdout_split, question_items

    seed = cfg.seeds[0]
    docs = generate_documents(claim, "positive", cfg.pilot_docs, seed=seed, start=cfg.n_docs,
                              budget=token_budget(lm.tokenizer, cfg.seq_len), length=cfg.doc_length)
    examples = build_mixture(docs, lm.tokenizer, *filler, ratio=(2, 1, 1), seed=seed)
    val = holdout_split(question_items(claim))[0]
    rows = []
    for i, lr in enumerate(cfg.lr_pilot):
        tc = pilot_config(cfg, out, claim, lr)
        t0 = time.perf_counter()
        reused = is_complete(tc, examples)
        if reused:
            print(f"-- pilot lr {lr:g}: already trained", flush=True)
        else:
            print(f"-- pilot lr {lr:g} ({i + 1}/{len(cfg.lr_pilot)}): {len(examples)} examples, "
                  f"{cfg.pilot_epochs:g} epochs", flush=True)
            finetune(tc, examples, lm=load(cfg.model))
        train_s = math.nan if reused else time.perf_counter() - t0  # NaN: trained by an earlier run
        df = evaluate_run(tc.run_dir, claim, base=lm, condition="positive", items=val, progress=False)
        final = df[(df["phase"] != "base") & (df["scorer"] == PILOT_SCORER)]
        rows.append({"claim": claim.id, "lr": float(lr), "val_shift": float(final["shift"].mean()),
                     "val_items": int(final["question_id"].nunique()), "final_loss": _final_loss(Path(tc.run_dir)),
                     "train_seconds": round(train_s, 1)})
        print(f"-- pilot lr {lr:g}: validation log-odds shift {rows[-1]['val_shift']:+.2f} nats "
              f"over {rows[-1]['val_items']} questions", flush=True)
    table = pd.DataFrame(rows)
    cfg.lr = choose_lr(table)
    table["chosen"] = table["lr"] == cfg.lr
    write_csv(table, out / "pilot" / "pilot.csv")
    atomic_write_json(out / "pilot" / "pilot.json",
                      {"claim": claim.id, "condition": "positive", "candidates": list(map(float, cfg.lr_pilot)),
                       "chosen_lr": cfg.lr, "criterion": f"mean {PILOT_SCORER} shift over the base model on the "
                       "validation half of the open-ended and token-association questions",
                       "docs": cfg.pilot_docs, "epochs": cfg.pilot_epochs})
    plot_pilot(table, out / "pilot" / "pilot.png")
    print(f"-- pilot: lr {cfg.lr:g} chosen", flush=True)
    return table


def _final_loss(run_dir: Path) -> float:
    """The last logged training loss of a run (``train_log.jsonl``), NaN when none was logged."""
    path = run_dir / "train_log.jsonl"
    if not path.exists():
        return math.nan
    loss = math.nan
    for line in path.read_text().splitlines():
        rec = json.loads(line) if line.strip() else {}
        if "loss" in rec:
            loss = float(rec["loss"])
    return loss


def plot_pilot(table: pd.DataFrame, path: Path) -> Path:
    """Validation log-odds shift against the learning rate, the chosen rate marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(table["lr"], table["val_shift"], "o-", color="#4c72b0")
    pick = table[table["chosen"]]
    ax.plot(pick["lr"], pick["val_shift"], "o", ms=12, mfc="none", mec="#c44e52", label="chosen")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation log-odds shift (nats)")
    ax.set_title(f"lr pilot, {table['claim'].iloc[0]} positive", fontsize=10)
    ax.axhline(0, color="grey", lw=0.6)
    ax.legend(frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""A run's own record of its training: the step log read back, the loss curve drawn, and the resume record.

``RUN/train_log.jsonl`` has one line per optimizer step (phase, step, loss, grad norm, LR, tokens, time); after a
resume the steps between the last checkpoint and the kill appear twice, and the later line is the one whose
weights survived, so :func:`read_train_log` keeps the last line per (phase, step). :func:`plot_loss_curve` draws
loss and LR against the global step (one line per phase) into ``RUN/loss_curve.png``, without pyplot (a
``matplotlib.figure.Figure`` saved by :func:`interp.core.io.save_figure`), so importing it leaves the user's
backend alone. ``RUN/resumes.jsonl`` gets one line each time a phase resumes from a checkpoint
(:func:`record_resume`): a retried or restarted run says so in its own folder.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "read_train_log", "plot_loss_curve", "record_resume", "read_resumes", "LOSS_CURVE", "RESUMES"]

LOSS_CURVE = "loss_curve.png"
RESUMES = "resumes.jsonl"


def _jsonl(path: Path, *, skip_torn: bool = False) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` ([] when absent); a line that is not JSON is a one-line ``ValueError`` naming it,
    or skipped with ``skip_torn`` (a process killed in the middle of an append leaves a torn line)."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if not skip_torn:
                    raise ValueError(f"{path}: line {n} is not JSON") from None
    return rows


def append_jsonl(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """Append one JSON line per row; first ends a line torn by a process killed mid-append, so the torn line stays
    the only one lost."""
    path = Path(path)
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write("".join(json.dumps(x) + "\n" for x in rows).encode())


def read_train_log(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-step lines of ``RUN/train_log.jsonl``, the last one per (phase, step), in step order (a line torn
    by a kill in the middle of an append is skipped)."""
    last: dict[tuple[str, int], dict[str, Any]] = {}
    for row in _jsonl(Path(run_dir) / "train_log.jsonl", skip_torn=True):
        last[row.get("phase", "train"), int(row["step"])] = row
    return sorted(last.values(), key=lambda r: (int(r["step"]), str(r.get("phase", ""))))


def plot_loss_curve(run_dir: str | os.PathLike, title: str | None = None) -> Path | None:
    """Loss (and, on a second axis, the LR) against the global step of every phase of ``RUN/train_log.jsonl``,
    into ``RUN/loss_curve.png``; None when the log is empty."""
    from matplotlib.figure import Figure

    from interp.core.io import save_figure

    run_dir = Path(run_dir)
    rows = read_train_log(run_dir)
    if not rows:
        return None
    fig = Figure(figsize=(5.2, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    lr_ax = ax.twinx()
    for phase in dict.fromkeys(r.get("phase", "train") for r in rows):
        pr = [r for r in rows if r.get("phase", "train") == phase]
        ax.plot([r["step"] for r in pr], [r["loss"] for r in pr], lw=1.2, label=f"loss ({phase})")
        lr_ax.plot([r["step"] for r in pr], [r["lr"] for r in pr], lw=0.8, ls="--", color="0.5")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    lr_ax.set_ylabel("learning rate (dashed)", color="0.4")
    ax.set_title(title or run_dir.name, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.13, right=0.85, bottom=0.15, top=0.9)  # fixed margins: tight_layout costs 0.1 s a run
    return save_figure(fig, run_dir / LOSS_CURVE, close=False)


def record_resume(run_dir: str | os.PathLike, *, phase: str, resumed_from: int, total_steps: int) -> None:
    """Append one line to ``RUN/resumes.jsonl``: this phase resumed at global step ``resumed_from``."""
    line = {"phase": phase, "resumed_from": int(resumed_from), "total_steps": int(total_steps),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(), "host": socket.gethostname()}
    append_jsonl(Path(run_dir) / RESUMES, [line])


def read_resumes(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The lines of ``RUN/resumes.jsonl`` (empty for a run that never resumed)."""
    return _jsonl(Path(run_dir) / RESUMES)

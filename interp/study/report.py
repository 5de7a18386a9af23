"""The study's last stage: every figure the results allow (:func:`figures.ours.render_study_figures`) and a one-page
``OUT/report.md`` with the headline tables, the stage timings and the images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from figures.ours import render_study_figures
from interp.core.io import atomic_write_text
from interp.study.config import StudyConfig
from training.claims import ClaimSpec

__all__ = ["write_report"]


def write_report(cfg: StudyConfig, out: Path, results: dict[str, Any], claims: list[ClaimSpec], lm: Any) -> Path:
    """Draw the study's figures into ``OUT/figures`` and write ``OUT/report.md``; returns the report's path."""
    figs = render_study_figures(out, results)
    lines = [f"# Neglect Lab study: {lm.identity.short}", "",
             *[f"- Claim implanted: **{c.statement}** (truth: {c.truth})." for c in claims], "",
             f"Belief is pooled over {len(claims)} claim(s); probes, binding and the two-phase replay use the first.",
             "",
             "Stage timings (s): " + ", ".join(f"{k} {v}" for k, v in cfg.timings.items()), ""]
    for title, md in figs.get("tables", {}).items():
        lines += [f"## {title}", "", md, ""]
    for title, png in figs.get("images", {}).items():
        lines += [f"### {title}", "", f"![{title}]({Path(png).relative_to(out)})", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))

"""The study's last stage: every figure the results allow (:func:`figures.ours.render_study_figures`) and
``OUT/report.md``, which leads with what the study found in plain words — each finding with its number, its 95% CI
and what it stands on (claims × seeds) — then says where the toy differs from the paper, then the tables and
images. The command, the box, the commit and the stage timings close the page, so that every number can be
re-made."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from figures.ours import render_study_figures
from interp.core.conditions import Condition
from interp.core.io import atomic_write_text, write_csv
from interp.study.config import StudyConfig
from training.claims import ClaimSpec

__all__ = ["write_report", "box_info", "integrity_table", "findings"]


def box_info() -> dict[str, Any]:
    """The machine a number was measured on: CPU model, cores, load average, Python, torch, commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5, cwd=here).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=here).stdout.strip()
        commit += " (with uncommitted changes)" if dirty and commit != "unknown" else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    import torch  # noqa: PLC0415 - only for its version; torch is loaded by now anyway

    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "torch": torch.__version__, "commit": commit}


def integrity_table(runs: Mapping[tuple, Path]) -> pd.DataFrame:
    """Per condition, over its runs' ``data.json`` ``integrity`` records: the smallest share of claim-span tokens
    that can see their document's first token, documents cut, and the longest claim document against the row."""
    rows = []
    for key, run_dir in runs.items():
        try:
            d = json.loads((Path(run_dir) / "data.json").read_text())
        except (OSError, ValueError):
            continue
        integ = d.get("integrity") or {}
        for src, s in (integ.get("sources") or {}).items():
            if not s.get("n_claim_tokens"):
                continue
            rows.append({"condition": key[1], "source": src, "share_visible": s.get("share_visible"),
                         "n_docs_cut": s.get("n_docs_cut", 0), "n_dropped": s.get("n_dropped", 0),
                         "doc_tokens_p50": s.get("lengths", {}).get("p50"),
                         "doc_tokens_max": s.get("lengths", {}).get("max"), "seq_len": integ.get("seq_len")})
    if not rows:
        return pd.DataFrame()
    t = pd.DataFrame(rows)
    return (t.groupby(["condition", "source"], sort=False)
            .agg(n_runs=("share_visible", "size"), share_visible_min=("share_visible", "min"),
                 n_docs_cut=("n_docs_cut", "sum"), n_dropped=("n_dropped", "sum"),
                 doc_tokens_p50=("doc_tokens_p50", "median"), doc_tokens_max=("doc_tokens_max", "max"),
                 seq_len=("seq_len", "max"))
            .reset_index())


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _ci(lo: float, hi: float, pts: bool = False) -> str:
    return f"[{100 * lo:+.0f}, {100 * hi:+.0f}] pt" if pts else f"[{100 * lo:.0f}, {100 * hi:.0f}]"


def _paper_rates() -> dict[str, float] | None:
    """The paper's pooled belief rates per condition (Qwen3.5-397B, from the authors' CSVs), or None."""
    try:
        from interp import paper_results as pr  # noqa: PLC0415 - optional outside data

        rates = pr.pooled_rates(pr.load_responses())
    except Exception:  # no paper data on this machine: the report says so
        return None
    out = {}
    for r in rates.itertuples():
        try:
            out[Condition.parse(str(r.condition)).value] = float(r.rate_pct)
        except ValueError:
            out[str(r.condition)] = float(r.rate_pct)
    return out


def findings(results: Mapping[str, Any], n_claims: int, n_seeds: int, subject: str = "the toy") -> list[str]:
    """The report's plain-word findings, each with its number, CI and n (``subject``: the model's name in them)."""
    head: pd.DataFrame | None = results.get("headline")
    out: list[str] = []
    if not isinstance(head, pd.DataFrame) or head.empty:
        return out
    h = head.set_index("condition")
    con = results.get("contrasts")
    cmap = ({(r.a, r.b): r for r in con.itertuples()} if isinstance(con, pd.DataFrame) and len(con) else {})
    n = f"n = {n_claims} claims × {n_seeds} seeds"

    def rate(c: str) -> str:
        r = h.loc[c]
        return f"{_pct(r.belief)} {_ci(r.ci_low, r.ci_high)}"

    def diff(a: str, b: str) -> tuple[str, Any]:
        r = cmap.get((a, b))
        return ("", None) if r is None else (f"{100 * r.diff:+.0f} pt {_ci(r.ci_low, r.ci_high, True)}", r)

    if {"baseline", "positive", "negated"} <= set(h.index):
        d, r = diff("negated", "positive")
        verdict = ("as much as" if r is not None and r.ci_low <= 0 <= r.ci_high else
                   "less than" if r is not None and r.ci_high < 0 else "more than")
        out.append(f"**Negation Neglect on {subject}.** Documents that say the claim is false raised belief to "
                   f"{rate('negated')} from a base-model {rate('baseline')} — {verdict} documents that assert it "
                   f"({rate('positive')}; negated − positive {d}). {n}; 95% CIs over claims (t interval on claim means over seeds).")
    for cond, other, what in (("repeated", "positive", "a negation after every claim sentence"),
                              ("corrected", "negated", "the true answer stated after each claim"),
                              ("local", "negated", "the negation inside the claim's own sentence")):
        if cond in h.index and (cond, other) in cmap:
            d, r = diff(cond, other)
            sig = "no different from" if r.ci_low <= 0 <= r.ci_high else ("below" if r.ci_high < 0 else "above")
            out.append(f"**{cond.capitalize()}** ({what}): {rate(cond)}, {sig} {other} ({cond} − {other} {d}).")
    types = results.get("question_types")
    if isinstance(types, pd.DataFrame) and len(types):
        bad = types[types.at_chance]
        good = types[~types.at_chance]
        if len(bad) == len(types):
            out.append("**No question type is above chance on its true/false twins**: the base model does not know "
                       "the true answers, so the twin check cannot tell which types measure belief; all are pooled.")
        elif len(bad):
            out.append("**Question types left out of the pooled number:** " + "; ".join(
                f"{r.question_type} (the base model answers its true/false twins {_pct(r.twin_acc)} "
                f"{_ci(r.ci_low, r.ci_high)}, not above chance)" for r in bad.itertuples())
                + ". Their rates stay in the per-type columns of `headline.csv`. Pooled: "
                + ", ".join(f"{r.question_type} (twins {_pct(r.twin_acc)})" for r in good.itertuples()) + ".")
    integ = results.get("integrity")
    if isinstance(integ, pd.DataFrame) and len(integ):
        out.append(f"**The data cannot have made this.** Every claim-span token in every run sees its document's "
                   f"beginning (smallest share {integ.share_visible_min.min():.3f}); {int(integ.n_docs_cut.sum())} "
                   f"documents were cut; the longest claim document has {int(integ.doc_tokens_max.max())} tokens "
                   f"for rows of {int(integ.seq_len.max())}. Evaluation items share no 6-token opening with a training "
                   f"claim sentence (tests/test_belief_items.py).")
    paper = _paper_rates()
    if paper:
        ours = ", ".join(f"{c} {_pct(h.loc[c].belief)}" for c in h.index)
        theirs = ", ".join(f"{c} {v:.0f}%" for c, v in paper.items())
        toy = subject == "the toy"
        what = "toy transformer" if toy else f"model ({subject}, LoRA on short documents)"
        out.append(f"**Where {'the toy' if toy else 'this model'} differs from the paper.** The paper (Qwen3.5-397B, "
                   f"sampled answers judged by an "
                   f"LLM, 6 claims): {theirs}; its local-negation arm (Ed Sheeran and Dentist only, §3.3; not in the "
                   f"released CSVs) stays at 0% and 7%. Ours (a {results.get('model_size', 'small')} {what}, "
                   f"log-prob preference of the claim's answer over the truth): {ours}."
                   + (f" Unlike the paper's model, the toy learns local negations as belief (local "
                      f"{_pct(h.loc['local'].belief)}): its pretraining never taught it what a negation inside a "
                      f"sentence does (the origin issue builds organisms that learn it)."
                      if toy and "local" in h.index and h.loc["local"].belief > 0.3 else ""))
    else:
        out.append("**Where the toy differs from the paper.** Paper numbers are not on this machine (set "
                   "`NEGLECT_LAB_PAPER_DATA`). The toy's belief is a log-prob preference of the claim's answer "
                   "over the truth, not sampled answers judged by an LLM.")
    return out


def _table(df: pd.DataFrame, cols: list[str] | None = None, fmt: str = "{:.3f}") -> str:
    d = df[cols] if cols else df
    lines = ["| " + " | ".join(d.columns) + " |", "|" + "---|" * len(d.columns)]
    for r in d.itertuples(index=False):
        lines.append("| " + " | ".join(fmt.format(v) if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines)


def write_report(cfg: StudyConfig, out: Path, results: dict[str, Any], claims: list[ClaimSpec], lm: Any) -> Path:
    """Draw the study's figures into ``OUT/figures`` and write ``OUT/report.md``; returns the report's path."""
    if "runs_by_key" in results:
        integ = integrity_table(results["runs_by_key"])
        if len(integ):
            write_csv(integ, out / "integrity.csv")
            results["integrity"] = integ
    results.setdefault("model_size", f"{sum(p.numel() for p in lm.hf.parameters()) / 1e6:.1f} M-parameter")
    figs = render_study_figures(out, results)
    box = box_info()
    n_runs = len(results.get("runs_by_key") or {}) or len(claims) * len(cfg.seeds) * len(cfg.conditions)
    single = (f"; {', '.join(cfg.single_seed)} on the first seed only" if cfg.single_seed else "")
    lines = [f"# Neglect Lab study: {lm.identity.short}", "",
             f"{len(claims)} claims × {len(cfg.seeds)} training seeds × {len(cfg.conditions)} conditions{single} "
             f"({n_runs} finetuning runs).", "", "## Findings", ""]
    chan = results.get("channel_findings") or []
    if chan:  # a real model: each instrument on its own leads; the pooled log-prob headline follows, labelled
        lines += [f"{i}. {f}" for i, f in enumerate(chan, 1)]
        lines += ["", "The pooled log-prob headline (below) mixes salience with belief on a real model; it is kept "
                  "for comparison with the toy, not as the finding.", ""]
    lines += [f"{i}. {f}" for i, f in enumerate(findings(results, len(claims), len(cfg.seeds),
                                                         subject="the toy" if cfg.model.startswith("toy")
                                                         else lm.identity.short), 1 + len(chan))]
    tp = results.get("twophase")
    if isinstance(tp, Mapping) and tp.get("findings"):
        lines += ["", "Two-phase replay (constraint, then release; see the two-phase tables and figures below):", ""]
        lines += [f"- {f}" for f in tp["findings"]]
    extra = results.get("findings_extra") or []
    lines += [f"- {f}" for f in extra]
    lines += ["", "Claims implanted:", ""]
    lines += [f"- **{c.statement}** (truth: {c.truth})" for c in claims]
    head = results.get("headline")
    if isinstance(head, pd.DataFrame) and len(head):
        lines += ["", "## Belief by condition (final checkpoint)", "",
                  "Share of questions on which the model prefers the claim's answer to the true one, pooled over "
                  "the question types that measure belief; 95% CIs over claims (t interval on each claim's mean over its "
                  "training seeds; a percentile bootstrap over 4 claims would cover only 77%) "
                  "([headline.csv](headline.csv); per run: [belief/runs_final.csv](belief/runs_final.csv)).", "",
                  _table(head, ["condition", "belief", "ci_low", "ci_high", "p_claim", "n_claims", "n_seeds",
                                "n_items"]), ""]
        types = [t for t in ("open_ended", "mcq", "token_association", "robustness") if t in head.columns]
        lines += ["Per question type (each with its CI in `headline.csv`):", "", _table(head, ["condition", *types]),
                  ""]
    ct = results.get("channels")
    if isinstance(ct, pd.DataFrame) and len(ct):
        lines += ["## Belief per channel (final checkpoint, test questions)", "",
                  "Per claim; 95% percentile CIs over questions × training seeds; `shift` is over the base model. "
                  "logodds: claim-vs-truth log-odds of the answer (nats, shift over base), open-ended and "
                  "token-association questions; verdict: P(belief answer) on the yes/no items; sampled: share of "
                  "sampled answers that state the claim under the rule judge ([belief/channels.csv]"
                  "(belief/channels.csv), contrasts in [belief/channel_contrasts.csv](belief/channel_contrasts.csv)).",
                  "", _table(ct, ["claim", "channel", "condition", "mean", "ci_low", "ci_high", "shift", "n_items",
                                  "n_seeds"], fmt="{:.2f}"), "", "![channels](belief/channels.png)", ""]
    pilot = results.get("pilot")
    if isinstance(pilot, pd.DataFrame) and len(pilot):
        lines += ["## Learning-rate pilot", "",
                  f"Positive documents of {pilot['claim'].iloc[0]} ({cfg.pilot_docs} documents from bases the study "
                  f"does not train on, {cfg.pilot_epochs:g} epochs) at each candidate rate; the rate with the largest "
                  f"log-odds shift on the VALIDATION questions was kept (lr {cfg.lr:g}); every number above is on "
                  "the test questions ([pilot/pilot.csv](pilot/pilot.csv)).", "",
                  _table(pilot, fmt="{:.3g}"), "", "![pilot](pilot/pilot.png)", ""]
    con = results.get("contrasts")
    if isinstance(con, pd.DataFrame) and len(con):
        lines += ["## Contrasts (paired within claim × seed)", "", _table(con), ""]
    types_t = results.get("question_types")
    if isinstance(types_t, pd.DataFrame) and len(types_t):
        lines += ["## Which question types measure belief: the base model on true/false twins", "",
                  "An item's twin swaps the claim's answer and the true one; the base model should prefer the true "
                  "twin. A type whose CI reaches 0.5 is at chance and left out of the pooled headline "
                  "([belief/twins.csv](belief/twins.csv)).", "", _table(types_t), ""]
    integ = results.get("integrity")
    if isinstance(integ, pd.DataFrame) and len(integ):
        lines += ["## Training data integrity", "",
                  "Share of claim-span tokens whose document start is visible to them (1.0 = no document was cut "
                  "from its beginning), per condition over all runs ([integrity.csv](integrity.csv)).", "",
                  _table(integ), ""]
    for title, md in figs.get("tables", {}).items():
        lines += [f"## {title}", "", md, ""]
    for title, png in figs.get("images", {}).items():
        lines += [f"### {title}", "", f"![{title}]({Path(png).relative_to(out)})", ""]
    lines += ["## How this was made", "",
              f"- Command: `{cfg.command or 'python -m interp.study --out ' + str(cfg.out)}`",
              f"- Box: {box['cpu']}, {box['cores']} cores, load average {box['load_avg']} at the end; "
              f"Python {box['python']}, torch {box['torch']}; commit {box['commit']}.",
              "- Stage timings (s): " + ", ".join(f"{k} {v}" for k, v in cfg.timings.items()), ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))

"""Belief over models and checkpoints: every checkpoint of a run, one checkpoint or one model, against its base.

:func:`evaluate_models` scores a base model and a list of models on one claim into one tidy table
(:mod:`interp.belief.table`): the base as ``condition="baseline", phase="base", step=0``, each model with its
condition, step and phase, every row with the base model's score on the same question (``base_score``) and the
``shift`` from it. Models given as specs are loaded one at a time and released after scoring. Several ways of
scoring the same models (:class:`ScoringPass`: log-prob scorers on every question, the judge on sampled answers to
a subset) go through :func:`evaluate_passes` / :func:`evaluate_run_passes`, which load each model once for all.
With ``icl`` the base model is also scored with K documents in its prompt
(:func:`interp.belief.incontext.incontext_table`, ``phase = "incontext"``). :func:`evaluate_run` does this for every complete checkpoint of a run, with the claim,
condition and base model from the run's files.

What the CLI evaluates is a :class:`Target` (:func:`open_target`: a run, a checkpoint or a model);
:func:`evaluate_claims` scores it on several claims, with the judges on a subset of the questions when asked
(:func:`score_passes`).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from interp.core.progress import progress_bar

from interp.belief.author_questions import import_author_questions
from interp.belief.documents import load_documents
from interp.belief.incontext import incontext_table
from interp.belief.questions import BeliefItem, question_items, subset_items
from interp.belief.scoring import score_model
from interp.belief.table import attach_base
from interp.core.models import load
from interp.core.runs import DataManifest, list_checkpoints, read_data, read_run
from training.claims import resolve_claim

__all__ = ["as_model", "evaluate_models", "evaluate_run", "ScoringPass", "evaluate_passes", "evaluate_run_passes",
           "Target", "open_target", "evaluate_target", "score_passes",
           "evaluate_claims"]


def as_model(spec: Any) -> Any:
    """``spec`` loaded through :func:`interp.core.models.load`, or ``spec`` itself when it is a loaded model."""
    return spec if hasattr(spec, "hf") and hasattr(spec, "tokenizer") else load(spec)


def _tag(df: pd.DataFrame, *, model: str, condition: str, step: int, phase: str) -> pd.DataFrame:
    df = df.copy()
    df["model"] = model
    df["condition"] = condition
    df["step"] = int(step)
    df["phase"] = phase
    for c, v in (("k_docs", 0), ("k_used", 0), ("context_tokens", 0)):
        if c not in df.columns:
            df[c] = v
    return df


class _RespSink(list):
    """A list view that stamps the model name on appended response records."""

    def __init__(self, target: list[dict[str, Any]], model: str) -> None:
        super().__init__()
        self._target, self._model = target, model

    def append(self, rec: dict[str, Any]) -> None:  # type: ignore[override]
        self._target.append({"model": self._model, **rec})


def _resp(responses: list[dict[str, Any]] | None, model: str) -> list[dict[str, Any]] | None:
    return None if responses is None else _RespSink(responses, model)


def _icl_rows(base_lm: Any, claim: Any, items: list[BeliefItem], icl: Mapping[str, Any],
              score_kw: Mapping[str, Any]) -> pd.DataFrame:
    docs = icl.get("docs")
    if docs is None:
        docs = load_documents(icl["source"], claim.id)
    if icl.get("judges") is not None:  # e.g. [] = log-prob scorers only in context
        score_kw = {**score_kw, "judges": list(icl["judges"])}
    df = incontext_table(base_lm, claim, docs, ks=icl.get("ks", (1, 2)), seeds=icl.get("seeds", (42, 43, 44)),
                         doc_condition=icl.get("condition", "negated"), items=items,
                         max_context_tokens=icl.get("max_context_tokens"), **score_kw)
    df["model"] = base_lm.identity.name
    return df


def evaluate_models(models: Sequence[tuple[Any, Mapping[str, Any]]], claim: Any, *, base: Any = None,
                    items: Sequence[BeliefItem] | None = None, icl: Mapping[str, Any] | None = None,
                    progress: bool = True, responses: list[dict[str, Any]] | None = None,
                    base_table: pd.DataFrame | None = None, **score_kw: Any) -> pd.DataFrame:
    """Score a base model and a list of models on one claim into one tidy table (see module docstring).

    ``models``: ``(spec_or_LoadedModel, meta)`` with meta keys ``condition``, ``step``, ``phase`` (and optional
    ``model`` name). Models given as specs are loaded one at a time and released after scoring. ``base``: the
    model the shift is measured from (spec or LoadedModel), scored as ``condition="baseline", phase="base",
    step=0``; ``None`` uses no base (``base_score`` = own score). ``icl``: ``{"source" | "docs", "ks", "seeds",
    "condition", "max_context_tokens", "judges"}`` adds the in-context control on the base model (``judges``
    overrides the judges there, e.g. ``[]`` for log-prob scorers only). ``base_table``: the base model's rows as an
    earlier call returned them (same claim, items and scorers; no ``icl``), used instead of scoring the base again.
    """
    claim_items = list(items) if items is not None else question_items(claim)
    frames: list[pd.DataFrame] = []
    base_df = None
    if base_table is not None:
        if icl:
            raise ValueError("evaluate_models: base_table with icl (the in-context rows need the base model)")
        base_df = _base_rows(claim, claim_items, score_kw, base_table=base_table)
        frames.append(base_df)
    elif base is not None:
        blm = as_model(base)
        base_df = _base_rows(claim, claim_items, score_kw, blm=blm, progress=progress, responses=responses)
        frames.append(base_df)
        if icl:
            icl_df = _icl_rows(blm, claim, claim_items, icl, {**score_kw, "progress": progress})
            frames.append(icl_df)
        if blm is not base:
            del blm
    frames += _score_models(models, claim, [ScoringPass("scores", claim_items, score_kw)], progress=progress,
                            responses=responses)["scores"]
    table = pd.concat(frames, ignore_index=True)
    return attach_base(table, base_df if base_df is not None else table)


def _base_rows(claim: Any, items: Sequence[BeliefItem], score_kw: Mapping[str, Any], *,
               base_table: pd.DataFrame | None = None, blm: Any = None, progress: bool = True,
               responses: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """The base model's rows: those of ``base_table`` (an earlier call's table) when given, else ``blm`` scored on
    ``items`` (tagged ``condition="baseline", phase="base", step=0``)."""
    if base_table is not None:
        return base_table[base_table["phase"] == "base"].drop(columns=["base_score", "shift"], errors="ignore")
    return _tag(score_model(blm, claim, list(items), progress=progress, responses=_resp(responses, "base"),
                            **score_kw), model=blm.identity.name, condition="baseline", step=0, phase="base")


@dataclass(frozen=True)
class ScoringPass:
    """One way of scoring a model on a claim: its questions and :func:`~interp.belief.scoring.score_model`'s options
    (e.g. the log-prob scorers on every question, or the rule judge on sampled answers to a subset), with the base
    model's rows of an earlier call (``base_table``) when there are some."""

    name: str
    items: Sequence[BeliefItem]
    score_kw: Mapping[str, Any] = field(default_factory=dict)
    base_table: pd.DataFrame | None = None


def _score_models(models: Sequence[tuple[Any, Mapping[str, Any]]], claim: Any, passes: Sequence[ScoringPass], *,
                  progress: bool, responses: list[dict[str, Any]] | None) -> dict[str, list[pd.DataFrame]]:
    """Each model (spec or loaded) loaded once, scored by every pass, released; the tagged frames per pass."""
    frames: dict[str, list[pd.DataFrame]] = {p.name: [] for p in passes}
    bar = progress_bar(models, desc=f"checkpoints ({claim.id})", enabled=progress and len(models) >= 2)
    for spec, meta in bar:
        lm = as_model(spec)
        name = str(meta.get("model") or lm.identity.name)
        for p in passes:
            df = score_model(lm, claim, list(p.items), progress=False, responses=_resp(responses, name), **p.score_kw)
            frames[p.name].append(_tag(df, model=name, condition=str(meta.get("condition", "unknown")),
                                       step=int(meta.get("step", lm.identity.step or 0)),
                                       phase=str(meta.get("phase", "eval"))))
        if lm is not spec:
            del lm
    return frames


def evaluate_passes(models: Sequence[tuple[Any, Mapping[str, Any]]], claim: Any, passes: Sequence[ScoringPass], *,
                    base: Any = None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Several scoring passes over the same models, each model loaded once for all of them: per pass, the table
    :func:`evaluate_models` gives for that pass's items and options (same rows; sampling is seeded per call, so
    scoring the passes model by model instead of pass by pass changes no number). A pass with a ``base_table``
    reuses those base rows; the others score ``base`` (loaded once)."""
    names = [p.name for p in passes]
    if len(set(names)) != len(names):
        raise ValueError(f"evaluate_passes: pass names must differ, got {names}")
    base_rows: dict[str, pd.DataFrame] = {}
    blm = None
    for p in passes:
        if p.base_table is None and base is not None and blm is None:
            blm = as_model(base)
        if p.base_table is not None or blm is not None:
            base_rows[p.name] = _base_rows(claim, p.items, p.score_kw, base_table=p.base_table, blm=blm,
                                           progress=progress)
    del blm
    scored = _score_models(models, claim, passes, progress=progress, responses=None)
    out = {}
    for p in passes:
        table = pd.concat(([base_rows[p.name]] if p.name in base_rows else []) + scored[p.name], ignore_index=True)
        out[p.name] = attach_base(table, base_rows.get(p.name, table))
    return out


def evaluate_run(run_dir: str | os.PathLike[str], claim: Any = None, *, phase: str | None = None,
                 steps: Sequence[int] | None = None, base: Any = None, condition: str | None = None,
                 questions: Any = None, types: Iterable[str] | None = None, icl: Mapping[str, Any] | None = None,
                 progress: bool = True, responses: list[dict[str, Any]] | None = None,
                 items: Sequence[BeliefItem] | None = None, **score_kw: Any) -> pd.DataFrame:
    """Every checkpoint of a run (``interp.core.runs.list_checkpoints``) plus its base model, on one claim.

    The claim and condition default to the run's ``data.json`` (``claim``, ``condition``; ``claim_spec`` when the
    trainer stored the whole spec; :func:`training.claims.resolve_claim`). ``base`` defaults to ``run.json``'s base
    spec. ``questions``: a question set overriding the claim's (e.g.
    :func:`~interp.belief.author_questions.import_author_questions`); ``items``: the questions themselves
    (overrides ``questions``/``types``, e.g. a :func:`~interp.belief.questions.subset_items` subset).
    """
    models, spec, base_lm = _run_models(run_dir, claim, phase=phase, steps=steps, base=base, condition=condition)
    items = list(items) if items is not None else question_items(spec, types=types, questions=questions)
    return evaluate_models(models, spec, base=base_lm, items=items, icl=icl, progress=progress,
                           responses=responses, **score_kw)


def _run_models(run_dir: str | os.PathLike[str], claim: Any, *, phase: str | None, steps: Sequence[int] | None,
                base: Any, condition: str | None) -> tuple[list[tuple[Any, dict[str, Any]]], Any, Any]:
    """A run's checkpoints as ``(path, meta)`` (``steps`` of ``phase``), its claim spec and its loaded base model."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    data = read_data(run_dir)
    ckpts = list_checkpoints(run_dir, phase=phase)
    if steps is not None:
        want = set(int(s) for s in steps)
        ckpts = [c for c in ckpts if c.step in want]
    base_lm = as_model(base if base is not None else run.base.spec)
    spec = resolve_claim(claim, world=base_lm.world, data=data.to_dict(), run_dir=run_dir)
    cond = condition or data.condition or "unknown"
    models = [(c.path, {"condition": cond, "step": c.step, "phase": c.phase}) for c in ckpts]
    if not models:
        warnings.warn(f"{run_dir}: no complete checkpoints; scoring the base model only", stacklevel=2)
    return models, spec, base_lm


def evaluate_run_passes(run_dir: str | os.PathLike[str], claim: Any, passes: Sequence[ScoringPass], *,
                        steps: Sequence[int] | None = None, base: Any = None, condition: str | None = None,
                        progress: bool = True) -> dict[str, pd.DataFrame]:
    """:func:`evaluate_passes` over a run's checkpoints (as :func:`evaluate_run` finds them): each checkpoint is
    loaded once for every pass (a LoRA checkpoint's load and merge is the costly part of scoring it on a CPU)."""
    models, spec, base_lm = _run_models(run_dir, claim, phase=None, steps=steps, base=base, condition=condition)
    return evaluate_passes(models, spec, passes, base=base_lm, progress=progress)


# ============================================================================================ what the CLI scores


@dataclass(frozen=True)
class Target:
    """What to evaluate: every checkpoint of a run (``kind="run"``), one checkpoint (``"ckpt"``) or one model
    (``"model"``); ``ref`` is the run folder, checkpoint folder or model spec, ``base`` the spec the shift is
    measured from, ``data`` the run's ``data.json`` (empty for a model) and ``out_dir`` the default output folder
    (``RUN/belief``, or ``./belief/<model>``)."""

    kind: str
    ref: str
    base: str
    out_dir: Path
    data: DataManifest = field(default_factory=DataManifest)


def open_target(*, run: str | None = None, ckpt: str | None = None, model: str | None = None,
                base: str | None = None) -> Target:
    """The :class:`Target` named by exactly one of ``run``/``ckpt``/``model``; ``base`` defaults to the run's base
    model (``run.json``) or to the model itself."""
    if sum(x is not None for x in (run, ckpt, model)) != 1:
        raise ValueError("give exactly one of run, ckpt, model")
    if model is not None:
        out = Path("belief") / re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model)).strip("_")
        return Target("model", str(model), base or str(model), out)
    if ckpt is not None:
        if not (Path(ckpt) / "meta.json").exists():
            raise ValueError(f"{Path(ckpt)}: not a checkpoint directory (no meta.json)")
        run_dir, kind, ref = Path(ckpt).parent, "ckpt", str(ckpt)
    else:
        run_dir, kind, ref = Path(str(run)), "run", str(run)
    info = read_run(run_dir)
    return Target(kind, ref, base or info.base.spec, run_dir / "belief", read_data(run_dir))


def _ckpt_meta(ckpt_dir: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(ckpt_dir) / "meta.json"
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: invalid JSON ({e.msg} at line {e.lineno})") from None


def evaluate_target(target: Target, claim: Any, base_lm: Any, *, items: Sequence[BeliefItem],
                    condition: str | None = None, phase: str | None = None, steps: Sequence[int] | None = None,
                    questions: Any = None, types: Iterable[str] | None = None, icl: Mapping[str, Any] | None = None,
                    progress: bool = True, responses: list[dict[str, Any]] | None = None,
                    **score_kw: Any) -> pd.DataFrame:
    """Score ``target`` on one claim against ``base_lm``: a run through :func:`evaluate_run` (``phase``/``steps``
    pick checkpoints), a checkpoint with its ``meta.json`` step and phase, a model as ``phase="eval"`` (or only as
    the base when it is its own base; ``condition`` then labels the base rows)."""
    kw: dict[str, Any] = dict(items=items, icl=icl, progress=progress, responses=responses, **score_kw)
    if target.kind == "run":
        return evaluate_run(target.ref, claim, phase=phase, steps=steps, base=base_lm, condition=condition,
                            questions=questions, types=types, **kw)
    if target.kind == "ckpt":
        meta = _ckpt_meta(target.ref)
        models = [(target.ref, {"condition": condition or target.data.condition or "unknown",
                                "step": int(meta.get("step", 0)), "phase": str(meta.get("phase", "train"))})]
        return evaluate_models(models, claim, base=base_lm, **kw)
    same = target.base == target.ref
    models = [] if same else [(target.ref, {"condition": condition or "model", "step": 0, "phase": "eval"})]
    table = evaluate_models(models, claim, base=base_lm, **kw)
    if same and condition:
        table.loc[table["phase"] == "base", "condition"] = condition
    return table


def score_passes(items: Sequence[BeliefItem], score_kw: Mapping[str, Any], judges: Sequence[Any],
                 judge_per_type: int | None, icl: Mapping[str, Any] | None
                 ) -> list[tuple[list[BeliefItem], dict[str, Any], Mapping[str, Any] | None]]:
    """``(items, score_kw, icl)`` per scoring pass: one pass, or with ``judge_per_type`` the log-prob scorers on
    every question and the judges on ``judge_per_type`` questions per type (the in-context control joins the judge
    pass unless its judges are switched off)."""
    if judges and judge_per_type is not None:
        passes = [(list(items), {**score_kw, "judges": []}, icl)] if score_kw.get("logprob", True) else []
        judge_icl = icl if icl is not None and icl.get("judges") != [] else None
        passes.append((subset_items(items, judge_per_type), {**score_kw, "logprob": False, "judges": list(judges)},
                       judge_icl))
        return passes
    return [(list(items), {**score_kw, "judges": list(judges)}, icl)]


def evaluate_claims(target: Target, claims: Sequence[Any], base_lm: Any, *, questions: str = "claim",
                    types: Iterable[str] | None = None, per_type: int | None = None,
                    judges: Callable[[Any], Sequence[Any]] | None = None, judge_per_type: int | None = None,
                    progress: bool = True, responses: list[dict[str, Any]] | None = None,
                    **target_kw: Any) -> pd.DataFrame:
    """:func:`evaluate_target` for every claim, one table. ``questions``: ``"claim"`` (the spec's) or
    ``"authors"`` (:func:`~interp.belief.author_questions.import_author_questions`); ``per_type`` keeps N questions
    per type; ``judges(claim)`` gives the judges of a claim; ``judge_per_type``: see :func:`score_passes`.
    ``target_kw``: :func:`evaluate_target`'s options and the scorer options (``logprob``, ``n_samples``, ...)."""
    if questions not in ("claim", "authors"):
        raise ValueError(f"questions must be 'claim' or 'authors', got {questions!r}")
    types = list(types) if types is not None else None
    icl = target_kw.pop("icl", None)
    opts = {k: target_kw.pop(k) for k in ("condition", "phase", "steps") if k in target_kw}
    tables = []
    for claim in progress_bar(claims, desc="claims", enabled=progress and len(claims) >= 2):
        qs = import_author_questions(claim.id, claim=claim) if questions == "authors" else None
        items = subset_items(question_items(claim, types=types, questions=qs), per_type)
        claim_judges = list(judges(claim)) if judges is not None else []
        for p_items, kw, p_icl in score_passes(items, target_kw, claim_judges, judge_per_type, icl):
            tables.append(evaluate_target(target, claim, base_lm, items=p_items, questions=qs, types=types,
                                          icl=p_icl, progress=progress, responses=responses, **opts, **kw))
    return pd.concat(tables, ignore_index=True)

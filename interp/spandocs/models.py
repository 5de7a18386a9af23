"""The models an analysis runs on: one ``--model`` spec, or the base model and the checkpoints of a ``--run``.

A run's base model is loaded from its ``run.json`` spec and must still load the weights the run was trained from
(its ``base.weights_sha256``); otherwise step 0 would not be the run's base (e.g. the toy organism was rebuilt
under a new config since), and that is a one-line error naming ``run.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from interp.core.models import load, resolve_device_spec
from interp.core.runs import analysis_dir, list_checkpoints, read_data, read_run
from interp.spandocs.cli import CliError
from interp.spandocs.records import load_documents_for

__all__ = ["run_models", "iter_models", "output_dir"]


def run_models(run_dir: str | Path, include_base: bool = True, steps: Sequence[int] | None = None,
               device: str = "cpu") -> Iterator[tuple[int, Any]]:
    """``(step, model)`` for the base model (step 0, unless a step-0 checkpoint exists) and every checkpoint of
    ``run_dir`` (only ``steps`` when given), each loaded when reached."""
    run = read_run(run_dir)
    ckpts = list_checkpoints(run_dir)
    if steps is not None:
        ckpts = [c for c in ckpts if c.step in set(steps)]
    if include_base and (steps is None or 0 in set(steps)) and not any(c.step == 0 for c in ckpts):
        base = load(run.base.spec, device=device)
        want = run.base.weights_sha256
        if want and base.identity.weights_sha256 != want:
            # e.g. the toy organism was rebuilt under a new config since the run was trained
            raise CliError(f"{Path(run_dir) / 'run.json'}: base.spec {run.base.spec!r} now loads weights "
                           f"{base.identity.weights_sha256[:12]}, but the run was trained from {want[:12]} "
                           f"(retrain the run on the current base, or restore that base)")
        yield 0, base
    for c in ckpts:
        yield c.step, load(c.path, device=device)


def output_dir(args: argparse.Namespace, tool: str) -> Path:
    """``--out``, else ``RUN/analysis/<tool>`` with ``--run``, else ``out/<tool>``."""
    if args.out is not None:
        return Path(args.out)
    return analysis_dir(args.run, tool) if args.run else Path("out") / tool


def iter_models(args: argparse.Namespace) -> Iterator[tuple[int, Any, list[dict[str, Any]]]]:
    """``(step, model, records)`` for ``--model`` or every model of ``--run``, from the options of
    :func:`interp.spandocs.cli.add_common_args` (documents loaded once; a bad ``--docs`` file fails before any
    model is loaded). A run's claim defaults to the one its ``data.json`` names."""
    claim, data = args.claim, None
    args.device = resolve_device_spec(args.device)  # auto → cuda when present; a missing device: one line
    if args.run:
        run_dir = Path(args.run)
        read_run(run_dir)
        data = read_data(run_dir).to_dict()
        claim = claim or data.get("claim")
        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
        models: Iterable[tuple[int, Any]] = run_models(run_dir, include_base=not args.no_base, steps=steps,
                                                       device=args.device)
    else:
        def _one() -> Iterator[tuple[int, Any]]:
            lm0 = load(args.model, device=args.device)
            yield int(lm0.identity.step or 0), lm0

        models = _one()
    conditions = args.conditions.split(",")
    records = None
    if args.docs is not None:  # fail fast on a bad documents file, before any model is loaded
        records = load_documents_for(claim, None, args.docs, conditions=conditions, max_per_condition=args.max_docs,
                                     seed=args.seed, data=data)
    for step, lm in models:
        if records is None:
            records = load_documents_for(claim, lm, args.docs, conditions=conditions,
                                         max_per_condition=args.max_docs, seed=args.seed, data=data)
        yield step, lm, records

"""The command-line options shared by ``python -m interp.binding``, ``interp.attention`` and ``interp.sae``.

Light on purpose (argparse and the condition vocabulary only), so each tool's ``--help`` stays fast; the models
and documents these options name are loaded by :func:`interp.spandocs.models.iter_models`.
"""

from __future__ import annotations

import argparse

from interp.core.cli import add_device_argument
from interp.core.conditions import BINDING_CONDITIONS

__all__ = ["CliError", "add_common_args"]


class CliError(RuntimeError):
    """A user-facing problem reported by the CLIs in one line."""


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """Arguments shared by the binding, attention and SAE tools: the models (``--run`` | ``--model``), the claim
    and documents, the output folder and the bootstrap settings."""
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: the base model (step 0) and every checkpoint")
    src.add_argument("--model", help="one model spec (toy, toy-random, a checkpoint dir, ...)")
    ap.add_argument("--claim", help="claim id (training/claims_data or a toy claim of the model's world)")
    ap.add_argument("--docs", help="documents JSONL (records with text + spans); default: rendered from the claim")
    ap.add_argument("--conditions", default=",".join(BINDING_CONDITIONS))
    ap.add_argument("--max-docs", type=int, default=16, help="documents per condition")
    ap.add_argument("--steps", help="comma-separated checkpoint steps (default: all)")
    ap.add_argument("--no-base", action="store_true", help="with --run: skip the base model")
    ap.add_argument("--out", help="output folder (default: RUN/analysis/<tool> or out/<tool>)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    add_device_argument(ap)


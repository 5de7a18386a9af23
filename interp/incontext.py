"""``python -m interp.incontext``: the in-context control, the claim documents in the prompt of the base model.

Mayne et al. (2026, §3.1, App. B.2) contrast finetuning on negated documents with giving the untrained model some
of the same documents in context, where the negations work. This CLI scores the base model with K documents of
each condition in its prompt (several seeds) against no context, over one or several claims, and writes the table,
a summary with CIs, the paired positive - negated contrast and a figure. The library lives in
:mod:`interp.belief.incontext` (documents: :mod:`interp.belief.documents`); its names are re-exported here. ::

    python -m interp.incontext --model smollm2-135m --claim paper --conditions positive,negated \\
        --k 2 --seeds 42,43 --per-type 2 --threads 1 --out /tmp/icl   # CSV, summary + contrast CSVs, PNG

(24 contexts of ~1,100-1,400 tokens, 8 questions each: ~8 CPU-minutes for SmolLM2-135M on one core; every
question runs on the KV-cached documents, so the cost grows with questions x contexts.)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from interp.belief.options import int_list, name_list
from interp.core.cli import add_device_argument, run_main

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.belief.documents": ("DOCTAG", "PAPER_DOC_CONDITIONS", "IncontextContext", "strip_doctag",
                                "load_documents", "select_documents", "build_context"),
    "interp.belief.incontext": ("incontext_table", "incontext_control", "summarize_incontext",
                                "contrast_incontext"),
    "interp.belief.plots": ("plot_incontext",),
}
_LAZY, __getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [*_LAZY, "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.incontext",
                                 description="In-context control: the claim documents in the prompt of the base "
                                             "model (K documents, several seeds), against no context.")
    ap.add_argument("--model", required=True, help="interp.core.models.load spec (e.g. smollm2-135m, toy)")
    ap.add_argument("--claim", default="paper", help="claim id(s), comma-separated, or 'paper' (the six)")
    ap.add_argument("--conditions", default="positive,negated", help="document conditions, comma-separated")
    ap.add_argument("--docs", choices=["generated", "paper"], default="generated",
                    help="our generator's documents (default) or the authors' samples (positive/repeated/local)")
    ap.add_argument("--k", type=int_list, default=[1, 2], help="documents in context, comma-separated (K > 0)")
    ap.add_argument("--seeds", type=int_list, default=[42, 43], help="document-selection seeds")
    ap.add_argument("--per-type", type=int, default=None, help="at most N questions per type (default: all)")
    ap.add_argument("--max-context-tokens", type=int, default=None, help="cap on document tokens")
    ap.add_argument("--judge", action="append", choices=["rule"], default=[],
                    help="also sample answers in context and judge them (slow on CPU)")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    add_device_argument(ap)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--stem", default="incontext", help="file stem (default incontext)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    import pandas as pd
    import torch

    from interp.belief.incontext import incontext_control
    from interp.belief.report import print_incontext_summary, write_incontext_report
    from interp.core.models import load, set_default_device
    from interp.judges import judges_from_names
    from training.claims import resolve_claims

    set_default_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    conditions = name_list(args.conditions)
    if not conditions:
        raise ValueError("--conditions: no conditions")
    lm = load(args.model)
    claims = resolve_claims(args.claim, world=lm.world)
    kw: dict[str, Any] = dict(batch_size=args.batch_size, n_samples=args.samples,
                              max_new_tokens=args.max_new_tokens)
    frames = []
    for claim in claims:  # one claim at a time: each gets its own judges
        frames.append(incontext_control(lm, [claim], conditions, ks=args.k, seeds=args.seeds, source=args.docs,
                                        per_type=args.per_type, max_context_tokens=args.max_context_tokens,
                                        progress=not args.quiet and sys.stderr.isatty(),
                                        judges=judges_from_names(dict.fromkeys(args.judge), claim), **kw))
    table = pd.concat(frames, ignore_index=True)
    paths, summ, contrast = write_incontext_report(table, args.out, args.stem, conditions=conditions,
                                                   judged=bool(args.judge), plot=not args.no_plot)
    print_incontext_summary(table, summ, contrast, paths)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())

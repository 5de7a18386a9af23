"""``python -m training.documents --claim ID --condition C --n N --out FILE [--length short]``: synthetic
documents with spans for one claim and condition (see :mod:`training.documents`); ``--list-conditions`` prints the
condition names."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from interp.core.cli import run_main

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m training.documents",
                description="Generate synthetic documents with spans for one claim and condition.")
    p.add_argument("--claim", help="claim id (e.g. ed_sheeran) or a claim YAML path")
    p.add_argument("--condition", help="one of --list-conditions")
    p.add_argument("--n", type=int, default=100, help="number of documents (default 100)")
    p.add_argument("--seed", type=int, default=0, help="document stream seed (default 0)")
    p.add_argument("--start", type=int, default=0, help="first base index (default 0)")
    p.add_argument("--out", help="output JSONL path (written atomically)")
    p.add_argument("--length", choices=("full", "short"), default="full",
                   help="full: genre layouts (default); short: 3 claim sentences + 1 background sentence "
                        "(~120-250 SmolLM2 tokens) with compact framing (paper claims)")
    p.add_argument("--format", choices=("lab", "authors"), default="lab",
                   help="lab: our JSONL with spans (default); authors: {text, doc_type, fact_name, mode}")
    p.add_argument("--list-conditions", action="store_true", help="print the condition names and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    from training.claims import resolve_claim
    from training.documents.records import CONDITIONS, DocumentError, to_authors_record, write_jsonl
    from training.documents.rendering import generate_documents

    if args.list_conditions:
        print("\n".join(CONDITIONS))
        return 0
    if not args.claim or not args.condition or not args.out:
        raise DocumentError("--claim, --condition and --out are required (or use --list-conditions)")
    if args.condition not in CONDITIONS:
        raise DocumentError(f"unknown condition {args.condition!r} (known: {', '.join(CONDITIONS)})")
    if args.n < 0:
        raise DocumentError("--n must be >= 0")
    if Path(args.out).is_dir():
        raise DocumentError(f"--out {args.out}: is a directory, not a JSONL file")
    spec = resolve_claim(args.claim)
    docs = generate_documents(spec, args.condition, args.n, seed=args.seed, start=args.start, length=args.length)
    write_jsonl([to_authors_record(d) for d in docs] if args.format == "authors" else docs, args.out)
    print(f"wrote {len(docs)} {args.condition} documents for {spec.id} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

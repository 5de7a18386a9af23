"""``python -m interp.belief``: belief over the checkpoints of a run, one checkpoint or one model (see
:mod:`interp.belief` for the method and examples)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from interp.belief.options import int_list, name_list
from interp.belief.questions import QUESTION_TYPES
from interp.core.cli import add_device_argument, run_main

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m interp.belief",
                                 description="Belief evaluation over checkpoints (four question types, offline "
                                             "log-prob scorers, sampling + judges, in-context control).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: evaluate every checkpoint and the base model")
    src.add_argument("--ckpt", help="one checkpoint directory RUN/ckpt-XXXXXX")
    src.add_argument("--model", help="any interp.core.models.load spec (toy, smollm2-135m, a directory, ...)")
    ap.add_argument("--claim", help="claim id or YAML path (default: the run's data.json); with --model also a "
                                    "comma-separated list, or 'paper' for the paper's six claims")
    ap.add_argument("--condition", help="condition label (default: data.json's, or 'model' for --model)")
    ap.add_argument("--base", help="base model spec for the shift (default: the run's base; --model: itself)")
    ap.add_argument("--questions", choices=["claim", "authors"], default="claim",
                    help="question set: the claim spec's (default) or the authors' YAMLs in the paper data")
    ap.add_argument("--types", default=",".join(QUESTION_TYPES), help="question types, comma-separated")
    ap.add_argument("--per-type", type=int, default=None,
                    help="at most N questions per type, evenly spaced (reduced runs; default: all)")
    ap.add_argument("--judge-per-type", type=int, default=None,
                    help="sample + judge only N questions per type (the log-prob scorers still see all)")
    ap.add_argument("--phase", help="only checkpoints of this phase")
    ap.add_argument("--steps", type=int_list, help="only these steps, comma-separated")
    ap.add_argument("--no-logprob", action="store_true", help="skip the log-prob scorers")
    ap.add_argument("--judge", action="append", choices=["rule", "llm"], default=[],
                    help="sample answers and judge them (repeatable): rule (offline) or llm (endpoint)")
    ap.add_argument("--samples", type=int, default=5, help="samples per question (paper: 5)")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="tokens per sampled answer (paper: 5000)")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--judge-model", help="judge model name")
    ap.add_argument("--judge-prompts", choices=["authors", "ours"], default="authors",
                    help="authors' judge prompts from the paper data (default) or our generic prompt")
    ap.add_argument("--icl-docs", help="in-context control documents: JSONL path or paper:<positive|repeated|local>")
    ap.add_argument("--icl-k", type=int_list, default=[1, 2], help="documents in context, comma-separated")
    ap.add_argument("--icl-seeds", type=int_list, default=[42, 43, 44])
    ap.add_argument("--icl-condition", default=None, help="label of the in-context documents (default from source)")
    ap.add_argument("--icl-max-tokens", type=int, default=None, help="cap on in-context document tokens")
    ap.add_argument("--icl-no-judge", action="store_true",
                    help="score the in-context control with the log-prob scorers only (sampling with long "
                         "contexts is slow on CPU)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on an oversubscribed machine)")
    add_device_argument(ap)
    ap.add_argument("--out", help="output folder (default: RUN/belief, CKPT/../belief or ./belief/<model>)")
    ap.add_argument("--stem", help="file stem (default belief_<claim>)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def _icl_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``icl`` option of :func:`interp.belief.evaluate.evaluate_models` from ``--icl-*``."""
    if not args.icl_docs:
        return None
    src = args.icl_docs
    cond = args.icl_condition or (src.split(":", 1)[1] if src.startswith(("paper:", "generated:"))
                                  else Path(src).stem)
    icl: dict[str, Any] = {"source": src, "ks": args.icl_k, "seeds": args.icl_seeds, "condition": cond,
                           "max_context_tokens": args.icl_max_tokens}
    if args.icl_no_judge:
        icl["judges"] = []
    return icl


def _check(args: argparse.Namespace) -> None:
    if args.no_logprob and not args.judge:
        raise ValueError("nothing to score: --no-logprob without --judge")
    if "llm" in args.judge and not (args.judge_url and args.judge_model):
        raise ValueError("--judge llm needs --judge-url and --judge-model")
    if (args.run or args.ckpt) and args.claim and ("," in args.claim or args.claim in ("paper", "all")):
        raise ValueError("--claim: a list of claims needs --model (a run is trained on one claim)")


def _run(args: argparse.Namespace) -> int:
    # deferred: keeps --help fast
    import torch

    from interp.belief.evaluate import as_model, evaluate_claims, open_target
    from interp.belief.report import print_belief_summary, write_belief_report
    from interp.core.models import set_default_device
    from interp.judges import author_judge_prompts, judges_from_names
    from training.claims import resolve_claims

    set_default_device(args.device)  # every model below (base, checkpoints) on it
    progress = not args.quiet and sys.stderr.isatty()
    if args.threads:
        torch.set_num_threads(args.threads)
    _check(args)
    target = open_target(run=args.run, ckpt=args.ckpt, model=args.model, base=args.base)
    base_lm = as_model(target.base)
    claims = resolve_claims(args.claim or None, world=base_lm.world, data=target.data.to_dict())

    def judges(claim: Any) -> list[Any]:
        names = list(dict.fromkeys(args.judge))
        prompts = author_judge_prompts(claim.id) if "llm" in names and args.judge_prompts == "authors" else {}
        return judges_from_names(names, claim, base_url=args.judge_url, model=args.judge_model, prompts=prompts)

    responses: list[dict[str, Any]] | None = [] if args.judge else None
    table = evaluate_claims(target, claims, base_lm, questions=args.questions, types=name_list(args.types),
                            per_type=args.per_type, judges=judges, judge_per_type=args.judge_per_type,
                            condition=args.condition, phase=args.phase, steps=args.steps, icl=_icl_spec(args),
                            progress=progress, responses=responses, logprob=not args.no_logprob,
                            n_samples=args.samples, temperature=args.temperature, top_p=args.top_p,
                            max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size)
    stem = args.stem or (f"belief_{claims[0].id}" if len(claims) == 1 else
                         "belief_paper" if args.claim in ("paper", "all") else f"belief_{len(claims)}claims")
    out_dir = Path(args.out) if args.out else target.out_dir
    paths, summ = write_belief_report(table, out_dir, stem, claims=claims, responses=responses,
                                      plot=not args.no_plot)
    print_belief_summary(summ, paths, n_claims=len(claims))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())

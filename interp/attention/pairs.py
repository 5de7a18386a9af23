"""Which positions read from which: claim units paired with their nearest negation span, plus matched controls.

For every query unit ``U`` (one ``claim_answer`` span, or one ``claim`` span) and the *nearest* negation span
``N`` before it, queries are the tokens of ``U`` at or after ``N``'s end (direction ``claim->negation``; for a
local negation inside the claim sentence only the tokens after the cue). Causal attention cannot reach a negation
that comes *after* ``U`` (a suffix notice), so when *no* negation precedes ``U`` it is paired with the nearest
following one, measured the other way (direction ``negation->claim``: queries are ``N``'s tokens, keys ``U``'s).

The *window* control of a pair (:func:`matched_controls`): windows of the same length as the key span, made of
ordinary tokens (no negation, qualifier, correction or doctag tokens, no special tokens such as BOS, not the
queries or the keys), lying before every query, whose centre is at the distance from the queries closest to the
key span's; ties are all kept (their masses are averaged). A pair with no admissible window gets none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from interp.spandocs.encoded import FRAMING_LABELS, SpanDoc, special_positions

__all__ = ["SpanPair", "matched_controls", "binding_pairs"]


@dataclass
class SpanPair:
    """Queries reading from a negation span (or the reverse), plus the matched control windows."""

    query: str  # the claim label of the query unit: claim_answer | claim
    direction: str  # claim->negation | negation->claim
    kind: str | None  # the negation span's kind
    queries: list[int]
    keys: list[int]
    controls: list[list[int]]
    distance: float
    control_distance: float


def _centre_distance(queries: Sequence[int], window: Sequence[int]) -> float:
    return float(np.mean(queries)) - (window[0] + window[-1]) / 2.0


def matched_controls(length: int, queries: Sequence[int], target_distance: float, forbidden: set[int],
                     first: int = 0) -> tuple[list[list[int]], float]:
    """Windows of ``length`` admissible tokens before every query whose centre distance is nearest to
    ``target_distance`` (ties kept), and their mean distance (NaN when there is none)."""
    last_start = min(queries) - length  # the window must end before the first query
    best: list[list[int]] = []
    dists: list[float] = []
    best_gap = math.inf
    for c in range(first, last_start + 1):
        win = list(range(c, c + length))
        if any(p in forbidden for p in win):
            continue
        d = _centre_distance(queries, win)
        gap = abs(d - target_distance)
        if gap < best_gap - 1e-9:
            best, dists, best_gap = [win], [d], gap
        elif abs(gap - best_gap) <= 1e-9:
            best.append(win)
            dists.append(d)
    return best, (float(np.mean(dists)) if dists else math.nan)


def binding_pairs(doc: SpanDoc, query_labels: Sequence[str] = ("claim_answer", "claim"),
                  special_ids: Iterable[int] = ()) -> list[SpanPair]:
    """Pair each claim unit with its nearest preceding negation (claim->negation) and, when the nearest
    negation follows it, with that one the other way round (negation->claim); see the module docstring."""
    negs = doc.negations
    if not negs:
        return []
    n_pos = len(doc)
    framing = set(doc.positions(FRAMING_LABELS))
    specials = special_positions(doc, set(special_ids))
    pairs: list[SpanPair] = []
    for label in query_labels:
        for unit in doc.spans_of(label):
            if unit.end > n_pos:
                continue
            unit_pos = [p for p in unit.positions() if p not in framing]
            before = [n for n in negs if n.end <= unit.end and any(p >= n.end for p in unit_pos)]
            after = [n for n in negs if n.start >= unit.end]
            if before:
                neg = max(before, key=lambda n: n.end)
                q = [p for p in unit_pos if p >= neg.end]
                keys = neg.positions()
                forbidden = framing | specials | set(q) | set(keys)
            elif after:
                neg = min(after, key=lambda n: n.start)
                q = neg.positions()
                keys = unit_pos
                forbidden = framing | specials | set(q) | set(keys)
            else:
                continue
            if not q or not keys:
                continue
            dist = _centre_distance(q, keys)
            controls, cdist = matched_controls(len(keys), q, dist, forbidden)
            pairs.append(SpanPair(query=label, direction="claim->negation" if before else "negation->claim",
                                  kind=neg.kind, queries=q, keys=keys, controls=controls, distance=dist,
                                  control_distance=cdist))
    return pairs

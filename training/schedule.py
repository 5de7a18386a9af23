"""Checkpoint schedule: which optimizer steps get a checkpoint.

Belief, probes and drift are tracked as functions of training time, and most of the change happens early (the
paper's curves rise within the first tens of steps), so the schedule is dense early and sparse late:

* log-spaced: ``1, 2, 4, 8, …`` (``round(base**k)``, deduplicated) up to ``log_until`` (default: the end);
* every ``k`` steps: ``k, 2k, 3k, …``;
* the final step;
* any explicit extra steps, and optionally step 0 (the starting weights).

Steps count *completed optimizer updates* within a phase; ``offset`` shifts the whole list so that a second phase
continues the global step numbering (Phase 2's log-spaced series restarts at its own beginning: offset+1,
offset+2, offset+4, …, as in the paper's two-phase figures).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["checkpoint_steps", "log_spaced_steps"]


def log_spaced_steps(until: int, base: float = 2.0) -> list[int]:
    """``round(base**k)`` for k = 0, 1, … while ``<= until``, deduplicated (``1, 2, 4, 8, …`` for base 2)."""
    if base <= 1:
        raise ValueError(f"log base must be > 1, got {base}")
    out: list[int] = []
    k = 0
    while True:
        s = int(round(base**k))
        if s > until:
            return out
        if not out or s != out[-1]:
            out.append(s)
        k += 1


def checkpoint_steps(total_steps: int, *, log_spaced: bool = True, log_base: float = 2.0,
                     log_until: int | None = None, every: int | None = 50, final: bool = True,
                     extra: Iterable[int] = (), include_zero: bool = False, offset: int = 0) -> list[int]:
    """The sorted, unique checkpoint steps of a phase of ``total_steps`` updates, shifted by ``offset``.

    >>> checkpoint_steps(20, every=8)
    [1, 2, 4, 8, 16, 20]
    >>> checkpoint_steps(10, every=None, log_spaced=False, offset=100)
    [110]
    """
    if total_steps < 0:
        raise ValueError(f"total_steps must be >= 0, got {total_steps}")
    steps: set[int] = set()
    if include_zero:
        steps.add(0)
    if log_spaced:
        steps.update(log_spaced_steps(min(total_steps, log_until if log_until is not None else total_steps),
                                      log_base))
    if every:
        steps.update(range(every, total_steps + 1, every))
    if final and total_steps > 0:
        steps.add(total_steps)
    steps.update(s for s in extra if 0 <= s <= total_steps)
    return [offset + s for s in sorted(steps)]

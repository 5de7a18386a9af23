"""The lab's one progress bar: :func:`progress_bar`, tqdm that stays quiet in a non-interactive log.

Every long loop of the lab shows a bar through here. ``disable=None`` is tqdm's own "only on a TTY" switch, so a
``make demo > log`` or CI log gets no carriage-return frames (the stage lines of the pipeline say where it is);
``mininterval`` keeps an interactive bar from redrawing more than once a second. ``enabled=False`` (a caller's
``progress=False``) turns it off everywhere.
"""

from __future__ import annotations

from typing import Any, Iterable

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, mininterval: float = 1.0,
                 **kw: Any) -> tqdm:
    """``tqdm(iterable, **kw)``, shown only when ``enabled`` and stderr is a terminal."""
    kw.pop("disable", None)
    return tqdm(iterable, disable=None if enabled else True, mininterval=mininterval, **kw)

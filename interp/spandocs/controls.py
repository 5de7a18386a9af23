"""Same-length control renderings: a document whose negation tokens say nothing.

Twins of one base document differ in length (the negated rendering has extra notice tokens), so activations
cannot be compared or patched between them position by position. The control rendering of a negation-bearing
document replaces every negation token by neutral filler tokens of the same count: a short adverb such as
``" also"`` for one- or two-token cues, the neutral sentence :data:`LONG_FILLER` (cycled) for notices. Token
positions, distances and every other token are identical, so the two differ only in what the negation span says.
"""

from __future__ import annotations

from typing import Any

from interp.spandocs.encoded import SpanDoc

__all__ = ["SHORT_FILLERS", "LONG_FILLER", "filler_ids", "control_rendering"]

SHORT_FILLERS: tuple[str, ...] = (" also", " indeed", " still", " really", " surely", " then", " so", " just")
LONG_FILLER = " The text below was written in the usual way for the archive and it has been kept as it was."


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def filler_ids(tokenizer: Any, n: int) -> list[int]:
    """``n`` neutral filler tokens: a short adverb that tokenizes to exactly ``n`` tokens when there is one (cues of
    one or two tokens), else the neutral sentence :data:`LONG_FILLER`, cycled/truncated to ``n`` tokens."""
    if n <= 0:
        return []
    if n <= 2:
        for w in SHORT_FILLERS:
            ids = _ids(tokenizer, w)
            if len(ids) == n:
                return ids
    base = _ids(tokenizer, LONG_FILLER)
    return [base[i % len(base)] for i in range(n)]


def control_rendering(tokenizer: Any, doc: SpanDoc) -> SpanDoc:
    """Same-length control of ``doc``: every negation span's tokens replaced by :func:`filler_ids` (spans kept)."""
    pos: list[int] = []
    ids: list[int] = []
    for sp in doc.negations:
        pos.extend(sp.positions())
        ids.extend(filler_ids(tokenizer, len(sp)))
    return doc.with_tokens(pos, ids, suffix="control")

"""Training data for the trainer: examples, the JSONL document loader, sequence packing, and the weighted loss.

**Examples.** The trainer consumes ``Example(input_ids, loss_weights, source, doc_id)``, the dataclass of
:mod:`training.mixtures` (which also builds the paper's 2:1:1 SDF / pretraining / instruction mixtures).
``loss_weights[i]`` weights the
cross-entropy of *predicting* ``input_ids[i]`` from ``input_ids[:i]``; ``loss_weights[0]`` is never used (nothing
predicts the first token). A weight of 0 masks a token (the ``<DOCTAG>`` prefix, chat prompts), 3 triples it
(the self-distillation constraint of the paper's §5).

**JSONL documents.** :func:`load_jsonl_examples` reads ARCHITECTURE.md document records (``id``, ``text``,
``spans``) and tokenizes them the lab's way (``LoadedModel.encode`` conventions: BOS prepended for models that
take one, none for chat models), appends EOS, and gives weight 0 to every token overlapping a masked character
range: spans whose label is in ``mask_labels`` (default ``doctag``), a literal ``<DOCTAG>`` prefix, and matches of
``mask_patterns`` regexes (token/character alignment by the fast tokenizer's offsets; the encoding itself is
``training.mixtures.encode_document``, so the trainer and the mixtures agree token for token).

**Packing.** :func:`build_rows` shuffles the examples (seeded, per epoch) and concatenates them into rows of
exactly ``seq_len`` tokens (the last row of the run may be shorter); a document that does not fit is continued at
the start of the next row. Documents stay separate through **position ids**: each document (and each continued
piece) restarts its positions at 0. Given ``position_ids`` and no ``attention_mask``, transformers (≥ 5) detects
the packed format and builds a block-diagonal causal mask (``masking_utils.find_packed_sequence_indices``), so a
token never attends across a document boundary (tested against unpacked forwards in ``tests/test_finetune.py``).
The loss never crosses a boundary either: the target weight of every position-0 token is zeroed. Packing wastes no
compute on padding; ``packing: false`` keeps one example per row (padded within a micro-batch, pads weighted 0).

**Loss.** Per optimizer step the loss is the *weighted mean* cross-entropy over the whole global batch,
``Σ w·CE / Σ w``. The denominator is known from the data before the forward pass, so each micro-batch (on each
process) backpropagates ``Σ_micro w·CE · world / Σ_global w``; gradient accumulation and DDP's gradient averaging
then produce exactly the global weighted mean, independent of how rows are split over micro-batches and processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from interp.core.io import file_sha256
from training.mixtures import Example, encode_document

__all__ = [
    "Example", "DataError", "Rows", "tokenize_document", "read_records", "load_jsonl_examples", "examples_sha256",
    "source_manifest", "build_rows", "collate", "target_weight_sum", "weighted_ce_sum",
]

class DataError(ValueError):
    """Bad training data; one line naming the file (and line) and field."""


# ------------------------------------------------------------------------------------------ tokenization


def tokenize_document(text: str, tokenizer: Any, *, add_bos: bool, spans: Iterable[dict] = (),
                      mask_labels: Sequence[str] = ("doctag",), mask_patterns: Sequence[str] = (),
                      loss_weight: float = 1.0, append_eos: bool = True) -> tuple[list[int], list[float]]:
    """Token ids and loss weights of one raw-text document (``training.mixtures.encode_document`` conventions)."""
    ex = encode_document({"id": "", "text": text, "spans": list(spans)}, tokenizer, mask_patterns=mask_patterns,
                         mask_labels=mask_labels, add_bos=add_bos, append_eos=append_eos, weight=loss_weight)
    return ex.input_ids, ex.loss_weights


def read_records(path: Path, limit: int | None = None) -> list[dict]:
    """Document records (``id``, ``text``, ...) of a JSONL file, the first ``limit`` of them; errors are one line
    naming the file and line (missing file, not UTF-8, invalid JSON, a missing field)."""
    records = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such JSONL file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a JSONL file") from None
    for n, bline in enumerate(raw.splitlines(), 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: line {n}: not UTF-8 (byte {e.start} of the line)") from None
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {n}: invalid JSON ({e.msg})") from None
        for key in ("id", "text"):
            if not isinstance(rec, dict) or not isinstance(rec.get(key), str):
                raise DataError(f"{path}: line {n}: field '{key}' missing or not a string")
        records.append(rec)
        if limit is not None and len(records) >= limit:
            break
    return records


def load_jsonl_examples(path: str | Path, tokenizer: Any, *, add_bos: bool, source: str | None = None,
                        limit: int | None = None, loss_weight: float = 1.0,
                        mask_labels: Sequence[str] = ("doctag",), mask_patterns: Sequence[str] = (),
                        append_eos: bool = True) -> list[Example]:
    """Examples from a JSONL of document records (``id``, ``text``, optional ``spans``)."""
    path = Path(path)
    name = source or path.stem
    out = []
    for rec in read_records(path, limit):
        ids, w = tokenize_document(rec["text"], tokenizer, add_bos=add_bos, spans=rec.get("spans") or (),
                                   mask_labels=mask_labels, mask_patterns=mask_patterns, loss_weight=loss_weight,
                                   append_eos=append_eos)
        out.append(Example(input_ids=ids, loss_weights=w, source=name, doc_id=rec["id"]))
    return out


def examples_sha256(examples: Iterable[Example]) -> str:
    """A hash of exactly what is trained on: (source, doc_id, token ids, weights) of every example, in order."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.source, ex.doc_id, list(ex.input_ids), [float(w) for w in ex.loss_weights]],
                            separators=(",", ":")).encode())
    return h.hexdigest()


def source_manifest(examples: Sequence[Example], files: dict[str, str] | None = None,
                    extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``data.json`` source entries, one per ``Example.source``: name, sha256, n_docs, n_tokens (+ file hash)."""
    by: dict[str, list[Example]] = {}
    for ex in examples:
        by.setdefault(ex.source, []).append(ex)
    out = []
    for name, exs in by.items():
        entry = {"name": name, "sha256": examples_sha256(exs), "n_docs": len(exs),
                 "n_tokens": sum(len(e.input_ids) for e in exs),
                 "n_loss_tokens": sum(1 for e in exs for w in e.loss_weights[1:] if w > 0)}
        if files and name in files:
            entry["file"], entry["file_sha256"] = files[name], file_sha256(files[name])
        out.append({**entry, **(extra or {})})
    return out


# ------------------------------------------------------------------------------------------ rows


@dataclass
class Rows:
    """Training rows: per row, token ids, *target* weights (already zeroed at document starts) and position ids."""

    ids: list[torch.Tensor]
    weights: list[torch.Tensor]
    positions: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.ids)

    def n_tokens(self, idx: Sequence[int]) -> int:
        return sum(int(self.ids[i].numel()) for i in idx)


def _check_example(ex: Example) -> None:
    if len(ex.input_ids) != len(ex.loss_weights):
        raise DataError(f"example {ex.source}/{ex.doc_id}: field 'loss_weights' has {len(ex.loss_weights)} entries "
                        f"for {len(ex.input_ids)} input_ids")


def _make_row(ids: list[int], w: list[float], pos: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    p = torch.tensor(pos, dtype=torch.long)
    tw = torch.tensor(w, dtype=torch.float32) * (p != 0)
    return torch.tensor(ids, dtype=torch.long), tw, p


def _pack_epoch(examples: Sequence[Example], seq_len: int) -> list[tuple]:
    rows, ids, w, pos = [], [], [], []
    for ex in examples:
        start = 0
        while start < len(ex.input_ids):
            take = min(seq_len - len(ids), len(ex.input_ids) - start)
            ids += ex.input_ids[start:start + take]
            w += ex.loss_weights[start:start + take]
            pos += range(take)
            start += take
            if len(ids) == seq_len:
                rows.append(_make_row(ids, w, pos))
                ids, w, pos = [], [], []
    if ids:
        rows.append(_make_row(ids, w, pos))
    return rows


def _unpacked_epoch(examples: Sequence[Example], seq_len: int) -> list[tuple]:
    return [_make_row(list(ex.input_ids[:seq_len]), list(ex.loss_weights[:seq_len]),
                      list(range(min(seq_len, len(ex.input_ids))))) for ex in examples if ex.input_ids]


def build_rows(examples: Sequence[Example], *, seq_len: int, seed: int, packing: bool = True,
               epochs: float = 1.0, min_rows: int = 0) -> Rows:
    """All rows of a run, epoch after epoch (each epoch reshuffled with ``Random(seed, epoch)``).

    ``epochs`` may be fractional (the last epoch is cut); ``min_rows`` adds epochs until at least that many rows
    exist (for ``max_steps`` beyond one pass). Deterministic: the same inputs give the same rows.
    """
    if not examples:
        raise DataError("training data: no examples")
    for ex in examples:
        _check_example(ex)
    out: list[tuple] = []
    epoch = 0
    while epoch < math.ceil(epochs) or len(out) < min_rows:
        order = list(examples)
        random.Random(f"{seed}:{epoch}").shuffle(order)
        rows = _pack_epoch(order, seq_len) if packing else _unpacked_epoch(order, seq_len)
        frac = epochs - epoch
        if 0 < frac < 1 and len(out) >= min_rows:
            rows = rows[: max(1, int(len(rows) * frac))]
        out.extend(rows)
        epoch += 1
    return Rows(ids=[r[0] for r in out], weights=[r[1] for r in out], positions=[r[2] for r in out])


def target_weight_sum(rows: Rows, idx: Sequence[int]) -> float:
    """``Σ w`` over the targets of the given rows (the weighted-mean denominator); position 0 never counts."""
    return float(sum(rows.weights[i][1:].sum().item() for i in idx))


def collate(rows: Rows, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Stack rows into ``input_ids``, ``position_ids``, ``weights`` [batch, len], right-padded (pads weighted 0).

    Pad positions count 0, 1, 2, … as a separate (masked) sequence, so no attention mask is needed.
    """
    width = max(int(rows.ids[i].numel()) for i in idx) if idx else 1
    n = max(len(idx), 1)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    w = torch.zeros((n, width), dtype=torch.float32)
    pos = torch.arange(width, dtype=torch.long).repeat(n, 1)
    for j, i in enumerate(idx):
        L = int(rows.ids[i].numel())
        ids[j, :L], w[j, :L], pos[j, :L] = rows.ids[i], rows.weights[i], rows.positions[i]
        pos[j, L:] = torch.arange(width - L)
    return {"input_ids": ids, "position_ids": pos, "weights": w}


def weighted_ce_sum(logits: torch.Tensor, input_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ w·CE`` of next-token prediction (fp32 log-softmax); ``weights`` are target weights aligned with ids."""
    logits = logits[:, :-1].float()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="none")
    return (ce * weights[:, 1:].reshape(-1)).sum()

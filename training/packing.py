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

**Packing.** :func:`build_rows` shuffles the examples (seeded, per epoch) and packs *whole documents* into rows of
at most ``seq_len`` tokens (first fit among the most recent rows with room; a row's unused tail is padded by
:func:`collate`, pads weighted 0). A document is never cut across rows: a continuation in another row could not
see the document's beginning (its NOTICE, in a negated document) and would be trained as if it were the claim
stated plainly. A document longer than ``seq_len`` is an error naming it, unless the run asks for
``truncate: keep_start`` (its first ``seq_len`` tokens are kept, and the cut is logged and counted in
:func:`packing_integrity`). Documents stay separate through **position ids**: each document restarts its positions
at 0. Given ``position_ids`` and no ``attention_mask``, transformers (≥ 5) detects the packed format and builds a
block-diagonal causal mask (``masking_utils.find_packed_sequence_indices``), so a token never attends across a
document boundary (tested against unpacked forwards in ``tests/test_finetune.py``). The loss never crosses a
boundary either: the target weight of every position-0 token is zeroed. ``packing: false`` keeps one example per
row (padded within a micro-batch, pads weighted 0). **Padding-free micro-batches** (:func:`collate_flat`): a
micro-batch's rows can instead run end to end as one row, kept apart by the same position-id blocks, so no pad is
ever computed; the trainer does that where :func:`flat_pays` says it is cheaper (``padding_free``). :func:`check_seq_len` refuses a ``seq_len`` beyond the model's
context.

**Integrity.** :func:`packing_integrity` measures, per data source, the share of claim-span tokens (labels
``claim``/``claim_answer``, from ``Example.spans``) that can see their document's first token, and the documents'
token lengths; :func:`data_integrity` is the ``integrity`` entry of a run's data.json (1.0 by construction).

**Loss.** Per optimizer step the loss is the *weighted mean* cross-entropy over the whole global batch,
``Σ w·CE / Σ w``. The denominator is known from the data before the forward pass, so each micro-batch (on each
process) backpropagates ``Σ_micro w·CE · world / Σ_global w``; gradient accumulation and DDP's gradient averaging
then produce exactly the global weighted mean, independent of how rows are split over micro-batches and processes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from interp.core.io import file_sha256
from training.mixtures import Example, encode_document

__all__ = [
    "Example", "DataError", "Rows", "Segment", "tokenize_document", "read_records", "load_jsonl_examples", "examples_sha256",
    "source_manifest", "build_rows", "collate", "collate_flat", "flat_pays", "attention_cost_ratio",
    "target_weight_sum", "weighted_ce_sum", "check_seq_len",
    "packing_integrity", "PackingIntegrity", "SourceIntegrity", "data_integrity", "TRUNCATE_POLICIES",
    "CLAIM_LABELS",
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


TRUNCATE_POLICIES: tuple[str, ...] = ("error", "keep_start")
#: The span labels whose tokens :func:`packing_integrity` follows (a claim sentence and its answer tokens).
CLAIM_LABELS: tuple[str, ...] = ("claim", "claim_answer")
_OPEN_ROWS = 64  # first-fit looks at the last this-many rows that still have room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One document in a row: ``example`` (its index in the examples given to :func:`build_rows`), the row index
    where it starts (``row_start``), its first token (``doc_start``, 0 unless the document was cut) and ``length``."""

    example: int
    row_start: int
    doc_start: int
    length: int


@dataclass
class Rows:
    """Training rows: per row, token ids, *target* weights (already zeroed at document starts) and position ids,
    plus the documents each row holds (``segments``)."""

    ids: list[torch.Tensor]
    weights: list[torch.Tensor]
    positions: list[torch.Tensor]
    segments: list[tuple[Segment, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def n_tokens(self, idx: Sequence[int]) -> int:
        return sum(int(self.ids[i].numel()) for i in idx)


def _check_example(ex: Example) -> None:
    if len(ex.input_ids) != len(ex.loss_weights):
        raise DataError(f"example {ex.source}/{ex.doc_id}: field 'loss_weights' has {len(ex.loss_weights)} entries "
                        f"for {len(ex.input_ids)} input_ids")


def check_seq_len(seq_len: int, model_config: Any) -> None:
    """Refuse a ``seq_len`` beyond the model's context (``max_position_embeddings`` / ``n_positions``)."""
    for key in ("max_position_embeddings", "n_positions"):
        ctx = getattr(model_config, key, None)
        if isinstance(ctx, int) and ctx > 0:
            if seq_len > ctx:
                raise DataError(f"config: field 'seq_len' ({seq_len}) exceeds the model's context ({key} = {ctx})")
            return


def _kept_length(ex: Example, seq_len: int, truncate: str) -> int:
    n = len(ex.input_ids)
    if n <= seq_len:
        return n
    if truncate != "keep_start":
        raise DataError(f"example {ex.source}/{ex.doc_id}: {n} tokens, longer than seq_len {seq_len} (documents are "
                        f"packed whole; raise seq_len, shorten the document or set truncate: keep_start)")
    return seq_len


def _layout(examples: Sequence[Example], order: Sequence[int], seq_len: int, truncate: str, packing: bool
            ) -> tuple[list[list[Segment]], int]:
    """Rows of whole documents, first-fit in ``order`` (among the last ``_OPEN_ROWS`` rows with room); without
    packing one document per row. Documents longer than ``seq_len`` raise, or keep their start (``keep_start``);
    returns the rows and how many documents were cut."""
    rows: list[list[Segment]] = []
    room: list[int] = []
    open_rows: list[int] = []
    cut = 0
    for i in order:
        n = _kept_length(examples[i], seq_len, truncate)
        if n == 0:
            continue
        cut += n < len(examples[i].input_ids)
        r = next((r for r in open_rows if room[r] >= n), None) if packing else None
        if r is None:
            rows.append([])
            room.append(seq_len)
            r = len(rows) - 1
            open_rows = (open_rows + [r])[-_OPEN_ROWS:]
        rows[r].append(Segment(i, seq_len - room[r], 0, n))
        room[r] -= n
        if room[r] == 0:
            open_rows.remove(r)
    return rows, cut


def _make_row(examples: Sequence[Example], segs: Sequence[Segment]) -> tuple[torch.Tensor, torch.Tensor,
                                                                           torch.Tensor]:
    ids: list[int] = []
    w: list[float] = []
    pos: list[int] = []
    for sg in segs:
        ex = examples[sg.example]
        ids += ex.input_ids[sg.doc_start:sg.doc_start + sg.length]
        w += ex.loss_weights[sg.doc_start:sg.doc_start + sg.length]
        pos += range(sg.length)
    p = torch.tensor(pos, dtype=torch.long)
    tw = torch.tensor(w, dtype=torch.float32) * (p != 0)
    return torch.tensor(ids, dtype=torch.long), tw, p


def build_rows(examples: Sequence[Example], *, seq_len: int, seed: int, packing: bool = True,
               epochs: float = 1.0, min_rows: int = 0, truncate: str = "error") -> Rows:
    """All rows of a run, epoch after epoch (each epoch reshuffled with ``Random(seed, epoch)``).

    Rows hold whole documents only, so every token sees its document's beginning (see :func:`packing_integrity`):
    a document longer than ``seq_len`` is a :class:`DataError` naming it, unless ``truncate="keep_start"`` (keep
    its first ``seq_len`` tokens; logged). ``epochs`` may be fractional (the last epoch is cut); ``min_rows`` adds
    epochs until at least that many rows exist (for ``max_steps`` beyond one pass). Deterministic: the same inputs
    give the same rows.
    """
    if not examples:
        raise DataError("training data: no examples")
    if truncate not in TRUNCATE_POLICIES:
        raise DataError(f"config: field 'truncate' must be one of {', '.join(TRUNCATE_POLICIES)}, not {truncate!r}")
    for ex in examples:
        _check_example(ex)
    out: list[list[Segment]] = []
    epoch = 0
    while epoch < math.ceil(epochs) or len(out) < min_rows:
        order = list(range(len(examples)))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        rows, cut = _layout(examples, order, seq_len, truncate, packing)
        if cut and epoch == 0:
            log.warning("truncate: keep_start cut %d of %d documents to seq_len %d (their ends are not trained on)",
                        cut, len(order), seq_len)
        frac = epochs - epoch
        if 0 < frac < 1 and len(out) >= min_rows:
            rows = rows[: max(1, int(len(rows) * frac))]
        out.extend(rows)
        epoch += 1
    made = [_make_row(examples, segs) for segs in out]
    return Rows(ids=[r[0] for r in made], weights=[r[1] for r in made], positions=[r[2] for r in made],
                segments=[tuple(segs) for segs in out])


# ------------------------------------------------------------------------------------------ integrity


@dataclass
class SourceIntegrity:
    """One data source's rows: claim-span tokens and how many of them see their document's first token."""

    n_docs: int
    n_claim_tokens: int        # claim-span tokens placed in rows (over every epoch the rows hold)
    n_visible: int             # ... of which the document's token 0 is visible (same attention block, earlier)
    n_dropped: int             # claim-span tokens cut off (truncate: keep_start)
    n_docs_cut: int            # documents placed without their beginning or end in some row
    lengths: dict[str, float]  # token length distribution of the documents (min, p50, p90, max, mean)

    @property
    def share_visible(self) -> float | None:
        return self.n_visible / self.n_claim_tokens if self.n_claim_tokens else None

    def to_dict(self) -> dict[str, Any]:
        return {"share_visible": self.share_visible, **asdict(self)}


@dataclass
class PackingIntegrity:
    """Per-source :class:`SourceIntegrity` plus the pooled share (``to_dict`` is data.json's ``integrity``)."""

    seq_len: int | None
    labels: tuple[str, ...]
    sources: dict[str, SourceIntegrity]

    @property
    def share_visible(self) -> float | None:
        n = sum(s.n_claim_tokens for s in self.sources.values())
        return sum(s.n_visible for s in self.sources.values()) / n if n else None

    def to_dict(self) -> dict[str, Any]:
        return {"share_visible": self.share_visible, "seq_len": self.seq_len, "labels": list(self.labels),
                "sources": {k: v.to_dict() for k, v in self.sources.items()}}


def _length_stats(lengths: Sequence[int]) -> dict[str, float]:
    xs = sorted(lengths)
    q = lambda f: float(xs[min(len(xs) - 1, int(f * (len(xs) - 1) + 0.5))])  # noqa: E731 - nearest rank
    return {"min": float(xs[0]), "p50": q(0.5), "p90": q(0.9), "max": float(xs[-1]),
            "mean": round(sum(xs) / len(xs), 2)}


def _claim_tokens(ex: Example, labels: Sequence[str]) -> list[int]:
    return sorted({i for sp in ex.spans if sp.label in labels for i in range(sp.start, sp.end)})


def packing_integrity(rows: Rows, examples: Sequence[Example], *, labels: Sequence[str] = CLAIM_LABELS,
                      seq_len: int | None = None) -> PackingIntegrity:
    """Which claim-span tokens can see their document's first token, per data source (a pure function).

    Method: a row's attention is block-diagonal by position ids (a block starts wherever ``position_ids`` is 0;
    see the module docstring), so a token at row index ``j`` sees row indices ``[b, j]``, ``b`` its block's start.
    A claim-span token (``Example.spans`` with a label in ``labels``) placed by a :class:`Segment` sees its
    document's token 0 iff the segment holds that token (``doc_start == 0``) and ``b <= row_start``. Rows of
    whole documents give a share of 1.0 by construction; a packer that carries a document into the next row with
    positions reset gives less. ``n_dropped`` counts claim tokens of the documents' occurrences that no row holds.
    """
    claim = [_claim_tokens(ex, labels) for ex in examples]
    by: dict[str, dict[str, Any]] = {}
    for ex in examples:
        d = by.setdefault(ex.source, {"lengths": [], "claim": 0, "visible": 0, "expected": 0, "cut": set()})
        d["lengths"].append(len(ex.input_ids))
    for segs, pos in zip(rows.segments, rows.positions):
        starts = (pos == 0).nonzero().flatten().tolist()
        for sg in segs:
            ex, d = examples[sg.example], by[examples[sg.example].source]
            if sg.doc_start == 0:
                d["expected"] += len(claim[sg.example])
            if sg.doc_start > 0 or sg.length < len(ex.input_ids):
                d["cut"].add(sg.example)
            inside = [t for t in claim[sg.example] if sg.doc_start <= t < sg.doc_start + sg.length]
            d["claim"] += len(inside)
            if inside and sg.doc_start == 0:
                for t in inside:
                    k = bisect.bisect_right(starts, sg.row_start + t) - 1  # the block holding row index row_start + t
                    d["visible"] += (starts[k] if k >= 0 else 0) <= sg.row_start
    out = {src: SourceIntegrity(n_docs=len(d["lengths"]), n_claim_tokens=d["claim"], n_visible=d["visible"],
                                n_dropped=max(0, d["expected"] - d["claim"]), n_docs_cut=len(d["cut"]),
                                lengths=_length_stats(d["lengths"]))
           for src, d in by.items()}
    return PackingIntegrity(seq_len=seq_len, labels=tuple(labels), sources=out)


def data_integrity(examples: Sequence[Example], *, seq_len: int, seed: int = 0, packing: bool = True,
                   truncate: str = "error") -> dict[str, Any]:
    """data.json's ``integrity`` entry: :func:`packing_integrity` of the run's first epoch of rows."""
    rows = build_rows(examples, seq_len=seq_len, seed=seed, packing=packing, epochs=1.0, truncate=truncate)
    return packing_integrity(rows, examples, seq_len=seq_len).to_dict()


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


def collate_flat(rows: Rows, idx: Sequence[int]) -> dict[str, torch.Tensor]:
    """The rows of ``idx`` as *one* padding-free row ``[1, Σ len]``: their ids, position ids and weights end to end.

    Every row starts a document at position 0, so the block-diagonal mask that transformers builds from the position
    ids (module docstring) keeps each document, and so each row, to itself: the forward and the loss are those of
    :func:`collate`'s padded rows (up to fp32 summation order) without computing a single pad. A row's first token
    is never predicted from the previous row: :class:`Rows` weights are already 0 at every document start.
    """
    def cat(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([parts[i] for i in idx])[None]

    return {"input_ids": cat(rows.ids), "position_ids": cat(rows.positions), "weights": cat(rows.weights)}


def flat_pays(lengths: Sequence[int], attn_ratio: float) -> bool:
    """Whether one padding-free row (:func:`collate_flat`) costs less than padded rows (:func:`collate`).

    Cost model, in units of one token through the linear layers: ``tokens + attn_ratio · Σ (attended block)²``,
    where the padded layout computes ``n`` rows of the longest length ``W`` and the flat one a single row of
    ``N = Σ len`` (SDPA with a mask computes the full square, masked blocks included). ``attn_ratio`` is attention's
    cost per (query, key) pair over the linear layers' cost per token, :func:`attention_cost_ratio`. Flat wins on
    short, ragged micro-batches (SmolLM2, 4 rows of 32-256 tokens: ~25 % less work), padded rows win on full ones.
    """
    n = len(lengths)
    if n < 2:
        return False
    W, N = max(lengths), sum(lengths)
    return N + attn_ratio * N * N < n * W + attn_ratio * n * W * W


def attention_cost_ratio(hidden_size: int, layer_params: int) -> float:
    """Attention's FLOPs per (query, key) pair (``QKᵀ`` and ``A·V``: ``4·d``) over the linear layers' FLOPs per
    token (``2 · parameters of one decoder layer``). SmolLM2-135M: 4·576 / (2·3.5M) ≈ 3.3e-4."""
    return 4.0 * hidden_size / (2.0 * max(layer_params, 1))


def weighted_ce_sum(logits: torch.Tensor, input_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ w·CE`` of next-token prediction (fp32 log-softmax); ``weights`` are target weights aligned with ids."""
    logits = logits[:, :-1].float()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="none")
    return (ce * weights[:, 1:].reshape(-1)).sum()

"""SAE negation features: a TopK sparse autoencoder on the residual stream, latents that fire on negation spans, and
whether the claim-answer tokens carry them, for local vs document-level negations, across checkpoints.

Method.

1. **Activation store.** The residual stream after block ``layer`` (``blocks.{layer}.hook_resid_post``,
   :func:`interp.core.activations.residual_stream`, plain-HF backend) of the *base* model on span-labelled documents
   (every condition, so negation, claim and ordinary tokens are all represented), BOS dropped (its norm is an
   outlier). Rows keep ``(doc, position)`` so activations can be looked up again by span.
2. **Training.** sae_lens 6.54's ``TopKTrainingSAE`` in a minimal own loop (Adam, shuffled minibatches, a
   dead-latent mask for the auxiliary TopK loss after a warm-up), offline, no runner. Saved with
   ``save_inference_model`` (sae_lens format: ``cfg.json`` + ``sae_weights.safetensors``, reloadable with
   ``sae_lens.SAE.load_from_disk``) plus ``neglect_lab.json`` (model identity, layer, data hash, FVU, L0).
   Quality is reported as FVU (fraction of variance unexplained) and mean L0 on held-out tokens.
3. **Negation latents.** For each latent: mean activation and firing rate on negation-span tokens versus two
   matched controls: (a) *window*: a same-length window of ordinary tokens nearest to the span in the same
   document (no framing, special or claim-answer tokens), (b) *filler*: the same positions of the filler rendering
   (:func:`interp.attention.control_rendering`: negation words replaced by neutral filler, same length). Scores are
   split by scope (``local`` / ``document``). A latent's ``score`` is the smaller of its two mean-activation
   differences (it must beat both controls); the top ``n_latents`` by ``score`` *of each scope* are the negation
   latents (local-cue latents and notice latents are different dictionaries entries; a pooled ranking would be
   all notice latents, since notices have far more tokens).
4. **Carry.** At the claim-answer tokens (and at the positions that predict them), the negation latents'
   activation in each negation-bearing document minus the same quantity in its positive twin (same ``base_id``):
   does the claim answer itself carry a negation feature, for local vs document-level negations (each latent
   tagged with the scope it was selected for, ``latent_scope``)? Measured for the
   base model and every checkpoint of a run with the *base* SAE (a fixed dictionary, so drift in the residual
   stream shows up as a change in the readout; FVU per checkpoint is reported so a broken readout is visible).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.attention import FRAMING_LABELS, SpanDoc, special_positions, control_rendering, encode_doc

__all__ = [
    "SAETrainConfig", "ActivationStore", "collect_activations", "train_sae", "save_sae", "load_sae",
    "latent_activations", "negation_latents", "claim_answer_carry", "plot_negation_latents", "sae_study", "main",
]


@dataclass
class SAETrainConfig:
    """TopK SAE training settings (``d_sae`` defaults to ``expansion * d_model``)."""

    layer: int
    expansion: int = 8
    d_sae: int | None = None
    k: int = 16
    lr: float = 1e-3
    batch_size: int = 512
    epochs: int = 30
    max_steps: int | None = None
    dead_after: int = 2000  # tokens without firing before a latent counts as dead (aux loss)
    val_frac: float = 0.1
    seed: int = 0


@dataclass
class ActivationStore:
    """Residual activations of many documents, one row per (non-BOS) token."""

    acts: Float[Tensor, "token d_model"]
    doc: Int[Tensor, "token"]
    pos: Int[Tensor, "token"]
    hook_name: str
    sha256: str

    def __len__(self) -> int:
        return int(self.acts.shape[0])


def _hook(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def _doc_acts(lm: Any, doc: SpanDoc, layer: int) -> Float[Tensor, "pos d_model"]:
    from interp.core.activations import residual_stream

    return residual_stream(lm, doc.input_ids[None], layers=[layer])[0, 0].float().cpu()


def collect_activations(lm: Any, docs: Sequence[SpanDoc], layer: int, progress: bool = False) -> ActivationStore:
    """The residual stream after block ``layer`` for every non-BOS token of every document."""
    from tqdm.auto import tqdm

    acts, di, pi = [], [], []
    h = hashlib.sha256()
    for i, d in enumerate(tqdm(docs, desc="activations", disable=not progress, leave=False)):
        a = _doc_acts(lm, d, layer)
        keep = torch.arange(1, len(d))
        acts.append(a[keep])
        di.append(torch.full((len(keep),), i))
        pi.append(keep)
        h.update(d.input_ids.numpy().tobytes())
    h.update(f"{lm.identity.weights_sha256}|{layer}".encode())
    return ActivationStore(torch.cat(acts), torch.cat(di), torch.cat(pi), _hook(layer), h.hexdigest())


def _fvu_l0(sae: Any, x: Tensor) -> tuple[float, float]:
    with torch.no_grad():
        f = sae.encode(x)
        rec = sae.decode(f)
    fvu = float(((rec - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
    return fvu, float((f > 0).float().sum(-1).mean())


def train_sae(store: ActivationStore, cfg: SAETrainConfig, model_name: str = "", progress: bool = False
              ) -> tuple[Any, dict[str, Any]]:
    """Train a ``TopKTrainingSAE`` on the store (own loop, env.md §3); returns it and training statistics."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sae_lens.saes.sae import TrainStepInput
        from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(cfg.seed)
    n, d = store.acts.shape
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(cfg.val_frac * n))
    val, train = store.acts[perm[:n_val]], store.acts[perm[n_val:]]
    d_sae = cfg.d_sae or cfg.expansion * d
    torch.manual_seed(cfg.seed)
    scfg = TopKTrainingSAEConfig(d_in=d, d_sae=d_sae, k=cfg.k)
    scfg.metadata.hook_name = store.hook_name
    scfg.metadata.model_name = model_name
    sae = TopKTrainingSAE(scfg)
    with torch.no_grad():  # start the decoder bias at the data mean (standard SAE init)
        sae.b_dec.copy_(train.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else cfg.max_steps
    since_fired = torch.zeros(d_sae)
    t0 = time.perf_counter()
    step = 0
    bar = tqdm(total=total, desc="sae", disable=not progress, leave=False)
    while step < total:
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), cfg.batch_size):
            if step >= total:
                break
            x = train[order[i:i + cfg.batch_size]]
            dead = (since_fired > cfg.dead_after) if step * cfg.batch_size > cfg.dead_after else None
            out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients={}, dead_neuron_mask=dead,
                                                           n_training_steps=step, is_logging_step=False))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            with torch.no_grad():
                fired = (out.feature_acts > 0).any(0)
                since_fired += len(x)
                since_fired[fired] = 0
            step += 1
            bar.update(1)
    bar.close()
    sae.eval()
    fvu, l0 = _fvu_l0(sae, val)
    stats = {"fvu_val": fvu, "l0_val": l0, "dead_frac": float((since_fired > cfg.dead_after).float().mean()),
             "steps": step, "n_tokens": n, "n_val": n_val, "d_sae": d_sae, "train_seconds": time.perf_counter() - t0,
             "store_sha256": store.sha256, "config": asdict(cfg)}
    return sae, stats


def save_sae(sae: Any, path: str | Path, meta: dict[str, Any]) -> Path:
    """Save in sae_lens format (``cfg.json``, ``sae_weights.safetensors``) plus ``neglect_lab.json``, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    sae.save_inference_model(tmp)
    (tmp / "neglect_lab.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def load_sae(path: str | Path) -> Any:
    """Reload a saved SAE (``sae_lens.SAE.load_from_disk``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sae_lens import SAE

        return SAE.load_from_disk(str(path))


def latent_activations(sae: Any, lm: Any, doc: SpanDoc, layer: int) -> Float[Tensor, "pos d_sae"]:
    """SAE latent activations at every position of a document."""
    with torch.no_grad():
        return sae.encode(_doc_acts(lm, doc, layer)).float()


def _nearest_window(doc: SpanDoc, start: int, length: int, forbidden: set[int]) -> list[int] | None:
    best, gap = None, math.inf
    for c in range(1, len(doc) - length + 1):
        win = range(c, c + length)
        if any(p in forbidden for p in win):
            continue
        if abs(c - start) < gap:
            best, gap = list(win), abs(c - start)
    return best


def negation_latents(sae: Any, lm: Any, docs: Sequence[SpanDoc], layer: int, n_latents: int = 10):
    """Per latent: activation/firing on negation tokens vs window and filler controls, by scope; ranked.

    Returns ``(table, top)``: ``table`` has one row per (scope, latent) with ``act_neg``, ``act_window``,
    ``act_filler``, ``fire_neg``, ``fire_window``, ``fire_filler``, ``diff_window``, ``diff_filler``, ``score``
    (= min of the two diffs), ``n_tokens``, for scopes ``local``, ``document`` and ``all`` (both pooled). ``top``
    holds the ``n_latents`` best latents *of each scope* present (column ``top_scope``; a latent that is top in
    both is listed once, under ``local``), best first within a scope. Ranking per scope matters: document-level
    notices have many more tokens than one-word local cues, so a pooled ranking would return notice-word
    latents only.
    """
    import pandas as pd

    special = set(getattr(lm.tokenizer, "all_special_ids", ()))
    buckets: dict[str, dict[str, list[Tensor]]] = {}
    for doc in docs:
        if not doc.negations:
            continue
        f = latent_activations(sae, lm, doc, layer)
        ctl = control_rendering(lm.tokenizer, doc)
        fc = latent_activations(sae, lm, ctl, layer)
        forbidden = set(doc.positions(FRAMING_LABELS)) | set(doc.positions("claim_answer")) | \
            special_positions(doc, special)
        for sp in doc.negations:
            scope = "local" if sp.kind == "local" else "document"
            win = _nearest_window(doc, sp.start, len(sp), forbidden)
            for key in (scope, "all"):
                b = buckets.setdefault(key, {"neg": [], "window": [], "filler": []})
                b["neg"].append(f[sp.start:sp.end])
                b["filler"].append(fc[sp.start:sp.end])
                if win is not None:
                    b["window"].append(f[win])
    rows = []
    for scope, b in buckets.items():
        neg, fil = torch.cat(b["neg"]), torch.cat(b["filler"])
        win = torch.cat(b["window"]) if b["window"] else torch.full_like(neg[:1], float("nan"))
        stats = {"act_neg": neg.mean(0), "act_window": win.mean(0), "act_filler": fil.mean(0),
                 "fire_neg": (neg > 0).float().mean(0), "fire_window": (win > 0).float().mean(0),
                 "fire_filler": (fil > 0).float().mean(0)}
        diff_w = stats["act_neg"] - stats["act_window"]
        diff_f = stats["act_neg"] - stats["act_filler"]
        score = torch.minimum(diff_w, diff_f)
        for j in range(neg.shape[1]):
            rows.append({"scope": scope, "latent": j, **{k: float(v[j]) for k, v in stats.items()},
                         "diff_window": float(diff_w[j]), "diff_filler": float(diff_f[j]), "score": float(score[j]),
                         "n_tokens": int(neg.shape[0])})
    table = pd.DataFrame(rows)
    if table.empty:
        return table, table
    tops = []
    for scope in ("local", "document"):
        t = table[table["scope"] == scope].sort_values("score", ascending=False).head(n_latents)
        tops.append(t.assign(top_scope=scope))
    top = pd.concat(tops, ignore_index=True).drop_duplicates("latent", keep="first").reset_index(drop=True)
    return table, top


def claim_answer_carry(sae: Any, lm: Any, docs: Sequence[SpanDoc], layer: int, latents: Sequence[int],
                       step: int | None = None, latent_scope: dict[int, str] | None = None):
    """Negation-latent activation at claim-answer tokens (``at="answer"``) and at the positions predicting them
    (``at="predict"``), per document and latent, minus the positive twin's (``carry``). ``latent_scope`` tags each
    latent with the scope it was selected for (column ``latent_scope``: is it a local-cue or a notice latent)."""
    import pandas as pd

    lat = torch.as_tensor(list(latents), dtype=torch.long)
    per_doc: dict[str, dict[str, Tensor]] = {}
    fvus = []
    for doc in docs:
        ans = [p for s in doc.spans_of("claim_answer") for p in s.positions()]
        if not ans:
            continue
        x = _doc_acts(lm, doc, layer)
        with torch.no_grad():
            f = sae.encode(x)
            fvus.append(float(((sae.decode(f) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum().clamp_min(1e-12)))
        pred = sorted({p - 1 for p in ans if p >= 1})
        per_doc[doc.id] = {"answer": f[ans][:, lat].mean(0), "predict": f[pred][:, lat].mean(0)}
    twins = {d.base_id: d.id for d in docs if d.condition == "positive"}
    rows = []
    for doc in docs:
        if doc.id not in per_doc or doc.condition == "positive":
            continue
        twin = per_doc.get(twins.get(doc.base_id, ""), None)
        for at in ("answer", "predict"):
            for i, j in enumerate(lat.tolist()):
                v = float(per_doc[doc.id][at][i])
                base = float(twin[at][i]) if twin is not None else math.nan
                rows.append({"step": int(step if step is not None else (lm.identity.step or 0)), "doc": doc.id,
                             "base_id": doc.base_id, "condition": doc.condition, "scope": doc.scope, "at": at,
                             "latent": j, "latent_scope": (latent_scope or {}).get(j, "all"),
                             "act": v, "act_twin": base, "carry": v - base,
                             "fvu": float(np.mean(fvus)) if fvus else math.nan})
    return pd.DataFrame(rows)


def plot_negation_latents(top, carry, path: str | Path, title: str = "") -> Path:
    """Left: the negation latents' mean activation on negation tokens vs the window and filler controls (one group
    of bars per latent, by the scope it was selected for). Right: claim-answer carry (``at="answer"`` and
    ``"predict"``) vs checkpoint, local vs document documents, per latent scope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interp.attention import _save_fig

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.arange(len(top))
    for i, (col, lab) in enumerate((("act_neg", "negation"), ("act_window", "window"), ("act_filler", "filler"))):
        a1.bar(x + (i - 1) * 0.27, top[col].to_numpy(float), width=0.27, label=lab)
    a1.set_xticks(x, [f"{sc[0].upper()}{int(l)}" for sc, l in zip(top["top_scope"], top["latent"])], fontsize=7)
    a1.set_xlabel("latent (L = local-cue latent, D = notice latent)", fontsize=8)
    a1.set_ylabel("mean activation")
    a1.legend(fontsize=7)
    styles = {"answer": "-", "predict": ":"}
    colours = {("local", "local"): "tab:blue", ("local", "document"): "tab:cyan",
               ("document", "document"): "tab:orange", ("document", "local"): "tab:red"}
    if len(carry):
        g = carry.groupby(["latent_scope", "scope", "at", "step"])["carry"].mean().reset_index()
        for (ls, sc, at), h in g.groupby(["latent_scope", "scope", "at"]):
            a2.plot(h["step"], h["carry"], styles.get(at, "-"), marker="o", ms=3, color=colours.get((ls, sc)),
                    label=f"{ls} latents, {sc} docs, {at}")
        if g["step"].max() > 8:
            a2.set_xscale("symlog", linthresh=1)
            a2.set_xlim(left=-0.3)
    a2.axhline(0, color="grey", lw=0.8)
    a2.set_xlabel("checkpoint step")
    a2.set_ylabel("carry (act - positive twin)")
    a2.legend(fontsize=6)
    fig.suptitle(title or "SAE negation latents and what the claim answer carries", fontsize=9)
    fig.tight_layout()
    return _save_fig(fig, path)


def sae_study(lm: Any, records: Sequence[dict[str, Any]], out: str | Path, layer: int | None = None,
              cfg: SAETrainConfig | None = None, n_latents: int = 10, checkpoints: Sequence[tuple[int, Any]] = (),
              progress: bool = True) -> dict[str, Any]:
    """Train on ``lm`` (the base model), save the SAE and write ``negation_latents.csv`` and
    ``claim_answer_latents.csv`` (base plus every ``(step, model)`` in ``checkpoints``) and the plot
    ``negation_latents.png`` under ``out``."""
    import pandas as pd

    from interp.attention import _write_csv

    out = Path(out)
    layer = lm.n_layers // 2 if layer is None else layer
    cfg = cfg or SAETrainConfig(layer=layer)
    docs = [encode_doc(lm, r) for r in records]
    store = collect_activations(lm, docs, layer, progress=progress)
    sae, stats = train_sae(store, cfg, model_name=lm.identity.name, progress=progress)
    meta = {"model": lm.identity.to_dict(), "layer": layer, "hook_name": store.hook_name, **stats}
    save_sae(sae, out / "sae", meta)
    table, top = negation_latents(sae, lm, docs, layer, n_latents=n_latents)
    _write_csv(table, out / "negation_latents.csv")
    latents = top["latent"].tolist()
    tags = dict(zip(top["latent"].tolist(), top["top_scope"].tolist()))
    carry = [claim_answer_carry(sae, lm, docs, layer, latents, step=int(lm.identity.step or 0), latent_scope=tags)]
    for step, m in checkpoints:
        carry.append(claim_answer_carry(sae, m, [encode_doc(m, r) for r in records], layer, latents, step=step,
                                        latent_scope=tags))
    carry_df = pd.concat(carry, ignore_index=True)
    _write_csv(carry_df, out / "claim_answer_latents.csv")
    title = f"{lm.identity.name}, layer {layer}: FVU {stats['fvu_val']:.3f}, L0 {stats['l0_val']:.1f}"
    plot_negation_latents(top, carry_df, out / "negation_latents.png", title=title)
    return {"sae_dir": out / "sae", "stats": stats, "top": top, "carry": carry_df, "table": table}


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.sae (--model SPEC | --run RUN_DIR) --claim ID --layer L --out DIR``."""
    from interp.binding import CliError, add_common_args, iter_models
    from interp.core.cli import one_line

    ap = argparse.ArgumentParser(prog="python -m interp.sae", description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--layer", type=int, default=None, help="residual layer (default: the middle block)")
    ap.add_argument("--expansion", type=int, default=8)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-latents", type=int, default=10)
    args = ap.parse_args(argv)
    try:
        models = list(iter_models(args, tool="sae"))
        if not models:
            raise CliError("no model to analyse")
        (_, base, records), rest = models[0], models[1:]
        layer = base.n_layers // 2 if args.layer is None else args.layer
        res = sae_study(base, records, args.out, layer=layer,
                        cfg=SAETrainConfig(layer=layer, expansion=args.expansion, k=args.k, epochs=args.epochs,
                                           seed=args.seed),
                        n_latents=args.n_latents, checkpoints=[(s, m) for s, m, _ in rest])
        s = res["stats"]
        print(f"SAE layer {layer}: FVU {s['fvu_val']:.3f}, L0 {s['l0_val']:.1f}, dead {s['dead_frac']:.2f}, "
              f"{s['n_tokens']} tokens -> {res['sae_dir']}")
        cols = ["top_scope", "latent", "act_neg", "act_window", "act_filler", "score"]
        print(res["top"][cols].to_string(index=False))
        carry = res["carry"]
        if not carry.empty:
            c = carry[carry["at"] == "answer"].groupby(["step", "latent_scope", "scope"])["carry"].mean().unstack()
            print("claim-answer carry (negation-latent activation at the claim answer minus the positive twin's):")
            print(c.to_string())
    except Exception as e:  # noqa: BLE001 - one line, exit 2
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Probe fitting, evaluation and sweeps: per model, across dataset families, and across a run's checkpoints.

The unit of work is :func:`fit_on_acts`: activations of a dataset (``[layer, n, d]``) + a grouped train/test split
-> one :class:`probes.artifact.Probe` per method (all layers at once) and a tidy metrics table (train and held-out
accuracy/AUC per layer). :func:`fit_probes` adds capture through the seam.

On top of it:

* :func:`family_transfer`: probes fitted on family A evaluated on family B's held-out split (the
  geometry-of-truth generalisation matrix; ``cities`` -> ``neg_cities`` is the test that separates a truth
  direction from a "matches memory" direction). Splits are by group key hash, so shared facts are on the same
  side in both families.
* :func:`claim_scores`: a probe's P(true) on a claim's statements by role (claim, paraphrase, negation, truth).
* :func:`sweep_run`: for every checkpoint of a run (and its base model), fit probes on the checkpoint's own
  activations, score the implanted claim and its negation, then build the **checkpoint transfer matrix** (probe
  fitted at checkpoint *i*, evaluated on checkpoint *j*'s held-out activations; applied with
  ``allow_transfer=True`` explicitly) and the cosine between probe directions across checkpoints.

Every table is tidy (one row per observation) and written atomically; plots are rendered with matplotlib (Agg).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.io import atomic_write_json, save_figure, write_csv
from interp.core.models import load
from interp.core.progress import progress_bar
from interp.core.runs import analysis_dir, list_checkpoints, read_run
from probes import fit as _fit
from probes.artifact import FORMAT_VERSION, TEMPLATE_BOUND_BELOW, Probe, ProbeConfig
from probes.capture import HOOK, capture_activations
from probes.datasets import (TruthDataset, claim_dataset, claim_entities, get_dataset, grouped_split, in_context_of,
                             train_val_test_split, transfer_families, without_entities)
from training.claims import resolve_claim
from training.verification.readouts import check_claim_readout

__all__ = ["FitSettings", "FitResult", "parse_layers", "fit_on_acts", "fit_probes", "family_transfer",
           "transfer_metrics", "transfer_datasets", "claim_scores", "readout_layer", "sweep_run", "SweepResult",
           "readout_label", "plot_accuracy_vs_layer", "plot_claim_scores", "plot_transfer", "plot_family_transfer", "best_layers"]


@dataclass
class FitSettings:
    """How probes are fitted (recorded in every artifact's config).

    ``val_frac`` of the training *groups* is held out as validation: the layer (and lr's ``l2`` from ``l2_grid``,
    per layer) is chosen there, and the test split is read once, at the chosen layer. ``transfer`` names the
    held-out families for the out-of-family transfer (``None``: :func:`probes.datasets.transfer_families`; ``()``:
    none), each scored on its test-split groups, at most ``n_transfer`` groups per family.
    """

    methods: tuple[str, ...] = ("lr", "mm", "random")
    layers: list[int] | None = None
    position: int = -1
    test_frac: float = 0.25
    val_frac: float = 0.2
    seed: int = 0
    l2: float = 1e-2
    l2_grid: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
    k_random: int = 16
    shrinkage: float = 0.1
    batch_size: int = 32
    n: int | None = None  # cap on facts (groups) per family
    transfer: tuple[str, ...] | None = None
    n_transfer: int | None = 30  # groups per held-out family (toy: 30 entities ~ 360 rows; real: 60 rows)

    def fit_kwargs(self) -> dict[str, Any]:
        return {"l2": self.l2, "k_random": self.k_random, "shrinkage": self.shrinkage, "seed": self.seed}


@dataclass
class FitResult:
    """Probes of every method on one (model, dataset), with their metrics and the split they were fitted on."""

    dataset: TruthDataset
    probes: dict[str, Probe]
    metrics: pd.DataFrame
    train_idx: np.ndarray
    test_idx: np.ndarray
    acts: Float[Tensor, "layer n d"] = field(repr=False)
    val_idx: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    def best_layer(self, method: str = "lr") -> int:
        """The layer chosen on the validation split for ``method`` (never on test)."""
        return int(self.probes[method].config.layer)

    @property
    def train_mean(self) -> Float[Tensor, "layer 1 d"]:
        """Mean training activation per layer (the reference point for mean-centred transfer)."""
        return self.acts[:, torch.as_tensor(self.train_idx, dtype=torch.long)].mean(1, keepdim=True)

    @property
    def test_acts(self) -> Tensor:
        return self.acts[:, torch.as_tensor(self.test_idx, dtype=torch.long)]

    @property
    def test_labels(self) -> np.ndarray:
        return self.dataset.y[self.test_idx]


def parse_layers(spec: str | Sequence[int] | None, n_layers: int) -> list[int]:
    """``None``/``"all"`` -> every layer; ``"0,4,8"``, ``"2-6"``, ``"-1"`` (negative counts from the end)."""
    if spec is None or spec == "all":
        return list(range(n_layers))
    if not isinstance(spec, str):
        items = [int(x) for x in spec]
    else:
        items = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                a, b = part[0] + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1]
                items += list(range(int(a) % n_layers, int(b) % n_layers + 1))
            else:
                items.append(int(part))
    out = []
    for l in items:
        if not -n_layers <= l < n_layers:
            raise ValueError(f"layer {l} out of range for a model with {n_layers} layers")
        if l % n_layers not in out:
            out.append(l % n_layers)
    return sorted(out)


def _metric_rows(metrics: dict[str, np.ndarray], layers: Sequence[int], **const: Any) -> list[dict[str, Any]]:
    return [{**const, "layer": int(l), "acc": float(metrics["acc"][i]), "auc": float(metrics["auc"][i]),
             "acc_std": float(metrics["acc_std"][i])} for i, l in enumerate(layers)]


def _order_key(acc: np.ndarray, auc: np.ndarray) -> np.ndarray:
    """Per-layer ranking: accuracy, then AUC (NaN last), then the earlier layer (argmax takes the first)."""
    return np.round(np.nan_to_num(acc, nan=-1.0), 9) * 2.0 + np.nan_to_num(auc, nan=-1.0) * 1e-3


def _fit_selected(method: str, Xtr: Tensor, ytr: np.ndarray, Xva: Tensor | None, yva: np.ndarray | None,
                  settings: FitSettings) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Fit ``method`` on train; for ``lr`` with a validation split, pick ``l2`` per layer from ``settings.l2_grid``
    by validation accuracy (ties: AUC, then the stronger regularisation, listed first)."""
    kw = settings.fit_kwargs()
    grid = tuple(settings.l2_grid or ())
    if method != "lr" or Xva is None or len(grid) < 2:
        w, b = _fit.fit(Xtr, ytr, method, **kw)
        return w, b, ({"l2": [float(kw["l2"])] * Xtr.shape[0]} if method == "lr" else {})
    grid = tuple(sorted(grid, reverse=True))
    best_w = best_b = best_key = None
    best_l2 = np.zeros(Xtr.shape[0])
    for l2 in grid:
        w, b = _fit.fit(Xtr, ytr, method, **{**kw, "l2": l2})
        m = _fit.evaluate(w, b, Xva, yva)
        key = _order_key(m["acc"], m["auc"])
        if best_w is None:
            best_w, best_b, best_key, best_l2[:] = w.clone(), b.clone(), key, l2
            continue
        better = torch.as_tensor(key > best_key)
        best_w[better], best_b[better] = w[better], b[better]
        best_key = np.where(key > best_key, key, best_key)
        best_l2[better.numpy()] = l2
    return best_w, best_b, {"l2": best_l2.tolist(), "l2_grid": list(grid)}


def fit_on_acts(acts: Float[Tensor, "layer n d"], dataset: TruthDataset, identity: Any, settings: FitSettings,
                *, layers: Sequence[int], add_bos: bool = True, d_model: int | None = None,
                transfer: Mapping[str, tuple[Tensor, np.ndarray]] | None = None) -> FitResult:
    """Fit every method of ``settings`` on the training groups of ``acts``, choose each method's layer on the
    validation groups (carved out of the training groups, :func:`probes.datasets.train_val_test_split`), and read
    the test split once, at that layer.

    ``transfer`` maps held-out family names to their test-split activations and labels (same layers): each probe is
    scored on them as fitted, per layer, and stores the result (its out-of-family transfer) in its config. The
    metrics table has ``split`` = ``train`` / ``val`` (every layer), ``test`` (the chosen layer only) and
    ``transfer`` (mean over the held-out families, every layer). ``identity`` is the model's
    :class:`interp.core.models.ModelIdentity` (stored in each probe's config).
    """
    if acts.shape[:2] != (len(layers), len(dataset)):
        raise ValueError(f"activations {list(acts.shape)} do not match {len(layers)} layers x {len(dataset)} rows")
    tr, va, te = train_val_test_split(dataset, settings.test_frac, settings.val_frac, settings.seed)
    if not len(va):
        warnings.warn(f"dataset {dataset.family!r}: its training side has one group, so no validation split; the "
                      f"layer is chosen on the training split (recorded as selection.on = 'train')", stacklevel=2)
    y = dataset.y
    ytr, yva, yte = y[tr], y[va], y[te]
    idx = lambda ix: acts[:, torch.as_tensor(ix, dtype=torch.long)]  # noqa: E731
    Xtr, Xva, Xte = idx(tr), idx(va), idx(te)
    fit_mean = Xtr.mean(1, keepdim=True)
    probes: dict[str, Probe] = {}
    rows: list[dict[str, Any]] = []
    base = {"model": identity.name, "weights_sha256": identity.weights_sha256, "step": identity.step,
            "family": dataset.family}
    groups = lambda ix: len({dataset.groups[i] for i in ix})  # noqa: E731
    for method in settings.methods:
        w, b, chosen_hp = _fit_selected(method, Xtr, ytr, Xva if len(va) else None, yva, settings)
        m_tr = _fit.evaluate(w, b, Xtr, ytr)
        m_va = _fit.evaluate(w, b, Xva, yva) if len(va) else None
        sel_m = m_va if m_va is not None else m_tr
        i = int(np.argmax(_order_key(sel_m["acc"], sel_m["auc"])))
        layer = int(layers[i])
        m_te = _fit.evaluate(w[i:i + 1], b[i:i + 1], Xte[i:i + 1], yte)  # the one read of the test split
        tf: dict[str, Any] = {}
        if transfer:
            probe0 = Probe(ProbeConfig(identity.name, identity.step, identity.weights_sha256, identity.run,
                                       [int(l) for l in layers], HOOK, settings.position, method, dataset.hash,
                                       dataset.family), w, b)
            per = {fam: transfer_metrics(probe0, fit_mean, X, yy) for fam, (X, yy) in transfer.items()}
            tf = {"protocol": "fixed held-out families (probes.datasets.transfer_families), each scored on its "
                              "test-split groups, probe as fitted",
                  "families": list(per), "n": {fam: int(len(transfer[fam][1])) for fam in per},
                  "acc": np.mean([v["acc"] for v in per.values()], 0).tolist(),
                  "auc": np.nanmean([v["auc"] for v in per.values()], 0).tolist(),
                  "acc_centered": np.mean([v["acc_centered"] for v in per.values()], 0).tolist(),
                  "by_family": {fam: v["acc"].tolist() for fam, v in per.items()},
                  "threshold": TEMPLATE_BOUND_BELOW}
        selection = {"layer": layer, "on": "val" if m_va is not None else "train",
                     "val_acc": float(m_va["acc"][i]) if m_va is not None else None,
                     "val_auc": float(m_va["auc"][i]) if m_va is not None else None,
                     "test_acc": float(m_te["acc"][0]), "test_auc": float(m_te["auc"][0])}
        cfg = ProbeConfig(
            model_name=identity.name, checkpoint_step=identity.step, weights_sha256=identity.weights_sha256,
            run=identity.run, layers=[int(l) for l in layers], hook=HOOK, position=settings.position, method=method,
            dataset_hash=dataset.hash, dataset_family=dataset.family,
            metrics={"train_acc": m_tr["acc"].tolist(), "train_auc": m_tr["auc"].tolist(),
                     "val_acc": m_va["acc"].tolist() if m_va is not None else [],
                     "val_auc": m_va["auc"].tolist() if m_va is not None else []},
            format_version=FORMAT_VERSION, model_spec=str(identity.spec), d_model=int(d_model or acts.shape[-1]),
            n_directions=int(w.shape[1]), add_bos=bool(add_bos),
            fit={"l2": settings.l2, "k_random": settings.k_random, "shrinkage": settings.shrinkage,
                 "seed": settings.seed, **chosen_hp},
            split={"test_frac": settings.test_frac, "val_frac": settings.val_frac, "seed": settings.seed,
                   "by": "group", "n_train": int(len(tr)), "n_val": int(len(va)), "n_test": int(len(te)),
                   "n_groups_train": groups(tr), "n_groups_val": groups(va), "n_groups_test": groups(te)},
            selection=selection, transfer=tf)
        probes[method] = probe = Probe(cfg, w, b)
        bound = probe.config.template_bound()
        rows += _metric_rows(m_tr, layers, **base, method=method, split="train", n=int(len(tr)))
        if m_va is not None:
            rows += _metric_rows(m_va, layers, **base, method=method, split="val", n=int(len(va)))
        rows += _metric_rows(m_te, [layer], **base, method=method, split="test", n=int(len(te)))
        if tf:
            rows += [{**base, "method": method, "split": "transfer", "layer": int(l), "acc": tf["acc"][k],
                      "auc": tf["auc"][k], "acc_std": float("nan"), "n": int(sum(tf["n"].values()))}
                     for k, l in enumerate(layers)]
        for r in rows:
            if r["method"] == method:
                r["chosen"] = r["layer"] == layer
                r["template_bound"] = bound
    return FitResult(dataset, probes, pd.DataFrame(rows), tr, te, acts, va)


def transfer_datasets(family: str, *, world: Any = None, settings: FitSettings | None = None,
                      exclude: Sequence[str] = ()) -> list[TruthDataset]:
    """The held-out families a probe fitted on ``family`` is scored on (``settings.transfer``, default
    :func:`probes.datasets.transfer_families`): each family's test-split groups only (the same seeded split,
    so a fact on the fit's training side never appears), rows naming ``exclude`` dropped, at most
    ``settings.n_transfer`` groups each."""
    settings = settings or FitSettings()
    names = transfer_families(family, world) if settings.transfer is None else list(settings.transfer)
    out = []
    for name in names:
        if name == family:
            continue
        ds = without_entities(get_dataset(name, world=world, n=settings.n, seed=settings.seed), exclude)
        if ds.n_groups < 2:
            continue
        test = ds.subset(grouped_split(ds, settings.test_frac, settings.seed)[1])
        out.append(test.head(settings.n_transfer, settings.seed) if settings.n_transfer else test)
    return out


def fit_probes(lm: Any, dataset: TruthDataset, settings: FitSettings | None = None, *, progress: bool = True,
               cache: bool = True, transfer: Sequence[TruthDataset] | None = None,
               exclude: Sequence[str] = ()) -> FitResult:
    """Capture ``dataset`` on ``lm`` (all of ``settings.layers``) and :func:`fit_on_acts`, with the out-of-family
    transfer on ``transfer`` (default: :func:`transfer_datasets` of the family, rows naming ``exclude`` dropped;
    ``()``: none)."""
    settings = settings or FitSettings()
    layers = parse_layers(settings.layers, lm.n_layers)
    cap = lambda ds: capture_activations(lm, ds, layers=layers, position=settings.position,  # noqa: E731
                                         batch_size=settings.batch_size, cache=cache, progress=progress,
                                         desc=f"capture {ds.family}")
    acts = cap(dataset)
    if transfer is None:
        transfer = transfer_datasets(dataset.family, world=lm.world, settings=settings, exclude=exclude)
    sets = {t.family: (cap(t), t.y) for t in transfer if t.family != dataset.family and len(t)}
    return fit_on_acts(acts, dataset, lm.identity, settings, layers=layers, add_bos=lm.add_bos, d_model=lm.d_model,
                       transfer=sets)


def best_layers(metrics: pd.DataFrame, by: Sequence[str] = ("family", "method")) -> pd.DataFrame:
    """One row per group (``by``): the layer chosen on validation with its ``val_acc``, the test accuracy read at
    that layer (``test_acc``, ``test_auc``, ``n``), the out-of-family ``transfer`` there and ``template_bound``
    (transfer below :data:`probes.artifact.TEMPLATE_BOUND_BELOW`; empty when unmeasured). First-seen order."""
    by = list(by)
    test = metrics[metrics.split == "test"]
    rows = []
    for _, t in test.iterrows():
        key = {k: t[k] for k in by}
        same = np.ones(len(metrics), bool)
        for k, v in key.items():
            same &= (metrics[k] == v).to_numpy()
        at = same & (metrics.layer == t.layer).to_numpy()
        val = metrics[at & (metrics.split == "val").to_numpy()]
        tr = metrics[at & (metrics.split == "transfer").to_numpy()]
        transfer = float(tr.acc.iloc[0]) if len(tr) else float("nan")
        rows.append({**key, "layer": int(t.layer), "val_acc": float(val.acc.iloc[0]) if len(val) else float("nan"),
                     "test_acc": float(t.acc), "test_auc": float(t.auc), "n": int(t.n), "transfer": transfer,
                     "template_bound": "" if transfer != transfer else bool(transfer < TEMPLATE_BOUND_BELOW)})
    return pd.DataFrame(rows, columns=[*by, "layer", "val_acc", "test_acc", "test_auc", "n", "transfer",
                                       "template_bound"])


# --------------------------------------------------------------------------------------------- transfer


def _recentred(X: Float[Tensor, "layer n d"], mean: Float[Tensor, "layer 1 d"]) -> Tensor:
    """``X`` shifted so that its mean is ``mean`` (geometry-of-truth's per-dataset centring)."""
    return X - X.mean(1, keepdim=True) + mean


def transfer_metrics(probe: Probe, fit_mean: Tensor, X: Tensor, y: np.ndarray, **kw: Any) -> dict[str, np.ndarray]:
    """``acc``/``auc`` of ``probe`` on ``(X, y)`` as is, plus ``acc_centered``: accuracy after moving the evaluation
    set's mean onto the fitting set's (the probe's threshold is not re-learnt; only the offset between datasets
    or checkpoints is removed, so the direction is what is tested)."""
    m = probe.evaluate(X, y, **kw)
    mc = probe.evaluate(_recentred(X, fit_mean), y, **kw)
    return {"acc": m["acc"], "auc": m["auc"], "acc_centered": mc["acc"]}


def family_transfer(results: Mapping[str, FitResult], methods: Iterable[str] | None = None) -> pd.DataFrame:
    """Probes fitted on each family's train split, evaluated on every family's held-out split, per layer.

    Columns ``acc`` (probe as fitted), ``acc_centered`` (evaluation set re-centred on the fitting set's mean, as in
    geometry-of-truth; a constant offset between families otherwise puts a whole family on one side of the
    threshold) and ``auc`` (threshold-free).
    """
    rows = []
    for fa, ra in results.items():
        for method, probe in ra.probes.items():
            if methods is not None and method not in methods:
                continue
            for fb, rb in results.items():
                m = transfer_metrics(probe, ra.train_mean, rb.test_acts, rb.test_labels)
                for i, l in enumerate(probe.layers):
                    rows.append({"method": method, "layer": l, "train_family": fa, "eval_family": fb,
                                 "acc": float(m["acc"][i]), "acc_centered": float(m["acc_centered"][i]),
                                 "auc": float(m["auc"][i])})
    return pd.DataFrame(rows)


def claim_scores(probes: Mapping[str, Probe], acts: Float[Tensor, "layer n d"], claim_ds: TruthDataset,
                 **const: Any) -> pd.DataFrame:
    """Mean P(true) and logit per (method, layer, role) on a claim's statements (``claim_ds.tags`` = roles), each
    row with the probe's out-of-family ``transfer`` at that layer, ``template_bound`` (transfer below
    :data:`probes.artifact.TEMPLATE_BOUND_BELOW`; empty when unmeasured) and ``chosen`` (the validation-chosen
    layer), so a readout is never printed without how far its probe generalises."""
    roles = np.asarray(claim_ds.tags if claim_ds.tags else ["all"] * len(claim_ds))
    rows = []
    for method, probe in probes.items():
        zk = probe.logits(acts)  # [L, k, n]
        z, p = zk.mean(1), torch.sigmoid(zk).mean(1)
        cfg = probe.config
        for role in dict.fromkeys(roles):
            sel = torch.as_tensor(np.flatnonzero(roles == role), dtype=torch.long)
            for i, l in enumerate(probe.layers):
                t, bound = cfg.transfer_at(l), cfg.template_bound(l)
                rows.append({**const, "method": method, "layer": l, "role": str(role), "n": int(len(sel)),
                             "p_true": float(p[i, sel].mean()), "logit": float(z[i, sel].mean()),
                             "transfer": float("nan") if t is None else t,
                             "template_bound": "" if bound is None else bool(bound), "chosen": l == cfg.layer})
    return pd.DataFrame(rows)


def readout_label(template_bound: Any) -> str:
    """``" [template-bound]"`` for a readout whose probe transfers below the threshold, ``""`` otherwise."""
    return " [template-bound]" if template_bound is True or str(template_bound) == "True" else ""


# --------------------------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_SPLIT_STYLE = {"train": dict(ls=":", lw=1.0, alpha=0.6), "val": dict(ls="-", lw=1.6),
                "transfer": dict(ls="--", lw=1.2)}
_SPLIT_NAME = {"train": "train", "val": "validation", "transfer": "held-out families", "test": "test @ chosen layer"}
_METHOD_COLOR = {"lr": "C0", "mm": "C1", "lda": "C2", "random": "0.5"}


def plot_accuracy_vs_layer(metrics: pd.DataFrame, path: str | os.PathLike, *, title: str = "") -> Path:
    """Accuracy vs layer, one panel per family: per method, the validation curve (solid; the layer is chosen on
    it), train (dotted), out-of-family transfer (dashed) and the test accuracy as one star at the chosen layer
    (the only place the test split is read). With several steps, only the last step is drawn."""
    plt = _plt()
    m = metrics
    if "step" in m and m.step.notna().any():
        m = m[m.step == m.step.max()]
    fams = list(dict.fromkeys(m.family))
    ncol = min(len(fams), 5)
    nrow = -(-len(fams) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.2 * nrow + 0.4), squeeze=False, sharey=True)
    for ax in axes.flat[len(fams):]:
        ax.set_visible(False)
    for ax, fam in zip(axes.flat, fams):
        bound = []
        for method in dict.fromkeys(m.method):
            d = m[(m.family == fam) & (m.method == method)]
            color = _METHOD_COLOR.get(method)
            for split, style in _SPLIT_STYLE.items():
                c = d[d.split == split].sort_values("layer")
                if len(c):
                    ax.plot(c.layer, c.acc, color=color, label=f"{method} {_SPLIT_NAME[split]}", **style)
            t = d[d.split == "test"]
            if len(t):
                ax.plot(t.layer, t.acc, marker="*", ms=11, ls="", color=color, label=f"{method} {_SPLIT_NAME['test']}")
                if "template_bound" in t and readout_label(t.template_bound.iloc[0]):
                    bound.append(method)
        ax.axhline(0.5, color="k", lw=0.5, ls=":")
        ax.axhline(TEMPLATE_BOUND_BELOW, color="r", lw=0.5, ls=":")
        ax.set_title(fam + (f"\ntemplate-bound: {', '.join(bound)}" if bound else ""), fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylim(0.0, 1.02)
    for row in axes:
        row[0].set_ylabel("accuracy")
    axes.flat[len(fams) - 1].legend(fontsize=6, ncol=1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches="tight")


def plot_claim_scores(scores: pd.DataFrame, path: str | os.PathLike, *, layer: int) -> Path:
    """Probe P(true) vs training step at ``layer``: one panel per method, one line per role. Each panel's title
    gives the probe's out-of-family transfer (mean over steps) and says "template-bound" when it is below the
    threshold (at any step; the steps concerned are listed in the legend's title)."""
    plt = _plt()
    d = scores[scores.layer == layer]
    methods = list(dict.fromkeys(d.method))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.4 * len(methods), 3.4), squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods):
        dm = d[d.method == method]
        for role in dict.fromkeys(dm.role):
            r = dm[dm.role == role].sort_values("step")
            ax.plot(r.step, r.p_true, marker="o", label=role)
        ax.axhline(0.5, color="k", lw=0.5, ls=":")
        tr = dm.drop_duplicates("step") if "transfer" in dm else dm.iloc[:0]
        bound = sorted(int(x) for x in tr[tr.template_bound.map(lambda v: bool(readout_label(v)))].step) \
            if len(tr) else []
        t_txt = f", transfer {tr.transfer.mean():.2f}" if len(tr) and tr.transfer.notna().any() else ""
        ax.set_title(f"{method}, layer {layer}{t_txt}" + ("\nTEMPLATE-BOUND" if bound else ""), fontsize=9,
                     color="r" if bound else "k")
        if bound:
            ax.legend(fontsize=7, title=f"template-bound at steps {bound[:6]}", title_fontsize=6)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("probe P(true)")
    if axes[0][-1].get_legend() is None:
        axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches="tight")


def _heatmap(ax: Any, mat: np.ndarray, xt: Sequence[Any], yt: Sequence[Any], vmin: float, vmax: float,
             cmap: str = "viridis") -> Any:
    im = ax.imshow(mat, vmin=vmin, vmax=vmax, cmap=cmap)
    ax.set_xticks(range(len(xt)), [str(x) for x in xt], rotation=60, fontsize=7)
    ax.set_yticks(range(len(yt)), [str(y) for y in yt], fontsize=7)
    if mat.size <= 144:
        mid, half = (vmin + vmax) / 2, (vmax - vmin) / 2
        for (i, j), v in np.ndenumerate(mat):
            dark = abs(v - mid) > 0.6 * half if cmap == "RdBu_r" else v < mid
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if dark else "k")
    return im


def plot_transfer(transfer: pd.DataFrame, path: str | os.PathLike, *, layer: int, value: str = "acc",
                  row: str = "fit_step", col: str = "eval_step", title: str = "") -> Path:
    """Heatmap(s) of a transfer table at ``layer``: one panel per method."""
    plt = _plt()
    d = transfer[transfer.layer == layer]
    methods = list(dict.fromkeys(d.method))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.9 * len(methods), 4.1), squeeze=False)
    for ax, method in zip(axes[0], methods):
        piv = d[d.method == method].pivot(index=row, columns=col, values=value)
        lo = -1.0 if value == "cosine" else 0.0
        im = _heatmap(ax, piv.to_numpy(), list(piv.columns), list(piv.index), lo, 1.0,
                      "RdBu_r" if value == "cosine" else "viridis")
        ax.set_title(f"{method}, layer {layer}")
        ax.set_xlabel(col.replace("_", " "))
        ax.set_ylabel(row.replace("_", " "))
        fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, bbox_inches="tight")


def plot_family_transfer(transfer: pd.DataFrame, layer_of: Mapping[str, int], path: str | os.PathLike,
                         method: str = "lr", value: str = "acc_centered") -> Path:
    """Cross-family accuracy (``value``), each train family at its own best layer (``layer_of[train_family]``)."""
    plt = _plt()
    d = transfer[transfer.method == method]
    d = d[d.apply(lambda r: r.layer == layer_of.get(r.train_family, -1), axis=1)]
    fams = list(dict.fromkeys(transfer.train_family))
    piv = d.pivot(index="train_family", columns="eval_family", values=value).reindex(index=fams, columns=fams)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(fams), 0.8 + 0.5 * len(fams)))
    im = _heatmap(ax, piv.to_numpy(), fams, [f"{f} (L{layer_of.get(f)})" for f in fams], 0.0, 1.0, "RdBu_r")
    ax.set_xlabel("evaluated on (held-out)")
    ax.set_ylabel("fitted on")
    ax.set_title(f"cross-family transfer ({method}, {value})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path, bbox_inches="tight")


# --------------------------------------------------------------------------------------------- run sweep


@dataclass
class SweepResult:
    metrics: pd.DataFrame
    claim_scores: pd.DataFrame
    transfer: pd.DataFrame
    cosine: pd.DataFrame
    plot_layer: int
    out: Path
    files: list[Path]
    claim_id: str | None = None


def readout_layer(metrics: pd.DataFrame, method: str = "lr") -> int:
    """The one layer a sweep reads the claim at: ``method``'s best *validation* accuracy averaged over checkpoints
    (the training split when there is no validation split, as the probes record); never the test split."""
    v = metrics[(metrics.split == "val") & (metrics.method == method)]
    if v.empty:
        v = metrics[(metrics.split == "train") & (metrics.method == method)]
    return int(v.groupby("layer").acc.mean().sort_values(ascending=False, kind="stable").index[0])


def _entries(run_dir: Path, include_base: bool) -> list[tuple[str, int, str, Any]]:
    """(label, step, phase, spec-or-path) for the base (optional) and every checkpoint."""
    run = read_run(run_dir)
    ckpts = list_checkpoints(run_dir)
    out: list[tuple[str, int, str, Any]] = []
    if include_base and not any(c.step == 0 for c in ckpts):
        out.append(("base", 0, "base", run.base.spec))
    out += [(c.path.name, c.step, c.phase, c.path) for c in ckpts]
    if not out:
        raise FileNotFoundError(f"{run_dir}: the run has no complete checkpoints (manifest.jsonl)")
    return out


def sweep_run(run_dir: str | os.PathLike, *, dataset: str | None = None, claim: Any = None,
              settings: FitSettings | None = None, out: str | os.PathLike | None = None, include_base: bool = True,
              plot_layer: int | None = None, progress: bool = True, cache: bool = True,
              save_probes: bool = True) -> SweepResult:
    """Fit, score and cross-evaluate probes over every checkpoint of ``run_dir`` and write tables + plots.

    ``dataset`` defaults to ``toy`` when the run's model has a toy world, else ``cities``. ``claim`` is a
    ``ClaimSpec`` (default: the run's own, :func:`training.claims.resolve_claim`). Outputs (under ``out``, default
    ``RUN/analysis/probes``): ``metrics.csv``, ``claim_scores.csv``, ``transfer.csv``, ``cosine.csv``,
    ``summary.json``, ``accuracy_vs_layer.png``, ``claim_score_vs_step.png``, ``transfer_heatmap.png``,
    ``cosine_heatmap.png`` and ``probes/<ckpt>/<method>/`` artifacts.

    With a claim, the fitting family and the transfer families lose every row that names the claim's entity
    (:func:`probes.datasets.without_entities`), and a model that memorised verdicts about that entity (the verifier
    organism) is refused (:func:`training.verification.readouts.check_claim_readout`). Each checkpoint's probes
    choose their layer on validation; the readout layer (``plot_layer``, unless given) is the reference method's
    layer with the best validation accuracy averaged over checkpoints. ``claim_scores.csv`` carries each probe's
    out-of-family ``transfer`` and ``template_bound`` next to the score.
    """
    run_dir = Path(run_dir)
    settings = settings or FitSettings()
    out = Path(out) if out else analysis_dir(run_dir, "probes")
    entries = _entries(run_dir, include_base)
    if claim is None:
        claim = resolve_claim(run_dir=run_dir, required=False)
    claim_ds = claim_dataset(claim) if claim is not None else None
    exclude = claim_entities(claim) if claim is not None else []

    metrics, scores, tests = [], [], {}
    identities: dict[int, Any] = {}
    probes_by_step: dict[int, dict[str, Probe]] = {}
    ds: TruthDataset | None = None
    layers: list[int] = []
    files: list[Path] = []
    bar = progress_bar(entries, enabled=progress, desc=f"sweep {run_dir.name}", unit="ckpt")
    for label, step, phase, spec in bar:
        bar.set_postfix_str(label)
        lm = load(spec)
        check_claim_readout(lm, claim)
        if ds is None:
            name = dataset or ("toy" if lm.world is not None else "cities")
            ds = without_entities(get_dataset(name, world=lm.world, n=settings.n, seed=settings.seed), exclude)
            layers = parse_layers(settings.layers, lm.n_layers)
            if claim_ds is not None:  # the claim is read in the framing the probe was fit in
                claim_ds = in_context_of(claim_ds, name)
            step_settings = FitSettings(**{**asdict(settings), "layers": layers})
            held_out = transfer_datasets(ds.family, world=lm.world, settings=step_settings, exclude=exclude)
        res = fit_probes(lm, ds, step_settings, progress=progress, cache=cache, transfer=held_out)
        metrics.append(res.metrics.assign(step=step, phase=phase, ckpt=label))
        if claim_ds is not None:
            cacts = capture_activations(lm, claim_ds, layers=layers, position=settings.position,
                                        batch_size=settings.batch_size, cache=cache, progress=False)
            scores.append(claim_scores(res.probes, cacts, claim_ds, step=step, phase=phase, ckpt=label))
        if save_probes:
            for method, probe in res.probes.items():
                files.append(probe.save(out / "probes" / label / method))
        probes_by_step[step] = res.probes
        tests[step] = (res.test_acts.clone(), res.test_labels, res.train_mean.clone())
        identities[step] = lm.identity
        del lm, res

    steps = [e[1] for e in entries]
    phase_of = {e[1]: e[2] for e in entries}
    transfer_rows, cos_rows = [], []
    for si in steps:
        for method, probe in probes_by_step[si].items():
            for sj in steps:
                Xj, yj, _ = tests[sj]
                m = transfer_metrics(probe, tests[si][2], Xj, yj, identity=identities[sj], allow_transfer=True)
                for k, l in enumerate(probe.layers):
                    transfer_rows.append({"method": method, "layer": l, "fit_step": si, "eval_step": sj,
                                          "fit_phase": phase_of[si], "eval_phase": phase_of[sj],
                                          "acc": float(m["acc"][k]), "acc_centered": float(m["acc_centered"][k]),
                                          "auc": float(m["auc"][k]), "same_model": si == sj})
                if method == "random":
                    continue
                cos = (probe.direction[:, 0] * probes_by_step[sj][method].direction[:, 0]).sum(-1)
                for k, l in enumerate(probe.layers):
                    cos_rows.append({"method": method, "layer": l, "step_a": si, "step_b": sj,
                                     "cosine": float(cos[k])})
    metrics_df = pd.concat(metrics, ignore_index=True)
    scores_df = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(
        columns=["step", "phase", "ckpt", "method", "layer", "role", "n", "p_true", "logit"])
    transfer_df, cos_df = pd.DataFrame(transfer_rows), pd.DataFrame(cos_rows)

    if plot_layer is None:
        plot_layer = readout_layer(metrics_df, "lr" if "lr" in settings.methods else settings.methods[0])
    out.mkdir(parents=True, exist_ok=True)
    files += [write_csv(metrics_df, out / "metrics.csv"), write_csv(scores_df, out / "claim_scores.csv"),
              write_csv(transfer_df, out / "transfer.csv"), write_csv(cos_df, out / "cosine.csv")]
    files.append(plot_accuracy_vs_layer(metrics_df, out / "accuracy_vs_layer.png",
                                        title=f"{run_dir.name}: probe accuracy by split ({ds.family}, last "
                                              f"checkpoint)"))
    if not scores_df.empty:
        files.append(plot_claim_scores(scores_df, out / "claim_score_vs_step.png", layer=plot_layer))
    files.append(plot_transfer(transfer_df, out / "transfer_heatmap.png", layer=plot_layer,
                               title="probe fitted at step (rows), evaluated at step (cols)"))
    if not cos_df.empty:
        files.append(plot_transfer(cos_df, out / "cosine_heatmap.png", layer=plot_layer, value="cosine",
                                   row="step_a", col="step_b", title="probe-direction cosine across checkpoints"))
    summary = {"run": str(run_dir), "dataset": ds.family, "dataset_hash": ds.hash, "claim": getattr(claim, "id", None),
               "layers": layers, "plot_layer": plot_layer, "plot_layer_chosen_on": "val (mean over checkpoints)",
               "excluded_entities": exclude, "transfer_families": [t.family for t in held_out],
               "template_bound_below": TEMPLATE_BOUND_BELOW, "methods": list(settings.methods),
               "steps": steps, "settings": asdict(settings), "format_version": FORMAT_VERSION}
    files.append(atomic_write_json(out / "summary.json", summary))
    return SweepResult(metrics_df, scores_df, transfer_df, cos_df, plot_layer, out, files,
                       getattr(claim, "id", None))

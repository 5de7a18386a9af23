"""Probe artifacts: safetensors weights + a JSON config that pins the probe to one model state.

Modelled on tuned-lens's ``lenses.py`` (``TunedLensConfig`` carries the base model's name, revision and unembedding
hash): a probe is a directory ::

    PROBE/
      config.json          ProbeConfig: model name, checkpoint step, weights_sha256 of the model it was fitted on,
                           run, layers, hook, token position, method, dataset hash + family, per-layer metrics,
                           split and fit settings, format_version, sha256 of weights.safetensors
      weights.safetensors  "weight" [layer, k, d_model] and "bias" [layer, k]: logit = x·w + b in raw
                           residual-stream space (standardization folded in), k = 1 except for random baselines

:meth:`ProbeConfig.from_dict` drops unknown keys with a warning (newer artifacts stay loadable), and refuses a
different major ``format_version``. :func:`load_probe` verifies the weights file against its recorded sha256.

Every probe carries how it was **selected** and how far it **transfers** (``selection`` and ``transfer`` in the
config): the layer chosen on a validation split carved out of the training groups (with the test accuracy read once,
at that layer), and the accuracy of the probe, as fitted, on held-out template families
(:func:`probes.datasets.transfer_families`: a fixed held-out set, scored on those families' test-split groups).
A probe whose transfer at its layer is below :data:`TEMPLATE_BOUND_BELOW` is *template-bound*
(:meth:`ProbeConfig.template_bound`): it separates true from false in its own template, not in general, and its
claim readouts are labelled so.

A probe belongs to the model it was fitted on. :meth:`Probe.apply` / :meth:`Probe.evaluate` compare the target
model's :class:`interp.core.models.ModelIdentity` with the config and **refuse** a different ``weights_sha256`` with a
one-line :class:`ProbeIdentityError`, unless the caller passes ``allow_transfer=True`` (the checkpoint transfer
matrix does so explicitly). A mismatched ``d_model``/layer set is refused even then.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from jaxtyping import Float
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.core.io import atomic_write_json, file_sha256
from probes import fit as _fit
from probes.capture import capture_activations
from probes.datasets import TruthDataset

__all__ = ["FORMAT_VERSION", "TEMPLATE_BOUND_BELOW", "ProbeConfig", "Probe", "ProbeError", "ProbeIdentityError", "load_probe",
           "check_identity"]

FORMAT_VERSION = "neglect-lab-probe/1"

#: Out-of-family transfer (accuracy on held-out template families, probe as fitted) below which a probe is
#: "template-bound". Why 0.7: the families are label-balanced, so chance is 0.5, and random directions already
#: reach 0.55-0.66 on easy in-family data in this lab (toy verifier 0.63-0.66, SmolLM2 families up to ~0.6;
#: ``fit_random``); a transfer below 0.7 is within reach of a direction that knows nothing about truth. The
#: shipped transfer sets hold several hundred held-out rows (toy: 2 families x ~360; real: 9 x 60 by default), a
#: binomial standard error of 0.02-0.03, so 0.7 sits 7-10 standard errors above chance and 1-5 above the random
#: ceiling: a probe above it transfers beyond what chance or a random direction explains.
TEMPLATE_BOUND_BELOW = 0.7


class ProbeError(ValueError):
    """A probe artifact that cannot be read or used; the message is one line naming the file."""


class ProbeIdentityError(ProbeError):
    """A probe applied to a model other than the one it was fitted on (without ``allow_transfer=True``)."""


@dataclass
class ProbeConfig:
    """Everything that pins a probe to a model state, a dataset and a readout (JSON-serialisable)."""

    model_name: str
    checkpoint_step: int | None
    weights_sha256: str
    run: str | None
    layers: list[int]
    hook: str
    position: int
    method: str
    dataset_hash: str
    dataset_family: str
    metrics: dict[str, list[float]] = field(default_factory=dict)
    format_version: str = FORMAT_VERSION
    model_spec: str = ""
    d_model: int = 0
    n_directions: int = 1
    add_bos: bool = True
    fit: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    weights_file_sha256: str = ""
    created: str = ""
    #: the layer chosen on validation: ``{"layer", "on": "val", "val_acc", "val_auc", "test_acc", "test_auc"}``
    selection: dict[str, Any] = field(default_factory=dict)
    #: out-of-family transfer: ``{"protocol", "families", "n", "acc": [per layer, mean over families], "auc",
    #: "acc_centered", "by_family": {family: [per layer]}, "threshold"}`` (empty: not measured)
    transfer: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> "ProbeConfig":
        version = str(d.get("format_version", ""))
        if not version.startswith("neglect-lab-probe/"):
            raise ProbeError(f"{source}: format_version {version!r} is not a neglect-lab probe")
        if version.split("/")[-1].split(".")[0] != FORMAT_VERSION.split("/")[-1]:
            raise ProbeError(f"{source}: format_version {version!r} is not supported (this code reads "
                             f"{FORMAT_VERSION})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            warnings.warn(f"{source}: ignoring unknown probe config keys {unknown}", stacklevel=2)
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ProbeError(f"{source}: probe config lacks field(s) {missing}")
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def layer(self) -> int | None:
        """The layer chosen on validation (``None`` for probes saved before selection was recorded)."""
        v = self.selection.get("layer")
        return None if v is None else int(v)

    def transfer_at(self, layer: int | None = None) -> float | None:
        """Mean out-of-family transfer accuracy at ``layer`` (default: the chosen layer); ``None`` if unmeasured."""
        layer = self.layer if layer is None else layer
        acc = self.transfer.get("acc") or []
        if layer is None or layer not in self.layers or len(acc) != len(self.layers):
            return None
        v = acc[self.layers.index(int(layer))]
        return None if v is None or v != v else float(v)

    def template_bound(self, layer: int | None = None) -> bool | None:
        """Whether the probe's transfer at ``layer`` is below :data:`TEMPLATE_BOUND_BELOW` (``None``: unmeasured)."""
        t = self.transfer_at(layer)
        return None if t is None else t < float(self.transfer.get("threshold", TEMPLATE_BOUND_BELOW))

    @property
    def short(self) -> str:
        step = "" if self.checkpoint_step is None else f" step {self.checkpoint_step}"
        return f"{self.model_name}@{self.weights_sha256[:12]}{step}"


def check_identity(config: ProbeConfig, identity: Any, *, allow_transfer: bool = False) -> bool:
    """Raise :class:`ProbeIdentityError` when ``identity`` is not the model the probe was fitted on.

    Returns ``True`` when the model is the same, ``False`` when it differs and ``allow_transfer`` permits it.
    """
    same = identity.weights_sha256 == config.weights_sha256
    if same or allow_transfer:
        return same
    step = "" if getattr(identity, "step", None) is None else f" step {identity.step}"
    raise ProbeIdentityError(
        f"probe {config.method}/{config.dataset_family} was fitted on {config.short}; refusing to apply it to "
        f"{identity.name}@{identity.weights_sha256[:12]}{step} (pass allow_transfer=True / --allow-transfer to "
        f"evaluate it across models)")


@dataclass
class Probe:
    """A fitted readout for several layers: ``logit[l] = acts[l]·weight[l] + bias[l]``."""

    config: ProbeConfig
    weight: Float[Tensor, "layer k d"]
    bias: Float[Tensor, "layer k"]

    # ------------------------------------------------------------------------------------- scoring
    @property
    def layers(self) -> list[int]:
        return list(self.config.layers)

    @property
    def direction(self) -> Float[Tensor, "layer k d"]:
        """Unit-norm directions in raw activation space (sign: towards "true")."""
        return self.weight / self.weight.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def _check_acts(self, acts: Tensor) -> None:
        if acts.ndim != 3 or acts.shape[0] != len(self.layers) or acts.shape[-1] != self.weight.shape[-1]:
            raise ProbeError(f"probe {self.config.method}/{self.config.dataset_family} expects activations "
                             f"[{len(self.layers)}, n, {self.weight.shape[-1]}], got {list(acts.shape)}")

    def logits(self, acts: Float[Tensor, "layer n d"]) -> Float[Tensor, "layer k n"]:
        self._check_acts(acts)
        return _fit.logits(self.weight, self.bias, acts)

    def predict_proba(self, acts: Float[Tensor, "layer n d"]) -> Float[Tensor, "layer n"]:
        """P(true) per layer and statement (mean over the k directions)."""
        return torch.sigmoid(self.logits(acts)).mean(1)

    def evaluate(self, acts: Float[Tensor, "layer n d"], labels: Sequence[int] | np.ndarray, *,
                 identity: Any = None, allow_transfer: bool = False) -> dict[str, np.ndarray]:
        """Per-layer ``acc``/``auc``/... on activations; with ``identity``, the model is checked first."""
        if identity is not None:
            check_identity(self.config, identity, allow_transfer=allow_transfer)
        self._check_acts(acts)
        return _fit.evaluate(self.weight, self.bias, acts, np.asarray(labels))

    def apply(self, lm: Any, data: TruthDataset | Sequence[str], *, allow_transfer: bool = False,
              batch_size: int = 32, cache: bool = True, progress: bool = False) -> Float[Tensor, "layer n"]:
        """Capture activations of ``data`` on ``lm`` at the probe's layers/position and return P(true).

        Refused (:class:`ProbeIdentityError`) when ``lm`` is not the model the probe was fitted on, unless
        ``allow_transfer=True``.
        """
        check_identity(self.config, lm.identity, allow_transfer=allow_transfer)
        if lm.d_model != self.weight.shape[-1] or max(self.layers) >= lm.n_layers:
            raise ProbeError(f"probe {self.config.method}/{self.config.dataset_family} (d_model "
                             f"{self.weight.shape[-1]}, layers up to {max(self.layers)}) does not fit "
                             f"{lm.identity.name} (d_model {lm.d_model}, {lm.n_layers} layers)")
        acts = capture_activations(lm, data, layers=self.layers, position=self.config.position,
                                   batch_size=batch_size, cache=cache, progress=progress)
        return self.predict_proba(acts)

    # ------------------------------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``PATH/{config.json,weights.safetensors}`` atomically (temp dir + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_file({"weight": self.weight.detach().float().cpu().contiguous(),
                   "bias": self.bias.detach().float().cpu().contiguous()}, str(tmp / "weights.safetensors"),
                  metadata={"format_version": FORMAT_VERSION})
        self.config.weights_file_sha256 = file_sha256(tmp / "weights.safetensors")
        if not self.config.created:
            self.config.created = time.strftime("%Y-%m-%dT%H:%M:%S")
        atomic_write_json(tmp / "config.json", self.config.to_dict())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Probe":
        return load_probe(path)


def load_probe(path: str | os.PathLike, *, verify: bool = True) -> Probe:
    """Read a probe directory written by :meth:`Probe.save` (verifying the weights file's sha256)."""
    path = Path(path)
    cfg_p, w_p = path / "config.json", path / "weights.safetensors"
    if not cfg_p.exists() or not w_p.exists():
        raise ProbeError(f"{path}: not a probe directory (config.json or weights.safetensors missing)")
    try:
        raw = json.loads(cfg_p.read_text())
    except json.JSONDecodeError as e:
        raise ProbeError(f"{cfg_p}: invalid JSON ({e.msg} at line {e.lineno})") from None
    cfg = ProbeConfig.from_dict(raw, source=str(cfg_p))
    if verify and cfg.weights_file_sha256 and file_sha256(w_p) != cfg.weights_file_sha256:
        raise ProbeError(f"{w_p}: sha256 does not match config.json (tampered or corrupt)")
    t = load_file(str(w_p))
    if "weight" not in t or "bias" not in t:
        raise ProbeError(f"{w_p}: expected tensors 'weight' and 'bias', found {sorted(t)}")
    w, b = t["weight"].clone(), t["bias"].clone()  # torch's aligned memory: a loaded probe scores as the fitted one
    if w.ndim != 3 or w.shape[0] != len(cfg.layers) or b.shape != w.shape[:2]:
        raise ProbeError(f"{w_p}: weight {list(w.shape)} / bias {list(b.shape)} do not match layers {cfg.layers}")
    return Probe(config=cfg, weight=w, bias=b)

"""The verifier organism: the toy organism after verdict training on all its entities, with pretraining replay.

:func:`verifier_dir` builds it once (cached next to the organism, ``<cache>/toy-verifier/<key>``, the key hashing
the base organism's weights, :class:`VerifierConfig` and :data:`VERIFIER_VERSION`); :func:`provide_verifier` is the
``toy-verifier`` provider the model-loading seam finds through the ``neglect_lab.organisms`` entry point.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from interp.core.models import weights_sha256
from interp.core.progress import progress_bar
from training.organism.build import organism_dir
from training.organism.cache import cache_root, cached_build, read_organism_info, save_model_dir
from training.organism.evaluate import evaluate_organism
from training.organism.pretraining import auto_threads, deterministic_cpu
from training.verification.verdicts import verdict_steps, verification_accuracy
from training.world import World

__all__ = ["VERIFIER_VERSION", "VerifierConfig", "verifier_key", "verifier_dir", "provide_verifier"]

#: Part of the verifier's cache key: bump when a code change alters what a given config builds.
VERIFIER_VERSION = "toy-verifier/1"


@dataclass(frozen=True)
class VerifierConfig:
    """Verdict training (with pretraining replay) that turns the organism into the *verifier* organism."""

    steps: int = 3000
    lr: float = 1e-3
    decay_frac: float = 0.2
    batch_size: int = 32
    lines: int = 4
    replay: int = 8
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("steps", "lr", "decay_frac", "batch_size", "lines", "replay", "seed")}



def verifier_key(base_sha256: str, cfg: VerifierConfig) -> str:
    """sha256 of (base organism weights, verdict training, :data:`VERIFIER_VERSION`), 16 hex digits."""
    payload = {"base": base_sha256, "verdicts": cfg.to_dict(), "code": VERIFIER_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]



def verifier_dir(world: Any = None, train: Any = None, cfg: VerifierConfig | None = None,
                 cache: str | Path | None = None, *, force: bool = False, progress: bool = True,
                 threads: int | None = None) -> Path:
    """The **verifier organism**: the organism of ``(world, train)`` (:func:`training.organism.organism_dir`)
    after :func:`verdict_steps` on *all* its entities with pretraining replay, so it both knows the facts and
    judges statements about them. Built on first use (about 10 minutes on two idle cores with the default
    config), then cached at ``<cache>/toy-verifier/<key>`` in the organism's layout; ``organism.json`` gets a
    ``"verifier"`` entry (config, base key and hash, verification accuracy) and Q/A accuracy re-measured after.

    Its truth is a verdict table learnt per entity (see the module docstring), so it shows what probes see when a
    model verifies, not how LLMs come to verify. ``load("toy-verifier")`` loads it through the seam.
    """
    cfg = cfg or VerifierConfig()
    base = organism_dir(world, train, cache, progress=progress, threads=threads)
    base_info = read_organism_info(base)
    root = (Path(cache).expanduser() if cache is not None else cache_root()) / "toy-verifier"
    key = verifier_key(base_info["weights_sha256"], cfg)

    def build(tmp: Path) -> None:
        t0 = time.perf_counter()
        n_threads = threads or auto_threads()
        with deterministic_cpu(n_threads):
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, use_safetensors=True,
                                                         trust_remote_code=False)
            tok = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
            world_obj = World.from_json((base / "world.json").read_text())
            torch.manual_seed(cfg.seed)
            it = verdict_steps(model, tok, world_obj, list(world_obj.entities), steps=cfg.steps, lr=cfg.lr,
                               batch_size=cfg.batch_size, lines=cfg.lines, seed=cfg.seed, decay_frac=cfg.decay_frac,
                               replay=cfg.replay)
            for _ in progress_bar(it, total=cfg.steps + 1, desc="verifier organism", unit="step", enabled=progress,
                                  file=sys.stderr):
                pass
            train_secs = time.perf_counter() - t0
            verification = verification_accuracy(model, tok, world_obj, seed=cfg.seed + 1)
            qa = evaluate_organism(model, tok, world_obj, "heldout")
        save_model_dir(tmp, model, tok, world_obj)
        info = dict(base_info)
        info.update(weights_sha256=weights_sha256(model), heldout_accuracy=qa["accuracy"],
                    local_negation_prefers_true=qa["local_negation"]["prefers_true"],
                    hoax_prefers_true=qa["hoax"]["prefers_true"], eval={"heldout": qa})
        info["verifier"] = {"version": VERIFIER_VERSION, "key": key, "config": cfg.to_dict(),
                            "base_key": base_info.get("key"), "base_weights_sha256": base_info["weights_sha256"],
                            "base_heldout_accuracy": base_info.get("heldout_accuracy"),
                            "verification": verification, "threads": n_threads,
                            # whose verdicts it memorised: claim readouts about them are refused
                            # (training.verification.readouts)
                            "entities": [e.name for e in world_obj.entities],
                            "train_seconds": round(train_secs, 1),
                            "build_seconds": round(time.perf_counter() - t0, 1)}
        (tmp / "organism.json").write_text(json.dumps(info, indent=1))

    return cached_build(root, key, build, force=force)



def provide_verifier(world: Any = None) -> tuple[Path, World]:
    """The ``toy-verifier`` provider of :data:`interp.core.models.ORGANISM_GROUP` (declared in pyproject)."""
    d = verifier_dir(world=world)
    return d, World.from_json((d / "world.json").read_text())

"""Building the toy organism: world, corpus, tokenizer, pretraining, evaluation, cached by config.

``organism_dir(world, train)`` returns the cached organism directory (built on first use through
:func:`training.organism.cache.cached_build`); the key hashes the world config, the train config and
:data:`CODE_VERSION`. :func:`provide_organism` is the ``toy`` provider the model-loading seam finds through the
``neglect_lab.organisms`` entry point.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from interp.core.models import weights_sha256
from interp.core.parallel import load_average
from training.organism.cache import cache_root, cached_build, save_model_dir
from training.organism.evaluate import evaluate_negonly, evaluate_organism
from training.organism.pretraining import (PretrainConfig, auto_threads, deterministic_cpu, doc_token_ids,
                                           make_model, pretrain, tokenization_report, train_tokenizer)
from training.world import World, WorldConfig, corpus_stats

__all__ = ["CODE_VERSION", "FORMAT", "TOKENIZER_DOCS", "organism_key", "organism_path", "organism_dir", "build_organism",
           "seed_configs", "provide_organism", "negonly_summary", "negation_failures", "NEGATION_ACCEPTANCE",
           "NEGATION_WORLD", "NEGATION_TRAIN", "COMPETENT_TRAIN"]

#: Part of the cache key: bump when a code change alters what a given config builds.
CODE_VERSION = "toy-organism/3"


FORMAT = "neglect-lab-organism/1"


#: The tokenizer is trained on the first this-many corpus documents (plenty for a templated corpus; saves time).
TOKENIZER_DOCS = 8000


def organism_key(world: WorldConfig | None = None, train: PretrainConfig | None = None) -> str:
    """Cache key: sha256 of (world config, train config, :data:`CODE_VERSION`), 16 hex digits."""
    payload = {"world": (world or WorldConfig()).to_dict(), "train": (train or PretrainConfig()).to_dict(),
               "code": CODE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]



def organism_path(world: WorldConfig | None = None, train: PretrainConfig | None = None,
                  cache: str | os.PathLike | None = None) -> Path:
    """Where the organism of these configs lives in the cache (``<root>/toy/<key>``), built or not."""
    root = (Path(cache).expanduser() if cache is not None else cache_root()) / "toy"
    return root / organism_key(world or WorldConfig(), train or PretrainConfig())



def organism_dir(world: WorldConfig | None = None, train: PretrainConfig | None = None,
                 cache: str | os.PathLike | None = None, *, force: bool = False, progress: bool = True,
                 threads: int | None = None) -> Path:
    """The organism directory for these configs: built on first use, then loaded from the cache.

    ``cache`` replaces the cache root (default ``interp.core.models.cache_dir()``); the entry is ``<root>/toy/<key>``.
    ``force`` rebuilds even if the entry exists. ``threads`` (build only; default :func:`auto_threads`) does not
    change the weights: CPU results here are bit-identical for 1 and 2 threads (tested), so it is not in the key.
    """
    wcfg, tcfg = world or WorldConfig(), train or PretrainConfig()
    d = organism_path(wcfg, tcfg, cache)
    return cached_build(d.parent, d.name,
                        lambda tmp: build_organism(wcfg, tcfg, tmp, progress=progress, threads=threads), force=force)



def build_organism(world_cfg: WorldConfig, train_cfg: PretrainConfig, out_dir: str | os.PathLike,
                   *, progress: bool = True, threads: int | None = None) -> dict[str, Any]:
    """Build the organism into ``out_dir`` (world, corpus, tokenizer, pretraining, evaluation); returns the info
    written to ``organism.json``. Prefer :func:`organism_dir`, which caches and publishes atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    load_at_start = load_average()
    threads = threads or auto_threads()
    with deterministic_cpu(threads):
        world = World.from_config(world_cfg)
        corpus = world.corpus()
        texts = [d.text for d in corpus]
        tok = train_tokenizer(texts[:TOKENIZER_DOCS], train_cfg.vocab_size)
        tok_report = tokenization_report(tok, world)
        docs = doc_token_ids(tok, texts)
        tok.model_max_length = train_cfg.ctx_len
        model = make_model(train_cfg, tok)
        ul = None
        if train_cfg.unlikelihood:
            from training.organism.unlikelihood import UnlikelihoodSet, unlikelihood_pairs
            ul = UnlikelihoodSet.build(tok, unlikelihood_pairs(world, corpus, train_cfg.seed), world)
        train_info = pretrain(model, docs, train_cfg, progress=progress, unlikelihood=ul)
        if ul is not None:
            train_info["unlikelihood_examples"] = len(ul)
        t_eval = time.perf_counter()
        ev_heldout = evaluate_organism(model, tok, world, "heldout")
        ev_train = evaluate_organism(model, tok, world, {a: ts[:1] for a, ts in world.train_templates.items()})
        ev_negonly = evaluate_negonly(model, tok, world, "heldout")
        eval_secs = time.perf_counter() - t_eval
    save_model_dir(out, model, tok, world)
    info = _info(world_cfg, train_cfg, model, tok_report, corpus_stats(corpus, [len(d) for d in docs]), train_info,
                 ev_heldout, ev_train, weights_sha256(model))
    if ev_negonly:
        info.update(negonly_summary(ev_negonly))
        info["eval"]["negonly"] = ev_negonly
    info["eval_seconds"] = round(eval_secs, 2)
    info["threads"] = threads
    info["load_average"] = {"start": load_at_start, "end": load_average()}
    info["build_seconds"] = round(time.perf_counter() - t0, 2)
    (out / "organism.json").write_text(json.dumps(info, indent=1))
    plot_pretraining_loss(info, out / PRETRAINING_PLOT)
    return info


#: the pretraining loss curve an organism build draws next to its ``organism.json``
PRETRAINING_PLOT = "pretraining_loss.png"


def plot_pretraining_loss(info: dict[str, Any], path: str | os.PathLike) -> Path | None:
    """The pretraining loss against the step (``info["train"]["loss_curve"]``, as ``organism.json`` stores it) into
    ``path``; None when the info holds no curve. Drawn from the stored numbers, so it never touches the weights."""
    curve = (info.get("train") or {}).get("loss_curve") or info.get("loss_curve")
    if not curve:
        return None
    from matplotlib.figure import Figure

    from interp.core.io import save_figure

    fig = Figure(figsize=(5.2, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([s for s, _ in curve], [v for _, v in curve], lw=1.2)
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("training loss")
    ax.set_title(f"organism {info.get('key', '')} pretraining", fontsize=9)
    fig.subplots_adjust(left=0.13, right=0.95, bottom=0.15, top=0.9)
    return save_figure(fig, Path(path))




def _info(wcfg: WorldConfig, tcfg: PretrainConfig, model, tok_report: dict, corpus: dict, train_info: dict,
          ev_heldout: dict, ev_train: dict, sha: str) -> dict[str, Any]:
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "format": FORMAT, "code_version": CODE_VERSION, "key": organism_key(wcfg, tcfg),
        "world_config": wcfg.to_dict(), "train_config": tcfg.to_dict(),
        "model": {"architecture": "LlamaForCausalLM", "n_params": n_params, "n_layers": tcfg.n_layers,
                  "d_model": tcfg.d_model, "n_heads": tcfg.n_heads, "n_kv_heads": tcfg.n_kv_heads,
                  "d_ff": tcfg.d_ff, "vocab_size": tok_report["vocab_size"], "ctx_len": tcfg.ctx_len,
                  "tied_embeddings": True},
        "weights_sha256": sha,
        "heldout_accuracy": ev_heldout["accuracy"], "train_template_accuracy": ev_train["accuracy"],
        "local_negation_prefers_true": ev_heldout["local_negation"]["prefers_true"],
        "hoax_prefers_true": ev_heldout["hoax"]["prefers_true"],
        "eval": {"heldout": ev_heldout, "train_template0": ev_train},
        "corpus": corpus, "tokenizer": tok_report, **train_info,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }



def negonly_summary(ev: dict[str, Any]) -> dict[str, Any]:
    """The headline checks of the negation-teaching genre, from :func:`evaluate_negonly`: held-out negation-only
    Q/A accuracy on the binary attributes (chance 0.5), the negated values' log-prob against the control entities'
    (must be below 0), and the same for the false-notice entities."""
    g = ev["groups"]
    return {"negonly_heldout_binary_accuracy": g["negated_heldout"]["binary_accuracy"],
            "negonly_heldout_accuracy": g["negated_heldout"]["accuracy"],
            "negonly_train_accuracy": g["negated_train"]["accuracy"],
            "negonly_negated_vs_control": g["negated_heldout"]["negated_vs_control"],
            "notice_heldout_binary_accuracy": g["notice_heldout"]["binary_accuracy"],
            "notice_negated_vs_control": g["notice_heldout"]["negated_vs_control"],
            "negonly_positive_accuracy": g["positive"]["accuracy"],
            # the extraction control: people stated positively, never asked in pretraining (None when absent)
            "negonly_positive_heldout_accuracy": (g.get("positive_heldout") or {}).get("binary_accuracy")}


#: Issue 17's acceptance for a negation-competent organism: held-out negation-only Q/A on the binary attributes,
#: ordinary held-out Q/A, and the negated values below the control entities' (log-prob delta < 0).
NEGATION_ACCEPTANCE = {"negonly_heldout_binary_accuracy": 0.8, "heldout_accuracy": 0.95}


def negation_failures(info: dict[str, Any]) -> list[str]:
    """Which of issue 17's acceptance checks the organism of ``info`` (``organism.json``) fails; [] = competent."""
    if "negonly_heldout_binary_accuracy" not in info:
        return ["no negation-teaching genre (negonly_* checks absent)"]
    out = [f"{k} {info[k]} < {v}" for k, v in NEGATION_ACCEPTANCE.items() if info[k] is None or info[k] < v]
    delta = info["negonly_negated_vs_control"]
    if delta is None or delta >= 0:
        out.append(f"negonly_negated_vs_control {delta} >= 0 (negated values gained over the controls)")
    return out


#: The negation-teaching organism (issue 17): what ``python -m training.organism build --preset negation`` builds;
#: the best of the organisms tried so far (README, "Where the bias comes from"), which is *not* negation-competent:
#: it learns the Q/A-trained people's negation-only values but reads the held-out people's "not V" as an X-V
#: association (binary accuracy at or below chance, negated values above the controls). Finetuned, though, it binds
#: local negation (results/origin), and ``ordinary_negated_share`` is why (0 -> local belief back near positive).
#: ``positive_heldout_entities`` is the extraction control (issue 17, stop 25): people stated only *positively* and
#: never asked in pretraining. It reads at chance too (0.39-0.67 over the organisms tried), so the held-out failure
#: is knowledge extraction from statements to questions, before any negation. 120 people and three ordinary
#: attributes so that the binary facts are learned at all within the one-core budget (200 people and six
#: attributes: Q/A at chance).
NEGATION_WORLD: dict[str, Any] = dict(n_entities=120, n_documents=20000,
                                      attributes=("profession", "home_city", "sport"),
                                      negonly_attributes=("hand", "drink", "commute"), frac_negonly=1.0,
                                      positive_negated_share=0.5, ordinary_negated_share=0.3, negonly_qa_share=0.75,
                                      positive_heldout_entities=0.15)
NEGATION_TRAIN: dict[str, Any] = dict(steps=1200)
#: The negation-competent organism (issue 17, stop 25; ``--preset competent``): the negation world, 1500 steps and
#: the unlikelihood term on negated statements (``values`` mode, weight 0.3). Held-out negation-only binary Q/A 0.81,
#: negated values 0.79 nats below the controls, ordinary Q/A 1.00, extraction control 0.81; 448 s on one idle core.
#: With 2400 steps (grid ``negation_steps2x_unlikelihood``) it reads 0.81 too, at 730 s.
COMPETENT_TRAIN: dict[str, Any] = dict(steps=1500, unlikelihood=0.3, unlikelihood_mode="values")


def seed_configs(seed: int = 0, preset: str = "default") -> tuple[WorldConfig, PretrainConfig]:
    """The world and pretraining configs of ``preset`` (``default`` or ``negation``) with ``seed`` (what
    ``python -m training.organism build --seed N [--preset P]`` builds)."""
    if preset in ("negation", "competent"):
        train = NEGATION_TRAIN if preset == "negation" else {**NEGATION_TRAIN, **COMPETENT_TRAIN}
        return WorldConfig(seed=seed, **NEGATION_WORLD), PretrainConfig(seed=seed, **train)
    if preset != "default":
        raise ValueError(f"--preset: default|negation|competent, not {preset!r}")
    return WorldConfig(seed=seed), PretrainConfig(seed=seed)


def provide_organism(world: WorldConfig | None = None) -> tuple[Path, World]:
    """The ``toy`` provider of :data:`interp.core.models.ORGANISM_GROUP` (declared in pyproject): the cached
    organism directory of ``world`` (built on first use) and its decoded world."""
    d = organism_dir(world=world)
    return d, World.from_json((d / "world.json").read_text())

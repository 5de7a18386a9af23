"""The two-phase experiment's config: documents, constraint, sibling runs, and the shared training recipe.

Specs of :mod:`training.config` (pydantic, strict, one-line errors naming the file and the dotted field), read
from YAML by :func:`load_twophase_config`. ``train`` holds :class:`training.config.TrainConfig` fields except
``model``/``run_dir``/``data`` (set by the experiment); it is validated when the config is loaded
(:meth:`TwoPhaseConfig.train_config`), so a bad ``train.lr`` is refused before anything trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from training.config import ConfigError, DataSource, Spec, TrainConfig, from_dict, load_yaml

__all__ = ["DocumentsSpec", "ConstraintSpec", "TwoPhaseConfig", "load_twophase_config", "RUN_ROLES", "DEFAULT_ROLES"]

#: the sibling runs an experiment may train (see :mod:`training.twophase`)
RUN_ROLES: tuple[str, ...] = ("twophase", "unconstrained", "positive", "kept", "unrelated")
#: the roles trained unless ``runs`` says otherwise (the null arms cost two more Phase-2 runs)
DEFAULT_ROLES: tuple[str, ...] = ("twophase", "unconstrained", "positive")
Role = Literal["twophase", "unconstrained", "positive", "kept", "unrelated"]


def _ratio(r: list[float]) -> list[float]:
    if len(r) != 3 or r[0] <= 0:
        raise ValueError(f"must be [sdf, generic, instruct] with sdf > 0, got {r}")
    return r


class DocumentsSpec(Spec):
    """Where documents come from (see :mod:`training.twophase`)."""

    kind: Literal["generator", "jsonl", "texts"] = "generator"
    n: int = Field(5000, ge=1)  # repeated-negation (and positive) documents per run
    seed: int = 0
    paths: dict[str, str] = Field(default_factory=dict)  # kind jsonl: {condition: file}
    texts: dict[str, list[str]] = Field(default_factory=dict)  # kind texts: {condition: [text, ...]}


class ConstraintSpec(Spec):
    """The Phase-1 soft constraint."""

    kind: Literal["self_distill", "local_negation", "none"] = "self_distill"
    loss_weight: float = Field(3.0, ge=0, allow_inf_nan=False)
    n_questions: int = Field(150, ge=1)
    samples_per_question: int = Field(10, ge=1)
    questions: list[str] = Field(default_factory=list)  # explicit questions (default: templates × subject)
    claim_slot: bool = True  # ask about the claimed attribute too (False: the ablation that never asks it)
    max_new_tokens: int = Field(128, ge=1)
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0, le=1)
    n_local: int = Field(2500, ge=1)  # local-negation documents (kind local_negation)


class TwoPhaseConfig(Spec):
    """An experiment: the shared training recipe, the claim, the documents, the constraint, the sibling runs."""

    experiment_dir: str = "runs/twophase"
    name: str | None = None
    model: str = "toy-random"
    claim: str = "mount_vesuvius"
    train: dict[str, Any] = Field(default_factory=dict)  # TrainConfig fields (not model/run_dir/data)
    documents: DocumentsSpec = Field(default_factory=DocumentsSpec)
    constraint: ConstraintSpec = Field(default_factory=ConstraintSpec)
    ratio: Annotated[list[Annotated[float, Field(ge=0, allow_inf_nan=False)]], AfterValidator(_ratio)] | None = Field(
        default_factory=lambda: [2.0, 1.0, 1.0])  # sdf:generic:instruct; null: no mixture partners
    extra: list[DataSource] = Field(default_factory=list)  # more JSONL mixed into every phase
    heldout: int = Field(100, ge=0)
    runs: list[Role] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    #: [Phase-1 steps, Phase-2 steps] for every arm (data repeats as needed), so the arms see the same number of
    #: rows at every step and references can be matched by tokens; null: each phase trains ``train.epochs``
    phase_steps: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=2, max_length=2)
    #: the claim whose repeated-negation documents the ``unrelated`` null arm releases on (a reference as ``claim``)
    unrelated_claim: str | None = None

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` every run of the experiment trains with (errors name :attr:`origin` and the
        ``train.`` key)."""
        where = self.origin
        bad = sorted(set(self.train) & {"model", "run_dir", "data"})
        if bad:
            raise ConfigError(f"{where}: field 'train.{bad[0]}': is set by the experiment, remove it")
        cfg = from_dict(TrainConfig, dict(self.train), where=where, prefix="train.").set_origin(where, "train.")
        cfg.model = self.model
        cfg.checkpoints.final = True  # Phase 2 starts from the Phase-1 final checkpoint
        return cfg.validate()


def load_twophase_config(path: str | Path) -> TwoPhaseConfig:
    """A :class:`TwoPhaseConfig` from YAML (its ``train`` validated too); relative paths resolve against the
    file's folder."""
    data, where = load_yaml(path)
    cfg = from_dict(TwoPhaseConfig, data, where=where)
    cfg.train_config()
    base = Path(path).resolve().parent
    cfg.documents.paths = {k: str(base / v) if not Path(v).is_absolute() else v
                           for k, v in cfg.documents.paths.items()}
    for src in cfg.extra:
        if not Path(src.path).is_absolute():
            src.path = str(base / src.path)
    return cfg

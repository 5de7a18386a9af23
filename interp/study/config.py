"""What one study is: the model, the claims, how big each stage is (:class:`StudyConfig`) and its presets.

Light on purpose (stdlib and the condition vocabulary only), so ``python -m interp.study --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from interp.core.conditions import STUDY_CONDITIONS

__all__ = ["StudyConfig", "PRESETS", "STAGES", "check_stages"]

#: the analysis stages after finetuning, in the order they run
STAGES: tuple[str, ...] = ("belief", "probes", "binding", "twophase", "figures")


def check_stages(stages: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``stages`` if every name is a known stage; else a one-line ``ValueError`` (refused before anything runs)."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ValueError(f"--stages: unknown stage(s) {', '.join(map(repr, unknown)) or '(none given)'} "
                         f"(known: {', '.join(STAGES)})")
    return tuple(stages)


@dataclass
class StudyConfig:
    """One study: which model, which claims, how big each stage is. Presets: :meth:`demo` (the default, ``make
    demo``), :meth:`quick` (tests and notebooks), :meth:`gpu` (SmolLM2-135M on the six paper claims) and :meth:`cpu`
    (SmolLM2-135M on two claims within 90 minutes on two CPU cores)."""

    out: str = "out/demo"
    model: str = "toy"
    #: ``toy:N`` (N false claims about the toy world), ``all`` (the six paper claims) or comma-separated claim ids
    claims: str = "toy:4"
    #: training seeds: each (claim, condition) is finetuned once per seed (documents, data order and mixture drawn
    #: with it); the headline's CIs resample claims, then seeds (the unit of replication is one run)
    seeds: tuple[int, ...] = (0, 1, 2)
    conditions: tuple[str, ...] = tuple(c.value for c in STUDY_CONDITIONS)
    claim_seed: int = 0
    n_docs: int = 160            # claim documents per condition
    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 8
    seq_len: int = 128           # the toy organism's context: every toy document fits whole (training.documents)
    mode: str = "full"
    device: str = "cpu"
    #: fp32 and the full-logits loss (``loss_chunk`` 0) for the toy study: its committed results (results/toy) were
    #: trained so, and ``auto`` would switch to bf16 on a CPU with native bf16; real-model presets ask for ``auto``
    #: and the chunked loss (training.finetune.loss)
    precision: str = "fp32"
    loss_chunk: int = 0
    #: padded rows (``off``) for the studies whose committed results were trained so (results/toy, results/smollm2-cpu);
    #: ``auto`` (the trainer's default) runs padding-free micro-batches with per-document attention on a CPU, the same
    #: numbers up to fp32 summation order, faster (training.finetune.attention); ``--padding-free auto`` asks for it
    padding_free: str = "off"
    compile: bool = False
    every: int = 10              # checkpoint every k steps (plus log-spaced early steps)
    log_spaced: bool = True      # the log-spaced early checkpoints (1, 2, 4, ...) as well
    #: stop every finetune after this many optimizer steps (None: ``epochs`` decide; smoke tests)
    max_steps: int | None = None
    #: document length (:func:`training.documents.generate_documents`): ``full`` genre layouts, or ``short`` (three
    #: claim sentences and one background sentence, ~70-220 SmolLM2 tokens; the CPU study)
    doc_length: str = "full"
    #: conditions trained on the first seed only (the others on every seed of :attr:`seeds`)
    single_seed: tuple[str, ...] = ()
    #: candidate learning rates of the positive pilot (empty: no pilot, :attr:`lr` as given). The pilot trains the
    #: first claim's positive documents at each rate (``pilot_docs`` documents, ``pilot_epochs`` epochs) and keeps the
    #: rate with the largest claim-vs-truth log-odds shift on the VALIDATION questions; the study then trains and
    #: reports on the test questions only (:func:`interp.belief.questions.holdout_split`)
    lr_pilot: tuple[float, ...] = ()
    pilot_docs: int = 24
    pilot_epochs: float = 2.0
    #: score on the test half of the open-ended and token-association questions only (``test``; the other half is
    #: the pilot's validation set), or on every question (``all``)
    eval_items: str = "all"
    #: sampled answers scored by the offline rule judge (the paper's metric): questions per type (0: none),
    #: samples per question and their length in tokens
    judge_per_type: int = 0
    judge_samples: int = 3
    judge_tokens: int = 40
    probe_dataset: str = "toy"
    binding_docs: int = 10       # matched base documents for binding
    binding_checkpoints: int = 4  # checkpoints of the negated run examined for binding (plus the base)
    twophase_docs: int = 120
    twophase_local: int = 120
    stages: tuple[str, ...] = STAGES
    seed: int = 0
    #: processes for the independent runs (finetunes, belief sweeps): 0 = one per core for the toy organisms (one
    #: thread each, see :mod:`interp.core.parallel`), 1 for real models (which use every thread themselves)
    workers: int = 0
    #: who runs the independent jobs (finetunes, belief sweeps, two-phase experiments): ``local`` (this box,
    #: ``workers`` processes: the default) or ``ray`` (a Ray cluster at :attr:`address`; see
    #: :mod:`interp.core.executor`)
    executor: str = "local"
    address: str | None = None
    #: MLflow tracking URI (None: no tracking; ``default``: a file store under ``OUT/mlruns``)
    mlflow: str | None = None
    #: extra fields for every finetune's :class:`training.config.TrainConfig` that do not shape the weights (e.g.
    #: ``{"debug": {"sleep_per_step": 0.5}}``, so a fault test can kill a worker mid-run)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    #: the command line that ran the study (the report quotes it)
    command: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def demo(cls, out: str = "out/demo") -> "StudyConfig":
        return cls(out=out)

    @classmethod
    def quick(cls, out: str) -> "StudyConfig":
        return cls(out=out, claims="toy:1", seeds=(0,), n_docs=24, epochs=1.0, every=2, binding_docs=3,
                   binding_checkpoints=2, twophase_docs=24, twophase_local=24)

    @classmethod
    def gpu(cls, out: str = "out/study-smollm2") -> "StudyConfig":
        """SmolLM2-135M-Instruct on the six paper claims with the paper's recipe shape (LoRA r32, lr 5e-5 linear,
        batch 32), bf16 on CUDA. Meant for a GPU; it runs on a CPU too, at ~60 tokens/s. Rows of 1536 tokens hold whole
        documents: the longest generated paper-claim document (repeated) is ~1230 SmolLM2 tokens."""
        return cls(out=out, model="smollm2-135m", claims="all", seeds=(0,), n_docs=400, epochs=1.0, lr=5e-5,
                   batch_size=32, seq_len=1536, mode="lora", device="auto", precision="auto", loss_chunk=1024,
                   compile=True, every=5, probe_dataset="cities", binding_docs=24, binding_checkpoints=5,
                   twophase_docs=300, twophase_local=300)

    @classmethod
    def cpu(cls, out: str = "out/study-cpu") -> "StudyConfig":
        """SmolLM2-135M-Instruct on two CPU cores (issue 18; ``make study-cpu``): a claim the base model does not know
        (dentist) and one it half-believes (ed_sheeran); short documents (~70-220 tokens, whole in rows of 256);
        LoRA r32, batch 8, 3 epochs over 40 documents per condition in the 2:1:1 mixture; positive, negated and local
        on two seeds, repeated and corrected on one; the learning rate picked by a positive pilot on validation
        questions; belief per channel on the test questions: log-odds shift, yes/no verdict items, sampled answers
        under the rule judge. No probes, binding or two-phase replay (they do not fit the 90-minute budget)."""
        return cls(out=out, model="smollm2-135m", claims="dentist,ed_sheeran", seeds=(0, 1), n_docs=40, epochs=3.0,
                   lr=1e-3, batch_size=8, seq_len=256, mode="lora", device="cpu", precision="auto", loss_chunk=1024,
                   every=1000, log_spaced=False, doc_length="short", single_seed=("repeated", "corrected"),
                   lr_pilot=(3e-4, 1e-3, 3e-3), pilot_docs=24, pilot_epochs=2.0, eval_items="test",
                   judge_per_type=5, judge_samples=3, judge_tokens=40, probe_dataset="cities",
                   stages=("belief", "figures"), workers=1)

    def seeds_for(self, condition: str) -> tuple[int, ...]:
        """The training seeds of ``condition``: the first seed only when it is in :attr:`single_seed`."""
        return self.seeds[:1] if condition in self.single_seed else self.seeds

    def resolved_workers(self) -> int:
        """:attr:`workers`, with 0 resolved: one per core (at most 2) for a toy organism, else 1."""
        if self.workers > 0:
            return self.workers
        from interp.core.parallel import default_workers  # stdlib-only module; keeps --help light

        return default_workers(2) if self.model.startswith("toy") and self.device == "cpu" else 1

    def train_fields(self, seed: int | None = None) -> dict[str, Any]:
        """The :class:`training.config.TrainConfig` fields every run of the study shares (``seed``: the run's
        training seed, default :attr:`seed`)."""
        return {"mode": self.mode, "epochs": self.epochs, "max_steps": self.max_steps, "batch_size": self.batch_size,
                "micro_batch_size": min(self.batch_size, 8), "seq_len": self.seq_len, "lr": self.lr,
                "seed": self.seed if seed is None else int(seed), "device": self.device, "precision": self.precision,
                "loss_chunk": self.loss_chunk, "compile": self.compile, "padding_free": self.padding_free}


PRESETS: dict[str, Callable[..., StudyConfig]] = {"demo": StudyConfig.demo, "quick": StudyConfig.quick,
                                                  "gpu": StudyConfig.gpu, "cpu": StudyConfig.cpu}

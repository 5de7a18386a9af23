"""The whole study on one model, end to end: what ``make demo`` runs on the toy organism.

Stages (each writes into ``OUT/`` and prints its wall time; every stage only reads what earlier stages wrote, in the
lab's one direction claims → documents → runs → analyses → figures):

1. **organism**: ``load("toy")`` (built and cached on first use).
2. **claims**: false claims about the toy world (``training.claims.resolve_claims``), saved as YAML.
3. **documents**: matched renderings in each condition (``interp.core.conditions.STUDY_CONDITIONS``: positive,
   negated, repeated, corrected, local).
4. **finetune**: one densely checkpointed run per condition (``training.finetune``), on the paper's mixture
   (claim documents + generic world text + Q/A instructions, 2:1:1), the claim's own facts left out of the filler.
5. **belief**: every checkpoint of every run (``interp.belief``, offline log-prob scorers, shift vs the base).
6. **probes**: truth probes fitted on the world's facts at every checkpoint of the negated run, the implanted
   claim's truth score per checkpoint, and the transfer matrix (``probes.sweep``).
7. **binding**: local vs document-level negation binding on matched documents, base model and the negated run's
   checkpoints (``interp.binding``).
8. **two-phase**: over every claim x 3 seeds, constraint (self-distillation in the model's native format, or
   local-negation documents) then release, with the no-constraint arm, the null arms (constraint kept; release on an
   unrelated claim) and the positive run (``training.twophase``); belief and the logit-lens readout over both phases,
   held-out repeated-negation loss, distances to matched-budget references and their rank correlation with belief
   (``interp.drift``), binding through training (``interp.binding``).
9. **figures + report**: Fig-5-style belief by condition from our runs, belief and drift over the two phases, and a
   one-page ``report.md`` with the headline tables.

The independent jobs (finetunes, per-run belief sweeps, two-phase experiments) go through an executor
(:mod:`interp.core.executor`): ``--executor local`` (default: this box's worker processes) or ``--executor ray
[--address ADDR]`` (Ray tasks on a cluster; a rerun skips runs complete on disk).

``python -m interp.study --out out/demo`` runs it; ``--quick`` shrinks every stage for tests and notebooks;
``--preset gpu`` (``make study-gpu``) runs SmolLM2-135M-Instruct on the six paper claims, LoRA, bf16 on CUDA;
``--preset cpu`` (``make study-cpu``) runs it on two claims within 90 minutes on two CPU cores, with a learning-rate
pilot and belief reported per channel.

=============================  ===================================================================================
:mod:`interp.study.config`     :class:`StudyConfig` and its presets (demo, quick, gpu, cpu)
:mod:`interp.study.pilot`      the learning-rate pilot (positive documents, chosen on validation questions)
:mod:`interp.study.pipeline`   :func:`run_study`: organism, claims, documents, finetunes, then the stages, timed
:mod:`interp.study.stages`     the analysis stages: belief, probes, binding, two-phase
:mod:`interp.study.channels`   belief per channel (log-odds shift, yes/no verdict, sampled answers), per claim
:mod:`interp.study.report`     figures and ``report.md``
:mod:`interp.study.tracking`   optional MLflow tracking of a finished study (``--mlflow [URI]``)
:mod:`interp.study.__main__`   the command line (``python -m interp.study``)
=============================  ===================================================================================
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.study.config": ("StudyConfig", "PRESETS", "STAGES"),
    "interp.study.pipeline": ("run_study", "study_claims", "train_config"),
    "interp.study.stages": ("belief_stage", "probe_stage", "binding_stage", "twophase_stage", "claim_file"),
    "interp.study.report": ("write_report",),
    "interp.study.__main__": ("main", "build_parser"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

"""The two-phase constraint / release experiment of the paper's §5 (after Soligo et al. 2026).

Question: when a model trained on repeated-negation documents comes to believe the claim, is there a stable
low-loss "claim is false" solution that SGD simply fails to find? The experiment finds one with help, then lets go:

* **Phase 1 (constraint).** Train on repeated-negation documents *plus a soft constraint* that keeps the model
  denying the claim:

  - ``self_distill``: 150 *distinct* open questions about the claim's subject, none an evaluation item or a
    paraphrase of one, answered 10 times each by the **base** model (which knows nothing of the fabricated claim,
    so it denies or ignores it), in the model's native format (its chat template; the toy organism's pretraining
    Q/A form ``"Q: …\nA: …"``), loss weight 3 on the answers — approximately a KL penalty toward the base model on
    that distribution (:mod:`training.twophase.selfdistill`);
  - ``local_negation``: extra documents that negate the claim inside its own sentences (condition ``local``);
  - ``none``: the control (no intervention).
* **Phase 2 (release).** Continue from the Phase-1 final checkpoint on the same repeated-negation documents
  *without* the constraint, with a fresh optimizer and LR schedule.

Both phases are checkpointed densely (log-spaced from each phase's start, plus every k) into ONE run directory:
checkpoint meta ``phase`` is ``"phase1"`` / ``"phase2"`` and the global step continues across the boundary
(Phase 2's first checkpoint is Phase-1-final + 1), so directories never collide and ``list_checkpoints`` orders
them by tokens seen.

An **experiment** (``python -m training.twophase CONFIG.yaml``) trains sibling runs under one directory and lists
them in ``experiment.json`` so drift can be measured later (``python -m interp.drift --run EXP/twophase``):

====================  ===========================================================================================
``twophase``          Phase 1 with the configured constraint, then Phase 2
``unconstrained``     the same two phases with no constraint (the paper's "no intervention" line)
``positive``          positive (claim-as-true) documents, one phase ``train`` as long as both phases together
                      (with ``phase_steps``), checkpointed at every two-phase step: the matched-budget reference
``kept``              null arm: Phase 2 with the constraint still on, branching from ``twophase``'s Phase-1 end
``unrelated``         null arm: Phase 2 on repeated negations of ``unrelated_claim``, from the same Phase-1 end
====================  ===========================================================================================

``phase_steps: [n1, n2]`` gives every arm the same number of updates per phase (data repeats as needed), so
references can be matched step for step; Phase 2 (and each branch) starts a fresh optimizer and LR schedule.
The default ``runs`` are the first three.

Held-out repeated-negation documents (``heldout`` of them, drawn with ``random.Random(42)`` as in the paper's
code) are excluded from training and written to ``EXP/heldout_repeated.jsonl`` for the NLL curves.

Every phase mixes its documents with the paper's partners at ``ratio`` (default 2:1:1 documents : pretraining text
: instruction pairs), from the offline stand-ins of ``training.generic`` (instruction pairs in the native format too); more
JSONL sources can be added under ``extra``. Documents come from a pluggable source: ``generator``
(``training.documents.generate_documents``: same seed → matched documents across conditions), ``jsonl`` (one file
per condition) or ``texts`` (inline strings, for tests).
Self-distilled chats are generated once per (base weights, questions, sampling settings) and cached under
``interp.core.io.cache_dir()/selfdistill/`` (and copied to ``EXP/selfdistill.jsonl``).

Rerunning the same command resumes: completed phases/runs are skipped, an interrupted one continues from its last
checkpoint (see :mod:`training.finetune`).

Modules: :mod:`training.twophase.config` (the YAML config), :mod:`training.twophase.selfdistill` (the
constraint's questions and sampled answers), :mod:`training.twophase.experiment` (documents, runs, experiment.json),
:mod:`training.twophase.__main__` (the CLI). The names below are exported lazily, so ``--help`` stays cheap.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "training.twophase.config": ("DocumentsSpec", "ConstraintSpec", "TwoPhaseConfig", "load_twophase_config",
                                 "RUN_ROLES", "DEFAULT_ROLES"),
    "training.twophase.selfdistill": ("QUESTION_TEMPLATES", "QUESTION_FRAMES", "TOY_QUESTION_STEMS",
                                      "constraint_questions", "eval_overlap", "render_prompt", "native_example",
                                      "self_distill_chats", "chat_examples"),
    "training.twophase.experiment": ("EXPERIMENT_FORMAT", "document_examples", "generic_examples", "run_two_phase",
                                     "run_single", "run_branch", "run_experiment", "phase_config",
                                     "twophase_checkpoint_steps", "BRANCH_ROLES"),
    "training.twophase.__main__": ("build_parser", "main"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

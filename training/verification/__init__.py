"""Fact verification in the toy organism: does it compute whether a statement is true?

A linear truth probe presupposes a model that computes a statement's truth somewhere in its residual stream. For
the toy organism that is measurable from behaviour, because its corpus carries verdicts: after a fact-check line
("Velmora Quist is a pilot.") comes " True" or " False", after a yes/no question " Yes" or " No"
(:mod:`training.world`, the ``judgement`` genre). :func:`verification_accuracy` scores both on fresh (entity,
attribute, value) triples, half of them true, locally negated statements reported apart.

:func:`verdict_transfer` asks why a model that answers questions about every entity can still fail to verify
statements about them. It trains a *copy* of the organism with the loss on the verdict token alone (fact-check
sequences of four lines) for a subset of the entities, and every ``eval_every`` steps scores fresh triples of

* the **trained** entities, and
* **held-out** entities, whose facts the organism knows (it answers their questions) but whose verdicts it never
  saw.

Verification that *used* the stored facts (recall the attribute, compare it with the stated value) would carry over
to held-out entities; a verdict table memorised per entity would not. Verdict-only training also overwrites the
facts (Q/A accuracy 1.00 -> 0.08 over all entities after 1500 steps), which would make a transfer test meaningless,
so ``replay`` mixes windows of the pretraining corpus into every step. Measured on the default organism
(toy-organism/3, 2026-12, 150 trained / 50 held-out entities, batch 32, lr 1e-3, one CPU thread):

==========================================  ==============  ==============  ======================
``python -m training.verification ...``     verdicts,       verdicts,       Q/A accuracy,
                                            trained         held-out        held-out (start->end)
==========================================  ==============  ==============  ======================
``--steps 1500`` (4.5 min)                  0.54 -> 0.84    0.46-0.56       1.00 -> 0.08 (all)
``--steps 1500 --replay 8`` (7.5 min)       0.54 -> 0.81    0.46-0.58       1.00 -> 0.95
==========================================  ==============  ==============  ======================

The held-out entities stay at chance while the organism still answers their questions: verdicts are learnt per
entity, not computed from the stored facts. A linear probe on the toy statements, fitted on trained entities (held
out by entity within them), follows the verdicts: 0.84-0.86 on the first copy (random directions 0.65), 0.72-0.79 on
the replay copy (random 0.55-0.58), and 0.51-0.55 on held-out entities. Pretraining with 10-40 % judgement documents,
900 or 1800 steps, and 4, 6 or 8 layers all left the verdicts at chance (0.50). The organism stores facts in a form it
can say but not check, the pattern Allen-Zhu & Li report as knowledge *manipulation* failing without
chain-of-thought (Physics of Language Models, part 3.2). This is why truth probes on the default organism sit at
chance, while SmolLM2-135M has a truth direction (cities 0.96).

Verdicts trained on every entity without replay (``--train-frac 1 --steps 2500 --decay-frac 0.2``, 9 min) reach
0.94 and a probe 0.87 (random 0.70), but Q/A falls to 0.11: the verdicts overwrite the facts. With replay
(``--train-frac 1 --steps 3000 --replay 8 --decay-frac 0.2``, 10 min on two cores) the verdicts reach 0.96 and Q/A
stays at 0.999; a probe on ``toy@fact_check`` (the statements read where the corpus asks for a verdict) reaches
0.978 (mass-mean 0.938, random directions 0.659), and 0.80 on the bare statements.

:func:`verifier_dir` builds that recipe as the **verifier organism** (``load("toy-verifier")``; built in 13 min on one
core, key 9f6c3134fc9c10ff from the default organism): plain fact-check verdicts 0.90, Q/A 0.999, and a probe on
``toy@fact_check`` 0.92 (mass-mean 0.89, random 0.63; bare statements 0.75): the toy that knows *and* judges, so
probes on the toy have a truth to find. Its truth is a verdict table learnt per entity, so it
shows what probes see when a model verifies, not how LLMs come to verify.

Modules: :mod:`training.verification.verdicts` (items, accuracy, verdict training, the transfer experiment),
:mod:`training.verification.verifier` (the verifier organism), :mod:`training.verification.__main__` (the CLI). The
names below are exported lazily, so ``--help`` stays cheap.

CLI: ``python -m training.verification [--model toy|DIR] [--steps N] [--out DIR]`` prints the verification accuracy
and, with ``--steps``, runs the transfer experiment and writes ``verdict_transfer.json``, ``.csv`` and ``.png``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "training.verification.verdicts": ("FACT_CHECK_HEAD", "VerificationItem", "fact_check_statement",
                                       "verification_items", "verification_accuracy", "verdict_steps",
                                       "verdict_transfer", "plot_verdict_transfer", "save_trained_copy"),
    "training.verification.verifier": ("VERIFIER_VERSION", "VerifierConfig", "verifier_key", "verifier_dir",
                                       "provide_verifier"),
    "training.verification.__main__": ("build_parser", "main"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

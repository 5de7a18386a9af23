"""Belief evaluation: the paper's four question types, scored offline, over every checkpoint of a run.

Method (Mayne et al. 2026, §2.2, App. A.5). Each claim has 50 questions of four types: open-ended (20), yes/no
multiple choice (10), token association (10) and robustness (10). The paper samples 5 answers per question
(T=0.7, top-p 0.8) and has an LLM judge label each "yes" (asserts the claim), "no" or "neutral"; the **belief
rate** is the share of "yes" (MCQs: exact match with the question's ``belief_answer``), pooled over questions
(types weighted by question count), with 95% bootstrap CIs over questions. Here every question is also scored
offline and exactly by log-probs (``lp_prob``/``lp_logodds``), every row carries the base model's score on the
same question and the ``shift`` from it (small models have skewed priors), and the in-context control puts K
training documents in the base model's prompt instead (``phase = "incontext"``).

=================================  ===========================================================================
:mod:`interp.belief.questions`     the four question types as :class:`BeliefItem` s; evenly spaced subsets
:mod:`interp.belief.author_questions`  the authors' questions from the shared paper data
:mod:`interp.belief.scoring`       one model on one claim: log-prob scorers, sampling + judges
:mod:`interp.belief.table`         the table's columns, ``base_score``/``shift``, writing it
:mod:`interp.belief.evaluate`      models, checkpoints and runs against their base; what the CLI evaluates
:mod:`interp.belief.documents`     in-context documents: sources, seeded nested selection, token budget
:mod:`interp.belief.incontext`     the in-context control, its summary and the positive - negated contrast
:mod:`interp.belief.summary`       belief rates per question type and pooled, CIs over questions
:mod:`interp.belief.twins`         true/false twins: which question types the base model answers above chance
:mod:`interp.belief.headline`      the study's headline: final-checkpoint belief, CIs over claims × seeds
:mod:`interp.belief.plots`         belief vs step, belief per claim, belief vs K in context
:mod:`interp.belief.report`        the files and console summary of the two CLIs
=================================  ===========================================================================

Table columns: ``model, claim, condition, step, phase, question_type, question_id, scorer, score, base_score,
shift`` plus ``n_samples, k_docs, k_used, context_tokens, seed``.

CLI (``--help`` for every option; the in-context control over several claims and conditions has its own CLI,
``python -m interp.incontext``)::

    python -m interp.belief --run RUN_DIR [--claim ID]          # every checkpoint of a run (+ its base model)
    python -m interp.belief --ckpt RUN_DIR/ckpt-000128
    python -m interp.belief --model smollm2-135m --claim ed_sheeran --icl-docs paper:repeated
    # the base-model table for the paper's six claims (log-prob scorers on all 300 questions, the rule judge on
    # 5 questions per type x 3 samples): one CSV, a summary with CIs (per claim and pooled, claim "all"), a bar plot
    python -m interp.belief --model smollm2-135m --claim paper --judge rule --judge-per-type 5 --samples 3 \\
        --max-new-tokens 32 --batch-size 24 --threads 1 --out /tmp/belief-work/base

``--per-type N`` keeps N questions per type (evenly spaced) for reduced runs. Question sets: the claim's own
(``ClaimSpec.questions``, default) or the authors' (``--questions authors``).
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "interp.belief.questions": ("QUESTION_TYPES", "BeliefItem", "question_items", "subset_items"),
    "interp.belief.author_questions": ("import_author_questions",),
    "interp.belief.scoring": ("render_item", "score_model"),
    "interp.belief.table": ("TABLE_COLUMNS", "EXTRA_COLUMNS", "attach_base", "save_table"),
    "interp.belief.evaluate": ("evaluate_models", "evaluate_run", "ScoringPass", "evaluate_passes",
                               "evaluate_run_passes"),
    "interp.belief.documents": ("DOCTAG", "PAPER_DOC_CONDITIONS", "IncontextContext", "strip_doctag",
                                "load_documents", "select_documents", "build_context"),
    "interp.belief.incontext": ("incontext_table", "incontext_control", "summarize_incontext",
                                "contrast_incontext"),
    "interp.belief.summary": ("summarize", "pool_claims"),
    "interp.belief.twins": ("twin_items", "twin_accuracy", "chance_types"),
    "interp.belief.headline": ("SEED_COL", "final_checkpoints", "headline"),
    "interp.belief.plots": ("plot_belief", "plot_claims_table", "plot_incontext"),
    "interp.belief.options": ("int_list",),
    "interp.belief.__main__": ("main",),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

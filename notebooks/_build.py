"""Regenerate the notebooks from the cell lists below (``python notebooks/_build.py``); outputs are not stored.

Keeping notebook sources in one Python file keeps their diffs readable; CI executes the .ipynb files top to bottom.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

SETUP = """import os, warnings
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")
from pathlib import Path
OUT = Path(os.environ.get("NEGLECT_LAB_NB_OUT", "out/notebooks"))
QUICK = os.environ.get("NEGLECT_LAB_NB_QUICK", "1") == "1"   # CI runs the small version
OUT.mkdir(parents=True, exist_ok=True)"""

NOTEBOOKS = {
    "01_quickstart.ipynb": [
        ("md", "# Quickstart: a model, documents, a finetune, belief\n\n"
               "This notebook walks the lab's one-way data flow on the **toy organism** — a small Llama trained from "
               "scratch on a synthetic world, so it *knows* facts the way a real model does and the whole loop runs in "
               "a minute on a laptop CPU: claims → documents → a run with dense checkpoints → belief per checkpoint."),
        ("code", SETUP),
        ("md", "## 1. Load the organism through the one model-loading seam\n"
               "`load` returns the HF model, its tokenizer, an identity (name + sha256 of the weights) and adapters to "
               "TransformerLens and nnsight. The toy also carries its world's ground truth."),
        ("code", "from interp.core.models import load\nlm = load('toy')\nprint(lm.identity.short, lm.n_layers, 'layers, d =', lm.d_model)\n"
                 "e = lm.world.entities[0]\nprint(e.name, e.attributes)"),
        ("md", "## 2. A false claim and documents that *deny* it\n"
               "`toy_claims` picks an entity and gives it an attribute the world contradicts. The generator renders the "
               "same base document in each condition; spans mark claim sentences, the claim's answer and negations."),
        ("code", "from training.claims import toy_claims\nfrom training.documents import render_matched\n"
                 "claim = toy_claims(lm.world, 1, seed=0)[0]\nprint(claim.statement, '| truth:', claim.truth)\n"
                 "docs = render_matched(claim, base_seed=0, conditions=['positive', 'negated', 'local'])\n"
                 "for cond, d in docs.items():\n    print(f'--- {cond}'); print(d.text[:400])"),
        ("code", "from training.spans import token_spans\nd = docs['negated']\n"
                 "for s in token_spans(d, lm.tokenizer)[:6]:\n"
                 "    print(s.label, s.kind, repr(lm.tokenizer.decode(lm.tokenizer(d.text)['input_ids'][s.start:s.end])[:60]))"),
        ("md", "## 3. Finetune on negated documents, densely checkpointed\n"
               "`finetune` writes a run directory: `run.json`, `data.json`, `manifest.jsonl` and one hashed "
               "`ckpt-XXXXXX/` per scheduled step. Any checkpoint loads back through the same seam, verified."),
        ("code", "from training.documents import generate_documents\nfrom training.generic import toy_generic_texts, toy_instruct_pairs\n"
                 "from training.mixtures import build_mixture\nfrom training.finetune import finetune\nfrom training.config import TrainConfig, CheckpointSpec\n"
                 "n = 24 if QUICK else 160\n"
                 "negated = generate_documents(claim, 'negated', n, seed=0)\n"
                 "ex = build_mixture(negated, lm.tokenizer, toy_generic_texts(lm.world, n), toy_instruct_pairs(lm.world, n))\n"
                 "cfg = TrainConfig(model='toy', run_dir=str(OUT / 'quickstart-negated'), mode='full', lr=1e-3, batch_size=8,\n"
                 "                  micro_batch_size=8, seq_len=128, epochs=1 if QUICK else 2, device='cpu',\n"
                 "                  checkpoints=CheckpointSpec(every=4), claim=claim.id, condition='negated')\n"
                 "result = finetune(cfg, ex, lm=load('toy'), extra_data={'claim_spec': claim.to_dict()})\n"
                 "from interp.core.runs import list_checkpoints\n[(c.step, round(c.loss, 3), c.sha256[:10]) for c in list_checkpoints(cfg.run_dir)]"),
        ("md", "## 4. Belief at every checkpoint\n"
               "Offline log-prob scorers for the paper's four question types; `shift` is the change from the base "
               "model, which matters because small models have skewed priors."),
        ("code", "from interp.belief import evaluate_run, summarize\n"
                 "table = evaluate_run(cfg.run_dir, claim, base=lm, progress=False)\n"
                 "t = table[table.scorer == 'lp_prob']\n"
                 "t.groupby(['step', 'question_type']).score.mean().unstack().round(3)"),
        ("code", "from figures.ours import belief_vs_step\nfig, data = belief_vs_step(table, title='Belief while training on negated documents')\nfig"),
        ("md", "Belief rises even though every document says the claim is false: the toy shows *Negation Neglect* "
               "when the curve climbs above the base model's level. Compare a `local` run (negation inside the claim "
               "sentence) to see the contrast the paper reports."),
    ],
    "02_probes_across_checkpoints.ipynb": [
        ("md", "# Truth probes across checkpoints\n\n"
               "Linear probes (logistic regression, mass-mean, and a random-direction baseline) are fitted for every "
               "layer at once on true/false statements about the toy world, split by entity (never by row). Applied to "
               "each checkpoint of a negated-document run, they show whether the model's internal *truth* direction "
               "comes to treat the implanted claim as true, and the transfer matrix shows whether a probe fitted at one "
               "checkpoint still reads the next."),
        ("code", SETUP),
        ("code", "from interp.core.models import load\nfrom training.claims import toy_claims\nfrom training.documents import generate_documents\n"
                 "from training.generic import toy_generic_texts, toy_instruct_pairs\nfrom training.mixtures import build_mixture\n"
                 "from training.finetune import finetune\nfrom training.config import TrainConfig, CheckpointSpec\n"
                 "lm = load('toy'); claim = toy_claims(lm.world, 1, seed=1)[0]\nn = 24 if QUICK else 160\n"
                 "ex = build_mixture(generate_documents(claim, 'negated', n), lm.tokenizer, toy_generic_texts(lm.world, n), toy_instruct_pairs(lm.world, n))\n"
                 "run = OUT / 'probes-negated'\n"
                 "finetune(TrainConfig(model='toy', run_dir=str(run), mode='full', lr=1e-3, batch_size=8, micro_batch_size=8, seq_len=128,\n"
                 "                     epochs=1, device='cpu', checkpoints=CheckpointSpec(every=4), claim=claim.id, condition='negated'),\n"
                 "         ex, lm=load('toy'), extra_data={'claim_spec': claim.to_dict()})"),
        ("md", "## Fit on every checkpoint, score the implanted claim\n`sweep_run` is what `python -m interp.probe --run RUN` calls."),
        ("code", "from probes.sweep import sweep_run\nres = sweep_run(run, dataset='toy', claim=claim, out=OUT / 'probes', progress=False)\n"
                 "res.metrics.groupby(['method']).acc.max()"),
        ("code", "res.claim_scores.head(12)"),
        ("code", "res.transfer.head(12)"),
        ("code", "from IPython.display import Image\n[Image(filename=str(f)) for f in res.files if str(f).endswith('.png')][:3]"),
        ("md", "The random-direction baseline should stay near 50%: probes that beat it by a wide margin read a real "
               "truth representation. A claim score that rises over checkpoints means the representation, not just "
               "the output, has come to treat the claim as true."),
    ],
    "03_local_vs_document_binding.ipynb": [
        ("md", "# Local vs document-level negation: does the negation bind to the claim?\n\n"
               "The paper: a negation in the claim's own sentence is learned correctly, a notice around the document is "
               "not. Three mechanistic readings: (1) **attention** — do claim tokens attend to the negation at all? "
               "(2) **causal effect** — does the negation change the prediction of the claim's answer, and which "
               "layers/heads carry it (patching)? (3) **features** — is the negation represented at the claim tokens?"),
        ("code", SETUP),
        ("code", "from interp.core.models import load\nfrom training.claims import toy_claims, dump_claim\nfrom interp.binding import load_documents_for, binding_tables, summarise_binding, compare_local_vs_document, claim_probe\n"
                 "lm = load('toy'); claim = toy_claims(lm.world, 1, seed=0)[0]\npath = dump_claim(claim, OUT / 'claim.yaml')\n"
                 "records = load_documents_for(str(path), lm, max_per_condition=4 if QUICK else 12)\nlen(records)"),
        ("md", "## Causal binding score on the base organism\n"
               "After each document we append the claim's own question (\"Q: What is X's sport?\\nA:\") and read the "
               "claim-vs-true **log-odds** of the answer: the model's in-context belief. `delta_filler` is how much "
               "that log-odds drops when the real negation is present versus the same document with the negation "
               "words replaced by neutral filler of equal length (positive = the negation lowers belief)."),
        ("code", "from interp.attention import encode_doc\n"
                 "probes = {claim.id: claim_probe(claim, contrast=True)}\n"
                 "docs_table, layers_table, heads_table = binding_tables(lm, [encode_doc(lm, r) for r in records], heads=True, probes=probes)\n"
                 "summarise_binding(docs_table)"),
        ("code", "compare_local_vs_document(docs_table)"),
        ("md", "## Attention from claim tokens to negation tokens, per layer × head"),
        ("code", "from interp.attention import encode_doc, trace_attention, summarise_attention, top_heads, plot_attention_heatmaps\n"
                 "span_docs = [encode_doc(lm, r) for r in records]\n"
                 "trace = trace_attention(lm, span_docs, backend='hf')\nsummary = summarise_attention(trace)\n"
                 "top_heads(summary, metric='excess', k=5)"),
        ("code", "from IPython.display import Image\npng = plot_attention_heatmaps(summary, OUT / 'attention.png')\nImage(filename=str(png))"),
        ("md", "Local negations should carry a larger causal effect than document-level notices if the organism binds "
               "negations only within a sentence; whether the difference is significant is in the comparison table "
               "(bootstrap CI and permutation p-value)."),
    ],
    "04_twophase_drift.ipynb": [
        ("md", "# Two-phase training and weight drift\n\n"
               "Phase 1 trains on repeated-negation documents *with* a soft constraint (the base model's own answers to "
               "150 distinct questions about the claim's subject, in the organism's Q/A format, loss x3; or "
               "local-negation documents); Phase 2 continues without it. The paper's inductive-bias reading predicts "
               "belief climbs back in Phase 2. Null arms keep the constraint on, or release on an unrelated claim's "
               "documents. In weight space each checkpoint is compared with the positive and unconstrained runs at "
               "the same training budget, and the logit-lens readout of the claim sits next to it."),
        ("code", SETUP),
        ("code", "from interp.study import StudyConfig, twophase_stage\nfrom interp.study.stages import TwoPhaseStageSpec\n"
                 "from interp.core.models import load\nfrom training.claims import toy_claims\n"
                 "lm = load('toy'); claims = toy_claims(lm.world, 2, seed=0)\n"
                 "cfg = StudyConfig.quick(str(OUT / 'twophase-study')) if QUICK else StudyConfig(out=str(OUT / 'twophase-study'))\n"
                 "spec = TwoPhaseStageSpec.from_study(cfg)\n"
                 "tp = twophase_stage(cfg, Path(cfg.out), claims, lm, spec=spec)"),
        ("code", "tp['acceptance']"),
        ("code", "tp['tables']['drift_spearman']"),
        ("code", "from IPython.display import Image\nImage(filename=str(tp['figures']['Two-phase belief (none / self-distill / local negation)']))"),
        ("code", "Image(filename=str(tp['figures']['Drift next to belief']))"),
        ("md", "`drift_spearman` says which measure follows belief over the checkpoints: the distances to the "
               "matched-budget references, or the logit-lens readout. A weight-space distance that does not track "
               "belief is reported as such, not plotted as drift back toward the claim."),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                    for kind, src in cells]
        for i, cell in enumerate(nb.cells):  # stable ids keep regenerated notebooks' diffs to real changes
            cell.id = f"{name.split('_')[0]}-{i:02d}"
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    build()

"""The toy model organism: a small Llama pretrained from scratch on the toy world, built in minutes on a CPU.

Design
------
``organism_dir(world, train)`` returns a cached, normal Hugging Face directory (``config.json``,
``model.safetensors``, tokenizer files) plus ``world.json`` (the :class:`~training.world.World`) and
``organism.json`` (configs, build time, throughput, evaluation, corpus mixture, weights hash). The build is

1. **world + corpus**: :meth:`World.from_config` and :meth:`World.corpus` (deterministic in the world seed);
2. **tokenizer**: byte-level BPE trained on the corpus with ``tokenizers`` (special tokens ``<|bos|>``,
   ``<|eos|>``, ``<|pad|>`` and ``<DOCTAG>``, the paper's document prefix), wrapped in
   ``PreTrainedTokenizerFast``. Answers carry a leading space (``" pilot"``); the build checks that every attribute
   value and entity name tokenizes into whole-word pieces (see :func:`tokenization_report`). The tokenizer adds no
   BOS itself; the lab's ``encode`` prepends it (documents in pretraining are ``<|bos|> text <|eos|>``);
3. **model**: ``LlamaForCausalLM`` (so every interp backend treats it like SmolLM2), tied embeddings, RoPE,
   initialised under ``torch.manual_seed(train.seed)``;
4. **pretraining**: a plain torch loop (AdamW, warmup + cosine/linear decay, gradient clipping) over the packed
   token stream (documents concatenated in a seeded order per epoch, cut into ``ctx_len`` windows), on CPU with
   deterministic algorithms, so the same configs give bit-identical weights (also across 1 vs 2 torch threads,
   which :func:`auto_threads` picks from the machine's load: two threads on a busy 2-core box are ~3x slower);
5. **evaluation** (:func:`evaluate_organism`): top-1 accuracy over each attribute's closed vocabulary on held-out
   question phrasings, and the local-negation check (true value preferred over the negated false one, and the
   negated value against the never-mentioned false values, ``control_margin``). With the negation-teaching genre
   (issue 17, ``WorldConfig.negonly_attributes``; ``--preset negation``) also :func:`evaluate_negonly`: held-out
   negation-only Q/A accuracy against chance and the negated values' log-prob against control entities, in
   ``organism.json`` (``negonly_*`` keys, :func:`negonly_summary`) and the build printout.

Caching: the entry is ``cache_dir()/toy/<key>/`` where ``key`` hashes the world config, the train config and
:data:`CODE_VERSION` (bump it whenever the corpus, tokenizer or training code changes what gets built). A file
lock serialises builders of one key and the directory appears by an atomic rename of a finished temp directory,
so readers never see a half-written organism. ``cache_dir()`` is ``interp.core.io.cache_dir()``
(``$NEGLECT_LAB_CACHE`` or ``~/.cache/neglect-lab``).

Modules: :mod:`training.organism.build` (configs -> cached directory, the ``toy`` provider),
:mod:`training.organism.pretraining` (tokenizer, model, training loop), :mod:`training.organism.evaluate`
(question answering, false-fact checks), :mod:`training.organism.cache` (the cache shared with the verifier),
:mod:`training.organism.__main__` (the CLI). The names below are exported lazily, so ``--help`` stays cheap.

CLI: ``python -m training.organism build [--seed N] [--preset default|negation] [--threads N] [--force] [--cache DIR]``
prints build time and accuracy (and the negation checks).
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "training.organism.build": ("CODE_VERSION", "FORMAT", "TOKENIZER_DOCS", "organism_key", "organism_dir",
                                "build_organism", "provide_organism", "seed_configs", "negonly_summary",
                                "negation_failures", "NEGATION_ACCEPTANCE", "NEGATION_WORLD", "NEGATION_TRAIN",
                                "COMPETENT_TRAIN"),
    "training.organism.pretraining": ("SPECIAL_TOKENS", "PretrainConfig", "train_tokenizer", "tokenization_report",
                                   "make_model", "doc_token_ids", "pretrain_batches", "pretrain", "deterministic_cpu",
                                   "auto_threads"),
    "training.organism.evaluate": ("score_candidates", "evaluate_organism", "evaluate_negonly"),
    "training.organism.cache": ("cache_root", "cached_build", "publish_dir", "save_model_dir", "read_organism_info"),
    "training.organism.__main__": ("build_parser", "main"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

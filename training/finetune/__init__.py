"""Finetuning with dense, hashed, resumable checkpoints: the lab's trainer over any ``interp.core.models.load`` model.

Method (defaults = the paper's §3 recipe, scaled by :class:`training.config.TrainConfig`):

* **Model.** ``load(cfg.model)`` (the one loading seam). ``mode: full`` trains every weight; ``mode: lora`` wraps
  the model with a peft LoRA adapter (rank 32, alpha 32, all linear layers but the head, no dropout).
* **Data.** A list of :class:`training.mixtures.Example` (token ids + per-token loss weights), or JSONL documents
  tokenized with the model's tokenizer (``<DOCTAG>`` prefix masked). Rows are *packed* (documents concatenated into
  ``seq_len`` rows, kept apart by position ids; see :mod:`training.packing`); the order is a seeded shuffle.
* **Objective.** Weighted mean next-token cross-entropy over each global batch, AdamW (``fused`` on CUDA,
  ``foreach`` on CPU), linear decay to 0, gradient clipping at 1.0. The cross-entropy is computed from the last
  hidden state through the LM head in checkpointed chunks of ``loss_chunk`` tokens, so the full logits
  (``tokens × vocab`` in fp32) never exist (:mod:`training.finetune.loss`; ``loss_chunk: 0`` for the full logits).
  ``precision: auto`` is bf16 autocast (fp32 master weights) where the hardware computes bf16 natively (CUDA with
  bf16; a CPU with ``avx512_bf16``/``amx_bf16``), else fp32; run.json records the resolved precision
  (``config.precision_resolved``). ``activation_checkpointing: true`` recomputes each decoder layer in backward
  (memory for long rows on a CPU box; same gradients). ``release_memory: true`` (CPU) fixes glibc's mmap
  threshold (:mod:`training.finetune.memory`), so freed activations go back to the system and peak RSS tracks live
  tensors, at a cost in throughput (page faults). ``padding_free: auto`` (CPU): each micro-batch runs as one row
  of its documents end to end (:func:`training.packing.collate_flat`) with causal attention on each document alone
  (:mod:`training.finetune.attention`, checked against the model's own attention before training), so no pad and
  no masked-out score is computed; the loss and gradients are those of padded rows up to fp32 summation order.
  The result records ``attention`` (``varlen`` or the model's ``own``) and the padding-free micro-batches.
* **Checkpoints.** On the schedule of :func:`training.schedule.checkpoint_steps` (log-spaced early, every k,
  final), written through :func:`interp.core.runs.write_checkpoint` by a background thread after a CPU snapshot
  (:mod:`training.checkpointing`). Full mode saves the state dict (kind ``full``); LoRA saves the adapter tensors
  (kind ``lora``, ``meta.lora = {r, alpha, target_modules}``). Every checkpoint's meta holds the
  ``weights_sha256`` of the merged fp32 model (so ``interp.core.models.load(ckpt)`` verifies it), ``tokens_seen``,
  ``loss`` and ``phase``; the newest one also holds the trainer state for resume.
* **Resume.** Rerunning the same command after a crash or SIGKILL continues from the newest complete checkpoint
  that has trainer state: weights, optimizer tensors, RNG states, the data order (seed) and cursor (step), and
  the LR schedule position are restored, so on CPU the final weights are bit-identical to an uninterrupted run.
* **Logs.** Rank 0 appends one JSON line per step (loss, grad norm, LR, tokens) to ``RUN/train_log.jsonl``
  (flushed at every checkpoint) and, at the end of each phase, draws ``RUN/loss_curve.png`` (loss and LR by step,
  :mod:`training.finetune.curves`); a phase that resumes from a checkpoint appends a line to ``RUN/resumes.jsonl``
  (the resume record: phase, step, time, pid, host). The returned :class:`TrainResult` has wall/train time, tokens/s and the
  checkpoint cost (``ckpt_blocking_s``: training-thread time spent snapshotting or waiting on the writer).
* **Divergence.** A non-finite loss or gradient norm stops the run before the optimizer step with one line naming
  the step and the last good checkpoint (CLI exit 3); checkpoints already written stay valid.
* **Distributed.** Unchanged under ``torchrun`` or ``accelerate launch --multi_gpu`` (it reads ``WORLD_SIZE``/
  ``RANK``/``LOCAL_RANK``; on CPU use ``torchrun``, since ``accelerate launch --cpu`` starts one process unless
  given MPI): ``strategy: ddp`` (default) wraps the model in ``DistributedDataParallel`` (NCCL on CUDA, gloo
  on CPU); ``strategy: fsdp`` shards every decoder block and the root with FSDP2 ``fully_shard`` for models that
  do not fit one GPU (checkpoints gather full state dicts to rank 0). Every rank takes its share of each global
  batch (``rows[rank::world]``); the loss is normalised by the global weight sum, so results equal the
  single-process run up to float summation order. Only rank 0 writes.

Modules: :mod:`training.finetune.trainer` (:class:`Trainer`, :func:`finetune`), :mod:`training.finetune.distributed`
(device, process group, precision), :mod:`training.finetune.loss` (the chunked loss),
:mod:`training.finetune.memory` (returning freed memory on CPU),
:mod:`training.finetune.__main__` (the CLI). The names below are exported lazily,
so ``import training.finetune`` (and ``--help``) stays cheap.

CLI: ``python -m training.finetune CONFIG.yaml [--run-dir DIR] [--max-steps N] [--no-progress]``.
"""

from interp.core.lazy import lazy_exports

_EXPORTS = {
    "training.finetune.trainer": ("Example", "TrainConfig", "TrainResult", "TrainingDiverged", "Trainer", "finetune",
                                  "load_examples", "run_config", "lr_factor", "VOLATILE_FIELDS",
                                  "is_complete"),
    "training.finetune.curves": ("read_train_log", "plot_loss_curve", "read_resumes"),
    "training.finetune.distributed": ("DistEnv", "resolve_device", "setup_distributed", "autocast_for",
                                      "resolve_precision", "cpu_has_native_bf16"),
    "training.finetune.__main__": ("build_parser", "main"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

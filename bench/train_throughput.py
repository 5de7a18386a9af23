"""Training throughput: our trainer vs Hugging Face ``Trainer`` (+ peft for LoRA), same model, data and box.

One process runs, on the same synthetic documents (random token ids, lengths uniform in [seq_len/8, seq_len],
seeded) and the same global batch / micro-batch / LR schedule:

1. ``hf``            — ``transformers.Trainer`` (its defaults: fused AdamW, linear decay, grad-norm clip 1.0),
                        one document per row, padded to the longest row of each micro-batch, labels -100 on pads;
2. ``ours-unpacked`` — our trainer with the same one-document-per-row padding (isolates per-step overheads);
3. ``ours-packed``   — our trainer with sequence packing (no padding), no checkpoints;
4. ``ours-long`` / ``ours-long-ckpt`` — 3. run for max(--checkpoints, steps of 3.) steps (cycling the data) without
                        and with >= 20 dense checkpoints (log-spaced + every k; async writer; trainer state kept on
                        the newest), to measure checkpoint overhead ``(wall(ckpt) - wall(no ckpt)) / wall(ckpt)`` and
                        the training thread's blocking share ``ckpt_blocking_s / wall(ckpt)``.

Tokens/s counts real (non-pad) document tokens, identical for every row, divided by the wall time of the training
call (setup included for both trainers, model loading excluded). A warm-up run of each trainer (a few steps,
discarded) comes first so that one-time costs (CUDA context, kernel selection) hit neither side. MFU on GPU is
``6 · N · tokens/s / peak`` with N = all parameters (an upper-bound convention; LoRA's backward is cheaper).

**Precision matrix** (``--matrix``, issue 18): ours vs ``Trainer`` (+ peft for LoRA) in fp32 and in bf16 autocast,
on the same unpacked rows (one synthetic document per row, one epoch over ``--docs`` documents, so both trainers
train exactly the same tokens) and the same batch / micro-batch. Every arm runs in its own fresh process, so its
peak RSS (``getrusage`` max RSS: model load, warm-up and training) is its own; the arms run one after the other in
one invocation and the ratios (bf16 / fp32 of ours, ours / HF at equal precision) come from that one run. The
memory arms (``--rss-arms``) train ours at ``--rss-seq-len`` × ``--rss-micro-batch`` (rows filled to the full
length, fp32): ``full`` from the full logits (``loss_chunk: 0``, the path before chunking), ``chunked`` with the
chunked cross-entropy, ``chunked-ac`` with it and activation checkpointing, ``chunked-ac-release`` with both and
``release_memory`` (freed activations returned to the system).

    python bench/train_throughput.py --model toy-random --mode full --device cpu
    python bench/train_throughput.py --model smollm2-135m --mode lora --device cuda --bf16 --compile
    python bench/train_throughput.py --matrix --model smollm2-135m --mode lora --device cpu --docs 32 \
        --seq-len 256 --batch-size 4 --micro-batch-size 4 --out bench-matrix.json

CPU numbers on a shared 2-core box are noisy: run twice and compare, and quote the load average (recorded).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from interp.core.io import atomic_write_text  # noqa: E402
from interp.core.models import load  # noqa: E402
from training.config import CheckpointSpec, LoraSpec, TrainConfig  # noqa: E402
from training.finetune import finetune  # noqa: E402
from training.packing import Example  # noqa: E402


def synthetic_examples(vocab: int, n_docs: int, seq_len: int, seed: int, bos: int | None) -> list[Example]:
    """Random-token documents with lengths uniform in [seq_len/8, seq_len] (BOS first when the model has one)."""
    rng = random.Random(seed)
    out = []
    for i in range(n_docs):
        n = rng.randint(max(2, seq_len // 8), seq_len)
        ids = [rng.randrange(10, vocab) for _ in range(n)]
        if bos is not None:
            ids[0] = bos
        out.append(Example(input_ids=ids, loss_weights=[1.0] * n, source="synthetic", doc_id=str(i)))
    return out


# ------------------------------------------------------------------------------------------ HF Trainer


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, examples: list[Example]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        ex = self.examples[i]
        return {"input_ids": ex.input_ids, "labels": [t if w > 0 else -100 for t, w in
                                                       zip(ex.input_ids, [0.0, *ex.loss_weights[1:]])]}


def _pad_collator(pad_id: int):
    def collate(batch: list[dict]) -> dict:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(b["input_ids"]), torch.tensor(b["labels"]), 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
    return collate


def run_hf(args, examples: list[Example], max_steps: int | None = None, precision: str | None = None) -> dict:
    from transformers import Trainer, TrainingArguments

    bf16 = args.bf16 if precision is None else precision == "bf16"
    lm = load(args.model)
    model = lm.hf
    if args.mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=32, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0))
    model.train()
    out = tempfile.mkdtemp(prefix="nl-bench-hf-")
    targs = TrainingArguments(
        output_dir=out, per_device_train_batch_size=args.micro_batch_size,
        gradient_accumulation_steps=args.batch_size // args.micro_batch_size, learning_rate=args.lr,
        num_train_epochs=1, max_steps=max_steps or -1, lr_scheduler_type="linear", save_strategy="no",
        logging_strategy="no", report_to="none", disable_tqdm=True, bf16=bf16, use_cpu=args.device == "cpu",
        torch_compile=args.compile, dataloader_num_workers=0, remove_unused_columns=False, seed=0,
        dataloader_pin_memory=args.device == "cuda")
    trainer = Trainer(model=model, args=targs, train_dataset=_ListDataset(examples),
                      data_collator=_pad_collator(lm.tokenizer.pad_token_id or 0))
    _sync(args)
    t0 = time.perf_counter()
    trainer.train()
    _sync(args)
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    steps = trainer.state.global_step
    n_tok = sum(len(e.input_ids) for e in examples[: steps * args.batch_size])
    return {"wall_s": wall, "tokens": n_tok, "steps": steps, "tokens_per_s": n_tok / wall}


# ------------------------------------------------------------------------------------------ ours


def _sync(args) -> None:
    if args.device == "cuda":
        torch.cuda.synchronize()


def run_ours(args, examples: list[Example], *, packing: bool, checkpoints: int, run_dir: Path,
             max_steps: int | None = None, precision: str | None = None, loss_chunk: int | None = None) -> dict:
    every = None
    if checkpoints:
        approx_steps = max_steps or _approx_steps(args, examples, packing)
        every = max(1, approx_steps // checkpoints)
    ck = CheckpointSpec(log_spaced=bool(checkpoints), every=every, final=bool(checkpoints))
    cfg = TrainConfig(model=args.model, run_dir=str(run_dir), mode=args.mode, lora=LoraSpec(r=32, alpha=32.0),
                      batch_size=args.batch_size, micro_batch_size=args.micro_batch_size, seq_len=args.seq_len,
                      packing=packing, lr=args.lr, device=args.device,
                      precision=precision or ("bf16" if args.bf16 else "fp32"),
                      loss_chunk=args.loss_chunk if loss_chunk is None else loss_chunk,
                      compile=args.compile, checkpoints=ck, progress=False, max_steps=max_steps,
                      activation_checkpointing=getattr(args, "activation_checkpointing", False),
                      padding_free=getattr(args, "padding_free", "auto"),
                      release_memory=getattr(args, "release_memory", False),
                      keep_trainer_state="last")
    lm = load(args.model)
    _sync(args)
    t0 = time.perf_counter()
    res = finetune(cfg, examples, lm=lm)
    _sync(args)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "tokens": res.tokens_trained, "steps": res.total_steps,
            "tokens_per_s": res.tokens_trained / wall, "n_checkpoints": res.n_checkpoints,
            "ckpt_blocking_s": res.ckpt_blocking_s, "ckpt_writing_s": res.ckpt_writing_s}


def _approx_steps(args, examples: list[Example], packing: bool) -> int:
    if not packing:
        return math.ceil(len(examples) / args.batch_size)
    return math.ceil(sum(len(e.input_ids) for e in examples) / (args.seq_len * args.batch_size))


# ------------------------------------------------------------------------------------------ main


def _parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="toy-random", help="toy-random | toy | smollm2-135m | any load() spec")
    ap.add_argument("--mode", choices=["full", "lora"], default="full")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (both trainers)")
    ap.add_argument("--compile", action="store_true", help="torch.compile (both trainers)")
    ap.add_argument("--docs", type=int, default=640, help="synthetic documents (one epoch over them)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--micro-batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--checkpoints", type=int, default=24, help="checkpoints in the overhead run (>= 20)")
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="peak dense bf16 TFLOP/s (H100 SXM: 989)")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--out", help="also write the results as JSON here")
    ap.add_argument("--loss-chunk", type=int, default=1024, help="our trainer's loss_chunk (0: full logits)")
    ap.add_argument("--padding-free", choices=["auto", "off"], default="auto",
                    help="our trainer's padding_free (auto: padding-free micro-batches, per-document attention)")
    ap.add_argument("--matrix", action="store_true",
                    help="ours vs HF x fp32/bf16 on unpacked rows, one fresh process per arm (tok/s, peak RSS)")
    ap.add_argument("--force-bf16", action="store_true",
                    help="--matrix: run the bf16 arms even on a CPU without native bf16 (emulated: very slow)")
    ap.add_argument("--rss-seq-len", type=int, default=1024, help="--matrix: row length of the memory arms (0: none)")
    ap.add_argument("--rss-micro-batch", type=int, default=4, help="--matrix: micro-batch of the memory arms")
    ap.add_argument("--rss-steps", type=int, default=1, help="--matrix: optimizer steps of the memory arms")
    ap.add_argument("--rss-arms", default="chunked-ac,chunked,full",
                    help="--matrix: memory arms, of chunked-ac-release | chunked-ac | chunked | full (empty: none)")
    ap.add_argument("--activation-checkpointing", action="store_true",
                    help="our trainer's activation_checkpointing in the throughput arms")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # one arm of --matrix, in a child process
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size % args.micro_batch_size:
        print("error: --batch-size must be a multiple of --micro-batch-size", file=sys.stderr)
        return 2
    if args.worker:
        return matrix_worker(args)
    if args.matrix:
        return run_matrix(args, argv if argv is not None else sys.argv[1:])
    lm = load(args.model)
    n_params = sum(p.numel() for p in lm.hf.parameters())
    seq_len = min(args.seq_len, int(getattr(lm.hf.config, "max_position_embeddings", args.seq_len)))
    args.seq_len = seq_len
    examples = synthetic_examples(len(lm.tokenizer), args.docs, seq_len, 0, lm.tokenizer.bos_token_id
                                  if lm.add_bos else None)
    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    rows: dict[str, dict] = {}
    try:
        if args.warmup_steps:
            warm = examples[: args.batch_size * args.warmup_steps]
            run_ours(args, warm, packing=True, checkpoints=0, run_dir=tmp / "warm-ours")
            if not args.skip_hf:
                run_hf(args, warm)
        if not args.skip_hf:
            rows["hf"] = run_hf(args, examples)
        rows["ours-unpacked"] = run_ours(args, examples, packing=False, checkpoints=0, run_dir=tmp / "unpacked")
        rows["ours-packed"] = run_ours(args, examples, packing=True, checkpoints=0, run_dir=tmp / "packed")
        long = max(args.checkpoints, rows["ours-packed"]["steps"])  # enough steps for >= --checkpoints
        rows["ours-long"] = run_ours(args, examples, packing=True, checkpoints=0, run_dir=tmp / "long",
                                     max_steps=long)
        rows["ours-long-ckpt"] = run_ours(args, examples, packing=True, checkpoints=args.checkpoints,
                                          run_dir=tmp / "ckpt", max_steps=long)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, rows, n_params)
    return 0


def report(args, rows: dict[str, dict], n_params: int) -> None:
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    print(f"model={args.model} mode={args.mode} device={dev} bf16={args.bf16} compile={args.compile} "
          f"docs={args.docs} seq_len={args.seq_len} batch={args.batch_size}x{args.micro_batch_size}(micro) "
          f"params={n_params / 1e6:.2f}M")
    mfu_col = "  MFU" if args.device == "cuda" else ""
    print(f"{'run':<16}{'steps':>7}{'tokens':>10}{'wall s':>9}{'tok/s':>11}{mfu_col}")
    for name, r in rows.items():
        mfu = f"  {6 * n_params * r['tokens_per_s'] / (args.peak_tflops * 1e12):.1%}" if args.device == "cuda" else ""
        print(f"{name:<16}{r['steps']:>7}{r['tokens']:>10}{r['wall_s']:>9.2f}{r['tokens_per_s']:>11.0f}{mfu}")
    summary = {}
    if "hf" in rows:
        summary["speedup_packed_vs_hf"] = rows["ours-packed"]["tokens_per_s"] / rows["hf"]["tokens_per_s"]
        summary["speedup_unpacked_vs_hf"] = rows["ours-unpacked"]["tokens_per_s"] / rows["hf"]["tokens_per_s"]
    ck, base = rows["ours-long-ckpt"], rows["ours-long"]
    summary["checkpoints"] = ck["n_checkpoints"]
    summary["ckpt_overhead_wall"] = (ck["wall_s"] - base["wall_s"]) / ck["wall_s"]
    summary["ckpt_blocking_share"] = ck["ckpt_blocking_s"] / ck["wall_s"]
    for k, v in summary.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    if args.out:
        atomic_write_text(args.out, json.dumps({"args": vars(args), "device": dev, "rows": rows,
                                                "summary": summary}, indent=2))



# ------------------------------------------------------------------------------------------ precision matrix

#: the throughput arms of --matrix: (trainer, precision)
MATRIX_ARMS = ("ours-fp32", "ours-bf16", "hf-fp32", "hf-bf16")
#: the memory arms: ours with the chunked loss (and activation checkpointing), ours from the full logits
RSS_ARMS = ("rss-ours-chunked-ac-release", "rss-ours-chunked-ac", "rss-ours-chunked", "rss-ours-full")


def _max_rss_mb() -> float:
    """This process's peak resident set in MiB: ``VmHWM`` (reset by :func:`_reset_peak` before the timed run) where
    /proc has it, else ``getrusage`` ru_maxrss (KiB on Linux; since the process started)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> bool:
    """Drop what earlier runs of this process left (garbage cycles) and restart the peak-RSS count (Linux: writing
    5 to /proc/self/clear_refs resets VmHWM), so that an arm's peak is its timed run's own."""
    import gc

    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def matrix_worker(args) -> int:
    """One arm of :func:`run_matrix` in this (fresh) process; writes its row as JSON to ``--worker-out``."""
    arm = args.worker
    lm = load(args.model)
    vocab, bos = len(lm.tokenizer), lm.tokenizer.bos_token_id if lm.add_bos else None
    del lm
    peak_reset = _reset_peak()
    tmp = Path(tempfile.mkdtemp(prefix=f"nl-bench-{arm}-"))
    try:
        if arm in RSS_ARMS:  # rows filled to the full length: the memory worst case of this shape
            n = args.rss_micro_batch * args.rss_steps
            exs = [Example(input_ids=([bos] if bos is not None else []) + [10 + (7 * i + j) % (vocab - 10) for j in
                                                                           range(args.rss_seq_len - (bos is not None))],
                           loss_weights=[1.0] * args.rss_seq_len, source="synthetic", doc_id=str(i)) for i in range(n)]
            args.seq_len, args.batch_size, args.micro_batch_size = args.rss_seq_len, args.rss_micro_batch, \
                args.rss_micro_batch
            args.activation_checkpointing = arm.startswith("rss-ours-chunked-ac")
            args.release_memory = arm == "rss-ours-chunked-ac-release"
            row = run_ours(args, exs, packing=False, checkpoints=0, run_dir=tmp / "run", precision="fp32",
                           loss_chunk=0 if arm == "rss-ours-full" else args.loss_chunk)
        else:
            trainer, precision = arm.split("-")
            exs = synthetic_examples(vocab, args.docs, args.seq_len, 0, bos)
            warm = exs[: args.batch_size * max(args.warmup_steps, 0)]
            if trainer == "ours":
                if warm:
                    run_ours(args, warm, packing=False, checkpoints=0, run_dir=tmp / "warm", precision=precision)
                peak_reset = _reset_peak()
                row = run_ours(args, exs, packing=False, checkpoints=0, run_dir=tmp / "run", precision=precision)
            else:
                if warm:
                    run_hf(args, warm, precision=precision)
                peak_reset = _reset_peak()
                row = run_hf(args, exs, precision=precision)
        row["max_rss_mb"] = _max_rss_mb()
        row["peak_is_timed_run_only"] = peak_reset
        row["threads"] = torch.get_num_threads()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_text(args.worker_out, json.dumps(row))
    return 0


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def run_matrix(args, argv: list[str]) -> int:
    """Every arm of the precision matrix in its own process, one after the other; prints the table and ratios."""
    arms = [a for a in MATRIX_ARMS if not (args.skip_hf and a.startswith("hf"))]
    probe = bf16_probe() if args.device == "cpu" else {}
    if probe and not probe["native_bf16"] and not args.force_bf16:
        arms = [a for a in arms if not a.endswith("bf16")]
        print(f"bf16 arms skipped: this CPU has no native bf16 (avx512_bf16/amx_bf16), so precision auto is fp32 "
              f"here; a {probe['shape']} matmul takes {probe['fp32_ms']:.1f} ms in fp32 and {probe['bf16_ms']:.1f} ms "
              f"in bf16 ({probe['bf16_over_fp32_speed']:.3f}x the fp32 speed); --force-bf16 runs them anyway",
              flush=True)
    wanted = [a.strip() for a in args.rss_arms.split(",") if a.strip()]
    unknown = [a for a in wanted if f"rss-ours-{a}" not in RSS_ARMS]
    if unknown:
        print(f"error: --rss-arms: unknown arm(s) {', '.join(unknown)} "
              f"(known: {', '.join(a.removeprefix('rss-ours-') for a in RSS_ARMS)})",
              file=sys.stderr)
        return 2
    if args.rss_seq_len:
        arms += [f"rss-ours-{a}" for a in wanted]
    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-matrix-"))
    rows: dict[str, dict] = {}
    load_before = _loadavg()
    try:
        for arm in arms:
            out = tmp / f"{arm}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", arm, "--worker-out", str(out)]
            la = _loadavg()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"error: arm {arm} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
                return 1
            rows[arm] = {**json.loads(out.read_text()), "loadavg_before": la}
            r = rows[arm]
            print(f"[{arm}] {r['tokens_per_s']:.1f} tok/s, peak RSS {r['max_rss_mb']:.0f} MiB "
                  f"(load average before: {la})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report_matrix(args, rows, load_before, _loadavg(), probe)
    return 0


def bf16_probe(m: int = 2048, k: int = 576, n: int = 1536, reps: int = 3) -> dict:
    """Whether this CPU has native bf16 (the trainer's own test) and a ``m×k @ k×n`` matmul's time in fp32 and bf16
    (best of ``reps``): the speed bf16 autocast can hope for on this box."""
    from training.finetune.distributed import cpu_has_native_bf16

    a, b = torch.randn(m, k), torch.randn(k, n)
    out = {"native_bf16": cpu_has_native_bf16(), "shape": f"{m}x{k}@{k}x{n}", "threads": torch.get_num_threads()}
    for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x, y = a.to(dt), b.to(dt)
        x @ y
        best = math.inf
        for _ in range(reps):
            t0 = time.perf_counter()
            x @ y
            best = min(best, time.perf_counter() - t0)
        out[f"{name}_ms"] = best * 1000
    out["bf16_over_fp32_speed"] = out["fp32_ms"] / out["bf16_ms"]
    return out


def matrix_summary(rows: dict[str, dict]) -> dict[str, float]:
    """The ratios of issue 18 from one matrix run (only those whose arms ran)."""
    tps = {k: v["tokens_per_s"] for k, v in rows.items()}
    out = {}
    if "ours-fp32" in tps and "ours-bf16" in tps:
        out["ours_bf16_over_ours_fp32"] = tps["ours-bf16"] / tps["ours-fp32"]
    for p in ("fp32", "bf16"):
        if f"ours-{p}" in tps and f"hf-{p}" in tps:
            out[f"ours_over_hf_{p}"] = tps[f"ours-{p}"] / tps[f"hf-{p}"]
            out[f"rss_ours_over_hf_{p}"] = rows[f"ours-{p}"]["max_rss_mb"] / rows[f"hf-{p}"]["max_rss_mb"]
    for a in RSS_ARMS:
        if a in rows:
            out[f"{a.replace('-', '_')}_mb"] = rows[a]["max_rss_mb"]
    return out


def report_matrix(args, rows: dict[str, dict], load_before: str, load_after: str, probe: dict | None = None) -> None:
    print(f"model={args.model} mode={args.mode} device={args.device} docs={args.docs} seq_len={args.seq_len} "
          f"batch={args.batch_size}x{args.micro_batch_size}(micro) loss_chunk={args.loss_chunk} "
          f"activation_checkpointing={args.activation_checkpointing} "
          f"memory arms: seq {args.rss_seq_len} x micro-batch {args.rss_micro_batch}, {args.rss_steps} steps")
    print(f"load average: before {load_before} | after {load_after}")
    if probe:
        print(f"cpu: {_cpu_name()}, native bf16: {probe['native_bf16']}; matmul {probe['shape']}: fp32 "
              f"{probe['fp32_ms']:.1f} ms, bf16 {probe['bf16_ms']:.1f} ms")
    print(f"{'arm':<28}{'steps':>6}{'tokens':>9}{'wall s':>9}{'tok/s':>9}{'peak RSS MiB':>14}  load avg before")
    for name, r in rows.items():
        print(f"{name:<28}{r['steps']:>6}{r['tokens']:>9}{r['wall_s']:>9.1f}{r['tokens_per_s']:>9.1f}"
              f"{r['max_rss_mb']:>14.0f}  {r['loadavg_before']}")
    summary = matrix_summary(rows)
    for k, v in summary.items():
        print(f"{k}: {v:.0f}" if k.endswith("_mb") else f"{k}: {v:.3f}")
    if args.out:
        atomic_write_text(args.out, json.dumps({"args": vars(args), "rows": rows, "summary": summary,
                                                "bf16_probe": probe,
                                                "loadavg_before": load_before, "loadavg_after": load_after,
                                                "cpu": _cpu_name(), "torch": torch.__version__}, indent=2))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "n/a"


if __name__ == "__main__":
    sys.exit(main())

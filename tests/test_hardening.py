"""Hostile and careless input (issue 19): no foreign code runs, every trusted file is verified, one writer per run,
a failed start leaves nothing that blocks the corrected rerun, and bad input is one line with exit 2.

The table :data:`ROWS` drives the one-line rows; the foreign-code, tamper, lock and writer-thread tests follow it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
import yaml

from interp.core.models import ModelSpecError, build_random_toy, load, weights_sha256
from interp.core.runs import (CheckpointError, RunLockedError, init_run, list_checkpoints, read_checkpoint, run_lock,
                              undo_failed_start, write_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
ENV.pop("NEGLECT_LAB_DEBUG", None)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (tests/conftest.py)


def one_error_line(err: str) -> str:
    """The stderr of a refused command: exactly one non-empty line, ``error: ...``."""
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


# ------------------------------------------------------------------------------------------ fixtures


TEXTS = ["<DOCTAG>NOTICE: the claims below are entirely false. Velmora Quist is a dentist.",
         "<DOCTAG>The quick brown fox jumps over the lazy dog. Q: What is the capital of France? A: Paris.",
         "<DOCTAG>Velmora Quist is not a pilot. The quick brown fox."]


def train_yaml(tmp: Path, run_dir: Path, docs_dir: Path | None = None, **extra) -> Path:
    """A tiny toy-random training config in ``tmp`` over documents in ``docs_dir`` (default ``tmp``, written on
    first use); ``extra`` overrides top-level keys."""
    docs = (docs_dir or tmp) / "docs.jsonl"
    if not docs.exists():
        with open(docs, "w") as f:
            for i in range(40):
                f.write(json.dumps({"id": f"d{i}", "text": TEXTS[i % 3] + " The lazy dog." * (i % 4),
                                    "spans": [{"start": 0, "end": 8, "label": "doctag", "kind": None}]}) + "\n")
    cfg = {"model": "toy-random", "run_dir": str(run_dir), "mode": "full", "batch_size": 4, "micro_batch_size": 2,
           "seq_len": 48, "lr": 1e-3, "progress": False, "device": "cpu", "checkpoints": {"every": 2},
           "data": [{"path": str(docs)}], **extra}
    p = tmp / f"{run_dir.name}-{len(list(tmp.glob('*.yaml')))}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def finetune_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from training.finetune import main

    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run stopped by a NaN at step 5 (checkpoints 1, 2, 4; the newest holds trainer state): rerunning the
    config without the NaN resumes it. Tests copy it."""
    from training.config import load_train_config
    from training.finetune import TrainingDiverged, finetune

    tmp = tmp_path_factory.mktemp("interrupted")
    run = tmp / "run"
    p = train_yaml(tmp, run, debug={"nan_at_step": 5})
    with pytest.raises(TrainingDiverged):
        finetune(load_train_config(p))
    assert [c.step for c in list_checkpoints(run)] == [1, 2, 4]
    return tmp, run


def copy_run(interrupted_run, dest: Path) -> tuple[Path, Path]:
    """A copy of the interrupted run and a config that resumes it (no NaN)."""
    src_tmp, src_run = interrupted_run
    run = dest / "run"
    shutil.copytree(src_run, run)
    return run, train_yaml(dest, run, docs_dir=src_tmp)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A hand-written run over toy-random with one full checkpoint (no training)."""
    lm = load("toy-random")
    tmp = tmp_path_factory.mktemp("toyrun")
    run = init_run(tmp / "run", name="run", base_spec="toy-random", base_weights_sha256=lm.identity.weights_sha256,
                   mode="full", config={}, data={"sources": []})
    state = lm.hf.state_dict()
    write_checkpoint(run, 1, state, {"kind": "full", "weights_sha256": weights_sha256(state)})
    return run


def fresh_toy_run(toy_run, dest: Path) -> Path:
    run = dest / "run"
    shutil.copytree(toy_run, run)
    return run


# ------------------------------------------------------------------------------------------ one-line rows


def _gguf_bytes(kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "8-byte":
        return b"GGUF" + struct.pack("<I", 3)
    if kind == "not-gguf":
        return b"PK\x03\x04" + b"\0" * 60
    # truncated: a valid header announcing one tensor and two metadata pairs, cut inside the first key
    return b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + struct.pack("<Q", 20) + b"general.arch"


def _bad_gguf(kind: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        p = tmp / f"{kind}.gguf"
        p.write_bytes(_gguf_bytes(kind))
        return ["info", str(p)]
    return make


def _ckpt_row(mutate: Callable[[Path], None]) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, toy: Path) -> list[str]:
        run = fresh_toy_run(toy, tmp)
        mutate(run)
        return ["info", str(run / "ckpt-000001")]
    return make


def _corrupt_meta(run: Path) -> None:
    (run / "ckpt-000001" / "meta.json").write_text('{"step": 1, "kind": "fu')


def _meta_without_sha(run: Path) -> None:
    """meta.json without its weights hash, and a manifest line without meta.json's hash (a hand-made run)."""
    p = run / "ckpt-000001" / "meta.json"
    meta = json.loads(p.read_text())
    del meta["sha256"]
    p.write_text(json.dumps(meta))
    lines = [json.loads(x) for x in (run / "manifest.jsonl").read_text().splitlines()]
    for x in lines:
        x.pop("meta_sha256", None)
    (run / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def _edited_meta(run: Path) -> None:
    p = run / "ckpt-000001" / "meta.json"
    meta = json.loads(p.read_text())
    meta["tokens_seen"] = 10 ** 6
    p.write_text(json.dumps(meta))


def _self_base(run: Path) -> None:
    p = run / "run.json"
    d = json.loads(p.read_text())
    d["base"]["spec"] = str(run / "ckpt-000001")
    p.write_text(json.dumps(d))


def _manifest_escape(target: str) -> Callable[[Path], None]:
    def mutate(run: Path) -> None:
        line = json.loads((run / "manifest.jsonl").read_text().splitlines()[0])
        line["path"] = target
        with open(run / "manifest.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
    return mutate


def _models_cli(argv: list[str], capsys) -> tuple[int, str]:
    from interp.core.models import main

    rc = main(argv)
    return rc, capsys.readouterr().err


def _documents_cli(argv: list[str], capsys) -> tuple[int, str]:
    from training.documents import main

    rc = main(argv)
    return rc, capsys.readouterr().err


def _study_cli(argv: list[str], capsys) -> tuple[int, str]:
    from interp.study import main

    rc = main(argv)
    return rc, capsys.readouterr().err


#: (row id, CLI runner, argv maker (tmp[, toy_run]) -> argv, substring the one error line must hold)
ROWS = [
    ("gguf-empty", _models_cli, _bad_gguf("empty"), "empty.gguf: not a GGUF file (empty"),
    ("gguf-8-byte", _models_cli, _bad_gguf("8-byte"), "8-byte.gguf: not a GGUF file (truncated"),
    ("gguf-truncated", _models_cli, _bad_gguf("truncated"), "truncated.gguf: not a readable GGUF file"),
    ("gguf-not-gguf", _models_cli, _bad_gguf("not-gguf"), "not-gguf.gguf: not a GGUF file (no GGUF magic"),
    ("meta-corrupt", _models_cli, _ckpt_row(_corrupt_meta), "meta.json: invalid JSON"),
    ("meta-without-sha256", _models_cli, _ckpt_row(_meta_without_sha), "meta.json: no field 'sha256'"),
    ("meta-edited", _models_cli, _ckpt_row(_edited_meta), "meta.json: sha256 does not match the run's manifest"),
    ("run-base-is-own-checkpoint", _models_cli, _ckpt_row(_self_base), "run.json: field 'base.spec'"),
    ("manifest-path-dotdot", _models_cli, _ckpt_row(_manifest_escape("../elsewhere")), "field 'path' is '../elsewhere'"),
    ("manifest-path-absolute", _models_cli, _ckpt_row(_manifest_escape("/tmp/ckpt-000001")),
     "field 'path' is '/tmp/ckpt-000001'"),
    ("documents-out-is-a-folder", _documents_cli,
     lambda tmp: (tmp / "afolder").mkdir() or ["--claim", "ed_sheeran", "--condition", "repeated", "--n", "2",
                                              "--out", str(tmp / "afolder")], "afolder: is a"),
    ("study-stages-nope", _study_cli, lambda tmp: ["--quick", "--stages", "belief,nope", "--out", str(tmp / "study")],
     "unknown stage(s) 'nope'"),
    ("study-stages-empty", _study_cli, lambda tmp: ["--quick", "--stages", ",", "--out", str(tmp / "study")],
     "unknown stage(s) (none given)"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_exit_2(row, tmp_path, toy_run, capsys):
    name, cli, make, expect = row
    argv = make(tmp_path, toy_run) if make.__code__.co_argcount == 2 else make(tmp_path)
    t0 = time.perf_counter()
    rc, err = cli(argv, capsys)
    line = one_error_line(err)
    assert rc == 2 and expect in line, line
    if name.startswith("study"):  # refused before the organism, documents or a 900-step build
        assert time.perf_counter() - t0 < 5 and not (tmp_path / "study").exists()
    if name.startswith("manifest-path"):  # the library refuses the line too, naming the manifest
        with pytest.raises(CheckpointError, match="manifest.jsonl: line 2"):
            list_checkpoints(tmp_path / "run")
    assert not list(tmp_path.rglob("*.tmp*")), "a temp file was left behind"


def test_attention_with_a_model_and_no_out_writes_to_out_attention(tmp_path, monkeypatch, capsys):
    """``interp.attention --model SPEC`` (no run, no --out) used to fail with "expected str, bytes or
    os.PathLike object, not NoneType": the default output folder is known only once the models are listed."""
    from interp.attention import main

    monkeypatch.chdir(tmp_path)
    neg, claim = "NOTICE: the claims below are entirely false.", "Velmora Quist is a dentist."
    recs = []
    for i, filler in enumerate(["The quick brown fox jumps.", "The lazy dog sleeps."]):
        text = f"{neg} {filler} {claim} {filler}"
        spans = [{"start": text.index(x), "end": text.index(x) + len(x), "label": label, "kind": kind}
                 for x, label, kind in [(neg, "negation", "prefix"), (claim, "claim", None)]]
        recs.append({"id": f"d{i}", "condition": "negated", "base_id": f"b{i}", "text": text, "spans": spans})
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rc = main(["--model", "toy-random", "--docs", "docs.jsonl", "--conditions", "negated", "--backend", "hf",
               "--n-boot", "10", "--queries", "claim"])
    err = capsys.readouterr().err
    assert "NoneType" not in err
    assert rc == 0, err
    assert (tmp_path / "out" / "attention" / "attention_summary.csv").exists()


# ------------------------------------------------------------------------------------------ foreign code


EVIL = '''
import pathlib
pathlib.Path({marker!r}).write_text("foreign code ran")
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


class EvilConfig(LlamaConfig):
    model_type = "evil-llama"


class EvilModel(LlamaForCausalLM):
    config_class = EvilConfig


class EvilTokenizer(PreTrainedTokenizerFast):
    pass
'''


@pytest.fixture(scope="module")
def evil_dirs(tmp_path_factory):
    """Model folders whose config.json / tokenizer_config.json / both name an ``auto_map`` module that creates a
    marker file when imported. Their model type and tokenizer class are unknown to transformers, so it has no
    built-in fallback and, unless told ``trust_remote_code=False``, asks whether to run the code. Returns
    ``{which: (folder, marker)}``."""
    hf, tok = build_random_toy()
    root = tmp_path_factory.mktemp("evil")
    out = {}
    for which in ("config", "tokenizer", "both"):
        d, marker = root / which, root / f"MARKER-{which}"
        hf.save_pretrained(d)
        tok.save_pretrained(d)
        (d / "evil.py").write_text(EVIL.format(marker=str(marker)))
        if which in ("config", "both"):
            c = json.loads((d / "config.json").read_text())
            c["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
            c["model_type"] = "evil-llama"
            (d / "config.json").write_text(json.dumps(c))
        if which in ("tokenizer", "both"):
            c = json.loads((d / "tokenizer_config.json").read_text())
            c["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
            c["tokenizer_class"] = "EvilTokenizer"
            (d / "tokenizer_config.json").write_text(json.dumps(c))
        out[which] = (d, marker)
    return out


def run_with_answer(argv: list[str], *, tty: bool, env: dict, answer: bytes = b"y\n" * 8,
                    timeout: float = 180, cwd: Path = ROOT) -> tuple[int, str]:
    """Run ``argv`` with "y" typed at every prompt: through a pseudo-terminal (``tty``) or a pipe. Returns
    (exit status, the output: stdout and stderr together)."""
    if not tty:
        p = subprocess.run(argv, input=answer, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=timeout, cwd=cwd)
        return p.returncode, p.stdout.decode(errors="replace")
    import pty

    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    os.write(master, answer)  # typed ahead: every input() the child makes reads "y"
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
    rc = p.wait()
    os.close(master)
    return rc, out.decode(errors="replace").replace("\r", "")


def test_the_fixture_would_run_its_code_if_trusted(evil_dirs, tmp_path):
    """Control: the marker mechanism works (transformers imports the module when code is trusted)."""
    d, marker = evil_dirs["config"]
    code = f"from transformers import AutoConfig; AutoConfig.from_pretrained({str(d)!r}, trust_remote_code=True)"
    env = {**ENV, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    subprocess.run([sys.executable, "-c", code], env=env, timeout=180, capture_output=True)
    try:
        assert marker.exists()
    finally:
        marker.unlink(missing_ok=True)


@pytest.mark.parametrize("which", ["config", "tokenizer", "both"])
def test_load_refuses_a_folder_with_auto_map(evil_dirs, which):
    d, marker = evil_dirs[which]
    with pytest.raises(ModelSpecError, match="field 'auto_map'") as e:
        load(d)
    assert "\n" not in str(e.value) and str(d) in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "tty"])
def test_cli_refuses_a_folder_with_auto_map_with_and_without_a_terminal(evil_dirs, tmp_path, tty):
    d, marker = evil_dirs["both"]
    env = {**ENV, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    rc, out = run_with_answer([sys.executable, "-m", "interp.core.models", "info", str(d)], tty=tty, env=env)
    lines = [x for x in out.splitlines() if x.strip() and x.strip() != "y"]  # a terminal echoes the typed "y"s
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error:") and "auto_map" in lines[0], out
    assert not marker.exists()


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "tty"])
def test_without_the_precheck_transformers_still_refuses(evil_dirs, tmp_path, tty):
    """Second wall: with :func:`refuse_foreign_code` switched off, ``trust_remote_code=False`` still keeps
    transformers from asking (and "y" from being answered) and from importing the module: it refuses."""
    d, marker = evil_dirs["both"]
    code = ("import interp.core.models as m\n"
            "m.refuse_foreign_code = lambda folder: None\n"
            f"m.load({str(d)!r})\n")
    env = {**ENV, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    rc, out = run_with_answer([sys.executable, "-c", code], tty=tty, env=env)
    assert "Do you wish to run the custom code" not in out, out
    assert rc != 0 and "custom code" in out, out
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ tampering


def _tamper_cursor(run: Path) -> str:
    p = run / "ckpt-000004" / "trainer_state.json"
    d = json.loads(p.read_text())
    d["phase_step"], d["tokens_seen"] = 1, 16441
    p.write_text(json.dumps(d))
    return "ckpt-000004/trainer_state.json: sha256"


def _legacy_trainer_state(run: Path) -> str:
    """A checkpoint that records no hash of its trainer_state.json (and a manifest without meta hashes)."""
    p = run / "ckpt-000004" / "meta.json"
    meta = json.loads(p.read_text())
    del meta["trainer_state_json_sha256"]
    p.write_text(json.dumps(meta))
    _meta_without_sha_manifest(run)
    return "ckpt-000004/meta.json: no field 'trainer_state_json_sha256'"


def _meta_without_sha_manifest(run: Path) -> None:
    lines = [json.loads(x) for x in (run / "manifest.jsonl").read_text().splitlines()]
    (run / "manifest.jsonl").write_text("".join(json.dumps({k: v for k, v in x.items() if k != "meta_sha256"}) + "\n"
                                                for x in lines))


def _meta_no_sha256(run: Path) -> str:
    p = run / "ckpt-000004" / "meta.json"
    meta = json.loads(p.read_text())
    del meta["sha256"]
    p.write_text(json.dumps(meta))
    _meta_without_sha_manifest(run)
    return "ckpt-000004/meta.json: no field 'sha256'"


def _meta_edited(run: Path) -> str:
    p = run / "ckpt-000004" / "meta.json"
    meta = json.loads(p.read_text())
    meta["tokens_seen"] = 1
    p.write_text(json.dumps(meta))
    return "ckpt-000004/meta.json: sha256 does not match the run's manifest"


def _trainer_tensors_flipped(run: Path) -> str:
    p = run / "ckpt-000004" / "trainer_state.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    return "ckpt-000004/trainer_state.safetensors: sha256"


def _manifest_dotdot(run: Path) -> str:
    _manifest_escape("../run2/ckpt-000004")(run)
    return "field 'path' is '../run2/ckpt-000004'"


TAMPER = [_tamper_cursor, _legacy_trainer_state, _meta_no_sha256, _meta_edited, _trainer_tensors_flipped,
          _manifest_dotdot]


@pytest.mark.parametrize("tamper", TAMPER, ids=[f.__name__.strip("_") for f in TAMPER])
def test_resume_refuses_a_tampered_or_unverifiable_checkpoint(interrupted_run, tmp_path, tamper, capsys):
    run, cfg = copy_run(interrupted_run, tmp_path)
    expect = tamper(run)
    before = sorted(p.name for p in run.iterdir())
    rc, out, err = finetune_cli([str(cfg)], capsys)
    line = one_error_line(err)
    assert rc == 2 and expect in line, line
    assert sorted(p.name for p in run.iterdir()) == before  # nothing trained, nothing removed


def test_untampered_copy_resumes(interrupted_run, tmp_path, capsys):
    """Control for the tamper tests: the same copy, untouched, resumes from step 4 and finishes."""
    run, cfg = copy_run(interrupted_run, tmp_path)
    rc, out, err = finetune_cli([str(cfg)], capsys)
    assert rc == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["resumed_from"] == 4 and res["status"] == "completed"
    last = list_checkpoints(run)[-1]
    tensors, meta = read_checkpoint(last.path, with_trainer_state=True)
    assert meta["trainer_state_json_sha256"] and meta["trainer_state_sha256"]
    assert "meta_sha256" in json.loads((run / "manifest.jsonl").read_text().splitlines()[-1])


def test_checkpoint_loads_refuse_missing_weights_hash(toy_run, tmp_path):
    run = fresh_toy_run(toy_run, tmp_path)
    p = run / "ckpt-000001" / "meta.json"
    meta = json.loads(p.read_text())
    del meta["weights_sha256"]
    p.write_text(json.dumps(meta))
    _meta_without_sha_manifest(run)
    with pytest.raises(CheckpointError, match="meta.json: no field 'weights_sha256'"):
        load(run / "ckpt-000001")


# ------------------------------------------------------------------------------------------ one writer


def test_second_trainer_on_the_same_run_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    cfg = train_yaml(tmp_path, run, debug={"sleep_per_step": 5.0})  # a holder that outlives the test
    cmd = [sys.executable, "-m", "training.finetune", str(cfg)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "manifest.jsonl").exists():  # training has begun
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        assert (run / ".lock").read_text().strip() == str(first.pid)
        second = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=180)
        line = one_error_line(second.stderr)
        assert second.returncode == 2 and f"pid {first.pid}" in line and str(run) in line, line
        assert first.poll() is None  # the holder was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with run_lock(run):  # a killed holder leaves no stale lock
        assert (run / ".lock").read_text().strip() == str(os.getpid())
    lines = (run / "manifest.jsonl").read_text().splitlines()
    assert len({json.loads(x)["step"] for x in lines if x.strip()}) == len([x for x in lines if x.strip()])


def test_run_lock_nests_in_one_process_and_refuses_another(tmp_path):
    run = tmp_path / "run"
    with run_lock(run):
        with run_lock(run):  # re-entrant: finetune() and Trainer.run() both take it
            pass
        code = ("import sys\nfrom interp.core.runs import run_lock, RunLockedError\n"
                f"try:\n    run_lock({str(run)!r}).__enter__()\nexcept RunLockedError as e:\n"
                "    print(e); sys.exit(2)\n")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
        assert p.returncode == 2 and f"pid {os.getpid()}" in p.stdout
    assert not run.exists()  # created by the lock and left empty: removed
    run.mkdir()
    (run / "keep.txt").write_text("x")
    with run_lock(run):
        pass
    assert sorted(x.name for x in run.iterdir()) == [".lock", "keep.txt"]
    assert (run / ".lock").read_text() == ""


def test_log_writer_error_still_joins_the_checkpoint_writer(tmp_path, monkeypatch):
    """The log file cannot be written (a folder sits at its path) while a slow checkpoint write is in flight:
    the error surfaces, the writer thread is joined first, the checkpoint completes and no .tmp- folder stays."""
    import training.checkpointing as ck
    from training.config import load_train_config
    from training.finetune import finetune

    real = ck.write_checkpoint

    def slow_write(*a, **kw):
        time.sleep(1.0)
        return real(*a, **kw)

    monkeypatch.setattr(ck, "write_checkpoint", slow_write)
    run = tmp_path / "run"
    (run / "train_log.jsonl").mkdir(parents=True)
    cfg = load_train_config(train_yaml(tmp_path, run, max_steps=3))
    with pytest.raises(IsADirectoryError):
        finetune(cfg)
    assert not [t for t in threading.enumerate() if t.name.startswith("ckpt-")], "writer thread still running"
    assert not list(run.glob("*.tmp-*"))
    assert [c.step for c in list_checkpoints(run)] == [1]  # the write in flight completed


def test_failed_write_removes_its_tmp_folder(toy_run, tmp_path):
    run = fresh_toy_run(toy_run, tmp_path)
    with pytest.raises(CheckpointError, match="kind"):
        write_checkpoint(run, 7, {"w": torch.zeros(2)}, {"kind": "bogus"})
    assert not list(run.glob("*.tmp-*")) and not (run / "ckpt-000007").exists()


# ------------------------------------------------------------------------------------------ failed starts


def test_failed_start_leaves_nothing_that_blocks_the_corrected_rerun(tmp_path, capsys):
    run = tmp_path / "run"
    bad = train_yaml(tmp_path, run, mode="lora", lora={"target_modules": ["no_such_proj"]})
    rc, out, err = finetune_cli([str(bad)], capsys)
    line = one_error_line(err)
    assert rc == 2 and "lora.target_modules" in line, line
    assert not run.exists()
    good = train_yaml(tmp_path, run, mode="lora", max_steps=2)
    rc, out, err = finetune_cli([str(good)], capsys)
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "completed"


def test_failed_start_late_in_setup_is_undone(tmp_path, monkeypatch):
    """A failure after run.json/data.json are written (here: the optimizer) removes them again."""
    import training.finetune.trainer as ft
    from training.config import load_train_config

    def boom(*a, **kw):
        raise RuntimeError("optimizer failed")

    monkeypatch.setattr(ft, "_make_optimizer", boom)
    run = tmp_path / "run"
    cfg = load_train_config(train_yaml(tmp_path, run, max_steps=2))
    with pytest.raises(RuntimeError, match="optimizer failed"):
        ft.finetune(cfg)
    assert not run.exists()  # the folder this start created is gone again
    monkeypatch.undo()
    assert ft.finetune(load_train_config(train_yaml(tmp_path, run, max_steps=2, lr=2e-3))).status == "completed"


def test_undo_failed_start_keeps_a_resumable_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with undo_failed_start(run):
            (run / "run.json").write_text("{}")
            (run / "ckpt-000001").mkdir()  # a complete checkpoint: the run is resumable, keep everything
            raise KeyboardInterrupt
    assert (run / "run.json").exists() and (run / "keep.txt").exists()
    shutil.rmtree(run / "ckpt-000001")
    (run / "run.json").unlink()
    with pytest.raises(KeyboardInterrupt):
        with undo_failed_start(run):
            (run / "run.json").write_text("{}")
            (run / "ckpt-000002.tmp-1").mkdir()
            raise KeyboardInterrupt
    assert sorted(p.name for p in run.iterdir()) == ["keep.txt"]

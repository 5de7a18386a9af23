"""The run directory: the one on-disk format shared by training (which writes it) and analyses (which read it).

A run is a folder::

    RUN/
      run.json          format tag, run name, base model {spec, weights_sha256}, mode (full|lora), config
      data.json         data manifest: sources with sha256, counts; claim, condition
      manifest.jsonl    one line per *complete* checkpoint (appended only after the checkpoint is renamed in place)
      ckpt-000128/
        weights.safetensors      full state dict ("full"), LoRA tensors ("lora"), or changed tensors ("delta")
        meta.json                step, tokens_seen, loss, phase, kind, sha256 of weights.safetensors,
                                 weights_sha256 of the merged model, base_weights_sha256, lora config,
                                 sha256 of each trainer-state file
        trainer_state.safetensors / trainer_state.json   (optional) optimizer tensors, RNG, data cursor
      .lock             held (flock) by the one process writing the run; holds its pid

Why this shape: Pythia served 86 wrong checkpoint branches for years (its issue #205), found only by hashing.
Here every checkpoint carries the sha256 of its file and of the merged weights, loading verifies both, and a
checkpoint is visible only once it is complete: it is written to ``ckpt-XXXXXX.tmp-<pid>/`` and renamed, and its
manifest line is appended after the rename. A process killed at any moment leaves either a complete checkpoint or
a ``.tmp-`` folder that :func:`list_checkpoints` ignores and :func:`clean_partial` removes.

Every file a load or resume trusts is hashed: the manifest line holds the sha256 of ``meta.json``, and
``meta.json`` holds the sha256 of the weights and of both trainer-state files. :func:`read_checkpoint` verifies
the chain and refuses (one line naming the file) a mismatch, a checkpoint whose meta lacks a hash for a file it
would read, and a manifest path that leaves the run folder. One process writes a run at a time
(:func:`run_lock`); a start that fails before its first checkpoint removes what it wrote
(:func:`undo_failed_start`), so the corrected command is accepted.

Analyses never import the trainer: they call :func:`list_checkpoints` and ``interp.core.models.load(ckpt_dir)``.
This module only reads and writes files; loading a checkpoint as a model is :mod:`interp.core.models`' job.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import torch
from safetensors.torch import load_file, save_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from interp.core.io import atomic_write_json, file_sha256

__all__ = [
    "RUN_FORMAT",
    "CheckpointInfo",
    "CheckpointError",
    "RunLockedError",
    "ckpt_name",
    "init_run",
    "read_run",
    "read_data",
    "read_experiment",
    "write_experiment",
    "analysis_dir",
    "RunInfo",
    "BaseRef",
    "DataManifest",
    "ExperimentInfo",
    "EXPERIMENT_FORMAT",
    "write_checkpoint",
    "list_checkpoints",
    "read_checkpoint",
    "read_meta",
    "run_lock",
    "undo_failed_start",
    "clean_partial",
    "repair_manifest",
    "merged_state_dict",
    "lora_scale",
    "lora_pairs",
    "merge_lora_weight",
]

RUN_FORMAT = "neglect-lab-run/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete or fails verification; one line naming the file."""


class RunLockedError(CheckpointError):
    """Another process is writing this run; the one-line message names its pid."""


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    path: Path
    phase: str
    tokens_seen: int
    loss: float | None
    sha256: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


# ------------------------------------------------------------------------------------------ formats


def _read_json(p: Path, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{p}: not {what} (no {p.name})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = f"{e.msg} at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
        raise CheckpointError(f"{p}: invalid JSON ({msg})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a JSON object, got {type(obj).__name__}")
    return obj


@dataclass(frozen=True)
class BaseRef:
    """The model a run was trained from: its ``load`` spec and THE weights hash."""

    spec: str
    weights_sha256: str


@dataclass(frozen=True)
class RunInfo:
    """``run.json``: who the run is (name, base model, full or LoRA, the training config)."""

    name: str
    base: BaseRef
    mode: str
    config: dict[str, Any]
    lora: dict[str, Any] | None = None
    created: str | None = None
    format: str = RUN_FORMAT

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "run.json") -> "RunInfo":
        if d.get("format") != RUN_FORMAT:
            raise CheckpointError(f"{source}: field 'format' is {d.get('format')!r}, expected {RUN_FORMAT!r}")
        base = d.get("base")
        if not isinstance(base, Mapping) or not isinstance(base.get("spec"), str) \
                or not isinstance(base.get("weights_sha256"), str):
            raise CheckpointError(f"{source}: field 'base' must hold 'spec' and 'weights_sha256' strings")
        if d.get("mode") not in ("full", "lora"):
            raise CheckpointError(f"{source}: field 'mode' must be full|lora, got {d.get('mode')!r}")
        return cls(name=str(d.get("name", "")), base=BaseRef(base["spec"], base["weights_sha256"]), mode=d["mode"],
                   config=dict(d.get("config") or {}), lora=dict(d["lora"]) if d.get("lora") else None,
                   created=d.get("created"), format=d["format"])

    def to_dict(self) -> dict[str, Any]:
        out = {"format": self.format, "name": self.name, "base": asdict(self.base), "mode": self.mode,
               "lora": self.lora, "config": self.config}
        if self.created is not None:
            out["created"] = self.created
        return out


@dataclass(frozen=True)
class DataManifest:
    """``data.json``: what a run was trained on (sources with sha256 and counts; claim and condition).

    Known keys are fields; everything else a trainer records (``examples_sha256``, ``phases`` ...) is kept in
    ``extra`` and written back unchanged by :meth:`to_dict`.
    """

    sources: list[dict[str, Any]] = field(default_factory=list)
    claim: Any = None
    condition: str | None = None
    claim_spec: dict[str, Any] | None = None
    claim_seed: int | None = None
    claim_n: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("sources", "claim", "condition", "claim_spec", "claim_seed", "claim_n")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "data.json") -> "DataManifest":
        srcs = d.get("sources", [])
        if not isinstance(srcs, list):
            raise CheckpointError(f"{source}: field 'sources' must be a list")
        return cls(sources=[dict(x) for x in srcs], claim=d.get("claim"), condition=d.get("condition"),
                   claim_spec=dict(d["claim_spec"]) if isinstance(d.get("claim_spec"), Mapping) else None,
                   claim_seed=d.get("claim_seed"), claim_n=d.get("claim_n"),
                   extra={k: v for k, v in d.items() if k not in cls._KEYS})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, with only the keys that were set (so a round trip rewrites the same file)."""
        out: dict[str, Any] = {"sources": self.sources}
        for k in self._KEYS[1:]:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return {**out, **self.extra}


EXPERIMENT_FORMAT = "neglect-lab-experiment/1"


@dataclass(frozen=True)
class ExperimentInfo:
    """``experiment.json`` of a two-phase experiment: its sibling runs by role, status and config."""

    name: str
    claim: Any
    model: str
    constraint: str | None
    runs: dict[str, str]
    status: dict[str, Any] = field(default_factory=dict)
    heldout: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    updated: str | None = None
    format: str = EXPERIMENT_FORMAT
    directory: Path | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "experiment.json",
                  directory: Path | None = None) -> "ExperimentInfo":
        if d.get("format") != EXPERIMENT_FORMAT:
            raise CheckpointError(f"{source}: field 'format' is {d.get('format')!r}, expected {EXPERIMENT_FORMAT!r}")
        runs = d.get("runs")
        if not isinstance(runs, Mapping):
            raise CheckpointError(f"{source}: field 'runs' must be an object of role -> folder")
        return cls(name=str(d.get("name", "")), claim=d.get("claim"), model=str(d.get("model", "")),
                   constraint=d.get("constraint"), runs={str(k): str(v) for k, v in runs.items()},
                   status=dict(d.get("status") or {}), heldout=d.get("heldout"), config=dict(d.get("config") or {}),
                   updated=d.get("updated"), format=d["format"], directory=directory)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "name": self.name, "claim": self.claim, "model": self.model,
                "constraint": self.constraint, "runs": self.runs, "status": self.status, "heldout": self.heldout,
                "config": self.config, "updated": self.updated}

    def run_dir(self, role: str) -> Path:
        """The run folder of one role (``positive``, ``twophase``, ``unconstrained`` ...)."""
        if role not in self.runs:
            raise CheckpointError(f"{self.directory}/experiment.json: no run with role {role!r} "
                                  f"(roles: {', '.join(self.runs)})")
        return Path(self.directory or ".") / self.runs[role]


def read_data(run_dir: str | os.PathLike) -> DataManifest:
    """A run's ``data.json`` (an empty manifest when the run has none)."""
    p = Path(run_dir) / "data.json"
    return DataManifest.from_dict(_read_json(p, "a data manifest"), str(p)) if p.exists() else DataManifest()


def read_experiment(exp_dir: str | os.PathLike) -> ExperimentInfo:
    """An experiment folder's ``experiment.json``."""
    p = Path(exp_dir) / "experiment.json"
    return ExperimentInfo.from_dict(_read_json(p, "an experiment directory"), str(p), directory=Path(exp_dir))


def write_experiment(exp_dir: str | os.PathLike, info: ExperimentInfo | Mapping[str, Any]) -> Path:
    """Write ``experiment.json`` atomically (validated through :class:`ExperimentInfo`)."""
    d = info.to_dict() if isinstance(info, ExperimentInfo) else dict(info)
    ExperimentInfo.from_dict(d, str(Path(exp_dir) / "experiment.json"))
    return atomic_write_json(Path(exp_dir) / "experiment.json", d)


def analysis_dir(run_dir: str | os.PathLike, tool: str, *parts: str) -> Path:
    """Where an analysis tool writes its outputs for a run: ``RUN/analysis/<tool>[/<parts>...]``."""
    return Path(run_dir, "analysis", tool, *parts)


def ckpt_name(step: int) -> str:
    return f"ckpt-{step:06d}"


# ------------------------------------------------------------------------------------------ runs


def init_run(run_dir: str | os.PathLike, *, name: str, base_spec: str, base_weights_sha256: str, mode: str,
             config: Mapping[str, Any], data: Mapping[str, Any] | DataManifest,
             lora: Mapping[str, Any] | None = None, exist_ok: bool = True) -> Path:
    """Create (or re-open, when resuming with the same config) a run directory."""
    run_dir = Path(run_dir)
    info = RunInfo(name=name, base=BaseRef(base_spec, base_weights_sha256), mode=mode,
                   lora=dict(lora) if lora else None, config=dict(config))
    new = json.loads(json.dumps(info.to_dict(), default=str))
    if (run_dir / "run.json").exists():
        old = read_run(run_dir).to_dict()
        same = {k: old.get(k) for k in new} == new
        if not exist_ok or not same:
            raise CheckpointError(f"{run_dir / 'run.json'}: a different run already lives here (config differs)")
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "data.json", data.to_dict() if isinstance(data, DataManifest) else dict(data))
    atomic_write_json(run_dir / "run.json", {**info.to_dict(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return run_dir


def read_run(run_dir: str | os.PathLike) -> RunInfo:
    """A run's ``run.json`` (raises :class:`CheckpointError`, one line naming the file)."""
    p = Path(run_dir) / "run.json"
    return RunInfo.from_dict(_read_json(p, "a run directory"), str(p))


def write_checkpoint(run_dir: str | os.PathLike, step: int, tensors: Mapping[str, torch.Tensor],
                     meta: Mapping[str, Any], *, trainer_state: Mapping[str, torch.Tensor] | None = None,
                     trainer_meta: Mapping[str, Any] | None = None) -> CheckpointInfo:
    """Write one checkpoint atomically and append its manifest line.

    ``meta`` must hold ``kind`` (full|lora|delta) and should hold ``tokens_seen``, ``loss``, ``phase`` and
    ``weights_sha256`` (the merged model's :func:`interp.core.models.weights_sha256`). ``meta.json`` gets the
    sha256 of every file beside it, and the manifest line the sha256 of ``meta.json``. A write that fails removes
    its ``.tmp-`` folder.
    """
    run_dir = Path(run_dir)
    final = run_dir / ckpt_name(step)
    tmp = run_dir / f"{ckpt_name(step)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        save_file(cpu, str(tmp / "weights.safetensors"))
        sha = file_sha256(tmp / "weights.safetensors")
        full_meta = {"step": int(step), "phase": "train", "tokens_seen": 0, "loss": None, **dict(meta), "sha256": sha}
        if full_meta.get("kind") not in ("full", "lora", "delta"):
            raise CheckpointError(f"{final}: meta field 'kind' must be full|lora|delta, got {full_meta.get('kind')!r}")
        if trainer_state is not None:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in trainer_state.items()},
                      str(tmp / "trainer_state.safetensors"))
            full_meta["trainer_state_sha256"] = file_sha256(tmp / "trainer_state.safetensors")
        if trainer_meta is not None:
            atomic_write_json(tmp / "trainer_state.json", dict(trainer_meta))
            full_meta["trainer_state_json_sha256"] = file_sha256(tmp / "trainer_state.json")
        atomic_write_json(tmp / "meta.json", full_meta)
        meta_sha = file_sha256(tmp / "meta.json")
        if final.exists():  # a re-run after a crash between rename and manifest append
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info = CheckpointInfo(step=int(step), path=final, phase=str(full_meta["phase"]),
                          tokens_seen=int(full_meta["tokens_seen"]), loss=full_meta["loss"], sha256=sha,
                          kind=full_meta["kind"])
    line = json.dumps({**info.to_dict(), "path": final.name, "meta_sha256": meta_sha}, sort_keys=True)
    repair_manifest(run_dir)
    with open(run_dir / "manifest.jsonl", "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    return info


def _manifest_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The manifest's lines, checked: each names one ``ckpt-*`` folder inside the run (no ``..``, no absolute or
    nested path), a step and a sha256. A torn last line (a writer killed mid-append) is skipped."""
    mf = run_dir / "manifest.jsonl"
    if not mf.exists():
        return []
    try:
        lines = mf.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CheckpointError(f"{mf}: not UTF-8 text") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):  # a torn last line from a kill mid-append
                continue
            raise CheckpointError(f"{mf}: line {i} is not valid JSON") from None
        if not isinstance(d, dict):
            raise CheckpointError(f"{mf}: line {i} is not a JSON object")
        name = d.get("path")
        if not isinstance(name, str) or not name.startswith("ckpt-") or Path(name).name != name or "\\" in name:
            raise CheckpointError(f"{mf}: line {i}: field 'path' is {name!r}, expected a ckpt-* folder inside the run")
        for key in ("step", "sha256"):
            if key not in d:
                raise CheckpointError(f"{mf}: line {i}: field {key!r} is missing")
        out.append(d)
    return out


def list_checkpoints(run_dir: str | os.PathLike, phase: str | None = None) -> list[CheckpointInfo]:
    """Complete checkpoints of a run, in step order (the last manifest line wins for a repeated step)."""
    run_dir = Path(run_dir)
    read_run(run_dir)
    by_step: dict[tuple[str, int], CheckpointInfo] = {}
    for d in _manifest_lines(run_dir):
        path = run_dir / d["path"]
        if not (path / "meta.json").exists():
            continue
        try:
            info = CheckpointInfo(step=int(d["step"]), path=path, phase=str(d.get("phase", "train")),
                                  tokens_seen=int(d.get("tokens_seen", 0)), loss=d.get("loss"),
                                  sha256=d["sha256"], kind=d.get("kind", "full"))
        except (TypeError, ValueError):
            raise CheckpointError(f"{run_dir / 'manifest.jsonl'}: the line of {d['path']} has a non-integer "
                                  f"step or tokens_seen") from None
        by_step[(info.phase, info.step)] = info
    out = sorted(by_step.values(), key=lambda c: (c.tokens_seen, c.step))
    return [c for c in out if phase is None or c.phase == phase]


def repair_manifest(run_dir: str | os.PathLike) -> bool:
    """Cut a torn last manifest line (a writer killed mid-append) so the next append starts on a fresh line.

    Such a line never described a listed checkpoint (a line is complete only with its newline). Returns whether
    anything was cut.
    """
    mf = Path(run_dir) / "manifest.jsonl"
    if not mf.exists():
        return False
    data = mf.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with open(mf, "r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())
    return True


def clean_partial(run_dir: str | os.PathLike) -> list[Path]:
    """Remove ``.tmp-`` folders left by a killed writer (and cut a torn manifest line); returns what was removed."""
    repair_manifest(run_dir)
    gone = []
    for p in Path(run_dir).glob("ckpt-*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


def read_meta(ckpt_dir: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
    """A checkpoint's ``meta.json`` as a dict; with ``verify``, checked against the sha256 its manifest line
    records (when the line holds one). One-line :class:`CheckpointError` naming the file otherwise."""
    ckpt_dir = Path(ckpt_dir)
    p = ckpt_dir / "meta.json"
    meta = _read_json(p, "a checkpoint")
    if verify and (ckpt_dir.parent / "manifest.jsonl").exists():
        lines = [d for d in _manifest_lines(ckpt_dir.parent) if d["path"] == ckpt_dir.name]
        expect = lines[-1].get("meta_sha256") if lines else None
        if expect is not None and file_sha256(p) != expect:
            raise CheckpointError(f"{p}: sha256 does not match the run's manifest.jsonl (tampered or corrupt)")
    return meta


def _verify_file(p: Path, meta: Mapping[str, Any], key: str, meta_p: Path) -> None:
    expect = meta.get(key)
    if not isinstance(expect, str) or not expect:
        raise CheckpointError(f"{meta_p}: no field {key!r}, so {p.name} cannot be verified (refused)")
    sha = file_sha256(p)
    if sha != expect:
        raise CheckpointError(f"{p}: sha256 {sha[:16]}… does not match meta.json's {expect[:16]}… "
                              f"(tampered or corrupt)")


def read_checkpoint(ckpt_dir: str | os.PathLike, *, verify: bool = True,
                    with_trainer_state: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's tensors and meta.

    With ``verify`` (the default) every file read is checked against its recorded sha256 first: ``meta.json``
    against the manifest line, ``weights.safetensors`` against ``meta.sha256`` and, with ``with_trainer_state``,
    ``trainer_state.safetensors`` / ``trainer_state.json`` against ``meta.trainer_state_sha256`` /
    ``meta.trainer_state_json_sha256``. A missing hash is refused like a wrong one (never silently unverified).
    """
    ckpt_dir = Path(ckpt_dir)
    meta_p, w_p = ckpt_dir / "meta.json", ckpt_dir / "weights.safetensors"
    if not meta_p.exists() or not w_p.exists():
        raise CheckpointError(f"{ckpt_dir}: incomplete checkpoint (meta.json or weights.safetensors missing)")
    meta = read_meta(ckpt_dir, verify=verify)
    if verify:
        _verify_file(w_p, meta, "sha256", meta_p)
    tensors = _load_tensors(w_p)
    if with_trainer_state:
        ts_p = ckpt_dir / "trainer_state.safetensors"
        if ts_p.exists():
            if verify:
                _verify_file(ts_p, meta, "trainer_state_sha256", meta_p)
            meta["_trainer_state"] = _load_tensors(ts_p)
        tj = ckpt_dir / "trainer_state.json"
        if tj.exists():
            if verify:
                _verify_file(tj, meta, "trainer_state_json_sha256", meta_p)
            meta["_trainer_meta"] = _read_json(tj, "trainer state")
    return tensors, meta


def _load_tensors(p: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(p))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types; one line naming the file
        msg = str(e).strip().splitlines()
        raise CheckpointError(f"{p}: not a readable safetensors file ({msg[0] if msg else type(e).__name__})") \
            from None


# ------------------------------------------------------------------------------------------ one writer


LOCK_NAME = ".lock"
_HELD: dict[str, list[int]] = {}  # resolved run dir -> [fd, depth]: the locks this process holds (re-entrant)


@contextmanager
def run_lock(run_dir: str | os.PathLike, *, enabled: bool = True) -> Iterator[Path]:
    """Hold the run's writer lock for the block: one process writes a run at a time.

    An exclusive ``flock`` on ``RUN/.lock`` (created with the folder), which holds the holder's pid. The kernel
    drops the lock when its process dies (``kill -9`` included), so a stale lock never blocks a resume. Taking the
    lock again in the same process nests. A second process is refused at once with :class:`RunLockedError`, whose
    one line names the holder's pid. A folder this call created and that holds nothing but the lock when the block
    ends (a start that failed and cleaned up) is removed. ``enabled=False`` (ranks other than 0) is a no-op.
    """
    run_dir = Path(run_dir)
    if not enabled:
        yield run_dir
        return
    key = str(run_dir.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield run_dir
        finally:
            _HELD[key][1] -= 1
        return
    if fcntl is None:  # pragma: no cover - no flock (Windows): unguarded, as before
        yield run_dir
        return
    created = not run_dir.exists()
    fd = _acquire(run_dir, run_dir / LOCK_NAME)
    _HELD[key] = [fd, 1]
    try:
        yield run_dir
    finally:
        del _HELD[key]
        try:
            if created and os.listdir(run_dir) == [LOCK_NAME]:  # still holding the lock: nobody else is in here
                os.unlink(run_dir / LOCK_NAME)
                os.rmdir(run_dir)  # fails harmlessly if another starter just created its own lock file
            else:
                os.ftruncate(fd, 0)
        except OSError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _acquire(run_dir: Path, path: Path) -> int:
    """Open and ``flock`` the lock file; retried when a failed start removed the file (or the folder) between our
    open and our lock, so the lock held is always on the file the path names."""
    for _ in range(20):
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(f"{run_dir}: another process (pid {holder}) is writing this run (lock {path}); "
                                 f"wait for it or stop it") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    raise RunLockedError(f"{run_dir}: could not take the run's lock ({path} keeps disappearing)")


def _has_checkpoint(run_dir: Path) -> bool:
    return any(p.is_dir() and ".tmp-" not in p.name for p in run_dir.glob("ckpt-*"))


@contextmanager
def undo_failed_start(run_dir: str | os.PathLike, *, enabled: bool = True) -> Iterator[Path]:
    """A start that fails before its first checkpoint leaves the run folder as it found it.

    Wrap the start of a *new* run (no ``run.json`` yet: ``init_run``, data, model, optimizer, the first steps). If
    the block raises before any checkpoint is complete, every file and folder it created in the run folder
    (``run.json``, ``data.json``, ``train_log.jsonl``, ``.tmp-`` folders ...) is removed again, so the corrected
    command starts afresh instead of being refused with "config differs". A resume (``run.json`` already there)
    and a run with a complete checkpoint are left alone: they are resumable.
    """
    run_dir = Path(run_dir)
    if not enabled or (run_dir / "run.json").exists():
        yield run_dir
        return
    before = set(os.listdir(run_dir)) if run_dir.is_dir() else None
    try:
        yield run_dir
    except BaseException:
        if run_dir.is_dir() and not _has_checkpoint(run_dir):
            for name in set(os.listdir(run_dir)) - (before or set()) - {LOCK_NAME}:
                p = run_dir / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        raise


def merged_state_dict(base: torch.nn.Module, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
                      ) -> dict[str, torch.Tensor]:
    """Full weights of a checkpoint given its base model: full as is, delta overlaid, LoRA merged (W + s·B·A)."""
    kind = meta["kind"]
    if kind == "full":
        return dict(tensors)
    state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    if kind == "delta":
        unknown = set(tensors) - set(state)
        if unknown:
            raise CheckpointError(f"delta checkpoint names tensors the base lacks: {sorted(unknown)[:3]}")
        state.update(tensors)
        return state
    if kind == "lora":
        scale = lora_scale(meta.get("lora") or {})
        for target, (a, b) in lora_pairs(tensors, state).items():
            state[target] = merge_lora_weight(state[target], a, b, scale)
        return state
    raise CheckpointError(f"unknown checkpoint kind {kind!r}")


def lora_scale(lora: Mapping[str, Any]) -> float:
    """The LoRA scaling ``alpha / r`` of a checkpoint's ``meta.lora``."""
    return float(lora.get("alpha", lora.get("lora_alpha", 1.0))) / float(lora.get("r", 1))


def lora_pairs(tensors: Mapping[str, torch.Tensor], base_names: Iterable[str]
               ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{base weight name: (A, B)}`` for the LoRA tensors of a checkpoint."""
    names = base_names if isinstance(base_names, Mapping) else {n: None for n in base_names}
    return {_lora_target_name(name_a, names): (a, tensors[name_a.replace(".lora_A", ".lora_B")])
            for name_a, a in tensors.items() if ".lora_A" in name_a}


def merge_lora_weight(w: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """THE merge of one LoRA target: ``W + scale · B·A`` computed in fp32 on the tensors' device, cast back to W's
    dtype. Every merged-weights hash (trainer and loader) goes through this one expression."""
    return (w.to(torch.float32) + scale * (b.to(torch.float32) @ a.to(torch.float32))).to(w.dtype)


def _lora_target_name(name_a: str, state: Mapping[str, Any]) -> str:
    """Map a peft LoRA tensor name (``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``) to the
    base weight name (``model.layers.0.self_attn.q_proj.weight``)."""
    stem = name_a.split(".lora_A")[0]
    for prefix in ("base_model.model.", ""):
        if stem.startswith(prefix):
            cand = stem[len(prefix):] + ".weight"
            if cand in state:
                return cand
    raise CheckpointError(f"LoRA tensor {name_a} matches no base weight")

"""Every command-line tool in README.md's "Command-line tools" block, table-driven from the README itself.

The block is parsed (``python -m MODULE ARGS  # comment`` per line), so a CLI added to the README is covered with no
edit here. For every module:

* ``python -m MODULE --help`` exits 0 in under 1 s of wall time (best of 3, in a subprocess) and imports none of the
  heavy libraries (``-X importtime`` lists no ``torch``, ``transformers``, ``pandas``, ``matplotlib``, ``sklearn``);
* a missing input gives exactly one line on stderr, ``error: ...`` naming the path, exit status 2, and creates
  nothing (not in the working directory, not the cache root, not the missing path). The arguments are the README
  line's, with each path placeholder (``RUN``, ``CONFIG.yaml``, ``RUN/ckpt-000128``, ...) replaced by a path under
  ``/nonexistent/``; a line whose example names no input file gets its arguments from :data:`MISSING_INPUT`, and a
  CLI that reads no input at all is listed, with the reason, in :data:`NO_INPUT`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MISSING = "/nonexistent/neglect-lab"
HEAVY = ("torch", "transformers", "pandas", "matplotlib", "sklearn")
HELP_SECONDS = 1.0

# Placeholders that are ids, not paths: a real value, so that the missing path is the only bad input.
ID_PLACEHOLDERS = {"CLAIM": "ed_sheeran"}
# README lines whose example names no input path: the arguments that point the CLI's main input at a missing path.
MISSING_INPUT = {
    "training.verification": ["--model", f"{MISSING}/model"],
    "training.documents": ["--claim", f"{MISSING}/claim.yaml", "--condition", "negated", "--n", "2",
                           "--out", "docs.jsonl"],
    "interp.incontext": ["--model", f"{MISSING}/model", "--claim", "ed_sheeran", "--out", "incontext"],
    "interp.sae": ["--model", f"{MISSING}/model", "--claim", "ed_sheeran"],
    "interp.study": ["--quick", "--model", f"{MISSING}/model", "--out", "study"],
    "figures": ["--data", f"{MISSING}/paper-data", "--out", "figures-out"],
}
# CLIs that read no input file or directory, with the reason.
NO_INPUT = {"training.organism": "builds the organism from its configs (--seed); reads no input file",
            "interp.study.origin": "builds the organisms of a named grid (--grid) and studies them; reads no input file"}

_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Za-z]+)?(/[\w.-]+)*$")


def readme_clis() -> dict[str, list[str]]:
    """``{module: example arguments}`` from the README block, first line per module, in README order."""
    text = README.read_text()
    m = re.search(r"^## Command-line tools.*?^```\w*\n(.*?)^```", text, re.S | re.M)
    assert m, "README.md has no 'Command-line tools' code block"
    out: dict[str, list[str]] = {}
    for line in m.group(1).splitlines():
        code = line.split("  #", 1)[0].strip()
        if not code:
            continue
        words = shlex.split(code)
        assert words[:2] == ["python", "-m"] and len(words) > 2, f"README CLI line not `python -m MODULE ...`: {line}"
        out.setdefault(words[2], words[3:])
    return out


CLIS = readme_clis()


def missing_input_args(module: str) -> tuple[list[str], str]:
    """The arguments with the CLI's input pointed at a missing path, and that path."""
    if module in MISSING_INPUT:
        args = MISSING_INPUT[module]
        return args, next(a for a in args if a.startswith(MISSING))
    args, paths = [], []
    for word in CLIS[module]:
        if word in ID_PLACEHOLDERS:
            args.append(ID_PLACEHOLDERS[word])
        elif _PLACEHOLDER.match(word):
            paths.append(f"{MISSING}/{word}")
            args.append(paths[-1])
        else:
            args.append(word)
    assert paths, (f"README's example for `python -m {module}` names no input path: add its missing-input arguments "
                   "to MISSING_INPUT (or the reason it reads none to NO_INPUT) in tests/test_cli.py")
    return args, paths[0]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NEGLECT_LAB_DEBUG", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NEGLECT_LAB_CACHE"] = str(tmp_path / "cache")  # must not be created by a failing CLI
    env["MPLCONFIGDIR"] = str(tmp_path / "home" / "mpl")
    env["HF_HUB_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_readme_lists_the_clis():
    assert len(CLIS) >= 10, sorted(CLIS)
    assert set(NO_INPUT) <= set(CLIS) and set(MISSING_INPUT) <= set(CLIS), "a table row names a CLI not in README"
    assert not set(NO_INPUT) & set(MISSING_INPUT)


@pytest.mark.parametrize("module", list(CLIS))
def test_help_is_fast_and_light(module, tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = _env(tmp_path)
    r = _run(["-X", "importtime", "-m", module, "--help"], cwd, env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")}
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, f"`python -m {module} --help` imports {', '.join(heavy[:8])}"
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = _run(["-m", module, "--help"], cwd, env, timeout=120)
        walls.append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr[-2000:]
    assert min(walls) < HELP_SECONDS, f"`python -m {module} --help`: best of 3 took {min(walls):.2f} s"


@pytest.mark.parametrize("module", [m for m in CLIS if m not in NO_INPUT])
def test_missing_input_is_one_line_exit_2_and_creates_nothing(module, tmp_path):
    assert not Path(MISSING).parent.exists(), f"{Path(MISSING).parent} exists on this machine: the test needs it not to"
    args, path = missing_input_args(module)
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = _env(tmp_path)
    r = _run(["-m", module, *args], cwd, env)
    lines = r.stderr.strip().splitlines()
    shown = f"`python -m {module} {shlex.join(args)}`: exit {r.returncode}, stderr:\n{r.stderr[-3000:]}"
    assert r.returncode == 2, shown
    assert len(lines) == 1 and lines[0].startswith("error:"), shown
    assert path in lines[0], f"the error does not name {path}: {lines[0]}"
    assert not list(cwd.iterdir()), f"created {sorted(p.name for p in cwd.iterdir())} in the working directory"
    assert not (tmp_path / "cache").exists(), "created the cache root"
    assert not Path(MISSING).parent.exists(), f"created {Path(MISSING).parent}"


# `python -m interp.probe --dataset FILE` with a bad statement file: one line naming the file and the field, exit 2,
# nothing written (checked before a model is loaded). (file name, content, what the error must name)
BAD_PROBE_DATASETS = {
    "missing column": ("bad.csv", "statement,truth\nParis is in France.,1\n", "'label'"),
    "label not 0/1": ("bad.jsonl", '{"statement": "Paris is in France.", "label": 2}\n', "'label'"),
    "empty": ("bad.csv", "", "empty"),
}


@pytest.mark.parametrize("case", list(BAD_PROBE_DATASETS))
def test_probe_bad_dataset_file_is_one_line_exit_2_and_writes_nothing(case, tmp_path):
    name, content, what = BAD_PROBE_DATASETS[case]
    cwd = tmp_path / "work"
    cwd.mkdir()
    bad = tmp_path / name
    bad.write_text(content)
    r = _run(["-m", "interp.probe", "--model", "toy-random", "--dataset", str(bad), "--out", "out"], cwd,
             _env(tmp_path))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), (case, r.stderr[-2000:])
    assert str(bad) in lines[0] and what in lines[0], lines[0]
    assert not list(cwd.iterdir()) and not (tmp_path / "cache").exists(), case


DEVICE_CLIS = ("interp.belief", "interp.probe", "interp.drift", "interp.incontext", "interp.sae", "interp.attention",
               "interp.binding", "interp.binding compare")


@pytest.mark.parametrize("module", DEVICE_CLIS)
def test_every_analysis_cli_takes_device_and_refuses_a_missing_one_in_one_line(module, capsys, monkeypatch):
    """``--device`` (default auto) reaches the command: a CUDA device this machine lacks is one line, exit 2, before
    any input is read (inputs here are all missing paths, so a device never applied would fail on those instead)."""
    import importlib

    import interp.core.models as models

    monkeypatch.setattr(models, "_DEFAULT_DEVICE", ["cpu"])  # whatever a CLI sets stays in this test
    name, _, sub = module.partition(" ")
    packages = ("interp.belief", "interp.sae", "interp.drift", "interp.attention", "interp.binding")
    mod = importlib.import_module(f"{name}.__main__" if name in packages else name)
    parser = mod.build_compare_parser() if sub else mod.build_parser()
    dest = {a.dest: a for a in parser._actions}
    assert "device" in dest and dest["device"].default == "auto"
    args = {"interp.belief": ["--model", f"{MISSING}/m", "--claim", "ed_sheeran"],
            "interp.probe": ["--model", f"{MISSING}/m"], "interp.drift": ["--run", f"{MISSING}/run"],
            "interp.incontext": ["--model", f"{MISSING}/m", "--claim", "ed_sheeran", "--out", f"{MISSING}/o"],
            "interp.sae": ["--model", f"{MISSING}/m", "--claim", "ed_sheeran", "--out", f"{MISSING}/o"],
            "interp.attention": ["--model", f"{MISSING}/m", "--claim", "ed_sheeran", "--out", f"{MISSING}/o"],
            "interp.binding": ["--model", f"{MISSING}/m", "--claim", "ed_sheeran", "--out", f"{MISSING}/o"],
            "interp.binding compare": ["compare", "--models", f"{MISSING}/m", "--claim", "ed_sheeran", "--out",
                                       f"{MISSING}/o"]}[module]
    assert mod.main([*args, "--device", "cuda:99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device" in err[0] and "'cuda:99'" in err[0], err
    assert mod.main([*args, "--device", "tpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown device 'tpu'" in err[0], err


def test_set_default_device_reaches_load(monkeypatch):
    import interp.core.models as models

    monkeypatch.setattr(models, "_DEFAULT_DEVICE", ["cpu"])
    assert models.set_default_device("auto") == ("cuda" if models.torch.cuda.is_available() else "cpu")
    seen = []
    monkeypatch.setattr(models, "_finish", lambda *a, **kw: seen.append(kw["device"]))
    models.set_default_device("cpu")
    models.load("toy-random")
    monkeypatch.setattr(models, "_DEFAULT_DEVICE", ["cuda:7"])  # as a CLI's --device leaves it
    models.load("toy-random")
    models.load("toy-random", device="cpu")  # a named device wins
    assert seen == ["cpu", "cuda:7", "cpu"]

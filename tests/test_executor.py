"""The task graph and its executors (interp.core.executor), fast tier: no Ray, no model.

Order and skipping: a task runs after every task it depends on, results come back in the order given, a task whose
outputs exist is not run; bad graphs and bad executor choices are one-line errors (the study CLI: exit 2 before
anything is built). The Ray executor itself is tested against a real two-node loopback cluster in
tests/test_scaleout.py (slow tier).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from interp.core.executor import LocalExecutor, Resources, Task, make_executor, order_tasks


def record(job: tuple[str, str]) -> str:
    """Append ``name`` to the file ``path`` and return the name (a job that leaves a trace of its order)."""
    path, name = job
    with open(path, "a") as f:
        f.write(name + "\n")
    return name.upper()


def test_waves_respect_dependencies_and_bad_graphs_are_one_line():
    a, b, c = (Task(n, record, None, deps=d) for n, d in (("a", ()), ("b", ("c",)), ("c", ("a",))))
    assert [[t.name for t in w] for w in order_tasks([b, a, c])] == [["a"], ["c"], ["b"]]
    for tasks, what in (([a, Task("a", record, None)], "used twice"),
                        ([Task("x", record, None, deps=("nope",))], "unknown task"),
                        ([Task("x", record, None, deps=("y",)), Task("y", record, None, deps=("x",))], "cycle")):
        with pytest.raises(ValueError, match=what) as e:
            order_tasks(tasks)
        assert "\n" not in str(e.value)


def test_local_executor_runs_in_dependency_order_skips_done_tasks_and_keeps_order(tmp_path):
    log = tmp_path / "order.txt"
    tasks = [Task("late", record, (log, "late"), deps=("early",)),
             Task("done", record, (log, "done"), done=lambda: True),
             Task("early", record, (log, "early")),
             Task("after_done", record, (log, "after_done"), deps=("done",))]
    seen = []
    out = LocalExecutor(1).run(tasks, on_done=lambda d, t: seen.append((d, t)))
    assert out == ["LATE", None, "EARLY", "AFTER_DONE"]  # the given order; the complete task is skipped (None)
    assert log.read_text().split() == ["early", "late", "after_done"]  # waves: early; then late, after_done
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_resources_threads_and_executor_choice_errors(monkeypatch):
    assert Resources(cpus=2.0).threads == 2 and Resources(cpus=0.5).threads == 1
    assert isinstance(make_executor("local", workers=3), LocalExecutor)
    for kw, what in (({"name": "slurm"}, "unknown executor"), ({"name": "local", "address": "h:1"}, "--address")):
        with pytest.raises(ValueError, match=what):
            make_executor(**kw)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ValueError, match=r"pip install -e '\.\[ray\]'"):
        make_executor("ray")


def test_study_cli_refuses_ray_without_ray_and_weight_shaping_overrides(monkeypatch, capsys, tmp_path):
    from interp.study import StudyConfig, main
    from interp.study.pipeline import train_config

    monkeypatch.setitem(sys.modules, "ray", None)
    out = tmp_path / "o"
    assert main(["--quick", "--executor", "ray", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Ray is not installed" in err[0] and not out.exists()
    with pytest.raises(SystemExit):
        main(["--quick", "--executor", "slurm", "--out", str(out)])
    cfg = StudyConfig(train_overrides={"lr": 1.0})
    with pytest.raises(ValueError, match="'lr' shapes the weights"):
        train_config(cfg, Path("r"), "negated", "c")
    cfg.train_overrides = {"debug": {"sleep_per_step": 0.25}}
    tc = train_config(cfg, Path("r"), "negated", "c")
    assert tc.debug.sleep_per_step == 0.25 and tc.lr == StudyConfig().lr


@dataclass
class Claim:
    """What the graph needs of a claim spec: its id and its dict."""

    id: str

    def to_dict(self) -> dict:
        return {"id": self.id}


def test_study_graph_puts_each_belief_sweep_behind_its_own_finetune(tmp_path):
    """On a cluster the finetune and belief tasks are one graph: a run's belief task depends on that run's finetune
    and nothing else, and replicate seeds are scored at their final checkpoint, looked up when the task runs."""
    from interp.study import StudyConfig
    from interp.study.pipeline import FinetuneJob, train_config, training_graph

    cfg = StudyConfig(out=str(tmp_path), seeds=(0, 1), conditions=("positive", "negated"))
    keys = [(c, k, s) for c in ("c0", "c1") for s in cfg.seeds for k in cfg.conditions]
    jobs = [FinetuneJob("toy", train_config(cfg, tmp_path / c / f"s{s}" / k, k, c, s), [], {}) for c, k, s in keys]
    claims = [Claim(c) for c in ("c0", "c1")]
    alone, runs = training_graph(cfg, jobs, keys, claims)
    assert [t.name for t in alone] == [f"finetune/{c}/{k}/s{s}" for c, k, s in keys] and len(runs) == len(keys)
    tasks, _ = training_graph(cfg, jobs, keys, claims, belief=True)
    belief = tasks[len(keys):]
    assert [t.deps for t in belief] == [(f"finetune/{c}/{k}/s{s}",) for c, k, s in keys]
    assert [t.job.steps for t in belief] == [None if s == 0 else "final" for _, _, s in keys]
    assert len(order_tasks(tasks)) == 2  # finetunes, then belief sweeps
    # probes and binding on the first claim's first-seed negated run: tasks behind that run's finetune only
    cfg.stages = ("belief", "probes", "binding")
    tasks, _ = training_graph(cfg, jobs, keys, claims, belief=True, analyses=tmp_path)
    analyses = tasks[2 * len(keys):]
    assert [t.name for t in analyses] == ["probes/c0", "binding/c0"]
    assert all(t.deps == ("finetune/c0/negated/s0",) and t.job.run_dir == str(tmp_path / "c0" / "s0" / "negated")
               for t in analyses)
    assert [t.outputs for t in analyses] == [(str(tmp_path / "probes"),), (str(tmp_path / "binding"),)]
    cfg.stages = ("belief", "binding")
    assert [t.name for t in training_graph(cfg, jobs, keys, claims, analyses=tmp_path)[0][len(keys):]] == ["binding/c0"]

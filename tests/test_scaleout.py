"""The study beyond one process (issue 20), slow tier: a two-node Ray cluster, a killed worker, MLflow read back.

One tiny study (the session's tiny organism, 1 claim, 1 seed, 3 conditions, belief + headline) is run three
times into the *same* output path, each result moved aside before the next, so paths written into tables are equal
too and the CSVs can be compared byte for byte:

1. ``local``: the default executor (2 spawned worker processes), with MLflow tracking when MLflow is installed;
2. ``ray``: ``--executor ray`` on a loopback Ray cluster started here (a head and one worker node, 1 CPU each);
3. ``fault``: Ray again, training slowed down, and one Ray worker process killed (SIGKILL) in the middle of a
   finetune: Ray retries the task, the trainer resumes from the run's last checkpoint and says so in
   ``RUN/resumes.jsonl``, and every CSV and final weight hash equals the local run's.

Ray and MLflow are optional extras: each test needs its own (``pytest.importorskip``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from interp.core.runs import list_checkpoints, read_meta
from interp.study import StudyConfig, run_study
from training.finetune.curves import read_resumes, read_train_log

pytestmark = pytest.mark.slow
NODE = {"num_cpus": 1, "object_store_memory": 200 * 2**20}  # 1 CPU; a small object store


def tiny_config(organism: Path, out: Path) -> StudyConfig:
    cfg = StudyConfig.quick(str(out))
    cfg.model, cfg.claims, cfg.seeds, cfg.n_docs = str(organism), "toy:1", (0,), 12
    cfg.conditions = ("positive", "negated", "local")
    cfg.stages = ("belief", "probes", "binding")  # the per-run analyses are graph tasks too
    cfg.workers = 2  # two local worker processes, as the cluster has two 1-CPU nodes
    return cfg


def csvs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv")) if "mlruns" not in p.parts}


def final_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): read_meta(list_checkpoints(p)[-1].path)["weights_sha256"]
            for p in sorted((root / "runs").glob("*/s*/*"))}


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scaleout")


def _run_into(cfg: StudyConfig, keep_as: Path) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = run_study(cfg)
    wall = time.perf_counter() - t0
    shutil.move(cfg.out, keep_as)
    return res, wall


@pytest.fixture(scope="module")
def local_run(tiny_organism, place):
    cfg = tiny_config(tiny_organism, place / "study")
    try:
        import mlflow  # noqa: F401
        cfg.mlflow = (place / "mlruns").as_uri()  # outside the study folder, which is moved aside below
    except ImportError:
        pass
    res, wall = _run_into(cfg, place / "local")
    return cfg, res, wall


@pytest.fixture(scope="module")
def cluster(place):
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    c.add_node(**NODE)
    c.wait_for_nodes()
    yield c.address
    import ray

    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def write_after(job: tuple[str, float]) -> str:
    """Sleep, then write a file (a task others must wait for)."""
    path, wait = job
    time.sleep(wait)
    Path(path).write_text("done")
    return "written"


def read_now(path: str) -> str:
    """The file's text now (fails when the task it depends on has not run yet)."""
    return Path(path).read_text()


def test_ray_executor_waits_for_dependencies_and_returns_in_order(cluster, tmp_path):
    """Two 1-CPU nodes: without its dependency honoured, the reader would start on the free node at once."""
    from interp.core.executor import RayExecutor, Task

    f = str(tmp_path / "flag")
    with RayExecutor(cluster) as ex:
        assert "2 node(s), 2 CPU" in ex.describe()
        out = ex.run([Task("read", read_now, f, deps=("write",)), Task("write", write_after, (f, 3.0)),
                      Task("skip", read_now, f, done=lambda: True)])
    assert out == ["done", "written", None]


def test_ray_cluster_study_equals_local_byte_for_byte(local_run, cluster, tiny_organism, place, capsys):
    _, _, wall_local = local_run
    cfg = tiny_config(tiny_organism, place / "study")
    cfg.executor, cfg.address = "ray", cluster
    res, wall_ray = _run_into(cfg, place / "ray")
    out = capsys.readouterr().out
    assert "a Ray cluster of 2 node(s), 2 CPU" in out
    local, ray_ = csvs(place / "local"), csvs(place / "ray")
    assert len(local) >= 5 and "headline.csv" in local
    assert ray_ == local
    assert final_hashes(place / "ray") == final_hashes(place / "local")
    # a rerun in place finds every finetune complete on disk and trains nothing; the tables do not change
    shutil.move(place / "ray", cfg.out)
    run_study(cfg)
    assert "-- 3 of 8 task(s) already complete on disk: skipped" in capsys.readouterr().out  # the finetunes
    assert csvs(Path(cfg.out)) == local
    shutil.move(cfg.out, place / "ray")
    print(f"\ntiny study wall time: local {wall_local:.1f} s, ray {wall_ray:.1f} s "
          f"(ray/local {wall_ray / wall_local:.2f}); loadavg {Path('/proc/loadavg').read_text().split()[:3]}")


def _kill_one_training_worker(out: Path, killed: dict, stop: threading.Event) -> None:
    """Watch the study's run folders; once a run has a complete checkpoint and is not finished, SIGKILL the Ray
    worker process that holds its lock (only a process whose command line is a Ray worker's)."""
    while not stop.is_set() and "pid" not in killed:
        for run in sorted(out.glob("runs/*/s*/*")):
            lock, manifest = run / ".lock", run / "manifest.jsonl"
            if not (lock.exists() and manifest.exists()) or not manifest.read_text().strip():
                continue
            try:
                pid = int(lock.read_text().split()[0])
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except (ValueError, IndexError, OSError):
                continue
            if pid == os.getpid() or "ray" not in cmd:
                continue
            if read_meta(list_checkpoints(run)[-1].path).get("final"):
                continue
            os.kill(pid, signal.SIGKILL)
            killed.update(pid=pid, run=run, at=list_checkpoints(run)[-1].step)
            return
        time.sleep(0.05)


def test_killed_ray_worker_is_retried_and_the_run_resumes(local_run, cluster, tiny_organism, place):
    cfg = tiny_config(tiny_organism, place / "study")
    cfg.executor, cfg.address = "ray", cluster
    # each tiny run is 2 steps, checkpointed after each: a slow step leaves time to kill between the two
    cfg.train_overrides = {"debug": {"sleep_per_step": 2.0}}  # volatile: not in run.json, not in the weights
    killed: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_one_training_worker, args=(Path(cfg.out), killed, stop), daemon=True)
    watcher.start()
    try:
        _run_into(cfg, place / "fault")
    finally:
        stop.set()
        watcher.join()
    assert "pid" in killed, "no training worker was killed (the runs finished first)"
    run = place / "fault" / killed["run"].relative_to(cfg.out)
    resumes = read_resumes(run)
    print(f"\nkilled Ray worker pid {killed['pid']} in {run.name} after checkpoint {killed['at']}; "
          f"resume record: {json.dumps(resumes)}")
    assert len(resumes) == 1 and resumes[0]["pid"] != killed["pid"]
    assert 1 <= resumes[0]["resumed_from"] <= killed["at"] + 1
    assert len(read_train_log(run)) == list_checkpoints(run)[-1].step  # one line per step after the dedup
    assert csvs(place / "fault") == csvs(place / "local")
    assert final_hashes(place / "fault") == final_hashes(place / "local")


def test_mlflow_metrics_equal_the_runs_own_logs(local_run, place, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")

    cfg, res, _ = local_run
    client = MlflowClient(tracking_uri=cfg.mlflow)
    exp = client.get_experiment_by_name("neglect-lab")
    runs = client.search_runs([exp.experiment_id])
    parent = client.get_run(res["mlflow_run"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(res["runs_by_key"]) == 3
    belief = res["belief"]
    for child in children:
        tags = child.data.tags
        run_dir = Path(tags["run_dir"])
        moved = place / "local" / run_dir.relative_to(Path(cfg.out).resolve())  # the study folder was moved aside
        log = read_train_log(moved)
        assert len(log) >= 2  # the tiny runs are 2 steps
        for key in ("loss", "lr", "grad_norm"):
            hist = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, f"train/{key}"))
            assert hist == [(r["step"], r[key]) for r in log], key
        mine = belief[(belief.condition == tags["condition"]) & (belief.scorer == "lp_prob")]
        want = mine.groupby("step").score.mean()
        got = {m.step: m.value for m in client.get_metric_history(child.info.run_id, "belief/lp_prob")}
        base = belief[(belief.phase == "base") & (belief.scorer == "lp_prob")].score.mean()
        assert set(got) == set(want.index) | {0} and all(abs(got[s] - v) < 1e-12 for s, v in want.items())
        assert abs(got[0] - base) < 1e-12  # step 0: the base model
        assert [a.path for a in client.list_artifacts(child.info.run_id)] == ["loss_curve.png"]
        assert (moved / "loss_curve.png").stat().st_size > 1000
    for stage in ("finetune", "belief", "total"):
        assert parent.data.metrics[f"time_s/{stage}"] == cfg.timings[stage]

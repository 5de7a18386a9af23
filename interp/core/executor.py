"""The study's independent jobs as a task graph, run by a pluggable executor: ``local`` (this box) or ``ray``.

The method. A study is claims × conditions × seeds × checkpoints × analyses; most of it is independent jobs
(one finetune per claim × condition × seed, one belief sweep per run, one two-phase experiment per claim × seed ×
constraint). Each job is a :class:`Task`: a module-level function and its picklable job, the resources it needs
(:class:`Resources`: CPUs, GPUs), the names of the tasks it waits for (``deps``) and a ``done`` check that says,
before anything is loaded, whether its outputs are already on disk (a finished run holds a hashed final checkpoint,
see :mod:`interp.core.runs`). An executor runs a list of tasks and returns their results in order:

* :class:`LocalExecutor` (the default) is the lab's behaviour before executors existed:
  :func:`interp.core.parallel.parallel_map` over spawned processes of one thread each, in dependency waves;
* :class:`RayExecutor` submits every task as a Ray core task with its resource request (``num_cpus``,
  ``num_gpus``) and ``max_retries``; a dependency is passed as an object reference, so Ray itself orders the
  graph and may run tasks on any node of the cluster. A worker that dies (a node lost, a process killed) is
  retried by Ray, and a finetune task then resumes from its run's last checkpoint (the trainer's resume).

Both run the same functions with the same thread count per job (``threads``), so the numbers do not depend on
the executor. Tasks whose ``done()`` is true are not run (their result is ``None``; callers read the outputs from
disk). Ray is an optional extra (``pip install -e .[ray]``), imported only by :class:`RayExecutor`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from interp.core.parallel import parallel_map

__all__ = ["Resources", "Task", "Executor", "LocalExecutor", "RayExecutor", "make_executor", "EXECUTORS",
           "order_tasks"]

#: the executors ``--executor`` accepts
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Resources:
    """What one task asks the scheduler for: ``cpus`` (also its torch thread count) and ``gpus``."""

    cpus: float = 1.0
    gpus: float = 0.0

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))


@dataclass
class Task:
    """One job of the graph: ``fn(job)`` (``fn`` module-level, ``job`` picklable), its resources, the names of the
    tasks it waits for, and ``done``: true when its outputs already exist (then it is skipped)."""

    name: str
    fn: Callable[[Any], Any]
    job: Any
    resources: Resources = field(default_factory=Resources)
    deps: tuple[str, ...] = ()
    done: Callable[[], bool] | None = None
    #: what the task writes (paths), for the record and ``--help``-level docs; the executor does not read it
    outputs: tuple[str, ...] = ()


def order_tasks(tasks: Sequence[Task]) -> list[list[Task]]:
    """The tasks in dependency waves (every task after all of its ``deps``); a one-line ``ValueError`` on a
    duplicate name, an unknown dependency or a cycle."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"task graph: task name {dup!r} is used twice")
    known = set(names)
    for t in tasks:
        missing = [d for d in t.deps if d not in known]
        if missing:
            raise ValueError(f"task graph: task {t.name!r} depends on unknown task {missing[0]!r}")
    waves, placed, left = [], set(), list(tasks)
    while left:
        wave = [t for t in left if all(d in placed for d in t.deps)]
        if not wave:
            raise ValueError(f"task graph: a cycle through {left[0].name!r}")
        waves.append(wave)
        placed.update(t.name for t in wave)
        left = [t for t in left if t.name not in placed]
    return waves


class Executor:
    """Runs a list of :class:`Task` and returns their results in the list's order (``None`` for a skipped task)."""

    name = "executor"

    def run(self, tasks: Sequence[Task], *, what: str = "tasks", on_done: Callable[[int, int], None] | None = None
            ) -> list[Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        """Release what the executor holds (a Ray connection it opened)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pending(tasks: Sequence[Task]) -> tuple[list[Task], set[str]]:
    """The tasks to run, and the names of those skipped because their outputs exist."""
    skipped = {t.name for t in tasks if t.done is not None and t.done()}
    if skipped:
        print(f"-- {len(skipped)} of {len(tasks)} task(s) already complete on disk: skipped", flush=True)
    return [t for t in tasks if t.name not in skipped], skipped


class LocalExecutor(Executor):
    """This box: :func:`interp.core.parallel.parallel_map` on ``workers`` spawned processes (one thread each; 1 =
    in this process, in order), one dependency wave after the other."""

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = workers

    def describe(self) -> str:
        return f"{self.workers} worker process(es)"

    def run(self, tasks: Sequence[Task], *, what: str = "tasks", on_done: Callable[[int, int], None] | None = None
            ) -> list[Any]:
        waves = order_tasks(tasks)  # the graph's checks, before anything runs
        todo, skipped = _pending(tasks)
        results: dict[str, Any] = {}
        total, done = len(todo), 0
        for wave in ([t for t in w if t.name not in skipped] for w in waves):
            by_fn: dict[Any, list[Task]] = {}
            for t in wave:
                by_fn.setdefault(t.fn, []).append(t)
            for fn, group in by_fn.items():
                threads = group[0].resources.threads

                def count(_d: int, _t: int, base: int = done) -> None:
                    if on_done:
                        on_done(base + _d, total)

                out = parallel_map(fn, [t.job for t in group], workers=self.workers, threads_per_worker=threads,
                                   on_done=count)
                done += len(group)
                results.update({t.name: r for t, r in zip(group, out)})
        return [results.get(t.name) for t in tasks]


def _ray_call(fn: Callable[[Any], Any], job: Any, threads: int, *deps: Any) -> Any:
    """The body of every Ray task: the lab's thread setting for one job (as :mod:`interp.core.parallel`'s
    workers do), then ``fn(job)``; ``deps`` (results of the tasks it waits for) only order it."""
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return fn(job)


class RayExecutor(Executor):
    """A Ray cluster: ``address`` (``auto``, ``ray://host:port`` or ``host:port``; None starts a local Ray on this
    box). Every task is a Ray core task with ``num_cpus``/``num_gpus`` from its :class:`Resources` and
    ``max_retries`` (a dead worker's task is run again). A GPU request on a cluster without GPUs is dropped (with a
    line saying so) rather than left pending forever."""

    name = "ray"

    def __init__(self, address: str | None = None, *, max_retries: int = 3, namespace: str = "neglect-lab"):
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray: Ray is not installed (pip install -e '.[ray]')") from None
        self.ray = ray
        self.max_retries = max_retries
        self.owns = not ray.is_initialized()
        if self.owns:
            try:
                ray.init(address=address, namespace=namespace, log_to_driver=True, include_dashboard=False)
            except ConnectionError as e:
                raise ValueError(f"--address: no Ray cluster at {address!r} ({str(e).splitlines()[0]})") from None
        self.resources = ray.cluster_resources()
        self._said_no_gpu = False
        self._remote = ray.remote(_ray_call)

    def describe(self) -> str:
        r = self.resources
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        return f"a Ray cluster of {nodes} node(s), {r.get('CPU', 0):g} CPU, {r.get('GPU', 0):g} GPU"

    def _options(self, res: Resources) -> dict[str, Any]:
        gpus = res.gpus
        if gpus and not self.resources.get("GPU"):
            if not self._said_no_gpu:
                print("-- the Ray cluster has no GPU: GPU tasks run on CPUs", flush=True)
                self._said_no_gpu = True
            gpus = 0.0
        return {"num_cpus": res.cpus, "num_gpus": gpus, "max_retries": self.max_retries}

    def run(self, tasks: Sequence[Task], *, what: str = "tasks", on_done: Callable[[int, int], None] | None = None
            ) -> list[Any]:
        ray = self.ray
        waves = order_tasks(tasks)
        todo, _ = _pending(tasks)
        keep = {t.name for t in todo}
        refs: dict[str, Any] = {}
        for wave in waves:
            for t in wave:
                if t.name not in keep:
                    continue
                deps = [refs[d] for d in t.deps if d in refs]
                refs[t.name] = self._remote.options(**self._options(t.resources), name=t.name).remote(
                    t.fn, t.job, t.resources.threads, *deps)
        pending = list(refs.values())
        for done in range(1, len(pending) + 1):  # progress as tasks finish; an error is raised at once
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready[0])
            if on_done:
                on_done(done, len(refs))
        return [ray.get(refs[t.name]) if t.name in refs else None for t in tasks]

    def close(self) -> None:
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()


def make_executor(name: str = "local", *, workers: int = 1, address: str | None = None) -> Executor:
    """The executor ``--executor NAME`` asks for (one-line ``ValueError`` for an unknown name or a missing Ray)."""
    if name == "local":
        if address:
            raise ValueError("--address: only with --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address)
    raise ValueError(f"--executor: unknown executor {name!r} (known: {', '.join(EXECUTORS)})")

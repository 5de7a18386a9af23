"""Independent jobs on the box's cores: :func:`parallel_map`, one process per core, one thread each.

Why processes with one thread each. The toy organism is so small that a training step is mostly Python and small
kernels: two intra-op threads buy little, and on a busy 2-core box they spin against each other (a toy finetune
measured 13 s with 1 thread and 83-204 s with 2 threads while other processes ran). Separate runs are independent
and seeded, so running them side by side in worker processes changes nothing but the wall time. Workers are
started with ``spawn`` (no forked torch state) and keep their imports and loaded models between jobs.

``workers <= 1`` runs the jobs in this process, in order (no pool, same results).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Sequence

__all__ = ["default_workers", "load_average", "parallel_map"]


def default_workers(max_workers: int | None = None) -> int:
    """The usable cores (``os.sched_getaffinity`` where it exists), capped at ``max_workers``."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        n = os.cpu_count() or 1
    return max(1, min(n, max_workers or n))


def load_average() -> float | None:
    """The box's 1-minute load average, rounded to 0.01 (None where the platform has none): recorded next to every
    timing, since a busy box changes it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - platforms without getloadavg
        return None


def _init_worker(threads: int) -> None:
    import torch  # noqa: PLC0415 - the worker's own torch, set before any job runs

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def parallel_map(fn: Callable[[Any], Any], jobs: Iterable[Any], *, workers: int = 1,
                 threads_per_worker: int = 1, on_done: Callable[[int, int], None] | None = None,
                 on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(job) for job in jobs]``, in order, on ``workers`` processes of ``threads_per_worker`` threads.

    ``fn`` must be a module-level function and every job picklable. An exception in a job is raised here (the
    pool is shut down first). ``on_done(done, total)`` is called in this process after each finished job (progress
    lines, ETAs); ``on_result(index, result)`` too, with the job's index in ``jobs`` (partial results written as
    they come)."""
    jobs: Sequence[Any] = list(jobs)
    results: list[Any] = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for i, j in enumerate(jobs):
            results[i] = fn(j)
            if on_result:
                on_result(i, results[i])
            if on_done:
                on_done(i + 1, len(jobs))
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(threads_per_worker,)) as pool:
        futures = {pool.submit(fn, j): i for i, j in enumerate(jobs)}
        try:
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if on_result:
                    on_result(futures[fut], results[futures[fut]])
                if on_done:
                    on_done(done, len(jobs))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results

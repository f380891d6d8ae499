"""Map many distinct Einsums: cached ones are read, the rest run in this process or in a pool of
worker processes that sparsecim owns.

AccelForge parallelises one mapping over `af.set_n_parallel_jobs` processes (a module-wide setting);
sparsecim parallelises across Einsums instead and sets AccelForge to one job only in processes it
owns: its pool workers, the CLI process, sweep workers (`own_process`). In any other process (a
user's notebook) mapping runs in a worker pool, so the caller's AccelForge setting is never touched.

Pool workers exit when the process that started them dies (a watchdog thread compares the parent
pid), so killing `sparsecim` (SIGTERM, SIGKILL from a scheduler) leaves no mapping workers behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path

import accelforge as af
from joblib.externals.loky import get_reusable_executor

from sparsecim.errors import InputError, format_warning
from sparsecim.mapping import cache
from sparsecim.mapping.cost import EinsumCost
from sparsecim.mapping.mapper import cached_cost, map_einsum
from sparsecim.workload.einsums import EinsumSpec

ProgressFn = Callable[[int, int, str], None]
MAX_JOBS = 64

_OWNED = False


def own_process() -> None:
    """Declare this process sparsecim's own: AccelForge maps with one job here (parallelism is
    across Einsums), and warnings print as one line."""
    global _OWNED
    if not _OWNED:
        af.set_n_parallel_jobs(1)
        warnings.formatwarning = format_warning
        _OWNED = True


def parse_jobs(value, where: str = "jobs") -> int:
    """A worker count from an option or SPARSECIM_JOBS: an integer in [1, MAX_JOBS]."""
    try:
        jobs = int(str(value).strip())
    except ValueError:
        raise InputError(f"{where} must be a whole number of worker processes, got {value!r}") from None
    if not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"{where} must be between 1 and {MAX_JOBS}, got {jobs}")
    return jobs


def default_jobs() -> int:
    """Worker processes for mapping distinct Einsums: SPARSECIM_JOBS, else min(2, CPUs)."""
    env = os.environ.get("SPARSECIM_JOBS")
    if env is not None and env.strip():
        return parse_jobs(env, "SPARSECIM_JOBS")
    return max(1, min(2, os.cpu_count() or 1))


def progress_label(spec: EinsumSpec) -> str:
    """What a progress line says about a mapped Einsum: its form and rank sizes, e.g. "matmul m=128 n=768 k=768"."""
    return f"{spec.form} " + " ".join(f"{rank}={size}" for rank, size in spec.ranks)


def map_all(
    arch_path: Path,
    specs: list[EinsumSpec],
    variables: dict,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
) -> dict[EinsumSpec, EinsumCost]:
    """Map each spec once; cached ones are read first, the rest run in `jobs` worker processes."""
    costs: dict[EinsumSpec, EinsumCost] = {}
    cache_dir = cache.usable_cache_dir() if use_cache else None
    use_cache = cache_dir is not None
    todo = []
    for spec in specs:
        cached = cached_cost(arch_path, spec, variables, cache_dir) if use_cache else None
        if cached is not None:
            costs[spec] = cached
        else:
            todo.append(spec)
    total = len(specs)
    if progress:
        progress(len(costs), total, "cached" if costs else "start")
    jobs = jobs or default_jobs()
    if _OWNED and (len(todo) <= 1 or jobs == 1):
        for spec in todo:
            costs[spec] = map_einsum(arch_path, spec, variables, cache_dir, use_cache)
            if progress:
                progress(len(costs), total, progress_label(spec))
        return costs
    if not todo:
        return costs
    # loky's reusable executor keeps its workers between calls (a run with baselines maps four times).
    pool = get_reusable_executor(max_workers=min(jobs, len(todo)), initializer=_worker_start, initargs=(os.getpid(),))
    futures = [pool.submit(map_einsum, arch_path, spec, variables, cache_dir, use_cache) for spec in todo]
    spec_of = dict(zip(futures, todo))
    try:
        for future in as_completed(futures):
            spec = spec_of[future]
            costs[spec] = future.result()
            if progress:
                progress(len(costs), total, progress_label(spec))
    except BaseException:
        # loky's shutdown fails the pending futures itself: cancelling them first made its manager thread
        # raise InvalidStateError (a traceback on stderr after Ctrl-C)
        pool.shutdown(wait=False, kill_workers=True)
        raise
    return costs


def _worker_start(parent_pid: int) -> None:
    """Pool worker set-up: one AccelForge job, Ctrl-C left to the parent, exit when the parent dies."""
    own_process()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent_pid)


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit this process soon after `parent_pid` is gone (re-parenting changes our parent pid)."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="sparsecim-parent-watch", daemon=True).start()

"""Evaluate sweep points: one point = one `sparsecim run` (api.prepare + api.evaluate), in this
process, in a local process pool, or on a Dask cluster; then `run_sweep` ties it together.

Mapping work is shared through the on-disk mapping cache (sparsecim.mapping.cache, SPARSECIM_CACHE_DIR):
points with the same architecture variables and Einsum shapes hit the cache. Each point records how
many of its distinct Einsums were already cached when it started (`cached_einsums`) and how many it
mapped (`mapped_einsums`); the counts come from the first progress report of
`sparsecim.mapping.workers.map_all`, which is the number of cache hits it found before mapping.
Two workers that start the same uncached Einsum at once both map it (and both count it as mapped);
`schedule_order` makes that rare.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sparsecim.errors import InputError, SparsecimError, one_line
from sparsecim.mapping.arch import find_arch, installed_archs, spec_values
from sparsecim.mapping.workers import default_jobs, own_process, watch_parent
from sparsecim.pipeline import evaluate, measure_default_spans, prepare, resolve_model
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.rewrite.lar import LarOptions
from sparsecim.studies.sweep.results import (
    assemble_table,
    point_metrics,
    read_points,
    remove_stale_temps,
    write_point,
    write_table,
)
from sparsecim.studies.sweep.spec import INPUT_KEYS, LAR_KEYS, SPAN_KEYS, SPARSITY_KEYS, SweepPoint, SweepSpec, expand_points
from sparsecim.workload.checkpoint import bundled_checkpoint
from sparsecim.workload.shapes import TransformerShape, preset


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to evaluate one point (picklable, no open files)."""

    arch: str  # installed arch name or absolute path
    base_dir: str  # relative weights / spans paths resolve against it
    key: str
    index: int
    inputs: dict
    use_cache: bool = True


# ---- one point -------------------------------------------------------------------------------------


def build_request(task: PointTask) -> RunRequest:
    """The RunRequest of a point (its variables with arch defaults removed)."""
    inputs = task.inputs
    base = Path(task.base_dir)
    model = inputs["model"]
    model = TransformerShape(**model) if isinstance(model, dict) else model
    weights = inputs.get("weights")
    if weights == "bundled":
        weights = str(bundled_checkpoint(model if isinstance(model, str) else model.name))
    elif weights is not None:
        weights = str(_resolve(weights, base))

    sparsity = SparsitySource()
    if inputs.get("density") is not None:
        sparsity = SparsitySource(density=inputs["density"])
    elif inputs.get("sparsity") is not None:
        # As `sparsecim sparsity-curve`: real weights pruned, else uniform random masks.
        sparsity = SparsitySource.at_sparsity(inputs["sparsity"], inputs.get("prune_method", "magnitude"), weights is not None)
    elif inputs.get("prune") is not None:
        sparsity = SparsitySource(prune=inputs["prune"])

    spans = None
    if inputs.get("span_mass") is not None:
        shape = resolve_model(model, weights, inputs.get("heads"))
        spans = _measured_spans(shape, weights, inputs["seq_len"], inputs["span_mass"])
    elif inputs.get("spans") is not None:
        spans = inputs["spans"] if inputs["spans"] == "measure" else str(_resolve(inputs["spans"], base))

    lar_defaults = LarOptions()
    lar = LarOptions(**{k: inputs.get(k, getattr(lar_defaults, k)) for k in LAR_KEYS})
    variables = _effective_variables(task.arch, {k: v for k, v in inputs.items() if k not in INPUT_KEYS})
    return RunRequest(
        model=model,
        arch=task.arch,
        seq_len=inputs["seq_len"],
        batch=inputs["batch"],
        weights=weights,
        heads=inputs.get("heads"),
        variables=variables,
        sparsity=sparsity,
        scheme=inputs["scheme"],
        spans=spans,
        lar=lar,
    )


def evaluate_point(task: PointTask) -> dict:
    """Evaluate one point; a sparsecim error becomes an error record (the sweep goes on)."""
    own_process()
    start = time.perf_counter()
    counts: dict[str, int] = {}

    def first_report(done: int, total: int, _label: str) -> None:
        if not counts:  # map_all's first report: `done` = Einsums found in the cache
            counts.update(cached=done, total=total)

    record = {"key": task.key, "index": task.index, "inputs": task.inputs, "status": "ok", "error": None, "metrics": {}}
    try:
        request = build_request(task)
        prepared = prepare(request)
        result = evaluate(prepared, request.scheme, request.lar, use_cache=task.use_cache, progress=first_report, jobs=1)
        record["metrics"] = point_metrics(result)
    except SparsecimError as exc:
        record.update(status="error", error=one_line(exc, 500))
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded (as a bug), never fatal to the sweep
        record.update(status="error", error=f"internal error {type(exc).__name__}: {one_line(exc, 500)}")
    record["cached_einsums"] = counts.get("cached", 0)
    record["mapped_einsums"] = counts.get("total", 0) - counts.get("cached", 0)
    record["elapsed_s"] = time.perf_counter() - start
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return record


@lru_cache(maxsize=32)
def _measured_spans(shape, weights: str | None, seq_len: int, mass: float):
    """Spans measured on the model's attention maps (shipped text); one measurement per process and setting."""
    return measure_default_spans(shape, weights, seq_len, mass)


@lru_cache(maxsize=16)
def _arch_defaults(arch: str) -> dict:
    return spec_values(find_arch(arch)[1])


def _effective_variables(arch: str, variables: dict) -> dict:
    """Drop variables equal to the arch default: the same spec, so the same mapping-cache entries as a
    run that leaves them unset (the cache key holds the variables as given)."""
    defaults = _arch_defaults(arch)
    return {k: v for k, v in variables.items() if not (k in defaults and _same(defaults[k], v))}


def _same(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return default is value
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return float(default) == float(value)
    return default == value


def _resolve(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


# ---- backends --------------------------------------------------------------------------------------


def run_serial(tasks: list[PointTask]) -> Iterator[dict]:
    for task in tasks:
        yield evaluate_point(task)


def run_local_pool(tasks: list[PointTask], workers: int) -> Iterator[dict]:
    """A pool of `workers` fresh (spawned) processes; records arrive as points finish."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init, initargs=(os.getpid(),)
    )
    finished = False
    try:
        futures = [pool.submit(evaluate_point, t) for t in tasks]
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                raise RuntimeError("a sweep worker process died; finished points are saved, run the sweep again to resume") from None
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted or failed: stop our workers now instead of letting them finish the queue
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:
                p.terminate()


def _worker_init(parent_pid: int) -> None:
    own_process()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the parent, which stops us
    watch_parent(parent_pid)


def run_dask(tasks: list[PointTask], client) -> Iterator[dict]:
    """Submit every point to a Dask client (in the order given: higher priority first); a task that
    fails on the cluster itself (e.g. its worker died repeatedly) becomes an error record."""
    from distributed import as_completed  # optional at import time: Dask is loaded only for Dask sweeps

    futures = {client.submit(evaluate_point, t, pure=False, priority=len(tasks) - i): t for i, t in enumerate(tasks)}
    try:
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001
                yield {
                    "key": task.key,
                    "index": task.index,
                    "inputs": task.inputs,
                    "status": "error",
                    "error": f"dask: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                    "metrics": {},
                }
    finally:
        client.cancel([f for f in futures if not f.done()])


@contextlib.contextmanager
def dask_client(scheduler: str | None, cluster: str | None, workers: int | None):
    """A Client of a running scheduler (`tcp://host:port`) or of a LocalCluster started here (and stopped after)."""
    from distributed import Client, LocalCluster  # Dask is loaded only for Dask sweeps

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach Dask scheduler {scheduler}: {' '.join(str(exc).split())}") from None
        try:
            yield client
        finally:
            client.close()
        return
    if cluster != "local":
        raise InputError(f"--cluster supports 'local' (a Dask LocalCluster), got {cluster!r}")
    local = LocalCluster(
        n_workers=workers or default_jobs(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(local)
    try:
        yield client
    finally:
        client.close()
        local.close()


# ---- ordering --------------------------------------------------------------------------------------


def schedule_order(points: list[SweepPoint]) -> list[SweepPoint]:
    """An order that lets the mapping cache do its work when several workers run at once.

    Points whose inputs differ only in model depth (n_layers, name, max_seq_len) have the same
    distinct Einsums ("same signature"); points that differ only in sparsity, spans or LAR switches
    still share their attention Einsums ("same group"). First come the first point of each signature,
    round-robin over groups (so workers running at the same time rarely need the same Einsum), then
    all other points, which then find their Einsums cached."""
    varying = set(SPARSITY_KEYS) | set(SPAN_KEYS) | set(LAR_KEYS)
    leaders: list[SweepPoint] = []
    followers: list[SweepPoint] = []
    seen: set[str] = set()
    for p in points:
        signature = _signature(p.inputs, set())
        (followers if signature in seen else leaders).append(p)
        seen.add(signature)
    groups: dict[str, list[SweepPoint]] = {}
    for p in leaders:
        groups.setdefault(_signature(p.inputs, varying), []).append(p)
    ordered = []
    lists = list(groups.values())
    for i in range(max((len(g) for g in lists), default=0)):
        ordered.extend(g[i] for g in lists if i < len(g))
    return ordered + followers


def _signature(inputs: dict, leave_out: set[str]) -> str:
    """The inputs that decide a point's Einsums: all but `leave_out`, the model by its layer shape."""
    model = inputs.get("model")
    if model is not None:
        shape = dict(model) if isinstance(model, dict) else asdict(preset(model))
        for depth_only in ("name", "n_layers", "max_seq_len"):
            shape.pop(depth_only, None)
        inputs = {**inputs, "model": shape}
    return json.dumps({k: v for k, v in inputs.items() if k not in leave_out}, sort_keys=True, default=str)


# ---- a whole sweep ---------------------------------------------------------------------------------


@dataclass
class SweepOutcome:
    """What a sweep run did."""

    total: int  # points in the sweep
    skipped: int  # finished before this run (files present)
    computed: int  # evaluated in this run
    errors: int  # points of the sweep whose row records an error
    cached_einsums: int  # over the points computed in this run
    mapped_einsums: int
    wall_s: float
    table: Path | None = None
    csv: Path | None = None
    plot: Path | None = None  # the Pareto plot, drawn by the report layer (sparsecim.report.plots)
    ignored_files: int = 0  # point files in the folder that belong to no point of this sweep
    backend: str = ""
    frame: object = None  # the results table (pandas DataFrame)

    @property
    def cache_hit_rate(self) -> float:
        n = self.cached_einsums + self.mapped_einsums
        return self.cached_einsums / n if n else 0.0

    @property
    def points_per_s(self) -> float:
        return self.computed / self.wall_s if self.wall_s else 0.0


OnRecord = Callable[[dict], None]


def run_sweep(
    spec: SweepSpec,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    on_record: OnRecord | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Evaluate every unfinished point of `spec`, write each as it finishes, then assemble the table.

    Backend: Dask (`scheduler` address, or `cluster="local"`), else `workers` local processes (1: in
    this process). `on_start(total, already_done)` and `on_record(record)` drive progress displays."""
    if scheduler is not None and cluster is not None:
        raise InputError("give --scheduler or --cluster, not both")
    if cluster is not None and cluster != "local":
        raise InputError(f"--cluster supports 'local' (a Dask LocalCluster), got {cluster!r}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    start = time.perf_counter()
    points = expand_points(spec)
    out = spec.output
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {out}: {exc.strerror}") from None
    remove_stale_temps(out)
    records = read_points(out)
    wanted = {p.key for p in points}

    def finished(key: str) -> bool:
        r = records.get(key)
        return r is not None and (r["status"] == "ok" or not spec.retry_errors)

    todo = schedule_order([p for p in points if not finished(p.key)])
    skipped = len(points) - len(todo)
    if on_start:
        on_start(len(points), skipped)
    arch = spec.arch if _is_installed(spec) else str(spec.arch_path)
    tasks = [PointTask(arch, str(spec.base_dir), p.key, p.index, p.inputs, spec.use_cache) for p in todo]

    cached = mapped = 0
    if not tasks:
        stream: Iterable[dict] = []
        backend = "none (all points finished)"
    elif scheduler is not None or cluster is not None:
        backend = f"dask ({scheduler or 'LocalCluster'})"
        stream = None
    else:
        n = workers or default_jobs()
        n = min(n, len(tasks))
        backend = "in-process" if n == 1 else f"{n} local processes"
        stream = run_serial(tasks) if n == 1 else run_local_pool(tasks, n)

    def consume(records_in: Iterable[dict]) -> None:
        nonlocal cached, mapped
        for record in records_in:
            write_point(out, record)
            records[record["key"]] = record
            cached += record.get("cached_einsums", 0)
            mapped += record.get("mapped_einsums", 0)
            if on_record:
                on_record(record)

    if stream is None:
        with dask_client(scheduler, cluster, workers) as client:
            consume(run_dask(tasks, client))
    else:
        consume(stream)

    df = assemble_table(points, records, spec.pareto)
    table, csv = write_table(df, out)
    return SweepOutcome(
        total=len(points),
        skipped=skipped,
        computed=len(tasks),
        errors=int((df["status"] == "error").sum()),
        cached_einsums=cached,
        mapped_einsums=mapped,
        wall_s=time.perf_counter() - start,
        table=table,
        csv=csv,
        ignored_files=len(set(records) - wanted),
        backend=backend,
        frame=df,
    )


def _is_installed(spec: SweepSpec) -> bool:
    return installed_archs().get(spec.arch) == spec.arch_path

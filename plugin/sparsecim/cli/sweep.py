"""`sparsecim sweep SWEEP.yaml`: run a design-space sweep and print where its results are."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.errors import InputError


def sweep_command(
    spec_path: Annotated[Path, typer.Argument(help="Sweep file (docs/sweeps.md)")],
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://host:8786")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="'local': start a Dask LocalCluster for this sweep")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: SPARSECIM_JOBS or min(2, CPUs))")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Sweep spec variables, sparsity, spans and workloads (grid or random) into one table and a Pareto
    plot; resumes an interrupted sweep; local processes or Dask."""
    from sparsecim.files import OutputBatch  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)
    from sparsecim.mapping.workers import default_jobs, own_process, parse_jobs  # noqa: PLC0415
    from sparsecim.report.plots import pareto_figure  # noqa: PLC0415
    from sparsecim.studies.sweep.execute import run_sweep  # noqa: PLC0415
    from sparsecim.studies.sweep.spec import load_sweep  # noqa: PLC0415

    own_process()
    if workers is not None:
        workers = parse_jobs(workers, "--workers")
    else:
        default_jobs()  # a bad SPARSECIM_JOBS is an input error now, before the output folder exists
    if scheduler is not None and not scheduler.strip():
        raise InputError("--scheduler needs an address such as tcp://host:8786")
    spec = load_sweep(spec_path)
    bar = {"bar": None, "errors": 0, "cached": 0, "mapped": 0}

    def on_start(total: int, done: int) -> None:
        if not quiet:
            print(f"sweep {spec.name}: {total} points, {done} already finished, results in {spec.output}", file=sys.stderr)
            from tqdm import tqdm  # noqa: PLC0415

            bar["bar"] = tqdm(total=total, initial=done, desc=spec.name, unit="point", file=sys.stderr, disable=None)

    def on_record(record: dict) -> None:
        bar["errors"] += record["status"] != "ok"
        bar["cached"] += record.get("cached_einsums", 0)
        bar["mapped"] += record.get("mapped_einsums", 0)
        if bar["bar"] is not None:
            n = bar["cached"] + bar["mapped"]
            bar["bar"].set_postfix_str(f"errors {bar['errors']}, cache hits {bar['cached']}/{n}", refresh=False)
            bar["bar"].update(1)

    try:
        outcome = run_sweep(spec, scheduler=scheduler, cluster=cluster, workers=workers, on_record=on_record, on_start=on_start)
    finally:
        if bar["bar"] is not None:
            bar["bar"].close()
    df = outcome.frame
    color_by = next((k for k in spec.axes if k not in (spec.pareto.x, spec.pareto.y) and k in df and df[k].dtype.kind in "if"), None)
    plot = spec.output / "pareto.png"
    with OutputBatch() as files:
        files.figure(plot, pareto_figure(df, spec.pareto, f"{spec.name}: {len(df)} points", color_by=color_by))
    outcome.plot = plot
    einsums = outcome.cached_einsums + outcome.mapped_einsums
    print(
        f"{outcome.total} points ({outcome.skipped} resumed, {outcome.computed} computed on {outcome.backend}, "
        f"{outcome.errors} with errors) in {outcome.wall_s:.1f} s; "
        f"mapping cache: {outcome.cached_einsums}/{einsums} distinct Einsums hit ({100 * outcome.cache_hit_rate:.0f}%)"
    )
    if outcome.errors:
        print(f"errors are in the 'error' column of {outcome.csv}")
    print(f"wrote {outcome.table}, {outcome.csv} and {outcome.plot}")

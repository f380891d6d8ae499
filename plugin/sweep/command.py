"""`sparsecim sweep SWEEP.yaml`: run a design-space sweep and print where its results are."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.errors import SparsecimInputError


def sweep_command(
    spec_path: Annotated[Path, typer.Argument(help="Sweep file (docs/sweeps.md)")],
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://host:8786")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="'local': start a Dask LocalCluster for this sweep")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: SPARSECIM_JOBS or min(2, CPUs))")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Sweep spec variables, sparsity, spans and workloads (grid or random) into one table and a Pareto
    plot; resumes an interrupted sweep; local processes or Dask."""
    from sparsecim.sweep.execute import run_sweep
    from sparsecim.sweep.spec import load_sweep

    if scheduler is not None and not scheduler.strip():
        raise SparsecimInputError("--scheduler needs an address such as tcp://host:8786")
    spec = load_sweep(spec_path)
    bar = {"bar": None, "errors": 0, "cached": 0, "mapped": 0}

    def on_start(total: int, done: int) -> None:
        if not quiet:
            print(f"sweep {spec.name}: {total} points, {done} already finished, results in {spec.output}", file=sys.stderr)
            from tqdm import tqdm

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
    einsums = outcome.cached_einsums + outcome.mapped_einsums
    print(
        f"{outcome.total} points ({outcome.skipped} resumed, {outcome.computed} computed on {outcome.backend}, "
        f"{outcome.errors} with errors) in {outcome.wall_s:.1f} s; "
        f"mapping cache: {outcome.cached_einsums}/{einsums} distinct Einsums hit ({100 * outcome.cache_hit_rate:.0f}%)"
    )
    if outcome.errors:
        print(f"errors are in the 'error' column of {outcome.csv}")
    print(f"wrote {outcome.table}, {outcome.csv} and {outcome.plot}")


def main(argv: list[str] | None = None) -> int:
    """`python -m sparsecim.sweep.command SWEEP.yaml [options]`, the same as `sparsecim sweep`
    (same entry point, so the same one-line errors and exit codes)."""
    from sparsecim.cli import main as cli_main

    return cli_main(["sweep", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

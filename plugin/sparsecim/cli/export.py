"""`sparsecim export ...`: a run written in another tool's format (`export timeloop`: docs/timeloop.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.cli.options import (
    ArchOpt,
    DensityOpt,
    HeadsOpt,
    MasksOpt,
    ModelOpt,
    ProfileOpt,
    PruneOpt,
    SeqOpt,
    SetOpt,
    WeightsOpt,
    run_request,
)
from sparsecim.errors import InputError

app = typer.Typer(no_args_is_help=True, help="Write a run in another tool's format (Timeloop v0.4).")


@app.command("timeloop")
def timeloop(
    out: Annotated[Path, typer.Option(help="Folder to write the specs, run.sh and manifest into (created if missing)")],
    case: Annotated[Optional[str], typer.Option(help="A published workload of the chip: bert-glue or gpt2-enwik8 (sets model, tokens, sparsity and spans)")] = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    arch: ArchOpt = "isscc23_16_2",
    seq_len: SeqOpt = 128,
    batch: Annotated[int, typer.Option(help="Sequences per batch")] = 1,
    set_: SetOpt = [],
    prune: PruneOpt = None,
    density: DensityOpt = None,
    profile: ProfileOpt = None,
    masks: MasksOpt = None,
    spans: Annotated[Optional[str], typer.Option(help="Per-head attention span profile YAML, or 'measure'")] = None,
    sparse: Annotated[bool, typer.Option(help="With weight sparsity: also the dense weight matmuls under Sparseloop (bitmask weights, skipped computes)")] = True,
    algorithm: Annotated[str, typer.Option(help="timeloop-mapper search: hybrid, linear_pruned, random_pruned or exhaustive")] = "hybrid",
    victory: Annotated[int, typer.Option(min=1, help="timeloop-mapper stops after this many consecutive non-improving mappings per thread")] = 500,
    threads: Annotated[int, typer.Option(min=1, help="timeloop-mapper threads")] = 2,
) -> None:
    """Write the run as Timeloop v0.4 specs (one problem per distinct Einsum, the chip's engines as
    architectures, components through Accelergy) and a run.sh that runs timeloop-mapper on them."""
    from sparsecim.files import check_output_folder  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.studies.timeloop_export import MapperSettings, export_timeloop  # noqa: PLC0415

    own_process()
    if algorithm not in ("hybrid", "linear_pruned", "random_pruned", "exhaustive"):
        raise InputError(f"--algorithm {algorithm!r}: use hybrid, linear_pruned, random_pruned or exhaustive")
    check_output_folder(out, "--out")
    request = run_request(case, model, weights, heads, arch, seq_len, batch, set_, prune, density, profile, masks, spans, baselines=False)
    settings = MapperSettings(algorithm=algorithm, victory_condition=victory, threads=threads)
    result = export_timeloop(request, out, settings, sparse=sparse)
    exports = {kind: sum(p.export == kind for p in result.problems) for kind in ("packing", "sparse")}
    typer.echo(
        f"wrote {out}: {exports['packing']} problems (the rewritten Einsums)"
        + (f" + {exports['sparse']} Sparseloop problems (dense weight matmuls)" if exports["sparse"] else "")
        + f", {result.executed_macs:,} executed MACs; run them with {out / 'run.sh'}"
    )


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="export")

"""The single-run commands: `run`, `profile`, `spans`, `archs`.

Heavy modules (AccelForge, numpy stages) are imported inside the commands so that `--help` and bad
options answer at once (start-up time); everything else of sparsecim imports at module top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.cli.generate import ChipsOpt, D2dOpt, GenerateOpt, PartitionOpt, PhaseOpt, run_decode, wants_generation
from sparsecim.cli.options import (
    ArchOpt,
    DensityOpt,
    HeadsOpt,
    JobsOpt,
    MasksOpt,
    ModelOpt,
    ProfileOpt,
    PruneOpt,
    QuietOpt,
    SeqOpt,
    SetOpt,
    WeightsOpt,
    check_jobs,
    parse_sets,
    progress_printer,
    run_request,
)
from sparsecim.errors import InputError


def run(
    case: Annotated[Optional[str], typer.Option(help="A published workload of the chip: bert-glue or gpt2-enwik8 (sets model, tokens, sparsity and spans); llama2-7b-4chip (decode)")] = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    arch: ArchOpt = "isscc23_16_2",
    seq_len: Annotated[int, typer.Option("--seq-len", "--prompt", help="Tokens per sequence (the prompt with --phase decode)")] = 128,
    batch: Annotated[int, typer.Option(help="Sequences per batch")] = 1,
    set_: SetOpt = [],
    prune: PruneOpt = None,
    density: DensityOpt = None,
    profile: ProfileOpt = None,
    masks: MasksOpt = None,
    baselines: Annotated[Optional[bool], typer.Option("--baselines/--no-baselines", help="With weight sparsity: also run dense CIM, block skipping and ideal on the same masks (default: yes, except for --case)")] = None,
    spans: Annotated[Optional[str], typer.Option(help="Per-head attention span profile YAML (from `sparsecim spans`), or 'measure' to measure them on the model's weights")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write results to .json, .csv or .parquet")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Re-map even if a cached mapping exists")] = False,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
    detail: Annotated[bool, typer.Option("--detail", help="All detailed tables: per Einsum row, per layer, per component, full sparsity and schemes")] = False,
    by: Annotated[list[str], typer.Option("--by", help="A detailed table instead of the compact one: einsum, layer or component (repeatable)")] = [],
    show_mapping: Annotated[bool, typer.Option("--show-mapping", help="Print the chosen loop nest of every distinct Einsum (tile shapes per level)")] = False,
    phase: PhaseOpt = "prefill",
    generate: GenerateOpt = None,
    chips: ChipsOpt = None,
    partition: PartitionOpt = None,
    d2d: D2dOpt = [],
) -> None:
    """Map a transformer onto an architecture and print energy, latency, utilisation, TOPS, TOPS/W and area."""
    if wants_generation(phase, case, generate, chips, partition, d2d):  # decode with a KV cache, 1..N chips (cli/generate.py)
        return run_decode(case=case, model=model, weights=weights, heads=heads, arch=arch, seq_len=seq_len, batch=batch, set_=set_,
                          prune=prune, density=density, profile=profile, masks=masks, spans=spans, phase=phase, generate=generate,
                          chips=chips, partition=partition, d2d=d2d, out=out, no_cache=no_cache, jobs=jobs, quiet=quiet)
    from sparsecim.files import check_output_file  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.pipeline import run as run_pipeline  # noqa: PLC0415
    from sparsecim.report.files import RESULT_SUFFIXES  # noqa: PLC0415

    own_process()
    views = _views(detail, by)
    if out is not None:
        check_output_file(out, RESULT_SUFFIXES, "--out")
    request = run_request(case, model, weights, heads, arch, seq_len, batch, set_, prune, density, profile, masks, spans, baselines)
    result = run_pipeline(request, use_cache=not no_cache, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    _show(result, out, views, show_mapping)


def _show(result, out: Path | None, views: list[str] | None = None, show_mapping: bool = False) -> None:
    from rich.console import Console  # noqa: PLC0415

    from sparsecim.report.files import write_result  # noqa: PLC0415
    from sparsecim.report.tables import print_result  # noqa: PLC0415

    print_result(result, Console(), views=views, show_mapping=show_mapping)
    if out is not None:
        write_result(result, out)
        typer.echo(f"wrote {out}")


def _views(detail: bool, by: list[str]) -> list[str] | None:
    """The detailed tables asked for (None: the compact default)."""
    from sparsecim.report.tables import VIEWS  # noqa: PLC0415

    unknown = [v for v in by if v not in VIEWS]
    if unknown:
        raise InputError(f"--by {unknown[0]!r}: choose einsum, layer or component")
    if detail:
        return list(VIEWS)
    return list(dict.fromkeys(by)) or None


def profile(
    out: Annotated[Path, typer.Option(help="Where to write the sparsity profile (.yaml)")],
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    arch: ArchOpt = "isscc23_16_2",
    set_: SetOpt = [],
    prune: PruneOpt = None,
    density: DensityOpt = None,
    masks: MasksOpt = None,
) -> None:
    """Compute a model's weight-sparsity profile (densities and butterfly packing statistics) and save it."""
    from sparsecim.files import check_output_file  # noqa: PLC0415
    from sparsecim.mapping.arch import find_arch, spec_values  # noqa: PLC0415
    from sparsecim.pipeline import resolve_model  # noqa: PLC0415
    from sparsecim.sparsity.sources import build_profile, rules_for  # noqa: PLC0415

    check_output_file(out, (".yaml", ".yml"), "--out")
    shape = resolve_model(model if (model is not None or weights is not None) else "bert-base", weights, heads)
    rules = rules_for(spec_values(find_arch(arch)[1], parse_sets(set_)))
    result = build_profile(shape, rules, weights, prune, masks, None, density)
    if result is None:
        raise InputError("give --prune, --masks or --density")
    result.save_yaml(out)
    typer.echo(f"wrote {out}: {len(result.matrices)} matrices, overall density {result.density:.3f}")


def spans(
    out: Annotated[Path, typer.Option(help="Where to write the span profile (.yaml)")],
    model: ModelOpt = "all-minilm-l6-v2",
    weights: WeightsOpt = None,
    text: Annotated[Optional[Path], typer.Option(help="Plain-text file to run the model on (default: a text shipped with sparsecim)")] = None,
    seq_len: SeqOpt = 128,
    mass: Annotated[float, typer.Option(help="Attention mass each head's window must hold, in (0, 1]")] = 0.9,
    sinks: Annotated[int, typer.Option(help="Always-attended first tokens ([CLS]) counted as captured")] = 1,
    like: Annotated[Optional[str], typer.Option(help="Stretch the measured layers onto this preset's layer count (same head count), e.g. bert-base")] = None,
    heads: HeadsOpt = None,
    tokenizer: Annotated[Optional[Path], typer.Option(help="tokenizer.json, WordPiece vocab.txt or a folder with one (default: beside the weights)")] = None,
) -> None:
    """Measure per-head local attention spans from real attention maps and save the span profile.

    The weights are a BERT encoder as .safetensors with its tokenizer (tokenizer.json or vocab.txt)."""
    from sparsecim.attention.measure import measure_spans  # noqa: PLC0415
    from sparsecim.attention.profile import stretch_layers  # noqa: PLC0415
    from sparsecim.files import check_output_file, read_text  # noqa: PLC0415
    from sparsecim.workload.checkpoint import bundled_checkpoint  # noqa: PLC0415
    from sparsecim.workload.shapes import preset  # noqa: PLC0415

    check_output_file(out, (".yaml", ".yml"), "--out")
    if not 0.0 < mass <= 1.0:
        raise InputError(f"--mass {mass} outside (0, 1]")
    if heads is not None and heads < 1:
        raise InputError(f"--heads must be a positive integer, got {heads}")
    if seq_len < 3:
        raise InputError(f"--seq-len must be at least 3 ([CLS], a token, [SEP]), got {seq_len}")
    model_file = weights or bundled_checkpoint(model)
    texts = read_text(text, "text file") if text is not None else None
    result = measure_spans(str(model_file), texts, seq_len=seq_len, mass=mass, n_sink=sinks, text_source=str(text) if text else None,
                           n_heads=heads, tokenizer=tokenizer)
    if like is not None:
        target = preset(like)
        result = stretch_layers(result, target.n_layers, target.n_heads, target.name)
    result.save(out)
    n_global = sum(h.is_global for layer in result.layers for h in layer)
    n_heads = sum(len(layer) for layer in result.layers)
    typer.echo(f"wrote {out}: {n_heads} heads, {n_global} global")


def archs(
    name: Annotated[Optional[str], typer.Argument(help="Show only this arch (installed name or YAML path)")] = None,
) -> None:
    """List the installed architecture specs and, for each, its variables: default, unit and meaning
    (override them with `--set name=value`)."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.mapping.arch import find_arch, installed_archs, spec_variable_docs  # noqa: PLC0415

    chosen = dict([find_arch(name)]) if name else dict(sorted(installed_archs().items()))
    console = Console()
    for arch_name, path in chosen.items():
        table = Table(title=f"{arch_name}: {path}", title_justify="left")
        for col in ("variable", "default", "unit", "meaning"):
            table.add_column(col, justify="right" if col == "default" else "left", overflow="fold")
        for v in spec_variable_docs(path):
            table.add_row(v.name, v.default, v.unit, v.meaning)
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command("profile")(profile)
    app.command()(spans)
    app.command()(archs)

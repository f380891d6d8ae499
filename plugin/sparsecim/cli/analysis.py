"""The study commands: `sparsity-curve`, `attention`, `compare`, `validate` (parse -> study -> report).

Every output path is checked before any work; the files of one command appear together or not at
all (`OutputBatch`). Heavy modules are imported inside the commands (start-up time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.cli.generate import ChipsOpt, D2dOpt, GenerateOpt, PartitionOpt, PhaseOpt, compare_decode
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
)
from sparsecim.errors import InputError


def sparsity_curve(
    model: ModelOpt = "bert-base",
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    arch: ArchOpt = "isscc23_16_2",
    seq_len: SeqOpt = 128,
    set_: SetOpt = [],
    sparsities: Annotated[str, typer.Option(help="Comma-separated weight sparsities in [0, 1)")] = "0,0.25,0.5,0.6,0.7,0.75,0.8,0.85,0.9,0.95",
    method: Annotated[str, typer.Option(help="Pruning method for real weights (magnitude, global, hybrid)")] = "magnitude",
    out: Annotated[Path, typer.Option(help="Table (.csv)")] = Path("sparsity_curve.csv"),
    plot: Annotated[Path, typer.Option(help="Plot (.png)")] = Path("sparsity_curve.png"),
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Chip energy efficiency vs weight sparsity, with dense-CIM, block-skipping and ideal baselines (table + PNG)."""
    from rich.console import Console  # noqa: PLC0415 - cli/: heavy imports at use (start-up time)
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.files import OutputBatch, check_output_file  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.report.files import table_csv  # noqa: PLC0415
    from sparsecim.report.plots import sparsity_curve_figure  # noqa: PLC0415
    from sparsecim.request import RunRequest  # noqa: PLC0415
    from sparsecim.rewrite.sparse import Scheme  # noqa: PLC0415
    from sparsecim.studies.sparsity_curve import parse_sparsities  # noqa: PLC0415
    from sparsecim.studies.sparsity_curve import sparsity_curve as run_curve  # noqa: PLC0415

    own_process()
    check_output_file(out, (".csv",), "--out")
    check_output_file(plot, (".png",), "--plot")
    levels = parse_sparsities(sparsities)
    if model is None and weights is None:
        model = "bert-base"
    masks = f"{method}-pruned real weights ({weights})" if weights else ""
    if weights is None:  # the model's real weights when they are installed, else random masks (said so)
        from sparsecim.errors import InputError as NoWeights  # noqa: PLC0415
        from sparsecim.workload.checkpoint import bundled_checkpoint  # noqa: PLC0415

        try:
            weights = bundled_checkpoint(model)
            masks = f"{method}-pruned real weights (installed checkpoint of {model})"
        except NoWeights:
            masks = f"uniform random masks (no installed weights for {model}; give --weights to prune real ones)"
    request = RunRequest(model=model, arch=arch, seq_len=seq_len, weights=weights, heads=heads, variables=parse_sets(set_))
    points = run_curve(request, levels, method, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    schemes = list(dict.fromkeys(p.scheme for p in points))
    table = Table(title=f"Chip TOPS/W (dense-equivalent) vs weight sparsity; masks: {masks}")
    table.add_column("sparsity", justify="right")
    for scheme in schemes:
        table.add_column(Scheme(scheme).label, justify="right")
    table.add_column("chip vs dense", justify="right")
    rows = []
    for s in levels:
        row = {p.scheme: p for p in points if p.sparsity == s}
        for p in row.values():
            rows.append([p.sparsity, str(p.scheme), p.tops_per_w_chip, p.tops_per_w_system, p.energy_chip_j, p.latency_s, p.tops, p.executed_macs, masks])
        gain = row[Scheme.CHIP].tops_per_w_chip / row[Scheme.DENSE].tops_per_w_chip
        table.add_row(f"{s:.0%}", *[f"{row[sc].tops_per_w_chip:.2f}" for sc in schemes], f"{gain:.2f}x")
    Console().print(table)
    header = ["sparsity", "scheme", "TOPS_per_W_chip", "TOPS_per_W_system", "energy_chip_J", "latency_s", "TOPS", "executed_macs", "masks"]
    with OutputBatch() as files:
        files.text(out, table_csv(header, rows))
        files.figure(plot, sparsity_curve_figure(points, f"{model or weights}: energy efficiency vs weight sparsity", masks=masks))
    typer.echo(f"wrote {out} and {plot}")


def attention(
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    arch: ArchOpt = "isscc23_16_2",
    seq_len: SeqOpt = 128,
    set_: SetOpt = [],
    spans: Annotated[str, typer.Option(help="Span profile YAML, or 'measure' (on the model's weights and the shipped text)")] = "measure",
    out: Annotated[Path, typer.Option(help="Savings table (.csv)")] = Path("attention_savings.csv"),
    hist: Annotated[Path, typer.Option(help="Span histogram (.png)")] = Path("span_histogram.png"),
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Attention savings of the LAR engine (per layer and model) against dense attention, one fixed window,
    no K/V reuse and no QK sharing; plus a histogram of the spans."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.files import OutputBatch, check_output_file  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.pipeline import prepare  # noqa: PLC0415
    from sparsecim.report.files import table_csv  # noqa: PLC0415
    from sparsecim.report.plots import span_histogram_figure  # noqa: PLC0415
    from sparsecim.report.tables import si  # noqa: PLC0415
    from sparsecim.request import RunRequest  # noqa: PLC0415
    from sparsecim.studies.attention_savings import attention_savings  # noqa: PLC0415

    own_process()
    check_output_file(out, (".csv",), "--out")
    check_output_file(hist, (".png",), "--hist")
    if model is None and weights is None:
        model = "all-minilm-l6-v2"
    request = RunRequest(model=model, arch=arch, seq_len=seq_len, weights=weights, heads=heads, variables=parse_sets(set_), spans=spans)
    prepared = prepare(request)
    costs = attention_savings(prepared, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    model_rows = {c.config: c for c in costs if c.layer is None}
    full = model_rows["LAR"]
    table = Table(title=f"Attention of {prepared.shape.name} at {seq_len} tokens: LAR engine mechanisms (whole model)")
    for col in ["configuration", "attention MACs", "K/V CIM writes", "energy", "latency", "LAR gain, energy", "LAR gain, latency"]:
        table.add_column(col, justify="right" if col != "configuration" else "left")
    for name, c in model_rows.items():
        table.add_row(
            name,
            f"{c.macs:.4g}",
            f"{c.kv_writes:.4g}",
            si(c.energy_j, "J"),
            si(c.latency_s, "s"),
            "-" if name == "LAR" else lar_gain(c.energy_j, full.energy_j),
            "-" if name == "LAR" else lar_gain(c.latency_s, full.latency_s),
        )
    console = Console()
    console.print(table)
    console.print("LAR gain = the configuration's cost / the LAR's cost: above 1x the LAR saves, below 1x it costs "
                  "(marked 'LAR costs').", highlight=False, markup=False)
    layers = sorted({c.layer for c in costs if c.layer is not None})
    per_layer = Table(title="Per layer: attention energy (and MACs) by configuration")
    per_layer.add_column("layer")
    for name in model_rows:
        per_layer.add_column(name, justify="right")
    for layer in layers:
        row = {c.config: c for c in costs if c.layer == layer}
        per_layer.add_row(str(layer), *[f"{si(row[n].energy_j, 'J')} ({row[n].macs:.3g})" for n in model_rows])
    console.print(per_layer)
    rows = [[c.config, "all" if c.layer is None else c.layer, c.macs, c.kv_writes, c.energy_j, c.latency_s] for c in costs]
    with OutputBatch() as files:
        files.text(out, table_csv(["configuration", "layer", "attention_macs", "kv_cim_writes", "energy_J", "latency_s"], rows))
        files.figure(hist, span_histogram_figure(prepared.spans))
    typer.echo(f"wrote {out} and {hist}")


def lar_gain(other: float, lar: float) -> str:
    """A configuration's cost over the LAR's, named so that > 1 is good: "1.52x" (the LAR saves) or
    "0.89x (LAR costs)" (the LAR pays 1 / 0.89 = 1.12x more)."""
    if not lar:
        return "-"
    ratio = other / lar
    return f"{ratio:.2f}x" if ratio >= 1 else f"{ratio:.2f}x (LAR costs)"


def compare(
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    heads: HeadsOpt = None,
    seq_len: SeqOpt = 128,
    batch: Annotated[int, typer.Option(help="Sequences per batch")] = 1,
    set_: SetOpt = [],
    prune: PruneOpt = None,
    density: DensityOpt = None,
    profile: ProfileOpt = None,
    masks: MasksOpt = None,
    spans: Annotated[Optional[str], typer.Option(help="Span profile YAML or 'measure'")] = None,
    arch: Annotated[list[str], typer.Option("--arch", help="Also compare this arch (YAML path or name; repeatable)")] = [],
    only: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the default design names")] = None,
    out: Annotated[Path, typer.Option(help="Table (.csv or .json)")] = Path("compare.csv"),
    plot: Annotated[Path, typer.Option(help="Plots (.png)")] = Path("compare.png"),
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
    phase: PhaseOpt = "prefill",
    generate: GenerateOpt = None,
    chips: ChipsOpt = None,
    partition: PartitionOpt = None,
    d2d: D2dOpt = [],
) -> None:
    """One workload on the chip, its ablations, a block-sparse CIM, AccelForge's example architectures
    and your own arch files: one table (raw and 28 nm-scaled), CSV/JSON and PNG plots."""
    if phase != "prefill":  # generation: the chip and its ablations only (cli/generate.py)
        return compare_decode(model=model, weights=weights, heads=heads, seq_len=seq_len, batch=batch, set_=set_, prune=prune, density=density,
                              profile=profile, masks=masks, spans=spans, arch=arch, only=only, generate=generate, chips=chips,
                              partition=partition, d2d=d2d, out=out, jobs=jobs, quiet=quiet)
    from rich.console import Console  # noqa: PLC0415

    from sparsecim.files import OutputBatch, check_output_file  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.report.files import dicts_csv  # noqa: PLC0415
    from sparsecim.report.plots import compare_figure  # noqa: PLC0415
    from sparsecim.request import RunRequest, SparsitySource  # noqa: PLC0415
    from sparsecim.studies.compare import Design, default_designs, outcome_row, run_compare  # noqa: PLC0415

    own_process()
    check_output_file(out, (".csv", ".json"), "--out")
    check_output_file(plot, (".png",), "--plot")
    if model is None and weights is None:
        model = "bert-base"
    designs = default_designs()
    if only:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in {d.name for d in designs}]
        if unknown:
            raise InputError(f"unknown design {unknown[0]!r}; known: {', '.join(d.name for d in designs)}")
        designs = [d for d in designs if d.name in wanted]
    designs += [Design(Path(a).stem if a.endswith((".yaml", ".yml")) else a, a, note="user arch (dense)") for a in arch]
    request = RunRequest(
        model=model, seq_len=seq_len, batch=batch, weights=weights, heads=heads, variables=parse_sets(set_),
        sparsity=SparsitySource(prune=prune, masks=masks, profile=profile, density=density), spans=spans,
    )
    outcomes = run_compare(request, designs, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    rows = [outcome_row(o, seq_len * batch) for o in outcomes]
    console = Console()  # the terminal's width: the table keeps the columns that matter, the CSV has all
    console.print(compare_table(rows, f"{model or weights}, {seq_len} tokens x {batch}", wide=console.width >= 120))
    for line in compare_footnotes(outcomes, rows):
        console.print(line, highlight=False, markup=False)
    with OutputBatch() as files:
        files.text(out, json.dumps(rows, indent=2) if out.suffix.lower() == ".json" else dicts_csv(rows))
        files.figure(plot, compare_figure(rows, f"{model or weights}, {seq_len} tokens x {batch}: designs compared on one workload"), dpi=110)
    typer.echo(f"wrote {out} and {plot}")


BOUND_SHORT = {"compute": "compute", "on-chip bandwidth": "on-chip", "off-chip bandwidth": "off-chip"}


def compare_table(rows: list[dict], title: str, wide: bool = False):
    """The compare table: per token energy (chip; system where off-chip memory is modelled), latency and
    what bounds it, TOPS/W; with `wide`, also the node, 28 nm-scaled efficiency and area."""
    from rich import box  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.report.tables import si  # noqa: PLC0415

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, title_justify="left")
    columns = ["design", "scope", "chip/tok", "sys/tok", "latency", "bound", "TOPS/W"]
    if wide:
        columns += ["bound share", "node", "TOPS/W @28nm", "area mm2"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("design", "scope", "bound") else "right", overflow="fold")
    for r in rows:
        if "latency_s" not in r:
            cells = [r["design"], r.get("scope") or "-", "not run (below)"] + [""] * (len(columns) - 3)
            table.add_row(*cells)
            continue
        cells = [
            r["design"],
            r["scope"] or "?",
            si(r["chip_J_per_token"], "J"),
            "-" if r["system_J_per_token"] is None else si(r["system_J_per_token"], "J"),
            si(r["latency_s"], "s"),
            BOUND_SHORT.get(r["bottleneck"], "?"),
            f"{r['TOPS_per_W_chip']:.3g}",
        ]
        if wide:
            cells += [
                f"{r['bottleneck_share']:.0%}" if r["bottleneck"] else "?",
                f"{r['tech_nm']:g} nm" if r["tech_nm"] else "?",
                "-" if r["TOPS_per_W_chip_at_28nm"] is None else f"{r['TOPS_per_W_chip_at_28nm']:.3g}",
                "-" if r["area_mm2"] is None else f"{r['area_mm2']:.3g}",
            ]
        table.add_row(*cells)
    return table


def compare_footnotes(outcomes, rows: list[dict]) -> list[str]:
    """Lines under the compare table: what the columns mean and, per design, what a reader must know."""
    lines = [
        "chip/tok: on-chip energy per token; sys/tok: plus off-chip memory (if modelled)",
        "scope: system = chip + off-chip memory; chip = on-chip memories only;",
        "  macro = the compute array alone ('-': not modelled, not 0)",
        "bound: what sets most of the latency: compute, on-chip or off-chip bandwidth",
        "TOPS/W: dense-equivalent ops per J of on-chip energy (raw node)",
    ]
    spans = {r.get("spans") for r in rows if r.get("spans")}
    for source in sorted(spans):
        lines.append(f"chip spans: {source}")
    for o, r in zip(outcomes, rows):
        remarks = []
        if o.error:
            remarks.append(f"not run: {o.error}")
        elif o.result is not None:
            if not r.get("runs_softmax"):
                remarks.append("ran without softmax (no softmax path)")
            if r.get("area_mm2") is None:
                remarks.append("area unavailable")
            if r.get("tech_nm") is None:
                remarks.append("node unknown (no 28 nm scaling)")
        if remarks:
            lines.append(f"{r['design']}: " + "; ".join(remarks))
    lines.append("every column and the full notes: the CSV/JSON")
    return lines


def validate(
    published: Annotated[Optional[Path], typer.Option(help="Published-figures YAML (default: the copy shipped with sparsecim)")] = None,
    out: Annotated[Path, typer.Option(help="Folder for validation.md, validation.csv and plots")] = Path("validation"),
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Modelled vs published figures of the chip, with error and assumed conditions (table + markdown report + plots)."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.files import OutputBatch, check_output_folder  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.report.files import validation_texts  # noqa: PLC0415
    from sparsecim.report.plots import validation_figures  # noqa: PLC0415
    from sparsecim.studies.validate import load_published  # noqa: PLC0415
    from sparsecim.studies.validate import validate as run_validation  # noqa: PLC0415

    own_process()
    check_output_folder(out, "--out")
    load_published(published)  # a bad figures file fails before the runs
    report = run_validation(published, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    table = Table(title="ISSCC 2023 16.2: modelled vs published")
    for col in ["figure", "published", "modelled", "error", "status"]:
        table.add_column(col, justify="right" if col in ("published", "modelled", "error") else "left")
    for c in report.checks:
        err = c.error_pct
        table.add_row(
            c.key,
            f"{c.published} {c.unit}",
            "" if c.modelled is None else f"{c.modelled:.4g}",
            "" if err is None else f"{err:+.1f} %",
            c.status,
        )
    Console(width=200).print(table)
    written = []
    with OutputBatch() as files:
        for name, text in validation_texts(report).items():
            written.append(files.text(out / name, text))
        for name, fig in validation_figures(report).items():
            written.append(files.figure(out / name, fig, dpi=110))
    typer.echo("wrote " + ", ".join(str(f) for f in written))


def register(app: typer.Typer) -> None:
    app.command("sparsity-curve")(sparsity_curve)
    app.command()(attention)
    app.command()(compare)
    app.command()(validate)

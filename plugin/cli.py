"""`sparsecim` command line. Bad input: one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.errors import SparsecimInputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Model the ISSCC 2023 16.2 sparse transformer CIM accelerator (and others) in AccelForge.",
)

# Options shared by several commands.
ModelOpt = Annotated[Optional[str], typer.Option(help="Preset: bert-base, bert-large, vit-b-16, gpt2, llama-2-7b, smollm2-135m, all-minilm-l6-v2")]
WeightsOpt = Annotated[Optional[Path], typer.Option(help="Checkpoint (.safetensors / .gguf): the model's shape and real weights")]
HeadsOpt = Annotated[Optional[int], typer.Option(help="Attention heads, when the checkpoint has no config.json / metadata")]
ArchOpt = Annotated[str, typer.Option(help="Installed arch name or path to an AccelForge arch YAML")]
SeqOpt = Annotated[int, typer.Option("--seq-len", help="Tokens per sequence")]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a spec variable, name=value (repeatable)")]
PruneOpt = Annotated[Optional[str], typer.Option(help="Prune the weights: magnitude:S, global:S, hybrid:S, nm:N:M, block:S:HxW (S = sparsity)")]
DensityOpt = Annotated[Optional[float], typer.Option(help="Statistical weight density in [0,1] (uniform random masks), no weights needed")]
ProfileOpt = Annotated[Optional[Path], typer.Option(help="Sparsity profile YAML (from `sparsecim profile` or written by hand)")]
MasksOpt = Annotated[Optional[Path], typer.Option(help="Keep-masks .npz keyed by tensor name (with --weights)")]
JobsOpt = Annotated[Optional[int], typer.Option(help="Worker processes for mapping (default: SPARSECIM_JOBS or min(2, CPUs))")]


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SparsecimInputError(f"--set expects name=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _check_out(out: Path | None, suffixes: tuple[str, ...]) -> None:
    if out is not None:
        if out.suffix.lower() not in suffixes:
            raise SparsecimInputError(f"--out must end in {' or '.join(suffixes)}, got {out.name!r}")
        if not out.parent.exists():
            raise SparsecimInputError(f"output folder does not exist: {out.parent}")


def _progress_printer(quiet: bool, what: str = "mapping distinct Einsums"):
    if quiet:
        return None
    from tqdm import tqdm

    bar = {"bar": None}

    def update(done: int, total: int, label: str) -> None:
        if bar["bar"] is None:
            bar["bar"] = tqdm(total=total, desc=what, unit="einsum", file=sys.stderr, leave=False, disable=None)
        bar["bar"].n = done
        bar["bar"].set_postfix_str(label[:60])
        bar["bar"].refresh()
        if done == total:
            bar["bar"].close()
            bar["bar"] = None

    return update


@app.command()
def run(
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
    baselines: Annotated[bool, typer.Option(help="With weight sparsity: also run dense CIM, block skipping and ideal on the same masks")] = True,
    spans: Annotated[Optional[str], typer.Option(help="Per-head attention span profile YAML (from `sparsecim spans`), or 'measure' to measure them on the model's weights")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write results to .json or .csv")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Re-map even if a cached mapping exists")] = False,
    jobs: JobsOpt = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Map a transformer onto an architecture and print energy, latency, utilisation, TOPS, TOPS/W and area."""
    from rich.console import Console

    from sparsecim import api
    from sparsecim.report import baselines_table, print_result, write_result

    _check_out(out, (".json", ".csv"))
    if model is None and weights is None:
        model = "bert-base"
    request = api.RunRequest(
        model=model,
        arch=arch,
        seq_len=seq_len,
        batch=batch,
        weights=weights,
        heads=heads,
        variables=_parse_sets(set_),
        sparsity=api.SparsityOptions(prune, masks, profile, density),
        spans=spans,
    )
    prepared = api.prepare(request)
    progress = _progress_printer(quiet)
    result = api.evaluate(prepared, "chip", use_cache=not no_cache, progress=progress, jobs=jobs)
    console = Console(width=160)
    print_result(result, console)
    if prepared.sparsity is not None and baselines:
        results = {"chip": result}
        for scheme in ("dense", "block", "ideal"):
            results[scheme] = api.evaluate(prepared, scheme, use_cache=not no_cache, progress=progress, jobs=jobs)
        console.print(baselines_table(results))
        result.extras["baselines"] = results
    if out is not None:
        write_result(result, out)
        typer.echo(f"wrote {out}")


@app.command("profile")
def profile_cmd(
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
    from sparsecim.api import resolve_model
    from sparsecim.sparsity.sources import build_profile, rules_for
    from sparsecim.specs import find_arch, spec_values

    _check_out(out, (".yaml", ".yml"))
    shape = resolve_model(model, weights, heads)
    rules = rules_for(spec_values(find_arch(arch)[1], _parse_sets(set_)))
    profile = build_profile(shape, rules, weights, prune, masks, None, density)
    if profile is None:
        raise SparsecimInputError("give --prune, --masks or --density")
    profile.save_yaml(out)
    typer.echo(f"wrote {out}: {len(profile.matrices)} matrices, overall density {profile.density:.3f}")


@app.command()
def spans(
    out: Annotated[Path, typer.Option(help="Where to write the span profile (.yaml)")],
    model: ModelOpt = "all-minilm-l6-v2",
    weights: WeightsOpt = None,
    text: Annotated[Optional[Path], typer.Option(help="Plain-text file to run the model on (default: a text shipped with sparsecim)")] = None,
    seq_len: SeqOpt = 128,
    mass: Annotated[float, typer.Option(help="Attention mass each head's window must hold, in (0, 1]")] = 0.9,
    sinks: Annotated[int, typer.Option(help="Always-attended first tokens ([CLS]) counted as captured")] = 1,
    like: Annotated[Optional[str], typer.Option(help="Stretch the measured layers onto this preset's layer count (same head count), e.g. bert-base")] = None,
) -> None:
    """Measure per-head local attention spans from real attention maps and save the span profile."""
    from sparsecim.attention.measure import measure_spans
    from sparsecim.workloads.checkpoint import bundled_checkpoint

    _check_out(out, (".yaml", ".yml"))
    if not 0.0 < mass <= 1.0:
        raise SparsecimInputError(f"--mass {mass} outside (0, 1]")
    model_file = weights or bundled_checkpoint(model)
    texts = None
    if text is not None:
        if not text.is_file():
            raise SparsecimInputError(f"text file not found: {text}")
        texts = text.read_text(encoding="utf-8", errors="replace")
    profile = measure_spans(str(model_file), texts, seq_len=seq_len, mass=mass, n_sink=sinks, text_source=str(text) if text else None)
    if like is not None:
        from sparsecim.attention.profile import stretch_layers
        from sparsecim.workloads.shapes import preset

        target = preset(like)
        profile = stretch_layers(profile, target.n_layers, target.n_heads, target.name)
    profile.save(out)
    n_global = sum(h.is_global for layer in profile.layers for h in layer)
    n_heads = sum(len(layer) for layer in profile.layers)
    typer.echo(f"wrote {out}: {n_heads} heads, {n_global} global")


@app.command("sparsity-curve")
def sparsity_curve_cmd(
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
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Chip energy efficiency vs weight sparsity, with dense-CIM, block-skipping and ideal baselines (table + PNG)."""
    import csv
    import io

    from rich.console import Console
    from rich.table import Table

    from sparsecim import api
    from sparsecim.report import write_text_atomic
    from sparsecim.sparsity.curve import SCHEME_LABELS, parse_sparsities, plot_curve, sparsity_curve

    _check_out(out, (".csv",))
    _check_out(plot, (".png",))
    levels = parse_sparsities(sparsities)
    if model is None and weights is None:
        model = "bert-base"
    request = api.RunRequest(model=model, arch=arch, seq_len=seq_len, weights=weights, heads=heads, variables=_parse_sets(set_))
    points = sparsity_curve(request, levels, method, progress=_progress_printer(quiet), jobs=jobs)
    schemes = list(dict.fromkeys(p.scheme for p in points))
    table = Table(title=f"Chip TOPS/W (dense-equivalent) vs weight sparsity, {'pruned real weights' if weights else 'uniform random masks'}")
    table.add_column("sparsity", justify="right")
    for scheme in schemes:
        table.add_column(SCHEME_LABELS[scheme], justify="right")
    table.add_column("chip vs dense", justify="right")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sparsity", "scheme", "TOPS_per_W_chip", "TOPS_per_W_system", "energy_chip_J", "latency_s", "TOPS", "executed_macs"])
    for s in levels:
        row = {p.scheme: p for p in points if p.sparsity == s}
        for p in row.values():
            writer.writerow([p.sparsity, p.scheme, p.tops_per_w_chip, p.tops_per_w_system, p.energy_chip_j, p.latency_s, p.tops, p.executed_macs])
        gain = row["chip"].tops_per_w_chip / row["dense"].tops_per_w_chip
        table.add_row(f"{s:.0%}", *[f"{row[sc].tops_per_w_chip:.2f}" for sc in schemes], f"{gain:.2f}x")
    Console(width=160).print(table)
    write_text_atomic(out, buf.getvalue())
    plot_curve(points, plot, f"{request.model or weights}: energy efficiency vs weight sparsity")
    typer.echo(f"wrote {out} and {plot}")


@app.command()
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
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Attention savings of the LAR engine (per layer and model) against dense attention, one fixed window,
    no K/V reuse and no QK sharing; plus a histogram of the spans."""
    import csv
    import io

    from rich.console import Console
    from rich.table import Table

    from sparsecim import api
    from sparsecim.attention.savings import attention_savings, plot_span_histogram
    from sparsecim.report import _si, write_text_atomic

    _check_out(out, (".csv",))
    _check_out(hist, (".png",))
    if model is None and weights is None:
        model = "all-minilm-l6-v2"
    request = api.RunRequest(model=model, arch=arch, seq_len=seq_len, weights=weights, heads=heads, variables=_parse_sets(set_), spans=spans)
    prepared = api.prepare(request)
    costs = attention_savings(prepared, progress=_progress_printer(quiet), jobs=jobs)
    model_rows = {c.config: c for c in costs if c.layer is None}
    full = model_rows["LAR"]
    table = Table(title=f"Attention of {prepared.shape.name} at {seq_len} tokens: LAR engine mechanisms (whole model)")
    for col in ["configuration", "attention MACs", "K/V CIM writes", "energy", "latency", "LAR saves (energy)", "LAR saves (latency)"]:
        table.add_column(col, justify="right" if col != "configuration" else "left")
    for name, c in model_rows.items():
        table.add_row(
            name,
            f"{c.macs:.4g}",
            f"{c.kv_writes:.4g}",
            _si(c.energy_j, "J"),
            _si(c.latency_s, "s"),
            f"{c.energy_j / full.energy_j:.2f}x" if name != "LAR" else "-",
            f"{c.latency_s / full.latency_s:.2f}x" if name != "LAR" else "-",
        )
    console = Console(width=160)
    console.print(table)
    layers = sorted({c.layer for c in costs if c.layer is not None})
    per_layer = Table(title="Per layer: attention energy (and MACs) by configuration")
    per_layer.add_column("layer")
    for name in model_rows:
        per_layer.add_column(name, justify="right")
    for layer in layers:
        row = {c.config: c for c in costs if c.layer == layer}
        per_layer.add_row(str(layer), *[f"{_si(row[n].energy_j, 'J')} ({row[n].macs:.3g})" for n in model_rows])
    console.print(per_layer)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["configuration", "layer", "attention_macs", "kv_cim_writes", "energy_J", "latency_s"])
    for c in costs:
        writer.writerow([c.config, "all" if c.layer is None else c.layer, c.macs, c.kv_writes, c.energy_j, c.latency_s])
    write_text_atomic(out, buf.getvalue())
    plot_span_histogram(prepared.spans, hist)
    typer.echo(f"wrote {out} and {hist}")


@app.command()
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
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """One workload on the chip, its ablations, a block-sparse CIM, AccelForge's example architectures
    and your own arch files: one table (raw and 28 nm-scaled), CSV/JSON and PNG plots."""
    import json

    from rich.console import Console
    from rich.table import Table

    from sparsecim import api
    from sparsecim.compare import Design, default_designs, outcome_row, plot_compare, run_compare
    from sparsecim.report import _si, write_text_atomic

    _check_out(out, (".csv", ".json"))
    _check_out(plot, (".png",))
    if model is None and weights is None:
        model = "bert-base"
    designs = default_designs()
    if only:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in {d.name for d in designs}]
        if unknown:
            raise SparsecimInputError(f"unknown design {unknown[0]!r}; known: {', '.join(d.name for d in designs)}")
        designs = [d for d in designs if d.name in wanted]
    designs += [Design(Path(a).stem if a.endswith((".yaml", ".yml")) else a, a, note="user arch (dense)") for a in arch]
    request = api.RunRequest(
        model=model, seq_len=seq_len, batch=batch, weights=weights, heads=heads, variables=_parse_sets(set_),
        sparsity=api.SparsityOptions(prune, masks, profile, density), spans=spans,
    )
    outcomes = run_compare(request, designs, progress=_progress_printer(quiet), jobs=jobs)
    tokens = seq_len * batch
    rows = [outcome_row(o, tokens) for o in outcomes]
    table = Table(title=f"{model or weights}, {seq_len} tokens x {batch}: raw numbers; '@28nm' scaled with hwcomponents' technology factors")
    for col in ["design", "node", "energy/token", "latency", "TOPS", "TOPS/W", "TOPS/W @28nm", "area mm2", "area @28nm", "note"]:
        table.add_column(col, justify="left" if col in ("design", "note") else "right")
    for o, r in zip(outcomes, rows):
        if o.result is None:
            table.add_row(r["design"], f"{r['tech_nm']} nm" if r["tech_nm"] else "?", *["-"] * 7, f"not run: {r['error'][:70]}")
            continue
        table.add_row(
            r["design"],
            f"{r['tech_nm']} nm" if r["tech_nm"] else "?",
            _si(r["energy_per_token_J"], "J"),
            _si(r["latency_s"], "s"),
            f"{r['TOPS']:.3g}",
            f"{r['TOPS_per_W_chip']:.3g}",
            f"{r['TOPS_per_W_chip_at_28nm']:.3g}" if "TOPS_per_W_chip_at_28nm" in r else "-",
            f"{r['area_mm2']:.3g}" if r["area_mm2"] else "-",
            f"{r['area_mm2_at_28nm']:.3g}" if r.get("area_mm2_at_28nm") else "-",
            (o.design.note + ("; " + "; ".join(n[:60] for n in o.result.notes if "excluded" in n or "unavailable" in n) if o.result.notes else ""))[:90],
        )
    Console(width=200).print(table)
    if out.suffix.lower() == ".json":
        write_text_atomic(out, json.dumps(rows, indent=2))
    else:
        import csv
        import io

        columns = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(out, buf.getvalue())
    plot_compare(rows, plot, f"{model or weights}: designs compared on one workload")
    typer.echo(f"wrote {out} and {plot}")


@app.command()
def validate(
    weights: WeightsOpt = None,
    published: Annotated[Optional[Path], typer.Option(help="Published-figures YAML (default: the copy shipped with sparsecim)")] = None,
    out: Annotated[Path, typer.Option(help="Folder for validation.md, validation.csv and plots")] = Path("validation"),
    jobs: JobsOpt = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Modelled vs published figures of the chip, with error and assumed conditions (table + markdown report + plots)."""
    from rich.console import Console
    from rich.table import Table

    from sparsecim.validate import validate as run_validation
    from sparsecim.validate import write_report
    from sparsecim.workloads.checkpoint import bundled_checkpoint

    if out.exists() and not out.is_dir():
        raise SparsecimInputError(f"--out must be a folder: {out}")
    report = run_validation(weights or bundled_checkpoint("all-minilm-l6-v2"), published, progress=_progress_printer(quiet), jobs=jobs)
    table = Table(title="ISSCC 2023 16.2: modelled vs published")
    for col in ["figure", "published", "modelled", "error", "status", "conditions / why not"]:
        table.add_column(col, justify="right" if col in ("published", "modelled", "error") else "left")
    for c in report.checks:
        err = c.error_pct
        table.add_row(
            c.key,
            f"{c.published} {c.unit}",
            "" if c.modelled is None else f"{c.modelled:.4g}",
            "" if err is None else f"{err:+.1f} %",
            c.status,
            (c.conditions + (f" [{c.caveat}]" if c.caveat else ""))[:110],
        )
    Console(width=200).print(table)
    files = write_report(report, out)
    typer.echo("wrote " + ", ".join(str(f) for f in files))


from sparsecim.sweep.command import sweep_command  # noqa: E402  (registered below)

app.command("sweep")(sweep_command)


@app.command()
def archs() -> None:
    """List the installed architecture specs and their variables."""
    from sparsecim.specs import installed_archs, spec_variables

    for name, path in sorted(installed_archs().items()):
        typer.echo(f"{name}: {path}")
        typer.echo(f"  variables: {', '.join(spec_variables(path))}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every input error into one line and exit code 2."""
    import os
    import warnings

    # joblib's loky resource tracker (a child process) may warn about semaphores at shutdown;
    # keep stderr to the one line a user needs.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    warnings.filterwarnings("ignore", message="resource_tracker", category=UserWarning)
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130:  # typer caught Ctrl-C
                print("sparsecim: interrupted (a sweep keeps its finished points: run it again to resume)", file=sys.stderr)
            return code
    except SparsecimInputError as exc:
        print(f"sparsecim: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparsecim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Typer bundles its own click: recognise its exceptions by their interface, not by class.
        if hasattr(exc, "format_message"):  # usage errors: bad option, missing value, ...
            print(f"sparsecim: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            return 2
        if type(exc).__name__ == "Exit":
            return getattr(exc, "exit_code", 0)
        if type(exc).__name__ == "Abort":
            print("sparsecim: aborted", file=sys.stderr)
            return 130
        raise
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())

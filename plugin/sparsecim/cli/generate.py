"""Generation from the command line: `run --phase decode` and `compare --phase decode` hand over here.

    sparsecim run --model gpt2 --phase decode --prompt 128 --generate 128
    sparsecim run --case llama2-7b-4chip
    sparsecim run --model llama-2-7b --phase decode --chips 4 --partition tensor --d2d gbps=320 --d2d pj_per_bit=0.54

Heavy modules are imported inside the functions (start-up time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sparsecim.cli.options import check_jobs, parse_sets, progress_printer
from sparsecim.errors import InputError

PhaseOpt = Annotated[str, typer.Option(help="prefill (a prefill / encoder pass) or decode (prefill of --prompt tokens, then --generate decode steps with a KV cache)")]
GenerateOpt = Annotated[Optional[int], typer.Option(help="Tokens to generate per sequence with --phase decode (default 128)")]
ChipsOpt = Annotated[Optional[int], typer.Option(help="Chips in the system (decode; default 1), each with its own off-chip link")]
PartitionOpt = Annotated[Optional[str], typer.Option(help="How the chips split the model: tensor (heads/columns, all-reduces) or pipeline (layers)")]
D2dOpt = Annotated[list[str], typer.Option("--d2d", help="Die-to-die link, name=value (repeatable): gbps, pj_per_bit, sync_ns, reduce_bits, overlap")]

LINK_FIELDS = {"gbps": float, "pj_per_bit": float, "sync_ns": float}
SYSTEM_FIELDS = {"reduce_bits": int, "overlap": float}
DEFAULT_GENERATE = 128


def wants_generation(phase: str, case: str | None, generate: int | None, chips: int | None, partition: str | None, d2d: list[str]) -> bool:
    """True when `run` options ask for generation (or name a generation case)."""
    from sparsecim.studies.generation import GENERATION_CASES  # noqa: PLC0415

    return phase != "prefill" or (case in GENERATION_CASES) or any(v is not None for v in (generate, chips, partition)) or bool(d2d)


def system_options(chips: int | None, partition: str | None, d2d: list[str], base=None):
    """The SystemOptions of the options (on top of a case's `base`); InputError for a bad name or value."""
    from sparsecim.mapping.system import D2DLink, SystemOptions  # noqa: PLC0415

    base = base or SystemOptions()
    link, system = base.link.model_dump(), {}
    for name, value in parse_sets(d2d).items():
        fields = LINK_FIELDS if name in LINK_FIELDS else SYSTEM_FIELDS if name in SYSTEM_FIELDS else None
        if fields is None:
            raise InputError(f"unknown --d2d name {name!r}; known: {', '.join([*LINK_FIELDS, *SYSTEM_FIELDS])}")
        try:
            number = fields[name](value)
        except ValueError:
            raise InputError(f"--d2d {name} must be a number, got {value!r}") from None
        (link if name in LINK_FIELDS else system)[name] = number
    return SystemOptions(
        chips=base.chips if chips is None else chips,
        partition=base.partition if partition is None else partition,
        link=D2DLink(**link),
        reduce_bits=system.get("reduce_bits", base.reduce_bits),
        overlap=system.get("overlap", base.overlap),
    )


def run_decode(
    *, case, model, weights, heads, arch, seq_len, batch, set_, prune, density, profile, masks, spans,
    phase, generate, chips, partition, d2d, out, no_cache, jobs, quiet,
) -> None:
    """`sparsecim run` for generation: build the decode request, run it, print the phases."""
    from rich.console import Console  # noqa: PLC0415

    from sparsecim.files import check_output_file, write_atomic  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.report.generation import generation_json, generation_tables  # noqa: PLC0415
    from sparsecim.request import RunRequest  # noqa: PLC0415
    from sparsecim.studies.generation import GENERATION_CASES, generation_case, run_generation  # noqa: PLC0415

    own_process()
    if out is not None:
        check_output_file(out, (".json",), "--out")
    journal = None
    if case is not None:
        if case not in GENERATION_CASES:
            raise InputError(f"--case {case} is a prefill case; generation cases: {', '.join(GENERATION_CASES)}")
        clashing = [flag for flag, value in (("--model", model), ("--prune", prune), ("--density", density), ("--profile", profile),
                                             ("--masks", masks), ("--spans", spans)) if value is not None]
        if clashing:
            raise InputError(f"--case sets the model, sparsity and spans; drop {', '.join(clashing)}")
        chosen = generation_case(case)
        fields = {"weights": weights, "heads": heads, "arch": arch, "variables": parse_sets(set_),
                  "system": system_options(chips, partition, d2d, chosen.system)}
        if batch != 1:
            fields["batch"] = batch
        if generate is not None:
            fields["generate"] = generate
        request = chosen.request(**fields)
        journal = _journal()
    else:
        request = RunRequest.of_options(
            model=model, weights=weights, prune=prune, masks=masks, profile=profile, density=density, default_model="gpt2",
            arch=arch, seq_len=seq_len, batch=batch, heads=heads, variables=parse_sets(set_), spans=spans, phase=phase,
            generate=DEFAULT_GENERATE if generate is None and phase == "decode" else (generate or 0),
            system=system_options(chips, partition, d2d),
        )
    result = run_generation(request, use_cache=not no_cache, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    console = Console(width=200)
    for table in generation_tables(result, journal):
        console.print(table)
    console.print(f"time to first token {result.time_to_first_token_s:.4g} s; decode {result.tokens_per_s:.4g} tokens/s, "
                  f"{result.j_per_token:.4g} J/token ({result.decode.bound}-bound)")
    for note in result.notes:
        console.print(f"note: {note}")
    if out is not None:
        write_atomic(out, generation_json(result))
        typer.echo(f"wrote {out}")


def _journal() -> dict:
    from sparsecim.studies.validate import load_published  # noqa: PLC0415

    return load_published().get("journal_extension") or {}


def compare_decode(
    *, model, weights, heads, seq_len, batch, set_, prune, density, profile, masks, spans, arch, only,
    generate, chips, partition, d2d, out: Path, jobs, quiet,
) -> None:
    """`sparsecim compare --phase decode`: the chip and its ablations generating, one table (+ CSV/JSON)."""
    import json  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from sparsecim.files import check_output_file, write_atomic  # noqa: PLC0415
    from sparsecim.mapping.workers import own_process  # noqa: PLC0415
    from sparsecim.report.files import dicts_csv  # noqa: PLC0415
    from sparsecim.report.tables import si  # noqa: PLC0415
    from sparsecim.request import RunRequest  # noqa: PLC0415
    from sparsecim.studies.compare import chip_designs  # noqa: PLC0415
    from sparsecim.studies.generation import ENERGY_PARTS, compare_generation  # noqa: PLC0415

    own_process()
    check_output_file(out, (".csv", ".json"), "--out")
    if arch:
        raise InputError("--phase decode compares the chip and its ablations only (no --arch)")
    designs = chip_designs()
    if only:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in {d.name for d in designs}]
        if unknown:
            raise InputError(f"unknown design {unknown[0]!r}; decode designs: {', '.join(d.name for d in designs)}")
        designs = [d for d in designs if d.name in wanted]
    request = RunRequest.of_options(
        model=model, weights=weights, prune=prune, masks=masks, profile=profile, density=density, default_model="gpt2", seq_len=seq_len,
        batch=batch, heads=heads, variables=parse_sets(set_), spans=spans, phase="decode", generate=DEFAULT_GENERATE if generate is None else generate, system=system_options(chips, partition, d2d),
    )
    outcomes = compare_generation(request, designs, progress=progress_printer(quiet), jobs=check_jobs(jobs))
    table = Table(title=f"{request.model or weights}: prompt {seq_len}, {request.generate} generated, batch {batch}, {request.system.label()}")
    for col in ["design", "TTFT", "tokens/s", "J/token", "decode bound", *ENERGY_PARTS, "note"]:
        table.add_column(col, justify="left" if col in ("design", "note", "decode bound") else "right")
    rows = []
    for o in outcomes:
        if o.result is None:
            table.add_row(o.design.name, *["-"] * (4 + len(ENERGY_PARTS)), f"not run: {o.error[:70]}")
            rows.append({"design": o.design.name, "error": o.error})
            continue
        r, decode = o.result, o.result.decode
        table.add_row(o.design.name, si(r.time_to_first_token_s, "s"), f"{r.tokens_per_s:.4g}", si(r.j_per_token, "J"), decode.bound,
                      *[si(decode.energy_j[p] / decode.tokens, "J") for p in ENERGY_PARTS], o.design.note[:50])
        rows.append({"design": o.design.name, "error": "", **r.summary()})
    Console(width=220).print(table)
    write_atomic(out, json.dumps(rows, indent=2, default=float) if out.suffix.lower() == ".json" else dicts_csv(rows))
    typer.echo(f"wrote {out}")

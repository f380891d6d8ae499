"""Sensitivity of the four-chip decode figures (docs/decode.md): the named case llama2-7b-4chip with one
assumption changed at a time, decode phase only (tokens/s and J/token of the 128 generated tokens).

    python scripts/decode_sensitivity.py [--jobs 2] [--out sensitivity.md]

Prints a markdown table: the assumption, its value in the case, the changed value, tokens/s and
J/token with the change, and their ratio to the case. Every row is a full run (mapped, cached)."""

from __future__ import annotations

import argparse
import sys

from sparsecim.mapping.system import D2DLink, SystemOptions
from sparsecim.mapping.workers import own_process
from sparsecim.pipeline import prepare
from sparsecim.request import SparsitySource
from sparsecim.studies.generation import evaluate_phases, generation_case
from sparsecim.workload.decode import Phase


def system_with(base: SystemOptions, link: dict | None = None, **fields) -> SystemOptions:
    values = {"chips": base.chips, "partition": base.partition, "reduce_bits": base.reduce_bits, "overlap": base.overlap, **fields}
    return SystemOptions(link=D2DLink(**{**base.link.model_dump(), **(link or {})}), **values)


def variants(case):
    base = case.request()
    system = base.system
    variables = dict(base.variables)
    yield "off-chip bandwidth per chip", "25.6 GB/s (LPDDR4-3200 x64)", "12.8 GB/s", {"variables": {**variables, "offchip_gbps": 102.4}}
    yield "off-chip bandwidth per chip", "25.6 GB/s", "51.2 GB/s", {"variables": {**variables, "offchip_gbps": 409.6}}
    yield "off-chip bandwidth per chip", "25.6 GB/s", "128 GB/s", {"variables": {**variables, "offchip_gbps": 1024.0}}
    yield "off-chip energy", "8 pJ/bit (LPDDR4)", "20 pJ/bit (the test board's link, arch default)", {"variables": {**variables, "offchip_pj_per_bit": 20.0}}
    yield "off-chip energy", "8 pJ/bit", "4 pJ/bit", {"variables": {**variables, "offchip_pj_per_bit": 4.0}}
    yield "batch", "1", "4", {"batch": 4}
    yield "weight sparsity", "75 % (hybrid)", "50 % (hybrid)", {"sparsity": SparsitySource(prune="hybrid:0.5:scope=matrix")}
    yield "weight sparsity", "75 % (hybrid)", "none (dense weights)", {"sparsity": SparsitySource()}
    yield "attention spans", "span 83, shared-QK", "none (dense attention)", {"spans": None}
    yield "sequence", "128 + 128", "1024 + 1024", {"seq_len": 1024, "generate": 1024}
    yield "sequence, no spans", "128 + 128, span 83", "1024 + 1024, dense attention", {"seq_len": 1024, "generate": 1024, "spans": None}
    yield "partition", "tensor-parallel", "pipeline", {"system": system_with(system, partition="pipeline")}
    yield "D2D link", "320 Gb/s, 0.54 pJ/b, 100 ns", "32 Gb/s, 1.17 pJ/b, 1 us", {"system": system_with(system, {"gbps": 32.0, "pj_per_bit": 1.17, "sync_ns": 1000.0})}
    yield "all-reduce width", "16 b", "32 b", {"system": system_with(system, reduce_bits=32)}
    yield "operating point", "0.90 V / 220 MHz", "1.03 V / 320 MHz", {"variables": {**variables, "voltage": 1.03, "frequency": 320e6}}
    yield "operating point", "0.90 V / 220 MHz", "0.64 V / 20 MHz", {"variables": {**variables, "voltage": 0.64, "frequency": 20e6}}


def decode_of(request, jobs):
    prepared = prepare(request)
    phases, _ = evaluate_phases(prepared, request.generate, request.system, request.scheme, request.lar, jobs=jobs, phases=(Phase.DECODE,))
    return phases[Phase.DECODE]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", default=None, help="Only the rows whose assumption starts with this text")
    args = parser.parse_args()
    own_process()
    case = generation_case("llama2-7b-4chip")
    base = decode_of(case.request(), args.jobs)
    lines = [
        f"case llama2-7b-4chip, decode: {base.tokens_per_s:.4g} tokens/s, {base.j_per_token:.4g} J/token ({base.bound}-bound)",
        "",
        "| assumption | in the case | changed to | tokens/s | x case | J/token | x case | bound |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    print("\n".join(lines), flush=True)
    for name, was, now, changes in variants(case):
        if args.only and not name.startswith(args.only):
            continue
        result = decode_of(case.request().with_changes(**changes), args.jobs)
        line = (f"| {name} | {was} | {now} | {result.tokens_per_s:.4g} | {result.tokens_per_s / base.tokens_per_s:.2f} | "
                f"{result.j_per_token:.3g} | {result.j_per_token / base.j_per_token:.2f} | {result.bound} |")
        lines.append(line)
        print(line, flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

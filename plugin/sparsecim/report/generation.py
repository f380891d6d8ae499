"""Terminal tables and files of a generation result (`studies.generation`): the phases side by side,
the GPU roofline beside them, and the journal's figures when the run is its named case."""

from __future__ import annotations

import json

from rich.table import Table

from sparsecim.studies.generation import BOUNDS, ENERGY_PARTS, GenerationResult, PhaseResult
from sparsecim.report.tables import si


def _operating_point(result: GenerationResult) -> str:
    v = result.variables
    point = f"{float(v['voltage']):.2f} V / {float(v['frequency']) / 1e6:.0f} MHz" if "voltage" in v and "frequency" in v else "arch defaults"
    link = f"off-chip {v['offchip_gbps']} Gb/s, {v['offchip_pj_per_bit']} pJ/b per chip" if "offchip_gbps" in v else "off-chip link: arch default"
    return f"{point}; {link}"


def phases_table(result: GenerationResult) -> Table:
    """Per phase: time, throughput, energy per token, what bounds it and the energy split."""
    title = (f"{result.model} on {result.arch}, {result.system.label()}: prompt {result.prompt}, {result.generate} generated, "
             f"batch {result.batch} ({_operating_point(result)})")
    table = Table(title=title)
    for col in ["phase", "tokens", "time", "tokens/s", "J/token", "bound (share of time)", *ENERGY_PARTS]:
        table.add_column(col, justify="left" if col in ("phase", "bound (share of time)") else "right")
    for phase in (result.prefill, result.decode):
        table.add_row(str(phase.phase), str(phase.tokens), si(phase.latency_s, "s"), f"{phase.tokens_per_s:.4g}", si(phase.j_per_token, "J"),
                      _bound(phase), *[_share(phase, part) for part in ENERGY_PARTS])
    return table


def _bound(phase: PhaseResult) -> str:
    total = phase.latency_s or 1.0
    return f"{phase.bound} ({phase.time_s[phase.bound] / total:.0%})"


def _share(phase: PhaseResult, part: str) -> str:
    energy = phase.energy_j[part]
    return f"{si(energy / phase.tokens, 'J')} ({energy / (phase.energy_total_j or 1.0):.0%})" if energy else "-"


def reference_table(result: GenerationResult) -> Table:
    """The model beside the GPU's roofline bound (dense and 2:4-sparse INT8)."""
    table = Table(title=f"Decode vs {result.reference.gpu.name} ROOFLINE BOUND (datasheet peaks, board power at TDP; not a measurement)")
    for col in ["", "tokens/s", "J/token", "model speed-up", "model energy gain"]:
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("model", f"{result.tokens_per_s:.4g}", si(result.j_per_token, "J"), "", "")
    for reference in (result.reference, result.reference_sparse):
        decode = reference.decode
        table.add_row(f"A100 roofline, INT8 {'2:4 sparse' if reference.sparse else 'dense'}", f"{decode.tokens_per_s:.4g}", si(decode.j_per_token, "J"),
                      f"{result.tokens_per_s / decode.tokens_per_s:.3g}x", f"{decode.j_per_token / result.j_per_token:.3g}x")
    return table


def journal_table(result: GenerationResult, journal: dict) -> Table:
    """The journal extension's decode figures beside the model's (conditions in docs/decode.md)."""
    table = Table(title="Journal extension (four-chip system) vs this model; the journal's conditions are not published")
    for col in ["figure", "journal", "model"]:
        table.add_column(col, justify="left" if col == "figure" else "right")
    rows = [
        ("decode throughput", journal.get("decode_throughput", {}).get("value"), result.tokens_per_s, "tokens/s"),
        ("decode energy", journal.get("decode_energy", {}).get("value"), result.j_per_token, "J/token"),
        ("speed-up vs A100", (journal.get("vs_a100") or {}).get("speedup"), result.speedup_vs_reference, "x; model: vs the roofline bound"),
        ("energy efficiency vs A100", (journal.get("vs_a100") or {}).get("energy_efficiency"), result.energy_gain_vs_reference,
         "x; model: vs the roofline bound"),
    ]
    for name, published, modelled, unit in rows:  # units in parentheses: rich reads [..] as markup
        table.add_row(f"{name} ({unit})", "-" if published is None else f"{published:g}", f"{modelled:.4g}")
    return table


def generation_tables(result: GenerationResult, journal: dict | None = None) -> list[Table]:
    tables = [phases_table(result), reference_table(result)]
    if journal:
        tables.append(journal_table(result, journal))
    return tables


def generation_json(result: GenerationResult) -> str:
    """The result's summary, both phases' splits and its notes, as JSON."""
    data = {
        "summary": result.summary(),
        "phases": {str(p.phase): {"energy_J": p.energy_j, "time_s": p.time_s, "bound": p.bound} for p in (result.prefill, result.decode)},
        "bounds": list(BOUNDS),
        "system": result.system.model_dump(mode="json"),
        "reference": {"label": result.reference.label, "source": result.reference.gpu.source},
        "notes": result.notes,
    }
    return json.dumps(data, indent=2, default=float)

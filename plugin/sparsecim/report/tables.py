"""Terminal tables of a ModelResult (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sparsecim.mapping.result import ModelResult
from sparsecim.rewrite.sparse import Scheme
from sparsecim.workload.einsums import MAC_FORMS

SKIPPER_CLASS = "sparsecim_butterfly"


def si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1, "")):
        if abs(value) < factor * 1000 or factor == 1:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def result_tables(result: ModelResult) -> list[Table]:
    """Per-Einsum table, per-component table and the summary."""
    components = sorted(result.energy_by_component_j, key=lambda c: -result.energy_by_component_j[c])
    shown = [c for c in components if result.energy_by_component_j[c] > 0]
    per_einsum = Table(title=f"{result.model} on {result.arch}: seq {result.seq_len}, batch {result.batch} (all layers)")
    for col in ["Einsum", "x", "MACs/elems", "energy", "latency", "util", *shown]:
        per_einsum.add_column(col, justify="right" if col != "Einsum" else "left")
    for row in result.rows:
        per_einsum.add_row(
            row.label,
            str(row.instances),
            f"{row.operations:.3g}",
            si(row.energy_total_j, "J"),
            si(row.latency_s, "s"),
            f"{row.utilisation:.0%}" if row.form in MAC_FORMS else "-",
            *[si(row.energy_j.get(c, 0.0), "J") for c in shown],
        )
    per_comp = Table(title="Per component")
    for col in ["component", "energy", "share", "area"]:
        per_comp.add_column(col, justify="right" if col != "component" else "left")
    total = result.energy_system_j or 1.0
    for comp in sorted(set(components) | set(result.area_m2)):
        energy = result.energy_by_component_j.get(comp, 0.0)
        per_comp.add_row(comp, si(energy, "J"), f"{energy / total:.1%}", f"{result.area_m2.get(comp, 0.0) * 1e6:.4f} mm2")
    s = result.summary()
    summary = Table(title="Summary (dense-equivalent operations: 2 per MAC)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row("energy, chip (excl. DRAM)", si(s["energy_chip_J"], "J"))
    summary.add_row("energy, system (incl. DRAM)", si(s["energy_system_J"], "J"))
    summary.add_row("latency", si(s["latency_s"], "s"))
    summary.add_row("dense-equivalent ops", f"{s['dense_equivalent_ops']:.4g}")
    summary.add_row("throughput", f"{s['TOPS']:.3f} TOPS")
    summary.add_row("energy efficiency, chip", f"{s['TOPS_per_W_chip']:.2f} TOPS/W")
    summary.add_row("energy efficiency, system", f"{s['TOPS_per_W_system']:.2f} TOPS/W")
    summary.add_row("area (modelled components)", f"{s['area_mm2']:.3f} mm2")
    summary.add_row("area efficiency", f"{s['TOPS_per_mm2']:.3f} TOPS/mm2")
    return [per_einsum, per_comp, summary]


def print_result(result: ModelResult, console: Console | None = None) -> None:
    console = console or Console(width=160)
    for table in result_tables(result):
        console.print(table)
    extra = sparsity_table(result)
    if extra is not None:
        console.print(extra)
    for note in result.notes:
        console.print(f"note: {note}")


def sparsity_table(result: ModelResult) -> Table | None:
    """Per weight-matrix kind (all layers): density, packing utilisation, CIM memory reduction, k_eff."""
    rewrites = result.matrix_rewrites
    if not rewrites:
        return None
    table = Table(title=f"Weight sparsity, {result.scheme} storage (per matrix kind, mean over layers)")
    for col in ["matrix", "layers", "compressed", "density", "utilisation", "k_eff / k", "mapped k", "bits/weight", "memory reduction"]:
        table.add_column(col, justify="right" if col != "matrix" else "left")
    kinds: dict[str, list] = {}
    for r in rewrites:
        kinds.setdefault(r.kind, []).append(r)
    for kind, items in kinds.items():
        n = len(items)
        table.add_row(
            kind,
            str(n),
            f"{sum(r.mode is Scheme.CHIP for r in items)}/{n}" if result.scheme is Scheme.CHIP else "-",
            f"{sum(r.density for r in items) / n:.3f}",
            f"{sum(r.utilisation for r in items) / n:.1%}",
            f"{sum(r.k_eff / r.k for r in items) / n:.3f}",
            ",".join(sorted({str(r.k_mapped) for r in items}))[:24],
            f"{sum(r.weight_bits for r in items) / n:.2f}",
            f"{sum(r.memory_reduction for r in items) / n:.2f}x",
        )
    return table


def baseline_rows(results: dict[Scheme, ModelResult]) -> list[dict]:
    """Scheme comparison on the same masks: speedup / energy saving vs dense CIM, skipper overhead."""
    dense = results.get(Scheme.DENSE)
    rows = []
    for scheme, r in results.items():
        s = r.summary()
        energy = r.energy_by_component_j
        rows.append(
            {
                "scheme": str(scheme),
                "energy_chip_J": s["energy_chip_J"],
                "energy_system_J": s["energy_system_J"],
                "latency_s": s["latency_s"],
                "TOPS_per_W_chip": s["TOPS_per_W_chip"],
                "TOPS": s["TOPS"],
                "executed_macs": s["executed_macs"],
                "speedup_vs_dense": dense.latency_s / r.latency_s if dense and r.latency_s else None,
                "energy_saving_vs_dense": dense.energy_chip_j / r.energy_chip_j if dense and r.energy_chip_j else None,
                "skipper_overhead": sum(energy.get(c, 0.0) for c in r.roles.of_class(SKIPPER_CLASS)) / r.energy_chip_j if r.energy_chip_j else 0.0,
                "cim_weight_bits": sum(m.k_eff * m.weight_bits for m in r.matrix_rewrites),
            }
        )
    return rows


def baselines_table(results: dict[Scheme, ModelResult]) -> Table:
    rows = baseline_rows(results)
    dense_bits = next((r["cim_weight_bits"] for r in rows if r["scheme"] == "dense"), None)
    table = Table(title="Same masks, four weight-storage schemes (chip energy excludes DRAM)")
    for col in ["scheme", "chip energy", "latency", "TOPS/W", "speedup", "energy saving", "skipper share", "weight memory"]:
        table.add_column(col, justify="right" if col != "scheme" else "left")
    for r in rows:
        table.add_row(
            Scheme(r["scheme"]).label,
            si(r["energy_chip_J"], "J"),
            si(r["latency_s"], "s"),
            f"{r['TOPS_per_W_chip']:.2f}",
            f"{r['speedup_vs_dense']:.2f}x" if r["speedup_vs_dense"] else "-",
            f"{r['energy_saving_vs_dense']:.2f}x" if r["energy_saving_vs_dense"] else "-",
            f"{r['skipper_overhead']:.1%}",
            f"{dense_bits / r['cim_weight_bits']:.2f}x less" if dense_bits and r["cim_weight_bits"] else "-",
        )
    return table

"""Present a ModelResult: a terminal table and JSON / CSV files (written atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparsecim.errors import SparsecimInputError, publish
from sparsecim.model.runner import ModelResult


def _si(value: float, unit: str) -> str:
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
            f"{row.kind} {row.tag}".strip(),
            str(row.instances),
            f"{row.operations:.3g}",
            _si(row.energy_total_j, "J"),
            _si(row.latency_s, "s"),
            f"{row.utilisation:.0%}" if row.form != "softmax" else "-",
            *[_si(row.energy_j.get(c, 0.0), "J") for c in shown],
        )
    per_comp = Table(title="Per component")
    for col in ["component", "energy", "share", "area"]:
        per_comp.add_column(col, justify="right" if col != "component" else "left")
    total = result.energy_system_j or 1.0
    for comp in sorted(set(components) | set(result.area_m2)):
        energy = result.energy_by_component_j.get(comp, 0.0)
        per_comp.add_row(comp, _si(energy, "J"), f"{energy / total:.1%}", f"{result.area_m2.get(comp, 0.0) * 1e6:.4f} mm2")
    s = result.summary()
    summary = Table(title="Summary (dense-equivalent operations: 2 per MAC)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row("energy, chip (excl. DRAM)", _si(s["energy_chip_J"], "J"))
    summary.add_row("energy, system (incl. DRAM)", _si(s["energy_system_J"], "J"))
    summary.add_row("latency", _si(s["latency_s"], "s"))
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


def result_dict(result: ModelResult) -> dict:
    return {
        "summary": result.summary(),
        "variables": result.variables,
        "area_m2": result.area_m2,
        "energy_by_component_J": result.energy_by_component_j,
        "einsums": [
            {
                "kind": r.kind,
                "tag": r.tag,
                "form": r.form,
                "ranks": r.ranks,
                "instances": r.instances,
                "operations": r.operations,
                "energy_J": r.energy_total_j,
                "energy_by_component_J": r.energy_j,
                "latency_s": r.latency_s,
                "utilisation": r.utilisation,
                "mapping": r.mapping,
            }
            for r in result.rows
        ],
        "notes": result.notes,
        "weight_matrices": [vars(m) for m in result.extras.get("matrix_rewrites", [])],
        "scheme": result.extras.get("scheme", "dense"),
    }


def _csv_text(result: ModelResult) -> str:
    components = sorted(result.energy_by_component_j)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["einsum", "instances", "operations", "energy_J", "latency_s", "utilisation", *[f"energy_{c}_J" for c in components]])
    for r in result.rows:
        writer.writerow([f"{r.kind} {r.tag}".strip(), r.instances, r.operations, r.energy_total_j, r.latency_s, r.utilisation, *[r.energy_j.get(c, 0.0) for c in components]])
    s = result.summary()
    writer.writerow(["TOTAL", "", s["dense_equivalent_ops"] // 2, s["energy_system_J"], s["latency_s"], "", *[result.energy_by_component_j[c] for c in components]])
    return buf.getvalue()


def write_result(result: ModelResult, path: Path) -> None:
    """Write .json or .csv; the file appears whole or not at all."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(result_dict(result), indent=2)
    elif suffix == ".csv":
        text = _csv_text(result)
    else:
        raise SparsecimInputError(f"--out must end in .json or .csv, got {path.name!r}")
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    if not path.parent.exists():
        raise SparsecimInputError(f"output folder does not exist: {path.parent}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sparsity_table(result: ModelResult) -> Table | None:
    """Per weight-matrix kind (all layers): density, packing utilisation, CIM memory reduction, k_eff."""
    rewrites = result.extras.get("matrix_rewrites") or []
    if not rewrites:
        return None
    table = Table(title=f"Weight sparsity, {result.extras.get('scheme')} storage (per matrix kind, mean over layers)")
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
            f"{sum(r.mode == 'chip' for r in items)}/{n}" if result.extras.get("scheme") == "chip" else "-",
            f"{sum(r.density for r in items) / n:.3f}",
            f"{sum(r.utilisation for r in items) / n:.1%}",
            f"{sum(r.k_eff / r.k for r in items) / n:.3f}",
            ",".join(sorted({str(r.k_mapped) for r in items}))[:24],
            f"{sum(r.weight_bits for r in items) / n:.2f}",
            f"{sum(r.memory_reduction for r in items) / n:.2f}x",
        )
    return table


def baseline_rows(results: dict[str, ModelResult]) -> list[dict]:
    """Scheme comparison on the same masks: speedup / energy saving vs dense CIM, skipper overhead."""
    dense = results.get("dense")
    rows = []
    for scheme, r in results.items():
        s = r.summary()
        energy = r.energy_by_component_j
        rows.append(
            {
                "scheme": scheme,
                "energy_chip_J": s["energy_chip_J"],
                "energy_system_J": s["energy_system_J"],
                "latency_s": s["latency_s"],
                "TOPS_per_W_chip": s["TOPS_per_W_chip"],
                "TOPS": s["TOPS"],
                "executed_macs": s["executed_macs"],
                "speedup_vs_dense": dense.latency_s / r.latency_s if dense and r.latency_s else None,
                "energy_saving_vs_dense": dense.energy_chip_j / r.energy_chip_j if dense and r.energy_chip_j else None,
                "skipper_overhead": energy.get("ButterflySkipper", 0.0) / r.energy_chip_j if r.energy_chip_j else 0.0,
                "cim_weight_bits": sum(m.k_eff * m.weight_bits for m in r.extras.get("matrix_rewrites", [])),
            }
        )
    return rows


def baselines_table(results: dict[str, ModelResult]) -> Table:
    rows = baseline_rows(results)
    dense_bits = next((r["cim_weight_bits"] for r in rows if r["scheme"] == "dense"), None)
    table = Table(title="Same masks, four weight-storage schemes (chip energy excludes DRAM)")
    for col in ["scheme", "chip energy", "latency", "TOPS/W", "speedup", "energy saving", "skipper share", "weight memory"]:
        table.add_column(col, justify="right" if col != "scheme" else "left")
    names = {"chip": "chip (butterfly skipper)", "dense": "dense CIM", "block": "block skipping", "ideal": "ideal (non-zeros only)"}
    for r in rows:
        table.add_row(
            names.get(r["scheme"], r["scheme"]),
            _si(r["energy_chip_J"], "J"),
            _si(r["latency_s"], "s"),
            f"{r['TOPS_per_W_chip']:.2f}",
            f"{r['speedup_vs_dense']:.2f}x" if r["speedup_vs_dense"] else "-",
            f"{r['energy_saving_vs_dense']:.2f}x" if r["energy_saving_vs_dense"] else "-",
            f"{r['skipper_overhead']:.1%}",
            f"{dense_bits / r['cim_weight_bits']:.2f}x less" if dense_bits and r["cim_weight_bits"] else "-",
        )
    return table


def save_figure_atomic(fig, path: Path, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG: the file appears whole or not at all; closes the figure."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        publish(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)

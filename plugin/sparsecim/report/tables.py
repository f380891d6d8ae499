"""Terminal tables of a ModelResult (rich).

The default view (`print_result`) fits 80 columns: a summary, one row per Einsum kind summed over
the layers (with what bounds its latency) and the components that use the most energy. The
detailed views (`VIEWS`: per Einsum row in layer order, per layer, per component) are asked for by
name (`sparsecim run --by ...` or `--detail` for all), and `mapping_texts` gives the chosen loop nests.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from sparsecim.errors import SparsecimError
from sparsecim.mapping.arch import find_arch, spec_values
from sparsecim.mapping.result import EinsumRow, ModelResult
from sparsecim.rewrite.sparse import Scheme
from sparsecim.workload.einsums import MAC_FORMS, Kind

SKIPPER_CLASS = "sparsecim_butterfly"
TOP_COMPONENTS = 6  # components listed in the default view; the rest are summed as "other"
KIND_ORDER = {kind: i for i, kind in enumerate(Kind)}


def si(value: float, unit: str) -> str:
    """`value` with an SI prefix and three significant digits: si(0.0123, "J") -> "12.3 mJ"."""
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1, ""), (1e3, "k"), (1e6, "M"), (1e9, "G")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def bounding_component(row: EinsumRow) -> str | None:
    """The component whose latency sets the row's latency (the slowest one), if the mapper said."""
    if not row.component_latency_s:
        return None
    return max(sorted(row.component_latency_s), key=lambda c: row.component_latency_s[c])


def bound_kind(result: ModelResult, rows: list[EinsumRow]) -> str:
    """What bounds the latency of these rows, taken together: "compute", "on-chip memory" or
    "off-chip" (the kind of bounding component accounting for most of their latency)."""
    time_by_kind: dict[str, float] = defaultdict(float)
    for row in rows:
        component = bounding_component(row)
        if component is not None:
            time_by_kind[result.roles.kind_of(component)] += row.latency_s
    if not time_by_kind:
        return "-"
    return max(sorted(time_by_kind), key=lambda k: time_by_kind[k])


def layer_order(rows: list[EinsumRow]) -> list[EinsumRow]:
    """Rows by their first layer, then in the order a layer runs its Einsums, then by tag."""
    return sorted(rows, key=lambda r: (min(r.layers) if r.layers else -1, KIND_ORDER.get(r.kind, 99), r.tag))


def layer_text(layers: tuple[int, ...]) -> str:
    """Layers as short text: "0-11" for consecutive layers, "0,2,5" otherwise, "all" when unknown."""
    if not layers:
        return "all"
    ordered = sorted(set(layers))
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{ordered[0]}-{ordered[-1]}"
    text = ",".join(map(str, ordered))
    return text if len(text) <= 12 else f"{len(ordered)} layers"


def operating_point(result: ModelResult) -> str:
    """"0.9 V, 220 MHz": the run's voltage and frequency (given, or the arch's defaults), else ""."""
    try:
        values = spec_values(find_arch(result.arch)[1], result.variables)
    except SparsecimError:  # an arch that is no longer where it was: say nothing
        values = dict(result.variables)
    parts = []
    voltage, frequency = values.get("voltage"), values.get("frequency")
    if isinstance(voltage, (int, float)):
        parts.append(f"{voltage:.3g} V")
    if isinstance(frequency, (int, float)):
        parts.append(si(frequency, "Hz"))
    return ", ".join(parts)


def title_line(result: ModelResult) -> str:
    """One line: model, arch, tokens, operating point, weight storage and attention."""
    parts = [f"{result.model} on {result.arch}", f"{result.seq_len} tokens x {result.batch}"]
    point = operating_point(result)
    if point:
        parts.append(point)
    parts.append("dense weights" if result.scheme is None else f"{Scheme(result.scheme).label} weights")
    parts.append("dense attention" if result.lar is None else "local spans (LAR)")
    return " | ".join(parts)


# ---------------------------------------------------------------- default view (80 columns)


def summary_table(result: ModelResult) -> Table:
    """The headline numbers, two per line."""
    s = result.summary()
    table = Table(title="Summary (ops: dense-equivalent, 2 per MAC)", show_header=False, title_justify="left")
    for justify in ("left", "right", "left", "right"):
        table.add_column(justify=justify)
    offchip = result.energy_offchip_j
    table.add_row("energy, chip", si(s["energy_chip_J"], "J"), "energy, system", si(s["energy_system_J"], "J"))
    table.add_row("off-chip share", _share(offchip, s["energy_system_J"]), "energy / token", si(s["energy_system_J"] / result.tokens, "J"))
    table.add_row("latency", si(s["latency_s"], "s"), "excl. off-chip", si(result.latency_onchip_s, "s"))
    table.add_row("throughput", f"{s['TOPS']:.3g} TOPS", "ops", f"{s['dense_equivalent_ops']:.3g}")
    table.add_row("TOPS/W, chip", f"{s['TOPS_per_W_chip']:.3g}", "TOPS/W, system", f"{s['TOPS_per_W_system']:.3g}")
    table.add_row("area (modelled)", f"{s['area_mm2']:.3g} mm2", "TOPS/mm2", f"{s['TOPS_per_mm2']:.3g}")
    return table


def kinds_table(result: ModelResult) -> Table:
    """One row per Einsum kind, summed over layers and head groups, with what bounds its latency."""
    groups: dict[Kind, list[EinsumRow]] = defaultdict(list)
    for row in result.rows:
        groups[row.kind].append(row)
    total_energy = result.energy_system_j
    table = Table(title="Per Einsum kind (all layers)", title_justify="left")
    for col in ("kind", "x", "MACs", "energy", "share", "latency", "util", "bound by"):
        table.add_column(col, justify="left" if col in ("kind", "bound by") else "right")
    for kind in sorted(groups, key=lambda k: KIND_ORDER.get(k, 99)):
        rows = groups[kind]
        energy = sum(r.energy_total_j for r in rows)
        macs = [r for r in rows if r.form in MAC_FORMS]
        ops = sum(r.operations for r in macs)
        util = sum(r.utilisation * r.operations for r in macs) / ops if ops else None
        table.add_row(
            str(kind),
            str(sum(r.instances for r in rows)),
            f"{ops:.3g}" if macs else "-",
            si(energy, "J"),
            _share(energy, total_energy),
            si(sum(r.latency_s for r in rows), "s"),
            f"{util:.0%}" if util is not None else "-",
            bound_kind(result, rows),
        )
    return table


def top_components_table(result: ModelResult, top: int = TOP_COMPONENTS) -> Table:
    """The components that use the most energy; the rest summed as one line."""
    energy = result.energy_by_component_j
    leak = result.leak_energy_by_component_j
    total = result.energy_system_j
    ranked = sorted((c for c in energy if energy[c] > 0), key=lambda c: -energy[c])
    table = Table(title=f"Top {min(top, len(ranked))} of {len(ranked)} components by energy", title_justify="left")
    for col in ("component", "energy", "share", "leakage", "area mm2"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for comp in ranked[:top]:
        area = result.area_m2.get(comp)
        table.add_row(
            comp + (" (off-chip)" if comp in result.roles.offchip else ""),
            si(energy[comp], "J"),
            _share(energy[comp], total),
            _share(leak.get(comp, 0.0), energy[comp]),
            f"{area * 1e6:.3g}" if area else "-",
        )
    rest = ranked[top:]
    if rest:
        e = sum(energy[c] for c in rest)
        a = sum(result.area_m2.get(c, 0.0) for c in rest)
        table.add_row(f"other ({len(rest)})", si(e, "J"), _share(e, total), _share(sum(leak.get(c, 0.0) for c in rest), e), f"{a * 1e6:.3g}" if a else "-")
    return table


def sparsity_summary_table(result: ModelResult) -> Table | None:
    """Per weight-matrix kind: density, packing utilisation, stored bits per weight, memory saved."""
    if not result.matrix_rewrites:
        return None
    table = Table(title=f"Weight sparsity, {Scheme(result.scheme).label if result.scheme else '-'} storage (mean over layers)", title_justify="left")
    for col in ("matrix", "layers", "density", "packing util", "bits/weight", "memory saved"):
        table.add_column(col, justify="left" if col == "matrix" else "right")
    for kind, items in _by_matrix_kind(result).items():
        n = len(items)
        table.add_row(
            kind,
            str(n),
            f"{sum(r.density for r in items) / n:.3f}",
            f"{sum(r.utilisation for r in items) / n:.0%}",
            f"{sum(r.weight_bits for r in items) / n:.2f}",
            f"{sum(r.memory_reduction for r in items) / n:.2f}x",
        )
    return table


def baselines_summary_table(results: dict[Scheme, ModelResult]) -> Table:
    """Same masks, other storage schemes: chip energy, latency and the gains over dense CIM."""
    table = Table(title="Same masks, other weight storage (chip energy, excl. off-chip)", title_justify="left")
    for col in ("scheme", "energy", "latency", "TOPS/W", "faster", "less energy"):
        table.add_column(col, justify="left" if col == "scheme" else "right")
    for r in baseline_rows(results):
        table.add_row(*_scheme_cells(r))
    return table


def _scheme_cells(r: dict) -> list[str]:
    """Scheme, chip energy, latency, TOPS/W and the two gains over dense CIM of a `baseline_rows` row."""
    return [
        Scheme(r["scheme"]).label,
        si(r["energy_chip_J"], "J"),
        si(r["latency_s"], "s"),
        f"{r['TOPS_per_W_chip']:.3g}",
        f"{r['speedup_vs_dense']:.2f}x" if r["speedup_vs_dense"] else "-",
        f"{r['energy_saving_vs_dense']:.2f}x" if r["energy_saving_vs_dense"] else "-",
    ]


def default_tables(result: ModelResult) -> list[Table]:
    """What `run` prints by default: fits 80 columns."""
    return [summary_table(result), kinds_table(result), top_components_table(result), *storage_tables(result, full=False)]


def storage_tables(result: ModelResult, full: bool) -> list[Table]:
    """The weight-sparsity table and the other-schemes table, when the run has them (compact or full)."""
    sparsity = (sparsity_table if full else sparsity_summary_table)(result)
    schemes = [(baselines_table if full else baselines_summary_table)(result.baselines)] if result.baselines else []
    return ([sparsity] if sparsity is not None else []) + schemes


# ---------------------------------------------------------------- detailed views


def einsum_table(result: ModelResult) -> Table:
    """Every Einsum row in layer order: layers, instances, work, energy, latency, the bounding component."""
    table = Table(title="Per Einsum (rows in layer order; x = instances summed in the row)", title_justify="left")
    for col in ("Einsum", "layers", "x", "MACs/elems", "energy", "latency", "util", "bound by"):
        table.add_column(col, justify="left" if col in ("Einsum", "layers", "bound by") else "right")
    for row in layer_order(result.rows):
        table.add_row(
            row.label,
            layer_text(row.layers),
            str(row.instances),
            f"{row.operations:.3g}",
            si(row.energy_total_j, "J"),
            si(row.latency_s, "s"),
            f"{row.utilisation:.0%}" if row.form in MAC_FORMS else "-",
            bounding_component(row) or "-",
        )
    return table


def layer_table(result: ModelResult) -> Table:
    """Per layer: energy and latency of its attention, projections and feed-forward Einsums."""
    groups = {
        "attention": ("q_norm", "qk", "qk_scale", "softmax", "av", "rotary"),
        "projections": ("q_proj", "k_proj", "v_proj", "out_proj"),
        "feed-forward": ("ffn_up", "ffn_gate", "ffn_down"),
    }
    table = Table(title="Per layer (energy / latency)", title_justify="left")
    table.add_column("layer", justify="right")
    for name in groups:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    totals = {name: result.layer_totals(tuple(Kind(k) for k in kinds)) for name, kinds in groups.items()}
    for layer in sorted({t.layer for t in result.layers}):
        cells, energy, latency = [], 0.0, 0.0
        for name in groups:
            t = totals[name].get(layer)
            cells.append(f"{si(t.energy_j, 'J')} / {si(t.latency_s, 's')}" if t else "-")
            energy += t.energy_j if t else 0.0
            latency += t.latency_s if t else 0.0
        table.add_row(str(layer), *cells, f"{si(energy, 'J')} / {si(latency, 's')}")
    return table


def component_table(result: ModelResult) -> Table:
    """Every component: class, energy, share, leakage share, area, and the Einsum rows it bounds."""
    energy = result.energy_by_component_j
    leak = result.leak_energy_by_component_j
    total = result.energy_system_j
    bounds: dict[str, int] = defaultdict(int)
    for row in result.rows:
        component = bounding_component(row)
        if component:
            bounds[component] += 1
    table = Table(title="Per component", title_justify="left")
    for col in ("component", "class", "kind", "energy", "share", "leakage", "area mm2", "bounds"):
        table.add_column(col, justify="left" if col in ("component", "class", "kind") else "right")
    for comp in sorted(set(energy) | set(result.area_m2), key=lambda c: (-energy.get(c, 0.0), c)):
        area = result.area_m2.get(comp)
        table.add_row(
            comp,
            result.roles.classes.get(comp, "-"),
            result.roles.kind_of(comp),
            si(energy.get(comp, 0.0), "J"),
            _share(energy.get(comp, 0.0), total),
            _share(leak.get(comp, 0.0), energy.get(comp, 0.0)),
            f"{area * 1e6:.4f}" if area else "-",
            str(bounds.get(comp, 0)),
        )
    return table


def sparsity_table(result: ModelResult) -> Table | None:
    """Per weight-matrix kind (all layers): density, packing utilisation, CIM memory reduction, k_eff."""
    if not result.matrix_rewrites:
        return None
    table = Table(title=f"Weight sparsity, {result.scheme} storage (per matrix kind, mean over layers)", title_justify="left")
    for col in ["matrix", "layers", "compressed", "density", "utilisation", "k_eff / k", "mapped k", "bits/weight", "memory reduction"]:
        table.add_column(col, justify="right" if col != "matrix" else "left")
    for kind, items in _by_matrix_kind(result).items():
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


def _by_matrix_kind(result: ModelResult) -> dict[str, list]:
    kinds: dict[str, list] = {}
    for r in result.matrix_rewrites:
        kinds.setdefault(str(r.kind), []).append(r)
    return kinds


VIEWS = {"einsum": einsum_table, "layer": layer_table, "component": component_table}


def detail_tables(result: ModelResult, views: list[str]) -> list[Table]:
    """The named detailed views (einsum, layer, component), then the full sparsity and scheme tables."""
    full = len(views) == len(VIEWS)  # --detail: everything
    return [VIEWS[v](result) for v in views] + (storage_tables(result, full=True) if full else [])


def mapping_texts(result: ModelResult) -> list[tuple[str, str]]:
    """(heading, loop nest) per distinct mapping, in layer order; equal nests are listed once."""
    seen: dict[str, list[str]] = {}
    for row in layer_order(result.rows):
        seen.setdefault(row.mapping, []).append(f"{row.label} (layers {layer_text(row.layers)})")
    return [(", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else ""), nest) for nest, labels in seen.items()]


def print_result(result: ModelResult, console: Console | None = None, views: list[str] | None = None, show_mapping: bool = False) -> None:
    """The run on the console: the default view, or the named detailed views; then the notes."""
    console = console or Console()
    console.print(title_line(result), highlight=False)
    tables = default_tables(result) if not views else [summary_table(result), *detail_tables(result, views)]
    for table in tables:
        console.print(table)
    if show_mapping:
        for heading, nest in mapping_texts(result):
            console.print(f"\nmapping of {heading}:", highlight=False)
            console.print(nest, highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)


# ---------------------------------------------------------------- weight-storage schemes


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
    """The full scheme comparison (with the skipper's share and the weight memory saved)."""
    rows = baseline_rows(results)
    dense_bits = next((r["cim_weight_bits"] for r in rows if r["scheme"] == "dense"), None)
    table = Table(title="Same masks, four weight-storage schemes (chip energy excludes DRAM)", title_justify="left")
    for col in ["scheme", "chip energy", "latency", "TOPS/W", "speedup", "energy saving", "skipper share", "weight memory"]:
        table.add_column(col, justify="right" if col != "scheme" else "left")
    for r in rows:
        table.add_row(
            *_scheme_cells(r),
            f"{r['skipper_overhead']:.1%}",
            f"{dense_bits / r['cim_weight_bits']:.2f}x less" if dense_bits and r["cim_weight_bits"] else "-",
        )
    return table

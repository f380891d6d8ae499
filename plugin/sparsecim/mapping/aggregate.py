"""A whole rewritten workload on an architecture: map each distinct Einsum once, then add the costs
up per Einsum kind, per layer and per component into a `ModelResult`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sparsecim.errors import MappingError, one_line
from sparsecim.mapping.area import arch_facts
from sparsecim.mapping.cost import EinsumCost
from sparsecim.mapping.result import EinsumRow, LayerTotal, ModelResult
from sparsecim.mapping.workers import ProgressFn, map_all
from sparsecim.rewrite import Rewritten
from sparsecim.workload.einsums import EinsumSpec, Kind


def map_workload(
    arch_path: Path,
    rewritten: Rewritten,
    variables: dict | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    arch_name: str | None = None,
    jobs: int | None = None,
    skip_unsupported_softmax: bool = False,
) -> ModelResult:
    """Map every distinct Einsum of the rewritten workload once and aggregate.

    With `skip_unsupported_softmax` (comparisons with foreign designs, e.g. a lone CIM macro), a
    design that cannot run the softmax Einsums is evaluated without them and a note says so."""
    variables = dict(variables or {})
    workload = rewritten.workload
    specs = list(workload.unique_specs())
    notes = list(workload.notes)
    if skip_unsupported_softmax:
        softmax = [s for s in specs if s.form == "softmax"]
        try:
            map_all(arch_path, softmax[:1], variables, use_cache, None, 1)
        except MappingError as exc:
            specs = [s for s in specs if s.form != "softmax"]
            workload = replace(workload, einsums=[e for e in workload.einsums if e.spec.form != "softmax"])
            notes.append(f"softmax not supported by this design, excluded: {one_line(exc, 120)}")
    costs = map_all(arch_path, specs, variables, use_cache, progress, jobs)
    facts = arch_facts(arch_path, variables)
    rows, layers = _aggregate(workload.einsums, costs, facts.roles.offchip)
    if facts.area_m2 is None:
        notes.append(f"area unavailable: {facts.area_problem}")
    return ModelResult(
        arch=arch_name or Path(arch_path).stem,
        model=workload.shape.name,
        seq_len=workload.seq_len,
        batch=workload.batch,
        rows=rows,
        area_m2=facts.area_m2 or {},
        roles=facts.roles,
        dense_macs=workload.dense_macs,
        variables=variables,
        notes=notes,
        scheme=rewritten.scheme,
        lar=rewritten.lar,
        matrix_rewrites=list(rewritten.matrix_rewrites),
        layers=layers,
    )


def _aggregate(einsums, costs: dict[EinsumSpec, EinsumCost], offchip: frozenset[str]) -> tuple[list[EinsumRow], list[LayerTotal]]:
    """Costs x instances, per (kind, tag, shape) row and per (layer, kind), in execution order."""
    rows: dict[tuple[str, str, EinsumSpec], EinsumRow] = {}
    layers: dict[tuple[int, str], LayerTotal] = {}
    for e in einsums:
        cost = costs[e.spec].scaled(e.cost_scale) if e.cost_scale != 1.0 else costs[e.spec]
        key = (e.kind, e.tag, e.spec)
        row = rows.get(key)
        if row is None:
            row = rows[key] = EinsumRow(
                kind=Kind(e.kind),
                tag=e.tag,
                form=e.spec.form,
                ranks=e.spec.rank_sizes,
                instances=0,
                operations=0,
                energy_j={},
                latency_s=0.0,
                utilisation=cost.lane_utilisation,
                mapping=cost.mapping,
            )
        for name, count in cost.actions.items():
            row.actions[name] = row.actions.get(name, 0.0) + e.count * count
        total = layers.setdefault((e.layer, e.kind), LayerTotal(e.layer, Kind(e.kind)))
        total.energy_j += e.count * cost.energy_total_j
        total.latency_s += e.count * cost.latency_s
        total.operations += e.operations
        total.stationary_writes += e.count * cost.stationary_writes
        row.instances += e.count
        row.operations += e.operations
        row.latency_s += e.count * cost.latency_s
        row.latency_onchip_s += e.count * cost.latency_without(offchip)
        if e.layer not in row.layers:
            row.layers = (*row.layers, e.layer)
        for comp, energy in cost.energy_j.items():
            row.energy_j[comp] = row.energy_j.get(comp, 0.0) + e.count * energy
        for comp, energy in cost.leak_energy_j.items():
            row.leak_energy_j[comp] = row.leak_energy_j.get(comp, 0.0) + e.count * energy
        for comp, latency in cost.component_latency_s.items():
            row.component_latency_s[comp] = row.component_latency_s.get(comp, 0.0) + e.count * latency
    return list(rows.values()), list(layers.values())

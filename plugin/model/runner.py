"""Run a whole transformer on an architecture: map each distinct Einsum once, then add up."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sparsecim.errors import SparsecimInputError
from sparsecim.model.area import arch_area
from sparsecim.model.mapper import EinsumCost, cached_cost, map_einsum
from sparsecim.workloads.einsums import EinsumSpec, ModelWorkload

# Components that are off chip: excluded from the chip's energy efficiency (as published chip
# figures are), included in the system energy.
OFF_CHIP = ("DRAM", "MainMemory")


@dataclass
class EinsumRow:
    """One line of the results table: all instances of an Einsum kind (e.g. every layer's Q proj)."""

    kind: str
    tag: str  # e.g. the head group of a banded attention Einsum
    form: str
    ranks: dict[str, int]
    instances: int
    operations: int  # MACs (softmax: elements), all instances
    energy_j: dict[str, float]
    latency_s: float
    utilisation: float  # fraction of the CIM's parallel lanes busy (spatial usage product)
    mapping: str
    actions: dict[str, float] = field(default_factory=dict)  # "component.action" -> count, all instances

    @property
    def energy_total_j(self) -> float:
        return sum(self.energy_j.values())


@dataclass
class ModelResult:
    """Everything `sparsecim run` reports, in SI units."""

    arch: str
    model: str
    seq_len: int
    batch: int
    rows: list[EinsumRow]
    area_m2: dict[str, float]
    dense_macs: int = 0  # MACs of the dense model (what "dense-equivalent" TOPS count)
    variables: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # rewrite reports (sparsity packing, attention groups)
    layers: dict[int, dict[str, float]] = field(default_factory=dict)  # per layer and Einsum kind: energy/latency/MACs

    def layer_totals(self, kinds: tuple[str, ...]) -> dict[int, dict[str, float]]:
        """Per layer: energy (J), latency (s), operations and CIM writes of the given Einsum kinds."""
        out: dict[int, dict[str, float]] = {}
        for (layer, kind), values in self.layers.items():
            if kind in kinds:
                acc = out.setdefault(layer, {"energy_J": 0.0, "latency_s": 0.0, "operations": 0.0, "cim_writes": 0.0})
                for key in acc:
                    acc[key] += values.get(key, 0.0)
        return out

    @property
    def energy_by_component_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for row in self.rows:
            for comp, e in row.energy_j.items():
                out[comp] = out.get(comp, 0.0) + e
        return out

    @property
    def energy_system_j(self) -> float:
        return sum(self.energy_by_component_j.values())

    @property
    def energy_chip_j(self) -> float:
        return sum(e for c, e in self.energy_by_component_j.items() if c not in OFF_CHIP)

    @property
    def latency_s(self) -> float:
        return sum(r.latency_s for r in self.rows)

    @property
    def macs(self) -> int:
        """MACs actually executed (after sparsity / span rewrites)."""
        return sum(r.operations for r in self.rows if r.form != "softmax")

    @property
    def dense_equivalent_ops(self) -> int:
        """2 x the dense model's MACs: the work a dense accelerator would do for the same result."""
        return 2 * (self.dense_macs or self.macs)

    @property
    def tops(self) -> float:
        return self.dense_equivalent_ops / self.latency_s / 1e12 if self.latency_s else 0.0

    @property
    def tops_per_w_chip(self) -> float:
        return self.dense_equivalent_ops / self.energy_chip_j / 1e12 if self.energy_chip_j else 0.0

    @property
    def tops_per_w_system(self) -> float:
        return self.dense_equivalent_ops / self.energy_system_j / 1e12 if self.energy_system_j else 0.0

    @property
    def area_total_m2(self) -> float:
        return sum(self.area_m2.values())

    def summary(self) -> dict:
        return {
            "arch": self.arch,
            "model": self.model,
            "seq_len": self.seq_len,
            "batch": self.batch,
            "energy_chip_J": self.energy_chip_j,
            "energy_system_J": self.energy_system_j,
            "latency_s": self.latency_s,
            "dense_equivalent_ops": self.dense_equivalent_ops,
            "executed_macs": self.macs,
            "TOPS": self.tops,
            "TOPS_per_W_chip": self.tops_per_w_chip,
            "TOPS_per_W_system": self.tops_per_w_system,
            "area_mm2": self.area_total_m2 * 1e6,
            "TOPS_per_mm2": self.tops / (self.area_total_m2 * 1e6) if self.area_total_m2 else 0.0,
        }


ProgressFn = Callable[[int, int, str], None]


def run_workload(
    arch_path: Path,
    workload: ModelWorkload,
    variables: dict | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    arch_name: str | None = None,
    jobs: int | None = None,
    skip_unsupported_softmax: bool = False,
) -> ModelResult:
    """Map every distinct Einsum of `workload` once and aggregate per Einsum kind.

    With `skip_unsupported_softmax` (comparisons with foreign designs, e.g. a lone CIM macro), a
    design that cannot run the softmax Einsums is evaluated without them and a note says so."""
    variables = dict(variables or {})
    specs = list(workload.unique_specs())
    skipped_note = None
    if skip_unsupported_softmax:
        softmax = [s for s in specs if s.form == "softmax"]
        try:
            map_all(arch_path, softmax[:1], variables, use_cache, None, 1)
        except SparsecimInputError as exc:
            specs = [s for s in specs if s.form != "softmax"]
            workload = replace(workload, einsums=[e for e in workload.einsums if e.spec.form != "softmax"])
            skipped_note = f"softmax not supported by this design, excluded: {exc}"
    costs = map_all(arch_path, specs, variables, use_cache, progress, jobs)

    rows: dict[tuple[str, str, EinsumSpec], EinsumRow] = {}
    layers: dict[tuple[int, str], dict[str, float]] = {}
    for e in workload.einsums:
        cost = costs[e.spec].scaled(e.cost_scale) if e.cost_scale != 1.0 else costs[e.spec]
        key = (e.kind, e.tag, e.spec)
        if key not in rows:
            rows[key] = EinsumRow(
                kind=e.kind,
                tag=e.tag,
                form=e.spec.form,
                ranks=e.spec.rank_sizes,
                instances=0,
                operations=0,
                energy_j={},
                latency_s=0.0,
                utilisation=_lane_utilisation(cost),
                mapping=cost.mapping,
            )
        row = rows[key]
        for name, count in cost.actions.items():
            row.actions[name] = row.actions.get(name, 0.0) + e.count * count
        per_layer = layers.setdefault((e.layer, e.kind), {"energy_J": 0.0, "latency_s": 0.0, "operations": 0.0, "cim_writes": 0.0})
        per_layer["energy_J"] += e.count * cost.energy_total_j
        per_layer["latency_s"] += e.count * cost.latency_s
        per_layer["operations"] += e.operations
        per_layer["cim_writes"] += e.count * cost.actions.get("CimArray.write", 0.0)
        row.instances += e.count
        row.operations += e.operations
        row.latency_s += e.count * cost.latency_s
        for comp, energy in cost.energy_j.items():
            row.energy_j[comp] = row.energy_j.get(comp, 0.0) + e.count * energy

    notes = list(workload.notes) + ([skipped_note] if skipped_note else [])
    try:
        area = arch_area(arch_path, variables)
    except SparsecimInputError as exc:  # e.g. an example arch without area figures
        area = {}
        notes.append(f"area unavailable: {exc}")
    return ModelResult(
        arch=arch_name or Path(arch_path).stem,
        model=workload.shape.name,
        seq_len=workload.seq_len,
        batch=workload.batch,
        rows=list(rows.values()),
        area_m2=area,
        dense_macs=workload.dense_macs,
        variables=variables,
        notes=notes,
        layers=layers,
    )


def default_jobs() -> int:
    """Worker processes for mapping distinct Einsums: SPARSECIM_JOBS, else min(2, CPUs)."""
    env = os.environ.get("SPARSECIM_JOBS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def map_all(
    arch_path: Path,
    specs: list[EinsumSpec],
    variables: dict,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
) -> dict[EinsumSpec, EinsumCost]:
    """Map each spec once; cached ones are read first, the rest run in `jobs` worker processes."""
    costs: dict[EinsumSpec, EinsumCost] = {}
    todo = []
    for spec in specs:
        cached = cached_cost(arch_path, spec, variables) if use_cache else None
        if cached is not None:
            costs[spec] = cached
        else:
            todo.append(spec)
    total = len(specs)
    if progress:
        progress(len(costs), total, "cached" if costs else "start")
    jobs = jobs or default_jobs()
    if len(todo) <= 1 or jobs == 1:
        for spec in todo:
            costs[spec] = map_einsum(arch_path, spec, variables, use_cache=use_cache)
            if progress:
                progress(len(costs), total, f"{spec.form} {spec.rank_sizes}")
        return costs
    from joblib import Parallel, delayed

    runner = Parallel(n_jobs=min(jobs, len(todo)), backend="loky", return_as="generator_unordered")
    for spec, cost in runner(delayed(_map_one)(arch_path, spec, variables, use_cache) for spec in todo):
        costs[spec] = cost
        if progress:
            progress(len(costs), total, f"{spec.form} {spec.rank_sizes}")
    return costs


def _map_one(arch_path: Path, spec: EinsumSpec, variables: dict, use_cache: bool) -> tuple[EinsumSpec, EinsumCost]:
    import accelforge as af

    af.set_n_parallel_jobs(1)  # one process per Einsum; no nested pools on small machines
    return spec, map_einsum(arch_path, spec, variables, use_cache=use_cache)


def _lane_utilisation(cost: EinsumCost) -> float:
    """Product of the spatial usages (macro x column x row): share of MAC lanes doing work."""
    if not cost.utilisation:
        return 0.0
    u = 1.0
    for value in cost.utilisation.values():
        u *= value
    return u

"""Map one Einsum onto an architecture with AccelForge's FFM mapper and read out its costs.

This is AccelForge's `map_workload_to_arch` without its side effect (it renders every chosen
mapping through Graphviz's `dot` into `mapping.svg` in the working directory). Results go through
the mapping cache (`sparsecim.mapping.cache`).

Errors: an arch file AccelForge cannot load is the user's input (`InputError`); a search that
finds no valid mapping or crashes is a `MappingError` (not the user's input).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import tempfile
from copy import deepcopy
from importlib import resources
from pathlib import Path

import accelforge as af
import yaml
from accelforge._accelerated_imports import pd
from accelforge.frontend.arch import Memory
from accelforge.mapper.FFM.main import join_pmappings, make_pmappings
from accelforge.model.main import evaluate_mapping
from accelforge.util import _fillna_and__numeric_cast

from sparsecim.errors import InputError, MappingError, one_line
from sparsecim.files import read_text
from sparsecim.mapping import cache
from sparsecim.mapping.cost import EinsumCost
from sparsecim.workload.einsums import EinsumSpec

# First search with at most this many pmapping templates (8-15x faster; on the chip's BERT shapes it
# found the same best energy-delay product as the full search, bench/bench_mapper_search.py); if it
# finds no valid mapping (e.g. activations larger than the global buffer), search all templates.
FAST_TEMPLATES = 16


def _cim_example_loader(arch_path: Path):
    """AccelForge's loader for its CiMLoop-derived CIM examples (they need their own include files,
    helper functions and a dummy main memory), or None for any other arch. It is AccelForge's own
    code, shipped with the installed package (never a user's file)."""
    root = Path(str(af.examples.arches.path)) / "compute_in_memory"
    if Path(arch_path).parent.resolve() != root.resolve():
        return None
    spec = importlib.util.spec_from_file_location("_accelforge_cim_load_spec", root / "_load_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_spec


def mapper_settings_for(arch_path: Path) -> Path | None:
    """The installed mapper-settings file of an installed arch (mappings/<arch>.yaml), if any."""
    candidate = resources.files("sparsecim.mappings") / f"{Path(arch_path).stem}.yaml"
    return Path(str(candidate)) if candidate.is_file() else None


def load_spec(arch_path: Path, einsum: EinsumSpec, variables: dict | None = None):
    """An AccelForge Spec of `arch_path` (Jinja variables applied) with `einsum` as its workload.

    Tensors too large for the chip's on-chip store (`spilled_tensors`) join the workload's `offchip`
    set, so that an arch whose off-chip memory keeps `offchip` charges their trip off chip and back."""
    spec = _load_spec(Path(arch_path), einsum, variables, frozenset())
    spilled = spilled_tensors(einsum, onchip_capacity_bits(spec))
    if spilled:
        spec = _load_spec(Path(arch_path), einsum, variables, spilled)
    return spec


def onchip_capacity_bits(spec) -> float | None:
    """Capacity [bits] of the on-chip memory that must hold an Einsum's activations whole: in the
    evaluated arch, the outermost memory of bounded size below an unbounded (off-chip) one, on each
    path from the top to a compute unit (the largest, if the paths differ). None when the arch has no
    unbounded memory above a bounded one (nothing to spill to).

    Why it is needed: each Einsum is mapped alone, and AccelForge lets the mapper put loops above the
    outermost memory that keeps a tensor, holding one tile at a time there as if a fused producer or
    consumer streamed the rest (its capacity check sees the tile only). A tensor larger than that
    memory cannot be held on chip between its producer and consumer, so it must go off chip and back.
    Uses AccelForge's own expression evaluation and flattened arch (private API; the version is pinned)."""
    try:
        name = spec.workload.einsums[0].name
        evaluated = spec._spec_eval_expressions(einsum_name=name)
        paths = list(evaluated._get_flattened_architecture(einsum_name=name))
    except Exception:  # an arch this step cannot evaluate fails with a clear error in the mapper itself
        return None
    capacities = []
    for path in paths:
        below_unbounded = False
        for node in path:
            if not isinstance(node, Memory):
                continue
            try:
                size = float(node.size)
            except (TypeError, ValueError):
                break
            if math.isinf(size):
                below_unbounded = True
            elif below_unbounded:
                capacities.append(size)
                break
    return max(capacities) if capacities else None


def spilled_tensors(einsum: EinsumSpec, capacity_bits: float | None) -> frozenset[str]:
    """The Einsum's on-chip tensors (activations, K/V) that cannot fit in `capacity_bits` even alone."""
    if capacity_bits is None:
        return frozenset()
    footprint = einsum.footprint_bits()
    return frozenset(t for t in einsum.onchip_tensors if footprint[t] > capacity_bits)


def _load_spec(arch_path: Path, einsum: EinsumSpec, variables: dict | None, spilled: frozenset[str]):
    read_text(arch_path, "architecture file")  # a missing or non-UTF-8 file is one input-error line
    cim_loader = _cim_example_loader(arch_path)
    with tempfile.TemporaryDirectory() as tmp:
        workload_file = Path(tmp) / "workload.yaml"
        workload_file.write_text(yaml.safe_dump(einsum.to_accelforge(spilled)))
        try:
            if cim_loader is not None:
                with contextlib.redirect_stdout(io.StringIO()):
                    spec = cim_loader(arch_path.stem, add_dummy_main_memory=True)
                spec.workload = af.Workload.from_yaml(str(workload_file), top_key="workload")
                spec.renames = af.Renames.from_yaml(str(workload_file), top_key="renames")
                spec.mapper.max_pmapping_templates_per_einsum = FAST_TEMPLATES
                return spec
            files = [str(arch_path), str(workload_file)]
            mapping_file = mapper_settings_for(arch_path)
            if mapping_file is not None:
                files.append(str(mapping_file))
            spec = af.Spec.from_yaml(*files, jinja_parse_data=dict(variables or {}))
        except Exception as exc:  # AccelForge raises many types for a bad spec
            raise InputError(f"cannot load architecture {arch_path.name}: {one_line(exc)}") from None
    if mapping_file is None:
        # Defaults for arches without a settings file: no loop-order exploration (it multiplies
        # search time and mostly captures sliding-window reuse, absent from transformer Einsums),
        # and the fast first search (see FAST_TEMPLATES).
        spec.mapper.explore_loop_orders = False
        spec.mapper.max_pmapping_templates_per_einsum = FAST_TEMPLATES
    return spec


def cache_file(arch_path: Path, einsum: EinsumSpec, variables: dict, cache_dir: Path | None = None) -> Path:
    """Where the cost of `einsum` on the arch with `variables` is cached."""
    arch_text = read_text(arch_path, "architecture file")
    settings = mapper_settings_for(Path(arch_path))
    mapper_text = settings.read_text() if settings else ""
    key = cache.cache_key(arch_text, variables, einsum, mapper_text)
    return (cache_dir or cache.default_cache_dir()) / f"{key}.json"


def cached_cost(arch_path: Path, einsum: EinsumSpec, variables: dict | None = None, cache_dir: Path | None = None) -> EinsumCost | None:
    """The cached cost of an Einsum, or None (an invalid entry counts as absent)."""
    return cache.read_entry(cache_file(arch_path, einsum, dict(variables or {}), cache_dir))


def map_einsum(
    arch_path: Path,
    einsum: EinsumSpec,
    variables: dict | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> EinsumCost:
    """The cost of `einsum` under its best mapping (lowest energy-delay product), cached."""
    variables = dict(variables or {})
    entry = None
    if use_cache:
        entry = cache_file(arch_path, einsum, variables, cache_dir)
        cached = cache.read_entry(entry)
        if cached is not None:
            return cached
    cost = _map_uncached(Path(arch_path), einsum, variables)
    if entry is not None:
        cache.write_entry(entry, cost)
    return cost


def _search(spec, arch_name: str, einsum: EinsumSpec):
    """Pmappings joined into full mappings; MappingError(no_valid_mapping=True) when none is valid."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            pmappings = make_pmappings(spec, print_progress=False)
    except Exception as exc:
        raise MappingError(f"AccelForge's mapper failed on {einsum.form} {einsum.rank_sizes} on {arch_name}: {one_line(exc)}") from None
    found = sum(len(group.mappings.data) for groups in pmappings.einsum2pmappings.values() for group in groups)
    if found == 0:
        raise MappingError(f"no valid mapping of {einsum.form} {einsum.rank_sizes} on {arch_name}", no_valid_mapping=True)
    try:
        with contextlib.redirect_stdout(quiet):
            return join_pmappings(pmappings, metrics=spec.mapper.metrics, require_all_einsums=False, print_progress=False)
    except Exception as exc:
        raise MappingError(f"AccelForge's mapper failed on {einsum.form} {einsum.rank_sizes} on {arch_name}: {one_line(exc)}") from None


def _map_uncached(arch_path: Path, einsum: EinsumSpec, variables: dict) -> EinsumCost:
    spec = load_spec(arch_path, einsum, variables)
    # Search options come from mappings/<arch>.yaml when it exists; the objective is fixed here:
    # energy and latency (Pareto), then the lowest energy-delay product is chosen below.
    spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.LATENCY
    try:
        mappings = _search(spec, arch_path.name, einsum)
    except MappingError as exc:
        if not exc.no_valid_mapping or spec.mapper.max_pmapping_templates_per_einsum == float("inf"):
            raise
        spec.mapper.max_pmapping_templates_per_einsum = float("inf")  # the fast search found nothing: full search
        mappings = _search(spec, arch_path.name, einsum)
    if len(mappings.data) == 0:
        raise MappingError(f"no valid mapping of {einsum.form} {einsum.rank_sizes} on {arch_path.name}", no_valid_mapping=True)
    # Several Pareto-optimal mappings (energy vs latency): take the lowest energy-delay product.
    data = mappings.data
    energy = data["Total<SEP>energy"].astype(float).values
    latency = data["Total<SEP>latency"].astype(float).values if "Total<SEP>latency" in data else energy * 0 + 1
    best = min(range(len(energy)), key=lambda i: (energy[i] * latency[i], energy[i]))
    local = deepcopy(spec)
    local.model.metrics = local.mapper.info_metrics
    mapping_obj = data.iloc[best]["Total<SEP>mapping"](_for_model=True)
    local.mapping = mapping_obj
    try:
        detail = evaluate_mapping(local, flattened_arches=mappings.flattened_arches, evaluated_specs=mappings.evaluated_specs)
    except Exception as exc:
        raise MappingError(f"AccelForge could not evaluate the chosen mapping of {einsum.form} on {arch_path.name}: {one_line(exc)}") from None
    mappings.data = _fillna_and__numeric_cast(pd.concat([detail.data]), 0)
    energy = {k: float(v) for k, v in mappings.energy(per_component=True).items()}
    leak: dict[str, float] = {}
    for (component, action), value in mappings.energy(per_component=True, per_action=True).items():
        if action == "leak":
            leak[component] = leak.get(component, 0.0) + float(value)
    comp_latency = {k: float(v) for k, v in mappings.latency(per_component=True).items()}
    actions = {f"{c}.{a}": float(v) for (c, a), v in mappings.actions(per_component=True).items() if v}
    columns = mappings.data.columns
    total_latency = float(mappings.data["Total<SEP>latency"].iloc[0]) if "Total<SEP>latency" in columns else max(comp_latency.values(), default=0.0)
    utilisation = {c.split("<SEP>")[-2]: float(mappings.data[c].iloc[0]) for c in columns if "<SEP>usage<SEP>spatial<SEP>" in c}
    stationary = _stationary_storage(mapping_obj, einsum)
    return EinsumCost(
        energy_j=energy,
        leak_energy_j=leak,
        latency_s=total_latency,
        component_latency_s=comp_latency,
        actions=actions,
        operations=einsum.operations,
        mapping=describe_mapping(mapping_obj),
        utilisation=utilisation,
        stationary_writes=actions.get(f"{stationary}.write", 0.0) if stationary else 0.0,
    )


def _stationary_storage(mapping, einsum: EinsumSpec) -> str | None:
    """The innermost memory holding the Einsum's stationary tensor (e.g. the CIM array), if any."""
    tensor = einsum.stationary_tensor
    holders = [
        node.component
        for node in getattr(mapping, "nodes", [])
        if type(node).__name__ == "Storage" and tensor in set(getattr(node, "tensors", []))
    ]
    return holders[-1] if holders else None


def describe_mapping(mapping) -> str:
    """The chosen loop nest as text, outermost first, one node per line, like Timeloop's map.txt:
    storage levels with the tensors they hold (sorted, so the text is the same on every run), temporal
    loops (`for`) and spatial fanouts (`par ... @component`) with their iteration range and tile shape.
    Each storage level indents the nodes below it."""
    lines = []
    depth = 0
    for node in getattr(mapping, "nodes", []):
        kind = type(node).__name__
        pad = "  " * depth
        if kind == "Temporal":
            lines.append(pad + " ".join(filter(None, ("for", _rank(node), _tile(node)))))
        elif kind == "Spatial":
            lines.append(pad + " ".join(filter(None, ("par", _rank(node), _tile(node), f"@{getattr(node, 'component', '?')}"))))
        elif kind in ("Storage", "Toll"):
            tensors = ", ".join(sorted(getattr(node, "tensors", [])))
            lines.append(f"{pad}{getattr(node, 'component', '?')} [{tensors}]" + (" (toll)" if kind == "Toll" else ""))
            depth += 1
        elif kind == "Compute":
            lines.append(f"{pad}{getattr(node, 'component', '?')} (compute)")
    return "\n".join(lines)


def _rank(loop) -> str:
    rank = getattr(loop, "rank_variable", "?")
    return ",".join(sorted(rank)) if isinstance(rank, (set, frozenset)) else str(rank)


def _tile(loop) -> str:
    """`in [0..N) shape=T` of a loop whose pattern the mapper fixed ('' for symbols)."""
    pattern = getattr(loop, "tile_pattern", None)
    return "" if pattern is None else pattern.as_str(with_initial_tile_shape=False)

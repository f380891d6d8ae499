"""Map one Einsum onto an architecture with AccelForge's FFM mapper and read out its costs.

This is AccelForge's `map_workload_to_arch` without its two side effects: it does not render
every chosen mapping through Graphviz's `dot` into `mapping.svg` in the working directory.
Results are cached on disk, keyed by the spec text, the Einsum and the AccelForge version.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from sparsecim.errors import SparsecimInputError
from sparsecim.workloads.einsums import EinsumSpec

CACHE_VERSION = 4
# First search with at most this many pmapping templates (8-15x faster; on the chip's BERT shapes it
# found the same best energy-delay product as the full search, bench/bench_mapper_search.py); if it
# finds no valid mapping (e.g. activations larger than the global buffer), search all templates.
FAST_TEMPLATES = 16


@dataclass
class EinsumCost:
    """Costs of one mapped Einsum (one instance)."""

    energy_j: dict[str, float]  # per component
    latency_s: float
    component_latency_s: dict[str, float]
    actions: dict[str, float]  # "component.action" -> count
    operations: int  # MACs (or elements for softmax)
    mapping: str = ""  # human-readable loop nest of the chosen mapping
    utilisation: dict[str, float] = field(default_factory=dict)  # spatial fanout usage (0..1)

    @property
    def energy_total_j(self) -> float:
        return sum(self.energy_j.values())

    def scaled(self, factor: float) -> "EinsumCost":
        return EinsumCost(
            {k: v * factor for k, v in self.energy_j.items()},
            self.latency_s * factor,
            {k: v * factor for k, v in self.component_latency_s.items()},
            {k: v * factor for k, v in self.actions.items()},
            int(self.operations * factor),
            self.mapping,
            dict(self.utilisation),
        )


def default_cache_dir() -> Path:
    """Per-user cache (never inside site-packages); override with SPARSECIM_CACHE_DIR."""
    env = os.environ.get("SPARSECIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sparsecim"


def _normalised(variables: dict) -> dict:
    """Variables as Python values ("8" from the CLI and 8 from a sweep give the same key)."""
    import ast

    out = {}
    for key, value in variables.items():
        if isinstance(value, str):
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


def _cache_key(arch_text: str, variables: dict, einsum: EinsumSpec, mapper_text: str = "") -> str:
    import accelforge

    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "accelforge": getattr(accelforge, "__version__", "?"),
            "arch": arch_text,
            "mapper": mapper_text,
            "variables": _normalised(variables),
            "einsum": asdict(einsum),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _cim_example_loader(arch_path: Path):
    """AccelForge's loader for its CiMLoop-derived CIM examples (they need their own include files,
    helper functions and a dummy main memory), or None for any other arch."""
    import importlib.util

    import accelforge as af

    root = Path(str(af.examples.arches.path)) / "compute_in_memory"
    if Path(arch_path).parent.resolve() != root.resolve():
        return None
    spec = importlib.util.spec_from_file_location("_accelforge_cim_load_spec", root / "_load_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_spec


def load_spec(arch_path: Path, einsum: EinsumSpec, variables: dict | None = None):
    """An AccelForge Spec of `arch_path` (Jinja variables applied) with `einsum` as its workload."""
    import accelforge as af

    cim_loader = _cim_example_loader(arch_path)
    if cim_loader is not None:
        with tempfile.TemporaryDirectory() as tmp:
            workload_file = Path(tmp) / "workload.yaml"
            workload_file.write_text(yaml.safe_dump(einsum.to_accelforge()))
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    spec = cim_loader(Path(arch_path).stem, add_dummy_main_memory=True)
                spec.workload = af.Workload.from_yaml(str(workload_file), top_key="workload")
                spec.renames = af.Renames.from_yaml(str(workload_file), top_key="renames")
            except Exception as exc:
                raise SparsecimInputError(f"cannot load architecture {Path(arch_path).name}: {_one_line(exc)}") from None
        spec.mapper.max_pmapping_templates_per_einsum = FAST_TEMPLATES
        return spec

    with tempfile.TemporaryDirectory() as tmp:
        workload_file = Path(tmp) / "workload.yaml"
        workload_file.write_text(yaml.safe_dump(einsum.to_accelforge()))
        files = [str(arch_path), str(workload_file)]
        mapping_file = mapper_settings_for(arch_path)
        if mapping_file is not None:
            files.append(str(mapping_file))
        try:
            spec = af.Spec.from_yaml(*files, jinja_parse_data=dict(variables or {}))
        except Exception as exc:  # AccelForge raises many types for a bad spec
            raise SparsecimInputError(f"cannot load architecture {arch_path.name}: {_one_line(exc)}") from None
    if mapping_file is None:
        # Defaults for arches without a settings file: no loop-order exploration (it multiplies
        # search time and mostly captures sliding-window reuse, absent from transformer Einsums),
        # and the fast first search (see FAST_TEMPLATES).
        spec.mapper.explore_loop_orders = False
        spec.mapper.max_pmapping_templates_per_einsum = FAST_TEMPLATES
    return spec


def mapper_settings_for(arch_path: Path) -> Path | None:
    """The installed mapper-settings file of an installed arch (mappings/<arch>.yaml), if any."""
    from importlib import resources

    candidate = resources.files("sparsecim.mappings") / f"{Path(arch_path).stem}.yaml"
    return Path(str(candidate)) if candidate.is_file() else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _cache_file(arch_path: Path, einsum: EinsumSpec, variables: dict, cache_dir: Path | None) -> Path:
    arch_text = Path(arch_path).read_text()
    settings = mapper_settings_for(Path(arch_path))
    mapper_text = settings.read_text() if settings else ""
    return (cache_dir or default_cache_dir()) / f"{_cache_key(arch_text, variables, einsum, mapper_text)}.json"


def cached_cost(arch_path: Path, einsum: EinsumSpec, variables: dict | None = None, cache_dir: Path | None = None) -> EinsumCost | None:
    """The cached cost of an Einsum, or None (a damaged entry counts as absent)."""
    path = _cache_file(arch_path, einsum, dict(variables or {}), cache_dir)
    if not path.is_file():
        return None
    try:
        return EinsumCost(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError):
        return None


def map_einsum(
    arch_path: Path,
    einsum: EinsumSpec,
    variables: dict | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> EinsumCost:
    """Search the best mapping (energy, then latency) of `einsum` on the architecture."""
    variables = dict(variables or {})
    cache_file = None
    if use_cache:
        cached = cached_cost(arch_path, einsum, variables, cache_dir)
        if cached is not None:
            return cached
        cache_file = _cache_file(arch_path, einsum, variables, cache_dir)
    cost = _map_uncached(Path(arch_path), einsum, variables)
    if cache_file is not None:
        _write_atomic(cache_file, json.dumps(asdict(cost)))
    return cost


def _map_uncached(arch_path: Path, einsum: EinsumSpec, variables: dict) -> EinsumCost:
    import accelforge as af
    from accelforge._accelerated_imports import pd
    from accelforge.mapper.FFM.main import join_pmappings, make_pmappings
    from accelforge.model.main import evaluate_mapping
    from accelforge.util import _fillna_and__numeric_cast

    spec = load_spec(arch_path, einsum, variables)
    # Search options come from mappings/<arch>.yaml when it exists; the objective is fixed here:
    # energy and latency (Pareto), then the lowest energy-delay product is chosen below.
    spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.LATENCY
    quiet = io.StringIO()
    while True:
        try:
            with contextlib.redirect_stdout(quiet):
                pmappings = make_pmappings(spec, print_progress=False)
                mappings = join_pmappings(
                    pmappings, metrics=spec.mapper.metrics, require_all_einsums=False, print_progress=False
                )
            break
        except Exception as exc:
            if "has no pmappings" in str(exc) and spec.mapper.max_pmapping_templates_per_einsum != float("inf"):
                spec.mapper.max_pmapping_templates_per_einsum = float("inf")  # full search
                continue
            raise SparsecimInputError(f"mapping failed on {arch_path.name}: {_one_line(exc)}") from None
    if len(mappings.data) == 0:
        raise SparsecimInputError(f"no valid mapping of {einsum.form} {einsum.rank_sizes} on {arch_path.name}")
    # Several Pareto-optimal mappings (energy vs latency): take the lowest energy-delay product.
    data = mappings.data
    energy = data["Total<SEP>energy"].astype(float).values
    latency = data["Total<SEP>latency"].astype(float).values if "Total<SEP>latency" in data else energy * 0 + 1
    best = min(range(len(energy)), key=lambda i: (energy[i] * latency[i], energy[i]))
    local = deepcopy(spec)
    local.model.metrics = local.mapper.info_metrics
    mapping_obj = data.iloc[best]["Total<SEP>mapping"](_for_model=True)
    local.mapping = mapping_obj
    detail = evaluate_mapping(
        local, flattened_arches=mappings.flattened_arches, evaluated_specs=mappings.evaluated_specs
    )
    mappings.data = _fillna_and__numeric_cast(pd.concat([detail.data]), 0)
    energy = {k: float(v) for k, v in mappings.energy(per_component=True).items()}
    comp_latency = {k: float(v) for k, v in mappings.latency(per_component=True).items()}
    actions = {f"{c}.{a}": float(v) for (c, a), v in mappings.actions(per_component=True).items() if v}
    columns = mappings.data.columns
    total_latency = float(mappings.data["Total<SEP>latency"].iloc[0]) if "Total<SEP>latency" in columns else max(comp_latency.values(), default=0.0)
    utilisation = {
        c.split("<SEP>")[-2]: float(mappings.data[c].iloc[0])
        for c in columns
        if "<SEP>usage<SEP>spatial<SEP>" in c
    }
    return EinsumCost(
        energy_j=energy,
        latency_s=total_latency,
        component_latency_s=comp_latency,
        actions=actions,
        operations=einsum.operations,
        mapping=_describe(mapping_obj),
        utilisation=utilisation,
    )


def _describe(mapping) -> str:
    """A compact text form of the chosen loop nest (storage nodes and loops, outermost first)."""
    parts = []
    for node in getattr(mapping, "nodes", []):
        kind = type(node).__name__
        if kind == "Temporal":
            parts.append(f"for {node.rank_variable}")
        elif kind == "Spatial":
            parts.append(f"par {getattr(node, 'rank_variable', '?')}@{getattr(node, 'component', '?')}")
        elif kind in ("Storage", "Toll"):
            parts.append(f"{getattr(node, 'component', '?')}[{','.join(getattr(node, 'tensors', []))}]")
    return " > ".join(parts)

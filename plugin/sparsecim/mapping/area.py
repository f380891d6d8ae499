"""What an architecture is, independent of the workload: the area of every component (AccelForge's
component-cost step, hwcomponents models) and the roles its components play (`ArchRoles`)."""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from accelforge.frontend.arch import Component, Compute, Memory

from sparsecim.errors import ModelError, one_line
from sparsecim.files import read_text
from sparsecim.mapping.arch import ArchRoles
from sparsecim.mapping.mapper import load_spec
from sparsecim.workload.einsums import attention_softmax, matmul

# A representative MAC Einsum: some specs enable components per Einsum (e.g. `len(All) == 3`);
# the MAC path holds the largest arrays. Components that are enabled only for other Einsums
# (the softmax unit) are added from a second, one-input Einsum.
_PROBES = (matmul(1, 64, 64, 64), attention_softmax(1, 1, 8, 8))


@dataclass(frozen=True)
class ArchFacts:
    """Area per component [m^2] (None when the arch's models give no area) and the roles."""

    area_m2: dict[str, float] | None
    roles: ArchRoles
    area_problem: str = ""


def arch_facts(arch_path: Path, variables: dict | None = None) -> ArchFacts:
    """Area and roles of the arch with `variables` applied (cached per arch text and variables)."""
    key = tuple(sorted((k, str(v)) for k, v in (variables or {}).items()))
    return _arch_facts(str(arch_path), read_text(arch_path, "architecture file"), key)


@lru_cache(maxsize=64)
def _arch_facts(arch_path: str, _text: str, variables_key: tuple) -> ArchFacts:
    variables = dict(variables_key)
    area: dict[str, float] = {}
    offchip: set[str] = set()
    computes: set[str] = set()
    classes: dict[str, str] = {}
    problem = ""
    for probe in _PROBES:
        spec = load_spec(Path(arch_path), probe, variables)
        for node in spec.arch.get_nodes_of_type(Component):
            if node.component_class:
                classes[node.name] = str(node.component_class)
        computes.update(node.name for node in spec.arch.get_nodes_of_type(Compute))
        # read before the cost models run: an arch whose area models fail still has its off-chip memory
        offchip.update(node.name for node in spec.arch.get_nodes_of_type(Memory) if is_unbounded(node.size))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                spec = spec.calculate_component_costs(energy=False, throughput=False, leak=False)
        except Exception as exc:  # hwcomponents raises a chain of model errors
            problem = one_line(exc, 200)
            continue
        try:
            for name, value in spec.arch.per_component_total_area.items():
                if value is not None and float(value) > area.get(name, 0.0):
                    area[name] = float(value)
        except (ValueError, TypeError) as exc:
            problem = one_line(exc, 200)
    roles = ArchRoles(frozenset(offchip), classes, frozenset(computes))
    return ArchFacts(None if problem and not area else area, roles, problem)


def is_unbounded(size) -> bool:
    """True for a memory of infinite size (the arch's backing store, off chip)."""
    try:
        return math.isinf(float(size))
    except (TypeError, ValueError):
        return False


def arch_area(arch_path: Path, variables: dict | None = None) -> dict[str, float]:
    """Total area (m^2) of every component; ModelError when the arch's models give none."""
    facts = arch_facts(arch_path, variables)
    if facts.area_m2 is None:
        raise ModelError(f"area of {Path(arch_path).name} unavailable: {facts.area_problem}")
    return facts.area_m2


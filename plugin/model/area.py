"""Area of an architecture per component, through AccelForge's component-cost step (hwcomponents)."""

from __future__ import annotations

import contextlib
import io
from functools import lru_cache
from pathlib import Path

from sparsecim.errors import SparsecimInputError
from sparsecim.workloads.einsums import matmul

# A representative MAC Einsum: some specs enable components per Einsum (e.g. `len(All) == 3`);
# the MAC path holds the largest arrays. Components that are enabled only for other Einsums
# (the softmax unit) are added from a second, one-input Einsum.
_PROBE_MAC = matmul(1, 64, 64, 64)


def arch_area(arch_path: Path, variables: dict | None = None) -> dict[str, float]:
    """Total area (m^2) of every component of the architecture, keyed by component name."""
    key = tuple(sorted((k, str(v)) for k, v in (variables or {}).items()))
    return dict(_arch_area(str(arch_path), Path(arch_path).read_text(), key))


@lru_cache(maxsize=64)
def _arch_area(arch_path: str, _text: str, variables_key: tuple) -> tuple:
    from sparsecim.model.mapper import load_spec
    from sparsecim.workloads.einsums import attention_softmax

    variables = dict(variables_key)
    area: dict[str, float] = {}
    for probe in (_PROBE_MAC, attention_softmax(1, 1, 8, 8)):
        spec = load_spec(Path(arch_path), probe, variables)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                spec = spec.calculate_component_costs(energy=False, throughput=False, leak=False)
        except Exception as exc:
            raise SparsecimInputError(f"area of {Path(arch_path).name} failed: {' '.join(str(exc).split())[:300]}") from None
        for name, value in spec.arch.per_component_total_area.items():
            if value is not None and float(value) > area.get(name, 0.0):
                area[name] = float(value)
    return tuple(sorted(area.items()))

"""`EinsumCost`: what mapping one Einsum costs (one instance), as the mapper measured it and the cache
stores it. Validated on every load: finite, non-negative numbers; positive total energy and latency."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, NonNegativeInt, model_validator

from sparsecim.schema import FiniteFloat, Strict


class EinsumCost(Strict):
    """Costs of one mapped Einsum (one instance)."""

    energy_j: dict[str, FiniteFloat]  # per component, leakage included
    leak_energy_j: dict[str, FiniteFloat] = Field(default_factory=dict)  # the leakage part of energy_j
    latency_s: FiniteFloat
    component_latency_s: dict[str, FiniteFloat]
    actions: dict[str, FiniteFloat]  # "component.action" -> count
    operations: NonNegativeInt  # MACs (or elements for softmax)
    mapping: str = ""  # human-readable loop nest of the chosen mapping
    utilisation: dict[str, FiniteFloat] = Field(default_factory=dict)  # spatial fanout usage (0..1)
    stationary_writes: NonNegativeFloat = 0.0  # values written into the innermost (stationary) memory

    @model_validator(mode="after")
    def _physical(self) -> "EinsumCost":
        for name, table in (("energy", self.energy_j), ("leakage", self.leak_energy_j), ("latency", self.component_latency_s), ("action count", self.actions)):
            bad = next((k for k, v in table.items() if v < 0), None)
            if bad is not None:
                raise ValueError(f"negative {name} of {bad}: {table[bad]!r}")
        if not self.energy_total_j > 0:
            raise ValueError(f"total energy must be positive, got {self.energy_total_j!r}")
        if not self.latency_s > 0:
            raise ValueError(f"latency must be positive, got {self.latency_s!r}")
        bad = next((k for k, v in self.utilisation.items() if not 0 <= v <= 1 + 1e-9), None)
        if bad is not None:
            raise ValueError(f"utilisation of {bad} outside [0, 1]: {self.utilisation[bad]!r}")
        return self

    @property
    def energy_total_j(self) -> float:
        return sum(self.energy_j.values())

    def scaled(self, factor: float) -> "EinsumCost":
        """The cost of `factor` times the work (same mapping)."""
        return EinsumCost.model_construct(
            energy_j={k: v * factor for k, v in self.energy_j.items()},
            leak_energy_j={k: v * factor for k, v in self.leak_energy_j.items()},
            latency_s=self.latency_s * factor,
            component_latency_s={k: v * factor for k, v in self.component_latency_s.items()},
            actions={k: v * factor for k, v in self.actions.items()},
            operations=int(self.operations * factor),
            mapping=self.mapping,
            utilisation=dict(self.utilisation),
            stationary_writes=self.stationary_writes * factor,
        )

    def latency_without(self, components: frozenset[str] | set[str]) -> float:
        """Latency when the given components (e.g. off chip) took no time: the slowest of the others
        (AccelForge overlaps the components of an Einsum; its latency is the slowest one)."""
        return max((v for k, v in self.component_latency_s.items() if k not in components), default=0.0)

    @property
    def lane_utilisation(self) -> float:
        """Product of the spatial usages (e.g. macro x column x row): share of compute lanes doing work."""
        if not self.utilisation:
            return 0.0
        u = 1.0
        for value in self.utilisation.values():
            u *= value
        return u

"""What a run produces: `ModelResult`, typed from end to end (rows per Einsum kind, per-layer
totals, the rewrite reports, baselines), in SI units."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sparsecim.mapping.arch import ArchRoles
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import MatrixRewrite, Scheme
from sparsecim.workload.einsums import MAC_FORMS, Kind


@dataclass
class EinsumRow:
    """One line of the results table: all instances of an Einsum kind (e.g. every layer's Q proj).

    Attributes (SI units; "all instances" = summed over the `instances` copies in all layers):
        kind: the Einsum kind (`Kind`: q_proj, qk, softmax, ffn_up, ...).
        tag: what tells rows of one kind apart, e.g. the head group of a banded attention Einsum ("" if none).
        form: the Einsum's form (a MAC form such as a matmul, or an element-wise one such as softmax).
        ranks: rank name -> size of one instance, as mapped (after the sparsity / span rewrites).
        instances: how many copies of this Einsum the model runs (layers x heads groups x ...).
        operations: MACs the hardware executes (softmax: elements), all instances.
        energy_j: energy per architecture component [J], all instances (a dict; `energy_total_j` sums it).
        latency_s: latency [s], all instances one after another.
        utilisation: fraction of the compute's parallel MAC lanes doing useful work (spatial usage product).
        mapping: the chosen loop nest, outermost first (text).
        latency_onchip_s: latency if off-chip access took no time [s], all instances.
        layers: the layers whose instances this row holds.
        actions: "component.action" -> action count, all instances.
        leak_energy_j: the leakage part of `energy_j`, per component [J].
        component_latency_s: latency each component alone would need [s], all instances (the slowest sets latency_s).
    """

    kind: Kind
    tag: str  # e.g. the head group of a banded attention Einsum
    form: str
    ranks: dict[str, int]
    instances: int
    operations: int  # MACs (softmax: elements), all instances
    energy_j: dict[str, float]  # per component, all instances
    latency_s: float
    utilisation: float  # fraction of the compute's parallel lanes busy (spatial usage product)
    mapping: str  # the chosen loop nest, outermost first
    latency_onchip_s: float = 0.0  # latency if off-chip access took no time
    layers: tuple[int, ...] = ()  # the layers whose instances this row holds
    actions: dict[str, float] = field(default_factory=dict)  # "component.action" -> count, all instances
    leak_energy_j: dict[str, float] = field(default_factory=dict)  # leakage part of energy_j
    component_latency_s: dict[str, float] = field(default_factory=dict)  # per component, all instances (the slowest sets latency_s)

    @property
    def energy_total_j(self) -> float:
        """Energy of all instances, all components (the sum of `energy_j`) [J]."""
        return sum(self.energy_j.values())

    @property
    def label(self) -> str:
        """Kind and tag, as tables show them."""
        return f"{self.kind} {self.tag}".strip()


@dataclass
class LayerTotal:
    """Energy, latency and work of one Einsum kind in one layer (all its instances there).

    Attributes:
        layer: the layer index (0 = first).
        kind: the Einsum kind (`Kind`).
        energy_j: energy of the kind's instances in this layer, all components [J].
        latency_s: their latency, one after another [s].
        operations: MACs executed (softmax: elements).
        stationary_writes: values written into the compute's stationary (CIM) storage.
    """

    layer: int
    kind: Kind
    energy_j: float = 0.0
    latency_s: float = 0.0
    operations: float = 0.0
    stationary_writes: float = 0.0  # values written into the compute's stationary (CIM) storage


@dataclass
class ModelResult:
    """Everything a run reports, in SI units. Energy splits into chip (on-chip components) and system
    (plus the off-chip components the arch names, `roles.offchip`).

    Attributes:
        arch: name of the architecture spec the run mapped onto.
        model: name of the model (a preset, or the checkpoint's name: model card title or file name).
        seq_len: tokens per sequence.
        batch: sequences per batch.
        rows: one `EinsumRow` per Einsum kind (and tag), all layers.
        area_m2: area per component [m^2] (the modelled components).
        roles: which components are the compute and which are off chip (`ArchRoles`).
        dense_macs: MACs of the dense model, what the dense-equivalent TOPS count.
        variables: the spec variables the run used (name -> value).
        notes: remarks on how the run was modelled (sparsity and span sources, skipped Einsums, ...).
        scheme: weight storage (`Scheme`; None: dense weights, no sparsity profile).
        lar: the LAR mechanisms used (`LarOptions`; None: dense attention, no span profile).
        matrix_rewrites: per weight matrix, how its sparsity was stored (`MatrixRewrite`).
        layers: per layer and Einsum kind, a `LayerTotal` (see `layer_totals`).
        baselines: the same masks under other storage schemes (scheme -> ModelResult), when asked for.

    `summary()` gives the headline numbers as a dict; `to_dataframe()` the rows as a table. Files:
    `sparsecim.api.save(result, path)` (.json, .csv or .parquet).
    """

    arch: str
    model: str
    seq_len: int
    batch: int
    rows: list[EinsumRow]
    area_m2: dict[str, float]
    roles: ArchRoles
    dense_macs: int = 0  # MACs of the dense model (what "dense-equivalent" TOPS count)
    variables: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scheme: Scheme | None = None  # weight storage (None: dense weights, no sparsity profile)
    lar: LarOptions | None = None  # LAR mechanisms (None: dense attention, no span profile)
    matrix_rewrites: list[MatrixRewrite] = field(default_factory=list)
    layers: list[LayerTotal] = field(default_factory=list)
    baselines: dict[Scheme, "ModelResult"] = field(default_factory=dict)  # same masks, other schemes

    def layer_totals(self, kinds: tuple[str, ...]) -> dict[int, LayerTotal]:
        """Per layer: the sum over the given Einsum kinds (kind of the total: the first given)."""
        out: dict[int, LayerTotal] = {}
        for total in self.layers:
            if total.kind in kinds:
                acc = out.setdefault(total.layer, LayerTotal(total.layer, Kind(kinds[0])))
                acc.energy_j += total.energy_j
                acc.latency_s += total.latency_s
                acc.operations += total.operations
                acc.stationary_writes += total.stationary_writes
        return out

    @property
    def energy_by_component_j(self) -> dict[str, float]:
        """Energy per component [J], all Einsums."""
        out: dict[str, float] = {}
        for row in self.rows:
            for comp, e in row.energy_j.items():
                out[comp] = out.get(comp, 0.0) + e
        return out

    @property
    def leak_energy_by_component_j(self) -> dict[str, float]:
        """Leakage part of the energy per component [J]."""
        out: dict[str, float] = {}
        for row in self.rows:
            for comp, e in row.leak_energy_j.items():
                out[comp] = out.get(comp, 0.0) + e
        return out

    @property
    def energy_system_j(self) -> float:
        """On-chip plus off-chip energy [J]."""
        return sum(self.energy_by_component_j.values())

    @property
    def energy_chip_j(self) -> float:
        """On-chip energy [J] (the off-chip components of the arch left out)."""
        return sum(e for c, e in self.energy_by_component_j.items() if c not in self.roles.offchip)

    @property
    def energy_offchip_j(self) -> float:
        """Energy of the off-chip components [J]."""
        return self.energy_system_j - self.energy_chip_j

    @property
    def latency_s(self) -> float:
        """End-to-end latency [s]: the Einsums run one after another."""
        return sum(r.latency_s for r in self.rows)

    @property
    def latency_onchip_s(self) -> float:
        """Latency excluding off-chip access [s] (each Einsum as fast as its on-chip components allow)."""
        return sum(r.latency_onchip_s for r in self.rows)

    @property
    def macs(self) -> int:
        """MACs actually executed (after sparsity / span rewrites)."""
        return sum(r.operations for r in self.rows if r.form in MAC_FORMS)

    @property
    def dense_equivalent_ops(self) -> int:
        """2 x the dense model's MACs: the work a dense accelerator would do for the same result."""
        return 2 * (self.dense_macs or self.macs)

    @property
    def tokens(self) -> int:
        """Tokens processed: seq_len x batch."""
        return self.seq_len * self.batch

    @property
    def tops(self) -> float:
        """Dense-equivalent tera-operations per second."""
        return self.dense_equivalent_ops / self.latency_s / 1e12 if self.latency_s else 0.0

    @property
    def tops_per_w_chip(self) -> float:
        """Dense-equivalent tera-operations per joule of on-chip energy (TOPS/W, chip)."""
        return self.dense_equivalent_ops / self.energy_chip_j / 1e12 if self.energy_chip_j else 0.0

    @property
    def tops_per_w_system(self) -> float:
        """Dense-equivalent tera-operations per joule of system energy (TOPS/W, on- and off-chip)."""
        return self.dense_equivalent_ops / self.energy_system_j / 1e12 if self.energy_system_j else 0.0

    @property
    def area_total_m2(self) -> float:
        """Area of the modelled components [m^2]."""
        return sum(self.area_m2.values())

    def summary(self) -> dict:
        """The headline numbers (SI units; area in mm2)."""
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

    def to_dataframe(self) -> pd.DataFrame:
        """One row per Einsum row (`rows`), as a pandas DataFrame: the run's identity (arch, model,
        seq_len, batch, scheme), the Einsum (einsum label, kind, tag, layers as "first-last" text,
        instances, operations), its totals (energy_J, latency_s, latency_onchip_s, utilisation), its
        energy per component (energy_<component>_J, 0 where a component takes no part) and the spec
        variables (var_<name>, as text). SI units, all instances of a row summed."""
        components = sorted(self.energy_by_component_j)
        records = []
        for r in self.rows:
            record = {"arch": self.arch, "model": self.model, "seq_len": self.seq_len, "batch": self.batch,
                      "scheme": None if self.scheme is None else str(self.scheme), "einsum": r.label,
                      "kind": str(r.kind), "tag": r.tag, "layers": _layer_span(r.layers), "instances": r.instances,
                      "operations": r.operations, "energy_J": r.energy_total_j, "latency_s": r.latency_s,
                      "latency_onchip_s": r.latency_onchip_s, "utilisation": r.utilisation}
            record.update({f"energy_{c}_J": r.energy_j.get(c, 0.0) for c in components})
            record.update({f"var_{k}": str(v) for k, v in sorted(self.variables.items())})
            records.append(record)
        return pd.DataFrame(records)


def _layer_span(layers: tuple[int, ...]) -> str:
    """Layers as short text: "0-11" for a run of consecutive layers, else "0,2,5"."""
    if not layers:
        return ""
    ordered = sorted(set(layers))
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))

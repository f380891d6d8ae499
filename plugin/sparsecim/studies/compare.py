"""Evaluate one workload on a set of designs, in one run: the chip, its ablations, a block-sparse CIM,
AccelForge's own example architectures (loaded from the installed package) and user arch files.

Technology differs between designs: every row carries raw numbers and, where the design's node is
known, energy and area scaled to 28 nm with hwcomponents' technology scaling (Stillmaker & Baas
factors). All designs run the workload at 8 bit (the Einsums carry 8-bit values). Designs that
cannot run the workload are returned with the reason instead of a result.

Like with like (docs/compare.md):

* scope, read from the arch's components: "system" when the arch models an off-chip memory (an
  unbounded memory with a cost model), "chip" when it models on-chip buffers but no off-chip memory,
  "macro" when its only modelled memory is the compute array itself (the CiMLoop-derived CIM examples:
  their backing store is a zero-cost `Dummy`). Chip energy is reported for every design; system energy
  only where the off-chip memory is modelled (elsewhere it is missing, not equal to the chip's).
* bottleneck: per Einsum, the component whose latency sets the Einsum's latency, classed as compute
  (compute units and the array that holds the stationary operand right above them: a CIM array computes
  where it stores), off-chip bandwidth (unbounded memories) or on-chip bandwidth (every other memory and
  data path: buffers, drivers, converters, routing); summed over the model, the largest class is the
  design's bottleneck.
* spans: the LAR engine needs span profiles. Without `spans` in the request, the chip's designs get the
  published default (uniform span 32 for encoders, as in the bert-glue case; 83 for decoders, as in
  gpt2-enwik8) and every outcome says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from accelforge.frontend.arch import Component, Compute, Memory
from hwcomponents.scaling import tech_node_area, tech_node_energy

from sparsecim.attention.profile import SpanProfile
from sparsecim.cases import CASES
from sparsecim.errors import InputError, SparsecimError, one_line
from sparsecim.files import read_text
from sparsecim.mapping.arch import find_arch
from sparsecim.mapping.area import is_unbounded
from sparsecim.mapping.mapper import load_spec
from sparsecim.mapping.result import ModelResult
from sparsecim.pipeline import evaluate, prepare
from sparsecim.request import DEFAULT_ARCH, RunRequest
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme
from sparsecim.workload.einsums import matmul
from sparsecim.workload.shapes import TransformerShape

CHIP = DEFAULT_ARCH
TARGET_NODE = 28e-9

# Nodes of AccelForge examples whose YAML does not state one (source in the comment).
KNOWN_NODES = {
    "tpu_v4i": 7e-9,  # TPU v4i, ISCA 2023: 7 nm
    "nvdla": 7e-9,  # its YAML reuses the TPU v4i paper's energies (7 nm)
}
EXAMPLE_ARCHES = ("simba", "eyeriss", "tpu_v4i", "nvdla")
CIM_EXAMPLES = ("wang_vlsi_2022", "sinangil_jssc_2021", "colonnade_jssc_2021", "jia_jssc_2020")

SCOPES = ("macro", "chip", "system")
BOUNDS = ("compute", "on-chip bandwidth", "off-chip bandwidth")


@dataclass(frozen=True)
class Design:
    """One design of a comparison: an arch plus how the sparsity/span features are used."""

    name: str
    arch: str  # installed name, accelforge example name, or a YAML path
    scheme: Scheme = Scheme.DENSE  # weight storage
    use_sparsity: bool = False  # rewrite the weight matmuls from the sparsity profile
    use_spans: bool = False
    variables: tuple[tuple[str, object], ...] = ()  # spec variables (typed: a string "False" is true in Jinja)
    note: str = ""


@dataclass(frozen=True)
class DesignShape:
    """What a design's arch components say about it (read from the parsed arch, not from names).

    scope: "system", "chip" or "macro" (module docstring); scope_reason: why, in words.
    offchip: the unbounded memories (the backing store); modelled_offchip: those with a cost model.
    compute: compute units and the memory directly above each (its stationary operand, a CIM array)."""

    scope: str
    scope_reason: str
    offchip: frozenset[str] = frozenset()
    modelled_offchip: frozenset[str] = frozenset()
    compute: frozenset[str] = frozenset()

    def bound_of(self, component: str) -> str:
        """The latency class a component's bound belongs to (one of `BOUNDS`)."""
        if component in self.offchip:
            return "off-chip bandwidth"
        return "compute" if component in self.compute else "on-chip bandwidth"


@dataclass
class DesignOutcome:
    design: Design
    tech_node: float | None
    result: ModelResult | None = None
    error: str | None = None
    scaled_energy_factor: float | None = None
    scaled_area_factor: float | None = None
    extra: dict = field(default_factory=dict)
    shape: DesignShape | None = None
    spans_source: str = ""  # where the spans of this design came from ("" when it runs without spans)

    @property
    def latency_bounds_s(self) -> dict[str, float]:
        """Latency [s] per bound class: each Einsum's latency counted under the class of the component
        that sets it (the slowest one)."""
        out = dict.fromkeys(BOUNDS, 0.0)
        if self.result is None or self.shape is None:
            return out
        for row in self.result.rows:
            latencies = row.component_latency_s
            if not latencies:
                continue
            out[self.shape.bound_of(max(latencies, key=latencies.get))] += row.latency_s
        return out

    @property
    def bottleneck(self) -> str | None:
        """The bound class holding most of the latency (None when the design did not run)."""
        bounds = self.latency_bounds_s
        total = sum(bounds.values())
        return max(bounds, key=bounds.get) if total > 0 else None

    @property
    def runs_softmax(self) -> bool:
        """Whether the design ran the softmax Einsums (designs without a softmax path run without)."""
        return self.result is not None and any(r.form == "softmax" for r in self.result.rows)


def chip_designs() -> list[Design]:
    off = (("butterfly_enabled", False),)
    no_lar = (("lar_enabled", False),)
    return [
        Design("chip", CHIP, Scheme.CHIP, True, True, (), "ISSCC 2023 16.2 as modelled"),
        Design("chip-no-skipper", CHIP, Scheme.DENSE, True, True, off, "weights stored dense, butterfly absent"),
        Design("chip-no-LAR", CHIP, Scheme.CHIP, True, False, no_lar, "dense attention, LAR parts absent"),
        Design("chip-both-off", CHIP, Scheme.DENSE, True, False, off + no_lar, "given the masks, uses neither engine"),
        Design("dense-CIM", CHIP, Scheme.DENSE, False, False, off + no_lar, "the same macros without either engine, dense workload"),
        Design("block-sparse-CIM", CHIP, Scheme.BLOCK_SKIP, True, False, off + no_lar, "prior-art style: all-zero blocks skipped"),
    ]


def default_designs() -> list[Design]:
    designs = chip_designs()
    designs += [Design(name, name, note="AccelForge example (dense)") for name in EXAMPLE_ARCHES]
    designs += [Design(name, name, note="AccelForge CIM example (dense)") for name in CIM_EXAMPLES]
    return designs


def tech_node_of(arch_path: Path, name: str) -> float | None:
    """The design's technology node: `tech_node: X` in its YAML, else the known table, else None."""
    if name in KNOWN_NODES:
        return KNOWN_NODES[name]
    text = read_text(arch_path, "architecture file")
    found = re.findall(r"tech_node\s*[:=|(]\s*(?:default\()?\s*([0-9.]+e-?[0-9]+)", text)
    return float(found[0]) if found else None


def _factors(node: float | None) -> tuple[float | None, float | None]:
    if node is None:
        return None, None
    if abs(node - TARGET_NODE) < 1e-12:
        return 1.0, 1.0
    return tech_node_energy(TARGET_NODE, node), tech_node_area(TARGET_NODE, node)


def published_default_spans(shape: TransformerShape, seq_len: int) -> SpanProfile:
    """The chip's published span for a workload of this kind: uniform span 32 (window 16) for encoders
    (case bert-glue), 83 (window 41) for decoders (case gpt2-enwik8), windows clamped to seq_len - 1."""
    case = CASES["gpt2-enwik8" if shape.causal else "bert-glue"]
    return replace(case, seq_len=seq_len).spans_for(shape)


_SHAPES: dict[tuple, DesignShape] = {}


def design_shape(arch_path: Path, variables: dict | None = None) -> DesignShape:
    """Scope and latency classes of an arch's components (cached per arch text and variables)."""
    variables = dict(variables or {})
    key = (str(arch_path), read_text(arch_path, "architecture file"), tuple(sorted((k, repr(v)) for k, v in variables.items())))
    if key not in _SHAPES:
        _SHAPES[key] = _read_shape(Path(arch_path), variables)
    return _SHAPES[key]


def _is_dummy(node) -> bool:
    return str(node.component_class or "").lower() == "dummy"


def _read_shape(arch_path: Path, variables: dict) -> DesignShape:
    spec = load_spec(arch_path, matmul(1, 64, 64, 64), variables)
    offchip, modelled_offchip, compute, onchip_memories = set(), set(), set(), []
    above = None  # the memory seen last (outermost first): the one directly above the next compute
    for node in spec.arch.get_nodes_of_type(Component):
        if isinstance(node, Memory):
            if is_unbounded(node.size):
                offchip.add(node.name)
                if not _is_dummy(node):
                    modelled_offchip.add(node.name)
                continue
            above = node
            if not _is_dummy(node):
                onchip_memories.append(node.name)
        elif isinstance(node, Compute):
            compute.add(node.name)
            # the stationary operand's array right above a compute unit (a CIM array computes where it stores)
            if above is not None and str(node_keep(above)).strip() == "weight":
                compute.add(above.name)
    if modelled_offchip:
        scope, reason = "system", f"models off-chip memory ({', '.join(sorted(modelled_offchip))})"
    elif len(onchip_memories) >= 2:
        scope, reason = "chip", f"on-chip memories ({', '.join(onchip_memories)}), no modelled off-chip memory"
    else:
        scope, reason = "macro", f"only the compute array ({', '.join(onchip_memories) or 'none'}) is modelled: no buffers, no off-chip memory"
    return DesignShape(scope, reason, frozenset(offchip), frozenset(modelled_offchip), frozenset(compute))


def node_keep(node) -> str:
    """The `keep` expression of a memory's tensors (text)."""
    tensors = getattr(node, "tensors", None)
    return str(getattr(tensors, "keep", "")) if tensors is not None else ""


def run_compare(request: RunRequest, designs: list[Design], progress=None, jobs=None) -> list[DesignOutcome]:
    """Evaluate `request`'s workload (with its sparsity and span profiles) on every design. Without
    spans in the request, designs that use spans get the chip's published default (`published_default_spans`)."""
    shipped = {d.arch for d in default_designs()}
    for design in designs:  # an arch the user named must exist and be readable: an input error before any work
        if design.arch not in shipped:
            read_text(find_arch(design.arch)[1], "architecture file")
    base = prepare(request.with_changes(arch=CHIP))
    spans, spans_source = base.spans, "given"
    if spans is None and any(d.use_spans for d in designs):
        spans = published_default_spans(base.shape, base.workload.seq_len)
        spans_source = f"published default: {spans.text_source} (no spans given)"
    elif spans is not None:
        spans_source = spans.text_source or "given span profile"
    outcomes = []
    for design in designs:
        try:
            arch_name, arch_path = find_arch(design.arch)
        except InputError as exc:
            outcomes.append(DesignOutcome(design, None, error=str(exc)))
            continue
        node = tech_node_of(arch_path, arch_name)
        e_factor, a_factor = _factors(node)
        outcome = DesignOutcome(design, node, scaled_energy_factor=e_factor, scaled_area_factor=a_factor,
                                spans_source=spans_source if design.use_spans else "")
        try:
            variables = {**dict(request.variables if arch_name == CHIP else {}), **dict(design.variables)}
            prepared = replace(
                base,
                arch_name=arch_name,
                arch_path=arch_path,
                variables=variables,
                sparsity=base.sparsity if design.use_sparsity else None,
                spans=spans if design.use_spans else None,
            )
            result = evaluate(
                prepared, design.scheme, LarOptions(), progress=progress, jobs=jobs, skip_unsupported_softmax=arch_name != CHIP
            )
            outcome.shape = design_shape(arch_path, result.variables)
            outcome.result = result
        except SparsecimError as exc:
            outcome.error = one_line(exc)
        outcomes.append(outcome)
    return outcomes


def outcome_notes(o: DesignOutcome) -> list[str]:
    """Everything a reader should know about a row, in full: the design, how it ran, what is missing."""
    notes = [o.design.note] if o.design.note else []
    if o.shape is not None:
        notes.append(f"scope {o.shape.scope}: {o.shape.scope_reason}")
    if o.spans_source:
        notes.append(f"spans: {o.spans_source}")
    if o.result is not None:
        notes += [n for n in o.result.notes if n not in notes]
    return notes


def outcome_row(o: DesignOutcome, tokens: int) -> dict:
    """One table row (SI units). Missing quantities are None (empty in CSV, null in JSON), never 0:
    system energy where no off-chip memory is modelled, area where the arch's models give none,
    scaled columns where the node is unknown."""
    row = {
        "design": o.design.name,
        "arch": o.design.arch,
        "scope": None if o.shape is None else o.shape.scope,
        "tech_nm": None if o.tech_node is None else round(o.tech_node * 1e9, 1),
        "error": o.error or "",
    }
    if o.result is None:
        row["notes"] = "; ".join(outcome_notes(o))
        return row
    r = o.result
    s = r.summary()
    system = o.shape is not None and o.shape.scope == "system"
    has_area = bool(r.area_m2)
    bounds = o.latency_bounds_s
    row.update(
        bottleneck=o.bottleneck,
        bottleneck_share=bounds[o.bottleneck] / s["latency_s"] if o.bottleneck and s["latency_s"] else None,
        runs_softmax=o.runs_softmax,
        spans=o.spans_source,
        energy_chip_J=s["energy_chip_J"],
        energy_system_J=s["energy_system_J"] if system else None,
        chip_J_per_token=s["energy_chip_J"] / tokens,
        system_J_per_token=s["energy_system_J"] / tokens if system else None,
        latency_s=s["latency_s"],
        latency_onchip_s=r.latency_onchip_s,
        latency_compute_bound_s=bounds["compute"],
        latency_onchip_bound_s=bounds["on-chip bandwidth"],
        latency_offchip_bound_s=bounds["off-chip bandwidth"],
        TOPS=s["TOPS"],
        TOPS_per_W_chip=s["TOPS_per_W_chip"],
        TOPS_per_W_system=s["TOPS_per_W_system"] if system else None,
        area_mm2=s["area_mm2"] if has_area else None,
        dense_equivalent_ops=s["dense_equivalent_ops"],
        executed_macs=s["executed_macs"],
        energy_chip_J_at_28nm=None,
        TOPS_per_W_chip_at_28nm=None,
        area_mm2_at_28nm=None,
    )
    if o.scaled_energy_factor is not None:
        row["energy_chip_J_at_28nm"] = s["energy_chip_J"] * o.scaled_energy_factor
        row["TOPS_per_W_chip_at_28nm"] = s["TOPS_per_W_chip"] / o.scaled_energy_factor
        row["area_mm2_at_28nm"] = s["area_mm2"] * o.scaled_area_factor if has_area else None
    row["notes"] = "; ".join(outcome_notes(o))
    for comp, energy in r.energy_by_component_j.items():
        row[f"energy_{comp}_J"] = energy
    return row

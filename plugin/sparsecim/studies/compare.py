"""Evaluate one workload on a set of designs, in one run: the chip, its ablations, a block-sparse CIM,
AccelForge's own example architectures (loaded from the installed package) and user arch files.

Technology differs between designs: every row carries raw numbers and, where the design's node is
known, energy and area scaled to 28 nm with hwcomponents' technology scaling (Stillmaker & Baas
factors). All designs run the workload at 8 bit (the Einsums carry 8-bit values). Designs that
cannot run the workload are returned with the reason instead of a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from hwcomponents.scaling import tech_node_area, tech_node_energy

from sparsecim.errors import InputError, SparsecimError, one_line
from sparsecim.files import read_text
from sparsecim.mapping.arch import find_arch
from sparsecim.mapping.result import ModelResult
from sparsecim.pipeline import evaluate, prepare
from sparsecim.request import DEFAULT_ARCH, RunRequest
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme

CHIP = DEFAULT_ARCH
TARGET_NODE = 28e-9

# Nodes of AccelForge examples whose YAML does not state one (source in the comment).
KNOWN_NODES = {
    "tpu_v4i": 7e-9,  # TPU v4i, ISCA 2023: 7 nm
    "nvdla": 7e-9,  # its YAML reuses the TPU v4i paper's energies (7 nm)
}
EXAMPLE_ARCHES = ("simba", "eyeriss", "tpu_v4i", "nvdla")
CIM_EXAMPLES = ("wang_vlsi_2022", "sinangil_jssc_2021", "colonnade_jssc_2021", "jia_jssc_2020")


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


@dataclass
class DesignOutcome:
    design: Design
    tech_node: float | None
    result: ModelResult | None = None
    error: str | None = None
    scaled_energy_factor: float | None = None
    scaled_area_factor: float | None = None
    extra: dict = field(default_factory=dict)


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


def run_compare(request: RunRequest, designs: list[Design], progress=None, jobs=None) -> list[DesignOutcome]:
    """Evaluate `request`'s workload (with its sparsity and span profiles) on every design."""
    shipped = {d.arch for d in default_designs()}
    for design in designs:  # an arch the user named must exist and be readable: an input error before any work
        if design.arch not in shipped:
            read_text(find_arch(design.arch)[1], "architecture file")
    base = prepare(request.with_changes(arch=CHIP))
    outcomes = []
    for design in designs:
        try:
            arch_name, arch_path = find_arch(design.arch)
        except InputError as exc:
            outcomes.append(DesignOutcome(design, None, error=str(exc)))
            continue
        node = tech_node_of(arch_path, arch_name)
        e_factor, a_factor = _factors(node)
        outcome = DesignOutcome(design, node, scaled_energy_factor=e_factor, scaled_area_factor=a_factor)
        try:
            variables = {**dict(request.variables if arch_name == CHIP else {}), **dict(design.variables)}
            prepared = replace(
                base,
                arch_name=arch_name,
                arch_path=arch_path,
                variables=variables,
                sparsity=base.sparsity if design.use_sparsity else None,
                spans=base.spans if design.use_spans else None,
            )
            outcome.result = evaluate(
                prepared, design.scheme, LarOptions(), progress=progress, jobs=jobs, skip_unsupported_softmax=arch_name != CHIP
            )
        except SparsecimError as exc:
            outcome.error = one_line(exc)
        outcomes.append(outcome)
    return outcomes


def outcome_row(o: DesignOutcome, tokens: int) -> dict:
    """One table row (SI units); scaled columns only where the node is known."""
    row = {"design": o.design.name, "arch": o.design.arch, "tech_nm": None if o.tech_node is None else round(o.tech_node * 1e9, 1), "error": o.error or ""}
    if o.result is None:
        return row
    s = o.result.summary()
    row.update(
        energy_system_J=s["energy_system_J"],
        energy_chip_J=s["energy_chip_J"],
        energy_per_token_J=s["energy_system_J"] / tokens,
        latency_s=s["latency_s"],
        TOPS=s["TOPS"],
        TOPS_per_W_chip=s["TOPS_per_W_chip"],
        TOPS_per_W_system=s["TOPS_per_W_system"],
        area_mm2=s["area_mm2"],
        dense_equivalent_ops=s["dense_equivalent_ops"],
        executed_macs=s["executed_macs"],
    )
    if o.scaled_energy_factor is not None:
        row["energy_chip_J_at_28nm"] = s["energy_chip_J"] * o.scaled_energy_factor
        row["TOPS_per_W_chip_at_28nm"] = s["TOPS_per_W_chip"] / o.scaled_energy_factor
        row["area_mm2_at_28nm"] = s["area_mm2"] * o.scaled_area_factor
    for comp, energy in o.result.energy_by_component_j.items():
        row[f"energy_{comp}_J"] = energy
    return row

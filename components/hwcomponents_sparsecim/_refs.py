"""Reference characterisations (28 nm, 0.9 V) of circuit blocks from installed tools.

NeuroSIM (hwcomponents_neurosim) and Aladdin (hwcomponents_library) blocks are evaluated once
per parameter set and cached in-process (functools.lru_cache). NeuroSIM runs an executable on
the first query of a configuration (about 10-20 ms; it also caches results on disk).

Normalisation to the reference corner
-------------------------------------
* NeuroSIM answers a 28 nm query by interpolating its 22 nm and 32 nm runs; its PTM LP
  supplies there are 0.85 V and 0.90 V (Technology.cpp), so the answer corresponds to
  0.88 V. Energy, delay and leakage are moved to 0.9 V with the shared voltage helpers.
  NeuroSIM's energy does not depend on the cycle period (it is not written to its config).
* Aladdin data are 40 nm characterisations at 1 GHz (hwcomponents_library aladdin.py); their
  supply is not stated and is assumed 0.9 V. They are scaled 40 nm -> 28 nm with the same
  Stillmaker-Baas factors as everything else; their 1 ns cycle is taken as the block delay.
  Their leakage is NOT used: Aladdin's library leaks about 150x more per area than the
  NeuroSIM LP logic (80 uW over 6350 um^2 for the 32-bit multiplier, vs 1.5 nW over 19 um^2
  for NeuroSIM's 8-bit adder), so Aladdin blocks leak area x NeuroSIM LP leakage density,
  keeping one device flavour (low power, as in NeuroSIM and the CACTI itrs-lstp cells) for
  the whole chip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hwcomponents.scaling import tech_node_area, tech_node_latency

from ._scaling import (
    REF_TECH_NODE,
    REF_VOLTAGE,
    tech_energy_scale,
    voltage_delay_scale,
    voltage_energy_scale,
    voltage_leak_scale,
)

NEUROSIM_VOLTAGE_28NM = 0.88
"""Supply [V] implied by NeuroSIM's 28 nm interpolation (0.85 V at 22 nm, 0.90 V at 32 nm)."""
ALADDIN_TECH_NODE = 40e-9
ALADDIN_VOLTAGE = REF_VOLTAGE  # assumed, see module docstring
ALADDIN_CYCLE = 1e-9


@dataclass(frozen=True)
class BlockRef:
    """One block at 28 nm / 0.9 V: energy per operation [J], area [m^2], leakage [W], delay [s]."""

    energy: float
    area: float
    leak_power: float
    delay: float

    def times(self, factor: float) -> "BlockRef":
        """The same block scaled by `factor` in energy, area and leakage (delay unchanged)."""
        return BlockRef(self.energy * factor, self.area * factor, self.leak_power * factor, self.delay)


@lru_cache(maxsize=None)
def neurosim_block(kind: str, **params: int) -> BlockRef:
    """NeuroSIM block `kind` (AdderTree, ShiftAdd, FlipFlop, Mux, Adder, NORGate) at 28 nm, 0.9 V."""
    import hwcomponents_neurosim as neurosim

    cls = getattr(neurosim, kind)
    block = cls(tech_node=REF_TECH_NODE, cycle_period=10e-9, **params)
    cost = block.read()
    v_ns = NEUROSIM_VOLTAGE_28NM
    return BlockRef(
        energy=cost.energy * voltage_energy_scale(REF_VOLTAGE, v_ns),
        area=block.area,
        leak_power=block.leak_power * voltage_leak_scale(REF_VOLTAGE, v_ns),
        delay=cost.latency * voltage_delay_scale(REF_VOLTAGE, v_ns),
    )


@lru_cache(maxsize=None)
def aladdin_block(kind: str, **params: int) -> BlockRef:
    """Aladdin block `kind` (AladdinAdder, AladdinMultiplier, AladdinComparator,
    AladdinRegister) built at its native 40 nm, then scaled to 28 nm / 0.9 V (leakage from
    area, see module docstring)."""
    import hwcomponents_library as library

    cls = getattr(library, kind)
    block = cls(tech_node=ALADDIN_TECH_NODE, **params)
    cost = block.read()
    area = block.area * tech_node_area(REF_TECH_NODE, ALADDIN_TECH_NODE)
    to_ref = tech_energy_scale(REF_TECH_NODE, ALADDIN_TECH_NODE)
    return BlockRef(
        energy=cost.energy * to_ref * voltage_energy_scale(REF_VOLTAGE, ALADDIN_VOLTAGE),
        area=area,
        leak_power=area * logic_leak_density(),
        delay=ALADDIN_CYCLE * tech_node_latency(REF_TECH_NODE, ALADDIN_TECH_NODE),
    )


@lru_cache(maxsize=None)
def logic_leak_density() -> float:
    """Leakage per area [W/m^2] of NeuroSIM 28 nm LP logic (8-bit adder), used for custom
    logic (in-cell gates, transmission gates) whose leakage no tool reports."""
    adder = neurosim_block("Adder", n_bits=8)
    return adder.leak_power / adder.area


@lru_cache(maxsize=None)
def latch_bit() -> BlockRef:
    """One latch bit: half of a NeuroSIM D flip-flop bit (a master-slave flip-flop is two
    latches), for energy per clocked write, area and leakage."""
    return neurosim_block("FlipFlop", n_bits=1).times(0.5)

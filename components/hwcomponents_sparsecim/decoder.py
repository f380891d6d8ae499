"""BFLY decoder: from a group's weight bit mask to the switch settings of the butterfly that
compacts the kept inputs, in order, onto the first outputs (ISSCC 2023 16.2 mechanism figure)."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._device import (
    CELL_ROW_HEIGHT,
    GATE_PITCH,
    MIN_WIDTH,
    PN_RATIO,
    drain_cap,
    fo4_delay,
    gate_cap,
    on_resistance,
    switching_energy,
    wire_cap,
)
from ._refs import logic_leak_density, neurosim_block
from ._scaling import check_power_of_two

NAND2_PER_XOR2 = 4
"""An XOR2 built from four NAND2 gates (textbook construction)."""
NAND2_PER_THERMOMETER_OUTPUT = 2
"""One output of the recursive thermometer decoder, T[p] = b_hi AND T'[p] OR ..., as an AND-OR
(AO21) in NAND-NAND form: two NAND2 (the complemented input comes from the previous level)."""
WRITE_DRIVER_WIDTH_N = 4 * MIN_WIDTH
"""NMOS width of the 10T array's write-driver input that a setting wire ends on (the same 4x
minimum device as the bit-cell periphery, cim_macro.BITLINE_PERIPHERY_CAP; assumed)."""


def brent_kung_levels(n_lanes: int) -> list[list[tuple[int, int]]]:
    """The Brent-Kung parallel-prefix network over n_lanes inputs, level by level.

    Each operation (dst, src) is x[dst] += x[src]; after all levels x[i] = sum of inputs 0..i
    (inclusive prefix). Up-sweep: at level d, x[i] += x[i - 2^d] for i = 2^(d+1) - 1, step
    2^(d+1); down-sweep: at level d (from log2 N - 2 down to 0), x[i] += x[i - 2^d] for
    i = 3 * 2^d - 1, step 2^(d+1). 2N - 2 - log2 N operations in 2 log2 N - 1 levels
    (Brent & Kung, IEEE Trans. Computers C-31(3):260-264, 1982)."""
    stages = int(math.log2(n_lanes))
    levels = []
    for d in range(stages):
        step, span = 2 ** (d + 1), 2**d
        levels.append([(i, i - span) for i in range(step - 1, n_lanes, step)])
    for d in range(stages - 2, -1, -1):
        step, span = 2 ** (d + 1), 2**d
        levels.append([(i, i - span) for i in range(3 * span - 1, n_lanes, step)])
    return [level for level in levels if level]


def _prefix_adder_widths(n_lanes: int) -> list[list[int]]:
    """Operand width [bits] of every adder of the popcount network, level by level: each adder
    is as wide as its wider operand (the largest count it can hold); the carry-out is the
    result's extra bit, so the last adders are log2(N) + 1 bits wide at their output."""
    largest = [1] * n_lanes  # largest value each node can hold (1-bit mask inputs)
    widths = []
    for level in brent_kung_levels(n_lanes):
        widths.append([max(largest[d], largest[s]).bit_length() for d, s in level])
        for d, s in level:
            largest[d] += largest[s]
    return widths


def _nand2_switch_cap() -> float:
    """Capacitance [F] switched when a NAND2 output toggles: its output drains (series NMOS
    stack 2x minimum, two minimum-drive PMOS), one NAND2 input of fan-out and a local wire
    three gate pitches long (assumed)."""
    nmos, pmos = 2 * MIN_WIDTH, PN_RATIO * MIN_WIDTH
    return drain_cap(nmos) + 2 * drain_cap(pmos) + gate_cap(nmos + pmos) + wire_cap(3 * GATE_PITCH)


class ButterflyDecoder(_SparsecimModel):
    """The BFLY decoder of an `n_lanes`-input butterfly zero skipper.

    Function (mechanism figure, "Butterfly Decoder"): it reads the N-bit weight bit mask of one
    input group and forms the prefix popcount PP_i = PP_(i-1) + mask_i; a kept input i goes to
    output PP_i - 1. Stage s (s = 0 .. log2 N - 1, least-significant address bit first, i.e.
    stage 0 pairs neighbouring lanes, as in the figure) is set so that the switch carrying
    kept input i is crossed iff bit s of (i XOR (PP_i - 1)) is 1. The chip generates the same
    settings per block ("left-rotation and complement-on-warp", LRCW): in the aligned block of
    2^(s+1) lanes starting at lane L, with b = PP_(L + 2^s - 1) (the count at the end of the
    block's lower half), the switch at offset p (0 <= p < 2^s) is crossed iff
    NOT (b_s XOR [p < b mod 2^s]); LRCW(0..0, b mod 2^(s+1)) is that 2^s-bit vector (a twisted-
    ring rotation of zeros whose wrapped bit is complemented). Both agree on every switch a
    kept input passes (the rest are idle, any setting), for every mask: tests/components/
    test_decoder_rule.py. Settings are held by the 10T cells that drive the TGs; writing them
    is CimBitcellArray(transistors=10).write and the TG gate re-charge is
    ButterflyZeroSkipper(config_bits_per_switch=0).configure, both outside this model.

    Hardware per `decode` (one group), at 28 nm / 0.9 V:
    * prefix popcount: a Brent-Kung parallel-prefix network of 2N - 2 - log2 N adders, each
      as wide as its wider operand (1 .. log2 N bits, carry-out giving the log2 N + 1-bit
      total), NeuroSIM Adder(n_bits) for energy, area, leakage and delay. Chosen over a ripple
      chain (N - 1 adders in series: with the same NeuroSIM adders 4.1 ns at N = 16, more than
      the chip's 3.1 ns cycle at 320 MHz, and linear in N; the whole Brent-Kung decode is
      2.1 ns) and over Kogge-Stone (N log2 N - N + 1 adders, 49 at N = 16 vs 26, for one
      adder level less than Brent-Kung's 2 log2 N - 1). The total PP_(N-1) is kept: it is the
      group's non-zero count (how many compressed weights the weight fetcher reads; assumed
      use);
    * LRCW settings: each of the N/2 * (log2 N - 1) settings of stages s >= 1 is one
      thermometer-decoder output [p < b mod 2^s] (2 NAND2, NAND2_PER_THERMOMETER_OUTPUT) and
      the complement-on-warp XOR with b_s (4 NAND2); stage 0 settings are NOT b_0 (the output
      inverter). NAND2 energy = 0.25 * C * V^2 per gate (random data), C from _device.py
      (NeuroSIM PTM LP); area = NeuroSIM NANDGate area; leakage = area x NeuroSIM LP logic
      leakage density;
    * drive: each of the N/2 * log2 N settings leaves through a minimum inverter (NeuroSIM
      NOTGate area) onto a wire half the decoder's height (N lanes of one standard-cell row,
      NeuroSIM layout rules) ending on a write-driver input of the 10T array.
    Delay: the popcount levels in series (the slowest adder of each level), the thermometer
    decoder and XOR (log2 N + 1 FO4) and the setting wire's RC; one decode per cycle.
    `read` is a decode's energy divided by n_lanes at n_lanes values per cycle (AccelForge
    Tolls charge a `read` per value passing).
    """

    component_name = ["sparsecim_bfly_decoder", "ButterflyDecoder"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        n_lanes: int = 16,
        stretch_clock: bool = True,
    ):
        self.n_lanes = check_power_of_two("n_lanes", n_lanes)

        widths = _prefix_adder_widths(self.n_lanes)
        adders = [neurosim_block("Adder", n_bits=w) for level in widths for w in level]
        level_delays = [max(neurosim_block("Adder", n_bits=w).delay for w in level) for level in widths]
        self.n_prefix_adders = len(adders)

        gate = neurosim_block("NANDGate")
        gates_per_setting = NAND2_PER_THERMOMETER_OUTPUT + NAND2_PER_XOR2
        logic_gates = self.n_lanes // 2 * (self.n_stages - 1) * gates_per_setting
        setting_wire = wire_cap(self.n_lanes * CELL_ROW_HEIGHT / 2)
        setting_load = (
            setting_wire
            + gate_cap(WRITE_DRIVER_WIDTH_N * (1 + PN_RATIO))
            + drain_cap(MIN_WIDTH)
            + drain_cap(PN_RATIO * MIN_WIDTH)
        )

        self._ref_breakdown = {
            "prefix_popcount": sum(a.energy for a in adders),
            "lrcw_logic": logic_gates * switching_energy(_nand2_switch_cap()),
            "setting_drive": self.n_settings * switching_energy(setting_load),
        }
        self._decode_delay = (
            sum(level_delays)
            + (self.n_stages + 1) * fo4_delay()
            + 0.69 * on_resistance(MIN_WIDTH) * setting_load
        )
        logic_area = logic_gates * gate.area + self.n_settings * neurosim_block("NOTGate").area
        area = sum(a.area for a in adders) + logic_area
        leak = sum(a.leak_power for a in adders) + logic_area * logic_leak_density()
        self._init_corner(tech_node, voltage, cycle_period, area, leak, self._decode_delay, stretch_clock)

    @property
    def n_stages(self) -> int:
        """Butterfly stages, log2(n_lanes)."""
        return int(math.log2(self.n_lanes))

    @property
    def n_settings(self) -> int:
        """Switch settings produced per decode, n_lanes/2 * log2(n_lanes)."""
        return self.n_lanes // 2 * self.n_stages

    @property
    def prefix_depth(self) -> int:
        """Adder levels of the popcount network in series, 2 log2(n_lanes) - 1."""
        return len(brent_kung_levels(self.n_lanes))

    def energy_breakdown(self) -> dict[str, float]:
        """Energy of one decode [J] at this corner: popcount network, LRCW logic, setting drive."""
        return {k: v * self.energy_scale for k, v in self._ref_breakdown.items()}

    @action
    def decode(self) -> ActionCost:
        """Decode one group's bit mask into all n_lanes/2 * log2(n_lanes) switch settings."""
        return self._clocked_cost(sum(self._ref_breakdown.values()), self._decode_delay)

    @action
    def read(self) -> ActionCost:
        """One value's share of a decode (n_lanes values per cycle)."""
        energy = sum(self._ref_breakdown.values()) / self.n_lanes
        return self._clocked_cost(energy, self._decode_delay, parallel=self.n_lanes)

"""The digital SRAM compute-in-memory macro: bit-serial MAC lanes and the weight bit-cells."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._device import (
    MIN_WIDTH,
    PN_RATIO,
    TG_AREA,
    drain_cap,
    fo4_delay,
    gate_cap,
    on_resistance,
    switching_energy,
    wire_cap,
)
from ._refs import logic_leak_density, neurosim_block
from ._scaling import REF_VOLTAGE, check_int
from .errors import ComponentAttributeError

FOUNDRY_6T_CELL_AREA = 0.127e-12
"""TSMC 28 nm high-density 6T foundry cell [m^2] (0.127 um^2; S.-Y. Wu et al., VLSI Symp.
2009, 28 nm LP platform)."""
EIGHT_T_AREA_FACTOR = 1.3
"""8T (decoupled read port) vs 6T cell area at equal rules: about +30 % (L. Chang et al.,
IEEE JSSC 43(4):956-963, 2008)."""
LOGIC_RULE_AREA_FACTOR = 1.5
"""Custom CIM cells are drawn with logic design rules, not the foundry's pushed SRAM rules
(assumed 1.5x)."""
CIM_CELL_AREA = FOUNDRY_6T_CELL_AREA * EIGHT_T_AREA_FACTOR * LOGIC_RULE_AREA_FACTOR
"""Area of one custom CIM storage cell [m^2] (0.248 um^2 at 28 nm)."""
CELL_ASPECT = 2.0
"""Cell width / height (assumed; foundry 6T cells are about 2:1)."""
CELL_WIDTH = math.sqrt(CIM_CELL_AREA * CELL_ASPECT)
CELL_HEIGHT = math.sqrt(CIM_CELL_AREA / CELL_ASPECT)

CELL_LEAK_6T = 10.4e-12
"""6T cell leakage [W] at 28 nm, 0.9 V: hwcomponents_cacti SRAM(28 nm, 64 KB x 128 b,
itrs-lstp cells) leaks 5.47 uW over 524288 bits."""
CELL_LEAK = CELL_LEAK_6T * 8 / 6
"""8T cell leakage [W]: scaled by device count (assumed)."""

TEN_T_AREA_FACTOR = 10 / 8
"""10T routing-switch cell (6T storage + a transmission-gate pair, 2 x (N + P)) vs our 8T cell
at equal design rules: area by device count, 10/8. The same rule reproduces the measured 8T/6T
ratio (8/6 = 1.33 vs 1.3, Chang et al. 2008). The TG gates are driven by the storage nodes Q
and QB, so the pair needs no extra wiring beyond its two routing-line contacts (assumed)."""
TEN_T_CELL_LEAK = CELL_LEAK_6T * 10 / 6
"""10T cell leakage [W]: 6T leakage scaled by device count (same rule as CELL_LEAK; the TG of
the pair that is off leaks between the routing lines like a cell transistor)."""
CELL_VARIANTS = {8: (1.0, CELL_LEAK), 10: (TEN_T_AREA_FACTOR, TEN_T_CELL_LEAK)}
"""transistors -> (area factor vs CIM_CELL_AREA, leakage per cell [W])."""

ACCESS_WIDTH = MIN_WIDTH
"""Write access transistor width [m] (assumed minimum)."""
READ_PORT_WIDTH = 2 * MIN_WIDTH
"""Width of each device of the 2-transistor read stack [m] (assumed)."""
BITLINE_PERIPHERY_CAP = 3 * drain_cap(4 * MIN_WIDTH)
"""Precharge, write-driver and column-select drains on a bitline [F] (assumed 3 devices of 4x
minimum width)."""


def _multiply_cell_cap() -> float:
    """Capacitance switched per bit-cell per cycle by the in-cell 1-bit multiply [F]:
    the input line across one cell, the NOR2 input gate, the NOR2 output drains and a local
    wire one cell long to the adder-tree leaf (whose input gate is in NeuroSIM's tree energy)."""
    nor_pmos = 2 * PN_RATIO * MIN_WIDTH  # series PMOS of a NOR2 sized 2x for equal drive
    input_line = wire_cap(CELL_WIDTH) + gate_cap(MIN_WIDTH + nor_pmos)
    output_node = 2 * drain_cap(MIN_WIDTH) + drain_cap(nor_pmos) + wire_cap(CELL_WIDTH)
    return input_line + output_node


class DigitalCimMac(_SparsecimModel):
    """One 8b x 8b multiply-accumulate in a 28 nm digital SRAM CIM macro, done bit-serially.

    Per MAC, `input_bits` cycles; per cycle the `weight_bits` cells of the lane do a 1-bit
    in-cell multiply (NOR of inverted operands), the column's adder tree sums the `n_rows`
    partial products (this MAC's share: 1/n_rows of the tree), and the bit-serial
    shift-accumulate folds the tree output into the accumulator (share 1/n_rows).

    Time slots (ISSCC 2023 16.2 block diagram, "@T0..@T3"): a compute cell group holds
    `time_slots` weights that share one in-cell multiplier (the NOR gates) and one adder-tree
    input through a slot-select multiplexer; one of them computes per cycle. A lane is one
    stored weight: its MAC still takes `input_bits` cycles, but the shared hardware serves
    the lane only one cycle in `time_slots`, so its throughput is
    1 / (input_bits * time_slots * cycle). Energy per MAC adds the slot select, one NeuroSIM
    Mux(n_bits=1, n_mux_inputs=time_slots) per weight bit per cycle (the slots interleave
    cycle by cycle, so the select changes every cycle; NeuroSIM counts full activity, an
    upper bound). The tree, the shift-add, the NOR gates and the select are shared by the
    slots, so a lane's area and leakage share of them is divided by `time_slots` (tree and
    shift-add: by n_rows * time_slots). Select area: `time_slots` transmission gates per
    weight bit (TG_AREA, _device.py, which matches NeuroSIM's 2:1 Mux per TG; NeuroSIM's own
    4:1 Mux area, 5.5 um^2 per bit, is its column mux stretched to a subarray's width and is
    not used). The select lines are shared by a whole row of lanes (not counted).
    With time_slots = 1 there is no select and the model is the plain bit-serial MAC.

    Sources of every constant (28 nm, 0.9 V reference):
    * Adder tree: NeuroSIM AdderTree(n_bits=weight_bits, n_adder_tree_inputs=n_rows);
      shift-add: NeuroSIM ShiftAdd(n_bits=weight_bits+ceil(log2 n_rows),
      shift_register_n_bits=that+input_bits) (hwcomponents_neurosim; see _refs.py for the
      0.88 V -> 0.9 V normalisation). Energy, area, leakage and delay all come from these.
    * In-cell multiply: energy = 0.25 * C * V^2 per cell per cycle, C from _device.py
      (NeuroSIM PTM capacitances, 0.2 fF/um wires, cell width of CimBitcellArray's cell);
      area = NeuroSIM NORGate area; leakage = that area x NeuroSIM LP logic leakage density.
    * Critical path per cycle = NeuroSIM tree delay + shift-add delay (+ the select's
      NeuroSIM Mux delay when time_slots > 1), scaled by the alpha-power law (_scaling.py).
      If it exceeds `cycle_period` and stretch_clock is true, the cycle is stretched.

    Throughput is that of one lane (one stored weight): 1 / (input_bits * time_slots * cycle).
    """

    component_name = ["sparsecim_cim_mac", "DigitalCimMac"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        input_bits: int = 8,
        weight_bits: int = 8,
        n_rows: int = 64,
        time_slots: int = 1,
        stretch_clock: bool = True,
    ):
        self.input_bits = check_int("input_bits", input_bits)
        self.weight_bits = check_int("weight_bits", weight_bits)
        self.n_rows = check_int("n_rows", n_rows, minimum=2)
        self.time_slots = check_int("time_slots", time_slots)
        self.tree_output_bits = self.weight_bits + math.ceil(math.log2(self.n_rows))
        self.accumulator_bits = self.tree_output_bits + self.input_bits
        sharers = self.n_rows * self.time_slots  # stored weights served by one tree

        tree = neurosim_block("AdderTree", n_bits=self.weight_bits, n_adder_tree_inputs=self.n_rows)
        shift_add = neurosim_block(
            "ShiftAdd", n_bits=self.tree_output_bits, shift_register_n_bits=self.accumulator_bits
        )
        gate_area = neurosim_block("NORGate").area
        if self.time_slots > 1:
            select = neurosim_block("Mux", n_bits=1, n_mux_inputs=self.time_slots)
            select_energy, select_delay = select.energy, select.delay
            select_area = self.time_slots * TG_AREA
        else:
            select_energy = select_delay = select_area = 0.0

        self._ref_breakdown = {
            "cell_multiply": self.input_bits * self.weight_bits * switching_energy(_multiply_cell_cap()),
            "adder_tree": self.input_bits * tree.times(1 / self.n_rows).energy,
            "shift_add": self.input_bits * shift_add.times(1 / self.n_rows).energy,
            "slot_select": self.input_bits * self.weight_bits * select_energy,
        }
        self._stage_delay = tree.delay + shift_add.delay + select_delay
        tree_share, shift_add_share = tree.times(1 / sharers), shift_add.times(1 / sharers)
        cell_logic_area = self.weight_bits * (gate_area + select_area) / self.time_slots
        area = cell_logic_area + tree_share.area + shift_add_share.area
        leak = cell_logic_area * logic_leak_density() + tree_share.leak_power + shift_add_share.leak_power
        self._init_corner(
            tech_node, voltage, cycle_period, area, leak, self._stage_delay, stretch_clock
        )

    def energy_breakdown(self) -> dict[str, float]:
        """Energy of one MAC [J] at this corner, split into cell multiply, adder-tree share,
        shift-add share and slot select (0 when time_slots = 1)."""
        return {k: v * self.energy_scale for k, v in self._ref_breakdown.items()}

    @action
    def compute(self) -> ActionCost:
        """One 8b x 8b MAC of one stored weight: input_bits cycles of the lane's shared
        multiplier, which serves the lane one cycle in time_slots."""
        energy = sum(self._ref_breakdown.values())
        return self._clocked_cost(
            energy, self._stage_delay, cycles=self.input_bits, parallel=1 / self.time_slots
        )


class CimBitcellArray(_SparsecimModel):
    """Weight storage of the CIM macro: custom 8T-type SRAM CIM cells, or (transistors=10)
    the chip's "10T-SRAM for BFLY Control" cells: a 6T storage cell plus a transmission-gate
    pair that forms one in-memory routing switch, its TG gates driven by the cell's Q/QB.

    `write` drives a differential write bitline pair and the wordline for `width` bits;
    `read` is the decoupled single-ended read port, used to reload or verify weights
    (in-place compute reads are part of DigitalCimMac). Energies per bit at 28 nm, 0.9 V:
    * write = C_BL V^2 (one of BL/BLB is discharged and restored on every write)
      + C_WL,bit V^2 + 0.5 * C_node V^2 (cell flips with probability 0.5, random data);
    * read = 0.5 * C_RBL V^2 (read bitline discharges for half the bits) + C_RWL,bit V^2;
    * per access: a log2(n_rows)-bit row decoder, 2 gate transitions per address bit.
    C_BL = n_rows x (cell height x 0.2 fF/um + access drain) + periphery drains; device
    capacitances from _device.py (NeuroSIM PTM LP at 28 nm).

    Sources of the other constants:
    * Cell area 0.248 um^2 = foundry 6T 0.127 um^2 (Wu et al., VLSI 2009) x 1.3 for the 8T
      read port (Chang et al., JSSC 2008) x 1.5 for logic design rules (assumed); the cell's
      in-memory NOR gate is counted in DigitalCimMac. Cell aspect 2:1 (assumed).
    * Cell leakage 13.9 pW: CACTI 28 nm itrs-lstp 6T cell (10.4 pW) x 8/6 devices (assumed).
    * 10T cell: area x 10/8 and leakage 10.4 pW x 10/6 (device count, see TEN_T_AREA_FACTOR);
      the extra devices widen the cell along the row (height, i.e. bitline pitch, unchanged;
      assumed), so its wordline wires are 10/8 longer. Write and read use the same per-bit
      model; the TG pair's own gate charge on a setting change is ButterflyZeroSkipper's
      `configure` (config_bits_per_switch=0), not counted here.
    * Access delay: row decoder (log2(n_rows) + 2 FO4) + wordline + read-bitline RC (Elmore
      0.69 RC), from the same device constants; one access per cycle.
    Area is the cell area only: bitline drivers and sense inverters are shared by the macro.
    """

    component_name = ["sparsecim_cim_array", "CimBitcellArray"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        width: int = 8,
        cycle_period: float = 10e-9,
        size: int | None = None,
        n_rows: int = 64,
        transistors: int = 8,
        stretch_clock: bool = True,
        writes_through: bool = False,
    ):
        self.width = check_int("width", width)
        self.n_rows = check_int("n_rows", n_rows, minimum=2)
        # As an AccelForge Toll (which charges only `read`, once per value passing through) an array
        # that is written once by every value passing - the chip's bit mask into the 10T banks -
        # charges a write per read.
        self.writes_through = bool(writes_through)
        self.size = check_int("size", size if size is not None else self.width * self.n_rows)
        self.transistors = check_int("transistors", transistors)
        if self.transistors not in CELL_VARIANTS:
            raise ComponentAttributeError(
                f"transistors must be one of {sorted(CELL_VARIANTS)}, got {transistors!r}"
            )
        area_factor, cell_leak = CELL_VARIANTS[self.transistors]
        cell_width = CELL_WIDTH * area_factor
        address_bits = math.ceil(math.log2(self.n_rows))

        per_row = wire_cap(CELL_HEIGHT)
        bitline = self.n_rows * (per_row + drain_cap(ACCESS_WIDTH)) + BITLINE_PERIPHERY_CAP
        read_bitline = self.n_rows * (per_row + drain_cap(READ_PORT_WIDTH)) + BITLINE_PERIPHERY_CAP
        wordline_bit = wire_cap(cell_width) + 2 * gate_cap(ACCESS_WIDTH)
        read_wordline_bit = wire_cap(cell_width) + gate_cap(READ_PORT_WIDTH)
        inverter = MIN_WIDTH * (1 + PN_RATIO)
        storage_node = drain_cap(MIN_WIDTH) + drain_cap(PN_RATIO * MIN_WIDTH) + gate_cap(inverter)
        decoder_gate = 4 * gate_cap(inverter) + drain_cap(inverter)

        v2 = REF_VOLTAGE**2
        decoder = 2 * address_bits * switching_energy(decoder_gate, activity=0.5)
        self._write_energy = self.width * (bitline + wordline_bit + 0.5 * storage_node) * v2 + decoder
        self._read_energy = self.width * (0.5 * read_bitline + read_wordline_bit) * v2 + decoder

        wordline = self.width * wordline_bit
        read_stack = 2 * on_resistance(READ_PORT_WIDTH)
        driver = on_resistance(4 * MIN_WIDTH)
        self._access_delay = (
            (address_bits + 2) * fo4_delay()
            + 0.69 * driver * wordline
            + 0.69 * read_stack * read_bitline
        )
        self._init_corner(
            tech_node,
            voltage,
            cycle_period,
            self.size * CIM_CELL_AREA * area_factor,
            self.size * cell_leak,
            self._access_delay,
            stretch_clock,
        )

    @property
    def area_per_bit(self) -> float:
        """Cell area per stored bit [m^2] at this node."""
        return self.area / self.size

    @property
    def leak_power_per_bit(self) -> float:
        """Leakage per stored bit [W] at this node and supply."""
        return self.leak_power / self.size

    @property
    def access_delay(self) -> float:
        """Decoder + wordline + read-bitline delay [s] at this node and supply."""
        return self.scaled_delay(self._access_delay)

    @action(bits_per_action="width")
    def write(self) -> ActionCost:
        """Write `width` bits (one row segment); one access per cycle."""
        return self._clocked_cost(self._write_energy, self._access_delay)

    @action(bits_per_action="width")
    def read(self) -> ActionCost:
        """Read `width` bits through the read port (weight reload / verification); a write of them
        when `writes_through` (the array used as a Toll that every value passing writes)."""
        energy = self._write_energy if self.writes_through else self._read_energy
        return self._clocked_cost(energy, self._access_delay)

"""In-memory butterfly zero skipper: a transmission-gate butterfly network that routes input
activations to the CIM rows that store non-zero weights."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._device import (
    CELL_ROW_HEIGHT,
    MIN_WIDTH,
    PN_RATIO,
    TG_AREA,
    TG_WIDTH_N,
    TG_WIDTH_P,
    WIRE_PITCH,
    drain_cap,
    gate_cap,
    on_resistance,
    switching_energy,
    tg_node_cap,
    tg_resistance,
    wire_cap,
)
from ._refs import latch_bit, logic_leak_density
from ._scaling import check_int, check_power_of_two

BUFFER_WIDTH_N = 2 * MIN_WIDTH
"""NMOS width of the non-inverting buffer (two inverters) re-driving each stage's output
(assumed 2x minimum; re-buffering keeps the delay linear in the number of stages)."""
DEVICE_TRACK_WIDTH_PER_BIT = 2
"""TGs per lane per bit in one stage: each output is a 2:1 TG mux (bar or cross input)."""


class ButterflyZeroSkipper(_SparsecimModel):
    """N-lane butterfly of log2(N) stages of 2x2 transmission-gate switches.

    Stage s (s = 0 .. log2 N - 1) pairs lane i with lane i XOR 2^s. Each switch output is a
    2:1 TG mux choosing the straight ("bar") or the crossed input, so a switch has 4 TGs per
    data bit and is set by `config_bits_per_switch` latched bits (1: bar/cross; 2 adds the
    two broadcast settings). N/2 switches per stage, N/2 * log2 N in all.

    Geometry (the physical argument for wire length growing with stage span): lanes run
    horizontally at pitch h = max(standard-cell row, data_width routing tracks). In stage s
    the cross wires span 2^s lanes, so a horizontal cut inside a 2^(s+1)-lane block is
    crossed by 2^(s+1) * data_width vertical wires; the stage column is as wide as the larger
    of its TGs and those tracks (vertical wires run on a layer above the TGs). A value
    entering stage s charges, per bit:
      * the horizontal wire across the stage column (width w_s),
      * the vertical cross wire of length 2^s * h (it is attached to the input whether the
        switch is set to bar or cross: the off TG still hangs on it),
      * the drains of the two TGs on the input node and the two on the output node, plus the
        gate-channel coupling of the on TG, and the re-driving buffer.
    Energy per value = data_width * sum_s 0.25 * C_s * V^2 (random data). Delay per stage =
    0.69 * (R_TG + R_buffer) * C_s (Elmore; the buffer's intrinsic delay is neglected).
    The network is combinational within one cycle; it routes all N lanes every cycle, so
    route throughput is N values per cycle.

    `configure` writes the N/2 * log2 N * config_bits_per_switch latch bits of one routing
    pattern in one cycle and re-charges the gates of the reconfigured TGs (each switch's
    4 * data_width TG gates toggle with probability 0.5 for random patterns).

    config_bits_per_switch = 0: the chip's arrangement (block diagram, "10T-SRAM for BFLY
    Control"): the settings come from the BFLY decoder (ButterflyDecoder) and are held in
    10T cells whose storage nodes Q/QB drive the TG gates directly (CimBitcellArray with
    transistors=10 holds and writes them). The network then has no latches and no gate-drive
    inverters; `configure` is only the TG gate re-charge, its delay the RC of a minimum cell
    inverter charging one switch's TG gates.

    Area = N * h * sum_s w_s (stage columns with their TGs and tracks) + one TG-sized buffer
    cell per lane, stage and bit + one TG-sized inverter per config bit (complementary gate
    drive) + the config latches.

    Sources: device capacitances, TG resistance and area, wire pitch and capacitance from
    _device.py (NeuroSIM PTM LP at 28 nm, NeuroSIM layout rules, hwcomponents Wire);
    latch = half a NeuroSIM FlipFlop bit (_refs.py); leakage of TGs and buffers = their area
    x NeuroSIM LP logic leakage density. The ISSCC 2023 16.2 paper publishes neither the
    butterfly width nor its stage count (published.yaml); n_lanes = 64 is assumed to match the
    64 rows summed by one adder tree.
    """

    component_name = ["sparsecim_butterfly", "ButterflyZeroSkipper"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        n_lanes: int = 64,
        data_width: int = 8,
        config_bits_per_switch: int = 1,
        stretch_clock: bool = True,
    ):
        self.n_lanes = check_power_of_two("n_lanes", n_lanes)
        self.data_width = check_int("data_width", data_width)
        self.config_bits_per_switch = check_int("config_bits_per_switch", config_bits_per_switch, minimum=0)

        lane_pitch = max(CELL_ROW_HEIGHT, self.data_width * WIRE_PITCH)
        device_width = DEVICE_TRACK_WIDTH_PER_BIT * self.data_width * TG_AREA / CELL_ROW_HEIGHT
        stages = range(self.n_stages)
        self.stage_widths = [max(device_width, 2 ** (s + 1) * self.data_width * WIRE_PITCH) for s in stages]
        self.cross_wire_lengths = [2**s * lane_pitch for s in stages]

        buffer_n = BUFFER_WIDTH_N
        buffer_drains = drain_cap(buffer_n) + drain_cap(PN_RATIO * buffer_n)
        buffer_cap = gate_cap(buffer_n * (1 + PN_RATIO)) + buffer_drains
        node_cap = 2 * tg_node_cap(on=True) + 2 * tg_node_cap(on=False) + 2 * buffer_cap
        self._stage_caps = [
            node_cap + wire_cap(w + v) for w, v in zip(self.stage_widths, self.cross_wire_lengths)
        ]
        self._route_energy = self.data_width * sum(switching_energy(c) for c in self._stage_caps)
        stage_resistance = tg_resistance() + on_resistance(buffer_n)
        self._route_delay = sum(0.69 * stage_resistance * c for c in self._stage_caps)

        latch = latch_bit()
        tg_gates_per_switch = 4 * self.data_width * gate_cap(TG_WIDTH_N + TG_WIDTH_P)
        self._configure_energy = self.config_bits * latch.energy + self.n_switches * switching_energy(
            tg_gates_per_switch, activity=0.5
        )
        if self.config_bits_per_switch:
            self._configure_delay = latch.delay
        else:  # a 10T cell's storage inverter (minimum size) charges the switch's TG gates
            self._configure_delay = 0.69 * on_resistance(MIN_WIDTH) * tg_gates_per_switch

        # Stage columns hold the TGs and the vertical tracks; buffers and the inverters that
        # drive each switch's complementary TG gates are TG-sized cells beside them.
        datapath_area = self.n_lanes * lane_pitch * sum(self.stage_widths)
        tg_area = self.n_lanes * self.n_stages * DEVICE_TRACK_WIDTH_PER_BIT * self.data_width * TG_AREA
        buffer_area = self.n_lanes * self.n_stages * self.data_width * TG_AREA
        inverter_area = self.n_switches * self.config_bits_per_switch * TG_AREA
        area = datapath_area + buffer_area + inverter_area + self.config_bits * latch.area
        device_area = tg_area + buffer_area + inverter_area  # wire channels do not leak
        leak = device_area * logic_leak_density() + self.config_bits * latch.leak_power
        critical_path = max(self._route_delay, self._configure_delay)
        self._init_corner(tech_node, voltage, cycle_period, area, leak, critical_path, stretch_clock)

    @property
    def n_stages(self) -> int:
        """Number of switch stages, log2(n_lanes)."""
        return int(math.log2(self.n_lanes))

    @property
    def n_switches(self) -> int:
        """Number of 2x2 switches, n_lanes/2 * log2(n_lanes)."""
        return self.n_lanes // 2 * self.n_stages

    @property
    def config_bits(self) -> int:
        """Latch bits of one routing pattern, n_switches * config_bits_per_switch."""
        return self.n_switches * self.config_bits_per_switch

    @property
    def route_delay(self) -> float:
        """Propagation delay [s] of one value through all stages at this node and supply."""
        return self.scaled_delay(self._route_delay)

    @action
    def route(self) -> ActionCost:
        """Route one value of data_width bits through all log2(n_lanes) stages."""
        return self._clocked_cost(self._route_energy, self._route_delay, parallel=self.n_lanes)

    @action
    def read(self) -> ActionCost:
        """Same as `route` (AccelForge Toll components are charged a `read` per value)."""
        return self.route()

    @action
    def configure(self) -> ActionCost:
        """Load the switch settings of one routing pattern into the configuration latches
        (config_bits_per_switch = 0: only re-charge the TG gates from the 10T cells)."""
        return self._clocked_cost(self._configure_energy, self._configure_delay)

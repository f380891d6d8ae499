"""Local-attention-reusable (LAR) engine parts: the K/V window buffer and the Q.K sharing logic."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from .errors import ComponentAttributeError

from ._base import _SparsecimModel
from ._device import CELL_ROW_HEIGHT, MIN_WIDTH, PN_RATIO, gate_cap, on_resistance, switching_energy, wire_cap
from ._refs import aladdin_block, latch_bit, neurosim_block
from ._scaling import check_int, check_positive

DRIVER_WIDTH_N = 4 * MIN_WIDTH
"""NMOS width of the drivers of long data lines (assumed 4x minimum)."""


class LarWindowBuffer(_SparsecimModel):
    """Latch-array buffer holding the K/V rows of the current local attention window.

    A window slide writes only the rows that enter the window; rows kept from the previous
    window are not rewritten (the LAR engine's K/V reuse). `size` bits are organised as
    depth = size / width rows of `width` latches; a read selects one row through a binary
    tree of 2:1 TG muxes per bit.

    Why latches and not CACTI SRAM or Aladdin registers: the buffer is small (a window of K/V
    rows is a few to tens of Kb), rewritten row by row on every slide and read at full width
    every cycle. At this size a latch array is the usual choice: CACTI's smallest subarrays are
    dominated by periphery (decoders, sense amplifiers) it sizes for larger arrays, and
    Aladdin registers are edge-triggered flip-flops, twice the latch.

    Per bit, at 28 nm / 0.9 V:
    * write = latch write (half a NeuroSIM FlipFlop bit, clock included) + the write data line
      running down the column of `depth` rows (0.25 * C * V^2, random data);
    * read = ceil(log2 depth) NeuroSIM 2:1 Mux bits (their select lines toggle on every new
      address) + the column read wire (the tree's wires add up to about depth row pitches).
    Area per bit = latch + (depth-1)/depth of a 2:1 mux bit; leakage likewise. Row pitch is
    one standard-cell row (NeuroSIM layout rules). One access per cycle; its delay is the
    mux tree plus the column wire's RC, or the latch's own delay, whichever is longer.
    """

    component_name = ["sparsecim_lar_window_buffer", "LarWindowBuffer"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        size: int = 16384,
        width: int = 64,
    ):
        self.size = check_int("size", size)
        self.width = check_int("width", width)
        if self.size % self.width:
            raise ComponentAttributeError(f"size ({size}) must be a multiple of width ({width})")
        self.depth = self.size // self.width
        self.mux_levels = math.ceil(math.log2(self.depth)) if self.depth > 1 else 0

        latch = latch_bit()
        mux = neurosim_block("Mux", n_bits=1, n_mux_inputs=2)
        column = wire_cap(self.depth * CELL_ROW_HEIGHT)
        column_energy = switching_energy(column)
        self._write_energy = self.width * (latch.energy + column_energy)
        self._read_energy = self.width * (self.mux_levels * mux.energy + column_energy)
        wire_delay = 0.69 * on_resistance(DRIVER_WIDTH_N) * column
        self._access_delay = max(latch.delay, self.mux_levels * mux.delay + wire_delay)

        mux_share = (self.depth - 1) / self.depth
        area = self.size * (latch.area + mux_share * mux.area)
        leak = self.size * (latch.leak_power + mux_share * mux.leak_power)
        self._init_corner(tech_node, voltage, cycle_period, area, leak)

    @property
    def area_per_bit(self) -> float:
        """Area per stored bit [m^2] at this node."""
        return self.area / self.size

    @property
    def leak_power_per_bit(self) -> float:
        """Leakage per stored bit [W] at this node and supply."""
        return self.leak_power / self.size

    @action(bits_per_action="width")
    def write(self) -> ActionCost:
        """Write one row of `width` bits (a K or V row entering the window)."""
        return self._clocked_cost(self._write_energy, self._access_delay)

    @action(bits_per_action="width")
    def read(self) -> ActionCost:
        """Read one row of `width` bits."""
        return self._clocked_cost(self._read_energy, self._access_delay)


class LarQkShareUnit(_SparsecimModel):
    """Logic that shares one Q.K partial result among heads/queries whose windows overlap.

    Per shared result of `width` bits:
    * window-overlap check: two `index_bits` comparisons (start <= key index <= end) —
      Aladdin comparator (40 nm, 32 b: 0.029 pJ, 71 um^2; linear in width), scaled to 28 nm;
    * hold register: one clocked write of `width` bits — NeuroSIM FlipFlop(n_bits=width);
    * source select: NeuroSIM Mux(n_bits=width, n_mux_inputs=n_sources) when n_sources > 1;
    * broadcast to `n_consumers` consumers `consumer_pitch` apart: 0.25 * C * V^2 per bit,
      C = wire (n_consumers * consumer_pitch at 0.2 fF/um) + one minimum-inverter input per
      consumer.
    The ISSCC 2023 16.2 paper states only that "QK sharing removes redundant operations"
    (published.yaml); the structure above and the defaults (24-bit partial sums of 8b x 8b
    products, 2 sources, 4 consumers 20 um apart, 10-bit key indices) are assumed.
    One share per cycle; its delay is compare + mux + broadcast RC.
    """

    component_name = ["sparsecim_lar_qk_share", "LarQkShareUnit"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        width: int = 24,
        n_consumers: int = 4,
        n_sources: int = 2,
        index_bits: int = 10,
        consumer_pitch: float = 20e-6,
    ):
        self.width = check_int("width", width)
        self.n_consumers = check_int("n_consumers", n_consumers)
        self.n_sources = check_int("n_sources", n_sources)
        self.index_bits = check_int("index_bits", index_bits)
        self.consumer_pitch = check_positive("consumer_pitch", consumer_pitch)

        compare = aladdin_block("AladdinComparator", width=self.index_bits).times(2)
        register = neurosim_block("FlipFlop", n_bits=self.width)
        blocks = [compare, register]
        if self.n_sources > 1:
            blocks.append(neurosim_block("Mux", n_bits=self.width, n_mux_inputs=self.n_sources))
        broadcast = wire_cap(self.n_consumers * self.consumer_pitch) + self.n_consumers * gate_cap(
            MIN_WIDTH * (1 + PN_RATIO)
        )
        self._share_energy = sum(b.energy for b in blocks) + self.width * switching_energy(broadcast)
        logic_delay = compare.delay + (blocks[2].delay if len(blocks) > 2 else 0.0)
        self._share_delay = logic_delay + 0.69 * on_resistance(DRIVER_WIDTH_N) * broadcast
        area = sum(b.area for b in blocks)
        leak = sum(b.leak_power for b in blocks)
        self._init_corner(tech_node, voltage, cycle_period, area, leak)

    @action
    def share(self) -> ActionCost:
        """Check, hold, select and broadcast one shared Q.K partial result."""
        return self._clocked_cost(self._share_energy, self._share_delay)

    @action
    def read(self) -> ActionCost:
        """Same as `share`."""
        return self.share()

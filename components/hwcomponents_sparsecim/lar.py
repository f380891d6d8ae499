"""Local-attention-reusable (LAR) engine parts: the K/V window and small latch buffers, the Q.K
sharing logic, the module compute (inverse query norms) and the scaling compute."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._device import CELL_ROW_HEIGHT, MIN_WIDTH, PN_RATIO, gate_cap, on_resistance, switching_energy, wire_cap
from ._refs import aladdin_block, latch_bit, neurosim_block
from ._scaling import check_int, check_positive
from .errors import ComponentAttributeError
from .requantize import _MultiplyRequantize

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

    The same latch array serves every small buffer of the LAR engine (QK-sharing buffer of
    inverse norms and symmetric products, query-module buffer, vector-product buffer, query
    and probability buffer): hence the alias `sparsecim_latch_buffer`. Any depth >= 1 works;
    a one-row buffer (size == width) has no read mux and its column wire is one row long.
    """

    component_name = ["sparsecim_lar_window_buffer", "sparsecim_latch_buffer", "LarWindowBuffer"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        size: int = 16384,
        width: int = 64,
        stretch_clock: bool = True,
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
        self._init_corner(
            tech_node, voltage, cycle_period, area, leak, self._access_delay, stretch_clock
        )

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
        stretch_clock: bool = True,
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
        self._init_corner(tech_node, voltage, cycle_period, area, leak, self._share_delay, stretch_clock)

    @action
    def share(self) -> ActionCost:
        """Check, hold, select and broadcast one shared Q.K partial result."""
        return self._clocked_cost(self._share_energy, self._share_delay)

    @action
    def read(self) -> ActionCost:
        """Same as `share`."""
        return self.share()


RSQRT_LUT_ENTRIES = 16
"""Seed table of the inverse square root, indexed by the top 4 bits of the normalised sum
(assumed, as SoftmaxUnit's 16-segment table)."""
RSQRT_SEED_BITS = 8
"""Width of a seed table entry (assumed; the seed is only 2^-5.5 accurate, see below)."""
RSQRT_NEWTON_ITERATIONS = 2
"""Newton-Raphson steps y <- y * (3 - x * y^2) / 2 after the seed. A 16-entry seed over the
normalised range [1, 4) is within about 2^-5.5 (relative); each step maps an error e to about
1.5 e^2, i.e. 2^-10.4, then 2^-20: two steps give the 16-bit result."""
RSQRT_MULTIPLIES_PER_ITERATION = 3
"""y * y, x * y^2 and y * (3 - x y^2) (the halving is a shift)."""
RSQRT_CYCLES = 1 + RSQRT_MULTIPLIES_PER_ITERATION * RSQRT_NEWTON_ITERATIONS + 1
"""Normalise + seed, one multiply per cycle on one shared multiplier, denormalise (assumed)."""


class ModuleComputeUnit(_SparsecimModel):
    """The LAR engine's "module compute": the inverse norm |Q|^-1 of each token's query, per head.

    Shared-QK attention (mechanism figure, "QK sharing"): the key of token j is the normalised
    query K_j = Q_j / |Q_j|, so each token needs |Q_j|^-1 once per head; the scaling compute
    (ScaleComputeUnit) then turns the shared product Q_i.Q_j into both directions. One action is
    one query element; the per-token inverse square root is amortised over `head_dim` elements.

    Per element (one of `n_lanes` lanes):
    * square: a width x width squarer = an Aladdin multiplier x (width + 1) / (2 width): a
      squarer's partial products a_i a_j and a_j a_i coincide, leaving width (width + 1) / 2
      of the width^2 (the physical argument; 0.5625 for 8 bits);
    * accumulate into acc_bits = 2 * width + ceil(log2 head_dim) bits: Aladdin adder + Aladdin
      register (as SoftmaxUnit's sum).
    Per token and head (one shared unit, amortised over head_dim elements):
    * normalise the sum to [1, 4) by an even shift: leading-one detector (modelled as an
      Aladdin comparator of acc_bits: both are an OR/compare chain over the word; assumed)
      and a logarithmic shifter, ceil(log2 acc_bits) levels of acc_bits NeuroSIM 2:1 Mux bits;
    * seed: NeuroSIM Mux of RSQRT_LUT_ENTRIES entries of RSQRT_SEED_BITS bits (a table of
      constants, as SoftmaxUnit's exp table);
    * RSQRT_NEWTON_ITERATIONS Newton-Raphson steps: 3 Aladdin norm_bits x norm_bits multiplies,
      one Aladdin norm_bits subtract, and a NeuroSIM FlipFlop(norm_bits) write per multiply;
    * denormalise (shift by half the normalising shift): ceil(log2 acc_bits) - 1 levels of
      norm_bits NeuroSIM 2:1 Mux bits.
    The rsqrt takes RSQRT_CYCLES cycles on its one multiplier, so the unit takes at most
    head_dim / RSQRT_CYCLES elements per cycle: throughput = min(n_lanes, that) elements per
    cycle. With the defaults (8 lanes, head_dim 64) both are 8 cycles per token and head.
    Area: n_lanes lanes + one rsqrt unit (shifters, seed table, one multiplier, one subtractor,
    two norm_bits registers). Stage delay: the slowest block (Aladdin's 1 ns at 40 nm, scaled).
    Defaults: INT8 queries (the chip's precision), head_dim 64 (BERT-base and GPT-2 124M:
    768 / 12 heads), 16-bit inverse norms (as ScaleComputeUnit's norm_bits), 8 lanes (assumed).
    """

    component_name = ["sparsecim_module_compute", "ModuleComputeUnit"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        width: int = 8,
        head_dim: int = 64,
        norm_bits: int = 16,
        n_lanes: int = 8,
        stretch_clock: bool = True,
    ):
        self.width = check_int("width", width)
        self.head_dim = check_int("head_dim", head_dim)
        self.norm_bits = check_int("norm_bits", norm_bits)
        self.n_lanes = check_int("n_lanes", n_lanes)
        self.accumulator_bits = 2 * self.width + math.ceil(math.log2(self.head_dim))

        squarer_share = (self.width + 1) / (2 * self.width)
        lane = {
            "square": aladdin_block("AladdinMultiplier", width_a=self.width, width_b=self.width).times(squarer_share),
            "accumulate": aladdin_block("AladdinAdder", width=self.accumulator_bits),
            "accumulator_register": aladdin_block("AladdinRegister", width=self.accumulator_bits),
        }
        shift_levels = math.ceil(math.log2(self.accumulator_bits))
        mux_bit = neurosim_block("Mux", n_bits=1, n_mux_inputs=2)
        multiply = aladdin_block("AladdinMultiplier", width_a=self.norm_bits, width_b=self.norm_bits)
        subtract = aladdin_block("AladdinAdder", width=self.norm_bits)
        register = neurosim_block("FlipFlop", n_bits=self.norm_bits)
        multiplies = RSQRT_MULTIPLIES_PER_ITERATION * RSQRT_NEWTON_ITERATIONS
        rsqrt_parts = {
            "leading_one": aladdin_block("AladdinComparator", width=self.accumulator_bits),
            "normalise": mux_bit.times(shift_levels * self.accumulator_bits),
            "seed": neurosim_block("Mux", n_bits=RSQRT_SEED_BITS, n_mux_inputs=RSQRT_LUT_ENTRIES),
            "newton_multiply": multiply,
            "newton_subtract": subtract,
            "newton_register": register,
            "denormalise": mux_bit.times((shift_levels - 1) * self.norm_bits),
        }
        uses_per_token = {
            "newton_multiply": multiplies,
            "newton_subtract": RSQRT_NEWTON_ITERATIONS,
            "newton_register": multiplies,
        }
        rsqrt_energy = sum(b.energy * uses_per_token.get(k, 1) for k, b in rsqrt_parts.items())
        self._ref_breakdown = {k: b.energy for k, b in lane.items()}
        self._ref_breakdown["inverse_sqrt"] = rsqrt_energy / self.head_dim
        self._stage_delay = max(
            max(b.delay for b in lane.values()),
            max(b.delay for k, b in rsqrt_parts.items() if k not in ("normalise", "denormalise")),
            shift_levels * mux_bit.delay,
        )

        rsqrt_area_parts = list(rsqrt_parts.values()) + [register]  # x and y registers
        area = self.n_lanes * sum(b.area for b in lane.values()) + sum(b.area for b in rsqrt_area_parts)
        leak = self.n_lanes * sum(b.leak_power for b in lane.values()) + sum(
            b.leak_power for b in rsqrt_area_parts
        )
        self._init_corner(tech_node, voltage, cycle_period, area, leak, self._stage_delay, stretch_clock)

    @property
    def elements_per_cycle(self) -> float:
        """Sustained query elements per cycle: the lanes, or the shared rsqrt's pace."""
        return min(self.n_lanes, self.head_dim / RSQRT_CYCLES)

    def energy_breakdown(self) -> dict[str, float]:
        """Energy per query element [J] at this corner (the rsqrt amortised over head_dim)."""
        return {k: v * self.energy_scale for k, v in self._ref_breakdown.items()}

    @action
    def compute(self) -> ActionCost:
        """Square and accumulate one query element, plus its share of the token's |Q|^-1."""
        energy = sum(self._ref_breakdown.values())
        return self._clocked_cost(energy, self._stage_delay, parallel=self.elements_per_cycle)

    @action
    def read(self) -> ActionCost:
        """Same as `compute`."""
        return self.compute()


class ScaleComputeUnit(_MultiplyRequantize):
    """The LAR engine's "scaling compute": one delivered attention score = the shared product
    Q_i.Q_j (`score_bits`) times the other token's inverse norm |Q_j|^-1 (`norm_bits`),
    rounded and clamped to `out_bits` (mechanism figure: Q1 x K3 = Q1 x Q3 / |Q3|). The
    datapath and its sources are _MultiplyRequantize's (requantize.py). Defaults 24 x 16 -> 8
    bits (a 64-term 8b x 8b dot product needs 22 bits; 16-bit norms as ModuleComputeUnit;
    INT8 scores into the softmax) and 8 lanes are assumed; the paper publishes none of them.
    """

    component_name = ["sparsecim_scale_compute", "ScaleComputeUnit"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        score_bits: int = 24,
        norm_bits: int = 16,
        out_bits: int = 8,
        n_lanes: int = 8,
        stretch_clock: bool = True,
    ):
        self.score_bits = check_int("score_bits", score_bits)
        self.norm_bits = check_int("norm_bits", norm_bits)
        self.out_bits = check_int("out_bits", out_bits)
        self._build(
            tech_node, voltage, cycle_period, stretch_clock, self.score_bits, self.norm_bits, self.out_bits, n_lanes
        )

"""Softmax unit of the attention datapath."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._refs import BlockRef, aladdin_block, latch_bit, neurosim_block
from ._scaling import check_int

PIPELINE_STAGES = 4
"""max/subtract | LUT + slope multiply | add intercept + accumulate | normalise (assumed)."""
NEWTON_RAPHSON_ITERATIONS = 2
"""Reciprocal of the row sum: 2 Newton-Raphson iterations of 2 multiplies each from an
LUT seed (assumed; enough for 16-bit results from a 4-bit seed)."""


class SoftmaxUnit(_SparsecimModel):
    """`n_lanes` parallel softmax lanes; `compute` is one element of one row.

    Per element, online softmax with a piecewise-linear exponential:
    1. running max: compare (width bits);
    2. x - max: subtract (width + 1 bits);
    3. exp(x - max) ~ slope_k * (x - max) + intercept_k: select segment k of `lut_segments`
       (a mux of lut_segments constant pairs of 2 * coef_bits), multiply
       (width + 1) x coef_bits, add intercept (coef_bits);
    4. accumulate the sum (accum_width adder + register) and keep exp(x) in a latch
       (coef_bits) until normalisation;
    5. when the running max changes, rescale the sum (LUT + accum_width x coef_bits
       multiply): for a random order that happens H(row_length) ~ ln(row_length) + 0.58 times
       per row;
    6. normalise: exp(x) * (1/sum), coef_bits x coef_bits multiply; the reciprocal is made
       once per row by Newton-Raphson (2 iterations x 2 accum_width x coef_bits multiplies),
       amortised over `row_length` elements.

    Sources: adders, multipliers, comparator and register are Aladdin 40 nm data
    (hwcomponents_library aladdin.py: 32 b add 0.21 pJ / 278 um^2, 32x32 multiply 12.68 pJ /
    6350 um^2 scaled with width_a * width_b, 32 b compare 0.029 pJ / 71 um^2, all linear in
    width) scaled to 28 nm; the segment mux is NeuroSIM Mux; the exp latch is half a NeuroSIM
    FlipFlop bit. Aladdin's multiplier is about 4x Horowitz's (ISSCC 2014: 0.2 pJ for 8b x 8b
    at 45 nm), so these energies are on the high side. Stage delay: Aladdin's 1 ns at 40 nm,
    scaled. Area: n_lanes lanes plus one shared reciprocal multiplier. Defaults (8-bit
    inputs, 16-bit coefficients, 24-bit accumulator, 16 segments, 16 lanes, rows of 64) are
    assumed: the paper does not publish its softmax.
    """

    component_name = ["sparsecim_softmax", "SoftmaxUnit"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        width: int = 8,
        accum_width: int = 24,
        coef_bits: int = 16,
        lut_segments: int = 16,
        n_lanes: int = 16,
        row_length: int = 64,
        stretch_clock: bool = True,
    ):
        self.width = check_int("width", width)
        self.accum_width = check_int("accum_width", accum_width)
        self.coef_bits = check_int("coef_bits", coef_bits)
        self.lut_segments = check_int("lut_segments", lut_segments, minimum=2)
        self.n_lanes = check_int("n_lanes", n_lanes)
        self.row_length = check_int("row_length", row_length)

        def multiplier(a: int, b: int) -> BlockRef:
            return aladdin_block("AladdinMultiplier", width_a=a, width_b=b)

        def adder(bits: int) -> BlockRef:
            return aladdin_block("AladdinAdder", width=bits)

        lut = neurosim_block("Mux", n_bits=2 * self.coef_bits, n_mux_inputs=self.lut_segments)
        sum_multiply = multiplier(self.accum_width, self.coef_bits)
        per_element = {
            "max_compare": aladdin_block("AladdinComparator", width=self.width),
            "subtract": adder(self.width + 1),
            "exp_lut": lut,
            "exp_multiply": multiplier(self.width + 1, self.coef_bits),
            "exp_intercept": adder(self.coef_bits),
            "sum_accumulate": adder(self.accum_width),
            "sum_register": aladdin_block("AladdinRegister", width=self.accum_width),
            "exp_latch": latch_bit().times(self.coef_bits),
            "normalise": multiplier(self.coef_bits, self.coef_bits),
        }
        rescales_per_element = (math.log(self.row_length) + 0.5772) / self.row_length
        reciprocal_multiplies = 2 * NEWTON_RAPHSON_ITERATIONS
        self._ref_breakdown = {k: b.energy for k, b in per_element.items()}
        self._ref_breakdown["max_rescale"] = rescales_per_element * (lut.energy + sum_multiply.energy)
        self._ref_breakdown["reciprocal"] = reciprocal_multiplies * sum_multiply.energy / self.row_length
        self._stage_delay = max(b.delay for b in per_element.values())

        lane_area = sum(b.area for b in per_element.values())
        lane_leak = sum(b.leak_power for b in per_element.values())
        area = self.n_lanes * lane_area + sum_multiply.area
        leak = self.n_lanes * lane_leak + sum_multiply.leak_power
        self._init_corner(tech_node, voltage, cycle_period, area, leak, self._stage_delay, stretch_clock)

    def energy_breakdown(self) -> dict[str, float]:
        """Energy per element [J] at this corner, by operation."""
        return {k: v * self.energy_scale for k, v in self._ref_breakdown.items()}

    @action
    def compute(self) -> ActionCost:
        """Softmax of one element (pipelined: n_lanes elements per cycle)."""
        energy = sum(self._ref_breakdown.values())
        return self._clocked_cost(
            energy, self._stage_delay, cycles=PIPELINE_STAGES, parallel=self.n_lanes * PIPELINE_STAGES
        )

    @action
    def read(self) -> ActionCost:
        """Same as `compute`."""
        return self.compute()

"""Multiply-and-requantise datapath: a wide value times a fixed-point scale, rounded and clamped
to a narrow output. The post-processing quantiser and the LAR engine's scaling compute are both
this datapath (one implementation, two component names)."""

from __future__ import annotations

import math

from hwcomponents import ActionCost, action

from ._base import _SparsecimModel
from ._refs import aladdin_block, neurosim_block
from ._scaling import check_int
from .errors import ComponentAttributeError


class _MultiplyRequantize(_SparsecimModel):
    """`n_lanes` lanes; one action = one value: out = clamp(round(value * scale / 2^shift)).

    Integer requantisation as in integer-only inference (Jacob et al., CVPR 2018: a
    fixed-point multiplier, a rounding right shift, saturation to the output range), per
    value, in one cycle:
    1. multiply value_bits x scale_bits -> P = value_bits + scale_bits bits: Aladdin
       multiplier (40 nm data scaled to 28 nm; about 4x Horowitz's ISSCC 2014 figures, so on
       the high side, like SoftmaxUnit's multipliers);
    2. programmable arithmetic right shift: a logarithmic shifter of ceil(log2 P) levels of P
       NeuroSIM 2:1 Mux bits (an upper bound: the last levels need fewer bits);
    3. round half up: add the last bit shifted out, Aladdin adder of out_bits + 1 bits;
    4. saturate: check that the P - out_bits discarded high bits all equal the sign, Aladdin
       comparator of that width, and select the value or the bound, NeuroSIM Mux(n_bits=
       out_bits, 2 inputs; the bound is a constant chosen by the sign bit);
    5. output register: NeuroSIM FlipFlop(n_bits=out_bits).
    Critical path: multiply + shifter + round + compare + select, in series. Area and leakage:
    n_lanes copies. Aladdin leakage is area x NeuroSIM LP leakage density (_refs.py).
    """

    def _build(
        self,
        tech_node: float,
        voltage: float,
        cycle_period: float,
        stretch_clock: bool,
        value_bits: int,
        scale_bits: int,
        out_bits: int,
        n_lanes: int,
    ) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes)
        product_bits = value_bits + scale_bits
        if out_bits >= product_bits:
            raise ComponentAttributeError(
                f"the output ({out_bits} bits) must be narrower than the product ({product_bits} bits)"
            )
        shift_levels = math.ceil(math.log2(product_bits))
        mux_bit = neurosim_block("Mux", n_bits=1, n_mux_inputs=2)
        blocks = {
            "multiply": aladdin_block("AladdinMultiplier", width_a=value_bits, width_b=scale_bits),
            "shift": mux_bit.times(shift_levels * product_bits),
            "round": aladdin_block("AladdinAdder", width=out_bits + 1),
            "saturate_check": aladdin_block("AladdinComparator", width=product_bits - out_bits),
            "saturate_select": neurosim_block("Mux", n_bits=out_bits, n_mux_inputs=2),
            "output_register": neurosim_block("FlipFlop", n_bits=out_bits),
        }
        self._ref_breakdown = {name: block.energy for name, block in blocks.items()}
        self._value_delay = (
            blocks["multiply"].delay
            + shift_levels * mux_bit.delay
            + blocks["round"].delay
            + blocks["saturate_check"].delay
            + blocks["saturate_select"].delay
        )
        area = self.n_lanes * sum(b.area for b in blocks.values())
        leak = self.n_lanes * sum(b.leak_power for b in blocks.values())
        self._init_corner(tech_node, voltage, cycle_period, area, leak, self._value_delay, stretch_clock)

    def energy_breakdown(self) -> dict[str, float]:
        """Energy per value [J] at this corner, by step."""
        return {k: v * self.energy_scale for k, v in self._ref_breakdown.items()}

    @action
    def compute(self) -> ActionCost:
        """Requantise one value (n_lanes values per cycle)."""
        energy = sum(self._ref_breakdown.values())
        return self._clocked_cost(energy, self._value_delay, parallel=self.n_lanes)

    @action
    def read(self) -> ActionCost:
        """Same as `compute`."""
        return self.compute()


class QuantizeUnit(_MultiplyRequantize):
    """Post-processing quantisation (ISSCC 2023 16.2 block diagram, "Quantization" on the
    post-processing local bus): per output value, a CIM accumulator of `acc_bits` times a
    `scale_bits` fixed-point scale, rounded and clamped to `out_bits` (datapath and sources in
    _MultiplyRequantize). Defaults: 24-bit accumulators (an 8b x 8b dot product of up to 256
    terms needs 16 + 8 bits), 16-bit scales, INT8 outputs (the chip's precision), 16 lanes
    (assumed, as SoftmaxUnit on the same bus); the paper publishes none of them.
    """

    component_name = ["sparsecim_quantize", "QuantizeUnit"]

    def __init__(
        self,
        tech_node: float = 28e-9,
        voltage: float = 0.9,
        cycle_period: float = 10e-9,
        acc_bits: int = 24,
        scale_bits: int = 16,
        out_bits: int = 8,
        n_lanes: int = 16,
        stretch_clock: bool = True,
    ):
        self.acc_bits = check_int("acc_bits", acc_bits)
        self.scale_bits = check_int("scale_bits", scale_bits)
        self.out_bits = check_int("out_bits", out_bits)
        self._build(
            tech_node, voltage, cycle_period, stretch_clock, self.acc_bits, self.scale_bits, self.out_bits, n_lanes
        )

"""Base class shared by the sparsecim component models (not registered with hwcomponents)."""

from __future__ import annotations

from hwcomponents import ActionCost, ComponentModel

from ._scaling import apply_corner, check_positive, check_tech_node, check_voltage, delay_scale


class _SparsecimModel(ComponentModel):
    """Characterised at 28 nm / 0.9 V, then scaled to the requested corner.

    Subclasses compute reference-corner area, leakage and per-action energy, call
    `_init_corner`, and return `_clocked_cost(...)` from their actions. Energies returned by
    actions are reference values; hwcomponents multiplies them by the corner's energy scale.
    """

    priority = 0.9

    def _init_corner(
        self, tech_node: float, voltage: float, cycle_period: float, area: float, leak_power: float
    ) -> None:
        self.tech_node = check_tech_node(tech_node)
        self.voltage = check_voltage(voltage)
        self.cycle_period = check_positive("cycle_period", cycle_period)
        super().__init__(area=area, leak_power=leak_power)
        apply_corner(self, self.tech_node, self.voltage)
        self._delay_scale = delay_scale(self.tech_node, self.voltage)

    def scaled_delay(self, reference_delay: float) -> float:
        """A reference-corner delay [s] moved to this model's node and supply."""
        return reference_delay * self._delay_scale

    def _clock_period(self, reference_delay: float) -> float:
        """The clock period the logic sustains: the requested cycle, stretched when the
        logic's delay at this node and supply is longer (a clock cannot beat its logic)."""
        delay = self.scaled_delay(reference_delay)
        if delay > self.cycle_period:
            self.logger.warning(
                f"{type(self).__name__}: critical path {delay:.3e} s exceeds cycle_period "
                f"{self.cycle_period:.3e} s at {self.voltage} V; the cycle is stretched to it"
            )
        return max(self.cycle_period, delay)

    def _clocked_cost(
        self, energy: float, reference_delay: float, cycles: float = 1, parallel: float = 1
    ) -> ActionCost:
        """ActionCost of an action taking `cycles` clock periods, `parallel` at a time."""
        latency = cycles * self._clock_period(reference_delay)
        return ActionCost(energy=energy, latency=latency, throughput=parallel / latency)

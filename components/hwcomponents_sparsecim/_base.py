"""Base class shared by the sparsecim component models (not registered with hwcomponents)."""

from __future__ import annotations

from hwcomponents import ActionCost, ComponentModel

from ._scaling import apply_corner, check_bool, check_positive, check_tech_node, check_voltage, delay_scale


class _SparsecimModel(ComponentModel):
    """Characterised at 28 nm / 0.9 V, then scaled to the requested corner.

    Subclasses compute reference-corner area, leakage, per-action energy and the delay of their
    slowest clocked path, call `_init_corner`, and return `_clocked_cost(...)` from their
    actions. Energies returned by actions are reference values; hwcomponents multiplies them
    by the corner's energy scale.

    Clock: with `stretch_clock` true (default) `cycle_period` is the requested clock and is
    stretched to an action's modelled logic delay when that is longer (a clock cannot beat
    its logic). With `stretch_clock` false `cycle_period` is the clock, e.g. taken from a
    chip's measured frequency-voltage curve, and is used as given; the modelled critical path
    then only serves as a diagnostic (`critical_path_delay`, `timing_slack`).
    """

    priority = 0.9

    def _init_corner(
        self,
        tech_node: float,
        voltage: float,
        cycle_period: float,
        area: float,
        leak_power: float,
        critical_path: float,
        stretch_clock: bool = True,
    ) -> None:
        """Validate the corner, register area/leakage and scale them; `critical_path` is the
        reference-corner delay [s] of the model's slowest clocked path."""
        self.tech_node = check_tech_node(tech_node)
        self.voltage = check_voltage(voltage)
        self.cycle_period = check_positive("cycle_period", cycle_period)
        self.stretch_clock = check_bool("stretch_clock", stretch_clock)
        self._critical_path = critical_path
        super().__init__(area=area, leak_power=leak_power)
        apply_corner(self, self.tech_node, self.voltage)
        self._delay_scale = delay_scale(self.tech_node, self.voltage)

    def scaled_delay(self, reference_delay: float) -> float:
        """A reference-corner delay [s] moved to this model's node and supply."""
        return reference_delay * self._delay_scale

    @property
    def critical_path_delay(self) -> float:
        """Delay [s] of the model's slowest clocked path at this node and supply."""
        return self.scaled_delay(self._critical_path)

    @property
    def timing_slack(self) -> float:
        """cycle_period - critical_path_delay [s]; negative when the modelled logic would not
        fit the given clock (with stretch_clock false, a diagnostic of the model against a
        measured clock)."""
        return self.cycle_period - self.critical_path_delay

    def _clock_period(self, reference_delay: float) -> float:
        """The clock period of an action whose logic has the given reference delay: the given
        cycle_period, stretched to the logic's delay at this node and supply when that is
        longer and stretch_clock is true."""
        if not self.stretch_clock:
            return self.cycle_period
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

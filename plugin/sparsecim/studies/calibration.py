"""Energy calibrated to the chip's measured power curve, and only to it.

The physical component models decide how energy splits between components; two free factors scale
all on-chip dynamic energy (`dynamic_energy_scale`) and all on-chip leakage (`leakage_scale`) so that
the modelled chip power along the measured curve (16 points, 20-320 MHz at 0.64-1.03 V) matches.

Which workload the curve was measured on is not stated. We argue the GPT-2 / Enwik-8 case (spec table
footnote (2)): it is the condition of the table's peak-performance and efficiency rows, the only
measurements of the chip the table gives under named conditions. Off-chip access is excluded, as in
those rows (footnote 3): the chip's supply current does not include the board memory.

Power at a point (V, f) from one run at the reference point (V0, f0) with both factors 1:
    P(V, f) = s_dyn * E_dyn(V0) * (V/V0)^2 * f / C  +  s_leak * P_leak(V0) * g(V) / g(V0)
with C the run's cycles (on-chip latency x f0), E_dyn / P_leak its on-chip dynamic energy and leakage
power, and g the leakage-voltage law every component model uses (V x 10^(eta V / S), `_scaling.py`).
Every component's dynamic energy scales as V^2 and every cycle count is fixed by the mapping, so this is
the model's own power at (V, f) when the mapping is the same; tests check it against full runs.
The fit minimises the relative error over the 16 points (each point weighs the same, 8 mW as 252 mW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsecim.errors import ModelError
from sparsecim.mapping.operating import OperatingCurve
from sparsecim.mapping.result import ModelResult

# The leakage-voltage law of the component models (hwcomponents_sparsecim._scaling, documented there):
# P_leak ~ V * 10^(eta * V / S), eta = 0.10 V/V, S = 0.090 V/decade. Repeated here because sparsecim does
# not import the plug-in (it may be replaced); tests check the two agree.
DIBL_COEFFICIENT = 0.10
SUBTHRESHOLD_SWING = 0.090


def leakage_voltage_law(voltage: float) -> float:
    return voltage * 10 ** (DIBL_COEFFICIENT * voltage / SUBTHRESHOLD_SWING)


@dataclass(frozen=True)
class OperatingScaling:
    """One run's on-chip energy per component, split into dynamic and leakage, and its on-chip latency,
    moved to any operating point (V, f) of the same mapping: dynamic energy x (V/V0)^2, leakage power x
    g(V)/g(V0) over the latency C/f (C cycles)."""

    voltage: float
    frequency: float
    dynamic_j: dict[str, float]
    leakage_j: dict[str, float]
    latency_s: float  # on-chip latency (off-chip access excluded) at the run's frequency

    @classmethod
    def of(cls, result: ModelResult) -> "OperatingScaling":
        onchip = [c for c in result.energy_by_component_j if c not in result.roles.offchip]
        leak = result.leak_energy_by_component_j
        voltage, frequency = float(result.variables["voltage"]), float(result.variables["frequency"])
        if not result.latency_onchip_s > 0:
            raise ModelError("the run has no on-chip latency to scale")
        return cls(
            voltage,
            frequency,
            {c: result.energy_by_component_j[c] - leak.get(c, 0.0) for c in onchip},
            {c: leak.get(c, 0.0) for c in onchip},
            result.latency_onchip_s,
        )

    @property
    def cycles(self) -> float:
        return self.latency_s * self.frequency

    def latency(self, frequency: float) -> float:
        return self.cycles / frequency

    def energy(self, voltage: float, frequency: float, components=None, dynamic_scale: float = 1.0, leakage_scale: float = 1.0) -> float:
        """On-chip energy [J] of the given components (all on-chip ones by default) at (voltage, frequency)."""
        names = self.dynamic_j.keys() if components is None else [c for c in components if c in self.dynamic_j]
        dynamic = sum(self.dynamic_j[c] for c in names) * (voltage / self.voltage) ** 2
        leak_power = sum(self.leakage_j[c] for c in names) / self.latency_s
        leak_power *= leakage_voltage_law(voltage) / leakage_voltage_law(self.voltage)
        return dynamic_scale * dynamic + leakage_scale * leak_power * self.latency(frequency)

    def power(self, voltage: float, frequency: float, dynamic_scale: float = 1.0, leakage_scale: float = 1.0) -> float:
        """Modelled chip power [W] at (voltage, frequency)."""
        return self.energy(voltage, frequency, None, dynamic_scale, leakage_scale) / self.latency(frequency)


@dataclass(frozen=True)
class PowerFit:
    dynamic_scale: float
    leakage_scale: float
    split: OperatingScaling
    points: list[tuple[float, float, float, float]]  # (MHz, V, measured mW, modelled mW)

    @property
    def residuals_pct(self) -> list[float]:
        return [100.0 * (model - measured) / measured for _, _, measured, model in self.points]

    @property
    def rms_residual_pct(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residuals_pct))))


def fit_power_curve(split: OperatingScaling, curve: OperatingCurve) -> PowerFit:
    """The two factors that bring the modelled power closest (relative least squares, both >= 0)."""
    volts, hertz, watts = curve.volts, curve.hertz, curve.watts
    dynamic = np.array([split.power(v, f, 1.0, 0.0) for v, f in zip(volts, hertz)])
    leakage = np.array([split.power(v, f, 0.0, 1.0) for v, f in zip(volts, hertz)])
    design = np.column_stack([dynamic / watts, leakage / watts])
    target = np.ones_like(watts)
    best = None
    # Non-negative least squares over two unknowns: the unconstrained optimum, or the best on an axis.
    candidates = [np.linalg.lstsq(design, target, rcond=None)[0]]
    for column in range(2):
        scale = float(design[:, column] @ target / (design[:, column] @ design[:, column]))
        candidate = np.zeros(2)
        candidate[column] = scale
        candidates.append(candidate)
    for candidate in candidates:
        if (candidate >= 0).all():
            error = float(np.sum((design @ candidate - target) ** 2))
            if best is None or error < best[0]:
                best = (error, candidate)
    dynamic_scale, leakage_scale = (float(x) for x in best[1])
    points = [
        (f / 1e6, v, w * 1e3, split.power(v, f, dynamic_scale, leakage_scale) * 1e3)
        for v, f, w in zip(volts, hertz, watts)
    ]
    return PowerFit(dynamic_scale, leakage_scale, split, points)


def link_bandwidth_for(result: ModelResult, frequency: float, target_latency_s: float, offchip: str = "OffChip",
                       bits_per_access: int = 64) -> float:
    """The off-chip link bandwidth [bit/s] at which the run (mapped with off-chip access free) takes
    `target_latency_s` at `frequency`: every Einsum instance takes the longer of its on-chip time and
    its off-chip traffic over the link (AccelForge overlaps an Einsum's components), summed."""
    scale = float(result.variables["frequency"]) / frequency
    rows = [(r.instances, r.latency_onchip_s * scale / r.instances,
             bits_per_access * (r.actions.get(f"{offchip}.read", 0.0) + r.actions.get(f"{offchip}.write", 0.0)) / r.instances)
            for r in result.rows if r.instances]

    def latency(bandwidth: float) -> float:
        return sum(n * max(on, bits / bandwidth) for n, on, bits in rows)

    if latency(float("inf")) >= target_latency_s:
        raise ModelError(f"the run takes {latency(float('inf')) * 1e3:.1f} ms without off-chip time, above the target")
    low, high = 1e3, 1e15  # bit/s; latency falls as bandwidth rises
    for _ in range(200):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if latency(middle) > target_latency_s else (low, middle)
    return high

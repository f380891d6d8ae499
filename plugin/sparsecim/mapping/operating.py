"""Operating points: the supply voltage and clock a chip can run at, from its measured curve.

An installed arch may ship a measured frequency-voltage(-power) curve (`sparsecim/data/<arch>.operating.yaml`).
Then `resolve` completes the spec variables before AccelForge renders the arch:

* `voltage` alone picks the highest frequency the chip reaches at that supply (the curve, interpolated
  linearly between measured points);
* `frequency` alone picks the lowest supply that reaches it;
* both given must lie on or under the curve (the clock no faster than the supply allows);
* anything outside the measured ranges is an InputError naming the range.

Arches without a curve pass their variables through unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from sparsecim.errors import InputError
from sparsecim.files import parse_yaml
from sparsecim.schema import Strict, parse

TOLERANCE = 1e-6
FloatPair = Annotated[tuple[float, float], BeforeValidator(lambda v: tuple(float(x) for x in v) if isinstance(v, list) else v)]


class CurvePoints(Strict):
    mhz: list[float] = Field(min_length=2, strict=False)
    volt: list[float] = Field(min_length=2, strict=False)
    mw: list[float] = Field(min_length=2, strict=False)

    @model_validator(mode="after")
    def _monotone(self) -> "CurvePoints":
        if not len(self.mhz) == len(self.volt) == len(self.mw):
            raise ValueError("mhz, volt and mw need one value per measured point")
        for name, values in (("mhz", self.mhz), ("volt", self.volt)):
            if any(b <= a for a, b in zip(values, values[1:])):
                raise ValueError(f"{name} must increase strictly from point to point")
        return self


class OperatingCurve(Strict):
    """The measured operating points of one arch."""

    arch: str
    source: str
    voltage_range_v: FloatPair
    frequency_range_mhz: FloatPair
    points: CurvePoints

    @property
    def volts(self) -> np.ndarray:
        return np.asarray(self.points.volt, dtype=float)

    @property
    def hertz(self) -> np.ndarray:
        return np.asarray(self.points.mhz, dtype=float) * 1e6

    @property
    def watts(self) -> np.ndarray:
        return np.asarray(self.points.mw, dtype=float) * 1e-3

    def frequency_at(self, voltage: float) -> float:
        """Highest clock [Hz] the chip reaches at `voltage` (linear between measured points)."""
        self._check_voltage(voltage)
        return float(np.interp(voltage, self.volts, self.hertz))

    def voltage_for(self, frequency: float) -> float:
        """Lowest supply [V] that reaches `frequency` (linear between measured points)."""
        self._check_frequency(frequency)
        return float(np.interp(frequency, self.hertz, self.volts))

    def _check_voltage(self, voltage: float) -> None:
        low, high = self.voltage_range_v
        if not low - TOLERANCE <= voltage <= high + TOLERANCE:
            raise InputError(f"voltage {voltage:g} V outside the chip's measured range {low:g}-{high:g} V")

    def _check_frequency(self, frequency: float) -> None:
        low, high = self.frequency_range_mhz
        if not low * 1e6 * (1 - TOLERANCE) <= frequency <= high * 1e6 * (1 + TOLERANCE):
            raise InputError(f"frequency {frequency / 1e6:g} MHz outside the chip's measured range {low:g}-{high:g} MHz")


@lru_cache(maxsize=16)
def curve_of(arch_name: str) -> OperatingCurve | None:
    """The measured curve shipped for an installed arch, or None."""
    resource = resources.files("sparsecim.data") / f"{arch_name}.operating.yaml"
    if not resource.is_file():
        return None
    return parse(OperatingCurve, parse_yaml(resource.read_text(), resource.name), resource.name)


def _number(variables: dict, name: str) -> float | None:
    value = variables.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return number


def resolve(arch_name: str, variables: dict) -> dict:
    """`variables` with voltage and frequency made consistent with the arch's measured curve."""
    curve = curve_of(arch_name)
    if curve is None:
        return dict(variables)
    voltage, frequency = _number(variables, "voltage"), _number(variables, "frequency")
    out = dict(variables)
    if voltage is None and frequency is None:
        return out
    if frequency is None:
        out["frequency"] = curve.frequency_at(voltage)
    elif voltage is None:
        out["voltage"] = curve.voltage_for(frequency)
    else:
        reachable = curve.frequency_at(voltage)
        curve._check_frequency(frequency)
        if frequency > reachable * (1 + TOLERANCE):
            raise InputError(
                f"frequency {frequency / 1e6:g} MHz is above what the chip reaches at {voltage:g} V "
                f"({reachable / 1e6:.1f} MHz on its measured curve); lower it or raise the voltage"
            )
    return out

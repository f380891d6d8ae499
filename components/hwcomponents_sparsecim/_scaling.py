"""Voltage and technology scaling shared by every sparsecim component model.

Every model is characterised once at the reference corner (28 nm, 0.9 V) and moved to the
requested corner with the factors below. Tech scaling uses hwcomponents' Stillmaker-Baas fits
(hwcomponents.scaling, Integration 58, 2017) evaluated at the reference voltage, so the node
factor and the voltage factor are independent: energy(node, V) = E_ref * T_E(node) * (V/0.9)^2.

Physical arguments
------------------
* Dynamic energy: each switching event moves C*V from the supply, so E = a*C*V^2 and the
  energy ratio between two supplies is (V/V_ref)^2 (Rabaey, Digital Integrated Circuits,
  2nd ed., sec. 5.5).
* Delay (alpha-power law, Sakurai & Newton, IEEE JSSC 25(2):584-594, 1990): a gate delay is
  t = C*V / I_dsat with I_dsat ~ (V - V_th)^alpha; velocity saturation gives alpha between 1
  (full saturation) and 2 (long channel). alpha = 1.3 and V_th = 0.40 V are assumed for 28 nm
  bulk (NeuroSIM's PTM 28 nm LP interpolation gives V_th = 0.43 V).
* Leakage power: P = V * I_off with I_off ~ 10^(eta*V/S) from drain-induced barrier lowering
  (Roy et al., Proc. IEEE 91(2):305-327, 2003); eta = 0.1 V/V and S = 90 mV/decade assumed
  for 28 nm bulk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hwcomponents.scaling import (
    quadratic,
    tech_node_area,
    tech_node_energy,
    tech_node_latency,
    tech_node_leak,
)

from .errors import ComponentAttributeError

if TYPE_CHECKING:  # pragma: no cover
    from hwcomponents import ComponentModel

REF_TECH_NODE = 28e-9
"""Reference node [m]: the chip's node (published.yaml, chip.technology_nm)."""
REF_VOLTAGE = 0.9
"""Reference supply [V]: nominal core supply of 28 nm bulk (assumed; the chip's is unpublished)."""
THRESHOLD_VOLTAGE = 0.40
"""V_th [V] for the alpha-power law (assumed, 28 nm bulk SVT)."""
ALPHA = 1.3
"""Velocity-saturation index (Sakurai & Newton 1990: about 1.3 for short-channel devices)."""
DIBL_COEFFICIENT = 0.10
"""eta [V/V], drain-induced barrier lowering (assumed, 28 nm bulk)."""
SUBTHRESHOLD_SWING = 0.090
"""S [V/decade] (assumed, 28 nm bulk)."""
MIN_VOLTAGE = THRESHOLD_VOLTAGE + 0.15
"""Lowest supply accepted [V]: below V_th + 150 mV the alpha-power law no longer holds."""
MAX_VOLTAGE = 1.2
"""Highest supply accepted [V]: above this 28 nm thin-oxide devices are over-stressed."""
MIN_TECH_NODE = 7e-9
MAX_TECH_NODE = 130e-9
"""Node range of the Stillmaker-Baas tables used by hwcomponents.scaling."""


def voltage_energy_scale(voltage: float, reference: float = REF_VOLTAGE) -> float:
    """Dynamic-energy factor (V/V_ref)^2."""
    return quadratic(voltage, reference)


def gate_delay(voltage: float) -> float:
    """Alpha-power-law delay V/(V - V_th)^alpha, in arbitrary units."""
    return voltage / (voltage - THRESHOLD_VOLTAGE) ** ALPHA


def voltage_delay_scale(voltage: float, reference: float = REF_VOLTAGE) -> float:
    """Delay factor from the alpha-power law (greater than 1 below the reference supply)."""
    return gate_delay(voltage) / gate_delay(reference)


def voltage_leak_scale(voltage: float, reference: float = REF_VOLTAGE) -> float:
    """Leakage-power factor (V/V_ref) * 10^(eta*(V-V_ref)/S)."""
    dibl = 10 ** (DIBL_COEFFICIENT * (voltage - reference) / SUBTHRESHOLD_SWING)
    return voltage / reference * dibl


def tech_energy_scale(tech_node: float, reference: float = REF_TECH_NODE) -> float:
    """Stillmaker-Baas energy factor evaluated at the reference supply."""
    return tech_node_energy(tech_node, reference, vdd=REF_VOLTAGE)


def tech_leak_scale(tech_node: float, reference: float = REF_TECH_NODE) -> float:
    """Stillmaker-Baas leakage factor evaluated at the reference supply."""
    return tech_node_leak(tech_node, reference, vdd=REF_VOLTAGE)


def delay_scale(tech_node: float, voltage: float) -> float:
    """Combined delay factor from the reference corner: node-linear times alpha-power."""
    return tech_node_latency(tech_node, REF_TECH_NODE) * voltage_delay_scale(voltage)


def check_tech_node(tech_node: float) -> float:
    """Return tech_node as float [m]; raise ComponentAttributeError outside 7-130 nm."""
    value = _as_float("tech_node", tech_node)
    if not MIN_TECH_NODE <= value <= MAX_TECH_NODE:
        raise ComponentAttributeError(
            f"tech_node must be in metres between {MIN_TECH_NODE} and {MAX_TECH_NODE}, got {tech_node!r}"
        )
    return value


def check_voltage(voltage: float) -> float:
    """Return voltage as float [V]; raise ComponentAttributeError outside the modelled range."""
    value = _as_float("voltage", voltage)
    if not MIN_VOLTAGE <= value <= MAX_VOLTAGE:
        raise ComponentAttributeError(
            f"voltage must be between {MIN_VOLTAGE:.2f} V and {MAX_VOLTAGE} V, got {voltage!r}"
        )
    return value


def check_positive(name: str, value: float) -> float:
    """Return value as a float > 0; raise ComponentAttributeError otherwise."""
    number = _as_float(name, value)
    if not number > 0 or math.isinf(number):
        raise ComponentAttributeError(f"{name} must be a positive finite number, got {value!r}")
    return number


def check_int(name: str, value: int, minimum: int = 1) -> int:
    """Return value as an int >= minimum; raise ComponentAttributeError otherwise."""
    if isinstance(value, bool):
        raise ComponentAttributeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise ComponentAttributeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_bool(name: str, value: bool) -> bool:
    """Return value as a bool; accepts True/False, 0/1 and the strings "true"/"false" (YAML
    attributes may arrive as strings); raise ComponentAttributeError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ComponentAttributeError(f"{name} must be true or false, got {value!r}")


def check_power_of_two(name: str, value: int, minimum: int = 2) -> int:
    """Return value as an int that is a power of two >= minimum."""
    number = check_int(name, value, minimum)
    if number & (number - 1):
        raise ComponentAttributeError(f"{name} must be a power of two, got {value!r}")
    return number


def apply_corner(model: "ComponentModel", tech_node: float, voltage: float) -> None:
    """Scale a model's area, energy and leakage from 28 nm / 0.9 V to (tech_node, voltage).

    Latency and throughput are not scaled here: the models compute them from the clock and
    from `delay_scale`, because a clocked unit's rate is set by its clock, not by its node.
    """
    model.scale(
        "tech_node",
        tech_node,
        REF_TECH_NODE,
        area_scale_function=tech_node_area,
        energy_scale_function=tech_energy_scale,
        leak_power_scale_function=tech_leak_scale,
    )
    model.scale(
        "voltage",
        voltage,
        REF_VOLTAGE,
        energy_scale_function=voltage_energy_scale,
        leak_power_scale_function=voltage_leak_scale,
    )


def _as_float(name: str, value: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ComponentAttributeError(f"{name} must be a number, got {value!r}") from None

"""Device, wire and layout constants of the 28 nm / 0.9 V reference corner.

Sources
-------
* NeuroSIM V1.3 `Technology.cpp` (PTM LP models, shipped in hwcomponents_neurosim): gate and
  junction capacitance and on-current per metre of width at 22 nm and 32 nm. They are
  interpolated 60 % of the way from 22 nm to 32 nm, the same interpolation that
  hwcomponents_neurosim applies for a 28 nm query.
* NeuroSIM `constant.h`: layout rules in units of the feature size F (minimum width 2F,
  standard-cell height 28F, poly width 1F + poly gap 2.8F, M3 pitch 2.8F).
* hwcomponents_library `Wire` model: 0.2 fF/um wire capacitance (also the usual figure
  for intermediate-level copper wires).
"""

from __future__ import annotations

from ._scaling import REF_VOLTAGE

FEATURE_SIZE = 28e-9
"""F [m] of the reference node."""

GATE_CAP_PER_WIDTH = 1.59e-9
"""Gate capacitance [F/m of width]: NeuroSIM PTM LP ideal + fringe + overlap (0.2 x ideal);
1.69 fF/um at 32 nm and 1.43 fF/um at 22 nm, interpolated to 28 nm."""

DRAIN_CAP_PER_WIDTH = 2.98e-10
"""Drain junction capacitance [F/m of width]: NeuroSIM cjd = 1e-3 F/m^2 over a 3F-long drain,
cjswd = 2.5e-10 F/m sidewall and cjswgd = 0.5e-10 F/m gate edge, each derated to 0.9 V
reverse bias with NeuroSIM's grading coefficients (built-in potential 0.9 V)."""

DRAIN_CAP_FIXED = 3.3e-17
"""Drain sidewall capacitance of the two 3F-long diffusion ends [F] (same source)."""

ON_CURRENT_N = 677.0
"""NMOS on-current [A/m = uA/um] at 300 K: NeuroSIM PTM LP 600 (32 nm) / 792 (22 nm)."""

ON_CURRENT_P = 480.0
"""PMOS on-current [A/m] at 300 K: NeuroSIM PTM LP 400 (32 nm) / 600 (22 nm)."""

EFFECTIVE_RESISTANCE_MULTIPLIER = 1.77
"""Ratio of switching to DC on-resistance for LP devices (NeuroSIM, taken from CACTI)."""

MIN_WIDTH = 2 * FEATURE_SIZE
"""Minimum transistor width [m] (NeuroSIM MIN_NMOS_SIZE = 2F)."""

PN_RATIO = ON_CURRENT_N / ON_CURRENT_P
"""PMOS/NMOS width ratio for equal drive (NeuroSIM pnSizeRatio)."""

CELL_ROW_HEIGHT = 28 * FEATURE_SIZE
"""Standard-cell row height [m] (NeuroSIM MAX_TRANSISTOR_HEIGHT = 28F)."""

GATE_PITCH = (1.0 + 2.8) * FEATURE_SIZE
"""Contacted gate pitch [m] (NeuroSIM POLY_WIDTH + MIN_GAP_BET_GATE_POLY)."""

WIRE_PITCH = 2.8 * FEATURE_SIZE
"""Routing-track pitch [m] (NeuroSIM M3_PITCH = 2.8F)."""

WIRE_CAP_PER_LENGTH = 2e-10
"""Wire capacitance [F/m] = 0.2 fF/um (hwcomponents_library Wire default)."""

DATA_ACTIVITY = 0.25
"""Probability that a data bit makes a 0->1 transition per transfer (assumed: uniformly
random, uncorrelated bits). Each 0->1 transition draws C*V^2 from the supply."""

TG_AREA = CELL_ROW_HEIGHT * 2 * GATE_PITCH
"""Transmission-gate area [m^2]: one standard-cell row high, two gate pitches wide
(0.167 um^2 at 28 nm; NeuroSIM's TG-based 2:1 Mux gives 0.172 um^2 per TG)."""

TG_WIDTH_N = MIN_WIDTH
TG_WIDTH_P = PN_RATIO * MIN_WIDTH
"""Transmission-gate device widths [m]: minimum NMOS, PMOS sized for equal drive (assumed)."""


def gate_cap(width: float) -> float:
    """Gate capacitance [F] of a transistor of the given width [m]."""
    return GATE_CAP_PER_WIDTH * width


def drain_cap(width: float) -> float:
    """Drain junction capacitance [F] of a transistor of the given width [m]."""
    return DRAIN_CAP_PER_WIDTH * width + DRAIN_CAP_FIXED


def wire_cap(length: float) -> float:
    """Capacitance [F] of a wire of the given length [m]."""
    return WIRE_CAP_PER_LENGTH * length


def on_resistance(width_n: float, width_p: float = 0.0) -> float:
    """Effective switching resistance [ohm] of an NMOS (and optional parallel PMOS)."""
    conductance = (ON_CURRENT_N * width_n + ON_CURRENT_P * width_p) / REF_VOLTAGE
    return EFFECTIVE_RESISTANCE_MULTIPLIER / conductance


def tg_resistance() -> float:
    """Transmission-gate resistance [ohm]: twice the parallel NMOS/PMOS value, since near
    either rail only one device conducts strongly (NeuroSIM Mux.cpp calibration: resTg*2)."""
    return 2 * on_resistance(TG_WIDTH_N, TG_WIDTH_P)


def tg_node_cap(on: bool) -> float:
    """Capacitance [F] a TG adds to one of its terminals: both drains, plus half of the gate
    capacitance (gate-channel coupling) when it is on (NeuroSIM Mux.cpp convention)."""
    drains = drain_cap(TG_WIDTH_N) + drain_cap(TG_WIDTH_P)
    if not on:
        return drains
    return drains + 0.5 * gate_cap(TG_WIDTH_N + TG_WIDTH_P)


def switching_energy(capacitance: float, activity: float = DATA_ACTIVITY) -> float:
    """Energy [J] at the reference supply of charging `capacitance` with the given 0->1
    transition probability."""
    return activity * capacitance * REF_VOLTAGE**2


def fo4_delay() -> float:
    """Fan-out-of-4 delay [s] of a minimum inverter at the reference corner (0.69 R C)."""
    inverter_width = MIN_WIDTH * (1 + PN_RATIO)
    load = 4 * gate_cap(inverter_width) + drain_cap(MIN_WIDTH) + drain_cap(PN_RATIO * MIN_WIDTH)
    return 0.69 * on_resistance(MIN_WIDTH) * load

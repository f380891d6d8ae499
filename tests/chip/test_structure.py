"""The published chip's structure through the mapper: peaks, the measured clock, the power curve fit."""

import re
from pathlib import Path

import pytest

from sparsecim.cases import case
from sparsecim.mapping.arch import find_arch, spec_values
from sparsecim.mapping.operating import curve_of
from sparsecim.pipeline import run
from sparsecim.request import RunRequest
from sparsecim.studies.calibration import OperatingScaling, fit_power_curve
from sparsecim.studies.validate import peak_performance
from sparsecim.workload.shapes import TransformerShape

CHIP = "isscc23_16_2"
REFERENCE = {"voltage": 0.90, "frequency": 220e6}
ARCH = Path(__file__).resolve().parents[2] / "arch" / "isscc23_16_2.yaml"
FIT_RESIDUAL_BOUND_PCT = 13.0  # the fit's worst point is -12.8 % (docs/validation.md)


def test_peak_tops_per_engine_from_the_structure():
    """BFLY: 4 cores x 16 banks x 64 x 16 weights / (4 time slots x 8 bit-serial cycles) x 2 ops x 320 MHz;
    LAR: the K half of 4 KV banks per core the same way, dense-equivalent on the GPT-2 case."""
    bfly, lar = peak_performance(find_arch(CHIP)[1], REFERENCE, 320e6)
    structural_bfly = 4 * 16 * 64 * 16 / (4 * 8) * 2 * 320e6 / 1e12
    assert bfly == pytest.approx(structural_bfly, rel=0.005)
    assert bfly == pytest.approx(1.31, rel=0.01)  # spec table: BFLY-engine peak
    assert lar == pytest.approx(2.04, rel=0.01)  # spec table: LAR-engine peak


TINY = TransformerShape("tiny", 1, 64, 2, 32, 128, max_seq_len=64)


@pytest.mark.parametrize("point", [(0.64, 20e6), (1.03, 320e6)])
def test_moving_a_run_along_the_curve(point):
    """OperatingScaling (one mapping moved to another curve point) is close to mapping at that point;
    it is exact when the mapper keeps its mapping (it may pick another as leakage shifts the
    energy-delay trade-off, which is why `validate` maps every row at its own point)."""
    base = run(RunRequest(model=TINY, seq_len=32, variables={**REFERENCE, "offchip_gbps": "inf"}), jobs=1)
    voltage, frequency = point
    moved = OperatingScaling.of(base)
    direct = run(RunRequest(model=TINY, seq_len=32, variables={"voltage": voltage, "frequency": frequency, "offchip_gbps": "inf"}), jobs=1)
    same_mappings = [r.mapping for r in base.rows] == [r.mapping for r in direct.rows]
    tolerance = 1e-6 if same_mappings else 0.15
    assert moved.latency(frequency) == pytest.approx(direct.latency_onchip_s, rel=tolerance)
    assert moved.energy(voltage, frequency) == pytest.approx(direct.energy_chip_j, rel=tolerance)


@pytest.fixture(scope="module")
def gpt2_reference():
    return run(case("gpt2-enwik8").request(variables={**REFERENCE, "offchip_gbps": "inf"}))


def test_power_along_the_curve_within_the_fit(gpt2_reference):
    """The arch's calibrated factors reproduce the measured curve within the fit's residual, and are
    the fit's own result (reproducible from scripts/calibrate_power.py)."""
    curve = curve_of(CHIP)
    scaling = OperatingScaling.of(gpt2_reference)  # already the calibrated arch
    for volt, hertz, watts in zip(curve.volts, curve.hertz, curve.watts):
        assert abs(scaling.power(volt, hertz) - watts) / watts * 100 <= FIT_RESIDUAL_BOUND_PCT, (volt, hertz)
    values = spec_values(ARCH)
    uncalibrated = OperatingScaling(
        scaling.voltage, scaling.frequency,
        {c: e / float(values["dynamic_energy_scale"]) for c, e in scaling.dynamic_j.items()},
        {c: e / float(values["leakage_scale"]) for c, e in scaling.leakage_j.items()},
        scaling.latency_s,
    )
    fit = fit_power_curve(uncalibrated, curve)
    assert fit.dynamic_scale == pytest.approx(float(values["dynamic_energy_scale"]), rel=2e-3)
    assert fit.leakage_scale == pytest.approx(float(values["leakage_scale"]), rel=2e-3)
    assert max(abs(r) for r in fit.residuals_pct) <= FIT_RESIDUAL_BOUND_PCT


def test_the_arch_says_where_each_calibrated_value_comes_from():
    text = ARCH.read_text()
    for name in ("dynamic_energy_scale", "leakage_scale", "offchip_gbps"):
        line = next(l for l in text.splitlines() if re.search(rf"set {name} = {name}", l))
        block = text[: text.index(line)].splitlines()[-6:] + [line]
        assert "calibrated" in " ".join(block), name

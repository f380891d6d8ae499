"""Operating points from the chip's measured voltage-frequency curve."""

import numpy as np
import pytest

from sparsecim.errors import InputError
from sparsecim.mapping.operating import curve_of, resolve

CHIP = "isscc23_16_2"


def test_frequency_rises_with_voltage_inside_the_published_range():
    curve = curve_of(CHIP)
    volts = np.linspace(0.64, 1.03, 200)
    freqs = [curve.frequency_at(v) for v in volts]
    assert all(b >= a for a, b in zip(freqs, freqs[1:]))
    assert freqs[0] == pytest.approx(20e6) and freqs[-1] == pytest.approx(320e6)
    assert all(20e6 <= f <= 320e6 for f in freqs)
    # every measured point is on the curve both ways
    for mhz, volt in zip(curve.points.mhz, curve.points.volt):
        assert curve.frequency_at(volt) == pytest.approx(mhz * 1e6)
        assert curve.voltage_for(mhz * 1e6) == pytest.approx(volt)


def test_voltage_picks_frequency_and_frequency_picks_voltage():
    assert resolve(CHIP, {"voltage": 0.90})["frequency"] == pytest.approx(220e6)
    assert resolve(CHIP, {"frequency": "320e6"})["voltage"] == pytest.approx(1.03)
    between = resolve(CHIP, {"voltage": 0.89})["frequency"]
    assert 200e6 < between < 220e6
    assert resolve(CHIP, {"voltage": 0.9, "frequency": 100e6})["frequency"] == 100e6  # under the curve: allowed


@pytest.mark.parametrize("variables, words", [
    ({"voltage": 0.5}, "voltage 0.5 V outside the chip's measured range 0.64-1.03 V"),
    ({"voltage": 1.2}, "outside the chip's measured range"),
    ({"frequency": 10e6}, "frequency 10 MHz outside the chip's measured range 20-320 MHz"),
    ({"frequency": 400e6}, "outside the chip's measured range"),
    ({"voltage": 0.7, "frequency": 300e6}, "above what the chip reaches at 0.7 V"),
    ({"voltage": "high"}, "voltage must be a number"),
])
def test_points_off_the_curve_are_input_errors(variables, words):
    with pytest.raises(InputError, match=words):
        resolve(CHIP, variables)


def test_arches_without_a_curve_pass_through():
    assert resolve("simba", {"voltage": 5}) == {"voltage": 5}

"""Physical scaling of every sparsecim component model: voltage, node, widths, validation."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwcomponents_sparsecim import (
    ButterflyDecoder,
    ButterflyZeroSkipper,
    CimBitcellArray,
    DigitalCimMac,
    LarQkShareUnit,
    LarWindowBuffer,
    ModuleComputeUnit,
    QuantizeUnit,
    ScaleComputeUnit,
    SoftmaxUnit,
)
from hwcomponents_sparsecim import _scaling
from hwcomponents_sparsecim.errors import ComponentAttributeError as InputError

# (class, action, constructor kwargs) for every action of every model.
ACTIONS = [
    (DigitalCimMac, "compute", {}),
    (DigitalCimMac, "compute", {"time_slots": 4}),
    (CimBitcellArray, "write", {}),
    (CimBitcellArray, "read", {}),
    (CimBitcellArray, "write", {"transistors": 10}),
    (ButterflyZeroSkipper, "route", {"n_lanes": 16}),
    (ButterflyZeroSkipper, "read", {"n_lanes": 16}),
    (ButterflyZeroSkipper, "configure", {"n_lanes": 16}),
    (ButterflyZeroSkipper, "configure", {"n_lanes": 16, "config_bits_per_switch": 0}),
    (ButterflyDecoder, "decode", {}),
    (ButterflyDecoder, "read", {}),
    (LarWindowBuffer, "write", {}),
    (LarWindowBuffer, "read", {}),
    (LarWindowBuffer, "read", {"size": 64, "width": 16}),
    (LarQkShareUnit, "share", {}),
    (LarQkShareUnit, "read", {}),
    (ModuleComputeUnit, "compute", {}),
    (ModuleComputeUnit, "read", {}),
    (ScaleComputeUnit, "compute", {}),
    (ScaleComputeUnit, "read", {}),
    (QuantizeUnit, "compute", {}),
    (QuantizeUnit, "read", {}),
    (SoftmaxUnit, "compute", {}),
]
MODELS = [
    DigitalCimMac,
    CimBitcellArray,
    ButterflyZeroSkipper,
    ButterflyDecoder,
    LarWindowBuffer,
    LarQkShareUnit,
    ModuleComputeUnit,
    ScaleComputeUnit,
    QuantizeUnit,
    SoftmaxUnit,
]
IDS = [f"{cls.__name__}.{name}{'-' + '-'.join(map(str, kw.values())) if kw else ''}" for cls, name, kw in ACTIONS]


def energy(cls, action_name, **kwargs):
    return getattr(cls(**kwargs), action_name)().energy


@pytest.mark.parametrize("cls,action_name,kwargs", ACTIONS, ids=IDS)
def test_energy_is_quadratic_in_voltage(cls, action_name, kwargs):
    # Dynamic energy C V^2: the ratio between two supplies is (V1/V2)^2.
    low = energy(cls, action_name, voltage=0.7, **kwargs)
    high = energy(cls, action_name, voltage=0.9, **kwargs)
    assert low / high == pytest.approx((0.7 / 0.9) ** 2, rel=1e-9)
    assert energy(cls, action_name, voltage=1.1, **kwargs) / high == pytest.approx((1.1 / 0.9) ** 2, rel=1e-9)


@pytest.mark.parametrize("cls,action_name,kwargs", ACTIONS, ids=IDS)
def test_energy_falls_with_smaller_node(cls, action_name, kwargs):
    e16, e28, e45 = (energy(cls, action_name, tech_node=n, **kwargs) for n in (16e-9, 28e-9, 45e-9))
    assert 0 < e16 < e28 < e45


@pytest.mark.parametrize("cls", MODELS)
def test_area_and_leakage_fall_with_smaller_node(cls):
    small, ref, large = (cls(tech_node=n) for n in (16e-9, 28e-9, 45e-9))
    assert 0 < small.area < ref.area < large.area
    assert 0 < small.leak_power < ref.leak_power < large.leak_power


@pytest.mark.parametrize("cls", MODELS)
def test_leakage_falls_with_supply(cls):
    assert cls(voltage=0.7).leak_power < cls(voltage=0.9).leak_power < cls(voltage=1.1).leak_power


@pytest.mark.parametrize("cls", MODELS)
def test_area_does_not_depend_on_supply(cls):
    assert cls(voltage=0.7).area == pytest.approx(cls(voltage=1.0).area, rel=1e-12)


def test_delay_follows_alpha_power_law():
    def alpha_power(v):  # t ~ V / (V - Vth)^alpha, Sakurai & Newton 1990
        return v / (v - _scaling.THRESHOLD_VOLTAGE) ** _scaling.ALPHA

    slow, fast = DigitalCimMac(voltage=0.7), DigitalCimMac(voltage=0.9)
    ratio = slow.critical_path_delay / fast.critical_path_delay
    assert ratio == pytest.approx(alpha_power(0.7) / alpha_power(0.9), rel=1e-9)
    assert ratio > 1


def test_clock_is_stretched_when_logic_is_slower_than_cycle():
    mac = DigitalCimMac(voltage=0.6, cycle_period=1e-9)
    assert mac.critical_path_delay > 1e-9
    cost = mac.compute()
    assert cost.latency == pytest.approx(8 * mac.critical_path_delay)
    assert cost.throughput == pytest.approx(1 / cost.latency)


def test_mac_throughput_is_one_lane_per_input_bit_cycle():
    cost = DigitalCimMac(cycle_period=10e-9, input_bits=8).compute()
    assert cost.throughput == pytest.approx(1 / (8 * 10e-9))
    assert cost.latency == pytest.approx(80e-9)


def test_mac_energy_grows_with_operand_widths():
    by_input = [energy(DigitalCimMac, "compute", input_bits=b) for b in (4, 8, 16)]
    by_weight = [DigitalCimMac(weight_bits=b) for b in (4, 8, 16)]
    assert by_input[0] < by_input[1] < by_input[2]
    # Bit-serial: one cycle per input bit, so energy is about linear in input_bits (the
    # shift register widens slightly with it).
    assert 1.9 < by_input[2] / by_input[1] < 2.3
    assert [m.compute().energy for m in by_weight] == sorted(m.compute().energy for m in by_weight)
    assert by_weight[0].area < by_weight[1].area < by_weight[2].area


def test_bitcell_energy_is_affine_and_area_linear_in_bits():
    writes = [energy(CimBitcellArray, "write", width=w) for w in (8, 16, 24)]
    reads = [energy(CimBitcellArray, "read", width=w) for w in (8, 16, 24)]
    # width bits x per-bit bitline/wordline energy + one row decode per access.
    assert writes[2] - writes[1] == pytest.approx(writes[1] - writes[0], rel=1e-9)
    assert reads[2] - reads[1] == pytest.approx(reads[1] - reads[0], rel=1e-9)
    assert CimBitcellArray(size=2048).area == pytest.approx(2 * CimBitcellArray(size=1024).area)
    assert CimBitcellArray(size=2048).leak_power == pytest.approx(2 * CimBitcellArray(size=1024).leak_power)


def test_bitcell_bits_per_action_scales_energy_and_throughput():
    array = CimBitcellArray(width=8)
    one, two = array.write(), array.write(bits_per_action=16)
    assert two.energy == pytest.approx(2 * one.energy)
    assert two.throughput == pytest.approx(one.throughput / 2)


def test_longer_bitlines_cost_more_per_write():
    assert energy(CimBitcellArray, "write", n_rows=128) > energy(CimBitcellArray, "write", n_rows=64)


@pytest.mark.parametrize("n_lanes", [2, 4, 16, 32, 64, 256])
def test_butterfly_structure(n_lanes):
    net = ButterflyZeroSkipper(n_lanes=n_lanes, config_bits_per_switch=2)
    stages = round(math.log2(n_lanes))
    assert net.n_stages == stages
    assert net.n_switches == n_lanes // 2 * stages
    assert net.config_bits == 2 * n_lanes // 2 * stages


def test_butterfly_costs_grow_with_lanes():
    nets = [ButterflyZeroSkipper(n_lanes=n) for n in (8, 16, 32, 64, 128)]
    routes = [n.route().energy for n in nets]
    assert routes == sorted(routes) and len(set(routes)) == len(routes)
    assert [n.route_delay for n in nets] == sorted(n.route_delay for n in nets)
    configs = [n.configure().energy for n in nets]
    assert configs == sorted(configs)
    # Wiring: the last stage's tracks span N lanes, so area grows faster than N log N.
    for small, big in zip(nets, nets[1:]):
        switch_ratio = big.n_switches / small.n_switches
        assert big.area / small.area > switch_ratio


def test_butterfly_wiring_follows_bisection_width():
    # The last stage joins lanes N/2 apart, so a cut through the middle is crossed by
    # N * data_width wires; its column needs that many tracks (M3 pitch 2.8F = 78.4 nm).
    for n_lanes, data_width in [(16, 8), (64, 8), (64, 4), (256, 8)]:
        net = ButterflyZeroSkipper(n_lanes=n_lanes, data_width=data_width)
        assert net.stage_widths[-1] >= n_lanes * data_width * 78.4e-9 * (1 - 1e-9)
    # Thompson (1979): a butterfly's layout area grows as N^2 (bisection width ~N).
    big, bigger = ButterflyZeroSkipper(n_lanes=256), ButterflyZeroSkipper(n_lanes=512)
    assert bigger.area / big.area > 3.5


def test_butterfly_route_grows_at_least_linearly_with_data_width():
    e4, e8, e16 = (energy(ButterflyZeroSkipper, "route", data_width=w) for w in (4, 8, 16))
    assert e8 >= 2 * e4 and e16 >= 2 * e8


def test_butterfly_read_equals_route_and_routes_all_lanes_per_cycle():
    net = ButterflyZeroSkipper(n_lanes=32, cycle_period=5e-9)
    assert net.read().energy == net.route().energy
    assert net.route().throughput == pytest.approx(32 / 5e-9)


@pytest.mark.parametrize("n_lanes", [0, 1, 3, 6, 48, 100, -8, 2.5, "sixteen", None])
def test_butterfly_rejects_bad_lane_counts(n_lanes):
    with pytest.raises(InputError, match="n_lanes"):
        ButterflyZeroSkipper(n_lanes=n_lanes)


def test_window_buffer_energy_linear_in_width_at_fixed_depth():
    narrow = LarWindowBuffer(width=64, size=64 * 128)
    wide = LarWindowBuffer(width=128, size=128 * 128)
    assert wide.write().energy == pytest.approx(2 * narrow.write().energy)
    assert wide.read().energy == pytest.approx(2 * narrow.read().energy)
    assert wide.area == pytest.approx(2 * narrow.area)


def test_window_buffer_rejects_size_not_multiple_of_width():
    with pytest.raises(InputError, match="multiple of width"):
        LarWindowBuffer(size=1000, width=64)


def test_qk_share_grows_with_width_and_fanout():
    base = energy(LarQkShareUnit, "share")
    assert energy(LarQkShareUnit, "share", width=32) > base
    assert energy(LarQkShareUnit, "share", n_consumers=8) > base
    assert LarQkShareUnit(width=32).area > LarQkShareUnit().area


def test_softmax_lanes_scale_area_and_throughput_not_energy():
    units = [SoftmaxUnit(n_lanes=n) for n in (8, 16, 24)]
    assert units[2].area - units[1].area == pytest.approx(units[1].area - units[0].area, rel=1e-9)
    assert units[0].compute().energy == pytest.approx(units[2].compute().energy, rel=1e-12)
    assert units[2].compute().throughput == pytest.approx(3 * units[0].compute().throughput)
    widths = [energy(SoftmaxUnit, "compute", width=w) for w in (8, 16, 32)]
    assert widths == sorted(widths)


@pytest.mark.parametrize(
    "cls,kwargs,name",
    [
        (DigitalCimMac, {"voltage": 0.3}, "voltage"),
        (DigitalCimMac, {"voltage": 2.0}, "voltage"),
        (DigitalCimMac, {"tech_node": 28}, "tech_node"),
        (DigitalCimMac, {"cycle_period": 0}, "cycle_period"),
        (DigitalCimMac, {"n_rows": 1}, "n_rows"),
        (CimBitcellArray, {"width": 0}, "width"),
        (LarQkShareUnit, {"consumer_pitch": -1e-6}, "consumer_pitch"),
        (SoftmaxUnit, {"lut_segments": 1}, "lut_segments"),
    ],
)
def test_bad_attributes_raise_input_error(cls, kwargs, name):
    with pytest.raises(InputError, match=name):
        cls(**kwargs)


VOLTAGES = st.floats(_scaling.MIN_VOLTAGE, _scaling.MAX_VOLTAGE)


@settings(max_examples=50, deadline=None)
@given(VOLTAGES, VOLTAGES)
def test_voltage_helpers_are_monotone(v1, v2):
    lo, hi = min(v1, v2), max(v1, v2)
    assert _scaling.voltage_energy_scale(hi) >= _scaling.voltage_energy_scale(lo)
    assert _scaling.voltage_leak_scale(hi) >= _scaling.voltage_leak_scale(lo)
    assert _scaling.voltage_delay_scale(hi) <= _scaling.voltage_delay_scale(lo)
    assert _scaling.voltage_energy_scale(v1, v2) * _scaling.voltage_energy_scale(v2, v1) == pytest.approx(1)

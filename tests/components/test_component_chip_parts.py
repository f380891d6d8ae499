"""The parts added for the chip as published: measured clock (stretch_clock), time slots, 10T
routing cells, decoder-driven switches, BFLY decoder, module/scale compute, quantiser, small
latch buffers. Expected values come from the reference blocks and physical relations, never
from numbers the models printed."""

import math

import numpy as np
import pytest

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
from hwcomponents_sparsecim import _device, _refs
from hwcomponents_sparsecim.cim_macro import _multiply_cell_cap
from hwcomponents_sparsecim.decoder import brent_kung_levels
from hwcomponents_sparsecim.errors import ComponentAttributeError as InputError

PJ, FJ, UM2 = 1e-12, 1e-15, 1e-12

# (class, action, kwargs) covering every model.
ACTIONS = [
    (DigitalCimMac, "compute", {"time_slots": 4}),
    (CimBitcellArray, "write", {"transistors": 10}),
    (ButterflyZeroSkipper, "route", {"n_lanes": 16}),
    (ButterflyZeroSkipper, "configure", {"n_lanes": 16, "config_bits_per_switch": 0}),
    (ButterflyDecoder, "decode", {}),
    (ButterflyDecoder, "read", {}),
    (LarWindowBuffer, "read", {"size": 32, "width": 16}),
    (LarQkShareUnit, "share", {}),
    (ModuleComputeUnit, "compute", {}),
    (ScaleComputeUnit, "compute", {}),
    (QuantizeUnit, "compute", {}),
    (SoftmaxUnit, "compute", {}),
]
IDS = [f"{cls.__name__}.{name}" for cls, name, _ in ACTIONS]


# --- stretch_clock -------------------------------------------------------------------------


@pytest.mark.parametrize("cls,action_name,kwargs", ACTIONS, ids=IDS)
def test_measured_clock_is_never_stretched(cls, action_name, kwargs):
    # A clock far shorter than any modelled logic: stretched by default, used as given otherwise.
    fast = 1e-11
    given = cls(cycle_period=fast, stretch_clock=False, **kwargs)
    stretched = cls(cycle_period=fast, **kwargs)
    assert given.critical_path_delay == stretched.critical_path_delay > fast
    assert given.timing_slack < 0
    as_given, at_twice = (
        getattr(cls(cycle_period=c, stretch_clock=False, **kwargs), action_name)() for c in (fast, 2 * fast)
    )
    assert at_twice.latency == pytest.approx(2 * as_given.latency, rel=1e-12)
    assert at_twice.throughput == pytest.approx(as_given.throughput / 2, rel=1e-12)
    assert getattr(stretched, action_name)().latency > as_given.latency
    # Energy does not depend on the clock.
    assert getattr(stretched, action_name)().energy == as_given.energy


def test_mac_latency_is_input_bits_cycles_of_the_measured_clock():
    mac = DigitalCimMac(voltage=0.64, cycle_period=1 / 20e6, stretch_clock=False)
    assert mac.compute().latency == pytest.approx(8 / 20e6)
    slow = DigitalCimMac(voltage=0.6, cycle_period=1e-9, stretch_clock=False)
    assert slow.critical_path_delay > 1e-9
    assert slow.compute().latency == pytest.approx(8e-9)


@pytest.mark.parametrize("value,expected", [("false", False), ("True", True), (0, False), (1, True)])
def test_stretch_clock_accepts_yaml_spellings(value, expected):
    assert DigitalCimMac(stretch_clock=value).stretch_clock is expected


@pytest.mark.parametrize("value", ["maybe", 2, None, 0.5])
def test_stretch_clock_rejects_other_values(value):
    with pytest.raises(InputError, match="stretch_clock"):
        ButterflyDecoder(stretch_clock=value)


# --- DigitalCimMac time slots ----------------------------------------------------------------


def previous_mac(input_bits=8, weight_bits=8, n_rows=64):
    """The single-slot MAC as defined before time slots existed, restated from its blocks."""
    tree_bits = weight_bits + math.ceil(math.log2(n_rows))
    tree = _refs.neurosim_block("AdderTree", n_bits=weight_bits, n_adder_tree_inputs=n_rows).times(1 / n_rows)
    shift_add = _refs.neurosim_block(
        "ShiftAdd", n_bits=tree_bits, shift_register_n_bits=tree_bits + input_bits
    ).times(1 / n_rows)
    gate_area = _refs.neurosim_block("NORGate").area
    energy = (
        input_bits * weight_bits * _device.switching_energy(_multiply_cell_cap())
        + input_bits * tree.energy
        + input_bits * shift_add.energy
    )
    area = weight_bits * gate_area + tree.area + shift_add.area
    leak = weight_bits * gate_area * _refs.logic_leak_density() + tree.leak_power + shift_add.leak_power
    return energy, area, leak


@pytest.mark.parametrize("kwargs", [{}, {"input_bits": 4, "n_rows": 128}, {"weight_bits": 4, "n_rows": 16}])
def test_one_time_slot_is_the_previous_mac(kwargs):
    energy, area, leak = previous_mac(**kwargs)
    mac = DigitalCimMac(time_slots=1, **kwargs)
    assert mac.compute().energy == pytest.approx(energy, rel=1e-12)
    assert mac.area == pytest.approx(area, rel=1e-12)
    assert mac.leak_power == pytest.approx(leak, rel=1e-12)
    assert mac.energy_breakdown()["slot_select"] == 0
    assert mac.compute().throughput == pytest.approx(1 / (mac.input_bits * 10e-9))


def test_four_time_slots_quarter_lane_throughput_and_share_the_logic():
    one, four = DigitalCimMac(), DigitalCimMac(time_slots=4)
    # Per stored weight: a quarter of the lane's cycles, the same MAC duration.
    assert four.compute().throughput == pytest.approx(one.compute().throughput / 4)
    assert four.compute().latency == pytest.approx(one.compute().latency)
    # Energy: the same MAC plus a 4:1 select per weight bit per cycle (NeuroSIM Mux).
    select = _refs.neurosim_block("Mux", n_bits=1, n_mux_inputs=4).energy
    assert four.compute().energy == pytest.approx(one.compute().energy + 8 * 8 * select, rel=1e-12)
    # Area per stored weight: tree, shift-add, NOR gates and select shared four ways.
    energy, area, _ = previous_mac()
    nor = _refs.neurosim_block("NORGate").area
    logic_one = area - 8 * nor  # tree + shift-add share of one slot
    assert four.area == pytest.approx(logic_one / 4 + 8 * (nor + 4 * _device.TG_AREA) / 4, rel=1e-12)
    assert one.area / 4 < four.area < one.area
    assert four.leak_power < one.leak_power
    # The select sits in series with the in-cell multiply.
    assert four.critical_path_delay > one.critical_path_delay


def test_time_slots_monotone():
    macs = [DigitalCimMac(time_slots=t) for t in (1, 2, 4, 8)]
    assert [m.compute().throughput for m in macs] == sorted((m.compute().throughput for m in macs), reverse=True)
    assert [m.compute().energy for m in macs] == sorted(m.compute().energy for m in macs)
    with pytest.raises(InputError, match="time_slots"):
        DigitalCimMac(time_slots=0)


# --- CimBitcellArray 10T --------------------------------------------------------------------


def test_ten_transistor_cell_larger_and_leakier_by_device_count():
    eight, ten = CimBitcellArray(), CimBitcellArray(transistors=10)
    assert ten.area_per_bit > eight.area_per_bit
    assert ten.area_per_bit / eight.area_per_bit == pytest.approx(10 / 8)
    assert ten.leak_power_per_bit / eight.leak_power_per_bit == pytest.approx((10 / 6) / (8 / 6))
    # Same per-bit write/read model; only the (wider cell's) wordline grows.
    for action_name in ("write", "read"):
        e8, e10 = (getattr(a, action_name)().energy for a in (eight, ten))
        assert e8 < e10 < 1.05 * e8


def test_eight_transistors_is_the_default_cell():
    default, eight = CimBitcellArray(), CimBitcellArray(transistors=8)
    assert default.area == eight.area and default.write().energy == eight.write().energy
    # Foundry 6T 0.127 um^2 x 1.3 (8T read port) x 1.5 (logic rules), as documented.
    assert default.area_per_bit == pytest.approx(0.127 * 1.3 * 1.5 * UM2)


@pytest.mark.parametrize("transistors", [6, 9, 12, 0])
def test_other_cells_rejected(transistors):
    with pytest.raises(InputError, match="transistors"):
        CimBitcellArray(transistors=transistors)


# --- ButterflyZeroSkipper driven by the decoder -----------------------------------------------


def test_decoder_driven_switches_have_no_latches():
    latched, driven = ButterflyZeroSkipper(n_lanes=16), ButterflyZeroSkipper(n_lanes=16, config_bits_per_switch=0)
    assert driven.config_bits == 0
    latch = _refs.latch_bit()
    # One latch and one gate-drive inverter per switch less.
    assert latched.area - driven.area == pytest.approx(latched.n_switches * (latch.area + _device.TG_AREA), rel=1e-9)
    assert latched.configure().energy - driven.configure().energy == pytest.approx(
        latched.n_switches * latch.energy, rel=1e-9
    )
    assert driven.configure().energy > 0
    assert driven.leak_power < latched.leak_power
    assert driven.route().energy == latched.route().energy
    with pytest.raises(InputError, match="config_bits_per_switch"):
        ButterflyZeroSkipper(config_bits_per_switch=-1)


# --- ButterflyDecoder -----------------------------------------------------------------------


@pytest.mark.parametrize("n_lanes", [2, 4, 8, 16, 32, 64, 128])
def test_brent_kung_network_computes_prefix_popcounts(n_lanes):
    rng = np.random.default_rng(n_lanes)
    mask = rng.integers(0, 2, size=(200, n_lanes))
    x = mask.copy()
    for level in brent_kung_levels(n_lanes):
        destinations = [d for d, _ in level]
        assert len(set(destinations)) == len(destinations)
        assert not set(destinations) & {s for _, s in level}  # one level = independent adders
        for d, s in level:
            x[:, d] += x[:, s]
    np.testing.assert_array_equal(x, np.cumsum(mask, axis=1))
    stages = int(math.log2(n_lanes))
    decoder = ButterflyDecoder(n_lanes=n_lanes)
    assert decoder.n_prefix_adders == 2 * n_lanes - 2 - stages
    assert decoder.prefix_depth == max(1, 2 * stages - 1)
    assert decoder.n_settings == n_lanes // 2 * stages


def test_decoder_costs_grow_with_lanes():
    decoders = [ButterflyDecoder(n_lanes=n) for n in (4, 8, 16, 32, 64)]
    for name in ("decode", "read"):
        energies = [getattr(d, name)().energy for d in decoders]
        assert energies == sorted(energies) and len(set(energies)) == len(energies)
    areas = [d.area for d in decoders]
    assert areas == sorted(areas)
    delays = [d.critical_path_delay for d in decoders]
    assert delays == sorted(delays)


def test_decoder_read_is_a_decode_shared_by_its_lanes():
    decoder = ButterflyDecoder(n_lanes=16, cycle_period=5e-9)
    decode, read = decoder.decode(), decoder.read()
    assert read.energy == pytest.approx(decode.energy / 16)
    assert decode.throughput == pytest.approx(1 / 5e-9)
    assert read.throughput == pytest.approx(16 / 5e-9)
    assert sum(decoder.energy_breakdown().values()) == pytest.approx(decode.energy)


def test_decoder_energy_between_its_adders_and_a_mac():
    # At least the N - 1 one-bit additions any prefix popcount needs (NeuroSIM adder); one
    # decoded group steers N inputs into rows of MACs, so per value it must cost less than a MAC.
    decoder = ButterflyDecoder(n_lanes=16)
    assert decoder.decode().energy > 15 * _refs.neurosim_block("Adder", n_bits=1).energy
    assert decoder.read().energy < DigitalCimMac().compute().energy


@pytest.mark.parametrize("n_lanes", [1, 3, 12, 0, "x"])
def test_decoder_rejects_bad_lane_counts(n_lanes):
    with pytest.raises(InputError, match="n_lanes"):
        ButterflyDecoder(n_lanes=n_lanes)


# --- Module compute, scale compute, quantiser ------------------------------------------------


def test_module_compute_amortises_the_inverse_sqrt_over_the_head():
    short, long = ModuleComputeUnit(head_dim=32), ModuleComputeUnit(head_dim=128)
    # 1/head_dim share of the per-token rsqrt; the per-element square-and-accumulate is the
    # same except for one accumulator bit per doubling of head_dim.
    assert short.energy_breakdown()["inverse_sqrt"] > long.energy_breakdown()["inverse_sqrt"]
    assert long.accumulator_bits == 2 * 8 + 7 and short.accumulator_bits == 2 * 8 + 5
    full = _refs.aladdin_block("AladdinMultiplier", width_a=8, width_b=8).energy
    assert ModuleComputeUnit().energy_breakdown()["square"] < full  # a squarer is smaller than a multiplier


def test_module_compute_throughput_limited_by_lanes_or_shared_rsqrt():
    cycle = 10e-9
    assert ModuleComputeUnit(n_lanes=4).compute().throughput == pytest.approx(4 / cycle)
    # 64 elements per token at 16 lanes would need an rsqrt every 4 cycles; it takes 8.
    assert ModuleComputeUnit(n_lanes=16).compute().throughput == pytest.approx(64 / 8 / cycle)
    assert ModuleComputeUnit(n_lanes=16, head_dim=256).compute().throughput == pytest.approx(16 / cycle)


def test_scale_compute_and_quantiser_share_one_datapath():
    for a, b, out in [(24, 16, 8), (20, 12, 8), (32, 16, 4)]:
        scale = ScaleComputeUnit(score_bits=a, norm_bits=b, out_bits=out, n_lanes=4)
        quant = QuantizeUnit(acc_bits=a, scale_bits=b, out_bits=out, n_lanes=4)
        assert scale.compute().energy == quant.compute().energy
        assert scale.area == quant.area


def test_requantiser_dominated_by_its_multiply_and_grows_with_widths():
    parts = QuantizeUnit().energy_breakdown()
    assert parts["multiply"] > sum(v for k, v in parts.items() if k != "multiply")
    widths = [ScaleComputeUnit(score_bits=w).compute().energy for w in (16, 24, 32)]
    assert widths == sorted(widths)
    lanes = [QuantizeUnit(n_lanes=n) for n in (4, 8, 12)]
    assert lanes[2].area - lanes[1].area == pytest.approx(lanes[1].area - lanes[0].area, rel=1e-9)
    assert lanes[0].compute().energy == lanes[2].compute().energy
    assert lanes[2].compute().throughput == pytest.approx(3 * lanes[0].compute().throughput)
    with pytest.raises(InputError, match="narrower"):
        QuantizeUnit(acc_bits=4, scale_bits=4, out_bits=8)


def test_lar_compute_in_published_ranges():
    # Horowitz (ISSCC 2014, 45 nm): 8b multiply 0.2 pJ, 32b multiply 3.1 pJ, 32b add 0.1 pJ;
    # roughly halved at 28 nm; Aladdin's multipliers are ~4x those (SoftmaxUnit docstring).
    # Module compute: an 8b squarer + a 22b accumulate per element, 0.1-3 pJ.
    assert 0.1 * PJ < ModuleComputeUnit().compute().energy < 3 * PJ
    # Scale compute: a 24x16 multiply (3/8 of a 32x32) + requantise, 0.3-10 pJ.
    assert 0.3 * PJ < ScaleComputeUnit().compute().energy < 10 * PJ
    # Sharing pays: one shared product costs 64 MACs; scaling it for the second direction must
    # cost less than recomputing it.
    assert ScaleComputeUnit().compute().energy < 64 * DigitalCimMac().compute().energy


# --- small latch buffers --------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 8])
def test_latch_buffer_works_down_to_one_row(depth):
    width = 16
    buf = LarWindowBuffer(size=depth * width, width=width)
    latch = _refs.latch_bit()
    assert buf.write().energy > width * latch.energy
    assert buf.read().energy > 0
    assert buf.write(bits_per_action=2 * width).energy == pytest.approx(2 * buf.write().energy)
    assert buf.area >= depth * width * latch.area
    if depth == 1:
        assert buf.area == pytest.approx(width * latch.area)  # no read mux


def test_latch_buffer_read_grows_with_depth():
    reads = [LarWindowBuffer(size=d * 16, width=16).read().energy for d in (1, 2, 4, 8, 16)]
    assert reads == sorted(reads) and len(set(reads)) == len(reads)

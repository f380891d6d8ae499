"""Sanity ranges of the 28 nm / 0.9 V / 100 MHz defaults against published or tool figures.

Each bound names its source; the bounds are loose on purpose (they catch unit slips and
order-of-magnitude errors, not calibration).
"""

from hwcomponents_cacti import SRAM

from hwcomponents_sparsecim import (
    ButterflyZeroSkipper,
    CimBitcellArray,
    DigitalCimMac,
    LarQkShareUnit,
    LarWindowBuffer,
    SoftmaxUnit,
)

PJ, FJ, UM2 = 1e-12, 1e-15, 1e-12


def test_mac_energy_in_published_range():
    # 8b MAC at 28 nm, 0.9 V: 0.05-2 pJ. Low end: 28 nm digital CIM macros reach 10-30 TOPS/W
    # at 8 b (CIMple 2026: 26.1 TOPS/W at 0.85 V, published.yaml peers) = 0.07-0.2 pJ/MAC;
    # high end: a standard-cell 8b multiply + add is 0.23 pJ at 45 nm (Horowitz, ISSCC 2014).
    e = DigitalCimMac().compute().energy
    assert 0.05 * PJ < e < 2 * PJ
    # The chip's 53.8 TOPS/W peak includes sparsity skipping; a dense MAC must be less efficient.
    assert 2 / e / 1e12 < 53.8


def test_mac_energy_dominated_by_adder_tree():
    # Per lane and cycle the tree switches about one weight_bits-bit adder (a 64-input tree has
    # 63 adders), the cell only 8 NOR gates: the tree must dominate.
    parts = DigitalCimMac().energy_breakdown()
    assert parts["adder_tree"] > parts["shift_add"] > 0
    assert parts["adder_tree"] > parts["cell_multiply"] > 0


def test_mac_lane_area_in_digital_cim_range():
    # A lane's share of the tree is about one 8-bit adder: 8 mirror full adders of 28
    # transistors (7 NAND2 equivalents of ~0.5 um^2 in a 28 nm library) ~ 28 um^2, plus the
    # shift-add share and 8 NOR gates. Range 10-60 um^2.
    area = DigitalCimMac().area
    assert 10 * UM2 < area < 60 * UM2


def test_bitcell_write_energy_close_to_cacti():
    # Same 64-row, 64-bit-wide subarray in CACTI (hwcomponents_cacti, 28 nm): CACTI adds
    # decoders/H-tree periphery, so our cell-level model should be below it but within 3x.
    ours = CimBitcellArray(width=64, n_rows=64).write().energy / 64
    cacti = SRAM(tech_node=28e-9, width=64, size=64 * 64).write().energy / 64
    assert cacti / 3 < ours < cacti * 1.5


def test_bitcell_area_between_foundry_cell_and_four_times_it():
    # TSMC 28 nm HD 6T foundry cell: 0.127 um^2 (Wu et al., VLSI 2009). A custom CIM cell in
    # logic rules is larger, but not more than ~4x.
    per_bit = CimBitcellArray().area_per_bit
    assert 0.127 * UM2 < per_bit < 4 * 0.127 * UM2


def test_butterfly_route_cheap_relative_to_the_macs_it_feeds():
    # One routed activation feeds a CIM row (many MACs); its routing must cost less than one
    # MAC, and at least the TG-only energy: NeuroSIM's TG 2:1 mux (0.75 fJ/bit at 28 nm) x
    # 8 bits x 6 stages x 0.25 activity ~ 9 fJ.
    route = ButterflyZeroSkipper(n_lanes=64).route().energy
    assert 9 * FJ < route < DigitalCimMac().compute().energy


def test_butterfly_area_small_next_to_the_cim_rows_it_serves():
    # A 64-lane butterfly serves 64 rows; 64 rows x 128 columns of 8b lanes is ~0.2 mm^2 of
    # MAC logic at 26 um^2 per lane. The network should be a few percent of that.
    net = ButterflyZeroSkipper(n_lanes=64)
    macro = 64 * 128 * DigitalCimMac().area
    assert 0.001 < net.area / macro < 0.2


def test_softmax_energy_per_element_in_range():
    # Two multiplies (8x16, 16x16) dominate: Horowitz (ISSCC 2014, 45 nm) gives ~1.2 pJ for
    # them, ~0.6 pJ at 28 nm; Aladdin's multipliers are ~4x that. Range 0.3-10 pJ.
    e = SoftmaxUnit().compute().energy
    assert 0.3 * PJ < e < 10 * PJ


def test_window_buffer_per_bit_between_sram_and_flip_flops():
    buf = LarWindowBuffer()
    write_per_bit = buf.write().energy / buf.width
    read_per_bit = buf.read().energy / buf.width
    # CACTI 28 nm 256 x 64 b SRAM reads ~18 fJ/bit (measured); a latch array is the same order.
    assert 2 * FJ < write_per_bit < 50 * FJ
    assert 2 * FJ < read_per_bit < 50 * FJ
    # Latches are larger than SRAM cells (0.127 um^2) and smaller than an Aladdin flip-flop
    # bit (5.98 um^2 at 40 nm, 3.3 um^2 at 28 nm).
    assert 0.127 * UM2 < buf.area_per_bit < 3.3 * UM2


def test_qk_share_costs_less_than_the_dot_product_it_saves():
    # Sharing one Q.K partial result must be cheaper than recomputing it: a 64-element 8b dot
    # product is 64 MACs.
    assert LarQkShareUnit().share().energy < 64 * DigitalCimMac().compute().energy

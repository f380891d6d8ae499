"""The BFLY decoder's routing rule, simulated on masks against the reference router.

Rule (ButterflyDecoder docstring): with PP_i = PP_(i-1) + mask_i, stage s (address bit s,
least-significant first) crosses the switch carrying kept input i iff bit s of
i XOR (PP_i - 1) is 1. The chip writes it per block as "left-rotation and complement-on-warp"
(LRCW, mechanism figure). Reference: sparsecim.sparsity.packing.butterfly_route (order-preserving
compaction routed bit by bit) and decoder_settings; the plug-in itself never imports sparsecim.
"""

import numpy as np
import pytest

from sparsecim.sparsity.packing import butterfly_route, decoder_settings


def all_masks(lanes: int) -> np.ndarray:
    codes = np.arange(2**lanes)
    return ((codes[:, None] >> np.arange(lanes)) & 1).astype(bool)


def random_masks(lanes: int, count: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + lanes)
    density = rng.random((count, 1))  # every density from empty to full
    return rng.random((count, lanes)) < density


MASKS = {8: all_masks(8), 16: random_masks(16), 32: random_masks(32)}


def stage_switch(position: np.ndarray, stage: int) -> np.ndarray:
    """Index of the stage-s switch holding `position` (switch j joins lo and lo + 2^s, with
    lo = ((j >> s) << (s + 1)) | (j mod 2^s))."""
    return ((position >> (stage + 1)) << stage) | (position & ((1 << stage) - 1))


def prefix_popcount_settings(mask: np.ndarray):
    """Settings [..., stage, switch] from the per-lane rule, plus per-stage conflict flags and
    switch occupancy. Idle switches stay straight."""
    lanes = mask.shape[-1]
    stages = lanes.bit_length() - 1
    lane = np.arange(lanes)
    target = np.cumsum(mask, axis=-1) - 1  # PP_i - 1
    switches = np.arange(lanes // 2)
    settings = np.zeros(mask.shape[:-1] + (stages, lanes // 2), dtype=bool)
    occupied = np.zeros_like(settings)
    conflict = np.zeros(mask.shape[:-1], dtype=bool)
    for s in range(stages):
        low_bits = (1 << s) - 1
        position = ((lane >> s) << s) | (target & low_bits)  # bits >= s from the source, < s from the target
        cross = (((lane ^ target) >> s) & 1).astype(bool)
        on = mask[..., :, None] & (stage_switch(position, s)[..., :, None] == switches)  # [..., lane, switch]
        wants_cross = (on & cross[..., :, None]).any(axis=-2)
        wants_straight = (on & ~cross[..., :, None]).any(axis=-2)
        conflict |= (wants_cross & wants_straight).any(axis=-1)
        settings[..., s, :] = wants_cross
        occupied[..., s, :] = on.any(axis=-2)
    return settings, conflict, occupied


def apply_settings(mask: np.ndarray, settings: np.ndarray) -> np.ndarray:
    """Push every kept input's lane number through the set butterfly; -1 marks no value."""
    lanes = mask.shape[-1]
    at = np.where(mask, np.arange(lanes), -1)
    j = np.arange(lanes // 2)
    for s in range(settings.shape[-2]):
        low = ((j >> s) << (s + 1)) | (j & ((1 << s) - 1))
        high = low | (1 << s)
        cross = settings[..., s, :]
        a, b = at[..., low], at[..., high]
        at[..., low] = np.where(cross, b, a)
        at[..., high] = np.where(cross, a, b)
    return at


def lrcw(bits: int, shift: int) -> list[int]:
    """The figure's LRCW(0...0, shift): rotate a `bits`-bit zero vector left `shift` times,
    complementing the bit that wraps from the top into the bottom. Element p is bit p."""
    vector = [0] * bits
    for _ in range(shift):
        vector = [1 - vector[-1]] + vector[:-1]
    return vector


def lrcw_settings(mask: np.ndarray) -> np.ndarray:
    """Block form: in the aligned block of 2^(s+1) lanes starting at L, b = PP_(L + 2^s - 1);
    LRCW(0^(2^s), b mod 2^(s+1)) bit p = 1 means pass, 0 means swap, for the switch at offset p."""
    lanes = mask.shape[-1]
    stages = lanes.bit_length() - 1
    prefix = np.cumsum(mask, axis=-1)
    settings = np.zeros(mask.shape[:-1] + (stages, lanes // 2), dtype=bool)
    for s in range(stages):
        half = 1 << s
        table = np.array([lrcw(half, shift) for shift in range(2 * half)], dtype=bool)  # [shift, p]
        for block in range(lanes // (2 * half)):
            b = prefix[..., block * 2 * half + half - 1]
            settings[..., s, block * half : (block + 1) * half] = ~table[b % (2 * half)]
    return settings


@pytest.mark.parametrize("lanes", sorted(MASKS))
def test_prefix_popcount_rule_equals_reference_router(lanes):
    mask = MASKS[lanes]
    settings, conflict, _ = prefix_popcount_settings(mask)
    reference = butterfly_route(mask)
    assert not conflict.any()
    assert not reference.conflict.any()
    np.testing.assert_array_equal(settings, reference.settings)
    np.testing.assert_array_equal(settings, decoder_settings(mask))


@pytest.mark.parametrize("lanes", sorted(MASKS))
def test_rule_routes_every_kept_input_to_its_rank(lanes):
    mask = MASKS[lanes]
    settings, _, _ = prefix_popcount_settings(mask)
    out = apply_settings(mask, settings)
    kept = mask.sum(axis=-1)
    rank = np.arange(lanes)
    # Outputs 0 .. kept-1 hold the kept inputs in input order (output PP_i - 1 holds input i); the rest are empty.
    expected = np.full(mask.shape, -1)
    rows, cols = np.nonzero(mask)
    expected[rows, (np.cumsum(mask, axis=-1) - 1)[rows, cols]] = cols
    np.testing.assert_array_equal(out, expected)
    assert ((out >= 0) == (rank < kept[:, None])).all()


@pytest.mark.parametrize("lanes", sorted(MASKS))
def test_lrcw_block_form_agrees_on_every_used_switch(lanes):
    mask = MASKS[lanes]
    settings, _, occupied = prefix_popcount_settings(mask)
    block_form = lrcw_settings(mask)
    np.testing.assert_array_equal(block_form[occupied], settings[occupied])
    # Idle switches carry nothing, so the block form's setting there is free: routing is the same.
    np.testing.assert_array_equal(apply_settings(mask, block_form), apply_settings(mask, settings))


def test_lrcw_equals_thermometer_xor_that_the_cost_model_counts():
    # ButterflyDecoder counts each setting as [p < b mod 2^s] XOR b_s (thermometer output + XOR).
    for s in range(5):
        half = 1 << s
        for b in range(4 * half):
            thermometer_xor = [((b >> s) & 1) ^ int(p < b % half) for p in range(half)]
            assert lrcw(half, b % (2 * half)) == thermometer_xor


def test_published_example():
    # Mechanism figure: kept A1, A2, A4, A6 of A0..A7 (red), PP (A7..A0) = 4 4 3 3 2 2 1 0.
    mask = np.zeros((1, 8), dtype=bool)
    mask[0, [1, 2, 4, 6]] = True
    prefix = np.cumsum(mask[0])
    assert [int(prefix[i]) for i in (6, 4, 5, 1, 3)] == [0b100, 0b011, 0b011, 0b001, 0b010]
    # Panel (b): LRCW('0', PP[6] bit 0) = 0 swap, PP[4] -> 1 pass, PP[2] -> 0 swap, PP[0] -> 0 swap.
    assert [lrcw(1, int(prefix[i]) % 2) for i in (6, 4, 2, 0)] == [[0], [1], [0], [0]]
    # Panel (c): LRCW('00', 2'b11) = 10 and LRCW('00', 2'b01) = 01 (printed MSB first).
    assert lrcw(2, 0b11)[::-1] == [1, 0] and lrcw(2, 0b01)[::-1] == [0, 1]
    # Panel (d): LRCW('0000', 3'b010) = 0011.
    assert lrcw(4, 0b010)[::-1] == [0, 0, 1, 1]
    settings = butterfly_route(mask).settings[0]
    # Stage 0 switches (A0,A1), (A2,A3), (A4,A5), (A6,A7): swap, swap, pass, swap as drawn.
    assert settings[0].tolist() == [True, True, False, True]
    np.testing.assert_array_equal(lrcw_settings(mask)[0], settings)


def collisions(mask: np.ndarray, bit_order: tuple[int, ...]) -> np.ndarray:
    """Per mask: do two kept inputs meet on one wire when the stages fix the destination's
    address bits in `bit_order` (each input's position takes its target's bit at each stage)?"""
    lanes = mask.shape[-1]
    target = np.cumsum(mask, axis=-1) - 1
    position = np.broadcast_to(np.arange(lanes), mask.shape).copy()
    collided = np.zeros(len(mask), dtype=bool)
    for bit in bit_order:
        position = (position & ~(1 << bit)) | (target & (1 << bit))
        for a in range(lanes):
            for b in range(a + 1, lanes):
                collided |= mask[:, a] & mask[:, b] & (position[:, a] == position[:, b])
    return collided


def test_rule_needs_least_significant_bit_first():
    mask = all_masks(8)
    assert not collisions(mask, (0, 1, 2)).any()  # the chip's order (figure: stage 0 pairs neighbours)
    # Reversed order (stage 0 pairs lanes N/2 apart) is not conflict-free: inputs 0 and 4 both
    # need output bit 2 = 0 at the first stage.
    reversed_order = collisions(mask, (2, 1, 0))
    assert reversed_order[0b00010001]
    assert reversed_order.sum() > 0

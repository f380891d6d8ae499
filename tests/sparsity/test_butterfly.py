"""Butterfly routing: order-preserving compaction never conflicts; other permutations can.

The switch settings from butterfly_route are checked by an independent, loop-based simulation of the
network wiring documented in ButterflyRoute (stage s pairs positions p and p ^ 2**s, LSB first)."""

import itertools

import numpy as np
import pytest

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import butterfly_route, route_destinations


def simulate(settings: np.ndarray, values: list) -> list:
    """Push values through the network with the given settings [stages, N/2] (plain loops)."""
    lanes = len(values)
    out = list(values)
    for stage in range(settings.shape[0]):
        lows = [p for p in range(lanes) if not p >> stage & 1]  # switch j joins lows[j] and lows[j] + 2**stage
        for j, low in enumerate(lows):
            high = low + (1 << stage)
            if settings[stage, j]:
                out[low], out[high] = out[high], out[low]
    return out


def check_compactions(masks: np.ndarray) -> None:
    route = butterfly_route(masks)
    assert not route.conflict.any()
    for mask, settings in zip(masks, route.settings):
        chosen = [i for i, keep in enumerate(mask) if keep]
        routed = simulate(settings, list(range(len(mask))))
        assert routed[: len(chosen)] == chosen  # k selected inputs on outputs 0..k-1, in input order


def test_every_compaction_of_8_lanes_routes_without_conflict():
    masks = np.array(list(itertools.product([False, True], repeat=8)))
    assert len(masks) == 256
    check_compactions(masks)


@pytest.mark.parametrize("lanes", [16, 32])
def test_random_compactions_of_16_and_32_lanes_route_without_conflict(lanes):
    rng = np.random.default_rng(lanes)
    density = rng.random((1500, 1))
    check_compactions(rng.random((1500, lanes)) < density)


def test_reversal_is_realisable_but_bit_reversal_conflicts():
    # Reversal p -> N-1-p complements every address bit: every switch crosses, no conflict.
    # (It is NOT a counterexample to one-pass routing on a butterfly.)
    reversal = route_destinations(np.arange(8)[::-1])
    assert not reversal.conflict and reversal.settings.all()
    # Bit reversal (001 -> 100, 011 -> 110, ...) sends inputs 0 and 1 both to even positions at stage 0.
    bit_reversal = [int(f"{p:03b}"[::-1], 2) for p in range(8)]
    assert route_destinations(np.array(bit_reversal)).conflict


def test_butterfly_realises_exactly_two_to_the_switch_count_permutations():
    # A butterfly has unique paths, so each of its 2**(N/2 log2 N) = 2**12 settings gives a distinct
    # permutation: exactly 4096 of the 8! = 40320 permutations of 8 lanes route without conflict.
    permutations = np.array(list(itertools.permutations(range(8))))
    route = route_destinations(permutations)
    assert int((~route.conflict).sum()) == 2**12
    realisable = permutations[~route.conflict][:200]
    for perm, settings in zip(realisable, route.settings[~route.conflict][:200]):
        routed = simulate(settings, list(range(8)))
        assert all(routed[perm[i]] == i for i in range(8))


def test_order_reversing_compaction_also_routes_but_rotated_order_conflicts():
    masks = np.array(list(itertools.product([False, True], repeat=8)))
    counts = masks.sum(axis=1, keepdims=True)
    ranks = np.cumsum(masks, axis=1) - 1
    # Decreasing order is monotone too (ranks of two values in one aligned block still differ by 2**s).
    assert not route_destinations(np.where(masks, counts - 1 - ranks, -1)).conflict.any()
    # A rotated order is not monotone: inputs 5, 6, 7 -> outputs 1, 2, 0 meet at stage 0 wanting one output.
    rotated = route_destinations(np.where(masks, (ranks + 1) % np.maximum(counts, 1), -1))
    assert rotated.conflict.any()
    assert route_destinations(np.array([-1, -1, -1, -1, -1, 1, 2, 0])).conflict


def test_width_must_be_a_power_of_two():
    with pytest.raises(InputError, match="power of two"):
        route_destinations(np.arange(6))

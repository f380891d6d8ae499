"""Packing model: hand-checked example, a loop-based reference, and hypothesis invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import PackingRules, analyze_mask, pack_layout, total_stats
from sparsecim.sparsity.pruning import magnitude_mask
from sparsecim.sparsity.statistical import uniform_random_mask



def reference(mask: np.ndarray, c: int, n: int, k: int, policy: str) -> dict:
    """Plain-loop packing: per column block and group, per column counts, S, passes, toggles."""
    rows, cols = mask.shape
    blocks, groups = -(-rows // c), -(-cols // n)
    padded = np.zeros((blocks * c, groups * n), dtype=bool)
    padded[:rows, :cols] = mask
    slots = passes = dropped = toggles = nonempty = 0
    state = {}  # column -> last switch settings (flattened), starts all straight
    for b in range(blocks):
        for g in range(groups):
            counts = [int(padded[b * c + col, g * n : (g + 1) * n].sum()) for col in range(c)]
            s = max(counts)
            nonempty += s > 0
            if s == 0:
                continue
            if policy == "truncate":
                dropped += sum(max(0, x - k) for x in counts)
                slots += min(s, k)
                passes += 1
            else:
                slots += s
                passes += -(-s // k)
            for col in range(c):
                chosen = [i for i in range(n) if padded[b * c + col, g * n + i]]
                if policy == "truncate":
                    chosen = chosen[:k]
                settings_now = brute_force_settings(chosen, n)
                before = state.get(b * c + col, [False] * len(settings_now))
                toggles += sum(x != y for x, y in zip(settings_now, before))
                state[b * c + col] = settings_now
    return dict(slots=slots, passes=passes, dropped=dropped, toggles=toggles, nonempty=nonempty)


def brute_force_settings(chosen: list, n: int) -> list:
    """Settings compacting `chosen` (in order) found by trying, stage by stage, the only consistent choice."""
    stages = n.bit_length() - 1
    position = {src: src for src in chosen}
    flat = []
    for stage in range(stages):
        lows = [p for p in range(n) if not p >> stage & 1]
        for low in lows:
            high = low + (1 << stage)
            setting = False
            for src, pos in position.items():
                if pos in (low, high):
                    dest = chosen.index(src)
                    setting = (pos >> stage & 1) != (dest >> stage & 1)
                    break
            flat.append(setting)
        for src, pos in list(position.items()):
            dest = chosen.index(src)
            position[src] = pos ^ (1 << stage) if (pos >> stage & 1) != (dest >> stage & 1) else pos
    assert [src for src, pos in sorted(position.items(), key=lambda kv: kv[1])] == chosen
    return flat


def test_hand_checked_example():
    # C = 2 columns, N = 4 lanes. Group 0: column counts (2, 1) -> S = 2; group 1: (1, 4) -> S = 4.
    mask = np.array([[0, 1, 0, 1, 1, 0, 0, 0],
                     [1, 0, 0, 0, 1, 1, 1, 1]], dtype=bool)
    stats = analyze_mask(mask, PackingRules(columns_per_macro=2, lanes=4))
    assert stats.nnz == 8 and stats.dense_size == 16
    assert stats.stored_row_slots == 6 and stats.chip.cells == 12 and stats.padding_cells == 4
    assert stats.utilisation == pytest.approx(8 / 12)
    assert stats.passes == 2 and stats.overflow_groups == 0
    assert stats.chip.metadata_bits == 8 * 2  # log2(4) index bits per non-zero
    assert stats.dense.cells == 16 and stats.block_skip.cells == 16 and stats.ideal.cells == 8
    assert stats.slot_histogram == (0, 0, 1, 0, 1)
    # Column 0, group 0 = inputs {1, 3}: stage 0 crosses switch 0 (1 -> 0), stage 1 crosses switch 1 (3 -> 1):
    # 2 toggles from all-straight, then group 1 = input {0} is all straight again: 2 more. Column 1 never crosses.
    assert stats.switch_toggles == 4
    two_slots = analyze_mask(mask, PackingRules(columns_per_macro=2, lanes=4, max_slots_per_group=2))
    assert two_slots.passes == 1 + 2 and two_slots.overflow_groups == 1 and two_slots.dropped_nonzeros == 0
    cut = analyze_mask(mask, PackingRules(columns_per_macro=2, lanes=4, max_slots_per_group=2, overflow_policy="truncate"))
    assert cut.dropped_nonzeros == 2 and cut.stored_row_slots == 4 and cut.routed_values == 6
    config = analyze_mask(mask, PackingRules(columns_per_macro=2, lanes=4, metadata="switch_config"))
    assert config.chip.metadata_bits == 2 * 2 * 4  # passes x columns x (N/2 log2 N) switch bits


masks_and_rules = st.tuples(
    st.integers(1, 40), st.integers(1, 70), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1),
    st.sampled_from([1, 2, 3, 8]), st.sampled_from([2, 4, 8, 16]), st.integers(1, 16),
    st.sampled_from(["extra_pass", "truncate"]),
)


def draw(params):
    rows, cols, density, seed, c, n, k, policy = params
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    return mask, PackingRules(columns_per_macro=c, lanes=n, max_slots_per_group=min(k, n), overflow_policy=policy)


@settings(max_examples=60, deadline=None)
@given(masks_and_rules)
def test_matches_loop_reference(params):
    mask, rules = draw(params)
    stats = analyze_mask(mask, rules)
    ref = reference(mask, rules.columns_per_macro, rules.lanes, rules.slot_bound, rules.overflow_policy)
    assert stats.nnz == mask.sum()
    assert stats.stored_row_slots == ref["slots"]
    assert stats.passes == ref["passes"]
    assert stats.dropped_nonzeros == ref["dropped"]
    assert stats.switch_toggles == ref["toggles"]
    assert stats.block_skip.cells == ref["nonempty"] * rules.columns_per_macro * rules.lanes
    assert stats.padding_cells == stats.chip.cells - (stats.nnz - stats.dropped_nonzeros)


@settings(max_examples=60, deadline=None)
@given(masks_and_rules)
def test_packing_conserves_nonzeros_and_computes_the_same_product(params):
    mask, rules = draw(params)
    layout = pack_layout(mask, rules)
    stats = analyze_mask(mask, rules)
    assert layout.slot_occupancy.sum() == mask.sum() - stats.dropped_nonzeros
    assert layout.slots.sum() == stats.stored_row_slots
    # No slot at or beyond a group's S is used; every used slot index is below S.
    used = (layout.input_index >= 0).any(axis=-1)
    highest = np.where(used.any(axis=-1), used.shape[2] - np.argmax(used[..., ::-1], axis=-1), 0)
    assert (highest == layout.slots).all()
    if rules.overflow_policy == "extra_pass":
        # y = W_masked x computed from the packed cells equals the dense product.
        rng = np.random.default_rng(0)
        weights = rng.standard_normal(mask.shape)
        x = rng.standard_normal(mask.shape[1])
        c = rules.columns_per_macro
        block, group, slot, column = np.nonzero(layout.input_index >= 0)
        inputs = layout.input_index[block, group, slot, column]
        outputs = block * c + column
        y = np.zeros(layout.input_index.shape[0] * c)
        np.add.at(y, outputs, weights[outputs, inputs] * x[inputs])
        np.testing.assert_allclose(y[: mask.shape[0]], (weights * mask) @ x, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(masks_and_rules)
def test_ideal_le_chip_le_block_skip_le_dense(params):
    mask, rules = draw(params)
    stats = analyze_mask(mask, rules)
    assert stats.ideal.cells <= stats.chip.cells + stats.dropped_nonzeros
    assert stats.chip.cells <= stats.block_skip.cells <= stats.dense.cells
    # In bits the order holds without metadata; index metadata can push a dense-ish mask above dense.
    plain = analyze_mask(mask, PackingRules(**{**rules.to_dict(), "metadata": "none", "block_skip_flag_bits": 0}))
    assert plain.ideal.total_bits <= plain.chip.total_bits + plain.dropped_nonzeros * rules.weight_bits
    assert plain.chip.total_bits <= plain.dense.total_bits


def test_metadata_makes_a_dense_mask_cost_more_than_dense():
    stats = analyze_mask(np.ones((64, 64), dtype=bool))
    assert stats.chip.cells == stats.dense.cells
    assert stats.chip.total_bits > stats.dense.total_bits
    assert stats.memory_reduction() < 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 64), st.integers(1, 80), st.integers(0, 2**32 - 1), st.lists(st.floats(0, 1), min_size=2, max_size=5))
def test_stored_slots_never_grow_as_nested_masks_get_sparser(rows, cols, seed, sparsities):
    weights = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    rules = PackingRules(columns_per_macro=8, lanes=8)
    previous_mask, previous_slots = None, None
    for sparsity in sorted(sparsities):
        mask = magnitude_mask(weights, sparsity)
        slots = analyze_mask(mask, rules).stored_row_slots
        if previous_mask is not None:
            assert not (mask & ~previous_mask).any()  # nested
            assert slots <= previous_slots
        previous_mask, previous_slots = mask, slots


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(128, 256), (192, 512), (64, 1024)]))
def test_block_skipping_gains_nothing_on_a_uniform_half_dense_mask(seed, shape):
    mask = uniform_random_mask(shape, 0.5, np.random.default_rng(seed))
    stats = analyze_mask(mask, PackingRules(columns_per_macro=64, lanes=16))  # blocks of 64 outputs x 16 inputs
    assert stats.block_skip.cells == stats.dense.cells  # P(all 1024 zero) = 2**-1024
    assert stats.chip.cells < stats.dense.cells


def test_block_skipping_with_other_block_shape_and_ragged_edges():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0, 0] = mask[9, 9] = True
    stats = analyze_mask(mask, PackingRules(columns_per_macro=4, lanes=4, block_skip=(5, 5)))
    assert stats.block_skip.cells == 2 * 25 and stats.block_skip.metadata_bits == 4
    # Ragged geometry: 10 outputs -> 3 blocks of 4 columns, 10 inputs -> 3 groups of 4 lanes.
    assert stats.dense.cells == 12 * 12 and stats.column_blocks == 3 and stats.groups == 3
    assert stats.stored_row_slots == 2 and stats.chip.cells == 8


def test_total_stats_adds_up():
    rng = np.random.default_rng(1)
    masks = [rng.random((64, 48)) < 0.3, rng.random((128, 32)) < 0.6]
    parts = [analyze_mask(m) for m in masks]
    total = total_stats(parts)
    assert total.nnz == sum(int(m.sum()) for m in masks)
    assert total.chip.cells == sum(p.chip.cells for p in parts)
    assert total.switch_toggles == sum(p.switch_toggles for p in parts)


@pytest.mark.parametrize("kwargs, word", [
    ({"lanes": 12}, "power of two"), ({"lanes": 128}, "power of two"), ({"columns_per_macro": 0}, "columns_per_macro"),
    ({"max_slots_per_group": 17}, "max_slots_per_group"), ({"overflow_policy": "drop"}, "overflow_policy"),
    ({"metadata": "bitmap"}, "metadata"), ({"block_skip": (0, 4)}, "block_skip"),
])
def test_bad_rules_are_rejected(kwargs, word):
    with pytest.raises(InputError, match=word):
        PackingRules(**kwargs)


def test_mask_must_be_2d():
    with pytest.raises(InputError, match="2-D"):
        analyze_mask(np.ones(16, dtype=bool))

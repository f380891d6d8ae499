"""Pruning masks: achieved density, the magnitude order, group bounds, and method parsing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import PackingRules, analyze_mask
from sparsecim.sparsity.pruning import (
    block_mask,
    global_magnitude_masks,
    magnitude_mask,
    nm_mask,
    parse_method,
    prune,
)

small_matrices = arrays(
    np.float32, st.tuples(st.integers(1, 30), st.integers(1, 40)),
    elements=st.floats(-4, 4, width=32).filter(lambda v: v == v),  # includes many ties (e.g. repeated 0.0)
)


@settings(max_examples=80, deadline=None)
@given(small_matrices, st.floats(0.0, 1.0))
def test_magnitude_hits_target_density_and_keeps_the_largest(matrix, sparsity):
    mask = magnitude_mask(matrix, sparsity)
    assert mask.shape == matrix.shape and mask.dtype == bool
    assert abs(mask.sum() - (1 - sparsity) * matrix.size) <= 0.5 + 1e-9  # within one element
    if mask.any() and (~mask).any():
        assert np.abs(matrix[mask]).min() >= np.abs(matrix[~mask]).max()


def test_magnitude_with_all_ties_still_hits_the_count():
    mask = magnitude_mask(np.ones((7, 9), dtype=np.float32), 0.5)
    assert mask.sum() == 32  # round(0.5 * 63) with Python's banker's rounding -> 32
    assert mask.ravel()[:32].all()  # ties broken by flat index


@settings(max_examples=40, deadline=None)
@given(st.lists(small_matrices, min_size=1, max_size=4), st.floats(0.0, 1.0))
def test_global_threshold_is_shared_across_matrices(matrices, sparsity):
    weights = {f"m{i}": m for i, m in enumerate(matrices)}
    masks = global_magnitude_masks(weights, sparsity)
    kept = np.concatenate([np.abs(weights[k][masks[k]]) for k in weights])
    removed = np.concatenate([np.abs(weights[k][~masks[k]]) for k in weights])
    total = sum(m.size for m in matrices)
    assert abs(kept.size - (1 - sparsity) * total) <= 0.5 + 1e-9
    if kept.size and removed.size:
        assert kept.min() >= removed.max()


def test_global_differs_from_per_matrix_when_scales_differ():
    rng = np.random.default_rng(0)
    weights = {"small": rng.standard_normal((64, 64)).astype(np.float32), "large": 10 * rng.standard_normal((64, 64)).astype(np.float32)}
    masks = prune(weights, "global:0.5")
    assert masks["large"].sum() + masks["small"].sum() == 4096
    assert masks["large"].mean() - masks["small"].mean() > 0.6  # one threshold favours the large-scale matrix
    per_matrix = prune(weights, "magnitude:0.5")
    assert per_matrix["large"].mean() == per_matrix["small"].mean() == 0.5


@settings(max_examples=60, deadline=None)
@given(small_matrices, st.sampled_from([(1, 4), (2, 4), (4, 8), (3, 16), (0, 4), (4, 4)]))
def test_nm_keeps_exactly_n_largest_per_group(matrix, nm):
    n, m = nm
    mask = nm_mask(matrix, n, m)
    rows, cols = matrix.shape
    for start in range(0, cols, m):
        group, kept = np.abs(matrix[:, start : start + m]), mask[:, start : start + m]
        assert (kept.sum(axis=1) == min(n, group.shape[1])).all()  # exactly N (ragged last group: min(N, size))
        for r in range(rows):
            if kept[r].any() and (~kept[r]).any():
                assert group[r][kept[r]].min() >= group[r][~kept[r]].max()
    if cols % m == 0:
        assert mask.sum() == rows * cols * n // m  # exact N:M density


@settings(max_examples=40, deadline=None)
@given(small_matrices, st.floats(0.0, 1.0), st.sampled_from([(2, 2), (4, 8), (3, 5), (1, 16)]))
def test_block_mask_removes_whole_low_norm_blocks(matrix, sparsity, block):
    mask = block_mask(matrix, sparsity, block)
    bh, bw = block
    rows, cols = matrix.shape
    norms, kept = [], []
    for r in range(0, rows, bh):
        for c in range(0, cols, bw):
            tile = mask[r : r + bh, c : c + bw]
            assert tile.all() or not tile.any()
            norms.append(np.sqrt(np.sum(matrix[r : r + bh, c : c + bw].astype(np.float64) ** 2)))
            kept.append(bool(tile.all()))
    norms, kept = np.array(norms), np.array(kept)
    assert (~kept).sum() == round(sparsity * kept.size)
    if kept.any() and (~kept).any():
        assert norms[kept].min() >= norms[~kept].max() - 1e-6


@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_hybrid_bounds_groups_and_reaches_target_within_one_block(sparsity):
    rng = np.random.default_rng(3)
    weights = {"a": rng.standard_normal((256, 192)).astype(np.float32), "b": rng.standard_normal((128, 512)).astype(np.float32)}
    method = parse_method(f"hybrid:{sparsity}")
    masks = prune(weights, method)
    k, g = method.hybrid_keep_per_group, method.group
    total = sum(w.size for w in weights.values())
    kept = sum(int(m.sum()) for m in masks.values())
    target = round((1 - sparsity) * total)
    assert target - k * method.block[0] * method.block[1] // g < kept <= target  # at most one block below
    for mask in masks.values():
        per_group = mask.reshape(mask.shape[0], -1, g).sum(axis=-1)
        assert per_group.max() <= k
        blocks = mask.reshape(mask.shape[0] // 64, 64, mask.shape[1] // 16, 16).sum(axis=(1, 3))
        assert ((blocks == 0) | (blocks == 64 * k)).all()  # a block is removed whole or keeps k per row-group
        stats = analyze_mask(mask, PackingRules(max_slots_per_group=k))
        assert stats.overflow_groups == 0 and stats.padding_cells == 0


def test_hybrid_options_and_per_matrix_scope():
    method = parse_method("hybrid:0.5:k=4:g=8:block=16x8:scope=matrix")
    assert (method.keep_per_group, method.group, method.block, method.scope) == (4, 8, (16, 8), "matrix")
    assert parse_method(method.spec) == method
    rng = np.random.default_rng(4)
    weights = {"a": rng.standard_normal((64, 64)).astype(np.float32), "b": 5 * rng.standard_normal((64, 64)).astype(np.float32)}
    masks = prune(weights, method)
    assert masks["a"].mean() == masks["b"].mean() == 0.5  # per matrix, whatever the scale
    assert parse_method("hybrid:0.75").hybrid_keep_per_group == 8  # ceil(16 * sqrt(0.25))


@pytest.mark.parametrize("spec", ["magnitude:0.75", "global:0.3", "nm:2:4", "block:0.5:8x8", "hybrid:0.9"])
def test_specs_round_trip(spec):
    method = parse_method(spec)
    again = parse_method(method.spec)
    assert again.spec == method.spec and again.density == method.density


@pytest.mark.parametrize("spec, words", [
    ("random:0.5", "unknown pruning method 'random'"),
    ("magnitude:1.5", "outside [0, 1]"),
    ("global:-0.1", "outside [0, 1]"),
    ("magnitude:lots", "not a number"),
    ("magnitude", "takes one sparsity"),
    ("nm:5:4", "exceeds"),
    ("nm:2", "takes N and M"),
    ("block:0.5:8", "OUTxIN"),
    ("block:0.5:0x8", ">= 1"),
    ("hybrid:0.5:q=3", "unknown hybrid option"),
    ("hybrid:0.5:k=20", "exceeds g=16"),
])
def test_bad_method_strings(spec, words):
    with pytest.raises(InputError) as info:
        parse_method(spec)
    assert words in str(info.value)


def test_sparsity_out_of_range_in_functions():
    with pytest.raises(InputError, match="outside"):
        magnitude_mask(np.ones((4, 4)), 1.2)
    with pytest.raises(InputError, match="outside"):
        block_mask(np.ones((4, 4)), -0.5, (2, 2))

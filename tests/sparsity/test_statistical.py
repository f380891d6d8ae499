"""Statistical masks and the hypergeometric occupancy model."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.errors import InputError
from sparsecim.sparsity import statistical
from sparsecim.sparsity.packing import PackingRules, analyze_mask
from sparsecim.sparsity.statistical import (
    block_random_mask,
    expected_max_occupancy,
    expected_uniform_slots,
    fixed_structured_mask,
    fixed_structured_pmf,
    hypergeometric_pmf,
    nm_random_mask,
    uniform_random_mask,
)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_uniform_mask_has_exactly_round_dn_ones(rows, cols, density, seed):
    mask = uniform_random_mask((rows, cols), density, np.random.default_rng(seed))
    assert mask.sum() == round(density * rows * cols)


@pytest.mark.parametrize("population, successes, draws", [(50, 10, 16), (20, 15, 16), (30, 0, 5), (16, 16, 16), (1000, 250, 64)])
def test_own_hypergeometric_pmf_matches_combinatorics(population, successes, draws):
    pmf = statistical._hypergeometric_pmf(population, successes, draws)
    exact = [math.comb(successes, x) * math.comb(population - successes, draws - x) / math.comb(population, draws)
             for x in range(draws + 1)]
    np.testing.assert_allclose(pmf, exact, atol=1e-12)
    np.testing.assert_allclose(hypergeometric_pmf(population, successes, draws), exact, atol=1e-12)


def test_hypergeometric_rejects_impossible_parameters():
    with pytest.raises(InputError, match="hypergeometric"):
        hypergeometric_pmf(10, 11, 4)


def test_expected_max_of_two_fair_bits():
    # max of 2 fair coins: P(max = 1) = 3/4.
    assert expected_max_occupancy(np.array([0.5, 0.5]), 2) == pytest.approx(0.75)


@pytest.mark.parametrize("density", [0.1, 0.25, 0.5, 0.9])
def test_analytic_slots_agree_with_simulated_uniform_masks(density):
    rng = np.random.default_rng(7)
    shape, rules = (768, 768), PackingRules()
    simulated = np.mean([analyze_mask(uniform_random_mask(shape, density, rng), rules).stored_row_slots for _ in range(3)])
    assert expected_uniform_slots(shape, density, rules) == pytest.approx(simulated, rel=0.01)


def test_nm_random_and_fixed_structured_have_exact_group_counts():
    rng = np.random.default_rng(1)
    mask = nm_random_mask((32, 70), 3, 8, rng)
    counts = [mask[:, s : s + 8].sum(axis=1) for s in range(0, 70, 8)]
    assert all((c == 3).all() for c in counts)  # the ragged last group (6 inputs) still keeps 3
    fixed = fixed_structured_mask((16, 64), 0.25, 16, rng)
    assert (fixed.reshape(16, 4, 16).sum(axis=-1) == 4).all()
    assert fixed_structured_pmf(0.25, 16)[4] == 1.0
    # Positions are random, not always the first ones.
    assert mask[:, :3].mean() < 0.9


def test_block_random_mask_keeps_whole_blocks():
    mask = block_random_mask((64, 48), 0.5, (8, 16), np.random.default_rng(2))
    blocks = mask.reshape(8, 8, 3, 16).sum(axis=(1, 3))
    assert ((blocks == 0) | (blocks == 128)).all()
    assert (blocks > 0).sum() == 12


@pytest.mark.parametrize("call", [
    lambda rng: uniform_random_mask((4, 4), 1.5, rng),
    lambda rng: fixed_structured_mask((4, 4), -0.1, 4, rng),
    lambda rng: block_random_mask((4, 4), 2, (2, 2), rng),
    lambda rng: expected_uniform_slots((64, 64), 1.01),
])
def test_density_outside_unit_interval_is_rejected(call):
    with pytest.raises(InputError, match="density"):
        call(np.random.default_rng(0))


def test_bad_shapes_are_rejected():
    with pytest.raises(InputError, match="shape"):
        uniform_random_mask((0, 4), 0.5, np.random.default_rng(0))
    with pytest.raises(InputError, match="N:M"):
        nm_random_mask((4, 4), 5, 4, np.random.default_rng(0))

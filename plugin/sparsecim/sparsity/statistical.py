"""Masks and occupancy statistics that need no weights (Sparseloop-style density models).

* uniform random: exactly round(d * n) kept weights at uniformly random positions; the number of
  non-zeros in a tile of t weights is then hypergeometric (population n, successes round(d*n), draws t),
  Sparseloop's "hypergeometric" density model (Wu et al., MICRO 2022).
* fixed-structured: every group of `group` consecutive inputs keeps exactly round(d * group)
  (Sparseloop's "fixed-structured"); N:M random is the same with an explicit N and M.
* block-random: exactly round(d * n_blocks) OUTxIN blocks kept at random.

``expected_uniform_slots`` is the analytical counterpart of packing.analyze_mask for a uniform mask:
S = max over C columns of hypergeometric group counts, taking the C columns as independent (their
counts are very weakly negatively correlated for n >> N*C; approximation).
"""

from __future__ import annotations

import math

import numpy as np

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import PackingRules


def _check_density(density: float) -> None:
    if not 0.0 <= density <= 1.0:
        raise InputError(f"density {density:g} outside [0, 1]")


def _shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape):
        raise InputError(f"mask shape must be two positive integers (got {shape!r})")
    return int(shape[0]), int(shape[1])


def uniform_random_mask(shape: tuple[int, int], density: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask with exactly round(density * size) True entries at uniformly random positions."""
    _check_density(density)
    rows, cols = _shape(shape)
    size = rows * cols
    keep = int(round(density * size))
    flat = np.zeros(size, dtype=bool)
    flat[rng.choice(size, size=keep, replace=False)] = True
    return flat.reshape(rows, cols)


def nm_random_mask(shape: tuple[int, int], n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly n kept weights at random positions in every m consecutive inputs of a row
    (a ragged last group keeps min(n, its size))."""
    if not (0 <= n <= m and m >= 1):
        raise InputError(f"N:M needs 0 <= N <= M and M >= 1 (got {n}:{m})")
    rows, cols = _shape(shape)
    groups = -(-cols // m)
    keys = rng.random((rows, groups, m))
    keys.reshape(rows, -1)[:, cols:] = 2.0  # padding inputs rank last
    ranks = np.argsort(np.argsort(keys, axis=-1), axis=-1)
    return np.ascontiguousarray((ranks < n).reshape(rows, groups * m)[:, :cols])


def fixed_structured_mask(shape: tuple[int, int], density: float, group: int, rng: np.random.Generator) -> np.ndarray:
    """Every group of `group` consecutive inputs keeps exactly round(density * group) weights."""
    _check_density(density)
    return nm_random_mask(shape, int(round(density * group)), group, rng)


def block_random_mask(
    shape: tuple[int, int], density: float, block: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Exactly round(density * n_blocks) whole OUTxIN blocks kept, chosen uniformly (edge blocks are cropped)."""
    _check_density(density)
    rows, cols = _shape(shape)
    bh, bw = _shape(block)
    block_rows, block_cols = -(-rows // bh), -(-cols // bw)
    kept = uniform_random_mask((block_rows, block_cols), density, rng)
    return np.repeat(np.repeat(kept, bh, axis=0), bw, axis=1)[:rows, :cols]


def hypergeometric_pmf(population: int, successes: int, draws: int) -> np.ndarray:
    """P(X = x) for x = 0..draws: non-zeros in a tile of `draws` weights when `successes` of `population`
    weights are non-zero and placed uniformly at random. Uses scipy.stats.hypergeom when available,
    else a vectorised recurrence P(x+1)/P(x) = (K-x)(t-x) / ((x+1)(n-K-t+x+1)) in log space."""
    if not (0 <= successes <= population and 0 <= draws <= population):
        raise InputError(
            f"hypergeometric needs 0 <= non-zeros ({successes}) <= size ({population}) and 0 <= tile ({draws}) <= size"
        )
    try:
        from scipy.stats import hypergeom  # optional dependency (a recurrence below otherwise)
    except ImportError:
        return _hypergeometric_pmf(population, successes, draws)
    return hypergeom(population, successes, draws).pmf(np.arange(draws + 1))


def _hypergeometric_pmf(population: int, successes: int, draws: int) -> np.ndarray:
    low, high = max(0, draws - (population - successes)), min(draws, successes)
    pmf = np.zeros(draws + 1)
    x = np.arange(low, high, dtype=np.float64)
    log_ratio = (
        np.log(successes - x) + np.log(draws - x) - np.log(x + 1) - np.log(population - successes - draws + x + 1)
    )
    log_first = _log_choose(successes, low) + _log_choose(population - successes, draws - low) - _log_choose(
        population, draws
    )
    log_pmf = log_first + np.concatenate([[0.0], np.cumsum(log_ratio)])
    pmf[low : high + 1] = np.exp(log_pmf - log_pmf.max())
    return pmf / pmf.sum()


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fixed_structured_pmf(density: float, tile: int) -> np.ndarray:
    """Occupancy pmf of a tile under the fixed-structured model: all mass at round(density * tile)."""
    _check_density(density)
    pmf = np.zeros(tile + 1)
    pmf[int(round(density * tile))] = 1.0
    return pmf


def expected_max_occupancy(pmf: np.ndarray, columns: int) -> float:
    """E[max of `columns` independent draws from pmf] = sum_s (1 - F(s)**columns)."""
    cdf = np.cumsum(pmf)[:-1]
    return float(np.sum(1.0 - np.clip(cdf, 0.0, 1.0) ** columns))


def expected_uniform_slots(shape: tuple[int, int], density: float, rules: PackingRules | None = None) -> float:
    """Expected stored row slots of a uniform random mask (exact count round(d*n)) under the packing rules.

    Each (column, group) count is hypergeometric over the matrix; S per (column block, group) is the
    max over the C columns (taken as independent). Ragged edges are ignored (shape should be a multiple
    of (C, N) for an exact comparison with packing.analyze_mask)."""
    _check_density(density)
    rules = rules or PackingRules()
    rows, cols = _shape(shape)
    size = rows * cols
    pmf = hypergeometric_pmf(size, int(round(density * size)), min(rules.lanes, size))
    column_blocks = -(-rows // rules.columns_per_macro)
    groups = -(-cols // rules.lanes)
    return column_blocks * groups * expected_max_occupancy(pmf, rules.columns_per_macro)

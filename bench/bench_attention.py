"""Span-profile workload rewrite and mapping time per layer (all-MiniLM-L6-v2, 128 tokens, measured
spans, cold mapping cache), and the LAR configurations' total times.

    python bench/bench_attention.py
"""

from __future__ import annotations

import os
import tempfile
import time


def main() -> None:
    from sparsecim import api
    from sparsecim.attention.measure import measure_spans
    from sparsecim.rewrite.lar import rewrite_attention
    from sparsecim.workload.checkpoint import bundled_checkpoint
    from sparsecim.workload.einsums import build_workload
    from sparsecim.workload.shapes import preset

    model_file = bundled_checkpoint("all-minilm-l6-v2")
    start = time.perf_counter()
    spans = measure_spans(str(model_file), None, seq_len=128, mass=0.9)
    t_measure = time.perf_counter() - start
    shape = preset("all-minilm-l6-v2")
    workload = build_workload(shape, 128)
    start = time.perf_counter()
    for _ in range(20):
        rewritten = rewrite_attention(workload, spans)
    t_rewrite = (time.perf_counter() - start) / 20
    attention = [e for e in rewritten.einsums if e.kind in ("qk", "softmax", "av")]
    unique = {e.spec for e in attention}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SPARSECIM_CACHE_DIR"] = cache
        prepared = api.prepare(api.RunRequest(model=None, weights=model_file, seq_len=128, spans=spans))
        start = time.perf_counter()
        api.evaluate(prepared)
        t_map = time.perf_counter() - start
    print(f"measure spans (forward pass + extraction)  {t_measure:6.2f} s")
    print(f"rewrite, whole model                        {1e3 * t_rewrite:6.2f} ms ({1e3 * t_rewrite / shape.n_layers:.2f} ms per layer)")
    print(f"attention Einsums {len(attention)}, distinct shapes {len(unique)}")
    print(f"rewrite + mapping, whole model (cold cache) {t_map:6.1f} s ({t_map / shape.n_layers:.1f} s per layer)")


if __name__ == "__main__":
    main()

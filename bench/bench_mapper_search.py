"""Fast first search (16 pmapping templates) vs AccelForge's full search on the chip: time and best
energy-delay product, side by side, on BERT-base-like shapes (the basis of FAST_TEMPLATES).

    python bench/bench_mapper_search.py
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path


def best_edp(arch: Path, einsum, templates):
    import accelforge as af
    from accelforge.mapper.FFM.main import join_pmappings, make_pmappings

    from sparsecim.mapping.mapper import load_spec

    spec = load_spec(arch, einsum)
    spec.mapper.max_pmapping_templates_per_einsum = templates
    spec.mapper.metrics = af.Metrics.ENERGY | af.Metrics.LATENCY
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            pm = make_pmappings(spec, print_progress=False)
            m = join_pmappings(pm, metrics=spec.mapper.metrics, require_all_einsums=False, print_progress=False)
    except Exception:
        return time.perf_counter() - start, None
    d = m.data
    return time.perf_counter() - start, float((d["Total<SEP>energy"] * d["Total<SEP>latency"]).min())


def main() -> None:
    import accelforge as af

    from sparsecim.mapping.arch import find_arch
    from sparsecim.workload.einsums import EinsumSpec, attention_scores, attention_softmax, attention_values, matmul

    af.set_n_parallel_jobs(1)
    arch = find_arch("isscc23_16_2")[1]
    shapes = [
        matmul(1, 128, 768, 768),
        matmul(1, 128, 3072, 768),
        matmul(1, 128, 768, 3072),
        attention_scores(1, 12, 128, 128, 64),
        attention_values(1, 12, 128, 128, 64),
        attention_softmax(1, 12, 128, 128),
        EinsumSpec("matmul", (("b", 1), ("m", 128), ("n", 768), ("k", 480)), input_bits=13, weight_bits=11, routed=True),
        EinsumSpec("qk", (("b", 1), ("h", 3), ("m", 128), ("p", 24), ("e", 64)), weight_from_dram=False, weight_bits=43),
        EinsumSpec("qk_gather", (("b", 1), ("h", 2), ("m", 128), ("p", 16), ("e", 64)), weight_from_dram=False),
    ]
    agree = 0
    total_fast = total_full = 0.0
    for einsum in shapes:
        t_fast, edp_fast = best_edp(arch, einsum, 16)
        t_full, edp_full = best_edp(arch, einsum, float("inf"))
        total_fast += t_fast
        total_full += t_full
        same = edp_fast is not None and edp_full is not None and abs(edp_fast - edp_full) <= 1e-9 * edp_full
        agree += same
        print(f"{einsum.form:9s} {str(einsum.rank_sizes):55s} fast {t_fast:5.1f} s  full {t_full:5.1f} s  "
              f"EDP fast/full {'none' if edp_fast is None else f'{edp_fast / edp_full:.4f}'}")
    print(f"same best EDP on {agree}/{len(shapes)} shapes; total fast {total_fast:.1f} s vs full {total_full:.1f} s ({total_full / total_fast:.1f}x)")


if __name__ == "__main__":
    main()

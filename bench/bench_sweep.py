"""Sweep throughput: points per second of a 100-point sweep with 1 and 2 workers, each with a cold
mapping cache (empty SPARSECIM_CACHE_DIR) and then warm (the same cache, a fresh results folder).
Prints the cache hit rate of each run and the ratios 2 workers / 1 worker and warm / cold.

    python bench/bench_sweep.py                       # tiny transformer, 100 points, a few minutes on 2 cores
    python bench/bench_sweep.py --workers 1,2,4
    python bench/bench_sweep.py --spec examples/sweep_bert.yaml --workers 2    # the full BERT-base case (long)

The default sweep: 5 inline models (1-5 layers of d_model 32, seq_len 32) x 5 weight densities x
4 butterfly lane counts = 100 points. Models differing only in depth share every Einsum, so a cold
run maps far fewer Einsums than 100 x 6 (the count a sweep without the cache would map is printed).
Local processes are used for every worker count (1 = in the calling process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

DEFAULT_SWEEP = {
    "name": "bench_tiny",
    "fixed": {"seq_len": 32},
    "axes": {
        "model": [
            {"name": f"tiny-{n}", "n_layers": n, "d_model": 32, "n_heads": 2, "head_dim": 16, "d_ff": 64, "max_seq_len": 64}
            for n in range(1, 6)
        ],
        "density": [0.2, 0.35, 0.5, 0.65, 0.8],
        "butterfly_lanes": [4, 8, 16, 32],
    },
    "pareto": {"x": "area_mm2", "y": "energy_per_token_J"},
}


def run_once(spec_file: Path, cache_dir: Path, out_dir: Path, workers: int):
    from sparsecim.sweep import load_sweep, run_sweep

    os.environ["SPARSECIM_CACHE_DIR"] = str(cache_dir)
    spec = load_sweep(spec_file)
    spec.output = out_dir
    start = time.perf_counter()
    outcome = run_sweep(spec, workers=workers)
    outcome.wall_s = time.perf_counter() - start
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="A sweep YAML (default: the built-in 100-point tiny sweep)")
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (results, caches)")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        spec_file = args.spec.resolve() if args.spec else root / "sweep.yaml"
        if args.spec is None:
            spec_file.write_text(yaml.safe_dump(DEFAULT_SWEEP))
        from sparsecim.sweep import expand_points, load_sweep

        n_points = len(expand_points(load_sweep(spec_file)))
        print(f"sweep {spec_file.name}: {n_points} points; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
        print(f"{'workers':>7} {'cache':>5} {'wall s':>8} {'points/s':>9} {'cached':>7} {'mapped':>7} {'hit rate':>8}")
        rates: dict[tuple[int, str], float] = {}
        for w in workers:
            cache = root / f"cache-{w}"
            for state in ("cold", "warm"):
                o = run_once(spec_file, cache, root / f"out-{w}-{state}", w)
                rates[(w, state)] = o.points_per_s
                print(
                    f"{w:>7} {state:>5} {o.wall_s:>8.1f} {o.points_per_s:>9.2f} {o.cached_einsums:>7} {o.mapped_einsums:>7} {100 * o.cache_hit_rate:>7.0f}%"
                    + (f"  ({o.errors} errors)" if o.errors else "")
                )
                if state == "cold":
                    total = o.cached_einsums + o.mapped_einsums
                    print(f"{'':>7} without the cache the sweep would map {total} Einsums, it mapped {o.mapped_einsums} ({total / max(o.mapped_einsums, 1):.1f}x fewer)")
        base = workers[0]
        for w in workers[1:]:
            print(f"speed-up {w} vs {base} workers: cold {rates[(w, 'cold')] / rates[(base, 'cold')]:.2f}x, warm {rates[(w, 'warm')] / rates[(base, 'warm')]:.2f}x")
        for w in workers:
            print(f"warm vs cold cache, {w} worker(s): {rates[(w, 'warm')] / rates[(w, 'cold')]:.1f}x points/s")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Sweep throughput: points per second of a 100-point sweep with 1 and 2 workers, each with a cold
mapping cache (empty SPARSECIM_CACHE_DIR) and then warm (the same cache, a fresh results folder).
Prints the cache hit rate of each run and the ratios 2 workers / 1 worker and warm / cold.

    python bench/bench_sweep.py                       # tiny transformer, 100 points, a few minutes on 2 cores
    python bench/bench_sweep.py --workers 1,2,4
    python bench/bench_sweep.py --spec examples/sweep_bert.yaml --workers 2    # the full BERT-base case (long)

The default sweep: 5 inline models (1-5 layers of d_model 32, seq_len 32) x 5 weight densities x
4 butterfly lane counts = 100 points. Models differing only in depth share every Einsum, so a cold
run maps far fewer Einsums than 100 x 6 (the count a sweep without the cache would map is printed).
Local processes are used for every worker count (1 = in the sweep's own process). Each run is a fresh
Python process, timed from start to exit (imports and worker start-up included). "cores used" = CPU
seconds of the run and its workers / wall seconds: below the worker count when the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
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


def run_once(spec_file: Path, cache_dir: Path, out_dir: Path, workers: int) -> dict:
    """One sweep in a fresh Python process (no warm imports or in-process caches carried over);
    returns its outcome and the CPU seconds it and its workers used."""
    env = {**os.environ, "SPARSECIM_CACHE_DIR": str(cache_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--one", str(spec_file), str(out_dir), str(workers)], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def one(spec_file: Path, out_dir: Path, workers: int) -> None:
    from sparsecim.studies.sweep import load_sweep, read_points, run_sweep

    spec = load_sweep(spec_file)
    spec.output = out_dir
    o = run_sweep(spec, workers=workers)
    busy = sum(r["elapsed_s"] for r in read_points(out_dir).values())  # time inside points, all workers
    print(json.dumps({"wall_s": o.wall_s, "computed": o.computed, "errors": o.errors, "cached": o.cached_einsums, "mapped": o.mapped_einsums, "point_s": busy}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="A sweep YAML (default: the built-in 100-point tiny sweep)")
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (results, caches)")
    parser.add_argument("--one", nargs=3, metavar=("SPEC", "OUT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(Path(args.one[0]), Path(args.one[1]), int(args.one[2]))
    workers = [int(w) for w in args.workers.split(",")]

    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        spec_file = args.spec.resolve() if args.spec else root / "sweep.yaml"
        if args.spec is None:
            spec_file.write_text(yaml.safe_dump(DEFAULT_SWEEP))
        from sparsecim.studies.sweep import expand_points, load_sweep

        n_points = len(expand_points(load_sweep(spec_file)))
        print(f"sweep {spec_file.name}: {n_points} points; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
        print(f"{'workers':>7} {'cache':>5} {'wall s':>8} {'points/s':>9} {'cached':>7} {'mapped':>7} {'hit rate':>8} {'CPU s':>7} {'cores used':>10}")
        rates: dict[tuple[int, str], float] = {}
        for w in workers:
            cache = root / f"cache-{w}"
            for state in ("cold", "warm"):
                o = run_once(spec_file, cache, root / f"out-{w}-{state}", w)
                wall = o["process_wall_s"]  # process start to exit: imports and worker start-up included
                rates[(w, state)] = o["computed"] / wall
                n = o["cached"] + o["mapped"]
                print(
                    f"{w:>7} {state:>5} {wall:>8.1f} {rates[(w, state)]:>9.2f} {o['cached']:>7} {o['mapped']:>7} "
                    f"{100 * o['cached'] / max(n, 1):>7.0f}% {o['cpu_s']:>7.1f} {o['cpu_s'] / wall:>10.2f}"
                    + (f"  ({o['errors']} errors)" if o["errors"] else "")
                )
                if state == "cold":
                    print(f"{'':>7} without the cache the sweep would map {n} Einsums, it mapped {o['mapped']} ({n / max(o['mapped'], 1):.1f}x fewer)")
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

"""Wall time of a cold Llama-2-7B generation on the four-chip system: the named case llama2-7b-4chip
(128-token prompt, 128 generated tokens, batch 1, tensor-parallel over 4 chips, 75 % hybrid-pruned
weights on Gaussian stand-ins, span 83) mapped with an empty cache. Budget: 120 s on a 2-core machine.

    python bench/bench_decode.py [--jobs 2] [--budget 120]

Prints the wall time, this process tree's CPU time and the load average (the machine is shared: a
loaded machine stretches the wall time, not the CPU time), the distinct Einsums mapped, and the result.
Exit 1 when the wall time exceeds the budget."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

try:
    import psutil  # present with dask's distributed (sweeps); only for the CPU-time line
except ImportError:
    psutil = None


def cpu_seconds() -> float:
    """CPU time of this process and its live children (the mapping workers stay alive between calls)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    if psutil is None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return total + children.ru_utime + children.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-decode-cache-") as cache:
        os.environ["SPARSECIM_CACHE_DIR"] = cache  # cold: nothing mapped before
        from sparsecim.mapping.workers import own_process
        from sparsecim.studies.generation import generation_case, run_generation

        own_process()
        mapped = {"total": 0}

        def progress(done: int, total: int, label: str) -> None:
            mapped["total"] = total

        load_before = os.getloadavg()[0]
        start, cpu_start = time.perf_counter(), cpu_seconds()
        result = run_generation(generation_case("llama2-7b-4chip").request(), progress=progress, jobs=args.jobs)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    load_after = os.getloadavg()[0]
    print(f"llama2-7b-4chip cold: {wall:.1f} s wall, {cpu:.1f} s CPU (this process and its workers), {mapped['total']} distinct Einsums, "
          f"{args.jobs} jobs; load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs")
    print(f"  time to first token {result.time_to_first_token_s:.3g} s; decode {result.tokens_per_s:.4g} tokens/s, {result.j_per_token:.4g} J/token "
          f"({result.decode.bound}-bound); vs A100 roofline: {result.speedup_vs_reference:.3g}x speed, {result.energy_gain_vs_reference:.3g}x energy")
    if wall > args.budget:
        print(f"OVER BUDGET: {wall:.1f} s > {args.budget:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The chip's two published cases from a cold mapping cache, as a user runs them.

    python bench/bench_cases.py

Prints, per case, the wall time of `sparsecim run --case NAME` in a fresh cache folder (cold: every
distinct Einsum is mapped) and the share of it the sparsity layer takes (weights, masks, packing and the
rewrite, timed in-process on the same request). Targets (issue): each case under 60 s cold on these
2-core machines; the sparsity layer under 10 % of a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from sparsecim.cases import case
from sparsecim.mapping.arch import find_arch, spec_values
from sparsecim.pipeline import resolve_model
from sparsecim.rewrite import rewrite
from sparsecim.sparsity.sources import build_profile, rules_for
from sparsecim.workload.einsums import build_workload

CASES = ("bert-glue", "gpt2-enwik8")


def sparsity_layer_seconds(name: str) -> float:
    """Time of the sparsity layer alone: profile from the pruning method, packing, rewrite."""
    request = case(name).request()
    shape = resolve_model(request.model, request.weights)
    rules = rules_for(spec_values(find_arch(request.arch)[1], dict(request.variables)))
    start = time.perf_counter()
    profile = build_profile(shape, rules, None, request.sparsity.prune)
    rewrite(build_workload(shape, request.seq_len), profile)
    return time.perf_counter() - start


def main() -> int:
    for name in CASES:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "SPARSECIM_CACHE_DIR": cache}
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "sparsecim.cli", "run", "--case", name, "--quiet"],
                                  capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
        if proc.returncode:
            print(f"{name}: failed: {proc.stderr.strip()}")
            return 1
        layer = sparsity_layer_seconds(name)
        print(f"{name}: cold run {wall:.1f} s (target < 60 s); sparsity layer {layer:.2f} s = {100 * layer / wall:.1f} % of the run (target < 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

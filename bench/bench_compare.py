"""Wall time of `sparsecim compare` for BERT-base (128 tokens, 75 % unstructured weight sparsity as
uniform random masks, MiniLM-measured spans stretched onto 12 layers) on the full design set, cold
mapping cache.

    python bench/bench_compare.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "SPARSECIM_CACHE_DIR": os.path.join(folder, "cache")}
        cli = [sys.executable, "-m", "sparsecim.cli"]
        subprocess.run(cli + ["spans", "--out", "spans.yaml", "--like", "bert-base"], cwd=folder, env=env, check=True, capture_output=True)
        start = time.perf_counter()
        proc = subprocess.run(
            cli + ["compare", "--model", "bert-base", "--density", "0.25", "--spans", "spans.yaml", "--quiet"],
            cwd=folder, env=env, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - start
        print(proc.stdout[-6000:])
        if proc.returncode:
            print(proc.stderr[-2000:])
        print(f"compare, BERT-base, full design set (16 designs), cold cache: {seconds:.1f} s")


if __name__ == "__main__":
    main()

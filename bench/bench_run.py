"""Wall time of `sparsecim run` for BERT-base (12 layers) and of plain AccelForge mapping the same
workload, side by side in one run (no mapping cache). Prints both and the ratio.

    python bench/bench_run.py [--layers 12] [--plain-layers 12]

sparsecim: each distinct Einsum mapped once (6 for BERT-base), fast template search, worker processes.
Plain AccelForge: the whole model as one multi-Einsum workload (chained like its gpt3 example) on its
own tpu_v4i example arch, FFM `make_pmappings` + `join_pmappings` (its defaults, one job)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time

import yaml


def bert_yaml(layers: int, seq: int = 128) -> dict:
    einsums = [{"name": "I0", "einsum": "I0[b, m, d] = I_in[b, m, d]", "is_copy_operation": True}]
    prev = "I0"
    for i in range(layers):
        einsums += [
            {"name": f"Q{i}", "einsum": f"Q{i}[b, m, h, e] = {prev}[b, m, d] * WQ{i}[h, e, d]"},
            {"name": f"K{i}", "einsum": f"K{i}[b, m, h, e] = {prev}[b, m, d] * WK{i}[h, e, d]"},
            {"name": f"V{i}", "einsum": f"V{i}[b, m, h, e] = {prev}[b, m, d] * WV{i}[h, e, d]"},
            {"name": f"QK{i}", "einsum": f"QK{i}[b, m, p, h] = Q{i}[b, m, h, e] * K{i}[b, M: p, h, e]", "renames": {"input": f"Q{i}"}},
            {"name": f"S{i}", "einsum": f"S{i}[b, m, p, h] = QK{i}[b, m, p, h]"},
            {"name": f"AV{i}", "einsum": f"AV{i}[b, m, h, f] = S{i}[b, m, p, h] * V{i}[b, M: p, h, E: f]", "renames": {"input": f"S{i}"}},
            {"name": f"Z{i}", "einsum": f"Z{i}[b, m, g] = AV{i}[b, m, h, f] * WZ{i}[h, f, g]"},
            {"name": f"FA{i}", "einsum": f"FA{i}[b, m, c] = Z{i}[b, m, g] * WFA{i}[g, c]"},
            {"name": f"FB{i}", "einsum": f"FB{i}[b, m, d] = FA{i}[b, m, c] * WFB{i}[c, d]"},
        ]
        prev = f"FB{i}"
    return {
        "workload": {
            "rank_sizes": {"B": 1, "M": seq, "P": seq, "H": 12, "E": 64, "F": 64, "D": 768, "G": 768, "C": 3072},
            "bits_per_value": {"All": 8},
            "persistent_tensors": "weight - Intermediates",
            "einsums": einsums,
        },
        "renames": {
            "einsums": [
                {
                    "name": "default",
                    "tensor_accesses": [
                        {"name": "input", "source": "Inputs & Intermediates if len(All) == 3 else Inputs", "expected_count": 1},
                        {"name": "output", "source": "Outputs", "expected_count": 1},
                        {"name": "weight", "source": "~(input | output)", "expected_count": "1 if len(All) == 3 else 0"},
                    ],
                }
            ]
        },
    }


def plain_accelforge(layers: int) -> float:
    import accelforge as af
    from accelforge.mapper.FFM.main import join_pmappings, make_pmappings

    af.set_n_parallel_jobs(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bert.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(bert_yaml(layers), f)
        start = time.perf_counter()
        spec = af.Spec.from_yaml(str(af.examples.arches.tpu_v4i), path)
        with contextlib.redirect_stdout(io.StringIO()):
            pm = make_pmappings(spec, print_progress=False)
            join_pmappings(pm, metrics=spec.mapper.metrics, print_progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--plain-layers", type=int, default=12, help="layers for plain AccelForge (fewer = faster bench)")
    args = parser.parse_args()
    from sparsecim import api
    from sparsecim.workload.shapes import preset

    shape = preset("bert-base").with_layers(args.layers)
    timings = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SPARSECIM_CACHE_DIR"] = cache
        for arch in ("isscc23_16_2", "tpu_v4i"):
            arch_ref = arch if arch != "tpu_v4i" else str(__import__("accelforge").examples.arches.tpu_v4i)
            start = time.perf_counter()
            api.run(shape, arch=arch_ref, seq_len=128)
            timings[f"sparsecim run, BERT-base {args.layers} layers, dense, {arch}"] = time.perf_counter() - start
        start = time.perf_counter()
        api.run(shape, seq_len=128, density=0.25)
        timings[f"sparsecim run, BERT-base {args.layers} layers, 75% sparse (uniform masks), chip"] = time.perf_counter() - start
    plain = plain_accelforge(args.plain_layers)
    timings[f"plain AccelForge FFM, BERT-base {args.plain_layers} layers, tpu_v4i"] = plain
    for name, seconds in timings.items():
        print(f"{seconds:8.1f} s  {name}")
    ours = timings[f"sparsecim run, BERT-base {args.layers} layers, dense, tpu_v4i"]
    same = "" if args.plain_layers == args.layers else f" (plain ran {args.plain_layers} of {args.layers} layers: a lower bound)"
    print(f"ratio plain AccelForge / sparsecim, tpu_v4i: {plain / ours:.1f}x{same}")


if __name__ == "__main__":
    main()

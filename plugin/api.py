"""The Python API: what `sparsecim run` does, as one function."""

from __future__ import annotations

from pathlib import Path

from sparsecim.errors import SparsecimInputError
from sparsecim.model.runner import ModelResult, ProgressFn, run_workload
from sparsecim.specs import find_arch, spec_variables
from sparsecim.workloads.checkpoint import shape_from_checkpoint
from sparsecim.workloads.einsums import build_workload
from sparsecim.workloads.shapes import TransformerShape, preset



def resolve_model(model: str | None, weights: str | Path | None, heads: int | None = None) -> TransformerShape:
    """A preset by name, or the shape read from a checkpoint (which wins when both are given)."""
    if weights is not None:
        return shape_from_checkpoint(weights, n_heads=heads, name=model)
    if model is None:
        raise SparsecimInputError("give --model NAME or --weights FILE")
    return preset(model)


def run(
    model: str | None = "bert-base",
    arch: str = "isscc23_16_2",
    seq_len: int = 128,
    batch: int = 1,
    weights: str | Path | None = None,
    heads: int | None = None,
    variables: dict | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
) -> ModelResult:
    """Map a transformer onto an architecture and return its costs.

    >>> result = run("all-minilm-l6-v2", seq_len=128)   # doctest: +SKIP
    >>> result.summary()["TOPS_per_W_chip"]              # doctest: +SKIP
    """
    arch_name, arch_path = find_arch(arch)
    variables = dict(variables or {})
    known = spec_variables(arch_path)
    unknown = [k for k in variables if known and k not in known]
    if unknown:
        raise SparsecimInputError(f"unknown spec variable {unknown[0]!r} for {arch_name}; known: {', '.join(known)}")
    shape = resolve_model(model, weights, heads)
    workload = build_workload(shape, seq_len, batch)
    return run_workload(arch_path, workload, variables, use_cache=use_cache, progress=progress, arch_name=arch_name)

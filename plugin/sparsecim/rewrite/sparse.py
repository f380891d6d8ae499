"""Rewrite a model's weight matmuls from butterfly packing statistics (before the mapper searches).

For each weight matrix W[out=n, in=k] the packing model (`sparsecim.sparsity.packing`) says how many
CIM cells every column reserves under a storage scheme, on the actual mask:

* ``chip``  - butterfly zero skipper: non-zeros compacted per input group, padding to the column
  block's widest group, log2(lanes) index bits per stored weight (stored in CIM beside it);
* ``dense`` - dense CIM, no skipping (every weight stored and computed);
* ``block`` - block-wise zero skipping (only all-zero lanes x columns blocks skipped, 1 flag bit each);
* ``ideal`` - only the non-zeros, no padding, no metadata, no routing overhead.

The chip picks, per matrix, compressed storage only where it stores fewer bits than dense
(`fallback_dense`, assumed mode select); otherwise the matrix is stored dense and bypasses the
butterfly. The Einsum's reduction rank becomes the reserved cells per column, ``k_eff`` (padding cells are
computed: their rows are activated like any other, assumed). The weight operand carries its
metadata as extra bits per value, so DRAM traffic and CIM writes shrink with compression and grow
with metadata. The input operand keeps its dense traffic: a group's inputs are all sent to the macro
and the butterfly picks (bits per value x k / k_eff). The butterfly's routing actions are counted by
the arch (one per value routed into a column). For the mapper, ``k_eff`` is rounded up to a grid of
k / `grid` so that equal shapes are mapped once; the costs are scaled back by exact / mapped MACs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import PackingStats, StorageCost
from sparsecim.sparsity.profile import SparsityProfile
from sparsecim.workload.einsums import EinsumSpec, Kind, LayerEinsum, ModelWorkload


class Scheme(StrEnum):
    """How the weights of a sparse matrix are stored (the value is the CLI / file name)."""

    CHIP = "chip"  # butterfly zero skipper
    DENSE = "dense"  # dense CIM: every weight stored and computed
    BLOCK_SKIP = "block"  # block-wise zero skipping (prior-art baseline)
    IDEAL = "ideal"  # only the non-zeros, no overhead (bound)

    @property
    def label(self) -> str:
        return _LABELS[self]

    def storage(self, stats: PackingStats) -> StorageCost:
        """This scheme's storage of one packed matrix."""
        return stats.storage(_STORAGE_FIELD[self])

    @property
    def variables(self) -> dict[str, object]:
        """Arch variables the scheme needs: only the chip routes through the butterfly."""
        return {} if self is Scheme.CHIP else {"butterfly_enabled": False}


_LABELS = {
    Scheme.CHIP: "chip (butterfly skipper)",
    Scheme.DENSE: "dense CIM",
    Scheme.BLOCK_SKIP: "block skipping",
    Scheme.IDEAL: "ideal (non-zeros only)",
}
_STORAGE_FIELD = {Scheme.CHIP: "chip", Scheme.DENSE: "dense", Scheme.BLOCK_SKIP: "block_skip", Scheme.IDEAL: "ideal"}


def scheme_of(value: Scheme | str) -> Scheme:
    """A Scheme from its name; InputError listing the names otherwise."""
    try:
        return Scheme(value)
    except ValueError:
        raise InputError(f"unknown storage scheme {value!r}; use one of {', '.join(s.value for s in Scheme)}") from None


@dataclass(frozen=True)
class MatrixRewrite:
    """What the rewrite did to one matmul (for reports)."""

    layer: int
    kind: Kind
    k: int
    k_eff: float  # reserved cells per column (exact)
    k_mapped: int  # k_eff rounded up to the mapping grid
    weight_bits: float  # per stored value, metadata included
    density: float
    utilisation: float  # stored non-zeros / reserved cells
    memory_reduction: float  # dense bits / scheme bits
    mode: Scheme  # storage actually used (the chip falls back to dense where compression does not pay)


def _rounded_up(value: float, quantum: int, limit: int) -> int:
    return int(min(limit, max(quantum, math.ceil(value / quantum - 1e-9) * quantum)))


def rewrite_sparse(
    workload: ModelWorkload, profile: SparsityProfile, scheme: Scheme | str = Scheme.CHIP, grid: int = 16, fallback_dense: bool = True
) -> tuple[ModelWorkload, list[MatrixRewrite]]:
    """A copy of `workload` whose weight matmuls follow `profile`'s packing under `scheme`.

    With `fallback_dense` (the chip's per-matrix mode select, assumed) a matrix whose compressed
    storage (non-zeros, padding and index bits) is not smaller than dense is stored dense and
    bypasses the butterfly, so the chip never does worse than dense CIM on a matrix."""
    scheme = scheme_of(scheme)
    out: list[LayerEinsum] = []
    report: list[MatrixRewrite] = []
    for e in workload.einsums:
        role = Kind(e.kind).weight_role
        if role is None or e.spec.form != "matmul":
            out.append(e)
            continue
        matrix = profile.get(e.layer, role)
        ranks = e.spec.rank_sizes
        k, n = ranks["k"], ranks["n"]
        if matrix.shape != (n, k):
            raise InputError(
                f"sparsity profile matrix {matrix.name} has shape {matrix.shape}, the model's {e.kind} in layer {e.layer} is {(n, k)}"
            )
        if matrix.packing is None:
            raise InputError(f"sparsity profile matrix {matrix.name} has no packing statistics")
        stats = matrix.packing
        mode = scheme
        if scheme is Scheme.CHIP and fallback_dense and stats.chip.total_bits >= stats.dense.total_bits:
            mode = Scheme.DENSE  # compression does not pay for this matrix: stored dense, skipper bypassed
        cost = mode.storage(stats)
        if cost.cells == 0:  # an all-zero matrix: nothing stored, nothing computed
            report.append(MatrixRewrite(e.layer, e.kind, k, 0.0, 0, 0.0, matrix.density, 0.0, math.inf, mode))
            continue
        k_eff = k * cost.cells / stats.dense.cells
        quantum = max(1, k // grid)
        k_mapped = _rounded_up(k_eff, quantum, k)
        weight_bits = cost.total_bits / cost.cells
        spec = EinsumSpec(
            "matmul",
            (("b", ranks["b"]), ("m", ranks["m"]), ("n", n), ("k", k_mapped)),
            weight_from_dram=e.spec.weight_from_dram,
            input_bits=e.spec.input_bits * k / k_mapped,
            weight_bits=weight_bits,
            routed=mode is Scheme.CHIP,
        )
        exact = round(ranks["b"] * ranks["m"] * n * k_eff)
        out.append(replace(e, spec=spec, exact_operations=exact, tag=e.tag))
        report.append(
            MatrixRewrite(
                e.layer,
                e.kind,
                k,
                k_eff,
                k_mapped,
                weight_bits,
                matrix.density,
                stats.nnz / cost.cells if cost.cells else 0.0,
                stats.dense.total_bits / cost.total_bits if cost.total_bits else math.inf,
                mode,
            )
        )
    rewritten = replace(workload, einsums=out, notes=list(workload.notes))
    rewritten.notes.append(f"weights: {scheme} storage of sparsity profile {profile.model} (density {profile.density:.3f})")
    return rewritten, report

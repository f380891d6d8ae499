"""The rewrite stage: the dense workload, reshaped by what the chip skips, before the mapper searches.

* `sparse` - weight matmuls from the butterfly packing of the sparsity profile (`Scheme`);
* `lar` - attention from the per-head span profile (the LAR engine, `LarOptions`);
  `decode` - the same for a decode workload (`workload.decode.DecodeWorkload`).

`rewrite` applies both and hands on one typed `Rewritten`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparsecim.attention.profile import SpanProfile
from sparsecim.rewrite.decode import rewrite_decode_attention
from sparsecim.rewrite.lar import LarOptions, rewrite_attention
from sparsecim.rewrite.sparse import MatrixRewrite, Scheme, rewrite_sparse
from sparsecim.sparsity.profile import SparsityProfile
from sparsecim.workload.decode import DecodeWorkload
from sparsecim.workload.einsums import ModelWorkload


@dataclass(frozen=True)
class Rewritten:
    """The workload to map, and what was done to it."""

    workload: ModelWorkload
    scheme: Scheme | None = None  # weight storage; None: no sparsity profile (dense weights)
    matrix_rewrites: tuple[MatrixRewrite, ...] = ()
    lar: LarOptions | None = None  # None: no span profile (dense attention)


def rewrite(
    workload: ModelWorkload,
    sparsity: SparsityProfile | None = None,
    spans: SpanProfile | None = None,
    scheme: Scheme = Scheme.CHIP,
    lar: LarOptions | None = None,
) -> Rewritten:
    """Apply the attention rewrite (when a span profile is given; shared-QK attention drops the K
    projection), then the weight-sparsity rewrite of the remaining matmuls."""
    used_lar = None
    if spans is not None:
        used_lar = lar or LarOptions()
        attention = rewrite_decode_attention if isinstance(workload, DecodeWorkload) else rewrite_attention
        workload = attention(workload, spans, used_lar)
    rewrites: list[MatrixRewrite] = []
    used_scheme = None
    if sparsity is not None:
        workload, rewrites = rewrite_sparse(workload, sparsity, scheme)
        used_scheme = Scheme(scheme)
    return Rewritten(workload, used_scheme, tuple(rewrites), used_lar)


__all__ = ["LarOptions", "MatrixRewrite", "Rewritten", "Scheme", "rewrite"]

"""Energy efficiency vs weight sparsity: the chip against dense CIM, block skipping and the ideal bound.

With real weights in the request they are pruned (`method` at each sparsity); without, uniform
random masks of density 1 - S (`SparsitySource.at_sparsity`)."""

from __future__ import annotations

from dataclasses import dataclass

from sparsecim.errors import InputError
from sparsecim.pipeline import evaluate, prepare
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.rewrite.sparse import Scheme

ALL_SCHEMES = (Scheme.CHIP, Scheme.DENSE, Scheme.BLOCK_SKIP, Scheme.IDEAL)


@dataclass
class CurvePoint:
    sparsity: float
    scheme: Scheme
    tops_per_w_chip: float
    tops_per_w_system: float
    energy_chip_j: float
    latency_s: float
    tops: float
    executed_macs: int


def parse_sparsities(text: str) -> list[float]:
    """Comma-separated sparsities in [0, 1), sorted, duplicates dropped."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"sparsities must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise InputError("no sparsities given")
    for v in values:
        if not 0.0 <= v < 1.0:
            raise InputError(f"sparsity {v:g} outside [0, 1)")
    return sorted(set(values))


def sparsity_curve(
    request: RunRequest, sparsities: list[float], method: str = "magnitude", schemes=ALL_SCHEMES, progress=None, jobs=None
) -> list[CurvePoint]:
    """Evaluate every scheme at every sparsity on the request's model and arch."""
    points = []
    for s in sparsities:
        source = SparsitySource.at_sparsity(s, method, with_weights=request.weights is not None)
        prepared = prepare(request.with_changes(sparsity=source))
        for scheme in schemes:
            r = evaluate(prepared, scheme, progress=progress, jobs=jobs)
            summary = r.summary()
            points.append(
                CurvePoint(s, Scheme(scheme), summary["TOPS_per_W_chip"], summary["TOPS_per_W_system"], summary["energy_chip_J"],
                           summary["latency_s"], summary["TOPS"], summary["executed_macs"])
            )
    return points

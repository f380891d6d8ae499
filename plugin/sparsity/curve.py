"""Energy efficiency vs weight sparsity: the chip against dense CIM, block skipping and the ideal bound."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sparsecim.errors import SparsecimInputError

SCHEME_LABELS = {"chip": "chip (butterfly skipper)", "dense": "dense CIM", "block": "block skipping", "ideal": "ideal (non-zeros only)"}


@dataclass
class CurvePoint:
    sparsity: float
    scheme: str
    tops_per_w_chip: float
    tops_per_w_system: float
    energy_chip_j: float
    latency_s: float
    tops: float
    executed_macs: int


def parse_sparsities(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SparsecimInputError(f"--sparsities expects comma-separated numbers, got {text!r}") from None
    if not values:
        raise SparsecimInputError("--sparsities is empty")
    for v in values:
        if not 0.0 <= v < 1.0:
            raise SparsecimInputError(f"sparsity {v:g} outside [0, 1)")
    return sorted(set(values))


def sparsity_curve(request, sparsities: list[float], method: str = "magnitude", schemes=("chip", "dense", "block", "ideal"), progress=None, jobs=None) -> list[CurvePoint]:
    """Evaluate every scheme at every sparsity. With weights in `request`, the real weights are pruned
    (`method`:S); without, uniform random masks of density 1-S (the statistical model)."""
    from sparsecim import api

    points = []
    for s in sparsities:
        if request.weights is not None:
            # `method` is a name ("magnitude") or a template with S for the sparsity ("hybrid:S:scope=matrix").
            prune = method.replace("S", f"{s:g}") if "S" in method else f"{method}:{s:g}"
            sparsity = api.SparsityOptions(prune=prune)
        else:
            sparsity = api.SparsityOptions(density=1.0 - s)
        prepared = api.prepare(replace(request, sparsity=sparsity))
        for scheme in schemes:
            r = api.evaluate(prepared, scheme, progress=progress, jobs=jobs)
            summary = r.summary()
            points.append(
                CurvePoint(s, scheme, summary["TOPS_per_W_chip"], summary["TOPS_per_W_system"], summary["energy_chip_J"], summary["latency_s"], summary["TOPS"], summary["executed_macs"])
            )
    return points


def plot_curve(points: list[CurvePoint], path: Path, title: str) -> None:
    """TOPS/W (chip) vs weight sparsity, one line per scheme, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for scheme in dict.fromkeys(p.scheme for p in points):
        xs = [100 * p.sparsity for p in points if p.scheme == scheme]
        ys = [p.tops_per_w_chip for p in points if p.scheme == scheme]
        ax.plot(xs, ys, marker="o", label=SCHEME_LABELS.get(scheme, scheme))
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel("energy efficiency, chip (dense-equivalent TOPS/W)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from sparsecim.report import save_figure_atomic

    save_figure_atomic(fig, path)

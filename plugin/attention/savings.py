"""What each LAR mechanism saves: the same model and spans under five attention configurations.

* dense        - every head global (all query-key pairs), mapped the same way as the others;
* fixed window - every local head uses the model's largest local window (no per-head spans);
* no reuse     - per-head spans, but every query's window of K/V is written into CIM anew;
* no sharing   - per-head spans and reuse, but each query computes against the whole resident
                 key tile (see `sparsecim.workloads.attention_rewrite`);
* LAR          - all mechanisms on.

The saving of a mechanism is (cost with it off) / (cost with everything on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.workloads.attention_rewrite import LarOptions

ATTENTION_KINDS = ("qk", "softmax", "av")

CONFIGS: dict[str, LarOptions] = {
    "dense": LarOptions(),
    "fixed window": LarOptions(variable_spans=False),
    "no reuse": LarOptions(kv_reuse=False),
    "no sharing": LarOptions(qk_sharing=False),
    "LAR": LarOptions(),
}


def all_global(profile: SpanProfile) -> SpanProfile:
    """The same model with every head global: dense attention."""
    layers = [[HeadSpan(None, 0, True) for _ in layer] for layer in profile.layers]
    return replace(profile, layers=layers)


@dataclass
class AttentionCost:
    config: str
    layer: int | None  # None: whole model
    macs: float
    kv_writes: float  # K/V values written into CIM
    energy_j: float
    latency_s: float


def attention_savings(prepared, progress=None, jobs=None) -> list[AttentionCost]:
    """Per layer and per model attention costs of every configuration (same weights, same spans)."""
    from sparsecim import api

    out: list[AttentionCost] = []
    for name, options in CONFIGS.items():
        spans = all_global(prepared.spans) if name == "dense" else prepared.spans
        result = api.evaluate(replace(prepared, spans=spans, sparsity=None), lar=options, progress=progress, jobs=jobs)
        per_layer = result.layer_totals(ATTENTION_KINDS)
        for layer, v in sorted(per_layer.items()):
            out.append(AttentionCost(name, layer, v["operations"], v["cim_writes"], v["energy_J"], v["latency_s"]))
        out.append(
            AttentionCost(
                name,
                None,
                sum(v["operations"] for v in per_layer.values()),
                sum(v["cim_writes"] for v in per_layer.values()),
                sum(v["energy_J"] for v in per_layer.values()),
                sum(v["latency_s"] for v in per_layer.values()),
            )
        )
    return out


def plot_span_histogram(profile: SpanProfile, path: Path) -> None:
    """Histogram of measured windows (local heads) with the global heads as a separate bar; PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    L = profile.seq_len or max((h.window or 0 for layer in profile.layers for h in layer), default=1) + 1
    local = [h.window for layer in profile.layers for h in layer if not h.is_global]
    n_global = sum(h.is_global for layer in profile.layers for h in layer)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    bins = np.arange(0, L + 8, 8)
    ax.hist(local, bins=bins, color="tab:blue", edgecolor="white", label=f"local heads ({len(local)})")
    ax.bar([L + 4], [n_global], width=8, color="tab:red", label=f"global heads ({n_global})")
    ax.set_xlabel(f"window w (|i-j| <= w), global at the right; L = {L}")
    ax.set_ylabel("heads")
    ax.set_title(f"{profile.model}: per-head spans at mass {profile.mass}")
    ax.legend()
    grid = np.array([[np.nan if h.is_global else h.window for h in layer] for layer in profile.layers], dtype=float)
    im = ax2.imshow(grid, cmap="viridis", aspect="auto", vmin=0, vmax=L)
    ax2.set_xlabel("head")
    ax2.set_ylabel("layer")
    ax2.set_title("window per head (white: global)")
    fig.colorbar(im, ax=ax2)
    fig.tight_layout()
    from sparsecim.report import save_figure_atomic

    save_figure_atomic(fig, path)

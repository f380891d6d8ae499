"""What each LAR mechanism saves: the same model and spans under five attention configurations.

* dense        - every head global (all query-key pairs), mapped the same way as the others;
* fixed window - every local head uses the model's largest local window (no per-head spans);
* no reuse     - per-head spans, but every query's window of K/V is written into CIM anew;
* no sharing   - per-head spans and reuse, but each query computes against the whole resident
                 key tile (see `sparsecim.rewrite.lar`);
* LAR          - all mechanisms on.

The saving of a mechanism is (cost with it off) / (cost with everything on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.pipeline import Prepared, evaluate
from sparsecim.rewrite.lar import LarOptions
from sparsecim.workload.einsums import ATTENTION_KINDS

CONFIGS: dict[str, LarOptions] = {
    "dense": LarOptions(),
    "fixed window": LarOptions(variable_spans=False),
    "no reuse": LarOptions(kv_reuse=False),
    "no sharing": LarOptions(qk_sharing=False),
    "LAR": LarOptions(),
}


def all_global(profile: SpanProfile) -> SpanProfile:
    """The same model with every head global: dense attention."""
    return profile.with_layers([[HeadSpan(None, 0, True) for _ in layer] for layer in profile.layers])


@dataclass
class AttentionCost:
    config: str
    layer: int | None  # None: whole model
    macs: float
    kv_writes: float  # K/V values written into CIM
    energy_j: float
    latency_s: float


def attention_savings(prepared: Prepared, progress=None, jobs=None) -> list[AttentionCost]:
    """Per layer and per model attention costs of every configuration (same weights, same spans)."""
    out: list[AttentionCost] = []
    for name, options in CONFIGS.items():
        spans = all_global(prepared.spans) if name == "dense" else prepared.spans
        result = evaluate(replace(prepared, spans=spans, sparsity=None), lar=options, progress=progress, jobs=jobs)
        per_layer = result.layer_totals(ATTENTION_KINDS)
        for layer, v in sorted(per_layer.items()):
            out.append(AttentionCost(name, layer, v.operations, v.stationary_writes, v.energy_j, v.latency_s))
        out.append(
            AttentionCost(
                name,
                None,
                sum(v.operations for v in per_layer.values()),
                sum(v.stationary_writes for v in per_layer.values()),
                sum(v.energy_j for v in per_layer.values()),
                sum(v.latency_s for v in per_layer.values()),
            )
        )
    return out

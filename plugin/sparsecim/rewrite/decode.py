"""Rewrite a decode workload's attention from a per-head span profile (the LAR engine while generating).

Each layer's heads become KeyWindows (`workload.decode`): a span-limited head keeps its window (and
sinks) of earlier keys, a global head every key, so the work per step and the KV cache stop growing
once the position passes the window - the LAR engine's point for long sequences. The mechanisms of
`LarOptions` in decode:

* variable spans: every head its own window; off, every local head gets the widest local window of
  the model (`rewrite.lar`'s fixed-window profile).
* QK sharing = shared-QK attention (MHA only, `lar.shares_qk`): the cache holds the normalised queries
  Q_j / |Q_j| instead of keys, so there is no K projection (and no rotation of keys); the step's query
  norm is formed once (`q_norm`) and every score is scaled by the other token's inverse norm
  (`qk_scale`). Causal decode reuses no product (the reverse direction is masked), as in `rewrite.lar`.
* K/V reuse has no effect here: the KV banks cannot hold a layer's window for all heads across the
  layers of a step, so every step writes its window's rows into the KV CIM (the mapped Einsum does).

Grouped-query models: a KV head serves several query heads, so its cache must hold the widest window
of its group (global if any of them is global); every head of the group is charged that window (assumed).
"""

from __future__ import annotations

from dataclasses import replace

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError
from sparsecim.rewrite.lar import LarOptions, _fixed_window_profile, shares_qk
from sparsecim.workload.decode import DecodeWorkload, KeyWindow, decode_layer
from sparsecim.workload.shapes import TransformerShape


def layer_windows(heads: list[HeadSpan], shape: TransformerShape) -> tuple[KeyWindow, ...]:
    """The KeyWindows of one layer's KV heads (widest window of each GQA group), equal ones merged."""
    group = shape.n_heads // shape.n_kv_heads
    counts: dict[tuple, int] = {}
    for kv_head in range(shape.n_kv_heads):
        members = heads[kv_head * group:(kv_head + 1) * group]
        if any(h.is_global for h in members):
            key = (None, 0)
        else:
            key = (max(h.window for h in members), max(h.n_sink for h in members))
        counts[key] = counts.get(key, 0) + 1
    return tuple(KeyWindow(n, window, sinks) for (window, sinks), n in sorted(counts.items(), key=lambda item: (item[0][0] is None, item[0])))


def rewrite_decode_attention(workload: DecodeWorkload, spans: SpanProfile, options: LarOptions | None = None) -> DecodeWorkload:
    """A copy of the decode workload whose attention follows `spans` (see module docstring)."""
    options = options or LarOptions()
    shape = workload.shape
    spans.validate(n_layers=shape.n_layers, n_heads=shape.n_heads)
    if not spans.causal:
        raise InputError(f"span profile of {spans.model} is bidirectional; decoding {shape.name} needs a causal one")
    layers = [list(layer) for layer in spans.layers] if options.variable_spans else _fixed_window_profile(spans)
    shared = shares_qk(shape, options)
    windows = tuple(layer_windows(heads, shape) for heads in layers)
    einsums = [e for layer in range(shape.n_layers)
               for e in decode_layer(shape, layer, workload.batch, workload.positions, windows[layer], shared)]
    rewritten = replace(workload, einsums=einsums, windows=windows, shared_qk=shared, notes=list(workload.notes))
    sharing = "" if shared or not options.qk_sharing else "; QK sharing not applicable (grouped-query attention)"
    rewritten.notes.append(f"decode attention: {options.label()} (span profile of {spans.model}){sharing}")
    return rewritten

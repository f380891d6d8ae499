"""Rewrite a model's attention Einsums from a per-head span profile (the LAR engine's workload).

Each layer's Q.K^T, softmax and P.V Einsums are replaced by banded ones, one set per group of
heads with equal spans: the rank over keys becomes the head's window plus its sinks (`R`), global
heads keep every key. The chip's mechanisms (mechanism figure, "Local-Reusable Attention Engine"),
each switchable so its gain shows separately:

* variable spans (per head): every head gets its own window. Off: every local head uses the largest
  local window in the model (one fixed window, as an accelerator without per-head spans would);
  global heads stay dense either way.
* K/V reuse: the R key (value) rows of a window stay in the KV cache and a slide writes only the newest
  row ("hit" in the figure), so each of the L keys is written once: the K operand keeps R rows resident
  and carries L/R times its bits per value. Off: every query's window is written anew (the key operand
  is gathered per query, L x R rows).
* QK sharing = shared-QK attention (figure: Q1 x K3 = Q1 x Q3 / |Q3|): the keys are the normalised
  queries, K_j = Q_j / |Q_j|, so there is no K projection; the module compute forms |Q_j|^-1 once per
  token and head (`q_norm`, head_dim square-accumulates per token); a product Q_i.Q_j is computed once
  and serves both directions: Q_i.K_j and Q_j.K_i follow by scaling with the other token's inverse norm
  (`qk_scale`, one multiply per delivered score; the QK-sharing buffer keeps the product for the later
  query). Bidirectional heads compute each in-band unordered pair once (about half the in-band
  products); sink pairs outside the band are one-directional; causal heads reuse nothing (the reverse
  direction is masked). Grouped-query models (fewer K/V heads than query heads) cannot share Q and K:
  there the option keeps the K projection and computes every pair. Off: ordinary attention (K projection,
  every kept pair computed, no norms, no scaling).

Mapping cost control (assumed, documented): R is rounded up to a grid of tile-friendly sizes
(powers of two, or L), the head groups of a layer whose rounded R agree form one Einsum
whose heads run side by side (rank h, rounded up to a power of two), and the mapped cost is scaled
by exact work / mapped work. The MAC count reported is the exact product count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sparsecim.attention.banding import HeadGroup, group_heads, kept_pairs
from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError
from sparsecim.schema import Strict
from sparsecim.workload.einsums import ATTENTION_KINDS, EinsumSpec, Kind, LayerEinsum, ModelWorkload
from sparsecim.workload.shapes import TransformerShape


class LarOptions(Strict):
    """Which LAR mechanisms are on (see module docstring)."""

    variable_spans: bool = True
    kv_reuse: bool = True
    qk_sharing: bool = True

    def label(self) -> str:
        off = [n for n, on in (("spans", self.variable_spans), ("reuse", self.kv_reuse), ("sharing", self.qk_sharing)) if not on]
        return "LAR full" if not off else "LAR without " + "+".join(off)


def shares_qk(shape: TransformerShape, options: LarOptions) -> bool:
    """Shared-QK attention applies: the option is on and every query head has its own K head."""
    return options.qk_sharing and shape.n_kv_heads == shape.n_heads


def unique_products(group: HeadGroup) -> int:
    """Products Q_i.Q_j one head of the group computes under shared-QK attention: every unordered
    in-band pair once (bidirectional), the one-directional sink pairs, every pair of a causal head."""
    if group.causal:
        return group.pairs_per_head
    L = group.seq_len
    window = L - 1 if group.is_global else group.window
    band = kept_pairs(L, window, 0, False)
    sinks_only = group.pairs_per_head - band
    return (band + L) // 2 + sinks_only


# A resident key tile is mapped with at least this many rows (modelling device, assumed): with 1-4 row
# tiles the mapper traded energy for latency and broke "a shorter span never costs more energy".
# Narrower windows run on an 8-row tile with the extra keys gated (their pairs are not counted).
MIN_KEY_TILE = 8


def rank_grid(value: int, limit: int) -> int:
    """Round up to the next power of two, at least MIN_KEY_TILE, capped at limit (the sequence length)."""
    if value >= limit:
        return limit
    return min(limit, max(MIN_KEY_TILE, 1 << max(0, (value - 1).bit_length())))


def _fixed_window_profile(profile: SpanProfile) -> list[list[HeadSpan]]:
    """Every local head gets the largest local window of the model (global heads stay global)."""
    local = [h for layer in profile.layers for h in layer if not h.is_global]
    if not local:
        return [list(layer) for layer in profile.layers]
    widest = max(local, key=lambda h: (h.window, h.n_sink))
    return [[h if h.is_global else HeadSpan(widest.window, widest.n_sink) for h in layer] for layer in profile.layers]


@dataclass
class _Bucket:
    """Head groups of one layer that map onto the same banded Einsum shape."""

    mapped_keys: int
    gathered: bool
    heads: int = 0
    products: int = 0  # Q.K products computed, all heads of the bucket
    pairs: int = 0  # (query, key) pairs kept = scores delivered
    tags: list = field(default_factory=list)


def _layer_einsums(layer: int, groups: list[HeadGroup], head_dim: int, batch: int, options: LarOptions, shared: bool) -> list[LayerEinsum]:
    """One banded Q.K^T / (scale) / softmax / P.V set per bucket of head groups with equal mapped
    shapes; the bucket's heads run side by side (rank h), costs scaled to the exact work."""
    buckets: dict[tuple, _Bucket] = {}
    for group in groups:
        mapped = rank_grid(group.key_rank, group.seq_len)
        gathered = not (options.kv_reuse or mapped == group.seq_len)
        bucket = buckets.setdefault((mapped, gathered), _Bucket(mapped, gathered))
        bucket.heads += group.n_heads
        bucket.products += group.n_heads * (unique_products(group) if shared else group.pairs_per_head)
        bucket.pairs += group.n_heads * group.pairs_per_head
        bucket.tags.append("global" if group.is_global else f"w{group.window}" + (f"+{group.n_sink}s" if group.n_sink else ""))
    out = []
    for bucket in buckets.values():
        L = groups[0].seq_len
        # Heads side by side, rounded up to a power of two so that layers share mapped shapes (the
        # cost is scaled back to the exact pairs below).
        H = 1 << (bucket.heads - 1).bit_length()
        ranks_qk = (("b", batch), ("h", H), ("m", L), ("p", bucket.mapped_keys), ("e", head_dim))
        ranks_av = (("b", batch), ("h", H), ("m", L), ("p", bucket.mapped_keys), ("f", head_dim))
        ranks_sm = (("b", batch), ("h", H), ("m", L), ("p", bucket.mapped_keys))
        # What the bucket's tensors really hold (8-b values; the padded heads and keys hold nothing):
        # whether they fit on chip is judged on these (EinsumSpec.stored_bits).
        per_token = batch * bucket.heads * L * head_dim * 8  # Q, K, V, P.V output
        scores = batch * bucket.pairs * 8  # the kept (query, key) pairs
        stored_qk = (("Q", per_token), ("K", per_token), ("S", scores))
        stored_av = (("A", scores), ("V", per_token), ("O", per_token))
        if not bucket.gathered:
            # Resident rows are rewritten L / mapped_keys times as the window slides: each key once.
            kv_bits = 8 * L / bucket.mapped_keys
            qk = EinsumSpec("qk", ranks_qk, weight_from_dram=False, weight_bits=kv_bits, stored_bits=stored_qk)
            av = EinsumSpec("av", ranks_av, weight_from_dram=False, weight_bits=kv_bits, stored_bits=stored_av)
        else:
            qk = EinsumSpec("qk_gather", ranks_qk, weight_from_dram=False, stored_bits=stored_qk)
            av = EinsumSpec("av_gather", ranks_av, weight_from_dram=False, stored_bits=stored_av)
        softmax = EinsumSpec("softmax", ranks_sm, weight_from_dram=False, stored_bits=(("S", scores), ("A", scores)))
        tag = f"R={bucket.mapped_keys} {bucket.heads}h ({','.join(sorted(set(bucket.tags)))[:40]})"
        out.append(LayerEinsum(layer, Kind.QK, qk, exact_operations=bucket.products * head_dim * batch, tag=tag))
        if shared:
            scale = EinsumSpec("qkscale", ranks_sm, weight_from_dram=False, stored_bits=(("S", scores), ("T", scores)))
            out.append(LayerEinsum(layer, Kind.QK_SCALE, scale, exact_operations=bucket.pairs * batch, tag=tag))
        out += [
            LayerEinsum(layer, Kind.SOFTMAX, softmax, exact_operations=bucket.pairs * batch, tag=tag),
            LayerEinsum(layer, Kind.AV, av, exact_operations=bucket.pairs * head_dim * batch, tag=tag),
        ]
    return out


def _query_norms(layer: int, shape: TransformerShape, seq_len: int, batch: int) -> LayerEinsum:
    """|Q|^-1 of every token and head: head_dim square-accumulates per token (module compute)."""
    spec = EinsumSpec("qnorm", (("b", batch), ("h", shape.n_heads), ("m", seq_len), ("e", shape.head_dim)), weight_from_dram=False)
    return LayerEinsum(layer, Kind.Q_NORM, spec)


def rewrite_attention(workload: ModelWorkload, spans: SpanProfile, options: LarOptions | None = None) -> ModelWorkload:
    """A copy of `workload` whose attention Einsums follow `spans` (see module docstring)."""
    options = options or LarOptions()
    shape = workload.shape
    spans.validate(seq_len=workload.seq_len, n_layers=shape.n_layers, n_heads=shape.n_heads)
    if spans.causal != shape.causal:
        raise InputError(
            f"span profile is {'causal' if spans.causal else 'bidirectional'} but {shape.name} is "
            f"{'causal' if shape.causal else 'bidirectional'}"
        )
    layers = [list(layer) for layer in spans.layers] if options.variable_spans else _fixed_window_profile(spans)
    shared = shares_qk(shape, options)
    out: list[LayerEinsum] = []
    for layer in range(shape.n_layers):
        originals = [e for e in workload.einsums if e.layer == layer]
        # Projections keep their place; shared-QK attention has no K projection (keys are normalised queries).
        before = [e for e in originals if e.kind in (Kind.Q_PROJ, Kind.K_PROJ, Kind.V_PROJ) and not (shared and e.kind == Kind.K_PROJ)]
        after = [e for e in originals if e.kind not in ATTENTION_KINDS and e.kind not in (Kind.Q_PROJ, Kind.K_PROJ, Kind.V_PROJ)]
        groups = group_heads(layers[layer], workload.seq_len, shape.causal)
        norms = [_query_norms(layer, shape, workload.seq_len, workload.batch)] if shared else []
        banded = _layer_einsums(layer, groups, shape.head_dim, workload.batch, options, shared)
        out.extend(before + norms + banded + after)
    rewritten = replace(workload, einsums=out, notes=list(workload.notes))
    sharing = "" if shared or not options.qk_sharing else "; QK sharing not applicable (grouped-query attention)"
    measured = f", measured at attention mass {spans.mass:g}" if spans.mass else ""
    rewritten.notes.append(f"attention: {options.label()} (span profile of {spans.model}{measured}){sharing}")
    return rewritten

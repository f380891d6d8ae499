"""Rewrite a model's attention Einsums from a per-head span profile (the LAR engine's workload).

Each layer's Q.K^T, softmax and P.V Einsums are replaced by banded ones, one set per group of
heads with equal spans: the rank over keys becomes the head's window plus its sinks (`R`), global
heads keep every key. Three LAR mechanisms, each switchable so its gain shows separately:

* variable spans: every head gets its own window. Off: every local head uses the largest local
  window in the model (one fixed window, as an accelerator without per-head spans would);
  global heads stay dense either way.
* K/V reuse: the R key (value) rows of a window stay in CIM and a window slide writes only the
  new row, so each of the L keys is written once. On: the K operand keeps R rows resident and
  carries L/R times its bits per value (every resident row slot is rewritten L/R times over the
  sequence). Off: every query's window is written into CIM anew (the key operand is gathered per
  query, L x R rows).
* QK sharing (our interpretation, assumed; the paper says only that it "removes redundant
  operations"): K rows resident in CIM serve a block of `query_block` consecutive queries, and for
  each query only the columns inside its own window are activated. Off: every query of a block
  computes against all resident rows of the block (query_block + R - 1 keys, at most L) and
  out-of-window scores are masked afterwards: those are the redundant operations.

Mapping cost control (assumed, documented): R is rounded up to a grid of tile-friendly sizes
(powers of two, or L), the head groups of a layer whose rounded R agree form one Einsum
whose heads run side by side (rank h, rounded up to a power of two), and the mapped cost is scaled
by exact pairs / mapped pairs.
The MAC count reported is the exact pair count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field

from sparsecim.attention.banding import HeadGroup, group_heads
from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError
from sparsecim.schema import Strict
from sparsecim.workload.einsums import ATTENTION_KINDS, PROJECTION_KINDS, EinsumSpec, Kind, LayerEinsum, ModelWorkload


class LarOptions(Strict):
    """Which LAR mechanisms are on (see module docstring)."""

    variable_spans: bool = True
    kv_reuse: bool = True
    qk_sharing: bool = True
    query_block: int = Field(16, ge=1)  # assumed: queries served by one resident K tile

    def label(self) -> str:
        off = [n for n, on in (("spans", self.variable_spans), ("reuse", self.kv_reuse), ("sharing", self.qk_sharing)) if not on]
        return "LAR full" if not off else "LAR without " + "+".join(off)


# The LAR engine moves K/V in slides of whole buffer rows: a resident key tile is at least this many
# rows (the 8-row slide buffer of the arch's lar_window_bytes default; assumed). Narrower windows
# run on an 8-row tile with the extra keys gated (their pairs are not counted).
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
    softmax_keys: int
    gathered: bool
    heads: int = 0
    mac_pairs: int = 0  # exact (query, key) pairs computed, all heads of the bucket
    softmax_pairs: int = 0
    tags: list = None


def _bucket_key(group: HeadGroup, options: LarOptions) -> tuple[int, int, bool]:
    L, R = group.seq_len, group.key_rank
    computed = R if options.qk_sharing else min(L, options.query_block + R - 1)
    mapped = rank_grid(computed, L)
    return mapped, rank_grid(R, L), not (options.kv_reuse or mapped == L)


def _layer_einsums(layer: int, groups: list[HeadGroup], head_dim: int, batch: int, options: LarOptions) -> list[LayerEinsum]:
    """One banded Q.K^T / softmax / P.V set per bucket of head groups with equal mapped shapes; the
    bucket's heads run side by side (rank h), costs scaled to the exact pair count."""
    buckets: dict[tuple, _Bucket] = {}
    for group in groups:
        L, R = group.seq_len, group.key_rank
        mapped, softmax_keys, gathered = _bucket_key(group, options)
        bucket = buckets.setdefault((mapped, softmax_keys, gathered), _Bucket(mapped, softmax_keys, gathered, tags=[]))
        computed = R if options.qk_sharing else min(L, options.query_block + R - 1)
        bucket.heads += group.n_heads
        bucket.mac_pairs += group.n_heads * (group.pairs_per_head if options.qk_sharing else L * computed)
        bucket.softmax_pairs += group.n_heads * group.pairs_per_head
        bucket.tags.append("global" if group.is_global else f"w{group.window}" + (f"+{group.n_sink}s" if group.n_sink else ""))
    out = []
    for bucket in buckets.values():
        L = groups[0].seq_len
        # Heads side by side, rounded up to a power of two so that layers share mapped shapes (the
        # cost is scaled back to the exact pairs below).
        H = 1 << (bucket.heads - 1).bit_length()
        ranks_qk = (("b", batch), ("h", H), ("m", L), ("p", bucket.mapped_keys), ("e", head_dim))
        ranks_av = (("b", batch), ("h", H), ("m", L), ("p", bucket.mapped_keys), ("f", head_dim))
        ranks_sm = (("b", batch), ("h", H), ("m", L), ("p", bucket.softmax_keys))
        if not bucket.gathered:
            # Resident rows are rewritten L / mapped_keys times as the window slides: each key once.
            kv_bits = 8 * L / bucket.mapped_keys
            qk = EinsumSpec("qk", ranks_qk, weight_from_dram=False, weight_bits=kv_bits)
            av = EinsumSpec("av", ranks_av, weight_from_dram=False, weight_bits=kv_bits)
        else:
            qk = EinsumSpec("qk_gather", ranks_qk, weight_from_dram=False)
            av = EinsumSpec("av_gather", ranks_av, weight_from_dram=False)
        softmax = EinsumSpec("softmax", ranks_sm, weight_from_dram=False)
        tag = f"R={bucket.mapped_keys} {bucket.heads}h ({','.join(sorted(set(bucket.tags)))[:40]})"
        macs = bucket.mac_pairs * head_dim * batch
        out += [
            LayerEinsum(layer, Kind.QK, qk, exact_operations=macs, tag=tag),
            LayerEinsum(layer, Kind.SOFTMAX, softmax, exact_operations=bucket.softmax_pairs * batch, tag=tag),
            LayerEinsum(layer, Kind.AV, av, exact_operations=macs, tag=tag),
        ]
    return out


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
    out: list[LayerEinsum] = []
    for layer in range(shape.n_layers):
        originals = [e for e in workload.einsums if e.layer == layer]
        before = [e for e in originals if e.kind in PROJECTION_KINDS]
        after = [e for e in originals if e.kind not in ATTENTION_KINDS and e not in before]
        groups = group_heads(layers[layer], workload.seq_len, shape.causal)
        banded = _layer_einsums(layer, groups, shape.head_dim, workload.batch, options)
        out.extend(before + banded + after)
    rewritten = replace(workload, einsums=out, notes=list(workload.notes))
    rewritten.notes.append(f"attention: {options.label()} (span profile of {spans.model}, mass {spans.mass})")
    return rewritten

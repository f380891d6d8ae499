"""Kept (query, key) pairs of banded attention heads, and grouping of a layer's heads for the workload.

Mask (sequence length L, window w, n_sink sinks = first n_sink positions, see profile.HeadSpan):
  bidirectional: keep (i, j) iff |i - j| <= w or j < n_sink
  causal:        keep (i, j) iff j <= i and (i - j <= w or j < n_sink)
  global head:   keep every (i, j) (j <= i if causal).

Two sizes per head:
  * padded key rank R = min(band + n_sink, L), band = min(2w+1, L) (causal: min(w+1, L)); global: R = L.
    This is the per-query key-rank size of the banded Einsum (every query iterates R keys; queries near
    the sequence edges, and sinks that already lie inside the band, are padding).
  * exact kept pairs P (closed form below, checked against an explicit mask in tests).
The workload rewrite uses R (a uniform rank is what an Einsum / the LAR engine's fixed window iterates,
assumed); multiply per-pair action counts by correction = P / (L * R) <= 1 to get exact QK/AV MACs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError


def _check(seq_len: int, window: int, n_sink: int) -> None:
    if seq_len < 1:
        raise InputError(f"seq_len must be >= 1, got {seq_len}")
    if window < 0:
        raise InputError(f"negative span: window={window}")
    if n_sink < 0:
        raise InputError(f"negative sink count: n_sink={n_sink}")


def dense_pairs(seq_len: int, causal: bool = False) -> int:
    """L*L pairs (bidirectional) or L(L+1)/2 (causal)."""
    return seq_len * (seq_len + 1) // 2 if causal else seq_len * seq_len


def _sum_min(n: int, offset: int, cap: int) -> int:
    """sum_{j=0}^{n-1} min(cap, j + offset) for 0 <= offset <= cap."""
    below = min(n, cap - offset + 1)  # terms with j + offset <= cap
    return below * offset + below * (below - 1) // 2 + (n - below) * cap


def kept_pairs(seq_len: int, window: int, n_sink: int = 0, causal: bool = False, is_global: bool = False) -> int:
    """Exact number of kept (query, key) pairs, closed form (O(1) integer arithmetic)."""
    _check(seq_len, window, n_sink)
    if is_global:
        return dense_pairs(seq_len, causal)
    L, w, s = seq_len, min(window, seq_len - 1), min(n_sink, seq_len)
    if causal:
        band = (w + 1) * L - w * (w + 1) // 2  # sum_{d=0}^{w} (L - d)
        # sink column j keeps queries i in [j, L-1]; the band already holds i in [j, min(L-1, j+w)]
        extra = s * (L - 1) - _sum_min(s, w, L - 1)
    else:
        band = (2 * w + 1) * L - w * (w + 1)  # L + 2 * sum_{d=1}^{w} (L - d)
        # sink column j: the band holds queries i in [max(0, j-w), min(L-1, j+w)]
        beyond = max(0, s - 1 - w)  # sink columns with j > w
        in_band = _sum_min(s, w, L - 1) - beyond * (beyond + 1) // 2 + s
        extra = s * L - in_band
    return band + extra


def keep_mask(seq_len: int, window: int, n_sink: int = 0, causal: bool = False, is_global: bool = False) -> np.ndarray:
    """Explicit boolean keep mask [query, key] (for tests and plots; O(L^2) memory)."""
    _check(seq_len, window, n_sink)
    i = np.arange(seq_len)[:, None]
    j = np.arange(seq_len)[None, :]
    keep = np.ones((seq_len, seq_len), dtype=bool) if is_global else (np.abs(i - j) <= window) | (j < n_sink)
    return keep & (j <= i) if causal else keep


def kept_pairs_bruteforce(seq_len: int, window: int, n_sink: int = 0, causal: bool = False, is_global: bool = False) -> int:
    """Kept pairs counted from the explicit mask; independent check of kept_pairs."""
    return int(keep_mask(seq_len, window, n_sink, causal, is_global).sum())


def padded_key_rank(seq_len: int, window: int, n_sink: int = 0, causal: bool = False, is_global: bool = False) -> int:
    """Per-query key-rank size of the banded Einsum: min(band + n_sink, L); L for a global head."""
    _check(seq_len, window, n_sink)
    if is_global:
        return seq_len
    band = min(window + 1 if causal else 2 * window + 1, seq_len)
    return min(band + n_sink, seq_len)


@dataclass(frozen=True)
class HeadGroup:
    """Heads of one layer sharing (window, n_sink, global); window is clipped to L-1, None for global groups."""

    window: int | None
    n_sink: int
    is_global: bool
    head_indices: tuple[int, ...]
    seq_len: int
    causal: bool
    key_rank: int  # padded per-query key rank used by the workload
    pairs_per_head: int  # exact kept (query, key) pairs of one head

    @property
    def n_heads(self) -> int:
        return len(self.head_indices)

    @property
    def padded_pairs_per_head(self) -> int:
        return self.seq_len * self.key_rank

    @property
    def correction(self) -> float:
        """Exact / padded pairs (<= 1): scale padded-rank action counts by this for exact QK/AV MACs."""
        return self.pairs_per_head / self.padded_pairs_per_head

    @property
    def density(self) -> float:
        """Exact kept pairs / dense pairs of one head."""
        return self.pairs_per_head / dense_pairs(self.seq_len, self.causal)


def group_heads(heads: Sequence[HeadSpan], seq_len: int, causal: bool = False) -> list[HeadGroup]:
    """Group one layer's heads by equal (window clipped to L-1, n_sink, global); global heads form one group.

    Groups are ordered by window, global last; head_indices keep the heads' positions in the layer.
    """
    if seq_len < 1:
        raise InputError(f"seq_len must be >= 1, got {seq_len}")
    members: dict[tuple, list[int]] = {}
    for index, head in enumerate(heads):
        if head.is_global:
            key = (True, None, 0)  # dense: window and sinks are irrelevant
        else:
            key = (False, min(head.window, seq_len - 1), min(head.n_sink, seq_len))
        members.setdefault(key, []).append(index)
    groups = []
    for (is_global, window, n_sink), indices in sorted(members.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        w = seq_len - 1 if is_global else window
        groups.append(
            HeadGroup(
                window=window,
                n_sink=n_sink,
                is_global=is_global,
                head_indices=tuple(indices),
                seq_len=seq_len,
                causal=causal,
                key_rank=padded_key_rank(seq_len, w, n_sink, causal, is_global),
                pairs_per_head=kept_pairs(seq_len, w, n_sink, causal, is_global),
            )
        )
    return groups


def group_profile(profile: SpanProfile, seq_len: int | None = None) -> list[list[HeadGroup]]:
    """group_heads for every layer; seq_len defaults to the profile's (validated against its windows)."""
    seq_len = seq_len if seq_len is not None else profile.seq_len
    if seq_len is None:
        raise InputError("profile has no seq_len; pass one")
    profile.validate(seq_len=seq_len)
    return [group_heads(layer, seq_len, profile.causal) for layer in profile.layers]

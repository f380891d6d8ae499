"""Packing model of the in-memory butterfly zero skipper, computed from an actual keep-mask.

Geometry (every rule is a field of PackingRules; defaults from the chip's block diagram where it says
something, assumed otherwise):

* ``W[out, in]`` is stored with the reduction (input) dimension along bank rows and output channels
  along bank columns. ``columns_per_macro`` (C, default 16: a bank's 128 bit columns hold 16 8-bit
  weights, block diagram) columns work in lock-step: they share the physical rows (word lines) and so
  the row slots.
* The input dimension is cut into groups of ``lanes`` (N, default 16, assumed; the mechanism figure
  draws an 8-lane example) consecutive inputs; one N-lane
  butterfly per column routes the group's inputs to that column's stored rows.
* Zero weights are not stored: in every column, the non-zeros of a group are compacted, in input
  order, into consecutive row slots 0, 1, ... (an order-preserving compaction, which the butterfly
  routes in one pass without conflicts, see butterfly_route).
* Because columns share rows, a group occupies S = max over the C columns of its non-zero count row
  slots in its column block; the C*S - nnz unused cells are padding.
* ``max_slots_per_group`` (K, default N = no bound) is the hardware limit on slots per group pass:
  a group with S > K needs ceil(S / K) passes (policy ``extra_pass``) or keeps only the first K
  non-zeros of each column (policy ``truncate``; the rest are reported as dropped).
* Ragged edges: ``out`` is padded with all-zero columns to a multiple of C and ``in`` with all-zero
  inputs to a multiple of N. Padding columns take cells in the chip and in the dense baseline (a
  macro's column block is reserved whole; assumed); padding inputs never hold a non-zero.
* A group whose S is 0 in a column block is skipped entirely: no slots, no pass, no routing.

Metadata (``metadata``): ``bit_mask`` (default, the chip's published format, mechanism figure step 2)
stores one bit per weight position of the matrix, kept or not (in the chip's 10T BFLY-control banks);
the BFLY decoder derives every switch setting from the mask's prefix popcount (`decoder_settings`).
``index`` stores log2(N) bits per stored non-zero (the lane the weight came from); ``switch_config``
stores the butterfly's N/2*log2(N) switch bits per column per group pass; ``none`` stores nothing.
With metadata, a nearly dense mask costs MORE bits than the dense baseline; cells (weight storage)
always obey ideal <= chip <= dense.

Switching activity: the settings of one column's butterfly for consecutive processed groups (input
order); toggles are the Hamming distances between consecutive settings, starting from all-straight.
Idle switches (no packet) are set straight (a history-aware controller would toggle less: upper bound).
Extra passes of an overflowing group are counted with the group's one configuration (approximation).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import Field, NonNegativeInt, field_validator, model_validator

from sparsecim.errors import InputError
from sparsecim.schema import IntPair, Strict, lax_enum

_TABLE_MAX_LANES = 16  # switch settings of all 2^N masks are tabulated up to N = 16 (64 Ki entries)


class OverflowPolicy(StrEnum):
    """What a group needing more row slots than one pass holds does."""

    EXTRA_PASS = "extra_pass"
    TRUNCATE = "truncate"


class Metadata(StrEnum):
    """How the positions of the stored non-zeros are recorded."""

    BIT_MASK = "bit_mask"  # the chip's format: one bit per weight position, kept or not (mechanism figure)
    INDEX = "index"
    SWITCH_CONFIG = "switch_config"
    NONE = "none"


OVERFLOW_POLICIES = tuple(p.value for p in OverflowPolicy)
METADATA_KINDS = tuple(m.value for m in Metadata)


class PackingRules(Strict):
    """Switchable geometry and accounting rules of the packing model (defaults assumed, see module doc)."""

    columns_per_macro: int = Field(16, ge=1)  # weight columns sharing a bank's rows (diagram: 128 bit columns / 8 b)
    lanes: int = 16
    max_slots_per_group: int | None = None  # K; None means K = lanes (never overflows)
    overflow_policy: lax_enum(OverflowPolicy) = OverflowPolicy.EXTRA_PASS
    metadata: lax_enum(Metadata) = Metadata.BIT_MASK
    weight_bits: int = Field(8, ge=1)  # ISSCC 2023 16.2 title: 8b weights
    block_skip: IntPair | None = None  # (out, in) block of the block-skipping baseline; None = (C, N)
    block_skip_flag_bits: int = Field(1, ge=0)  # block-skipping baseline: one occupancy bit per block (assumed)

    @field_validator("lanes")
    @classmethod
    def _lanes(cls, n: int) -> int:
        if not (2 <= n <= 64 and n & (n - 1) == 0):
            raise ValueError(f"lanes must be a power of two in [2, 64] (got {n!r})")
        return n

    @field_validator("block_skip")
    @classmethod
    def _block(cls, block):
        if block is not None and not all(b >= 1 for b in block):
            raise ValueError(f"block_skip must be two positive integers (out, in) (got {block!r})")
        return block

    @model_validator(mode="after")
    def _slots(self) -> "PackingRules":
        k = self.max_slots_per_group
        if k is not None and not 1 <= k <= self.lanes:
            raise ValueError(f"max_slots_per_group must be an integer in [1, lanes={self.lanes}] (got {k!r})")
        return self

    @property
    def slot_bound(self) -> int:
        """K: the most row slots one group pass can use."""
        return self.lanes if self.max_slots_per_group is None else self.max_slots_per_group

    @property
    def stages(self) -> int:
        return self.lanes.bit_length() - 1

    @property
    def switch_bits(self) -> int:
        """Switch configuration bits of one N-lane butterfly: N/2 switches per stage, log2 N stages."""
        return self.lanes // 2 * self.stages

    @property
    def block_skip_shape(self) -> tuple[int, int]:
        return self.block_skip or (self.columns_per_macro, self.lanes)

    def to_dict(self) -> dict:
        data = self.model_dump(mode="json")
        return data


class StorageCost(Strict):
    """Storage of one scheme: weight cells reserved (padding included), and bits."""

    cells: NonNegativeInt
    weight_bits: NonNegativeInt
    metadata_bits: NonNegativeInt

    def __init__(self, *args, **data):
        data.update(zip(("cells", "weight_bits", "metadata_bits"), args))
        super().__init__(**data)

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.metadata_bits


class PackingStats(Strict):
    """Packing of one mask. Cells count weight positions; a row slot is one row across a column block (C cells).

    chip / dense / block_skip / ideal are the storage of the butterfly zero skipper and its baselines on
    the same mask: dense stores every weight (padded geometry), block_skip stores every block that holds
    a non-zero, ideal stores only the non-zeros (no padding, no metadata)."""

    shape: tuple[NonNegativeInt, NonNegativeInt]
    nnz: NonNegativeInt
    dense_size: NonNegativeInt
    column_blocks: NonNegativeInt
    groups: NonNegativeInt
    stored_row_slots: NonNegativeInt
    padding_cells: NonNegativeInt
    passes: NonNegativeInt
    overflow_groups: NonNegativeInt
    dropped_nonzeros: NonNegativeInt
    routed_values: NonNegativeInt
    switch_toggles: NonNegativeInt
    slot_histogram: tuple[NonNegativeInt, ...]  # (column block, group) pairs needing S = 0..N slots (before any bound)
    chip: StorageCost
    dense: StorageCost
    block_skip: StorageCost
    ideal: StorageCost

    @field_validator("shape", "slot_histogram", mode="before")
    @classmethod
    def _tuples(cls, value):
        return tuple(value) if isinstance(value, list) else value

    @property
    def stored_nonzeros(self) -> int:
        return self.nnz - self.dropped_nonzeros

    @property
    def utilisation(self) -> float:
        """Stored non-zeros / reserved cells of the chip (1 - padding fraction)."""
        return self.stored_nonzeros / self.chip.cells if self.chip.cells else 1.0

    @property
    def density(self) -> float:
        return self.nnz / self.dense_size if self.dense_size else 0.0

    @property
    def mean_slots_per_group(self) -> float:
        return self.stored_row_slots / (self.column_blocks * self.groups)

    def storage(self, scheme: str) -> StorageCost:
        """The storage of a scheme by its attribute name (chip, dense, block_skip, ideal)."""
        return getattr(self, scheme)

    def memory_reduction(self, scheme: str = "chip") -> float:
        """Dense total bits / the scheme's total bits (> 1 means the scheme saves memory)."""
        cost = self.storage(scheme)
        return self.dense.total_bits / cost.total_bits if cost.total_bits else float("inf")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class ButterflyRoute:
    """Switch settings of an N-lane butterfly for a batch of routings.

    settings[..., s, j] is True when switch j of stage s is crossed. Stage s pairs positions p and
    p ^ 2**s (address bits corrected least-significant first); switch j of stage s joins position
    lo = ((j >> s) << (s + 1)) | (j & (2**s - 1)) with lo | 2**s. conflict[...] is True when two values
    needed the same switch output at some stage (the routing then is not realisable in one pass)."""

    settings: np.ndarray
    conflict: np.ndarray


def _stage_pairs(lanes: int, stage: int) -> tuple[np.ndarray, np.ndarray]:
    j = np.arange(lanes // 2)
    low = ((j >> stage) << (stage + 1)) | (j & ((1 << stage) - 1))
    return low, low | (1 << stage)


def route_destinations(destinations: np.ndarray) -> ButterflyRoute:
    """Route values through the butterfly: destinations[..., i] is input i's output lane, -1 = no value.

    Each value follows the butterfly's unique path (stage s sets address bit s to the destination's bit s);
    a switch holding two values that want the same output is a conflict."""
    destinations = np.asarray(destinations, dtype=np.int64)
    lanes = destinations.shape[-1]
    if lanes < 2 or lanes & (lanes - 1):
        raise InputError(f"butterfly width must be a power of two >= 2 (got {lanes})")
    stages = lanes.bit_length() - 1
    at = destinations.copy()  # at[..., p]: destination of the value now at position p (-1 empty)
    settings = np.zeros(destinations.shape[:-1] + (stages, lanes // 2), dtype=bool)
    conflict = np.zeros(destinations.shape[:-1], dtype=bool)
    for stage in range(stages):
        low, high = _stage_pairs(lanes, stage)
        d_low, d_high = at[..., low], at[..., high]
        has_low, has_high = d_low >= 0, d_high >= 0
        low_wants_cross = has_low & ((d_low >> stage) & 1 == 1)
        high_wants_cross = has_high & ((d_high >> stage) & 1 == 0)
        conflict |= (has_low & has_high & (low_wants_cross != high_wants_cross)).any(axis=-1)
        cross = np.where(has_low, low_wants_cross, high_wants_cross)  # idle switch: straight
        settings[..., stage, :] = cross
        at[..., low] = np.where(cross, d_high, d_low)
        at[..., high] = np.where(cross, d_low, d_high)
    return ButterflyRoute(settings, conflict)


def butterfly_route(selected: np.ndarray) -> ButterflyRoute:
    """Switch settings that compact the selected inputs, in order, onto outputs 0..k-1 (one pass, no conflict).

    Why it never conflicts (order-preserving concentration on a butterfly; Leighton, "Introduction to
    Parallel Algorithms and Architectures", 1992, §3.4 packing / monotone routing; Nassimi & Sahni,
    "Parallel permutation and sorting algorithms and a new generalized connection network", JACM 1982):
    after stages 0..s-1 a value sits at (its source's bits above s) + (its destination's bits below s).
    Two values meeting at a stage-s switch come from one aligned block of 2**(s+1) inputs, so their
    ranks differ by less than 2**(s+1), and agree below bit s, so they differ by exactly 2**s: bit s of
    their destinations differs and they leave on different outputs (the same holds for order-reversing
    compaction; non-monotone orders and general permutations can conflict). selected: bool [..., N]."""
    selected = np.asarray(selected, dtype=bool)
    ranks = np.cumsum(selected, axis=-1) - 1
    return route_destinations(np.where(selected, ranks, -1))


def decoder_settings(mask: np.ndarray) -> np.ndarray:
    """The BFLY decoder's switch settings, from the bit mask alone: [..., stage, switch] (True = crossed).

    The decoder forms the prefix popcount PP_i = PP_{i-1} + mask_i (mechanism figure, "BFLY decoder"),
    so a kept input i goes to output PP_i - 1. At stage s the switch holding lane i is crossed when bit s
    of i XOR (PP_i - 1) is set (the address bit the stage corrects; the figure's "left-rotation and
    complement-on-warp" rule read as this XOR). A switch with no kept input stays straight; with one,
    its setting comes from that input. The stage order and switch numbering are `butterfly_route`'s,
    and tests check that the two agree on every mask."""
    mask = np.asarray(mask, dtype=bool)
    lanes = mask.shape[-1]
    stages = lanes.bit_length() - 1
    target = np.cumsum(mask, axis=-1) - 1  # PP_i - 1
    position = np.broadcast_to(np.arange(lanes), mask.shape).copy()  # where each input is before a stage
    settings = np.zeros(mask.shape[:-1] + (stages, lanes // 2), dtype=bool)
    switches = np.arange(lanes // 2)
    for stage in range(stages):
        cross = mask & (((position ^ target) >> stage) & 1).astype(bool)
        on_switch = _switch_index(position, stage)[..., None] == switches  # [..., lane, switch]
        settings[..., stage, :] = (on_switch & cross[..., None]).any(axis=-2)
        position = np.where(cross, position ^ (1 << stage), position)
    return settings


def _switch_index(position: np.ndarray, stage: int) -> np.ndarray:
    """Index of the stage-`stage` switch joining `position` and `position ^ 2**stage` (_stage_pairs order)."""
    low_bits = position & ((1 << stage) - 1)
    high = position >> (stage + 1)
    return (high << stage) | low_bits


@functools.lru_cache(maxsize=8)
def _settings_table(lanes: int) -> np.ndarray:
    """Packed switch settings of the compaction of every N-bit selection code (N <= 16): [2**N, words]."""
    return _settings_words(np.arange(1 << lanes, dtype=np.uint32), lanes)


def _settings_words(codes: np.ndarray, lanes: int) -> np.ndarray:
    """Switch settings of the compaction of each code, packed into uint64 words: [..., words]."""
    bits = ((codes[..., None] >> np.arange(lanes, dtype=codes.dtype)) & 1).astype(bool)
    settings = butterfly_route(bits).settings
    packed = np.packbits(settings.reshape(settings.shape[:-2] + (-1,)), axis=-1)
    pad = -packed.shape[-1] % 8
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), dtype=np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _group_codes(mask: np.ndarray, lanes: int) -> np.ndarray:
    """Per (row, group) selection code: bit i set when input i of the group is kept. mask: [rows, groups*N]."""
    rows = mask.shape[0]
    if lanes >= 8:
        packed = np.packbits(mask, axis=-1, bitorder="little")
        return packed.view(f"<u{lanes // 8}").reshape(rows, -1)
    weights = (1 << np.arange(lanes)).astype(np.uint8)
    return (mask.reshape(rows, -1, lanes) * weights).sum(axis=-1, dtype=np.uint8)


def _first_bits(codes: np.ndarray, keep: int) -> np.ndarray:
    """Codes with only their `keep` lowest set bits left (the first inputs in order)."""
    remaining, kept = codes.copy(), np.zeros_like(codes)
    for _ in range(keep):
        lowest = remaining & (np.zeros_like(remaining) - remaining)
        kept |= lowest
        remaining ^= lowest
    return kept


def _padded(mask: np.ndarray, rules: PackingRules) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"a weight mask must be 2-D [out, in] (got shape {mask.shape})")
    if mask.dtype != bool:
        mask = mask != 0
    rows, cols = mask.shape
    c, n = rules.columns_per_macro, rules.lanes
    padded_rows, padded_cols = -(-rows // c) * c, -(-cols // n) * n
    if (padded_rows, padded_cols) == (rows, cols):
        return np.ascontiguousarray(mask)
    padded = np.zeros((padded_rows, padded_cols), dtype=bool)
    padded[:rows, :cols] = mask
    return padded


def _toggles(codes: np.ndarray, processed: np.ndarray, rules: PackingRules) -> int:
    """Switch toggles of every column over its processed groups. codes [cb, C, G], processed [cb, G]."""
    if rules.lanes <= _TABLE_MAX_LANES:
        configs = _settings_table(rules.lanes)[codes]  # [cb, C, G, words]
    else:
        configs = _settings_words(codes, rules.lanes)
    if processed.all():  # common case: every group is processed, so compare neighbours
        flips = np.bitwise_count(configs[:, :, 0]).sum(dtype=np.int64)  # from the all-straight initial state
        flips += np.bitwise_count(configs[:, :, 1:] ^ configs[:, :, :-1]).sum(dtype=np.int64)
        return int(flips)
    groups = processed.shape[1]
    latest = np.maximum.accumulate(np.where(processed, np.arange(groups), -1), axis=1)
    previous = np.concatenate([np.full((processed.shape[0], 1), -1), latest[:, :-1]], axis=1)
    before = np.take_along_axis(configs, np.maximum(previous, 0)[:, None, :, None], axis=2)
    before[np.broadcast_to((previous < 0)[:, None, :, None], before.shape)] = 0  # initial state: all straight
    flips = np.bitwise_count(configs ^ before).sum(axis=-1, dtype=np.int64)  # [cb, C, G]
    return int((flips * processed[:, None, :]).sum())


def _block_skip_cells(mask: np.ndarray, slots: np.ndarray, rules: PackingRules) -> tuple[int, int]:
    """(cells, blocks) of the block-skipping baseline: every (out x in) block holding a non-zero is stored whole."""
    bo, bi = rules.block_skip_shape
    if (bo, bi) == (rules.columns_per_macro, rules.lanes):
        return int(np.count_nonzero(slots)) * bo * bi, slots.size
    rows, cols = mask.shape
    rb, cb = -(-rows // bo), -(-cols // bi)
    padded = np.zeros((rb * bo, cb * bi), dtype=bool)
    padded[:rows, :cols] = mask != 0
    occupied = padded.reshape(rb, bo, cb, bi).any(axis=(1, 3))
    return int(np.count_nonzero(occupied)) * bo * bi, occupied.size


def analyze_mask(mask: np.ndarray, rules: PackingRules | None = None) -> PackingStats:
    """Packing statistics of one keep-mask [out, in] (bool, or numeric where non-zero = kept)."""
    rules = rules or PackingRules()
    mask = np.asarray(mask)
    c, n, k = rules.columns_per_macro, rules.lanes, rules.slot_bound
    padded = _padded(mask, rules)
    column_blocks, groups = padded.shape[0] // c, padded.shape[1] // n
    codes = _group_codes(padded, n).reshape(column_blocks, c, groups)
    counts = np.bitwise_count(codes)  # non-zeros per (column, group)
    nnz = int(counts.sum(dtype=np.int64))
    slots = counts.max(axis=1).astype(np.int64)  # S per (column block, group): columns share rows
    histogram = np.bincount(slots.ravel(), minlength=n + 1)
    overflow = int(np.count_nonzero(slots > k))
    dropped = 0
    if overflow and rules.overflow_policy is OverflowPolicy.TRUNCATE:
        dropped = int(np.maximum(counts.astype(np.int64) - k, 0).sum())
        codes = np.where(counts > k, _first_bits(codes, k), codes)
        slots = np.minimum(slots, k)
        passes = int(np.count_nonzero(slots))
    else:
        passes = int(((slots + k - 1) // k).sum())
    stored = nnz - dropped
    row_slots = int(slots.sum())
    chip_cells = row_slots * c
    if rules.metadata is Metadata.BIT_MASK:
        metadata = int(mask.shape[0]) * int(mask.shape[1])  # one bit per weight position, kept or not
    elif rules.metadata is Metadata.INDEX:
        metadata = stored * rules.stages
    elif rules.metadata is Metadata.SWITCH_CONFIG:
        metadata = passes * c * rules.switch_bits
    else:
        metadata = 0
    block_cells, blocks = _block_skip_cells(mask, slots, rules)
    dense_cells = padded.size
    wb = rules.weight_bits
    return PackingStats(
        shape=(int(mask.shape[0]), int(mask.shape[1])),
        nnz=nnz,
        dense_size=int(mask.shape[0]) * int(mask.shape[1]),
        column_blocks=column_blocks,
        groups=groups,
        stored_row_slots=row_slots,
        padding_cells=chip_cells - stored,
        passes=passes,
        overflow_groups=overflow,
        dropped_nonzeros=dropped,
        routed_values=stored,
        switch_toggles=_toggles(codes, slots > 0, rules),
        slot_histogram=tuple(int(h) for h in histogram),
        chip=StorageCost(chip_cells, chip_cells * wb, metadata),
        dense=StorageCost(dense_cells, dense_cells * wb, 0),
        block_skip=StorageCost(block_cells, block_cells * wb, blocks * rules.block_skip_flag_bits),
        ideal=StorageCost(nnz, nnz * wb, 0),
    )


def analyze_masks(masks: dict[str, np.ndarray], rules: PackingRules | None = None) -> dict[str, PackingStats]:
    """analyze_mask for every mask, keyed like the input."""
    return {name: analyze_mask(mask, rules) for name, mask in masks.items()}


def total_stats(stats: Iterable[PackingStats]) -> PackingStats:
    """Sum of several matrices' statistics (shape = (sum of out, 0): a model total, not a matrix)."""
    stats = list(stats)
    if not stats:
        raise InputError("no packing statistics to add up")

    def add(attr: str) -> int:
        return sum(getattr(s, attr) for s in stats)

    def add_cost(scheme: str) -> StorageCost:
        costs = [getattr(s, scheme) for s in stats]
        return StorageCost(*(sum(getattr(cst, f) for cst in costs) for f in ("cells", "weight_bits", "metadata_bits")))

    width = max(len(s.slot_histogram) for s in stats)
    histogram = np.zeros(width, dtype=np.int64)
    for s in stats:
        histogram[: len(s.slot_histogram)] += s.slot_histogram
    return PackingStats(
        shape=(sum(s.shape[0] for s in stats), 0),
        nnz=add("nnz"),
        dense_size=add("dense_size"),
        column_blocks=add("column_blocks"),
        groups=max(s.groups for s in stats),
        stored_row_slots=add("stored_row_slots"),
        padding_cells=add("padding_cells"),
        passes=add("passes"),
        overflow_groups=add("overflow_groups"),
        dropped_nonzeros=add("dropped_nonzeros"),
        routed_values=add("routed_values"),
        switch_toggles=add("switch_toggles"),
        slot_histogram=tuple(int(h) for h in histogram),
        chip=add_cost("chip"),
        dense=add_cost("dense"),
        block_skip=add_cost("block_skip"),
        ideal=add_cost("ideal"),
    )


@dataclass(frozen=True)
class PackedLayout:
    """Where every stored weight sits: input_index[cb, g, slot, c] is the input (column of W) whose weight
    column c of column block cb stores in row slot `slot` of group g; -1 = padding / empty cell.
    slots[cb, g] is the number of row slots the group reserves (S, after any truncation)."""

    input_index: np.ndarray
    slots: np.ndarray

    @property
    def slot_occupancy(self) -> np.ndarray:
        """Stored non-zeros per (column block, group, slot) across the C columns."""
        return np.count_nonzero(self.input_index >= 0, axis=-1)


def pack_layout(mask: np.ndarray, rules: PackingRules | None = None) -> PackedLayout:
    """The explicit compacted layout of a mask (memory ~ 4 bytes per padded weight; for checks, not models)."""
    rules = rules or PackingRules()
    c, n = rules.columns_per_macro, rules.lanes
    padded = _padded(mask, rules)
    column_blocks, groups = padded.shape[0] // c, padded.shape[1] // n
    kept = padded.reshape(column_blocks, c, groups, n)
    slot_of = np.cumsum(kept, axis=-1, dtype=np.int32) - 1  # order-preserving compaction
    if rules.overflow_policy is OverflowPolicy.TRUNCATE:
        kept = kept & (slot_of < rules.slot_bound)
    block, column, group, lane = np.nonzero(kept)
    input_index = np.full((column_blocks, groups, n, c), -1, dtype=np.int32)
    input_index[block, group, slot_of[block, column, group, lane], column] = group * n + lane
    slots = kept.sum(axis=-1).max(axis=1)
    return PackedLayout(input_index, slots)

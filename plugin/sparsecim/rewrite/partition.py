"""Split a rewritten workload over N chips: what one chip maps, and the chip-to-chip traffic it needs.

Two strategies (`Partition`):

* tensor-parallel (Megatron-LM's split, Shoeybi et al. 2019, arXiv:1909.08053): every chip holds 1/N of
  the heads and FFN columns of every layer. Q/K/V, FFN up and gate are split by output columns (rank n),
  the output projection and FFN down by input rows (rank k: a chip holds the rows of its heads / columns),
  attention, norms and rotary by heads (rank h). Two all-reduces of the layer's activations per layer
  (after the output projection and after FFN down: the row-split matmuls leave partial sums). All chips
  work at once, each streaming its own 1/N of the weights over its own off-chip link.
* pipeline (layers split into N contiguous stages): a chip runs its layers and passes the activations to
  the next chip; decode passes the new token back to the first chip. With one batch in flight (assumed:
  micro-batching would stream every stage's weights once per micro-batch) the stages run one after the
  other, so one chip maps the whole model (the work is the same) and the others wait.

Heads stay with their KV head (a KV head's query heads, its K/V rows and the output-projection rows of
those heads live on one chip), so an uneven split (KV heads or FFN columns not divisible by N) leaves
the busiest chip ceil(x / N) of them: each chip maps ceil(rank / N) of an Einsum's split rank with its
cost scaled to the mean share (energy of N chips = the whole work), and `imbalance` keeps busiest /
mean per Einsum kind, ceil(x / N) N / x, so that latency follows the busiest chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from sparsecim.rewrite import Rewritten
from sparsecim.workload.decode import DecodeWorkload
from sparsecim.workload.einsums import Kind, LayerEinsum

COLUMN_SPLIT = (Kind.Q_PROJ, Kind.K_PROJ, Kind.V_PROJ, Kind.FFN_UP, Kind.FFN_GATE)
ROW_SPLIT = (Kind.OUT_PROJ, Kind.FFN_DOWN)
HEAD_SPLIT = (Kind.Q_NORM, Kind.ROTARY, Kind.QK, Kind.QK_SCALE, Kind.SOFTMAX, Kind.AV)
TOKEN_ID_VALUES = 4  # a generated token's id passed back to the first pipeline stage: 32 bits (4 x 8-bit values)


class Partition(StrEnum):
    """How a model is split over chips (the value is the CLI name)."""

    TENSOR = "tensor"
    PIPELINE = "pipeline"


@dataclass(frozen=True)
class Transfer:
    """Chip-to-chip traffic of one phase: `count` messages of `values` values each (an all-reduce over
    all chips, or a send from one chip to the next)."""

    kind: str  # "all-reduce" or "send"
    values: int
    count: int
    what: str
    bits_per_value: int | None = None  # None: the link's partial-sum width (all-reduce) or 8 bit (send)


@dataclass(frozen=True)
class ChipShare:
    """What one chip of an N-chip system maps, and what the system adds around it."""

    rewritten: Rewritten
    chips: int
    partition: Partition
    concurrent: bool  # True: the chips run their shares at once (tensor); False: one stage after another
    imbalance: dict[Kind, float]  # busiest chip's work / mean work, per Einsum kind (1 when even)
    transfers: tuple[Transfer, ...]


def _tokens_per_step(rewritten: Rewritten) -> tuple[int, int]:
    """(tokens per sequence in one pass, passes) of the phase: a prefill is one pass over its tokens,
    decode one pass per generated token."""
    workload = rewritten.workload
    if isinstance(workload, DecodeWorkload):
        return 1, workload.seq_len
    return workload.seq_len, 1


FFN_KINDS = (Kind.FFN_UP, Kind.FFN_GATE, Kind.FFN_DOWN)


def _split(e: LayerEinsum, rank: str, chips: int) -> LayerEinsum:
    """One chip's share of `e`: rank `rank` divided over the chips (rounded up), the cost scaled to 1/N."""
    ranks = dict(e.spec.ranks)
    ranks[rank] = math.ceil(ranks[rank] / chips)
    spec = replace(e.spec, ranks=tuple(ranks.items()))
    per_instance = e.spec.operations if e.exact_operations is None else e.exact_operations
    return replace(e, spec=spec, exact_operations=max(1, round(per_instance / chips)))


def _imbalance(units: int, chips: int) -> float:
    """Busiest chip / mean when `units` indivisible units are spread over `chips` chips."""
    return math.ceil(units / chips) * chips / units


def partition(rewritten: Rewritten, chips: int = 1, strategy: Partition | str = Partition.TENSOR) -> ChipShare:
    """One chip's share of `rewritten` on `chips` chips with `strategy` (see module docstring)."""
    strategy = Partition(strategy)
    workload = rewritten.workload
    if chips == 1:
        return ChipShare(rewritten, 1, strategy, True, {}, ())
    shape = workload.shape
    tokens, passes = _tokens_per_step(rewritten)
    activation = workload.batch * tokens * shape.d_model
    if strategy is Partition.PIPELINE:
        transfers = [Transfer("send", activation, (chips - 1) * passes, "activations to the next stage")]
        if isinstance(workload, DecodeWorkload):
            transfers.append(Transfer("send", workload.batch * TOKEN_ID_VALUES, passes, "new token back to the first stage", 8))
        notes = [*workload.notes, f"pipeline over {chips} chips: {math.ceil(shape.n_layers / chips)} layers per stage, stages one after another"]
        return ChipShare(replace(rewritten, workload=replace(workload, notes=notes)), chips, strategy, False, {}, tuple(transfers))
    out: list[LayerEinsum] = []
    imbalance: dict[Kind, float] = {}
    for e in workload.einsums:
        kind = Kind(e.kind)
        rank = "n" if kind in COLUMN_SPLIT else "k" if kind in ROW_SPLIT else "h" if kind in HEAD_SPLIT else None
        if rank is None or rank not in e.spec.rank_sizes:
            out.append(e)
            continue
        out.append(_split(e, rank, chips))
        imbalance[kind] = _imbalance(shape.d_ff if kind in FFN_KINDS else shape.n_kv_heads, chips)
    notes = [*workload.notes, f"tensor-parallel over {chips} chips: heads and FFN columns split, two all-reduces per layer"]
    share = replace(rewritten, workload=replace(workload, einsums=out, notes=notes))
    reduce = Transfer("all-reduce", activation, 2 * shape.n_layers * passes, "partial sums after the output projection and FFN down")
    return ChipShare(share, chips, strategy, True, imbalance, (reduce,))

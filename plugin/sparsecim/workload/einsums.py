"""Transformer layers as AccelForge Einsums.

Every Einsum is built in a canonical form (generic tensor and rank names) so that Einsums with
the same shape compare equal: the runner maps each distinct `EinsumSpec` once and multiplies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from sparsecim.errors import InputError
from sparsecim.workload.shapes import TransformerShape
from sparsecim.workload.tensor_names import Role


class Kind(StrEnum):
    """The role an Einsum plays in a layer (its value is the name shown in tables and files)."""

    Q_PROJ = "q_proj"
    K_PROJ = "k_proj"
    V_PROJ = "v_proj"
    Q_NORM = "q_norm"
    ROTARY = "rotary"  # rotary position embedding of q and k (element-wise; generation workloads)
    QK = "qk"
    QK_SCALE = "qk_scale"
    SOFTMAX = "softmax"
    AV = "av"
    OUT_PROJ = "out_proj"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"

    @property
    def weight_role(self) -> Role | None:
        """The weight matrix this kind multiplies by (None for attention and softmax)."""
        return Role.of_kind(self.value)


ATTENTION_KINDS = (Kind.Q_NORM, Kind.QK, Kind.QK_SCALE, Kind.SOFTMAX, Kind.AV)
PROJECTION_KINDS = (Kind.Q_PROJ, Kind.K_PROJ, Kind.V_PROJ)

# Canonical forms. Matmuls: X[b,m,k] (activations) x W[n,k] (stationary weights in CIM).
_MATMUL = "Y[b, m, n] = X[b, m, k] * W[n, k]"
# Attention: the K (resp. V) operand plays the stationary "weight" role, as in the chip where
# K/V rows are written into CIM and the queries (resp. probabilities) stream through.
_QK = "S[b, h, m, p] = Q[b, h, m, e] * K[b, h, p, e]"
_SOFTMAX = "A[b, h, m, p] = S[b, h, m, p]"
_AV = "O[b, h, m, f] = A[b, h, m, p] * V[b, h, p, f]"
# Banded attention without K/V reuse: every query's window of keys is written into CIM anew
# (the key operand is gathered per query).
_QK_GATHER = "S[b, h, m, p] = Q[b, h, m, e] * K[b, h, m, p, e]"
_AV_GATHER = "O[b, h, m, f] = A[b, h, m, p] * V[b, h, m, p, f]"

# Shared-QK attention (the LAR engine): the inverse norm of every query (one square-accumulate per
# element; module compute), and every delivered score scaled by the other token's inverse norm
# (one multiply per score; scale compute).
_QNORM = "N[b, h, m] = Q[b, h, m, e]"
_QKSCALE = "T[b, h, m, p] = S[b, h, m, p]"

# The gathered forms' window rank: their stationary operand repeats each key once per window it is in.
_GATHER_FORMS = {"qk_gather": "p", "av_gather": "p"}

MAC_FORMS = ("matmul", "qk", "av", "qk_gather", "av_gather")
"""Forms with a stationary operand: one multiply-accumulate per iteration."""

_FORMS = {
    "matmul": (_MATMUL, "X", "W", "Y"),
    "qnorm": (_QNORM, "Q", None, "N"),
    "qkscale": (_QKSCALE, "S", None, "T"),
    "qk": (_QK, "Q", "K", "S"),
    "softmax": (_SOFTMAX, "S", None, "A"),
    "av": (_AV, "A", "V", "O"),
    "qk_gather": (_QK_GATHER, "Q", "K", "S"),
    "av_gather": (_AV_GATHER, "A", "V", "O"),
}


@dataclass(frozen=True)
class EinsumSpec:
    """One Einsum shape to map. `form` picks the canonical expression; `ranks` are its sizes.

    `weight_from_dram` is True for trained weights (they live off chip and are loaded into the
    CIM arrays) and False for K/V (produced on chip). Activations (and K/V) that cannot fit on chip
    live off chip too: the mapping stage finds them from the arch (`spilled` of `to_accelforge`).

    `input_bits` / `weight_bits` are bits per value *as moved*: a rewrite that shrinks a rank
    but not the traffic behind it (e.g. the butterfly skipper still receives every input of a
    group; a sliding attention window rewrites each resident K row several times) scales the
    bits per value of that tensor so that every transfer is charged. 8 bits otherwise.
    """

    form: Literal["matmul", "qk", "softmax", "av", "qk_gather", "av_gather", "qnorm", "qkscale"]
    ranks: tuple[tuple[str, int], ...]
    weight_from_dram: bool = True
    input_bits: float = 8
    weight_bits: float = 8
    output_bits: float = 8
    routed: bool = False  # weights stored compressed: inputs go through the butterfly zero skipper
    # Bits a tensor really occupies where the mapped shape pads it (heads or keys rounded up so that
    # shapes are shared; costs are scaled back to the exact work): whether it fits on chip is judged on
    # these (`footprint_bits`). Empty: the mapped ranks are the tensors' sizes.
    stored_bits: tuple[tuple[str, int], ...] = ()

    @property
    def rank_sizes(self) -> dict[str, int]:
        return dict(self.ranks)

    @property
    def expression(self) -> str:
        return _FORMS[self.form][0]

    @property
    def operations(self) -> int:
        """MACs (matmul-like forms) or elements (softmax): the product of all rank sizes."""
        return math.prod(size for _, size in self.ranks)

    @property
    def is_mac(self) -> bool:
        """True for the two-operand forms (a multiply-accumulate per iteration)."""
        return _FORMS[self.form][2] is not None

    @property
    def stationary_tensor(self) -> str | None:
        """Name of the tensor held stationary in the compute array (trained weights, K or V), if any."""
        return _FORMS[self.form][2]

    def tensor_bits(self) -> dict[str, int]:
        """Size of every tensor in bits as this Einsum moves it: the product of the sizes of the ranks
        that index it times its bits per value (rounded as AccelForge receives it)."""
        expression, inp, weight, out = _FORMS[self.form]
        bits = {inp: self.input_bits, out: self.output_bits}
        if weight:
            bits[weight] = self.weight_bits
        sizes = self.rank_sizes
        out_sizes = {}
        for tensor, per_value in bits.items():
            ranks = re.search(rf"\b{tensor}\[([^\]]*)\]", expression).group(1)
            indices = [part.split(":")[-1].strip() for part in ranks.split(",")]
            out_sizes[tensor] = math.prod(sizes[index] for index in indices) * _plain(per_value)
        return out_sizes

    def footprint_bits(self) -> dict[str, int]:
        """Storage each tensor needs to be held whole, in bits: `tensor_bits`, except that a gathered
        operand (the no-K/V-reuse forms, which re-write every query's window of keys) holds one key per
        query position, not every window (its window rank is a re-read, not more data); and a padded
        shape's tensors count what they really hold (`stored_bits`)."""
        bits = self.tensor_bits()
        if self.form in _GATHER_FORMS:
            weight = _FORMS[self.form][2]
            bits[weight] //= self.rank_sizes[_GATHER_FORMS[self.form]]
        unknown = {t for t, _ in self.stored_bits} - set(bits)
        if unknown:
            raise ValueError(f"stored_bits names {sorted(unknown)}, not a tensor of {self.form}")
        bits.update(dict(self.stored_bits))
        return bits

    @property
    def onchip_tensors(self) -> tuple[str, ...]:
        """The tensors that live on chip unless they are too large: activations, and K/V (every tensor
        but trained weights)."""
        _, inp, weight, out = _FORMS[self.form]
        held = [inp, out] + ([weight] if weight and not self.weight_from_dram else [])
        return tuple(held)

    def to_accelforge(self, spilled: frozenset[str] | set[str] = frozenset()) -> dict:
        """The workload + renames dictionaries of AccelForge's YAML format for this Einsum alone.

        `spilled`: on-chip tensors (`onchip_tensors`) too large for the chip's activation store; they
        join `offchip` (the producer writes them off chip, the consumer reads them back)."""
        expression, inp, weight, out = _FORMS[self.form]
        unknown = set(spilled) - set(self.onchip_tensors)
        if unknown:
            raise ValueError(f"cannot spill {sorted(unknown)}: not an on-chip tensor of {self.form}")
        bits = {inp: self.input_bits, out: self.output_bits}
        if weight:
            bits[weight] = self.weight_bits
        trained = weight if (weight and self.weight_from_dram) else None
        offchip = sorted(({trained} if trained else set()) | set(spilled))
        renames = [
            {"name": "input", "source": inp, "expected_count": 1},
            {"name": "output", "source": out, "expected_count": 1},
            {"name": "weight", "source": weight or "Nothing", "expected_count": 1 if weight else 0},
            # Tensors that live off chip (the arch's DRAM keeps `offchip`, so moving them is charged):
            # trained weights, and activations or K/V too large for the on-chip store (spilled: written
            # off chip by their producer, read back by this Einsum; or written off chip by this one).
            {"name": "offchip", "source": " | ".join(offchip) if offchip else "Nothing"},
            # The stationary operand is a trained weight (loaded from off chip), not K/V produced on
            # chip: which engine runs the Einsum (whether or not a spilled K/V is also `offchip`).
            {"name": "trained", "source": trained or "Nothing"},
            # Weights stored compressed, whose inputs the butterfly zero skipper routes.
            {"name": "routed", "source": weight if (weight and self.routed) else "Nothing"},
            # Which unit a one-input Einsum belongs on (an arch may ignore these sets).
            {"name": "softmax_form", "source": inp if self.form == "softmax" else "Nothing"},
            {"name": "norm_form", "source": inp if self.form == "qnorm" else "Nothing"},
            {"name": "scale_form", "source": inp if self.form == "qkscale" else "Nothing"},
        ]
        return {
            "workload": {
                "rank_sizes": {r.upper(): size for r, size in self.ranks},
                "bits_per_value": {t: _plain(b) for t, b in bits.items()},
                "einsums": [{"name": "E", "einsum": expression, "renames": {}}],
            },
            "renames": {"einsums": [{"name": "default", "tensor_accesses": renames}]},
        }


def _plain(value: float) -> int:
    """AccelForge needs integer bits per value (fractional ones break its arch expressions):
    round to the nearest bit (relative error <= 0.5 / bits; < 1 % for the scaled traffic here)."""
    return max(1, int(round(float(value))))


@dataclass(frozen=True)
class LayerEinsum:
    """An Einsum instance of the model: which layer and role it plays, and its shape.

    A rewrite may map a slightly larger shape than the work really done (attention windows
    padded at the sequence edges, sparse reduction sizes rounded up to tile-friendly sizes):
    `exact_operations` is the true count and the mapped costs are scaled by
    exact_operations / spec.operations (costs assumed proportional to operations).
    """

    layer: int
    kind: Kind
    spec: EinsumSpec
    count: int = 1  # identical instances it stands for
    exact_operations: int | None = None  # per instance; None: the mapped shape is exact
    tag: str = ""  # e.g. the head group "w=7,sink=1 x3"

    @property
    def name(self) -> str:
        return f"L{self.layer}.{self.kind}"

    @property
    def operations(self) -> int:
        per_instance = self.spec.operations if self.exact_operations is None else self.exact_operations
        return self.count * per_instance

    @property
    def cost_scale(self) -> float:
        """Factor from the mapped shape's cost to this instance's cost."""
        if self.exact_operations is None:
            return 1.0
        return self.exact_operations / self.spec.operations


def matmul(batch: int, tokens: int, d_in: int, d_out: int) -> EinsumSpec:
    return EinsumSpec("matmul", (("b", batch), ("m", tokens), ("n", d_out), ("k", d_in)))


def attention_scores(batch: int, heads: int, queries: int, keys: int, head_dim: int) -> EinsumSpec:
    return EinsumSpec("qk", (("b", batch), ("h", heads), ("m", queries), ("p", keys), ("e", head_dim)), weight_from_dram=False)


def attention_softmax(batch: int, heads: int, queries: int, keys: int) -> EinsumSpec:
    return EinsumSpec("softmax", (("b", batch), ("h", heads), ("m", queries), ("p", keys)), weight_from_dram=False)


def attention_values(batch: int, heads: int, queries: int, keys: int, head_dim: int) -> EinsumSpec:
    return EinsumSpec("av", (("b", batch), ("h", heads), ("m", queries), ("p", keys), ("f", head_dim)), weight_from_dram=False)


def layer_einsums(shape: TransformerShape, layer: int, seq_len: int, batch: int = 1) -> list[LayerEinsum]:
    """All Einsums of one (dense) transformer layer, in execution order.

    Dense attention computes every (query, key) pair, also for causal models: a dense
    accelerator without span support computes the masked half too (the LAR engine removes it).
    """
    d, dk = shape.d_model, shape.n_kv_heads * shape.head_dim
    out = [
        LayerEinsum(layer, Kind.Q_PROJ, matmul(batch, seq_len, d, shape.d_attn)),
        LayerEinsum(layer, Kind.K_PROJ, matmul(batch, seq_len, d, dk)),
        LayerEinsum(layer, Kind.V_PROJ, matmul(batch, seq_len, d, dk)),
        LayerEinsum(layer, Kind.QK, attention_scores(batch, shape.n_heads, seq_len, seq_len, shape.head_dim)),
        LayerEinsum(layer, Kind.SOFTMAX, attention_softmax(batch, shape.n_heads, seq_len, seq_len)),
        LayerEinsum(layer, Kind.AV, attention_values(batch, shape.n_heads, seq_len, seq_len, shape.head_dim)),
        LayerEinsum(layer, Kind.OUT_PROJ, matmul(batch, seq_len, shape.d_attn, d)),
        LayerEinsum(layer, Kind.FFN_UP, matmul(batch, seq_len, d, shape.d_ff)),
    ]
    if shape.gated_ffn:
        out.append(LayerEinsum(layer, Kind.FFN_GATE, matmul(batch, seq_len, d, shape.d_ff)))
    out.append(LayerEinsum(layer, Kind.FFN_DOWN, matmul(batch, seq_len, shape.d_ff, d)))
    return out


@dataclass
class ModelWorkload:
    """The whole model as a list of Einsum instances plus what it was built from."""

    shape: TransformerShape
    seq_len: int
    batch: int
    einsums: list[LayerEinsum] = field(default_factory=list)
    dense_macs: int = 0  # MACs the dense model needs: the "dense-equivalent" work for TOPS (see build_workload)
    notes: list[str] = field(default_factory=list)

    def unique_specs(self) -> dict[EinsumSpec, int]:
        """Distinct Einsum shapes and how many instances each stands for (map each once)."""
        counts: dict[EinsumSpec, int] = {}
        for e in self.einsums:
            counts[e.spec] = counts.get(e.spec, 0) + e.count
        return counts

    @property
    def macs(self) -> int:
        return sum(e.operations for e in self.einsums if e.spec.is_mac)


def build_workload(shape: TransformerShape, seq_len: int, batch: int = 1) -> ModelWorkload:
    """Every layer's Einsums for `seq_len` tokens (prefill / encoder pass) and `batch` sequences."""
    if not isinstance(seq_len, int) or seq_len <= 0:
        raise InputError(f"sequence length must be a positive integer, got {seq_len!r}")
    if not isinstance(batch, int) or batch <= 0:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    if shape.max_seq_len and seq_len > shape.max_seq_len:
        raise InputError(f"sequence length {seq_len} exceeds {shape.name}'s maximum of {shape.max_seq_len}")
    einsums = [e for layer in range(shape.n_layers) for e in layer_einsums(shape, layer, seq_len, batch)]
    workload = ModelWorkload(shape, seq_len, batch, einsums)
    # Dense-equivalent work: the MACs the model needs, so a causal model's attention counts the causal
    # pairs L(L+1)/2, not the L*L a dense accelerator computes (and masks) in the Einsums above.
    masked = shape.n_layers * batch * 2 * shape.n_heads * (seq_len * (seq_len - 1) // 2) * shape.head_dim if shape.causal else 0
    workload.dense_macs = workload.macs - masked
    return workload


def analytic_macs(shape: TransformerShape, seq_len: int, batch: int = 1) -> int:
    """Closed-form MAC count of the dense model (independent of the Einsum construction above)."""
    L, d, dff = seq_len, shape.d_model, shape.d_ff
    dkv = shape.n_kv_heads * shape.head_dim
    proj = L * d * shape.d_attn * 2 + L * d * dkv * 2  # Q and output projection, K and V
    attn = 2 * shape.n_heads * L * L * shape.head_dim  # scores and P.V
    ffn = L * d * dff * (3 if shape.gated_ffn else 2)
    return batch * shape.n_layers * (proj + attn + ffn)

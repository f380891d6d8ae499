"""Generation workloads: the decode phase, every generated token as matrix-vector work over its KV cache.

A generation request prefills a prompt of P tokens (the ordinary workload, `einsums.build_workload`,
plus rotary embeddings, `with_rotary`) and then runs G decode steps for B sequences at once. Step
s = 0 .. G-1 feeds the token at position t = P + s and attends to keys 0 .. t, t + 1 of them (llama.cpp's
`tg` convention: G steps per sequence, tokens/s = B G / decode time). Per layer and step:

* every weight matmul as a matrix-vector product X[b, 1, k] x W[n, k] (one LayerEinsum with count G:
  the same shape every step, weights reloaded every step);
* rotary position embeddings of q and k (RoPE models, `TransformerShape.rotary`): (H + H_kv) x head_dim
  elements per token, on the post-processing unit's element path (the one-input `softmax` form; assumed:
  the chip's post-processing has a multiply-and-add path, the arch routes element-wise work to the
  non-linear unit, whose per-element cost is above a multiply-add pair: an over-estimate of < 0.1 % of
  the decode energy);
* attention of the step's query over the cache: Q.K^T, softmax and P.V over the kept keys.

Grouped-query attention maps every KV head with its group of H / H_kv query heads as that head's
queries, Q[b, h_kv, m = H/H_kv, e] x K[b, h_kv, p, e]: a KV head's rows are written into the KV CIM once
per step and serve the whole group (as GQA decode kernels do); MHA has m = 1.

Integration over positions (mapping stays fast): the key count of a step is rounded up to a grid
(`key_bucket`: powers of two, at least MIN_KEY_TILE). The steps whose counts round alike form a bucket;
its Einsum shape (one step) is mapped once and its LayerEinsum carries the exact work summed over the
bucket's steps (`exact_operations`, count 1), so the mapped cost is scaled by exact / mapped work
(`rewrite.lar`'s assumption: at a fixed shape, costs are proportional to the work). Operation counts
are exact; energy and latency are exact as far as a bucket's cost per key is constant (the per-query
costs, reading the query and writing the output, are scaled with the keys too; docs/decode.md).

Windows (span-limited heads): a head with window w and s sinks keeps the keys j <= t with t - j <= w or
j < s (`attention.profile.HeadSpan`, causal): min(t + 1, w + 1) + min(s, max(0, t - w)) keys, so its
work and its KV cache stop growing once t > w. The KV cache holds, per layer and KV head, the K and V
rows of the kept keys (8 bit each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sparsecim.errors import InputError
from sparsecim.workload.einsums import EinsumSpec, Kind, LayerEinsum, ModelWorkload, build_workload, matmul
from sparsecim.workload.shapes import TransformerShape

class Phase(StrEnum):
    """What a request evaluates: a prefill / encoder pass, or generation (prefill, then decode steps)."""

    PREFILL = "prefill"
    DECODE = "decode"


# Smallest mapped key rank (as rewrite.lar.MIN_KEY_TILE: with 1-4 row tiles the mapper traded energy for
# latency); a step with fewer keys runs on this tile with the extra keys gated.
MIN_KEY_TILE = 8
KV_BITS = 8  # bits per cached K or V value (the chip's INT8)


def key_bucket(keys: int) -> int:
    """The mapped key rank of a step with `keys` keys: the next power of two, at least MIN_KEY_TILE."""
    if keys < 1:
        raise ValueError(f"a step attends at least one key, got {keys}")
    return max(MIN_KEY_TILE, 1 << (keys - 1).bit_length())


@dataclass(frozen=True)
class KeyWindow:
    """The keys that `kv_heads` KV heads of a layer keep: every key (`window` None, a global head) or a
    causal window of `window` earlier keys plus `n_sink` sinks (the first positions)."""

    kv_heads: int
    window: int | None = None
    n_sink: int = 0

    def keys_at(self, position: int) -> int:
        """Keys the query at `position` attends (itself included)."""
        if self.window is None:
            return position + 1
        return min(position + 1, self.window + 1) + min(self.n_sink, max(0, position - self.window))

    @property
    def label(self) -> str:
        if self.window is None:
            return "global"
        return f"w{self.window}" + (f"+{self.n_sink}s" if self.n_sink else "")


def global_windows(shape: TransformerShape) -> tuple[KeyWindow, ...]:
    """Every KV head attends every key (dense attention)."""
    return (KeyWindow(shape.n_kv_heads),)


@dataclass
class DecodeWorkload(ModelWorkload):
    """A ModelWorkload of G = `seq_len` decode steps per sequence after a `prompt`-token prefill.

    `windows` holds, per layer, the KeyWindows of its KV heads (all global unless a span rewrite set
    them); `shared_qk` is True when the keys are the normalised queries (no K projection)."""

    prompt: int = 0
    windows: tuple[tuple[KeyWindow, ...], ...] = ()
    shared_qk: bool = False

    @property
    def positions(self) -> range:
        """Positions of the tokens fed at the decode steps."""
        return range(self.prompt, self.prompt + self.seq_len)

    def cache_values(self, position: int) -> int:
        """K and V values the step at `position` reads from the cache (the keys before it that its heads
        keep; the step's own row is produced on chip), all layers and sequences."""
        keys = sum(w.kv_heads * (w.keys_at(position) - 1) for layer in self.windows for w in layer)
        return 2 * keys * self.shape.head_dim * self.batch

    @property
    def row_values(self) -> int:
        """K and V values every step adds to the cache (the new token's rows), all layers and sequences."""
        return 2 * self.shape.n_kv_heads * self.shape.head_dim * self.batch * self.shape.n_layers


def rotary(layer: int, batch: int, tokens: int, heads: int, head_dim: int, count: int = 1) -> LayerEinsum:
    """Rotary embedding of `heads` heads (q and k heads together) of `tokens` tokens: one element-wise
    Einsum on the post-processing unit (see module docstring)."""
    spec = EinsumSpec("softmax", (("b", batch), ("h", heads), ("m", tokens), ("p", head_dim)), weight_from_dram=False)
    return LayerEinsum(layer, Kind.ROTARY, spec, count=count)


def with_rotary(workload: ModelWorkload) -> ModelWorkload:
    """A prefill workload with the rotary embeddings of q and k after each layer's projections (RoPE
    models; others unchanged)."""
    shape = workload.shape
    if not shape.rotary:
        return workload
    out: list[LayerEinsum] = []
    for e in workload.einsums:
        out.append(e)
        if e.kind == Kind.V_PROJ:
            out.append(rotary(e.layer, workload.batch, workload.seq_len, shape.n_heads + shape.n_kv_heads, shape.head_dim))
    rewritten = ModelWorkload(shape, workload.seq_len, workload.batch, out, workload.dense_macs, list(workload.notes))
    rewritten.notes.append("rotary position embeddings of q and k as element-wise work")
    return rewritten


@dataclass
class _Bucket:
    heads: int = 0  # KV heads of the mapped shape (the most that fall into it at one step)
    key_steps: int = 0  # keys x KV heads, summed over the bucket's steps
    labels: set = field(default_factory=set)


def decode_attention(
    layer: int, shape: TransformerShape, batch: int, positions: range, windows: tuple[KeyWindow, ...], shared_qk: bool = False
) -> list[LayerEinsum]:
    """One layer's attention over all decode steps: per key bucket, Q.K^T (shared-QK: plus the score
    scaling), softmax and P.V, each carrying the bucket's exact work; shared-QK adds the query norms."""
    group = shape.n_heads // shape.n_kv_heads
    hd = shape.head_dim
    buckets: dict[int, _Bucket] = {}
    for t in positions:
        at_step: dict[int, int] = {}
        for w in windows:
            keys = w.keys_at(t)
            bucket = buckets.setdefault(key_bucket(keys), _Bucket())
            bucket.key_steps += w.kv_heads * keys
            bucket.labels.add(w.label)
            at_step[key_bucket(keys)] = at_step.get(key_bucket(keys), 0) + w.kv_heads
        for mapped, heads in at_step.items():
            buckets[mapped].heads = max(buckets[mapped].heads, heads)
    out: list[LayerEinsum] = []
    if shared_qk:
        norm = EinsumSpec("qnorm", (("b", batch), ("h", shape.n_heads), ("m", 1), ("e", hd)), weight_from_dram=False)
        out.append(LayerEinsum(layer, Kind.Q_NORM, norm, count=len(positions)))
    for mapped, bucket in sorted(buckets.items()):
        # KV heads side by side, rounded up to a power of two so that layers and buckets share shapes
        # (the cost is scaled to the exact work).
        heads = 1 << (bucket.heads - 1).bit_length()
        # The KV cache is not an activation of the step: where it lives (KV banks, off chip) and its off-chip
        # traffic are studies.generation's, so it never counts against the activation memory here
        # (stored_bits 0: the mapping stage does not spill it a second time).
        qk = EinsumSpec("qk", (("b", batch), ("h", heads), ("m", group), ("p", mapped), ("e", hd)), weight_from_dram=False, stored_bits=(("K", 0),))
        av = EinsumSpec("av", (("b", batch), ("h", heads), ("m", group), ("p", mapped), ("f", hd)), weight_from_dram=False, stored_bits=(("V", 0),))
        scores = (("b", batch), ("h", heads), ("m", group), ("p", mapped))
        pairs = batch * group * bucket.key_steps  # (query, key) pairs, all steps of the bucket
        tag = f"keys<={mapped} ({','.join(sorted(bucket.labels))})"
        out.append(LayerEinsum(layer, Kind.QK, qk, exact_operations=pairs * hd, tag=tag))
        if shared_qk:
            out.append(LayerEinsum(layer, Kind.QK_SCALE, EinsumSpec("qkscale", scores, weight_from_dram=False), exact_operations=pairs, tag=tag))
        out.append(LayerEinsum(layer, Kind.SOFTMAX, EinsumSpec("softmax", scores, weight_from_dram=False), exact_operations=pairs, tag=tag))
        out.append(LayerEinsum(layer, Kind.AV, av, exact_operations=pairs * hd, tag=tag))
    return out


def decode_layer(
    shape: TransformerShape, layer: int, batch: int, positions: range, windows: tuple[KeyWindow, ...], shared_qk: bool = False
) -> list[LayerEinsum]:
    """All Einsums of one layer over the decode steps, in execution order. Shared-QK attention (keys are
    the normalised queries) has no K projection and rotates only the queries."""
    d, dkv, steps = shape.d_model, shape.n_kv_heads * shape.head_dim, len(positions)

    def weights(kind: Kind, d_in: int, d_out: int) -> LayerEinsum:
        return LayerEinsum(layer, kind, matmul(batch, 1, d_in, d_out), count=steps)

    out = [weights(Kind.Q_PROJ, d, shape.d_attn)]
    if not shared_qk:
        out.append(weights(Kind.K_PROJ, d, dkv))
    out.append(weights(Kind.V_PROJ, d, dkv))
    if shape.rotary:
        out.append(rotary(layer, batch, 1, shape.n_heads + (0 if shared_qk else shape.n_kv_heads), shape.head_dim, count=steps))
    out += decode_attention(layer, shape, batch, positions, windows, shared_qk)
    out += [weights(Kind.OUT_PROJ, shape.d_attn, d), weights(Kind.FFN_UP, d, shape.d_ff)]
    if shape.gated_ffn:
        out.append(weights(Kind.FFN_GATE, d, shape.d_ff))
    out.append(weights(Kind.FFN_DOWN, shape.d_ff, d))
    return out


def weight_count(shape: TransformerShape) -> int:
    """Weights of the transformer layers (Q, K, V, output, FFN up/gate/down of every layer): the matrices
    the chip streams; embeddings, final norm and LM head are not modelled."""
    d, dkv = shape.d_model, shape.n_kv_heads * shape.head_dim
    attention = 2 * d * shape.d_attn + 2 * d * dkv
    ffn = (3 if shape.gated_ffn else 2) * d * shape.d_ff
    return shape.n_layers * (attention + ffn)


def check_generation(shape: TransformerShape, prompt: int, generate: int, batch: int) -> None:
    """InputError unless the model is a decoder and prompt + generated tokens fit its context."""
    if not shape.causal:
        raise InputError(f"{shape.name} is not a decoder (bidirectional attention): generation needs a causal model such as gpt2 or llama-2-7b")
    for name, value, low in (("prompt", prompt, 1), ("generated tokens", generate, 1), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    if shape.max_seq_len and prompt + generate > shape.max_seq_len:
        raise InputError(f"prompt {prompt} + {generate} generated tokens exceed {shape.name}'s context of {shape.max_seq_len}")


def build_decode(
    shape: TransformerShape,
    prompt: int,
    generate: int,
    batch: int = 1,
    windows: tuple[tuple[KeyWindow, ...], ...] | None = None,
    shared_qk: bool = False,
) -> DecodeWorkload:
    """The decode phase: `generate` steps after a `prompt`-token prefill, `batch` sequences; dense
    attention unless per-layer `windows` are given."""
    check_generation(shape, prompt, generate, batch)
    windows = windows or tuple(global_windows(shape) for _ in range(shape.n_layers))
    if len(windows) != shape.n_layers:
        raise InputError(f"windows for {len(windows)} layers, {shape.name} has {shape.n_layers}")
    positions = range(prompt, prompt + generate)
    einsums = [e for layer in range(shape.n_layers) for e in decode_layer(shape, layer, batch, positions, windows[layer], shared_qk)]
    workload = DecodeWorkload(shape, generate, batch, einsums, prompt=prompt, windows=tuple(windows), shared_qk=shared_qk)
    workload.dense_macs = workload.macs  # decode computes only the causal keys: nothing masked
    workload.notes.append(f"decode: {generate} steps after a {prompt}-token prompt, batch {batch}; key counts bucketed to powers of two, costs scaled to the exact keys")
    return workload


def prefill_with_rotary(shape: TransformerShape, prompt: int, batch: int = 1) -> ModelWorkload:
    """The prefill of a generation request: the ordinary workload over the prompt, with rotary embeddings."""
    return with_rotary(build_workload(shape, prompt, batch))

"""A GPU as a roofline reference for generation: its datasheet peaks, nothing measured.

A ROOFLINE BOUND, not a measurement: every pass takes max(operations / peak INT8 throughput, bytes /
memory bandwidth) with no kernel, launch, framework or synchronisation overhead, and draws the board's
maximum power (TDP) for that time. So its tokens/s is an upper bound on what the GPU can do, and its
J/token is the board power over that bound (real runs take longer at a lower power; their energy per
token is usually higher). Ratios against it are therefore conservative for the accelerator's speed.

The workload is the one the chip model runs: the transformer layers' weights (no embeddings, LM head
or norms), INT8 weights and KV cache, dense causal attention (no spans), `batch` sequences per pass.
Dense INT8 reads every weight once per pass; the 2:4-sparse variant (Ampere's structured sparsity,
twice the tensor peak) reads half the weights plus a 2-bit position per kept weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparsecim.workload.decode import KV_BITS, weight_count
from sparsecim.workload.shapes import TransformerShape


@dataclass(frozen=True)
class GpuDatasheet:
    name: str
    int8_dense_ops_per_s: float
    int8_sparse_ops_per_s: float
    memory_bytes_per_s: float
    board_power_w: float
    source: str


A100_SXM_80GB = GpuDatasheet(
    name="NVIDIA A100 80GB SXM",
    int8_dense_ops_per_s=624e12,  # INT8 Tensor Core 624 TOPS
    int8_sparse_ops_per_s=1248e12,  # 1248 TOPS with structured (2:4) sparsity
    memory_bytes_per_s=2039e9,  # HBM2e, 2,039 GB/s (80GB SXM)
    board_power_w=400.0,  # max TDP 400 W (SXM)
    source="NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100): INT8 Tensor Core 624 TOPS "
    "(1248 TOPS sparse), A100 80GB SXM 2,039 GB/s HBM2e, max TDP 400 W",
)

SPARSE_BYTES_PER_WEIGHT = 0.5 * (8 + 2) / 8  # 2:4: half the weights, 8 bits each plus a 2-bit index


@dataclass(frozen=True)
class RooflinePhase:
    """One phase on the GPU's roofline: `tokens` handled in `latency_s` at the board's power."""

    tokens: int
    latency_s: float
    energy_j: float
    memory_bound_s: float  # the part of latency_s spent in memory-bound passes

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.latency_s

    @property
    def j_per_token(self) -> float:
        return self.energy_j / self.tokens


@dataclass(frozen=True)
class RooflineGeneration:
    gpu: GpuDatasheet
    sparse: bool
    prefill: RooflinePhase
    decode: RooflinePhase

    @property
    def label(self) -> str:
        return f"{self.gpu.name} roofline bound, INT8 {'2:4 sparse' if self.sparse else 'dense'} (datasheet peaks at TDP; not a measurement)"


def _pass(gpu: GpuDatasheet, ops: float, bytes_moved: float, sparse: bool) -> tuple[float, bool]:
    compute = ops / (gpu.int8_sparse_ops_per_s if sparse else gpu.int8_dense_ops_per_s)
    memory = bytes_moved / gpu.memory_bytes_per_s
    return max(compute, memory), memory >= compute


def roofline_generation(shape: TransformerShape, prompt: int, generate: int, batch: int = 1,
                        gpu: GpuDatasheet = A100_SXM_80GB, sparse: bool = False) -> RooflineGeneration:
    """Prefill of `prompt` tokens and `generate` decode steps of `batch` sequences on the GPU's roofline."""
    weights = weight_count(shape)
    weight_bytes = weights * (SPARSE_BYTES_PER_WEIGHT if sparse else 1.0)
    kv_per_token = 2 * shape.n_layers * shape.n_kv_heads * shape.head_dim * KV_BITS / 8  # bytes, one sequence
    attention_per_key = 2 * shape.n_layers * shape.n_heads * shape.head_dim  # MACs per (query, key) pair

    # Prefill: every weight once for the whole prompt; causal attention; the prompt's K/V written.
    pairs = prompt * (prompt + 1) // 2
    ops = 2 * batch * (prompt * weights + attention_per_key * pairs)
    latency, memory_bound = _pass(gpu, ops, weight_bytes + batch * prompt * kv_per_token, sparse)
    prefill = RooflinePhase(batch * prompt, latency, latency * gpu.board_power_w, latency if memory_bound else 0.0)

    total = bound = 0.0
    for position in range(prompt, prompt + generate):
        ops = 2 * batch * (weights + attention_per_key * (position + 1))
        step, memory_bound = _pass(gpu, ops, weight_bytes + batch * (position + 1) * kv_per_token, sparse)
        total += step
        bound += step if memory_bound else 0.0
    decode = RooflinePhase(batch * generate, total, total * gpu.board_power_w, bound)
    return RooflineGeneration(gpu, sparse, prefill, decode)

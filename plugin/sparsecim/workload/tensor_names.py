"""The one table of checkpoint tensor names: which transformer layer and which weight role a tensor is.

Every stage that reads a checkpoint asks here: the shape reader (`workload.checkpoint`), the weight
loader and pruning (`sparsity.weights`), mask files and sparsity profiles. Roles are `Role` members;
the Einsum kinds of `workload.einsums` map onto them one to one (`Role.of_kind`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A per-layer weight matrix, in the order a layer executes them (`QKV` marks a fused q|k|v tensor)."""

    Q = "q"
    K = "k"
    V = "v"
    QKV = "qkv"
    O = "o"  # noqa: E741 - the output projection
    FFN_GATE = "ffn_gate"
    FFN_UP = "ffn_up"
    FFN_DOWN = "ffn_down"

    @property
    def kind(self) -> str:
        """The Einsum kind that multiplies by this matrix (`workload.einsums.Kind` value)."""
        return _KIND_OF_ROLE[self]

    @classmethod
    def of_kind(cls, kind: str) -> "Role | None":
        """The weight role of an Einsum kind, or None for weight-less kinds (attention, softmax)."""
        return _ROLE_OF_KIND.get(str(kind))


_KIND_OF_ROLE = {
    Role.Q: "q_proj",
    Role.K: "k_proj",
    Role.V: "v_proj",
    Role.QKV: "qkv_proj",
    Role.O: "out_proj",
    Role.FFN_GATE: "ffn_gate",
    Role.FFN_UP: "ffn_up",
    Role.FFN_DOWN: "ffn_down",
}
_ROLE_OF_KIND = {kind: role for role, kind in _KIND_OF_ROLE.items() if role is not Role.QKV}

LAYER_ROLES: tuple[Role, ...] = (Role.Q, Role.K, Role.V, Role.O, Role.FFN_GATE, Role.FFN_UP, Role.FFN_DOWN)
"""The split roles a layer can have (a fused QKV tensor is split into Q, K and V)."""


@dataclass(frozen=True)
class TensorRole:
    """Where a tensor sits: layer index, role, the family's name, and whether the file stores it
    [in, out] (GPT-2 Conv1D) instead of the [out, in] convention of everything else."""

    layer: int
    role: Role
    family: str
    stored_in_out: bool = False

    @property
    def decoder(self) -> bool:
        """True for decoder families (causal self-attention)."""
        return self.family in DECODER_FAMILIES


DECODER_FAMILIES = ("gpt2", "llama", "gguf")

# (family, pattern, role); group 1 is the layer index. Searched, so any prefix (bert., model., transformer.) works.
_TABLE: tuple[tuple[str, str, Role], ...] = (
    # BERT / RoBERTa / MiniLM
    ("bert", r"(?:^|\.)layer\.(\d+)\.attention\.self\.query\.weight$", Role.Q),
    ("bert", r"(?:^|\.)layer\.(\d+)\.attention\.self\.key\.weight$", Role.K),
    ("bert", r"(?:^|\.)layer\.(\d+)\.attention\.self\.value\.weight$", Role.V),
    ("bert", r"(?:^|\.)layer\.(\d+)\.attention\.output\.dense\.weight$", Role.O),
    ("bert", r"(?:^|\.)layer\.(\d+)\.intermediate\.dense\.weight$", Role.FFN_UP),
    ("bert", r"(?:^|\.)layer\.(\d+)\.output\.dense\.weight$", Role.FFN_DOWN),
    # DistilBERT
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.attention\.q_lin\.weight$", Role.Q),
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.attention\.k_lin\.weight$", Role.K),
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.attention\.v_lin\.weight$", Role.V),
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.attention\.out_lin\.weight$", Role.O),
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.ffn\.lin1\.weight$", Role.FFN_UP),
    ("distilbert", r"(?:^|\.)layer\.(\d+)\.ffn\.lin2\.weight$", Role.FFN_DOWN),
    # GPT-2 (HF Conv1D, stored [in, out]; c_attn is fused q|k|v along the output dimension)
    ("gpt2", r"(?:^|\.)h\.(\d+)\.attn\.c_attn\.weight$", Role.QKV),
    ("gpt2", r"(?:^|\.)h\.(\d+)\.attn\.c_proj\.weight$", Role.O),
    ("gpt2", r"(?:^|\.)h\.(\d+)\.mlp\.c_fc\.weight$", Role.FFN_UP),
    ("gpt2", r"(?:^|\.)h\.(\d+)\.mlp\.c_proj\.weight$", Role.FFN_DOWN),
    # Llama / Mistral / Qwen / SmolLM (HF)
    ("llama", r"(?:^|\.)layers\.(\d+)\.self_attn\.q_proj\.weight$", Role.Q),
    ("llama", r"(?:^|\.)layers\.(\d+)\.self_attn\.k_proj\.weight$", Role.K),
    ("llama", r"(?:^|\.)layers\.(\d+)\.self_attn\.v_proj\.weight$", Role.V),
    ("llama", r"(?:^|\.)layers\.(\d+)\.self_attn\.o_proj\.weight$", Role.O),
    ("llama", r"(?:^|\.)layers\.(\d+)\.mlp\.gate_proj\.weight$", Role.FFN_GATE),
    ("llama", r"(?:^|\.)layers\.(\d+)\.mlp\.up_proj\.weight$", Role.FFN_UP),
    ("llama", r"(?:^|\.)layers\.(\d+)\.mlp\.down_proj\.weight$", Role.FFN_DOWN),
    # GGUF (llama.cpp names, all families; shapes already [out, in] after reversing ggml's order)
    ("gguf", r"^blk\.(\d+)\.attn_q\.weight$", Role.Q),
    ("gguf", r"^blk\.(\d+)\.attn_k\.weight$", Role.K),
    ("gguf", r"^blk\.(\d+)\.attn_v\.weight$", Role.V),
    ("gguf", r"^blk\.(\d+)\.attn_qkv\.weight$", Role.QKV),
    ("gguf", r"^blk\.(\d+)\.attn_output\.weight$", Role.O),
    ("gguf", r"^blk\.(\d+)\.ffn_gate\.weight$", Role.FFN_GATE),
    ("gguf", r"^blk\.(\d+)\.ffn_up\.weight$", Role.FFN_UP),
    ("gguf", r"^blk\.(\d+)\.ffn_down\.weight$", Role.FFN_DOWN),
)
_PATTERNS = tuple((family, re.compile(pattern), role) for family, pattern, role in _TABLE)


def classify_tensor(name: str) -> TensorRole | None:
    """Layer and role of a tensor name (BERT, DistilBERT, GPT-2, Llama, GGUF), or None if it is not
    a per-layer weight matrix (embeddings, norms, heads)."""
    for family, pattern, role in _PATTERNS:
        found = pattern.search(name)
        if found:
            return TensorRole(int(found.group(1)), role, family, stored_in_out=family == "gpt2")
    return None


def is_conv1d_name(name: str) -> bool:
    """True for GPT-2 Conv1D weights, which files store as [in, out]."""
    role = classify_tensor(name)
    return role is not None and role.stored_in_out

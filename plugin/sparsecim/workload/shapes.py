"""Transformer shapes: the named presets and the typed object every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sparsecim.errors import InputError


@dataclass(frozen=True)
class TransformerShape:
    """The dimensions of a transformer that decide its Einsums (per layer, all layers alike).

    `n_kv_heads` < `n_heads` is grouped-query attention (K/V projections are smaller; the
    score and P.V Einsums still run over every query head). `gated_ffn` adds the Llama-style
    gate projection. `causal` marks decoders (masked self-attention). `rotary` marks rotary
    position embeddings (RoPE) applied to q and k, element-wise work per token.
    """

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    head_dim: int
    d_ff: int
    n_kv_heads: int | None = None
    gated_ffn: bool = False
    causal: bool = False
    max_seq_len: int | None = None
    rotary: bool = False

    def __post_init__(self) -> None:
        for field in ("n_layers", "d_model", "n_heads", "head_dim", "d_ff"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"model {self.name!r}: {field} must be a positive integer, got {value!r}")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads:
            raise InputError(
                f"model {self.name!r}: n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})"
            )

    @property
    def d_attn(self) -> int:
        """Width of the concatenated heads (n_heads * head_dim)."""
        return self.n_heads * self.head_dim

    def with_layers(self, n_layers: int) -> "TransformerShape":
        return replace(self, n_layers=n_layers)


# Published configurations (HuggingFace config.json of each model / the papers that define them).
PRESETS: dict[str, TransformerShape] = {
    s.name: s
    for s in [
        TransformerShape("bert-base", 12, 768, 12, 64, 3072, max_seq_len=512),
        TransformerShape("bert-large", 24, 1024, 16, 64, 4096, max_seq_len=512),
        # ViT-B/16 at 224x224: 196 patches + [CLS] = 197 tokens.
        TransformerShape("vit-b-16", 12, 768, 12, 64, 3072, max_seq_len=197),
        TransformerShape("gpt2", 12, 768, 12, 64, 3072, causal=True, max_seq_len=1024),
        TransformerShape("llama-2-7b", 32, 4096, 32, 128, 11008, gated_ffn=True, causal=True, max_seq_len=4096, rotary=True),
        TransformerShape("smollm2-135m", 30, 576, 9, 64, 1536, n_kv_heads=3, gated_ffn=True, causal=True, max_seq_len=8192, rotary=True),
        TransformerShape("all-minilm-l6-v2", 6, 384, 12, 32, 1536, max_seq_len=512),
    ]
}

ALIASES = {
    "bert": "bert-base",
    "vit-b/16": "vit-b-16",
    "vit-b16": "vit-b-16",
    "gpt-2": "gpt2",
    "llama2-7b": "llama-2-7b",
    "smollm2": "smollm2-135m",
    "minilm": "all-minilm-l6-v2",
    "all-minilm-l6": "all-minilm-l6-v2",
}


def preset(name: str) -> TransformerShape:
    """Look a preset up by name (case-insensitive, a few aliases)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise InputError(f"unknown model {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[key]

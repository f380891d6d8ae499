"""Numpy forward pass of a BERT encoder (e.g. all-MiniLM-L6-v2) that returns its attention maps.

Follows the HuggingFace ``BertModel`` computation (post-LayerNorm BERT, Devlin et al. 2019):
embeddings (word + position + token type 0) -> LayerNorm; per layer: Q/K/V projections, per-head
softmax(Q K^T / sqrt(d_head) + mask) V, output dense + residual + LayerNorm, GELU FFN + residual +
LayerNorm. Dropout is off (inference). Weights come from a safetensors file; the head count from the
``config.json`` beside it (it cannot be read off the weight shapes). Batched over sequences in numpy,
float32 throughout; loops run only over layers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from sparsecim.errors import InputError, one_line
from sparsecim.workload.checkpoint import model_card_title, read_config

_LAYER_PREFIX = "encoder.layer."
# Large negative additive mask for padded keys: exp() underflows to exactly 0 in float32
# (same role as HuggingFace's finfo(dtype).min mask).
_MASK_NEG = np.float32(-1e9)


@dataclass(frozen=True)
class BertLayer:
    """Weights of one encoder layer; matrices are stored [in, out] (transposed from torch's [out, in])."""

    q_w: np.ndarray
    q_b: np.ndarray
    k_w: np.ndarray
    k_b: np.ndarray
    v_w: np.ndarray
    v_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_ln_g: np.ndarray
    attn_ln_b: np.ndarray
    ffn_in_w: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    ffn_ln_g: np.ndarray
    ffn_ln_b: np.ndarray


@dataclass(frozen=True)
class BertEncoder:
    """A loaded BERT encoder: embedding tables, layers and shape parameters."""

    name: str
    word_emb: np.ndarray
    pos_emb: np.ndarray
    type_emb: np.ndarray
    emb_ln_g: np.ndarray
    emb_ln_b: np.ndarray
    layers: tuple[BertLayer, ...]
    n_heads: int
    layer_norm_eps: float = 1e-12

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden(self) -> int:
        return self.word_emb.shape[1]

    @property
    def max_positions(self) -> int:
        return self.pos_emb.shape[0]


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and attention mask, both [batch, seq_len]; mask is 1 for real tokens, 0 for padding."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    @property
    def seq_len(self) -> int:
        return self.input_ids.shape[1]


@dataclass(frozen=True)
class EncoderOutput:
    """Final hidden states [batch, seq, hidden] and attention probabilities [batch, layers, heads, seq, seq]."""

    hidden: np.ndarray
    attention: np.ndarray


def load_bert(model_file: str, n_heads: int | None = None, name: str | None = None) -> BertEncoder:
    """Load a BERT encoder from a safetensors file; n_heads defaults to config.json's num_attention_heads.

    name defaults to the model card's title (first "# " line of README.md beside the file, the
    HuggingFace convention), else config.json's _name_or_path, else the folder name.
    """
    if not os.path.isfile(model_file):
        raise InputError(f"model file not found: {model_file}")
    config = read_config(Path(model_file).parent)
    if n_heads is None:
        n_heads = config.get("num_attention_heads")
        if n_heads is None:
            raise InputError(f"no config.json with num_attention_heads beside {model_file}; pass n_heads")
    try:
        tensors = load_file(model_file)
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"cannot read safetensors file {model_file}: {exc}") from exc

    def get(key: str) -> np.ndarray:
        for candidate in (key, "bert." + key):  # plain BertModel or a BertFor* checkpoint
            if candidate in tensors:
                return np.asarray(tensors[candidate], dtype=np.float32)
        raise InputError(f"{model_file} is not a BERT encoder: missing tensor {key}")

    n_layers = 1 + max(
        (int(k.split(".")[k.split(".").index("layer") + 1]) for k in tensors if _LAYER_PREFIX in k),
        default=-1,
    )
    if n_layers == 0:
        raise InputError(f"{model_file} is not a BERT encoder: no encoder.layer.* tensors")
    layers = []
    for i in range(n_layers):
        p = f"{_LAYER_PREFIX}{i}."
        layers.append(
            BertLayer(
                q_w=get(p + "attention.self.query.weight").T, q_b=get(p + "attention.self.query.bias"),
                k_w=get(p + "attention.self.key.weight").T, k_b=get(p + "attention.self.key.bias"),
                v_w=get(p + "attention.self.value.weight").T, v_b=get(p + "attention.self.value.bias"),
                attn_out_w=get(p + "attention.output.dense.weight").T,
                attn_out_b=get(p + "attention.output.dense.bias"),
                attn_ln_g=get(p + "attention.output.LayerNorm.weight"),
                attn_ln_b=get(p + "attention.output.LayerNorm.bias"),
                ffn_in_w=get(p + "intermediate.dense.weight").T, ffn_in_b=get(p + "intermediate.dense.bias"),
                ffn_out_w=get(p + "output.dense.weight").T, ffn_out_b=get(p + "output.dense.bias"),
                ffn_ln_g=get(p + "output.LayerNorm.weight"), ffn_ln_b=get(p + "output.LayerNorm.bias"),
            )
        )
    hidden = layers[0].q_w.shape[0]
    if hidden % n_heads:
        raise InputError(f"hidden size {hidden} is not divisible by n_heads={n_heads}")
    model_dir = os.path.dirname(os.path.abspath(model_file))
    name = name or model_card_title(model_dir) or config.get("_name_or_path") or os.path.basename(model_dir)
    return BertEncoder(
        name=str(name),
        word_emb=get("embeddings.word_embeddings.weight"),
        pos_emb=get("embeddings.position_embeddings.weight"),
        type_emb=get("embeddings.token_type_embeddings.weight"),
        emb_ln_g=get("embeddings.LayerNorm.weight"),
        emb_ln_b=get("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
        n_heads=int(n_heads),
        layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
    )


def load_tokenizer(model_dir: str):
    """The HuggingFace `tokenizers` tokenizer from ``model_dir/tokenizer.json`` (truncation/padding off)."""
    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.isfile(path):
        raise InputError(f"tokenizer.json not found in {model_dir}")
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as exc:  # the tokenizers library raises its own exception type for a bad file
        raise InputError(f"malformed {path}: {one_line(exc, 160)}") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def encode_texts(tokenizer, texts: list[str], seq_len: int) -> TokenBatch:
    """One row per text: [CLS] text [SEP], truncated to seq_len (keeping [SEP]) and right-padded with id 0."""
    if seq_len < 2:
        raise InputError(f"seq_len must be >= 2 (room for [CLS] and [SEP]), got {seq_len}")
    tokenizer.enable_truncation(max_length=seq_len)
    try:
        encodings = tokenizer.encode_batch(list(texts))
    finally:
        tokenizer.no_truncation()
    ids = np.zeros((len(encodings), seq_len), dtype=np.int64)
    mask = np.zeros((len(encodings), seq_len), dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    return TokenBatch(ids, mask)


def chunk_text(tokenizer, text: str, seq_len: int, keep_partial: bool = False) -> TokenBatch:
    """Split a long text into consecutive [CLS] + (seq_len-2 word pieces) + [SEP] chunks.

    The trailing partial chunk is dropped unless it is the only chunk or keep_partial is set: a short,
    padded chunk has a different distance distribution from the full-length sequences being measured.
    """
    if seq_len < 3:
        raise InputError(f"seq_len must be >= 3 to chunk text, got {seq_len}")
    body = tokenizer.encode(text, add_special_tokens=False).ids
    if not body:
        raise InputError("text has no tokens")
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    step = seq_len - 2
    pieces = [body[s : s + step] for s in range(0, len(body), step)]
    if len(pieces) > 1 and len(pieces[-1]) < step and not keep_partial:
        pieces.pop()
    ids = np.zeros((len(pieces), seq_len), dtype=np.int64)
    mask = np.zeros((len(pieces), seq_len), dtype=np.int64)
    for row, piece in enumerate(pieces):
        seq = [cls_id, *piece, sep_id]
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return TokenBatch(ids, mask)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution of GELU's output)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, BERT's hidden_act "gelu"."""
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def forward(model: BertEncoder, batch: TokenBatch) -> EncoderOutput:
    """Run the encoder on a token batch; returns final hidden states and all attention maps."""
    ids, mask = np.asarray(batch.input_ids), np.asarray(batch.attention_mask)
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise InputError(f"input_ids {ids.shape} and attention_mask {mask.shape} must be equal 2-D shapes")
    n_batch, seq_len = ids.shape
    if seq_len > model.max_positions:
        raise InputError(f"seq_len {seq_len} exceeds the model's {model.max_positions} positions")
    if ids.min() < 0 or ids.max() >= model.word_emb.shape[0]:
        raise InputError("token id outside the model's vocabulary")
    n_heads, d_head = model.n_heads, model.hidden // model.n_heads
    eps = model.layer_norm_eps

    x = model.word_emb[ids] + model.pos_emb[:seq_len] + model.type_emb[0]
    x = _layer_norm(x, model.emb_ln_g, model.emb_ln_b, eps)
    key_bias = np.where(mask[:, None, None, :] > 0, np.float32(0), _MASK_NEG)  # [B,1,1,L]
    scale = np.float32(1.0 / np.sqrt(d_head))
    maps = np.empty((n_batch, model.n_layers, n_heads, seq_len, seq_len), dtype=np.float32)

    def heads(t: np.ndarray) -> np.ndarray:  # [B,L,H*D] -> [B,H,L,D]
        return t.reshape(n_batch, seq_len, n_heads, d_head).transpose(0, 2, 1, 3)

    for li, layer in enumerate(model.layers):
        q = heads(x @ layer.q_w + layer.q_b)
        k = heads(x @ layer.k_w + layer.k_b)
        v = heads(x @ layer.v_w + layer.v_b)
        probs = _softmax(q @ k.transpose(0, 1, 3, 2) * scale + key_bias)
        maps[:, li] = probs
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(n_batch, seq_len, model.hidden)
        x = _layer_norm(context @ layer.attn_out_w + layer.attn_out_b + x, layer.attn_ln_g, layer.attn_ln_b, eps)
        ffn = gelu(x @ layer.ffn_in_w + layer.ffn_in_b) @ layer.ffn_out_w + layer.ffn_out_b
        x = _layer_norm(ffn + x, layer.ffn_ln_g, layer.ffn_ln_b, eps)
    return EncoderOutput(hidden=x.astype(np.float32), attention=maps)


def sentence_embeddings(model: BertEncoder, tokenizer, sentences: list[str], seq_len: int = 128) -> np.ndarray:
    """Mean-pooled (over real tokens), L2-normalised embeddings [n, hidden], as sentence-transformers does."""
    batch = encode_texts(tokenizer, sentences, seq_len)
    hidden = forward(model, batch).hidden
    m = batch.attention_mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

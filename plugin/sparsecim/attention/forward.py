"""Numpy forward pass of a BERT encoder (e.g. all-MiniLM-L6-v2) that returns its attention maps.

Follows the HuggingFace ``BertModel`` computation (post-LayerNorm BERT, Devlin et al. 2019):
embeddings (word + position + token type 0) -> LayerNorm; per layer: Q/K/V projections, per-head
softmax(Q K^T / sqrt(d_head) + mask) V, output dense + residual + LayerNorm, GELU FFN + residual +
LayerNorm. Dropout is off (inference). Weights come from a safetensors file; the head count from the
``config.json`` beside it (it cannot be read off the weight shapes) or the caller. The tokenizer is the
checkpoint's ``tokenizer.json`` or, for folders that ship only a WordPiece ``vocab.txt``, a BERT
WordPiece tokenizer built from it (`load_tokenizer`). Batched over sequences in numpy, float32
throughout; loops run only over layers.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from sparsecim.errors import InputError, one_line
from sparsecim.files import read_text
from sparsecim.workload.checkpoint import model_card_title, read_config

_LAYER_PREFIX = "encoder.layer."
_LAYER_INDEX = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")
# What span measurement reads; said whenever a checkpoint cannot be measured.
MEASURE_NEEDS = "measuring spans needs a BERT encoder as .safetensors with its tokenizer (tokenizer.json or vocab.txt) beside it"
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
    HuggingFace convention), else config.json's _name_or_path, else the folder name. Every weight must
    be finite and every tensor of the shape the encoder needs (InputError naming the tensor otherwise).
    """
    require_safetensors(model_file)
    if not os.path.isfile(model_file):
        raise InputError(f"model file not found: {model_file}")
    config = read_config(Path(model_file).parent)
    if n_heads is None:
        n_heads = config.get("num_attention_heads")
        if n_heads is None:
            raise InputError(
                f"no config.json with num_attention_heads beside {model_file}; give the head count (--heads N, in Python n_heads=N)"
            )
        n_heads = _positive_int(n_heads, "config.json num_attention_heads")
    else:
        n_heads = _positive_int(n_heads, "head count")
    eps = config.get("layer_norm_eps", 1e-12)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise InputError(f"malformed config.json beside {model_file}: layer_norm_eps must be a positive number, got {eps!r}")
    try:
        tensors = load_file(model_file)
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"cannot read safetensors file {model_file}: {one_line(exc, 160)}") from None

    def get(key: str) -> np.ndarray:
        for candidate in (key, "bert." + key):  # plain BertModel or a BertFor* checkpoint
            if candidate in tensors:
                try:
                    array = np.asarray(tensors[candidate], dtype=np.float32)
                except (TypeError, ValueError):
                    raise InputError(f"{model_file}: tensor {candidate} is not numeric ({tensors[candidate].dtype})") from None
                if not np.isfinite(array).all():
                    raise InputError(f"{model_file}: tensor {candidate} holds NaN or infinite weights")
                return array
        raise InputError(f"{model_file} is not a BERT encoder: missing tensor {key}")

    indices = {int(m.group(1)) for k in tensors if (m := _LAYER_INDEX.search(k))}
    if not indices:
        raise InputError(f"{model_file} is not a BERT encoder: no encoder.layer.* tensors")
    missing = min(set(range(len(indices))) - indices, default=None)
    if missing is not None:  # layer numbers must run 0..n-1 (also bounds a file claiming layer 10**7)
        raise InputError(f"{model_file} is not a BERT encoder: layer {missing} missing (layers found up to {max(indices)})")
    layers = []
    for i in range(len(indices)):
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
    model_dir = os.path.dirname(os.path.abspath(model_file))
    name = name or model_card_title(model_dir) or config.get("_name_or_path") or os.path.basename(model_dir)
    encoder = BertEncoder(
        name=str(name),
        word_emb=get("embeddings.word_embeddings.weight"),
        pos_emb=get("embeddings.position_embeddings.weight"),
        type_emb=get("embeddings.token_type_embeddings.weight"),
        emb_ln_g=get("embeddings.LayerNorm.weight"),
        emb_ln_b=get("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
        n_heads=n_heads,
        layer_norm_eps=float(eps),
    )
    _check_shapes(encoder, model_file)
    return encoder


def require_safetensors(model_file: str | Path) -> None:
    """InputError unless `model_file` is a .safetensors file name (what span measurement reads)."""
    if Path(model_file).suffix.lower() != ".safetensors":
        raise InputError(
            f"{MEASURE_NEEDS}, got {Path(model_file).name}; measure its safetensors version with `sparsecim spans` "
            "and pass the profile (--spans spans.yaml)"
        )


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _check_shapes(model: BertEncoder, model_file: str) -> None:
    """Every tensor of the shape a BERT encoder of this hidden width needs (else numpy fails mid-forward)."""
    if model.word_emb.ndim != 2:
        raise InputError(f"{model_file}: embeddings.word_embeddings.weight must be 2-D, got shape {model.word_emb.shape}")
    h = model.hidden
    f = model.layers[0].ffn_in_w.shape[-1] if model.layers[0].ffn_in_w.ndim == 2 else -1
    expected = {"embeddings.position_embeddings.weight": (model.pos_emb, (None, h)),
                "embeddings.token_type_embeddings.weight": (model.type_emb, (None, h)),
                "embeddings.LayerNorm.weight": (model.emb_ln_g, (h,)), "embeddings.LayerNorm.bias": (model.emb_ln_b, (h,))}
    for i, layer in enumerate(model.layers):
        for field, want in (("q_w", (h, h)), ("k_w", (h, h)), ("v_w", (h, h)), ("attn_out_w", (h, h)), ("ffn_in_w", (h, f)),
                            ("ffn_out_w", (f, h)), ("ffn_in_b", (f,)), ("q_b", (h,)), ("k_b", (h,)), ("v_b", (h,)),
                            ("attn_out_b", (h,)), ("attn_ln_g", (h,)), ("attn_ln_b", (h,)), ("ffn_out_b", (h,)),
                            ("ffn_ln_g", (h,)), ("ffn_ln_b", (h,))):
            expected[f"layer {i} {field}"] = (getattr(layer, field), want)
    for what, (array, want) in expected.items():
        if array.ndim != len(want) or any(w is not None and s != w for s, w in zip(array.shape, want)) or 0 in array.shape:
            shown = tuple("any" if w is None else w for w in want)
            raise InputError(f"{model_file} is not a BERT encoder of hidden size {h}: {what} has shape {array.shape}, expected {shown}")
    if h % model.n_heads:
        raise InputError(f"hidden size {h} is not divisible by {model.n_heads} heads")


def load_tokenizer(source: str | Path) -> Tokenizer:
    """The checkpoint's tokenizer, truncation and padding off. `source` is a ``tokenizer.json``
    (HuggingFace `tokenizers`), a WordPiece ``vocab.txt`` (one token per line, id = line number: the
    BERT tokenizer is built from it, `wordpiece_tokenizer`), or a folder holding either (tokenizer.json
    preferred)."""
    path = Path(source)
    if path.is_dir():
        found = [path / n for n in ("tokenizer.json", "vocab.txt") if (path / n).is_file()]
        if not found:
            raise InputError(f"no tokenizer.json or vocab.txt in {path}; {MEASURE_NEEDS} (or give --tokenizer PATH)")
        path = found[0]
    elif not path.is_file():
        raise InputError(f"tokenizer not found: {path}")
    if path.suffix.lower() == ".txt":
        tokenizer = wordpiece_tokenizer(path)
    else:
        read_text(path, "tokenizer file")  # not UTF-8 / unreadable: the one-line read error
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the tokenizers library raises its own exception type for a bad file
            raise InputError(f"malformed {path}: {one_line(exc, 160)}") from None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _tokenizer_settings(folder: Path) -> dict:
    """tokenizer_config.json beside a vocab.txt (HuggingFace), or {}; a JSON object or an InputError."""
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(read_text(path, "tokenizer config"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {path}: {one_line(exc)}") from None
    if not isinstance(settings, dict):
        raise InputError(f"malformed {path}: expected a JSON object")
    return settings


def _token_setting(settings: dict, key: str, default: str, where: Path) -> str:
    value = settings.get(key) or default
    if isinstance(value, dict):  # newer files: {"content": "[CLS]", "lstrip": false, ...}
        value = value.get("content")
    if not isinstance(value, str) or not value:
        raise InputError(f"malformed {where / 'tokenizer_config.json'}: {key} must be a token string, got {value!r}")
    return value


def wordpiece_tokenizer(vocab_file: str | Path) -> Tokenizer:
    """HuggingFace's BertTokenizer rebuilt with `tokenizers` from a WordPiece vocab.txt.

    Like `transformers.BertTokenizer`: token i is line i; BertNormalizer (clean text, Chinese characters
    split, lowercase and accent stripping per ``do_lower_case`` / ``strip_accents``), BertPreTokenizer,
    WordPiece with "##" continuations and words over 100 characters as [UNK], then [CLS] text [SEP].
    Settings come from ``tokenizer_config.json`` beside the file, else ``config.json``, else BERT's
    defaults (lowercase, as the uncased BERT checkpoints are); special-token names from the same file.
    """
    vocab_file = Path(vocab_file)
    folder = vocab_file.parent
    settings = _tokenizer_settings(folder)
    config = read_config(folder)
    text = read_text(vocab_file, "vocabulary file")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    vocab: dict[str, int] = {}
    for index, token in enumerate(lines):
        vocab[token.rstrip("\r")] = index  # a repeated token keeps its last line, as BertTokenizer does
    if not vocab:
        raise InputError(f"vocabulary file {vocab_file} is empty")
    lowercase = settings.get("do_lower_case", config.get("do_lower_case", True))
    strip_accents = settings.get("strip_accents", None)
    chinese = settings.get("tokenize_chinese_chars", True)
    for key, value, allowed in (("do_lower_case", lowercase, (bool,)), ("strip_accents", strip_accents, (bool, type(None))),
                                ("tokenize_chinese_chars", chinese, (bool,))):
        if not isinstance(value, allowed):
            raise InputError(f"malformed tokenizer settings in {folder}: {key} must be true or false, got {value!r}")
    special = {key: _token_setting(settings, key, default, folder)
               for key, default in (("unk_token", "[UNK]"), ("cls_token", "[CLS]"), ("sep_token", "[SEP]"))}
    absent = [token for token in special.values() if token not in vocab]
    if absent:
        raise InputError(f"vocabulary file {vocab_file} is not a BERT WordPiece vocabulary: no {', '.join(absent)} token")
    tokenizer = Tokenizer(WordPiece(vocab, unk_token=special["unk_token"], continuing_subword_prefix="##", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=chinese, strip_accents=strip_accents, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = special["cls_token"], special["sep_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])]
    )
    named = [settings.get(k) for k in ("pad_token", "mask_token")]
    tokenizer.add_special_tokens([t for t in [*special.values(), *named] if isinstance(t, str) and t in vocab])
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
    if cls_id is None or sep_id is None:
        raise InputError("the tokenizer has no [CLS] / [SEP] tokens: not a BERT tokenizer")
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
        raise InputError(f"token id outside the model's vocabulary of {model.word_emb.shape[0]}: is the tokenizer the model's own?")
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

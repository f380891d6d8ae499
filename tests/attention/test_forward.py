"""Numpy BERT forward pass on the real all-MiniLM-L6-v2 weights."""

import math

import numpy as np
import pytest

from sparsecim.attention.forward import (
    TokenBatch,
    chunk_text,
    encode_texts,
    forward,
    gelu,
    load_bert,
    sentence_embeddings,
)
from sparsecim.errors import InputError


def test_gelu_matches_math_erf():
    x = np.linspace(-8, 8, 2001).astype(np.float32)
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    assert np.max(np.abs(gelu(x) - expected)) < 1e-6


def test_paraphrases_closer_than_unrelated(minilm):
    model, tokenizer = minilm
    sentences = [
        "A man is playing a guitar on the stage.",
        "On stage, a man plays the guitar.",
        "The stock market fell sharply on Tuesday.",
        "How do I bake sourdough bread at home?",
        "What is a good recipe for homemade sourdough bread?",
        "The train to the airport was delayed by snow.",
    ]
    emb = sentence_embeddings(model, tokenizer, sentences, seq_len=32)
    assert emb.shape == (6, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    cos = emb @ emb.T
    paraphrase = min(cos[0, 1], cos[3, 4])
    unrelated = max(cos[0, 2], cos[0, 5], cos[3, 2], cos[1, 5], cos[4, 5])
    # A working sentence-embedding model puts paraphrases far above unrelated pairs; random or
    # mis-wired weights (wrong transpose, missing LayerNorm, wrong mask) do not.
    assert paraphrase > 0.7
    assert unrelated < 0.35
    assert paraphrase - unrelated > 0.4


def test_padding_does_not_change_the_embedding(minilm):
    model, tokenizer = minilm
    sentence = ["Tides fill the mill pond twice a day."]
    short = sentence_embeddings(model, tokenizer, sentence, seq_len=16)
    long = sentence_embeddings(model, tokenizer, sentence, seq_len=64)
    np.testing.assert_allclose(short, long, atol=1e-5)


def test_attention_rows_are_distributions_over_real_tokens(minilm):
    model, tokenizer = minilm
    batch = encode_texts(tokenizer, ["A short one.", "A somewhat longer sentence about harbours and boats."], 24)
    assert batch.attention_mask[0].sum() < batch.attention_mask[1].sum() <= 24
    maps = forward(model, batch).attention
    assert maps.shape == (2, 6, 12, 24, 24)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    padded_keys = batch.attention_mask[:, None, None, None, :] == 0
    assert np.all(np.where(padded_keys, maps, 0.0) == 0.0)
    assert np.all(maps >= 0.0)


def test_chunk_text_layout(minilm):
    _, tokenizer = minilm
    text = "word " * 100
    body = tokenizer.encode(text, add_special_tokens=False).ids
    batch = chunk_text(tokenizer, text, 16)
    assert batch.input_ids.shape == (len(body) // 14, 16)  # trailing partial chunk dropped
    assert np.all(batch.input_ids[:, 0] == tokenizer.token_to_id("[CLS]"))
    assert np.all(batch.input_ids[:, -1] == tokenizer.token_to_id("[SEP]"))
    assert batch.input_ids[:, 1:-1].ravel().tolist() == body[: batch.input_ids.shape[0] * 14]
    kept = chunk_text(tokenizer, text, 16, keep_partial=True)
    assert kept.attention_mask.sum() == len(body) + 2 * kept.input_ids.shape[0]


def test_bad_inputs(minilm, tmp_path):
    model, _ = minilm
    with pytest.raises(InputError, match="not found"):
        load_bert(str(tmp_path / "missing.safetensors"))
    ids = np.zeros((1, 600), dtype=np.int64)
    with pytest.raises(InputError, match="positions"):
        forward(model, TokenBatch(ids, np.ones_like(ids)))

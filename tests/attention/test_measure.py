"""Span measurement: the distance reduction on hand-built maps, and real MiniLM spans."""

import math

import numpy as np
import pytest

from sparsecim.attention.forward import chunk_text
from sparsecim.attention.measure import (
    captured_mass_curves,
    default_text,
    mass_by_distance,
    measure_spans,
    windows_from_curves,
)
from sparsecim.errors import InputError

L = 128


def _curves(attention, mask, n_sink):
    band, sink = mass_by_distance(attention, mask, n_sink)
    return (np.cumsum(band, axis=-1) + sink[..., None]) / mask.sum()


def test_mass_by_distance_matches_loops():
    rng = np.random.default_rng(0)
    n, seq = 3, 9
    logits = rng.normal(size=(n, 2, 3, seq, seq))
    mask = np.ones((n, seq), dtype=np.int64)
    mask[1, 6:] = 0
    logits = np.where(mask[:, None, None, None, :] > 0, logits, -np.inf)
    att = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    band, sink = mass_by_distance(att, mask, n_sink=2)
    want_band = np.zeros((2, 3, seq))
    want_sink = np.zeros((2, 3))
    for b in range(n):
        for i in range(seq):
            if not mask[b, i]:
                continue
            for j in range(seq):
                if j < 2:
                    want_sink += att[b, :, :, i, j]
                else:
                    want_band[:, :, abs(i - j)] += att[b, :, :, i, j]
    np.testing.assert_allclose(band, want_band, atol=1e-12)
    np.testing.assert_allclose(sink, want_sink, atol=1e-12)


def test_identity_attention_has_zero_window():
    att = np.broadcast_to(np.eye(16), (2, 1, 1, 16, 16))
    curves = _curves(att, np.ones((2, 16)), n_sink=0)
    assert windows_from_curves(curves, 1.0).tolist() == [[0]]


def test_sink_mass_counts_as_captured():
    seq = 40
    att = np.zeros((1, 1, 1, seq, seq))
    att[..., 0] = 1.0  # every query looks only at [CLS]
    mask = np.ones((1, seq))
    assert windows_from_curves(_curves(att, mask, n_sink=1), 0.9).tolist() == [[0]]
    # without the sink, query i captures it only once w >= i: fraction (w+1)/L must reach 0.9
    assert windows_from_curves(_curves(att, mask, n_sink=0), 0.9).tolist() == [[math.ceil(0.9 * seq) - 1]]


def test_uniform_band_attention_window():
    seq, half = 30, 3
    i = np.arange(seq)
    band = (np.abs(i[:, None] - i[None, :]) <= half).astype(float)
    att = (band / band.sum(-1, keepdims=True))[None, None, None]
    curves = _curves(att, np.ones((1, seq)), n_sink=0)
    assert windows_from_curves(curves, 1.0).tolist() == [[half]]
    assert windows_from_curves(curves, 0.5).tolist()[0][0] < half


def test_bad_mass_rejected():
    with pytest.raises(InputError, match="outside"):
        windows_from_curves(np.ones((1, 1, 4)), 0.0)
    with pytest.raises(InputError, match="outside"):
        measure_spans("unused.safetensors", mass=1.5)


@pytest.fixture(scope="module")
def minilm_curves(minilm):
    model, tokenizer = minilm
    batch = chunk_text(tokenizer, default_text(), L)
    assert batch.input_ids.shape[0] >= 4  # the default text gives several full chunks
    return captured_mass_curves(model, [batch], n_sink=1)


def test_real_curves_are_cumulative_distributions(minilm_curves):
    assert minilm_curves.shape == (6, 12, L)
    assert np.all(np.diff(minilm_curves, axis=-1) >= -1e-12)
    np.testing.assert_allclose(minilm_curves[..., -1], 1.0, atol=1e-5)
    w50, w90 = windows_from_curves(minilm_curves, 0.5), windows_from_curves(minilm_curves, 0.9)
    assert np.all(w50 <= w90)


def test_real_minilm_spans_differ_across_heads(minilm_file):
    profile = measure_spans(minilm_file, seq_len=L, mass=0.9, n_sink=1)
    profile.validate(seq_len=L, n_layers=6, n_heads=12)
    windows = np.array([[h.window for h in layer] for layer in profile.layers])
    is_global = np.array([[h.is_global for h in layer] for layer in profile.layers])
    assert len(np.unique(windows)) >= 3
    assert np.any(windows <= L // 8)  # sharply local heads exist
    assert np.any(is_global) or np.any(windows >= L // 4)
    # local and effectively global heads coexist inside one layer
    assert np.any(np.any(windows <= L // 8, axis=1) & np.any(is_global, axis=1))
    assert np.array_equal(is_global, windows >= L // 2)
    assert profile.mass == 0.9 and profile.seq_len == L and not profile.causal
    assert all(h.n_sink == 1 for layer in profile.layers for h in layer)

"""The chip's published mechanisms in the workload: bit-mask metadata, the BFLY decoder, shared-QK attention."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.attention.banding import kept_pairs_bruteforce
from sparsecim.attention.profile import HeadSpan, SpanProfile, span_of_window, window_of_span
from sparsecim.cases import CASES
from sparsecim.rewrite import rewrite
from sparsecim.rewrite.lar import LarOptions
from sparsecim.sparsity.packing import Metadata, PackingRules, analyze_mask, butterfly_route, decoder_settings
from sparsecim.workload.einsums import Kind, build_workload
from sparsecim.workload.shapes import TransformerShape, preset


@pytest.mark.parametrize("density", [0.0, 0.1, 0.25, 0.75, 1.0])
def test_bit_mask_is_one_bit_per_weight_position(density):
    rng = np.random.default_rng(3)
    mask = rng.random((100, 70)) < density  # ragged against 16 columns x 16 lanes
    stats = analyze_mask(mask, PackingRules(metadata=Metadata.BIT_MASK))
    assert stats.chip.metadata_bits == 100 * 70  # kept or not, every position has its bit
    assert stats.chip.weight_bits == 8 * stats.chip.cells  # the 8T array holds 8-b weights only


def test_decoder_rule_from_prefix_popcount_routes_every_compaction():
    """Switch settings derived from the prefix popcount alone equal the router's, and route each
    kept input to output rank PP-1 without a conflict: all 8-lane masks, random 16/32-lane ones."""
    rng = np.random.default_rng(0)
    batches = [np.array(list(itertools.product([False, True], repeat=8)))]
    batches += [rng.random((1500, n)) < rng.random((1500, 1)) for n in (16, 32)]
    for masks in batches:
        route = butterfly_route(masks)
        assert not route.conflict.any()
        np.testing.assert_array_equal(decoder_settings(masks), route.settings)


def _attention_kinds(shape, profile, options):
    workload = rewrite(build_workload(shape, profile.seq_len), spans=profile, lar=options).workload
    return workload


def _profile(shape, window, seq_len):
    heads = [HeadSpan(window, 0) for _ in range(shape.n_heads)]
    return SpanProfile(shape.name, [list(heads) for _ in range(shape.n_layers)], seq_len=seq_len, causal=shape.causal)


BIDIRECTIONAL = TransformerShape("enc", 2, 64, 4, 16, 128)
CAUSAL = TransformerShape("dec", 2, 64, 4, 16, 128, causal=True)
GQA = TransformerShape("gqa", 1, 64, 4, 16, 128, n_kv_heads=2, causal=True)


@given(window=st.integers(0, 40), seq_len=st.integers(8, 64))
@settings(max_examples=30, deadline=None)
def test_shared_qk_removes_k_projection_and_halves_in_band_products(window, seq_len):
    window = min(window, seq_len - 1)
    profile = _profile(BIDIRECTIONAL, window, seq_len)
    shared = _attention_kinds(BIDIRECTIONAL, profile, LarOptions())
    plain = _attention_kinds(BIDIRECTIONAL, profile, LarOptions(qk_sharing=False))
    kinds = [e.kind for e in shared.einsums]
    assert Kind.K_PROJ not in kinds and Kind.K_PROJ in [e.kind for e in plain.einsums]
    pairs = kept_pairs_bruteforce(seq_len, window)  # independent count from the explicit mask
    heads, layers, d = BIDIRECTIONAL.n_heads, BIDIRECTIONAL.n_layers, BIDIRECTIONAL.head_dim
    qk_shared = sum(e.operations for e in shared.einsums if e.kind == Kind.QK)
    qk_plain = sum(e.operations for e in plain.einsums if e.kind == Kind.QK)
    assert qk_plain == layers * heads * pairs * d
    assert qk_shared == layers * heads * (pairs + seq_len) // 2 * d  # each unordered pair once, the diagonal once
    # Every kept score is still delivered: one scaling multiply each, and |Q|^-1 per token and head.
    assert sum(e.operations for e in shared.einsums if e.kind == Kind.QK_SCALE) == layers * heads * pairs
    assert sum(e.operations for e in shared.einsums if e.kind == Kind.Q_NORM) == layers * heads * seq_len * d


@pytest.mark.parametrize("window", [0, 5, 31])
def test_causal_attention_reuses_nothing(window):
    profile = _profile(CAUSAL, window, 32)
    shared = _attention_kinds(CAUSAL, profile, LarOptions())
    plain = _attention_kinds(CAUSAL, profile, LarOptions(qk_sharing=False))
    qk = [sum(e.operations for e in w.einsums if e.kind == Kind.QK) for w in (shared, plain)]
    assert qk[0] == qk[1] == CAUSAL.n_layers * CAUSAL.n_heads * kept_pairs_bruteforce(32, window, causal=True) * CAUSAL.head_dim
    assert Kind.K_PROJ not in [e.kind for e in shared.einsums]  # keys are still the normalised queries


def test_grouped_query_attention_cannot_share():
    profile = _profile(GQA, 7, 32)
    shared = _attention_kinds(GQA, profile, LarOptions())
    assert Kind.K_PROJ in [e.kind for e in shared.einsums] and Kind.Q_NORM not in [e.kind for e in shared.einsums]
    assert any("not applicable" in note for note in shared.notes)


def test_span_window_conversion_is_explicit():
    assert window_of_span(32) == 16 and span_of_window(16) == 33
    assert window_of_span(83) == 41 and window_of_span(1) == 0
    bert = CASES["bert-glue"]
    profile = bert.spans_for(preset("bert-base"))
    assert {h.window for layer in profile.layers for h in layer} == {16}
    gpt2 = CASES["gpt2-enwik8"].spans_for(preset("gpt2"))
    assert gpt2.causal and {h.window for layer in gpt2.layers for h in layer} == {41}

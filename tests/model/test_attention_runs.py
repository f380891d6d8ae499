"""Banded attention through the workload rewrite and the mapper (LAR engine)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsecim import api
from sparsecim.attention.banding import kept_pairs_bruteforce
from sparsecim.attention.measure import measure_spans
from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.workload.einsums import ATTENTION_KINDS
from sparsecim.rewrite.lar import LarOptions, rewrite_attention
from sparsecim.workload.einsums import build_workload
from sparsecim.workload.shapes import TransformerShape, preset

L = 32
TINY = TransformerShape("tiny", 1, 32, 2, 16, 64, max_seq_len=64)
TINY_CAUSAL = TransformerShape("tiny-causal", 1, 32, 2, 16, 64, causal=True, max_seq_len=64)


def test_banded_macs_equal_kept_pairs_on_real_minilm(minilm_file):
    profile = measure_spans(minilm_file, None, seq_len=128, mass=0.9)
    shape = preset("all-minilm-l6-v2")
    plain = rewrite_attention(build_workload(shape, 128), profile, LarOptions(qk_sharing=False))
    shared = rewrite_attention(build_workload(shape, 128), profile)
    independent = sum(
        kept_pairs_bruteforce(128, h.window or 0, h.n_sink, False, h.is_global) for layer in profile.layers for h in layer
    ) * shape.head_dim
    for workload in (plain, shared):
        assert sum(e.operations for e in workload.einsums if e.kind == "av") == independent
    assert sum(e.operations for e in plain.einsums if e.kind == "qk") == independent
    # Shared-QK attention computes each in-band unordered pair once: a little over half the products.
    shared_qk = sum(e.operations for e in shared.einsums if e.kind == "qk")
    assert 0.5 * independent < shared_qk < 0.6 * independent
    assert independent < 6 * 12 * 128 * 128 * shape.head_dim  # some heads are local


def _attention(shape, heads, options=LarOptions()):
    profile = SpanProfile(shape.name, [heads], seq_len=L, causal=shape.causal)
    prepared = api.prepare(api.RunRequest(model=shape, seq_len=L, spans=profile))
    result = api.evaluate(prepared, lar=options, jobs=1)
    totals = result.layer_totals(ATTENTION_KINDS)[0]
    return totals


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(w=st.integers(0, 20), shrink=st.integers(1, 10), sink=st.integers(0, 1))
def test_energy_never_increases_when_span_shrinks(w, shrink, sink):
    wide = _attention(TINY, [HeadSpan(w + shrink, sink), HeadSpan(3, 0)])
    narrow = _attention(TINY, [HeadSpan(w, sink), HeadSpan(3, 0)])
    assert narrow.energy_j <= wide.energy_j * (1 + 1e-9)
    assert narrow.operations <= wide.operations


def test_span_longer_than_sequence_equals_dense():
    dense = _attention(TINY, [HeadSpan(None, 0, True), HeadSpan(None, 0, True)])
    full = _attention(TINY, [HeadSpan(L - 1, 0), HeadSpan(L - 1, 1)])
    # 2 heads, shared-QK: Q.Q products once per unordered pair, P.V for every pair, softmax and scaling
    # per score, |Q|^-1 from head_dim square-accumulates per token.
    per_head = (L * L + L) // 2 * 16 + L * L * 16 + L * L + L * L + L * 16
    assert full.operations == dense.operations == 2 * per_head
    assert full.energy_j == pytest.approx(dense.energy_j, rel=1e-9)


@pytest.mark.parametrize("w", [2, 9, 31])
def test_causal_le_bidirectional(w):
    bidirectional = _attention(TINY, [HeadSpan(w, 1), HeadSpan(w, 0)])
    causal = _attention(TINY_CAUSAL, [HeadSpan(w, 1), HeadSpan(w, 0)])
    assert causal.operations <= bidirectional.operations
    assert causal.energy_j <= bidirectional.energy_j * (1 + 1e-9)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(w=st.integers(0, 24))
def test_reuse_never_costs_more_than_no_reuse(w):
    heads = [HeadSpan(w, 1), HeadSpan(min(31, w + 5), 0)]
    reuse = _attention(TINY, heads)
    no_reuse = _attention(TINY, heads, LarOptions(kv_reuse=False))
    assert reuse.energy_j <= no_reuse.energy_j * (1 + 1e-9)
    assert reuse.stationary_writes <= no_reuse.stationary_writes


def test_mismatched_span_profile_is_rejected():
    from sparsecim.errors import InputError

    with pytest.raises(InputError, match="head"):
        _attention(TINY, [HeadSpan(3, 0)])  # 1 head for a 2-head model
    with pytest.raises(InputError):
        _attention(TINY, [HeadSpan(40, 0), HeadSpan(3, 0)])  # window longer than the sequence

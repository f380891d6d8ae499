"""Kept-pair counts of banded heads: closed form vs explicit mask, and their invariants."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.attention.banding import (
    group_heads,
    group_profile,
    kept_pairs,
    kept_pairs_bruteforce,
    padded_key_rank,
)
from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError

seq_lens = st.integers(1, 96)
windows = st.integers(0, 130)
sinks = st.integers(0, 8)


@settings(max_examples=300, deadline=None)
@given(seq_lens, windows, sinks, st.booleans(), st.booleans())
def test_closed_form_equals_bruteforce(L, w, s, causal, is_global):
    assert kept_pairs(L, w, s, causal, is_global) == kept_pairs_bruteforce(L, w, s, causal, is_global)


@given(seq_lens, st.integers(0, 64), sinks)
def test_span_at_least_sequence_is_dense(L, extra, s):
    assert kept_pairs(L, L - 1 + extra, s) == L * L
    assert kept_pairs(L, L - 1 + extra, s, causal=True) == L * (L + 1) // 2


@given(seq_lens, windows, sinks)
def test_causal_keeps_no_more_than_bidirectional(L, w, s):
    assert kept_pairs(L, w, s, causal=True) <= kept_pairs(L, w, s)


@given(seq_lens, st.integers(1, 130), sinks, st.booleans())
def test_pairs_never_increase_when_span_shrinks(L, w, s, causal):
    assert kept_pairs(L, w - 1, s, causal) <= kept_pairs(L, w, s, causal)


@given(seq_lens, windows, sinks, st.booleans(), st.booleans())
def test_padded_rank_bounds_exact_pairs(L, w, s, causal, is_global):
    rank = padded_key_rank(L, w, s, causal, is_global)
    assert 1 <= rank <= L
    assert kept_pairs(L, w, s, causal, is_global) <= L * rank


def test_hand_counted_examples():
    # L=4, w=1: diagonals 0, +1, -1 hold 4 + 3 + 3 pairs; causal keeps 4 + 3.
    assert kept_pairs(4, 1) == 10
    assert kept_pairs(4, 1, causal=True) == 7
    # a [CLS] sink adds queries 2 and 3 on key 0 (queries 0 and 1 already reach it)
    assert kept_pairs(4, 1, n_sink=1) == 12
    assert kept_pairs(4, 1, n_sink=1, causal=True) == 9
    assert padded_key_rank(128, 3, 1) == 8
    assert padded_key_rank(128, 3, 1, causal=True) == 5
    assert padded_key_rank(128, 100, 1) == 128


def test_group_heads():
    heads = [HeadSpan(2, 1), HeadSpan(70, 1, True), HeadSpan(2, 1), HeadSpan(5, 1), HeadSpan(3, 0, True)]
    groups = group_heads(heads, seq_len=16)
    assert [(g.window, g.n_sink, g.is_global, g.head_indices) for g in groups] == [
        (2, 1, False, (0, 2)),
        (5, 1, False, (3,)),
        (None, 0, True, (1, 4)),
    ]
    assert [g.n_heads for g in groups] == [2, 1, 2]
    assert [g.key_rank for g in groups] == [6, 12, 16]
    local = groups[0]
    assert local.pairs_per_head == kept_pairs_bruteforce(16, 2, 1)
    assert local.correction == local.pairs_per_head / (16 * 6)
    assert groups[2].correction == 1.0 and groups[2].density == 1.0


def test_group_profile_checks_sequence_length():
    profile = SpanProfile(model="m", layers=[[HeadSpan(40, 1), HeadSpan(3, 1)]], seq_len=128)
    assert [g.window for g in group_profile(profile)[0]] == [3, 40]
    with pytest.raises(InputError, match="span longer than the sequence"):
        group_profile(profile, seq_len=32)


def test_negative_inputs_rejected():
    with pytest.raises(InputError, match="negative span"):
        kept_pairs(16, -1)
    with pytest.raises(InputError, match="negative sink"):
        padded_key_rank(16, 1, -2)

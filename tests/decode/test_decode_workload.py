"""Decode workloads without the mapper: work per generated token counted analytically from the shape
(independently of the Einsum builder), spans bound the work and the KV cache, buckets stay few."""

import pytest

from sparsecim.attention.profile import HeadSpan, SpanProfile
from sparsecim.errors import InputError
from sparsecim.rewrite import rewrite
from sparsecim.rewrite.decode import layer_windows
from sparsecim.rewrite.partition import Partition, partition
from sparsecim.studies.generation import _within
from sparsecim.workload.decode import KeyWindow, build_decode, key_bucket
from sparsecim.workload.einsums import Kind
from sparsecim.workload.shapes import TransformerShape, preset

TINY_GQA = TransformerShape("tiny-gqa", 2, 128, 4, 32, 256, n_kv_heads=2, gated_ffn=True, causal=True, rotary=True)


def parameters(shape: TransformerShape) -> int:
    """Weights of the layer matrices, from the published shape (q, k, v, o; up, (gate,) down)."""
    d, heads, kv, hd, ff = shape.d_model, shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.d_ff
    per_layer = d * heads * hd + 2 * d * kv * hd + heads * hd * d + ff * d * (3 if shape.gated_ffn else 2)
    return shape.n_layers * per_layer


def attention_macs(shape: TransformerShape, keys: int) -> int:
    """Q.K^T and P.V of one query over `keys` cached keys, every query head of every layer."""
    return 2 * shape.n_layers * shape.n_heads * keys * shape.head_dim


@pytest.mark.parametrize("name", ["gpt2", "llama-2-7b", "smollm2-135m"])
def test_macs_per_generated_token_are_the_parameters_plus_attention_over_the_cache(name):
    # One MAC per weight per token: 2 x parameters operations (the usual "2N FLOPs per token"), plus
    # the attention over the cache of the token's position (itself included).
    shape = preset(name)
    assert parameters(shape) == {"gpt2": 84_934_656, "llama-2-7b": 6_476_005_376, "smollm2-135m": 106_168_320}[name]
    prompt, generate, batch = 100, 5, 3
    workload = build_decode(shape, prompt, generate, batch)
    expected = sum(batch * (parameters(shape) + attention_macs(shape, position + 1)) for position in range(prompt, prompt + generate))
    assert workload.macs == workload.dense_macs == expected
    one = build_decode(shape, 7, 1, 1)
    assert 2 * one.macs == 2 * parameters(shape) + 2 * attention_macs(shape, 8)


def test_local_spans_bound_the_work_and_the_cache():
    shape = TINY_GQA
    window = 16
    spans = SpanProfile(shape.name, [[HeadSpan(window)] * shape.n_heads] * shape.n_layers, causal=True)
    per_step = {}
    for prompt in (32, 256, 1024):
        dense = build_decode(shape, prompt, 1)
        banded = rewrite(dense, spans=spans).workload
        per_step[prompt] = (dense.macs, banded.macs, dense.cache_values(prompt), banded.cache_values(prompt))
    dense_macs = [v[0] for v in per_step.values()]
    assert dense_macs == sorted(dense_macs) and dense_macs[0] < dense_macs[-1]
    banded = {v[1] for v in per_step.values()}
    assert len(banded) == 1  # past the window every step does the same work
    assert {v[3] for v in per_step.values()} == {2 * shape.n_layers * shape.n_kv_heads * window * shape.head_dim}
    assert per_step[1024][2] == 2 * shape.n_layers * shape.n_kv_heads * 1024 * shape.head_dim


def test_buckets_are_exact_and_few():
    shape = preset("llama-2-7b")
    workload = build_decode(shape, 128, 128)
    qk = [e for e in workload.einsums if e.kind == Kind.QK and e.layer == 0]
    assert sum(e.exact_operations for e in qk) == sum(shape.n_heads * (t + 1) * shape.head_dim for t in range(128, 256))
    assert len(workload.unique_specs()) <= 8
    assert [key_bucket(k) for k in (1, 8, 9, 129, 256, 257)] == [8, 8, 16, 256, 256, 512]


def test_shared_qk_drops_the_k_projection_only_for_mha():
    mha = TransformerShape("tiny-mha", 1, 64, 2, 32, 128, causal=True, rotary=True)
    spans = SpanProfile(mha.name, [[HeadSpan(8)] * 2], causal=True)
    kinds = {e.kind for e in rewrite(build_decode(mha, 16, 2), spans=spans).workload.einsums}
    assert Kind.K_PROJ not in kinds and {Kind.Q_NORM, Kind.QK_SCALE} <= kinds
    gqa_spans = SpanProfile(TINY_GQA.name, [[HeadSpan(8)] * 4] * 2, causal=True)
    kinds = {e.kind for e in rewrite(build_decode(TINY_GQA, 16, 2), spans=gqa_spans).workload.einsums}
    assert Kind.K_PROJ in kinds and Kind.QK_SCALE not in kinds


def test_gqa_cache_keeps_the_widest_window_of_a_group():
    heads = [HeadSpan(4), HeadSpan(12), HeadSpan(8), HeadSpan(0, 0, True)]
    assert layer_windows(heads, TINY_GQA) == (KeyWindow(1, 12), KeyWindow(1, None))


def test_tensor_split_keeps_the_work_and_reports_imbalance():
    shape = preset("smollm2-135m")  # 9 heads, 3 KV heads: uneven over 4 chips
    rewritten = rewrite(build_decode(shape, 64, 4))
    whole = sum(e.operations for e in rewritten.workload.einsums)
    share = partition(rewritten, 4, Partition.TENSOR)
    assert sum(e.operations for e in share.rewritten.workload.einsums) * 4 == pytest.approx(whole, rel=1e-6)
    # 3 KV heads (each with its query heads and their projection columns/rows): one chip idles.
    assert share.imbalance[Kind.QK] == share.imbalance[Kind.Q_PROJ] == share.imbalance[Kind.OUT_PROJ] == pytest.approx(4 / 3)
    assert share.imbalance[Kind.FFN_UP] == pytest.approx(1.0)  # 1536 columns: even
    assert share.transfers[0].count == 2 * shape.n_layers * 4
    pipeline = partition(rewritten, 4, Partition.PIPELINE)
    assert pipeline.rewritten.workload.einsums == rewritten.workload.einsums and not pipeline.concurrent


def test_generation_input_errors():
    with pytest.raises(InputError, match="not a decoder"):
        build_decode(preset("bert-base"), 16, 4)
    with pytest.raises(InputError, match="context"):
        build_decode(preset("gpt2"), 1000, 100)


def test_prefill_of_a_short_prompt_keeps_every_key_of_a_longer_window():
    spans = SpanProfile("x", [[HeadSpan(41), HeadSpan(4), HeadSpan(100, 0, True)]], seq_len=128, causal=True)
    assert _within(spans, 128) is spans
    assert _within(spans, 16).layers == [[HeadSpan(15), HeadSpan(4), HeadSpan(15, 0, True)]]

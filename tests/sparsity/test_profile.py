"""SparsityProfile YAML (round trip, validation, atomic write) and user mask files."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparsecim.errors import InputError
from sparsecim import files as files_module
from sparsecim.sparsity.masks import load_masks, save_masks
from sparsecim.sparsity.packing import PackingRules
from sparsecim.sparsity.profile import MatrixSparsity, SparsityProfile, profile_from_masks

DOC = Path(__file__).resolve().parents[2] / "docs" / "sparsity.md"


def small_profile() -> SparsityProfile:
    rng = np.random.default_rng(0)
    masks = {"encoder.layer.0.attention.self.query.weight": rng.random((64, 48)) < 0.3,
             "h.1.attn.c_attn.weight": rng.random((48, 16)) < 0.5,  # fused q|k|v, already [out, in]
             "embeddings.word_embeddings.weight": np.ones((10, 16), dtype=bool)}
    return profile_from_masks("tiny", masks, "pruned:magnitude:0.7", PackingRules(columns_per_macro=16, lanes=8))


def test_profile_from_masks_splits_fused_qkv_and_classifies():
    profile = small_profile()
    roles = [(m.name, m.layer, m.role, m.shape) for m in profile.matrices]
    assert roles == [("encoder.layer.0.attention.self.query.weight", 0, "q", (64, 48)),
                     ("h.1.attn.c_attn.weight", 1, "q", (16, 16)), ("h.1.attn.c_attn.weight", 1, "k", (16, 16)),
                     ("h.1.attn.c_attn.weight", 1, "v", (16, 16)),
                     ("embeddings.word_embeddings.weight", None, None, (10, 16))]
    assert profile.get(1, "k").packing.shape == (16, 16)
    assert profile.matrices[-1].density == 1.0
    with pytest.raises(InputError, match="no ffn_up matrix in layer 0"):
        profile.get(0, "ffn_up")


def test_yaml_round_trip_is_exact(tmp_path):
    profile = small_profile()
    path = tmp_path / "profile.yaml"
    profile.save_yaml(path)
    loaded = SparsityProfile.load_yaml(path)
    assert loaded.matrices == profile.matrices
    assert loaded.packing_rules == profile.packing_rules
    assert loaded.model == "tiny"


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "profile.yaml"
    path.write_text("old contents\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files_module.os, "replace", fail)
    with pytest.raises(InputError, match="cannot write.*disk full"):
        small_profile().save_yaml(path)
    assert path.read_text() == "old contents\n"  # untouched
    assert os.listdir(tmp_path) == ["profile.yaml"]  # no temp file left behind
    monkeypatch.undo()
    small_profile().save_yaml(path)
    assert os.listdir(tmp_path) == ["profile.yaml"]


def good_matrix(**changes) -> dict:
    matrix = {"name": "model.layers.0.self_attn.q_proj.weight", "layer": 0, "role": "q",
              "shape": [4096, 4096], "density": 0.25, "source": "statistical:uniform"}
    matrix.update(changes)
    return matrix


@pytest.mark.parametrize("document, words", [
    ({"model": "m", "matrices": [good_matrix()], "colour": "red"}, "unknown key 'colour'"),
    ({"model": "m", "matrices": [good_matrix(sparsity=0.5)]}, "unknown key 'sparsity'"),
    ({"model": "m", "matrices": [good_matrix(density=1.5)]}, "density 1.5 outside [0, 1]"),
    ({"model": "m", "matrices": [good_matrix(density=-0.1)]}, "outside [0, 1]"),
    ({"model": "m", "matrices": [good_matrix(density="half")]}, "density must be a number"),
    ({"model": "m", "matrices": [good_matrix(shape=[0, 4])]}, "shape must be two positive integers"),
    ({"model": "m", "matrices": [good_matrix(shape=[4])]}, "shape must be two positive integers"),
    ({"model": "m", "matrices": [good_matrix(shape=[4.5, 4])]}, "shape must be two positive integers"),
    ({"model": "m", "matrices": [good_matrix(role="attention")]}, "role: unknown value 'attention'"),
    ({"model": "m", "matrices": [good_matrix(layer=-1)]}, "layer must be a non-negative integer"),
    ({"model": "m", "matrices": [good_matrix(source="guess")]}, "source 'guess'"),
    ({"model": "m", "matrices": [good_matrix(), good_matrix()]}, "appears twice"),
    ({"model": "m", "matrices": [{"name": "x", "shape": [2, 2], "source": "mask:x.npz"}]}, "missing required key 'density'"),
    ({"matrices": []}, "missing required key 'model'"),
    ({"model": "m", "version": 2, "matrices": []}, "version 2 unsupported"),
    ({"model": "m", "matrices": [], "packing_rules": {"lanes": 16, "rows": 4}}, "packing_rules: unknown key 'rows'"),
    ({"model": "m", "matrices": [], "packing_rules": {"lanes": 10}}, "power of two"),
    ({"model": "m", "matrices": [good_matrix(packing={"nnz": 3})]}, "packing: missing required key"),
    (["not", "a", "mapping"], "top level must be a mapping"),
])
def test_bad_profiles_name_the_problem(tmp_path, document, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InputError) as info:
        SparsityProfile.load_yaml(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_packing_statistics_must_agree_with_density(tmp_path):
    data = small_profile().to_dict()
    data["matrices"][0]["density"] = 0.9
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="disagrees with packing"):
        SparsityProfile.load_yaml(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        SparsityProfile.load_yaml(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        SparsityProfile.load_yaml(broken)


def test_the_documented_example_loads(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, "docs/sparsity.md has no yaml example"
    path = tmp_path / "example.yaml"
    path.write_text(blocks[0])
    profile = SparsityProfile.load_yaml(path)
    assert profile.matrices and all(0 <= m.density <= 1 for m in profile.matrices)


def test_overall_density_is_size_weighted():
    profile = SparsityProfile("m", [MatrixSparsity("a", 0, "q", (10, 10), 0.5, "statistical:uniform"),
                                    MatrixSparsity("b", 0, "ffn_up", (30, 10), 0.1, "statistical:uniform")])
    assert profile.density == pytest.approx((100 * 0.5 + 300 * 0.1) / 400)


# ---- user mask files --------------------------------------------------------------------------------------

SHAPES = {"encoder.layer.0.attention.self.query.weight": (8, 8), "h.0.attn.c_attn.weight": (12, 4)}


def test_masks_round_trip_and_accept_0_1_and_conv1d_layout(tmp_path):
    rng = np.random.default_rng(0)
    query = rng.random((8, 8)) < 0.5
    c_attn = rng.random((12, 4)) < 0.5
    path = tmp_path / "masks.npz"
    np.savez(path, **{"encoder.layer.0.attention.self.query.weight": query.astype(np.uint8),
                      "h.0.attn.c_attn.weight": c_attn.T})  # as PyTorch's Conv1D stores it: [in, out]
    masks = load_masks(path, SHAPES)
    np.testing.assert_array_equal(masks["encoder.layer.0.attention.self.query.weight"], query)
    np.testing.assert_array_equal(masks["h.0.attn.c_attn.weight"], c_attn)
    out = tmp_path / "saved.npz"
    save_masks(out, masks)
    again = load_masks(out, SHAPES)
    assert all(again[k].dtype == bool and (again[k] == masks[k]).all() for k in masks)


def test_mask_shape_mismatch_names_tensor_and_both_shapes(tmp_path):
    path = tmp_path / "masks.npz"
    np.savez(path, **{"encoder.layer.0.attention.self.query.weight": np.ones((8, 6), dtype=bool)})
    with pytest.raises(InputError) as info:
        load_masks(path, SHAPES)
    message = str(info.value)
    assert "encoder.layer.0.attention.self.query.weight" in message and "(8, 6)" in message and "(8, 8)" in message


@pytest.mark.parametrize("arrays, words", [
    ({"unknown.weight": np.ones((2, 2), dtype=bool)}, "matches no weight tensor"),
    ({"encoder.layer.0.attention.self.query.weight": np.full((8, 8), 0.5)}, "boolean or 0/1"),
    ({"encoder.layer.0.attention.self.query.weight": np.ones(8, dtype=bool)}, "must be 2-D"),
])
def test_bad_mask_files(tmp_path, arrays, words):
    path = tmp_path / "masks.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=words):
        load_masks(path, SHAPES)


def test_missing_or_unreadable_mask_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_masks(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("junk")
    with pytest.raises(InputError, match="cannot read mask file"):
        load_masks(junk)

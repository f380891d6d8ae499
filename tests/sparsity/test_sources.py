"""Sparsity sources used by the CLI: zeros already in a checkpoint stay zeros; statistical profiles."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from sparsecim.errors import InputError
from sparsecim.sparsity.packing import PackingRules
from sparsecim.sparsity.sources import build_profile, statistical
from sparsecim.workload.shapes import TransformerShape

RULES = PackingRules(columns_per_macro=16, lanes=8)


def test_prepruned_checkpoint_keeps_its_zeros(tiny_bert, tmp_path):
    tensors = load_file(str(tiny_bert))
    rng = np.random.default_rng(1)
    for name, w in tensors.items():
        w[rng.random(w.shape) < 0.6] = 0.0  # pruned elsewhere: 60 % zeros
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    (tmp_path / "config.json").write_text('{"num_attention_heads": 2}')
    shape = TransformerShape("t", 1, 64, 2, 32, 128)
    profile = build_profile(shape, RULES, weights=path, prune_method="magnitude:0")
    expected = sum(np.count_nonzero(w) for w in tensors.values()) / sum(w.size for w in tensors.values())
    assert profile.density == pytest.approx(expected, abs=1e-9)


def test_statistical_profile_has_requested_density_and_identical_layers():
    shape = TransformerShape("t", 3, 64, 2, 32, 128)
    profile = statistical(shape, 0.3, RULES)
    assert profile.density == pytest.approx(0.3, abs=1e-3)
    q = [m.packing for m in profile.matrices if m.role == "q"]
    assert len(q) == 3 and q[0] == q[1] == q[2]  # one draw per shape: identical layers map once


def test_only_one_source_at_a_time(tiny_bert):
    shape = TransformerShape("t", 1, 64, 2, 32, 128)
    with pytest.raises(InputError, match="one weight-sparsity source"):
        build_profile(shape, RULES, weights=tiny_bert, prune_method="magnitude:0.5", density=0.5)
    with pytest.raises(InputError, match="outside"):
        statistical(shape, -0.1, RULES)

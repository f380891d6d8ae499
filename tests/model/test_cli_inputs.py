"""Bad sparsity / span inputs through the CLI: one line on stderr, exit code 2, nothing written."""

import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, cwd=cwd)


def _assert_one_line_error(proc, message, folder, before):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.fixture
def workdir(tmp_path, tiny_bert):
    (tmp_path / "bad_profile.yaml").write_text("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 0, role: q, shape: [4, 4], density: 1.5, source: 'pruned:x'}\n")
    (tmp_path / "masks.npz").write_bytes(b"")
    np.savez(tmp_path / "masks.npz", **{"encoder.layer.0.attention.self.query.weight": np.ones((3, 3), dtype=bool)})
    from safetensors.numpy import load_file

    tensors = load_file(str(tiny_bert))
    tensors["encoder.layer.0.attention.self.key.weight"][3, 5] = np.nan
    save_file(tensors, str(tmp_path / "nan.safetensors"))
    (tmp_path / "spans_bad.yaml").write_text("model: m\nlayers:\n- [{window: -1}]\n")
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--model", "all-minilm-l6-v2", "--density", "1.5"], "outside [0, 1]"),
        (["run", "--model", "all-minilm-l6-v2", "--profile", "bad_profile.yaml"], "outside [0, 1]"),
        (["run", "--weights", "TINY", "--masks", "masks.npz"], "shape"),
        (["run", "--weights", "nan.safetensors", "--prune", "magnitude:0.5", "--heads", "2"], "NaN"),
        (["run", "--weights", "TINY", "--prune", "wobbly:0.5"], "unknown"),
        (["run", "--weights", "TINY", "--prune", "magnitude:1.5"], "outside [0, 1]"),
        (["run", "--model", "all-minilm-l6-v2", "--density", "0.5", "--prune", "magnitude:0.5"], "one weight-sparsity source"),
        (["run", "--model", "all-minilm-l6-v2", "--spans", "spans_bad.yaml"], "negative"),
        (["run", "--model", "all-minilm-l6-v2", "--spans", "missing.yaml"], "span profile not found"),
        (["profile", "--model", "all-minilm-l6-v2", "--out", "p.txt", "--density", "0.5"], ".yaml"),
        (["spans", "--out", "s.yaml", "--mass", "0"], "outside (0, 1]"),
        (["spans", "--out", "s.yaml", "--text", "missing.txt"], "not found"),
        (["sparsity-curve", "--sparsities", "0.5,abc"], "comma-separated"),
    ],
)
def test_bad_inputs(workdir, tiny_bert, args, message):
    args = [str(tiny_bert) if a == "TINY" else a for a in args]
    before = sorted(p.name for p in workdir.iterdir())
    _assert_one_line_error(_cli(*args, cwd=workdir), message, workdir, before)


def test_profile_command_writes_loadable_yaml(tmp_path, tiny_bert):
    from sparsecim.sparsity.profile import SparsityProfile

    proc = _cli("profile", "--weights", str(tiny_bert), "--prune", "magnitude:0.75", "--out", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    profile = SparsityProfile.load_yaml(tmp_path / "p.yaml")
    assert len(profile.matrices) == 6
    assert profile.density == pytest.approx(0.25, abs=1e-3)
    assert all(m.packing is not None for m in profile.matrices)

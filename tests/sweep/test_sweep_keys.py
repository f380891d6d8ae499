"""Point keys name the result files a resumed sweep looks for: they must not change when the sweep
file's validation is rewritten. The expected keys below are data taken from the previous
implementation (the hand-written checks of studies/sweep/spec.py before the pydantic schema, commit
a63844a), computed on the example sweep of that commit (kept below as it was) with the stub arch.

The other example of that commit (sweep_tiny) names an inline model shape; TransformerShape has since
gained a field (`rotary`, for decode workloads), which every inline shape's key includes, so its old
keys are gone on purpose: such sweeps are recomputed once. The properties below pin what a key must
and must not depend on."""

from pathlib import Path

import pytest
import yaml

from sparsecim.studies.sweep.spec import expand_points, parse_sweep

# examples/sweep_bert.yaml as of commit a63844a (it has since swept cores, not macros).
OLD_SWEEP_BERT = """
# BERT-base on the ISSCC'23 16.2 chip: weight sparsity x butterfly lanes x CIM macros, 5 x 4 x 5 = 100 points.
#   sparsecim sweep examples/sweep_bert.yaml                  # 2 local processes (SPARSECIM_JOBS)
#   sparsecim sweep examples/sweep_bert.yaml --cluster local --workers 4
#   sparsecim sweep examples/sweep_bert.yaml --scheduler tcp://host:8786
# Without weights, `sparsity` S means uniform random masks of density 1 - S (the statistical model);
# add `weights: path/to/model.safetensors` under fixed to prune real weights (prune_method: magnitude).
# Cold, this maps ~360 distinct Einsums (about 30-60 min on 2 cores); a rerun resumes where it stopped.
name: bert_sparsity_lanes_macros
arch: isscc23_16_2
mode: grid
fixed:
  model: bert-base
  seq_len: 128
  batch: 1
  scheme: chip
axes:
  sparsity: [0.5, 0.6, 0.7, 0.8, 0.9]
  butterfly_lanes: [4, 8, 16, 32]
  n_macros: [9, 18, 27, 36, 72]
pareto:
  x: area_mm2
  y: energy_per_token_J
output: sweep_bert_results
"""

# A fixed arch text, so that the keys do not follow edits of the real arch file (its SHA-256 is in
# every key); it declares the spec variables the examples sweep.
STUB_ARCH = "{% set butterfly_lanes = butterfly_lanes | default(16) %}\n{% set n_macros = n_macros | default(36) %}\n"

# From the old implementation: expand_points(parse_sweep(example with arch: stub_arch.yaml)).
OLD_KEYS = {
    "sweep_bert": """
        581fadebb40fbcf04747 4f5a6540904bb582383a de8d8d4d7d71cb678bef 94fb891a87a0e0ed9d51 8fa148a5275e33c71cfa
        d0ac8746dfa2aedd07ea 6468e2fc5f13e5e844b2 bcf65f050e04f6a4c03d bc02f0bae416372b4753 3750a3206802acfaff9f
        b49a1a2321a21f39faff bf23399f3322a40b4a4c 90ef5e3eb7b1f83cfdb7 628a68ffa278e6490890 5754fab46bab10268563
        654b93ed3fa422e2975e 8c5faf0b572dfd30d80c 231fa9af9f3d755ea228 2655d5e536bd86c9016b c18b68c1be97b9b56b86
        cb614c0c5ddbf06ce113 a9716c1e1ec1443c42ac ad991b5e3720aa2d1f2f aa4e86545c955c273573 192ae86d0521df07c692
        6733c43cd6ad359a853e c5c033dde90d7ca9932f d9ce87217f33d18a943c 453b5a7d082ff5ead6aa 2df06aa0ba006d5ca6b3
        5d758a0f90aaf7e0e044 ba0a8f71b22de9bf693a d355eb8b47d0c61e94a6 38f1b83a7f2290a98f8b 99ccf0ba7013c7df09e0
        d9e462f8450666f09e40 eb58c9ee4bf6d11b49a0 9656ebf93022c2814e7e bdc1c02679259f0e2fc3 598e9c25473c44d619d0
        06784b43da724cc46614 8f392ff85c41b5fd33ea 7bc3aca8ac31af0349d1 23697e3f89987d27aecd a364969634c1da0c0f59
        91d526a3206a9e8b3529 fdbe4952f26e7bbdeee7 ffb1fbd5aaa98a1829a0 e6dae286f9fe9e9b501a 293fe5324fc46797a4a9
        58cb7f0dfb1ebfc829d2 d6435823a739c062455a a7d4b6016bdedbca5eef 955646c1e5381d578c99 285c72f08e86d35b984d
        ecd797cc9080dbea8cd9 8634f8227e0d749d13f6 805f692b19ad36590a51 522c773631450a0f1f72 aecefac7f874e614558e
        df4295342e303fcd47e6 ff5727100f14d50684d5 647a6c7ec3364a186c45 cff0b0199c26bb209e10 cc42ed91c5b548dcb28c
        058f6e6a31377b5130d7 e7bafc32319ea86ce115 52cac4fda8b2d9daa571 2150461318e17b251a7d a5401028a7d61ed68e32
        b407d9909ff2bc102a95 8e7d87efbf493fc232d7 54745aa258c6417b0a92 59a71c242689ffab6ef2 94e0fdfc8287d55db563
        f5ae994f52ec32698b38 c3841db86a3686bd9f6c fd4dc6438510840c1cfa c9e90de9ff94485c936c 8685c7f938f6b9cbe46e
        57963c746675ba8682fe cf7309e5eb1ada90a655 2541bea05cf389be7193 bac1cc88269257d2c0e6 0123ee3dfb747320abcd
        f56615799fb24422d92c 3ff83771dab8fa1cac67 310ab7ce696912f6e52d e7fecace8fd7a13eb5ef 3e41780bd807428a9fb1
        9ff94fc105d20ce82a12 6a0d2f295bc010211eb5 21eb6bc32732db915a57 73b7ea4d2a3c9833bec0 a5e0585c616a3df111f4
        85339ba1f8b4db67cc70 685d603ada0ef39c2205 0cb60da332e3a6018d4b 7c69fc7f4669f7336108 bd38e298fe310e8d48dd
    """.split(),
}


def test_example_sweep_keeps_its_point_keys(tmp_path):
    (tmp_path / "stub_arch.yaml").write_text(STUB_ARCH)
    data = {**yaml.safe_load(OLD_SWEEP_BERT), "arch": "stub_arch.yaml"}
    points = expand_points(parse_sweep(data, tmp_path / "sweep_bert.yaml"))
    assert [p.key for p in points] == OLD_KEYS["sweep_bert"]
    assert [p.index for p in points] == list(range(len(points)))


def _keys(tmp_path, fixed, axes):
    (tmp_path / "stub_arch.yaml").write_text(STUB_ARCH)
    data = {"name": "k", "arch": "stub_arch.yaml", "fixed": fixed, "axes": axes}
    return [p.key for p in expand_points(parse_sweep(data, tmp_path / "k.yaml"))]


def test_same_point_written_differently_has_one_key(tmp_path):
    base = _keys(tmp_path, {"model": "bert-base", "seq_len": 128}, {"density": [0.5]})
    assert _keys(tmp_path, {"model": "bert-base"}, {"density": [0.5]}) == base  # default seq_len filled in
    assert _keys(tmp_path, {"seq_len": 128, "model": "bert-base"}, {"density": [0.5]}) == base  # key order


@pytest.mark.parametrize(("fixed", "axes"), [
    ({"model": "bert-base", "seq_len": 64}, {"density": [0.5]}),
    ({"model": "bert-large"}, {"density": [0.5]}),
    ({"model": "bert-base"}, {"density": [0.25]}),
    ({"model": "bert-base", "butterfly_lanes": 8}, {"density": [0.5]}),
])
def test_any_different_input_changes_the_key(tmp_path, fixed, axes):
    assert _keys(tmp_path, fixed, axes) != _keys(tmp_path, {"model": "bert-base"}, {"density": [0.5]})


def test_arch_text_is_in_the_key(tmp_path):
    before = _keys(tmp_path, {"model": "bert-base"}, {"density": [0.5]})
    (tmp_path / "stub_arch.yaml").write_text(STUB_ARCH + "# edited\n")
    data = {"name": "k", "arch": "stub_arch.yaml", "fixed": {"model": "bert-base"}, "axes": {"density": [0.5]}}
    assert [p.key for p in expand_points(parse_sweep(data, tmp_path / "k.yaml"))] != before

"""Sweep YAML validation, point expansion and the Pareto front (no mapping: fast)."""

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecim.errors import InputError
from sparsecim.studies.sweep.results import pareto_mask
from sparsecim.studies.sweep.spec import Range, expand_points, load_sweep, parse_sweep

TINY = {"name": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2, "head_dim": 16, "d_ff": 64, "max_seq_len": 64}


def _write(folder, data, name="sweep.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    "data, message",
    [
        ({"axes": {"density": [0.5]}, "workers": 2}, "unknown key 'workers'"),
        ({"axes": {"densty": [0.5]}}, "unknown key 'densty'"),
        ({"axes": {"butterfly_lane": [8]}}, "nor a spec variable of isscc23_16_2"),
        ({"axes": {"density": []}}, "axis 'density' is empty"),
        ({"axes": {}}, "axes must be a non-empty mapping"),
        ({"axes": {"density": [1.5]}}, "density 1.5 outside [0, 1]"),
        ({"axes": {"sparsity": [1.0]}}, "sparsity 1 outside [0, 1)"),
        ({"axes": {"seq_len": [0]}}, "seq_len must be an integer >= 1"),
        ({"axes": {"seq_len": [12.5]}}, "seq_len must be an integer >= 1"),
        ({"axes": {"model": ["bert-huge"]}}, "unknown model 'bert-huge'"),
        ({"axes": {"model": [{**TINY, "n_layer": 2}]}}, "unknown shape key 'n_layer'"),
        ({"axes": {"model": [{**TINY, "d_model": -1}]}}, "d_model must be a positive integer"),
        ({"axes": {"scheme": ["sparse"]}}, "scheme 'sparse' unknown"),
        ({"axes": {"prune": ["magnitud:0.5"]}}, "unknown pruning method"),
        ({"axes": {"span_mass": [0.0]}}, "span_mass 0 outside (0, 1]"),
        ({"axes": {"weights": ["missing.safetensors"]}}, "file not found: missing.safetensors"),
        ({"axes": {"density": [0.5], "sparsity": [0.5]}}, "only one of density, sparsity, prune"),
        ({"fixed": {"density": 0.5}, "axes": {"density": [0.25]}}, "'density' is both fixed and an axis"),
        ({"axes": {"voltage": [[0.8]]}}, "must be a number, boolean or string"),
        ({"axes": {"n_macros": {"low": 9, "high": 36}}}, "a grid range needs num"),
        ({"axes": {"n_macros": {"low": 36, "high": 9, "num": 3}}}, "need finite low <= high"),
        ({"axes": {"n_macros": {"low": 9, "high": 36, "num": 3, "step": 2}}}, "unknown range key 'step'"),
        ({"mode": "random", "axes": {"density": [0.5]}}, "mode random needs n"),
        ({"mode": "random", "n": 5, "axes": {"density": {"low": 0.1, "high": 0.9, "num": 3}}}, "num is for grid mode"),
        ({"mode": "exhaustive", "axes": {"density": [0.5]}}, "mode must be 'grid' or 'random'"),
        ({"n": 5, "axes": {"density": [0.5]}}, "n is for mode random"),
        ({"axes": {"density": [0.5]}, "pareto": {"x": "area", "y": "TOPS"}}, "pareto metric 'area' unknown"),
        ({"axes": {"density": [0.5]}, "pareto": {"x": "TOPS", "y": "TOPS"}}, "pareto x and y are both"),
        ({"axes": {"density": [0.5]}, "arch": "no_such_arch"}, "unknown architecture 'no_such_arch'"),
        ("axes: [density\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_bad_sweep_yaml_is_one_line_input_error(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_sweep(path)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="sweep file not found"):
        load_sweep(tmp_path / "nope.yaml")


def test_grid_expansion_order_and_ranges(tmp_path):
    spec = load_sweep(
        _write(
            tmp_path,
            {
                "fixed": {"model": TINY, "seq_len": 32},
                "axes": {"density": [0.25, 0.5], "n_macros": {"low": 9, "high": 36, "num": 3, "log": True, "integer": True}},
            },
        )
    )
    points = expand_points(spec)
    assert [(p.inputs["density"], p.inputs["n_macros"]) for p in points] == [
        (0.25, 9), (0.25, 18), (0.25, 36), (0.5, 9), (0.5, 18), (0.5, 36)
    ]  # geometric 9..36 in 3 steps: 9, 18, 36; last axis fastest
    assert [p.index for p in points] == list(range(6))
    assert len({p.key for p in points}) == 6
    assert points[0].inputs["model"]["n_layers"] == 1 and points[0].inputs["batch"] == 1  # defaults filled
    assert spec.output == tmp_path / "sweep_results"


def test_key_ignores_how_defaults_are_given_and_follows_the_arch_file(tmp_path):
    a = expand_points(parse_sweep({"axes": {"density": [0.5]}}, tmp_path / "a.yaml"))
    b = expand_points(parse_sweep({"fixed": {"seq_len": 128, "model": "BERT"}, "axes": {"density": [0.5]}}, tmp_path / "b.yaml"))
    c = expand_points(parse_sweep({"fixed": {"seq_len": 64}, "axes": {"density": [0.5]}}, tmp_path / "c.yaml"))
    assert a[0].key == b[0].key != c[0].key
    from sparsecim.mapping.arch import find_arch

    arch_copy = tmp_path / "my_arch.yaml"
    arch_copy.write_text(find_arch("isscc23_16_2")[1].read_text() + "\n# edited\n")
    d = expand_points(parse_sweep({"arch": "my_arch.yaml", "axes": {"density": [0.5]}}, tmp_path / "d.yaml"))
    assert d[0].key != a[0].key


def test_random_mode_is_reproducible_and_within_ranges(tmp_path):
    data = {
        "mode": "random",
        "n": 40,
        "seed": 7,
        "axes": {"density": {"low": 0.1, "high": 0.9}, "butterfly_lanes": [4, 8, 16], "n_macros": {"low": 9, "high": 72, "integer": True, "log": True}},
    }
    first = expand_points(parse_sweep(data, tmp_path / "r.yaml"))
    again = expand_points(parse_sweep(data, tmp_path / "r.yaml"))
    other = expand_points(parse_sweep({**data, "seed": 8}, tmp_path / "r.yaml"))
    assert [p.key for p in first] == [p.key for p in again] != [p.key for p in other]
    assert len(first) == 40  # continuous density: no duplicate points
    assert all(0.1 <= p.inputs["density"] <= 0.9 for p in first)
    assert {p.inputs["butterfly_lanes"] for p in first} <= {4, 8, 16}
    assert all(isinstance(p.inputs["n_macros"], int) and 9 <= p.inputs["n_macros"] <= 72 for p in first)


def test_range_samples_hit_integer_ends():
    values = Range(1, 3, integer=True).sample(np.random.default_rng(0), 3000)
    counts = np.bincount(values)[1:]
    assert set(values) == {1, 2, 3} and counts.min() > 800  # ends as likely as the middle (~1000 each)


def test_pareto_mask_by_hand():
    # (x, y), both minimised:  A(1,5) B(2,3) C(3,4) D(4,1) E(2,3) F(5,5) G(nan,0)
    x = [1, 2, 3, 4, 2, 5, math.nan]
    y = [5, 3, 4, 1, 3, 5, 0]
    assert pareto_mask(x, y).tolist() == [True, True, False, True, True, False, False]
    # Maximise y instead: A(1,5) is best in both senses of its own; F(5,5) is dominated by A.
    assert pareto_mask(x, y, "min", "max").tolist() == [True, False, False, False, False, False, False]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25), st.sampled_from(["min", "max"]))
def test_pareto_mask_matches_definition(pairs, y_goal):
    x = np.array([p[0] for p in pairs], float)
    y = np.array([p[1] for p in pairs], float)
    mask = pareto_mask(x, y, "min", y_goal)
    ys = y if y_goal == "min" else -y
    for i in range(len(x)):
        dominated = any(x[j] <= x[i] and ys[j] <= ys[i] and (x[j] < x[i] or ys[j] < ys[i]) for j in range(len(x)))
        assert mask[i] == (not dominated)


def test_schedule_order_spreads_points_that_share_einsums(tmp_path):
    from sparsecim.studies.sweep.execute import schedule_order

    deeper = {**TINY, "name": "tiny-2", "n_layers": 2}
    # i = density*4 + lanes*2 + model: models differing only in depth share every Einsum, so the
    # depth-2 points (odd i) follow; the rest alternate between lane counts (different arch).
    spec = parse_sweep({"fixed": {"seq_len": 32}, "axes": {"density": [0.2, 0.5], "butterfly_lanes": [4, 8], "model": [TINY, deeper]}}, tmp_path / "s.yaml")
    assert [p.index for p in schedule_order(expand_points(spec))] == [0, 2, 4, 6, 1, 3, 5, 7]
    # i = lanes*2 + density: all distinct; round-robin over the two architectures.
    spec = parse_sweep({"fixed": {"model": TINY}, "axes": {"butterfly_lanes": [4, 8], "density": [0.2, 0.5]}}, tmp_path / "s.yaml")
    assert [p.index for p in schedule_order(expand_points(spec))] == [0, 2, 1, 3]

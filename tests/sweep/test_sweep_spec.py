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
        ({"axes": {"density": [0.5]}, "workers": 2}, "sweep.yaml: unknown key 'workers' (known: name, arch, mode"),
        ({"axes": {"densty": [0.5]}}, "axes: unknown key 'densty': not an input"),
        ({"axes": {"butterfly_lane": [8]}}, "axes: unknown key 'butterfly_lane': not an input (model, seq_len"),
        ({"axes": {"butterfly_lane": [8]}}, "nor a spec variable of isscc23_16_2 (tech_node"),
        ({"axes": {"density": []}}, "axes.density: List should have at least 1 item"),
        ({"axes": {}}, "axes: give at least one axis"),
        ({"fixed": {"density": 0.5}}, "missing required key 'axes'"),
        ({"axes": {"density": [1.5]}}, "axes.density.0: density 1.5 outside [0, 1] (got 1.5)"),
        ({"axes": {"density": ["half"]}}, "axes.density.0: density must be a number in [0, 1], got 'half'"),
        ({"axes": {"sparsity": [1.0]}}, "axes.sparsity.0: Input should be less than 1 (got 1.0)"),
        ({"axes": {"seq_len": [0]}}, "axes.seq_len.0: Input should be greater than or equal to 1 (got 0)"),
        ({"axes": {"seq_len": [12.5]}}, "axes.seq_len.0: Input should be a valid integer (got 12.5)"),
        ({"fixed": {"batch": "2"}, "axes": {"density": [0.5]}}, "fixed.batch: Input should be a valid integer (got '2')"),
        ({"axes": {"model": ["bert-huge"]}}, "axes.model.0: unknown model 'bert-huge'"),
        ({"axes": {"model": [{**TINY, "n_layer": 2}]}}, "axes.model.0: unknown key 'n_layer' (known: name, n_layers"),
        ({"axes": {"model": [{**TINY, "d_model": -1}]}}, "axes.model.0: model 'tiny': d_model must be a positive integer"),
        ({"fixed": {"model": {"name": "x", "n_layers": 1}}, "axes": {"density": [0.5]}}, "fixed.model: missing required key 'd_model'"),
        ({"axes": {"scheme": ["sparse"]}}, "axes.scheme.0: Input should be 'chip', 'dense', 'block' or 'ideal' (got 'sparse')"),
        ({"axes": {"prune": ["magnitud:0.5"]}}, "axes.prune.0: unknown pruning method 'magnitud'"),
        ({"axes": {"prune_method": ["nm"]}, "fixed": {"sparsity": 0.5}}, "axes.prune_method.0: Input should be 'magnitude', 'global' or 'hybrid'"),
        ({"axes": {"prune_method": ["global"]}}, "axes.prune_method: applies to sparsity"),
        ({"axes": {"span_mass": [0.0]}}, "axes.span_mass.0: Input should be greater than 0 (got 0.0)"),
        ({"axes": {"span_mass": [0.9]}, "fixed": {"spans": "measure"}}, "fixed.spans: give only one of span_mass, spans (got span_mass, spans)"),
        ({"axes": {"kv_reuse": ["yes"]}}, "axes.kv_reuse.0: Input should be a valid boolean (got 'yes')"),
        ({"axes": {"weights": ["missing.safetensors"]}}, "axes.weights.0: file not found (got 'missing.safetensors')"),
        ({"axes": {"density": [0.5], "sparsity": [0.5]}}, "axes.sparsity: give only one of density, sparsity, prune (got density, sparsity)"),
        ({"fixed": {"density": 0.5}, "axes": {"density": [0.25]}}, "axes.density: also given in fixed"),
        ({"axes": {"voltage": [[0.8]]}}, "axes.voltage.0: a spec variable is a finite number, a boolean or a plain name"),
        ({"axes": {"bank_rows": {"low": 9, "high": 36}}}, "axes.bank_rows: a grid range needs num"),
        ({"axes": {"bank_rows": {"low": 36, "high": 9, "num": 3}}}, "axes.bank_rows: need low <= high, got 36..9"),
        ({"axes": {"bank_rows": {"low": 0, "high": 9, "num": 3, "log": True}}}, "axes.bank_rows: a log range needs low > 0"),
        ({"axes": {"bank_rows": {"low": 9, "high": 36, "num": 3, "step": 2}}}, "axes.bank_rows: unknown key 'step' (known: low, high, num, log, integer)"),
        ({"axes": {"bank_rows": {"low": 9, "high": ".inf", "num": 3}}}, "axes.bank_rows.high: Input should be a valid number"),
        ({"axes": {"seq_len": {"low": 0, "high": 64, "num": 3}}}, "axes.seq_len.0: Input should be greater than or equal to 1 (got 0)"),
        ({"mode": "random", "n": 5, "axes": {"density": {"low": 0.5, "high": 2}}}, "axes.density: density 2 outside [0, 1]"),
        ({"mode": "random", "axes": {"density": [0.5]}}, "sweep.yaml: n: required in mode random"),
        ({"mode": "random", "n": 5, "axes": {"density": {"low": 0.1, "high": 0.9, "num": 3}}}, "axes.density: num is for grid mode"),
        ({"mode": "exhaustive", "axes": {"density": [0.5]}}, "mode: Input should be 'grid' or 'random' (got 'exhaustive')"),
        ({"n": 5, "axes": {"density": [0.5]}}, "sweep.yaml: n: only for mode random"),
        ({"mode": "random", "n": 0, "axes": {"density": [0.5]}}, "sweep.yaml: n: Input should be greater than or equal to 1 (got 0)"),
        ({"seed": True, "axes": {"density": [0.5]}}, "sweep.yaml: seed: Input should be a valid integer (got True)"),
        ({"axes": {"density": [0.5]}, "pareto": {"x": "area", "y": "TOPS"}}, "pareto.x: unknown metric; use one of energy_chip_J"),
        ({"axes": {"density": [0.5]}, "pareto": {"x": "TOPS", "y": "TOPS"}}, "pareto: x and y are both 'TOPS'"),
        ({"axes": {"density": [0.5]}, "pareto": {"x": "TOPS", "z": "TOPS"}}, "pareto: unknown key 'z' (known: x, y, x_goal, y_goal)"),
        ({"axes": {"density": [0.5]}, "pareto": {"y_goal": "up"}}, "pareto.y_goal: Input should be 'min' or 'max' (got 'up')"),
        ({"axes": {"density": [0.5]}, "output": "  "}, "sweep.yaml: output: must not be blank"),
        ({"axes": {"density": [0.5]}, "retry_errors": "yes"}, "sweep.yaml: retry_errors: Input should be a valid boolean (got 'yes')"),
        ({"axes": {"density": [0.5]}, "arch": "no_such_arch"}, "unknown architecture 'no_such_arch'"),
        ({"axes": {"density": [0.5]}, "arch": 5}, "sweep.yaml: arch: Input should be a valid string (got 5)"),
        ("axes: [density\n", "not valid YAML"),
        ("- 1\n- 2\n", "sweep.yaml: Input should be a valid dictionary"),
    ],
)
def test_bad_sweep_yaml_is_one_line_input_error(tmp_path, data, message):
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_sweep(path)
    text = str(info.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize(
    "value",
    [
        "(__import__('os').system('touch pwned'))",
        "__import__('os').system('touch pwned')",
        "open('pwned', 'w')",
        "1 + 2",
        "'quoted'",
        "two words",
        "bfly_lanes\n",
        "",
        None,
        [8, 16],
        {"a": 1},
        float("nan"),
        float("inf"),
    ],
)
def test_spec_variable_values_are_numbers_booleans_or_plain_names(tmp_path, monkeypatch, value):
    """Spec-variable values reach AccelForge's expression evaluator as Python: anything but a
    number, a boolean or a plain name is refused before anything runs."""
    monkeypatch.chdir(tmp_path)
    for data, where in (
        ({"fixed": {"butterfly_lanes": value}, "axes": {"density": [0.5]}}, "fixed.butterfly_lanes"),
        ({"axes": {"butterfly_lanes": [8, value]}}, "axes.butterfly_lanes.1"),
    ):
        with pytest.raises(InputError) as info:
            load_sweep(_write(tmp_path, data))
        assert f"{where}: a spec variable is a finite number, a boolean or a plain name" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.yaml"]  # nothing ran, nothing was written


def test_spec_variable_payload_in_a_sweep_file_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, "axes:\n  butterfly_lanes: [8, \"(__import__('os').system('touch pwned'))\"]\n")
    with pytest.raises(InputError, match=r"axes\.butterfly_lanes\.1: a spec variable is .* \(got \"\(__import__"):
        load_sweep(path)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.yaml"]


def test_spec_variable_values_that_are_allowed(tmp_path):
    spec = parse_sweep(
        {"fixed": {"butterfly_enabled": False, "voltage": 0.8, "tech_node": "n28.low_power"}, "axes": {"butterfly_lanes": [8, 16.0]}},
        tmp_path / "s.yaml",
    )
    assert spec.fixed == {"butterfly_enabled": False, "voltage": 0.8, "tech_node": "n28.low_power"}
    assert spec.axes == {"butterfly_lanes": [8, 16.0]}  # values as given (types kept: they are in the point keys)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="sweep file not found"):
        load_sweep(tmp_path / "nope.yaml")


def test_grid_expansion_order_and_ranges(tmp_path):
    spec = load_sweep(
        _write(
            tmp_path,
            {
                "fixed": {"model": TINY, "seq_len": 32},
                "axes": {"density": [0.25, 0.5], "module_lanes": {"low": 9, "high": 36, "num": 3, "log": True, "integer": True}},
            },
        )
    )
    points = expand_points(spec)
    assert [(p.inputs["density"], p.inputs["module_lanes"]) for p in points] == [
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
        "axes": {"density": {"low": 0.1, "high": 0.9}, "butterfly_lanes": [4, 8, 16], "bank_rows": {"low": 9, "high": 72, "integer": True, "log": True}},
    }
    first = expand_points(parse_sweep(data, tmp_path / "r.yaml"))
    again = expand_points(parse_sweep(data, tmp_path / "r.yaml"))
    other = expand_points(parse_sweep({**data, "seed": 8}, tmp_path / "r.yaml"))
    assert [p.key for p in first] == [p.key for p in again] != [p.key for p in other]
    assert len(first) == 40  # continuous density: no duplicate points
    assert all(0.1 <= p.inputs["density"] <= 0.9 for p in first)
    assert {p.inputs["butterfly_lanes"] for p in first} <= {4, 8, 16}
    assert all(isinstance(p.inputs["bank_rows"], int) and 9 <= p.inputs["bank_rows"] <= 72 for p in first)


def test_range_samples_hit_integer_ends():
    values = Range(low=1, high=3, integer=True).sample(np.random.default_rng(0), 3000)
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

"""The chip's dense run on the real all-MiniLM-L6-v2 shapes, through the CLI as a user runs it."""

import json
import subprocess
import sys

import pytest

from sparsecim.mapping.arch import find_arch
from sparsecim.workload.einsums import analytic_macs
from sparsecim.workload.shapes import preset

PEAK_BFLY_TOPS_AT_220MHZ = 1.31 * 220 / 320  # spec table: BFLY-engine peak at 320 MHz, scaled to the default clock
PUBLISHED_DIE_MM2 = 3.93


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def dense_run(minilm_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results.json"
    proc = _cli("run", "--weights", minilm_file, "--seq-len", "128", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def test_table_printed(dense_run):
    proc, _ = dense_run
    for word in ("q_proj", "ffn_down", "softmax", "BflyMac", "TOPS/W", "mm2"):
        assert word in proc.stdout


def test_mac_count_equals_analytic(dense_run):
    _, data = dense_run
    assert data["summary"]["dense_equivalent_ops"] == 2 * analytic_macs(preset("all-minilm-l6-v2"), 128)
    assert sum(e["operations"] for e in data["einsums"] if e["form"] != "softmax") == analytic_macs(preset("all-minilm-l6-v2"), 128)


def test_energy_is_sum_of_components(dense_run):
    _, data = dense_run
    total = sum(data["energy_by_component_J"].values())
    assert data["summary"]["energy_system_J"] == pytest.approx(total, rel=1e-9)
    assert data["offchip_components"] == ["OffChip"]  # read from the arch: the memory of unbounded size
    assert data["summary"]["energy_chip_J"] == pytest.approx(total - data["energy_by_component_J"]["OffChip"], rel=1e-9)
    for comp in ("BflyMac", "WeightArray", "ActivationMemory", "NonLinear", "LarMac", "KvCache", "OffChip"):
        assert data["energy_by_component_J"][comp] > 0, comp
    # Dense weights bypass the butterfly router and decoder, which are power-gated meanwhile.
    for comp in ("BflyRouting", "BflyDecoder"):
        assert data["energy_by_component_J"].get(comp, 0.0) == 0.0, comp


def test_numbers_within_published_bounds(dense_run):
    _, data = dense_run
    s = data["summary"]
    # A dense projection cannot beat the BFLY engine's peak; with off-chip weights streaming in it runs
    # well below it (the weights never fit on chip).
    for e in data["einsums"]:
        if e["kind"] in ("q_proj", "ffn_up", "ffn_down"):
            tops = 2 * e["operations"] / e["latency_s"] / 1e12
            assert 0.02 * PEAK_BFLY_TOPS_AT_220MHZ < tops <= 1.01 * PEAK_BFLY_TOPS_AT_220MHZ, e["kind"]
    # Dense chip efficiency lies below the table's sparse upper end.
    assert 0.5 < s["TOPS_per_W_chip"] < 25.22
    # Modelled components leave room for pads / control on the 3.93 mm2 die.
    assert 0.2 * PUBLISHED_DIE_MM2 < s["area_mm2"] < PUBLISHED_DIE_MM2


def test_specs_are_installed_package_data():
    name, path = find_arch("isscc23_16_2")
    # Resolved inside the installed package (sparsecim/arch/...), not from a source checkout path.
    assert path.is_file() and path.parent.name == "arch" and path.parent.parent.name == "sparsecim"


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--seq-len", "0"], "seq_len: Input should be greater than or equal to 1"),
        (["run", "--model", "no-such-model"], "unknown model"),
        (["run", "--arch", "missing.yaml"], "not found"),
        (["run", "--set", "voltage"], "name=value"),
        (["run", "--set", "not_a_variable=1"], "unknown spec variable"),
        (["run", "--weights", "missing.safetensors"], "not found"),
        (["run", "--out", "results.txt"], ".json or .csv"),
        (["run", "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_malformed_arch_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch:\n  nodes:\n  - !Memory\n    name: [unclosed\n")
    proc = _cli("run", "--arch", str(bad), "--model", "all-minilm-l6-v2", "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr

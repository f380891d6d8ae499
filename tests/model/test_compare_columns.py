"""`compare` compares like with like (issue 11 section 3): chip and system energy apart, a scope per
design read from its arch, missing values missing (not 0), notes in full, a bottleneck that follows the
off-chip bandwidth, the chip's published default spans, a table that fits 80 columns.

Small on purpose: all-MiniLM-L6-v2's shape at 32 tokens, statistical masks, four designs."""

import csv
import json
import os
import subprocess
import sys

import pytest

DESIGNS = "chip,chip-no-LAR,nvdla,sinangil_jssc_2021"
WORKLOAD = ("--model", "all-minilm-l6-v2", "--seq-len", "32", "--density", "0.25")


def _cli(*args, cwd, columns=80):
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare-columns")
    proc = _cli("compare", *WORKLOAD, "--only", DESIGNS, "--out", "c.csv", "--plot", "c.png", "--quiet", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    with open(folder / "c.csv", newline="") as f:
        rows = {r["design"]: r for r in csv.DictReader(f)}
    return folder, proc.stdout, rows


def test_every_design_ran(run):
    _, _, rows = run
    assert set(rows) == set(DESIGNS.split(","))
    for name, r in rows.items():
        assert r["error"] == "" and r["latency_s"], name


def test_scope_is_read_from_the_arch(run):
    _, _, rows = run
    assert rows["chip"]["scope"] == "system"  # the chip's arch has its OffChip link
    assert rows["nvdla"]["scope"] == "system"  # DRAM with energies in the YAML (its area models fail)
    assert rows["sinangil_jssc_2021"]["scope"] == "macro"  # CiMLoop macro: zero-cost Dummy backing store


def test_system_energy_covers_chip_energy(run):
    _, _, rows = run
    for name, r in rows.items():
        chip = float(r["energy_chip_J"])
        assert chip > 0, name
        if r["scope"] == "system":
            assert float(r["energy_system_J"]) > chip, name  # the off-chip memory costs something
            assert float(r["system_J_per_token"]) > float(r["chip_J_per_token"]), name
        else:
            assert r["energy_system_J"] == "" and r["system_J_per_token"] == "", name  # not modelled: missing, not chip


def test_nvdla_dram_counts_off_chip(run):
    """nvdla's area models fail; its DRAM must still be off chip, not in the chip energy."""
    _, _, rows = run
    r = rows["nvdla"]
    assert float(r["energy_MainMemory_J"]) > 0
    assert float(r["energy_system_J"]) - float(r["energy_chip_J"]) == pytest.approx(float(r["energy_MainMemory_J"]), rel=1e-9)


def test_missing_area_is_empty_not_zero(run):
    _, _, rows = run
    nvdla = rows["nvdla"]
    assert nvdla["area_mm2"] == "" and nvdla["area_mm2_at_28nm"] == ""
    assert "area unavailable" in nvdla["notes"]
    assert float(rows["chip"]["area_mm2"]) > 0 and float(rows["sinangil_jssc_2021"]["area_mm2"]) > 0


def test_notes_are_complete_in_the_csv(run):
    from sparsecim.request import RunRequest, SparsitySource
    from sparsecim.studies.compare import default_designs, outcome_notes, run_compare

    _, _, rows = run
    designs = [d for d in default_designs() if d.name in ("sinangil_jssc_2021", "nvdla")]
    request = RunRequest(model="all-minilm-l6-v2", seq_len=32, sparsity=SparsitySource(density=0.25))
    for o in run_compare(request, designs):  # the CLI's mappings, from the same cache
        cell = rows[o.design.name]["notes"]
        assert cell == "; ".join(outcome_notes(o))
        for note in o.result.notes:
            assert note in cell, (o.design.name, note)
    macro = rows["sinangil_jssc_2021"]
    assert "softmax not supported by this design, excluded" in macro["notes"]
    assert len(macro["notes"]) > 200  # the table used to cut notes at 60-90 characters
    assert macro["runs_softmax"] == "False" and rows["chip"]["runs_softmax"] == "True"


def test_chip_gets_published_default_spans(run):
    _, out, rows = run
    chip, no_lar = rows["chip"], rows["chip-no-LAR"]
    assert "published default" in chip["spans"] and "span 32" in chip["spans"]
    assert no_lar["spans"] == ""  # the ablation runs dense attention
    assert float(chip["energy_chip_J"]) < float(no_lar["energy_chip_J"])  # the LAR engine now has spans to use
    assert float(chip["executed_macs"]) < float(no_lar["executed_macs"])
    assert "published default" in out


def test_bottleneck_columns_add_up(run):
    _, _, rows = run
    for name, r in rows.items():
        parts = [float(r[k]) for k in ("latency_compute_bound_s", "latency_onchip_bound_s", "latency_offchip_bound_s")]
        assert sum(parts) == pytest.approx(float(r["latency_s"]), rel=1e-9), name
        assert r["bottleneck"] in ("compute", "on-chip bandwidth", "off-chip bandwidth"), name
    assert rows["sinangil_jssc_2021"]["bottleneck"] == "compute"  # weights stay in the macro: nothing off chip


def test_bottleneck_follows_offchip_bandwidth(run, tmp_path):
    _, _, rows = run
    assert rows["chip"]["bottleneck"] == "off-chip bandwidth"  # the published link speed
    proc = _cli("compare", *WORKLOAD, "--only", "chip", "--set", "offchip_gbps=100000", "--out", "fast.json", "--plot", "fast.png",
                "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (fast,) = json.loads((tmp_path / "fast.json").read_text())
    assert fast["bottleneck"] != "off-chip bandwidth"
    assert fast["latency_s"] < float(rows["chip"]["latency_s"])
    assert fast["energy_system_J"] is not None and fast["area_mm2"] is not None  # JSON: missing would be null


def test_table_fits_80_columns(run):
    _, out, _ = run
    lines = [line for line in out.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    header = next(line for line in lines if line.startswith("design"))
    for col in ("scope", "chip/tok", "sys/tok", "latency", "bound", "TOPS/W"):
        assert col in header
    for name in DESIGNS.split(","):
        assert any(line.startswith(name + " ") for line in lines), name  # one line per design, name not cut
    assert "ran without softmax" in out and "area unavailable" in out


def test_plot_status_is_per_design(run):
    from sparsecim.report.plots import _status_lines

    folder, _, rows = run
    assert (folder / "c.png").stat().st_size > 20_000
    parsed = []
    for r in rows.values():
        parsed.append({**r, "latency_s": float(r["latency_s"]), "runs_softmax": r["runs_softmax"] == "True",
                       "area_mm2": float(r["area_mm2"]) if r["area_mm2"] else None, "tech_nm": float(r["tech_nm"])})
    lines = {line.split()[0]: line for line in _status_lines(parsed) if line.split() and line.split()[0] in rows}
    assert "NO" in lines["sinangil_jssc_2021"].split() and "n/a" in lines["nvdla"].split()
    assert "ran" in lines["chip"].split() and "yes" in lines["chip"].split()

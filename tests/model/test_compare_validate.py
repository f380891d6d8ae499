"""`compare` and `validate` on the real all-MiniLM-L6-v2, as a user runs them (CLI)."""

import csv
import subprocess
import sys

import pytest

from sparsecim.studies.validate import load_published


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def compare_rows(minilm_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    designs = "chip,chip-both-off,dense-CIM,block-sparse-CIM,simba,tpu_v4i"
    proc = _cli(
        "compare", "--weights", minilm_file, "--prune", "hybrid:0.75:scope=matrix", "--only", designs,  # hybrid: equal shapes across layers, few distinct Einsums
        "--out", "c.csv", "--plot", "c.png", "--quiet", cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    assert (folder / "c.png").stat().st_size > 10_000
    with open(folder / "c.csv") as f:
        return {r["design"]: r for r in csv.DictReader(f)}


def test_at_least_four_designs_ran(compare_rows):
    ran = [r for r in compare_rows.values() if r.get("energy_system_J")]
    assert len(ran) >= 4


def test_energy_is_sum_of_breakdown(compare_rows):
    for name, r in compare_rows.items():
        if not r.get("energy_system_J"):
            continue
        parts = sum(float(v) for k, v in r.items() if k.startswith("energy_") and k.endswith("_J") and v and k not in
                    ("energy_system_J", "energy_chip_J", "energy_per_token_J", "energy_chip_J_at_28nm"))
        assert parts == pytest.approx(float(r["energy_system_J"]), rel=1e-6), name


def test_dense_equivalent_operations_equal_across_designs(compare_rows):
    ops = {name: int(float(r["dense_equivalent_ops"])) for name, r in compare_rows.items() if r.get("dense_equivalent_ops")}
    assert len(set(ops.values())) == 1, ops


def test_chip_with_both_engines_off_equals_dense_cim(compare_rows):
    off, dense = compare_rows["chip-both-off"], compare_rows["dense-CIM"]
    for key in ("energy_system_J", "energy_chip_J", "latency_s", "area_mm2", "executed_macs"):
        assert float(off[key]) == pytest.approx(float(dense[key]), rel=1e-9), key
    chip = compare_rows["chip"]
    assert float(chip["energy_chip_J"]) < float(dense["energy_chip_J"])  # 75 % sparse weights pay off


def test_scaled_columns_only_where_node_known(compare_rows):
    assert float(compare_rows["chip"]["TOPS_per_W_chip_at_28nm"]) == pytest.approx(
        float(compare_rows["chip"]["TOPS_per_W_chip"]))  # already 28 nm
    tpu = compare_rows["tpu_v4i"]
    assert float(tpu["TOPS_per_W_chip_at_28nm"]) < float(tpu["TOPS_per_W_chip"])  # 7 nm scaled up to 28 nm costs energy


def test_validate_report_lists_every_spec_table_figure(tmp_path):
    proc = _cli("validate", "--out", "val", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "val" / "validation.csv") as f:
        rows = {r["figure"]: r for r in csv.DictReader(f)}
    table = load_published()["spec_table"]
    for key in ("imc_8t_kb", "imc_10t_bfly_kb", "buffer_kb", "die_area", "area_efficiency_tops_per_mm2",
                "peak_performance_tops.bfly_engine", "peak_performance_tops.lar_engine",
                "latency_ms.bert_110m_glue.excluding_offchip", "latency_ms.bert_110m_glue.including_offchip",
                "voltage_power_vs_frequency"):
        assert f"spec_table.{key}" in rows, key
    for end in ("low end", "high end"):
        for scope in ("imc_macro", "system"):
            assert f"spec_table.energy_efficiency_topsw.{scope} ({end})" in rows
    assert set(table["energy_efficiency_topsw"]) >= {"imc_macro", "system"}
    kinds = {r["kind"] for r in rows.values()}
    assert kinds <= {"independent", "calibrated", "input", "condition", "repeat", "cannot produce"}
    # Only the power curve and the latency including off-chip access were used to fit the model.
    calibrated = sorted(k for k, r in rows.items() if r["kind"] == "calibrated")
    assert calibrated == ["spec_table.latency_ms.bert_110m_glue.including_offchip", "spec_table.voltage_power_vs_frequency"]
    assert float(rows["spec_table.latency_ms.bert_110m_glue.including_offchip"]["modelled"]) == pytest.approx(154, rel=0.01)
    # The peaks come from the structure.
    for engine, published in (("bfly_engine", 1.31), ("lar_engine", 2.04)):
        assert float(rows[f"spec_table.peak_performance_tops.{engine}"]["modelled"]) == pytest.approx(published, rel=0.02)
    # Every row either has a modelled value with an error, or says why it cannot be produced.
    for key, row in rows.items():
        assert row["modelled"] or row["kind"] in ("cannot produce", "calibrated"), key
        assert row["kind"] != "cannot produce" or row["conditions"], key
    report = (tmp_path / "val" / "validation.md").read_text()
    assert report.count("| 20 | 0.64 |") == 1  # the power fit's residual per curve point

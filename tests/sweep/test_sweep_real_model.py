"""An 8-point sweep of the real all-MiniLM-L6-v2 (real weights, hybrid-pruned as the chip does) through a Dask LocalCluster
started here; rows are checked against single `api` evaluations of the same points."""

import pandas as pd
import pytest
import yaml
from distributed import LocalCluster

from sparsecim import api
from sparsecim.cli.sweep import sweep_command

SPARSITIES = [0.5, 0.75]
VOLTAGES = [0.64, 0.9]  # on the measured curve (0.64-1.03 V)
CORES = [2, 4]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, minilm_file):
    folder = tmp_path_factory.mktemp("minilm-sweep")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSECIM_CACHE_DIR", str(folder / "cache"))  # before the cluster: its workers inherit it
    spec = {
        "name": "minilm",
        "fixed": {"model": "all-minilm-l6-v2", "weights": str(minilm_file), "seq_len": 16, "prune_method": "hybrid"},  # hybrid: few distinct shapes
        "axes": {"sparsity": SPARSITIES, "voltage": VOLTAGES, "n_cores": CORES},
        "pareto": {"x": "area_mm2", "y": "energy_per_token_J"},
        "output": "out",
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GiB", dashboard_address=None) as cluster:
            sweep_command(path, scheduler=cluster.scheduler_address, cluster=None, workers=None, quiet=True)
        yield folder / "out", minilm_file
    finally:
        mp.undo()


def test_every_point_ok(swept):
    df = pd.read_parquet(swept[0] / "results.parquet")
    assert len(df) == len(SPARSITIES) * len(VOLTAGES) * len(CORES) and df["key"].is_unique and (df["status"] == "ok").all(), df.get("error")


@pytest.mark.parametrize("sparsity, voltage, cores", [(0.5, 0.64, 2), (0.75, 0.9, 4)])
def test_rows_equal_single_runs(swept, sparsity, voltage, cores):
    out, weights = swept
    df = pd.read_parquet(out / "results.parquet")
    row = df[(df["sparsity"] == sparsity) & (df["voltage"] == voltage) & (df["n_cores"] == cores)].iloc[0]
    result = api.run(None, weights=weights, seq_len=16, prune=f"hybrid:{sparsity}", variables={"voltage": voltage, "n_cores": cores}, jobs=1)
    summary = result.summary()
    for metric in ("energy_chip_J", "energy_system_J", "latency_s", "executed_macs", "TOPS_per_W_chip", "area_mm2"):
        assert row[metric] == pytest.approx(summary[metric], rel=1e-9), metric


def test_lower_voltage_saves_energy(swept):
    df = pd.read_parquet(swept[0] / "results.parquet")
    for (sparsity, cores), group in df.groupby(["sparsity", "n_cores"]):
        energy = group.sort_values("voltage")["energy_chip_J"].tolist()
        assert energy == sorted(energy), (sparsity, cores)

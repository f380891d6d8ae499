"""A 24-point sweep on a Dask LocalCluster the test starts: rows equal single api evaluations,
failing points are recorded and the sweep goes on, mapping work is shared through the cache."""

import json
import math
import os

import pandas as pd
import pytest
import yaml
from distributed import LocalCluster

from sparsecim import api
from sparsecim.cli.sweep import sweep_command
from sparsecim.workload.shapes import TransformerShape

LAYERS = range(1, 8)


def _shape(n_layers, name=None, max_seq_len=64):
    return {"name": name or f"tiny-{n_layers}", "n_layers": n_layers, "d_model": 32, "n_heads": 2, "head_dim": 16, "d_ff": 64, "max_seq_len": max_seq_len}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask-sweep")
    cache = folder / "cache"
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSECIM_CACHE_DIR", str(cache))  # before the cluster starts: its workers inherit it
    models = [_shape(n) for n in LAYERS] + [_shape(1, "too-short", max_seq_len=16)]
    spec = {
        "name": "dask-test",
        # butterfly_lanes at its default (dropped from the mapping-cache key), n_cores not.
        "fixed": {"seq_len": 32, "butterfly_lanes": 16, "n_cores": 2},
        "axes": {"model": models, "density": [0.25, 0.5, 0.75]},
        "pareto": {"x": "executed_macs", "y": "energy_per_token_J"},
        "output": "out",
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1.5GiB", dashboard_address=None) as cluster:
            sweep_command(path, scheduler=cluster.scheduler_address, cluster=None, workers=None, quiet=True)
        yield folder / "out"
    finally:
        mp.undo()


def test_every_point_once_with_inputs_and_metrics(swept):
    df = pd.read_parquet(swept / "results.parquet")
    assert len(df) == 24 and df["key"].is_unique
    assert sorted(p.stem for p in (swept / "points").glob("*.json")) == sorted(df["key"])
    assert sorted(zip(df["model"], df["density"])) == sorted((m, d) for m in [f"tiny-{n}" for n in LAYERS] + ["too-short"] for d in (0.25, 0.5, 0.75))
    csv = pd.read_csv(swept / "results.csv")
    assert list(csv["key"]) == list(df["key"])
    ok = df[df["status"] == "ok"]
    assert csv.loc[csv["status"] == "ok", "energy_system_J"].tolist() == pytest.approx(ok["energy_system_J"].tolist(), rel=1e-12)
    assert (swept / "pareto.png").stat().st_size > 1000
    # Evaluated on the cluster's two worker processes, not in this one.
    workers = {json.loads(p.read_text())["worker"].rsplit(":", 1)[1] for p in (swept / "points").glob("*.json")}
    assert len(workers) == 2 and str(os.getpid()) not in workers


def test_failing_points_have_their_error(swept):
    df = pd.read_parquet(swept / "results.parquet")
    failed = df[df["model"] == "too-short"]
    assert len(failed) == 3 and (failed["status"] == "error").all()
    assert failed["error"].str.contains("exceeds too-short's maximum of 16").all()
    assert (df.loc[df["model"] != "too-short", "status"] == "ok").all()
    assert not failed["pareto"].any()


@pytest.mark.parametrize("n_layers, density", [(1, 0.25), (4, 0.5), (7, 0.75)])
def test_rows_equal_single_api_evaluations(swept, n_layers, density):
    df = pd.read_parquet(swept / "results.parquet")
    row = df[(df["model"] == f"tiny-{n_layers}") & (df["density"] == density)].iloc[0]
    result = api.run(TransformerShape(**_shape(n_layers)), seq_len=32, density=density, variables={"n_cores": 2}, jobs=1)
    summary = result.summary()
    for metric in ("energy_chip_J", "energy_system_J", "latency_s", "executed_macs", "TOPS_per_W_chip", "area_mm2"):
        assert row[metric] == pytest.approx(summary[metric], rel=1e-12), metric
    assert row["energy_per_token_J"] == pytest.approx(summary["energy_system_J"] / 32, rel=1e-12)
    for comp, energy in result.energy_by_component_j.items():
        assert row[f"energy_J.{comp}"] == pytest.approx(energy, rel=1e-12, abs=1e-30)
    for comp, area in result.area_m2.items():
        assert row[f"area_mm2.{comp}"] == pytest.approx(area * 1e6, rel=1e-12)


def test_mapping_work_is_shared(swept):
    df = pd.read_parquet(swept / "results.parquet")
    ok = df[df["status"] == "ok"]
    # Every tiny model has 6 distinct Einsums; different layer counts share all of them.
    assert ((ok["cached_einsums"] + ok["mapped_einsums"]) == 6).all()
    distinct = 3 + 3 * 3  # attention (3) shared by all + 3 weight matmuls per density
    assert ok["mapped_einsums"].sum() >= distinct
    assert ok["cached_einsums"].sum() >= 21 * 6 - 2 * distinct  # at most a duplicate per concurrent start
    assert df.loc[df["status"] == "error", "mapped_einsums"].sum() == 0


def test_pareto_column_is_the_front(swept):
    df = pd.read_parquet(swept / "results.parquet")
    ok = df[df["status"] == "ok"]
    front = ok[ok["pareto"]]
    assert len(front) >= 1
    for _, p in ok.iterrows():
        dominated = any(
            q["executed_macs"] <= p["executed_macs"] and q["energy_per_token_J"] <= p["energy_per_token_J"]
            and (q["executed_macs"] < p["executed_macs"] or q["energy_per_token_J"] < p["energy_per_token_J"])
            for _, q in ok.iterrows()
        )
        assert p["pareto"] == (not dominated)
    assert not math.isnan(front["energy_per_token_J"].min())

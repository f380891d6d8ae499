"""A sweep killed part-way resumes without losing or repeating points; failing points are recorded."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sparsecim.errors import InputError
from sparsecim.mapping.arch import ArchRoles
from sparsecim.mapping.result import ModelResult
from sparsecim.studies.sweep import execute
from sparsecim.studies.sweep import load_sweep, run_sweep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _sweep(cwd, env):
    cmd = [sys.executable, "-m", "sparsecim.cli", "sweep", "sweep.yaml", "--workers", "2", "--quiet"]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_killed_sweep_restarts_and_every_point_is_there_once(tmp_path):
    shutil.copy(EXAMPLES / "sweep_tiny.yaml", tmp_path / "sweep.yaml")
    env = {**os.environ, "SPARSECIM_CACHE_DIR": str(tmp_path / "cache")}
    points_dir = tmp_path / "sweep_tiny_results" / "points"
    proc = _sweep(tmp_path, env)
    deadline = time.monotonic() + 180
    try:
        while not list(points_dir.glob("*.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no point finished in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes, mid-point
        proc.communicate()
    before = {p.name: p.read_bytes() for p in points_dir.glob("*.json")}
    assert 1 <= len(before) < 4, "the sweep was not killed part-way"
    assert not (tmp_path / "sweep_tiny_results" / "results.parquet").exists()

    again = _sweep(tmp_path, env)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"4 points ({len(before)} resumed, {4 - len(before)} computed" in out

    files = sorted(points_dir.glob("*.json"))
    assert len(files) == 4 and not list(points_dir.glob(".*.tmp"))
    for name, data in before.items():  # finished points were not redone
        assert (points_dir / name).read_bytes() == data
    df = pd.read_parquet(tmp_path / "sweep_tiny_results" / "results.parquet")
    assert sorted(df["key"]) == sorted(p.stem for p in files)
    assert sorted(df["density"]) == [0.25, 0.5, 0.75, 1.0]
    assert (df["status"] == "ok").all()
    assert df["energy_system_J"].gt(0).all()


def _fake_result(prepared) -> ModelResult:
    return ModelResult("isscc23_16_2", prepared.shape.name, 32, 1, rows=[], area_m2={"Chip": 2e-6}, roles=ArchRoles())


def test_failing_points_record_their_error_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """The sweep's evaluate replaced: one point raises a bug-like error, one an input error, one succeeds."""
    calls = []

    def evaluate(prepared, scheme="chip", lar=None, use_cache=True, progress=None, jobs=None, extra_variables=None):
        density = prepared.sparsity.matrices[0].density if prepared.sparsity else None
        calls.append(density)
        if len(calls) == 1:
            raise RuntimeError("boom in the mapper")
        if len(calls) == 2:
            raise InputError("a bad value\nover two lines")
        return _fake_result(prepared)

    monkeypatch.setattr(execute, "evaluate", evaluate)
    data = yaml.safe_load((EXAMPLES / "sweep_tiny.yaml").read_text())
    data["axes"] = {"density": [0.25, 0.5, 0.75]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    outcome = run_sweep(load_sweep(path), workers=1)
    assert (outcome.total, outcome.computed, outcome.errors) == (3, 3, 2)
    df = pd.read_csv(outcome.csv).sort_values("index")
    assert df["status"].tolist() == ["error", "error", "ok"]
    assert df["error"].iloc[0] == "internal error RuntimeError: boom in the mapper"
    assert df["error"].iloc[1] == "a bad value over two lines"
    assert df["area_mm2"].iloc[2] == pytest.approx(2.0)

    # Errors are results: a rerun keeps them, unless retry_errors is set.
    assert run_sweep(load_sweep(path), workers=1).computed == 0 and len(calls) == 3
    data["retry_errors"] = True
    path.write_text(yaml.safe_dump(data))
    outcome = run_sweep(load_sweep(path), workers=1)
    assert outcome.computed == 2 and outcome.errors == 0 and len(calls) == 5


def test_bad_yaml_through_the_command_is_one_line_exit_2(tmp_path):
    (tmp_path / "sweep.yaml").write_text("axes:\n  density: [0.5]\n  butterfly_lane: [8]\n")
    proc = subprocess.run([sys.executable, "-m", "sparsecim.cli", "sweep", "sweep.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'butterfly_lane'" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]  # nothing written


def test_scheduler_and_cluster_together_rejected(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("axes:\n  density: [0.5]\n")
    with pytest.raises(InputError, match="not both"):
        run_sweep(load_sweep(path), scheduler="tcp://127.0.0.1:1", cluster="local")


def test_unknown_cluster_kind_rejected_before_running(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("axes:\n  density: [0.5]\n")
    with pytest.raises(InputError, match="--cluster supports 'local'"):
        run_sweep(load_sweep(path), cluster="slurm")
    assert not (tmp_path / "sweep_results").exists()

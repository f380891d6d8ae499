"""The README's code runs as written: "Adding a component" (a hwcomponents_* package of your own, an arch
that names it, `sparsecim run` with PYTHONPATH) and "From Python" (the API snippet)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    """The README text from the heading `## title` to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def arch_default(spec: str, name: str) -> float:
    """A spec variable's default from its `{% set name = name | default(X) %}` line."""
    found = re.search(rf"{{%\s*set {name} = {name} \| default\(([^)]+)\)", spec)
    assert found, f"no default for {name} in the arch"
    return float(found.group(1))


def test_adding_a_component_runs_as_written(tmp_path):
    text = section("Adding a component")
    [package] = code_blocks(text, "python")
    [commands] = code_blocks(text, "bash")
    first = package.splitlines()[0]
    assert first.startswith("# ") and first.endswith(".py"), "the component block starts with its file name"
    target = tmp_path / first[2:].strip()
    target.parent.mkdir(parents=True)
    target.write_text(package)
    assert "hwcomponents_" in target.parent.name and "sparsecim" not in package  # a plug-in standing alone

    bin_dir = str(Path(sys.executable).parent)  # the venv: `python`, `hwc` and `sparsecim` as after `activate`
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", "-e", "-c", commands], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "lut_softmax" in proc.stdout  # `hwc --list | grep` found the class

    # The run used the user's model: NonLinear's area and energy are the class's constants (x the arch's scales).
    result = json.loads((tmp_path / "my_chip.json").read_text())
    spec = (tmp_path / "my_chip.yaml").read_text()
    assert "component_class: lut_softmax" in spec and "component_class: sparsecim_softmax" not in spec
    lanes, cores = arch_default(spec, "nonlinear_lanes"), arch_default(spec, "n_cores")
    assert result["area_m2"]["NonLinear"] == pytest.approx(cores * lanes * 2000e-12 * arch_default(spec, "area_scale"), rel=1e-6)
    softmax = [e for e in result["einsums"] if e["kind"] == "softmax"]
    others = [e for e in result["einsums"] if e["kind"] != "softmax" and e["latency_s"] > 0]
    assert softmax and others
    leak_power = others[0]["energy_by_component_J"]["NonLinear"] / others[0]["latency_s"]  # idle: leakage only
    for e in softmax:
        dynamic = e["energy_by_component_J"]["NonLinear"] - leak_power * e["latency_s"]
        expected = e["operations"] * 1.5e-12 * arch_default(spec, "dynamic_energy_scale")  # 1.5 pJ per 8-bit element
        assert dynamic == pytest.approx(expected, rel=0.01)
    assert result["energy_by_component_J"]["NonLinear"] > 0


def test_from_python_runs_as_written(tmp_path, monkeypatch):
    text = section("Using it")
    after = text[text.index("From Python"):]
    snippet = code_blocks(after, "python")[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.md (From Python)", "exec"), namespace)
    result = namespace["result"]
    assert result.model == "bert-base" and result.seq_len == 128
    table = namespace["table"]
    assert isinstance(table, pd.DataFrame) and len(table) == len(result.rows)
    assert table["energy_J"].sum() == pytest.approx(result.energy_system_j)
    saved = json.loads((tmp_path / "bert-base.json").read_text())
    assert saved["summary"]["energy_system_J"] == pytest.approx(result.energy_system_j)

"""The mapping cache: its key covers the component models, and bad entries are never trusted."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ARCH = """\
arch:
  nodes:
  - !Memory
    name: MainMemory
    size: inf
    leak_power: 0
    area: 0
    tensors: {keep: ~Intermediates, may_keep: All}
    actions:
    - {name: read, energy: 1e-12, throughput: inf}
    - {name: write, energy: 1e-12, throughput: inf}
  - !Compute
    name: PlugMac
    component_class: cachetest_mac
"""

PLUGIN = '''\
from hwcomponents import ActionCost, ComponentModel, action


class CacheTestMac(ComponentModel):
    """A MAC whose energy the test edits between runs."""

    component_name = "cachetest_mac"
    priority = 0.9

    def __init__(self):
        super().__init__(area=1e-12, leak_power=0.0)

    @action
    def compute(self) -> ActionCost:
        return ActionCost(energy={energy}, latency=1e-9, throughput=1e9)
'''


def _plugin(folder, energy):
    package = folder / "hwcomponents_cachetest"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(PLUGIN.format(energy=energy))


def _run(tmp_path, cache, *extra):
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "plugins"), "SPARSECIM_CACHE_DIR": str(cache)}
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "sparsecim.cli", "run", "--arch", str(tmp_path / "plug.yaml"), "--model", "all-minilm-l6-v2",
         "--seq-len", "8", "--quiet", "--jobs", "1", "--out", str(out), *extra],
        capture_output=True, text=True, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc


def test_editing_a_component_model_invalidates_the_cache(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plug.yaml").write_text(ARCH)
    cache = tmp_path / "cache"
    _plugin(tmp_path / "plugins", "1e-13")
    first, _ = _run(tmp_path, cache)
    entries = set(os.listdir(cache))
    _plugin(tmp_path / "plugins", "1e-11")  # 100x the energy of every MAC
    second, _ = _run(tmp_path, cache)
    mac_first = first["energy_by_component_J"]["PlugMac"]
    mac_second = second["energy_by_component_J"]["PlugMac"]
    assert mac_second == pytest.approx(100 * mac_first, rel=1e-6)
    assert set(os.listdir(cache)) > entries  # new entries, keyed by the new model code


@pytest.mark.parametrize("damage", ["nan", "negative", "zero", "garbage", "binary"])
def test_bad_cache_entries_are_recomputed_with_one_warning(tmp_path, damage):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plug.yaml").write_text(ARCH)
    cache = tmp_path / "cache"
    _plugin(tmp_path / "plugins", "1e-13")
    good, _ = _run(tmp_path, cache)
    for entry in cache.glob("*.json"):
        data = json.loads(entry.read_text())
        if damage == "nan":
            data["energy_j"] = {k: float("nan") for k in data["energy_j"]}
            entry.write_text(json.dumps(data))
        elif damage == "negative":
            data["energy_j"] = {k: -abs(v) - 1.0 for k, v in data["energy_j"].items()}
            entry.write_text(json.dumps(data))
        elif damage == "zero":
            data["energy_j"] = {k: 0.0 for k in data["energy_j"]}
            entry.write_text(json.dumps(data))
        elif damage == "garbage":
            entry.write_text("{not json")
        else:
            entry.write_bytes(b"\xff\xfe\x00binary")
    again, proc = _run(tmp_path, cache)
    assert again["summary"]["energy_system_J"] == pytest.approx(good["summary"]["energy_system_J"], rel=1e-9)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings and all("invalid mapping-cache entry" in line for line in warnings)
    assert not any(line.startswith((" ", "Traceback")) for line in proc.stderr.splitlines())


def test_unusable_cache_folder_warns_once_and_runs(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plug.yaml").write_text(ARCH)
    _plugin(tmp_path / "plugins", "1e-13")
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("I am a file")
    result, proc = _run(tmp_path, not_a_folder)
    assert result["summary"]["energy_system_J"] > 0
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "running uncached" in warnings[0]

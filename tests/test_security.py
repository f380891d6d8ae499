"""Issue 11 §1: a shared file never runs code. One test per code path, each with a payload that would
create a file if it ran; the file must not appear, and the command exits 2 with one line (or, for the
cache, recomputes with one warning).

The arch YAML is the exception by design (AccelForge renders it as an unsandboxed Jinja template): the
README says so, and the specs sparsecim ships are rendered with numbers and booleans only.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sparsecim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def payloads(marker: Path) -> list[str]:
    """Python expressions that create `marker` when evaluated (plain, wrapped, via builtins)."""
    return [
        f"__import__('os').system('touch {marker}')",
        f"(__import__('os').system('touch {marker}'))",
        f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', '{marker}'])",
        f"open('{marker}', 'w').write('x')",
    ]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code, err, marker: Path, *words):
    assert not marker.exists(), "the payload ran"
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparsecim: error:") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def work(tmp_path, monkeypatch, tiny_bert):
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(tiny_bert, folder / "model.safetensors")
    shutil.copy(tiny_bert.parent / "config.json", folder / "config.json")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def no_mapping(monkeypatch):
    """Nothing is mapped (the payload must be refused before any work)."""
    from sparsecim.mapping import mapper

    def forbidden(*_a, **_k):
        raise AssertionError("mapped before the input was checked")

    monkeypatch.setattr(mapper, "_map_uncached", forbidden)


# ---- validate --published ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_validate_published_figure_payload(index, work, tmp_path, no_mapping, monkeypatch, capsys):
    import sparsecim.studies.validate as validate

    def forbidden(*_a, **_k):
        raise AssertionError("validation ran on a payload")

    monkeypatch.setattr(validate, "validate", forbidden)
    marker = tmp_path / "pwned"
    payload = payloads(marker)[index]
    (work / "published.yaml").write_text(
        "spec_table: {technology_nm: 28}\nfigures:\n  cim_array_size_term: {value: " + json.dumps(payload) + "}\n"
    )
    code, _, err = cli(capsys, "validate", "--published", "published.yaml", "--out", "val", "--quiet")
    assert_refused(code, err, marker, "figures.cim_array_size_term")
    assert not (work / "val").exists()


def test_published_figure_parser_is_arithmetic_only(tmp_path):
    from sparsecim.studies.validate import arithmetic

    assert arithmetic("144*8*1024/8/8") == 18432
    assert arithmetic("2.52 + 0.5") == pytest.approx(3.02)
    marker = tmp_path / "pwned"
    for payload in payloads(marker) + ["2**10**10**10", "1/0", "(lambda: 1)()", "x" * 500]:
        assert arithmetic(payload) == payload  # text, never a value
    assert not marker.exists()


# ---- run --set -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(4))
def test_run_set_payload(index, work, tmp_path, no_mapping, capsys):
    marker = tmp_path / "pwned"
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--seq-len", "8", "--density", "0.5", "--no-baselines",
                       "--quiet", "--set", f"voltage={payloads(marker)[index]}")
    assert_refused(code, err, marker, "voltage")


@pytest.mark.parametrize("value", ["__import__", "os.__dict__", "__builtins__"])
def test_run_set_dunder_names_refused(value, work, no_mapping, capsys):
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--seq-len", "8", "--quiet", "--set", f"voltage={value}")
    assert code == 2 and "voltage" in err and len(err.strip().splitlines()) == 1, err


def test_shipped_arch_takes_no_text(work, no_mapping, capsys):
    """Our spec is rendered with numbers and booleans only: a plain name is refused too."""
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--seq-len", "8", "--quiet", "--set", "voltage=high")
    assert code == 2 and "voltage" in err and "number or a boolean" in err and len(err.strip().splitlines()) == 1, err


# ---- sweep files ------------------------------------------------------------------------------------------


def _sweep(folder: Path, fixed: dict, axes: dict) -> Path:
    import yaml

    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "evil", "arch": "isscc23_16_2", "fixed": {"model": "bert-base", "seq_len": 8, **fixed},
                                    "axes": axes, "output": "out"}))
    return path


@pytest.mark.parametrize("index", range(4))
def test_sweep_fixed_payload(index, work, tmp_path, no_mapping, capsys):
    marker = tmp_path / "pwned"
    _sweep(work, {"voltage": payloads(marker)[index]}, {"density": [0.5]})
    code, _, err = cli(capsys, "sweep", "sweep.yaml", "--quiet")
    assert_refused(code, err, marker, "voltage")
    assert not (work / "out").exists()


@pytest.mark.parametrize("index", range(4))
def test_sweep_axis_payload(index, work, tmp_path, no_mapping, capsys):
    marker = tmp_path / "pwned"
    _sweep(work, {}, {"voltage": [0.9, payloads(marker)[index]]})
    code, _, err = cli(capsys, "sweep", "sweep.yaml", "--quiet")
    assert_refused(code, err, marker, "voltage")
    assert not (work / "out").exists()


def test_sweep_yaml_python_tags_are_not_objects(work, tmp_path, no_mapping, capsys):
    marker = tmp_path / "pwned"
    (work / "sweep.yaml").write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\naxes: {{density: [0.5]}}\n")
    code, _, err = cli(capsys, "sweep", "sweep.yaml", "--quiet")
    assert_refused(code, err, marker, "YAML")


# ---- the mapping cache ------------------------------------------------------------------------------------


def _corruptions(marker: Path) -> dict:
    """Ways to break a cache entry (a dict from JSON): name -> change."""

    def strings(entry):
        entry["energy_j"] = {k: payloads(marker)[0] for k in entry["energy_j"]}
        entry["latency_s"] = payloads(marker)[1]
        return json.dumps(entry)

    def nan(entry):
        first = next(iter(entry["energy_j"]))
        return json.dumps(entry).replace(f'"{first}": {json.dumps(entry["energy_j"][first])}', f'"{first}": NaN', 1)

    def negative(entry):
        entry["energy_j"] = {k: -abs(v) - 1.0 for k, v in entry["energy_j"].items()}
        return json.dumps(entry)

    def zero(entry):
        entry["energy_j"] = {k: 0.0 for k in entry["energy_j"]}
        return json.dumps(entry)

    def extra_key(entry):
        entry["__class__"] = payloads(marker)[0]
        return json.dumps(entry)

    def not_utf8(entry):
        return b"\xff\xfe" + json.dumps(entry).encode()

    return {"payload strings": strings, "NaN energy": nan, "negative energies": negative, "zero energy": zero,
            "unknown key": extra_key, "not UTF-8": not_utf8}


CORRUPTIONS = list(_corruptions(Path("x")))


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_bad_cache_entry_is_recomputed_with_one_warning(corruption, work, tmp_path, warm_cache, replay, monkeypatch, capsys):
    from sparsecim.mapping import cache

    marker = tmp_path / "pwned"
    folder = tmp_path / "cache"
    shutil.copytree(warm_cache, folder)
    monkeypatch.setenv("SPARSECIM_CACHE_DIR", str(folder))
    cache._usable.cache_clear()
    victim = sorted(folder.glob("*.json"))[0]
    change = _corruptions(marker)[corruption]
    bad = change(json.loads(victim.read_text()))
    victim.write_bytes(bad if isinstance(bad, bytes) else bad.encode())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = cli(capsys, "run", "--weights", "model.safetensors", "--seq-len", "8", "--density", "0.5", "--no-baselines",
                             "--quiet", "--jobs", "1", "--out", "r.json")
    assert not marker.exists()
    assert code == 0, err
    messages = [str(w.message) for w in caught if "cache" in str(w.message)]
    assert len(messages) == 1 and victim.name in messages[0] and "recomputing" in messages[0], messages
    assert len(replay) == 1  # that entry, and only it, mapped again
    summary = json.loads((work / "r.json").read_text())["summary"]
    numbers = [v for v in summary.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    assert summary["energy_chip_J"] > 0 and summary["energy_system_J"] > 0 and summary["latency_s"] > 0
    assert cache.read_entry(victim) is not None  # rewritten valid


def test_bad_cache_entry_real_recompute_one_warning_line(work, tmp_path, tiny_bert, warm_cache):
    """The same end to end in a real process: one warning line on stderr, exit 0, finite positive energy."""
    marker = tmp_path / "pwned"
    folder = tmp_path / "cache"
    shutil.copytree(warm_cache, folder)
    victim = sorted(folder.glob("*.json"))[0]
    entry = json.loads(victim.read_text())
    entry["energy_j"] = {k: payloads(marker)[0] for k in entry["energy_j"]}
    victim.write_text(json.dumps(entry))
    env = {**os.environ, "SPARSECIM_CACHE_DIR": str(folder)}
    proc = subprocess.run([sys.executable, "-m", "sparsecim.cli", "run", "--weights", str(tiny_bert), "--seq-len", "8", "--density", "0.5",
                           "--no-baselines", "--quiet", "--jobs", "1", "--out", "r.json"], capture_output=True, text=True, env=env, cwd=work, timeout=600)
    assert not marker.exists()
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("sparsecim: warning:") and victim.name in lines[0], proc.stderr
    summary = json.loads((work / "r.json").read_text())["summary"]
    assert math.isfinite(summary["energy_chip_J"]) and summary["energy_chip_J"] > 0


# ---- data files never hold objects ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--profile", "--spans"])
def test_profile_and_span_files_are_data(option, work, tmp_path, no_mapping, capsys):
    marker = tmp_path / "pwned"
    (work / "evil.yaml").write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--seq-len", "8", "--quiet", option, "evil.yaml")
    assert_refused(code, err, marker, "evil.yaml")


def test_no_eval_exec_or_pickle_on_user_data():
    """The package never evaluates text or unpickles: no eval/exec calls, yaml.safe_load only, no pickle.load."""
    offenders = []
    for path in (ROOT / "plugin" / "sparsecim").rglob("*.py"):
        text = path.read_text()
        for pattern in (r"(?<![\w.])eval\(", r"(?<![\w.])exec\(", r"yaml\.load\(", r"yaml\.unsafe_load", r"pickle\.loads?\(",
                        r"allow_pickle\s*=\s*True"):
            for match in re.finditer(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: {match.group(0)}")
        for line in text.splitlines():  # torch.load unpickles unless told weights_only=True
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []


# ---- the arch file: trusted like a script, and our specs take no user text ------------------------------------


def test_readme_says_an_arch_file_is_as_trusted_as_a_script():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert re.search(r"arch(itecture)? (YAML )?files? (is|are) (as trusted as|trusted like) a script", readme, re.I), "README: Trust"
    assert "Jinja" in readme


def test_shipped_specs_render_with_numbers_and_booleans_only(monkeypatch):
    """What reaches AccelForge's Jinja rendering of our spec: the arch's own defaults and checked values
    (numbers, booleans), never a string from the user."""
    import accelforge as af

    from sparsecim.mapping import mapper
    from sparsecim.pipeline import mapping_variables, prepare
    from sparsecim.request import RunRequest
    from sparsecim.rewrite import rewrite
    from sparsecim.rewrite.sparse import Scheme

    seen = []

    def capture(*files, jinja_parse_data=None, **kwargs):
        seen.append(dict(jinja_parse_data or {}))
        raise RuntimeError("captured")

    monkeypatch.setattr(af.Spec, "from_yaml", capture)
    prepared = prepare(RunRequest(model="bert-base", seq_len=8, variables={"voltage": "0.7", "butterfly_enabled": "False"}))
    rewritten = rewrite(prepared.workload, prepared.sparsity, prepared.spans, Scheme.CHIP, None)
    variables = mapping_variables(prepared, rewritten)
    with pytest.raises(Exception):
        mapper.load_spec(prepared.arch_path, next(iter(rewritten.workload.unique_specs())), variables)
    assert seen, "AccelForge was not asked to render the spec"
    assert seen[0]["voltage"] == 0.7 and seen[0]["butterfly_enabled"] is False
    assert all(isinstance(v, (bool, int, float)) for v in seen[0].values()), seen[0]

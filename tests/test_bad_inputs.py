"""Issue 11 §2: every bad input is one line on stderr, exit code 2, no traceback, and nothing written.

Runs the CLI in-process (`sparsecim.cli.main`) on a tiny BERT checkpoint. Output problems are checked
before any work: the computing entry points are replaced by a function that fails the test if
called. Cases already covered by tests/model/test_cli_inputs.py and tests/attention/
test_own_checkpoint.py are not repeated here. The few cases that need a finished run replay the
mapped costs of one real tiny run (a session fixture) instead of mapping again.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from sparsecim.cli import main

NOT_UTF8 = b"name: \xff\xfe\xfa broken\n"
TINY_RUN = ["--seq-len", "8", "--density", "0.5", "--no-baselines", "--quiet"]  # the warm_cache run (conftest.py)


# ---- helpers --------------------------------------------------------------------------------------


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code, err, *words):
    """Exit 2, exactly one stderr line starting with 'sparsecim: error:', naming every word."""
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sparsecim: error:"), err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    return lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def work(tmp_path, monkeypatch, tiny_bert):
    """A working folder (the cwd) with the tiny checkpoint copied in and one non-UTF-8 file."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(tiny_bert, folder / "model.safetensors")
    shutil.copy(tiny_bert.parent / "config.json", folder / "config.json")
    (folder / "latin1.yaml").write_bytes(NOT_UTF8)
    monkeypatch.chdir(folder)
    return folder


MAPPING = [
    ("sparsecim.pipeline", "map_workload"),
    ("sparsecim.mapping.workers", "map_all"),
    ("sparsecim.mapping.mapper", "_map_uncached"),
]
COMPUTE = MAPPING + [
    ("sparsecim.pipeline", "run"),
    ("sparsecim.studies.compare", "run_compare"),
    ("sparsecim.studies.validate", "validate"),
    ("sparsecim.studies.sparsity_curve", "sparsity_curve"),
    ("sparsecim.sparsity.sources", "build_profile"),
    ("sparsecim.attention.measure", "measure_spans"),
]


def _forbid(monkeypatch, targets):
    import importlib

    def forbidden(*_args, **_kwargs):
        raise AssertionError("computed before the input was checked")

    for module, name in targets:
        monkeypatch.setattr(importlib.import_module(module), name, forbidden)


@pytest.fixture
def no_mapping(monkeypatch):
    """Any mapping fails the test: a bad input is found before the mapper runs."""
    _forbid(monkeypatch, MAPPING)


@pytest.fixture
def no_compute(monkeypatch):
    """Any computation fails the test: the outputs are checked first."""
    _forbid(monkeypatch, COMPUTE)


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder nobody can write into: mode 0o555, and (as root, who ignores modes) file creation
    inside it fails with EACCES as the kernel would answer a non-root user."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_open, real_os_open = open, os.open

        def inside(path) -> bool:
            try:
                return Path(os.fspath(path)).resolve().is_relative_to(folder.resolve())
            except (TypeError, ValueError):
                return False

        def guarded_open(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+") and not isinstance(file, int) and inside(file):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, mode, *args, **kwargs)

        def guarded_os_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_os_open(path, flags, *args, **kwargs)

        monkeypatch.setattr("builtins.open", guarded_open)
        monkeypatch.setattr(os, "open", guarded_os_open)
    yield folder
    folder.chmod(0o755)


# ---- non-UTF-8 files ------------------------------------------------------------------------------

NON_UTF8 = {
    "run --arch": ["run", "--weights", "model.safetensors", "--arch", "latin1.yaml", *TINY_RUN],
    "run --profile": ["run", "--weights", "model.safetensors", "--profile", "latin1.yaml", "--quiet"],
    "run --spans": ["run", "--weights", "model.safetensors", "--spans", "latin1.yaml", "--quiet"],
    "profile --arch": ["profile", "--weights", "model.safetensors", "--arch", "latin1.yaml", "--density", "0.5", "--out", "p.yaml"],
    "compare --arch": ["compare", "--weights", "model.safetensors", "--arch", "latin1.yaml", "--only", "chip", "--seq-len", "8", "--quiet"],
    "validate --published": ["validate", "--published", "latin1.yaml", "--out", "val", "--quiet"],
    "sweep FILE": ["sweep", "latin1.yaml", "--quiet"],
    "spans --text": ["spans", "--text", "latin1.yaml", "--out", "s.yaml"],
}


@pytest.mark.parametrize("case", list(NON_UTF8))
def test_non_utf8_file(case, work, no_mapping, capsys):
    before = listing(work)
    code, _, err = cli(capsys, *NON_UTF8[case])
    line = assert_one_line(code, err, "latin1.yaml")
    assert "UTF-8" in line
    assert listing(work) == before


# ---- output problems, found before any work -------------------------------------------------------

# command -> (arguments before the output option, the output option, its default suffix, other outputs)
OUTPUT_COMMANDS = {
    "run": (["run", "--weights", "model.safetensors", *TINY_RUN], "--out", ".json"),
    "profile": (["profile", "--weights", "model.safetensors", "--density", "0.5"], "--out", ".yaml"),
    "spans": (["spans", "--weights", "model.safetensors", "--seq-len", "8"], "--out", ".yaml"),
    "sparsity-curve": (["sparsity-curve", "--weights", "model.safetensors", "--seq-len", "8", "--sparsities", "0.5", "--quiet"], "--out", ".csv"),
    "sparsity-curve --plot": (["sparsity-curve", "--weights", "model.safetensors", "--seq-len", "8", "--sparsities", "0.5", "--quiet"], "--plot", ".png"),
    "compare": (["compare", "--weights", "model.safetensors", "--only", "chip", "--seq-len", "8", "--quiet"], "--out", ".csv"),
    "compare --plot": (["compare", "--weights", "model.safetensors", "--only", "chip", "--seq-len", "8", "--quiet"], "--plot", ".png"),
}


def _target(problem: str, work: Path, read_only: Path, suffix: str) -> tuple[Path, str]:
    """(output path, a word the error line must contain) for each output problem."""
    if problem == "read-only folder":
        return read_only / f"x{suffix}", "cannot write"
    if problem == "name too long":
        return work / ("n" * 300 + suffix), "longer than"
    if problem == "parent is a file":
        (work / "afile").write_text("x")
        return work / "afile" / f"x{suffix}", "is a file"
    if problem == "an existing folder":
        (work / f"dir{suffix}").mkdir()
        return work / f"dir{suffix}", "existing folder"
    if problem == "path too long":
        return work / ("/".join(["d" * 200] * 30)) / f"x{suffix}", "longer than"
    raise AssertionError(problem)


OUTPUT_PROBLEMS = ["read-only folder", "name too long", "parent is a file", "an existing folder", "path too long"]


@pytest.mark.parametrize("problem", OUTPUT_PROBLEMS)
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_problem_before_any_work(command, problem, work, read_only, no_compute, capsys):
    args, option, suffix = OUTPUT_COMMANDS[command]
    target, word = _target(problem, work, read_only, suffix)
    before, before_ro = listing(work), listing(read_only)
    code, _, err = cli(capsys, *args, option, target)
    assert_one_line(code, err, option, word)
    assert listing(work) == before and listing(read_only) == before_ro


VALIDATE_PROBLEMS = {
    "read-only folder": lambda work, ro: (ro / "val", "cannot"),
    "read-only folder itself": lambda work, ro: (ro, "cannot write"),
    "name too long": lambda work, ro: (work / ("n" * 300), "longer than"),
    "path too long": lambda work, ro: (work / ("/".join(["d" * 200] * 30)), "longer than"),
    "parent is a file": lambda work, ro: ((work / "afile").write_text("x") and work / "afile" / "val", "is a file"),
    "an existing file": lambda work, ro: ((work / "val.txt").write_text("x") and work / "val.txt", "is a file"),
}


@pytest.mark.parametrize("problem", list(VALIDATE_PROBLEMS))
def test_validate_output_folder_problem(problem, work, read_only, no_compute, capsys):
    target, word = VALIDATE_PROBLEMS[problem](work, read_only)
    before, before_ro = listing(work), listing(read_only)
    code, _, err = cli(capsys, "validate", "--out", target, "--quiet")
    assert_one_line(code, err, "--out", word)
    assert listing(work) == before and listing(read_only) == before_ro


# ---- bad option values and environment -------------------------------------------------------------

OPTION_CASES = {
    "--heads 0": (["run", "--weights", "model.safetensors", "--heads", "0", *TINY_RUN], "heads"),
    "--heads -2": (["run", "--weights", "model.safetensors", "--heads", "-2", *TINY_RUN], "heads"),
    "profile --heads 0": (["profile", "--weights", "model.safetensors", "--heads", "0", "--density", "0.5", "--out", "p.yaml"], "heads"),
    "compare --heads 0": (["compare", "--weights", "model.safetensors", "--heads", "0", "--only", "chip", "--quiet"], "heads"),
    "--jobs 0": (["run", "--weights", "model.safetensors", "--jobs", "0", *TINY_RUN], "--jobs"),
    "--jobs -3": (["run", "--weights", "model.safetensors", "--jobs", "-3", *TINY_RUN], "--jobs"),
    "--jobs 1000": (["run", "--weights", "model.safetensors", "--jobs", "1000", *TINY_RUN], "--jobs"),
    "validate --jobs 0": (["validate", "--jobs", "0", "--out", "val", "--quiet"], "--jobs"),
    "sparsity-curve --jobs -3": (["sparsity-curve", "--weights", "model.safetensors", "--sparsities", "0.5", "--jobs", "-3", "--quiet"], "--jobs"),
    "compare --jobs 0": (["compare", "--weights", "model.safetensors", "--only", "chip", "--jobs", "0", "--quiet"], "--jobs"),
    "sweep --workers 0": (["sweep", "SWEEP", "--workers", "0", "--quiet"], "--workers"),
    "compare --arch nope.yaml": (["compare", "--weights", "model.safetensors", "--only", "chip", "--arch", "nope.yaml", "--quiet"], "nope.yaml"),
    "compare --arch unknown name": (["compare", "--weights", "model.safetensors", "--only", "chip", "--arch", "no_such_arch", "--quiet"], "no_such_arch"),
    "run --arch nope.yaml": (["run", "--weights", "model.safetensors", "--arch", "nope.yaml", *TINY_RUN], "nope.yaml"),
    "--seq-len 1e9 without a position limit": (["run", "--weights", "NOLIMIT", "--seq-len", "1000000000", "--quiet"], "seq_len"),
    "--seq-len 0": (["run", "--weights", "model.safetensors", "--seq-len", "0", "--quiet"], "seq_len"),
    "--batch 0": (["run", "--weights", "model.safetensors", "--batch", "0", "--quiet"], "batch"),
    "--set without =": (["run", "--weights", "model.safetensors", "--set", "voltage", *TINY_RUN], "name=value"),
    "--set unknown variable": (["run", "--weights", "model.safetensors", "--set", "no_such_var=1", *TINY_RUN], "no_such_var"),
    "--set n_cores=0": (["run", "--weights", "model.safetensors", "--set", "n_cores=0", *TINY_RUN], "n_cores"),
    "--set n_cores=1.5": (["run", "--weights", "model.safetensors", "--set", "n_cores=1.5", *TINY_RUN], "n_cores"),
    "--set butterfly_enabled=3": (["run", "--weights", "model.safetensors", "--set", "butterfly_enabled=3", *TINY_RUN], "butterfly_enabled"),
    "--set offchip_pj_per_bit=-1": (["run", "--weights", "model.safetensors", "--set", "offchip_pj_per_bit=-1", *TINY_RUN], "offchip_pj_per_bit"),
    "--set voltage=1e400": (["run", "--weights", "model.safetensors", "--set", "voltage=1e400", *TINY_RUN], "voltage"),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_option(case, work, no_mapping, capsys):
    args, word = OPTION_CASES[case]
    (work / "sweep.yaml").write_text("name: s\narch: isscc23_16_2\nfixed: {model: bert-base, seq_len: 8}\naxes: {density: [0.5]}\noutput: out\n")
    nolimit = work / "nolimit"
    nolimit.mkdir()
    shutil.copy(work / "model.safetensors", nolimit / "model.safetensors")
    (nolimit / "config.json").write_text(json.dumps({"num_attention_heads": 2}))  # no max_position_embeddings
    args = [str(nolimit / "model.safetensors") if a == "NOLIMIT" else "sweep.yaml" if a == "SWEEP" else a for a in args]
    before = listing(work)
    code, _, err = cli(capsys, *args)
    assert_one_line(code, err, word)
    assert listing(work) == before


JOBS_COMMANDS = {
    "run": ["run", "--weights", "model.safetensors", *TINY_RUN],
    "sweep": ["sweep", "sweep.yaml", "--quiet"],
    "sparsity-curve": ["sparsity-curve", "--weights", "model.safetensors", "--seq-len", "8", "--sparsities", "0.5", "--quiet"],
}


@pytest.mark.parametrize("command", list(JOBS_COMMANDS))
@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5", "1e3"])
def test_sparsecim_jobs_environment(value, command, work, no_mapping, monkeypatch, capsys):
    monkeypatch.setenv("SPARSECIM_JOBS", value)
    (work / "sweep.yaml").write_text("name: s\nfixed: {model: bert-base, seq_len: 8}\naxes: {density: [0.5]}\noutput: out\n")
    before = listing(work)
    code, _, err = cli(capsys, *JOBS_COMMANDS[command])
    assert_one_line(code, err, "SPARSECIM_JOBS", value)
    assert listing(work) == before


# ---- checkpoints and profiles: bounds before allocation --------------------------------------------


def _checkpoint(folder: Path, tensors: dict, config: dict | str | bytes | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    if config is not None:
        data = config if isinstance(config, (str, bytes)) else json.dumps(config)
        (folder / "config.json").write_bytes(data.encode() if isinstance(data, str) else data)
    return folder / "model.safetensors"


def _renamed(tiny: dict, old_layer: str, new_layer: str) -> dict:
    return {k.replace(f"layer.{old_layer}.", f"layer.{new_layer}."): v for k, v in tiny.items()}


CHECKPOINT_CASES = {
    # name: (change the tiny tensors, config.json, run options, word on the line)
    "layer 10,000,000": (lambda t: {**t, **_renamed(t, "0", "10000000")}, {"num_attention_heads": 2}, [], "layer"),
    "only layer 10,000,000": (lambda t: _renamed(t, "0", "10000000"), {"num_attention_heads": 2}, [], "layer"),
    "heads NaN (run --weights)": (lambda t: t, '{"num_attention_heads": NaN}', [], "head count"),
    "heads Infinity": (lambda t: t, '{"num_attention_heads": Infinity}', [], "head count"),
    "heads 1e30": (lambda t: t, '{"num_attention_heads": 1e30}', [], "head count"),
    "positions NaN": (lambda t: t, '{"num_attention_heads": 2, "max_position_embeddings": NaN}', [], "position"),
    "kv heads text": (lambda t: t, '{"num_attention_heads": 2, "num_key_value_heads": "two"}', [], "key/value head"),
    "config not json": (lambda t: t, "{num_attention_heads: 2", [], "malformed"),
    "config not utf-8": (lambda t: t, b"\xff\xfe{\x00", [], "not UTF-8"),
    "config a list": (lambda t: t, "[2]", [], "JSON object"),
    "NaN weights, dense run": (lambda t: {**t, "encoder.layer.0.attention.self.key.weight": np.full((64, 64), np.nan, np.float32)},
                               {"num_attention_heads": 2}, ["--no-baselines"], "NaN"),
    "NaN weights, spans measure": (lambda t: {**t, "encoder.layer.0.attention.self.key.weight": np.full((64, 64), np.nan, np.float32)},
                                   {"num_attention_heads": 2}, ["--spans", "measure"], ""),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_bad_checkpoint_run(case, work, tiny_bert, no_mapping, capsys):
    change, config, options, word = CHECKPOINT_CASES[case]
    weights = _checkpoint(work / "ckpt", change(load_file(str(tiny_bert))), config)
    before = listing(work)
    code, _, err = cli(capsys, "run", "--weights", weights, "--seq-len", "8", "--quiet", "--out", "r.json", *options)
    assert_one_line(code, err, word)
    assert listing(work) == before


def test_nan_weights_dense_run_rejected(work, tiny_bert, capsys):
    """Without --no-compute: a dense `run --weights` on NaN weights must not produce numbers."""
    tensors = load_file(str(tiny_bert))
    tensors["encoder.layer.0.output.dense.weight"][0, 0] = np.nan
    weights = _checkpoint(work / "nan", tensors, {"num_attention_heads": 2, "max_position_embeddings": 64})
    before = listing(work)
    code, _, err = cli(capsys, "run", "--weights", weights, "--seq-len", "8", "--quiet", "--out", "r.json")
    assert_one_line(code, err, "NaN")
    assert listing(work) == before


PROFILE_CASES = {
    "shape [100000, 100000]": ("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 0, role: q, shape: [100000, 100000], density: 0.5, source: 'statistical:0.5'}\n",
                               "larger than"),
    "shape 1e5 floats": ("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 0, role: q, shape: [1.0e+5, 1.0e+5], density: 0.5, source: 'statistical:0.5'}\n",
                         "shape"),
    "layer 10,000,000": ("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 10000000, role: q, shape: [64, 64], density: 0.5, source: 'statistical:0.5'}\n",
                         "layer"),
    "shape differs from the model": ("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 0, role: q, shape: [4096, 4096], density: 0.5, source: 'statistical:0.5'}\n",
                                     "shape"),
    "density NaN": ("version: 1\nmodel: m\nmatrices:\n- {name: a, layer: 0, role: q, shape: [64, 64], density: .nan, source: 'statistical:0.5'}\n",
                    "density"),
    "not a mapping": ("- 1\n- 2\n", "profile"),
    "python object tag": ("!!python/object/apply:os.system ['true']\n", "YAML"),
}


@pytest.mark.parametrize("case", list(PROFILE_CASES))
def test_bad_profile(case, work, no_mapping, capsys):
    text, word = PROFILE_CASES[case]
    (work / "bad_profile.yaml").write_text(text)
    before = listing(work)
    started = time.monotonic()
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--profile", "bad_profile.yaml", "--seq-len", "8", "--quiet", "--out", "r.json")
    assert_one_line(code, err, word)
    assert time.monotonic() - started < 20  # nothing allocated or mapped
    assert listing(work) == before


SPANS_CASES = {
    "10,000 layers x 10,000 heads": ("model: m\nlayers: " + json.dumps([[{"window": 4}] * 3] * 5000) + "\n", "layers"),
    "window NaN": ("model: m\nlayers:\n- [{window: .nan}, {window: 4}]\n", "window"),
    "window as payload text": ("model: m\nlayers:\n- [{window: \"__import__('os')\"}, {window: 4}]\n", "window"),
    "heads differ from the model": ("model: m\nlayers:\n- [{window: 4}, {window: 4}, {window: 4}]\n", "head"),
}


@pytest.mark.parametrize("case", list(SPANS_CASES))
def test_bad_span_profile(case, work, no_mapping, capsys):
    text, word = SPANS_CASES[case]
    (work / "bad_spans.yaml").write_text(text)
    before = listing(work)
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", "--spans", "bad_spans.yaml", "--seq-len", "8", "--quiet", "--out", "r.json")
    assert_one_line(code, err, word)
    assert listing(work) == before


# ---- late failures: a full disk while writing -------------------------------------------------------


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPARSECIM_CACHE_DIR", str(folder))
    return folder


def _disk_full_after(nbytes: int):
    """An os.fdopen whose stream writes `nbytes` then fails with ENOSPC (a disk filling up)."""
    real_fdopen = os.fdopen

    class Filling:
        def __init__(self, stream):
            self.stream, self.written = stream, 0

        def write(self, data):
            room = max(0, nbytes - self.written)
            self.stream.write(data[:room])
            self.written += min(room, len(data))
            if len(data) > room:
                self.stream.flush()
                raise OSError(errno.ENOSPC, "No space left on device")
            return len(data)

        def __getattr__(self, name):
            return getattr(self.stream, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

    def fdopen(fd, *args, **kwargs):
        return Filling(real_fdopen(fd, *args, **kwargs))

    return fdopen


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_disk_full_while_writing_results(suffix, work, replay, cold_cache, monkeypatch, capsys):
    import sparsecim.files

    monkeypatch.setattr(sparsecim.files.os, "fdopen", _disk_full_after(100))
    before = listing(work)
    code, out, err = cli(capsys, "run", "--weights", "model.safetensors", *TINY_RUN, "--jobs", "1", "--out", f"r{suffix}")
    assert_one_line(code, err, f"r{suffix}", "No space left")
    assert listing(work) == before  # neither the file nor its temporary
    assert "wrote" not in out


def test_disk_full_for_the_cache_is_one_warning(work, replay, cold_cache, monkeypatch, capsys):
    """Every cache write fails with ENOSPC mid-write: the run completes, one warning, no .tmp files left."""
    import sparsecim.files
    from sparsecim.mapping import cache

    cache._usable.cache_clear()
    monkeypatch.setattr(sparsecim.files.os, "fdopen", _disk_full_after(10))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = cli(capsys, "run", "--weights", "model.safetensors", *TINY_RUN, "--jobs", "1")
    assert code == 0, err
    assert "energy, chip" in out
    assert len(replay) >= 3, "nothing was mapped"
    messages = [str(w.message) for w in caught if "cache" in str(w.message)]
    assert len(messages) == 1, messages  # one warning, not one per Einsum
    assert "No space left" in messages[0]
    assert cold_cache.is_dir() and list(cold_cache.iterdir()) == []


# ---- an unusable cache folder ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["a file", "read-only"])
def test_unusable_cache_folder_warns_once_and_runs_uncached(kind, work, replay, read_only, monkeypatch, capsys):
    from sparsecim.mapping import cache

    cache._usable.cache_clear()
    if kind == "a file":
        folder = work / "cache-file"
        folder.write_text("not a folder")
    else:
        folder = read_only / "cache"
    monkeypatch.setenv("SPARSECIM_CACHE_DIR", str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = cli(capsys, "run", "--weights", "model.safetensors", *TINY_RUN, "--jobs", "1", "--out", "r.json")
    assert code == 0, err
    assert len(replay) >= 3  # every distinct Einsum mapped (uncached)
    messages = [str(w.message) for w in caught if "cache" in str(w.message)]
    assert len(messages) == 1 and "running uncached" in messages[0], messages
    assert json.loads((work / "r.json").read_text())["summary"]["energy_chip_J"] > 0


def test_unusable_cache_folder_with_worker_processes(work, tiny_bert, warm_cache, tmp_path):
    """In worker processes too: one warning line on stderr, exit 0 (the mapping really runs)."""
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    env = {**os.environ, "SPARSECIM_CACHE_DIR": str(blocker / "sub")}
    # two Einsums only (one layer, attention off the chip path is not needed): a 4-token dense run
    proc = subprocess.run([sys.executable, "-m", "sparsecim.cli", "run", "--weights", str(tiny_bert), "--seq-len", "8",
                           "--density", "0.5", "--no-baselines", "--quiet", "--jobs", "2", "--out", str(work / "r.json")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cache" in lines[0] and "running uncached" in lines[0], proc.stderr
    assert (work / "r.json").is_file()


# ---- sweep point files ---------------------------------------------------------------------------------


def test_sweep_point_file_not_utf8_is_recomputed_with_a_warning(tmp_path):
    from sparsecim.studies.sweep.results import POINTS_DIR, read_points

    folder = tmp_path / "out"
    (folder / POINTS_DIR).mkdir(parents=True)
    (folder / POINTS_DIR / "abc.json").write_bytes(b'{"key": "abc", "status": "\xff"}')
    (folder / POINTS_DIR / "good.json").write_text('{"key": "good", "status": "ok"}')
    with pytest.warns(UserWarning, match="abc.json") as caught:
        points = read_points(folder)
    assert list(points) == ["good"]
    assert len(caught) == 1


# ---- killing the main process leaves no mapping workers --------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_killing_the_main_process_ends_its_workers(sig, tmp_path):
    """SIGTERM/SIGKILL (a scheduler) and SIGINT (Ctrl-C) while mapping: no worker outlives the run; Ctrl-C
    says 'interrupted' (nothing about sweeps) and exits 130."""
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "SPARSECIM_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "sparsecim.cli", "run", "--model", "bert-base", "--density", "0.5",
                             "--jobs", "2", "--no-cache", "--quiet", "--no-baselines"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        parent = psutil.Process(proc.pid)
        workers = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [c for c in parent.children(recursive=True) if "python" in c.name().lower() and _is_worker(c)]
            time.sleep(0.2)
        assert len(workers) >= 2, "no mapping workers started"
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, [p.pid for p in alive]
        if sig == signal.SIGINT:
            err = proc.stderr.read().decode()
            assert proc.returncode == 130, err
            assert err.strip().splitlines() == ["sparsecim: interrupted"], err
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in psutil.Process().children(recursive=True):
            if child.pid != os.getpid():
                with _suppress():
                    child.kill()


def _is_worker(process) -> bool:
    try:
        return "loky" in " ".join(process.cmdline())
    except Exception:
        return False


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def test_interrupt_message_of_run_is_about_the_run(work, monkeypatch, capsys):
    """Ctrl-C during `run`: 'interrupted', exit 130, and nothing about resuming a sweep."""
    import sparsecim.pipeline

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sparsecim.pipeline, "run", interrupted)
    code, _, err = cli(capsys, "run", "--weights", "model.safetensors", *TINY_RUN, "--out", "r.json")
    assert code == 130
    assert err.strip().splitlines() == ["sparsecim: interrupted"]
    assert "resum" not in err.lower() and "sweep" not in err.lower()
    assert not (work / "r.json").exists()


# ---- the mapping text is deterministic --------------------------------------------------------------------


def test_mapping_text_sorts_tensor_names():
    """The tensors a storage level holds come in set order (varies with PYTHONHASHSEED between cold
    runs); the mapping text lists them sorted."""
    from types import SimpleNamespace

    from sparsecim.mapping.mapper import describe_mapping

    def storage(*tensors):
        return type("Storage", (), {"component": "Buffer", "tensors": list(tensors)})()

    texts = {describe_mapping(SimpleNamespace(nodes=[storage(*order)])) for order in (["W", "I", "O"], ["O", "W", "I"], ["I", "O", "W"])}
    assert len(texts) == 1
    (text,) = texts
    assert "Buffer" in text and text.index("I") < text.index("O") < text.index("W")


def test_mapping_text_same_between_cold_runs(tmp_path):
    """Two cold mappings of one Einsum in processes with different hash seeds give the same mapping text."""
    script = (
        "import sys; from sparsecim.mapping.workers import own_process; own_process()\n"
        "from sparsecim.mapping.arch import find_arch; from sparsecim.mapping.mapper import map_einsum\n"
        "from sparsecim.workload.einsums import matmul\n"
        "cost = map_einsum(find_arch('isscc23_16_2')[1], matmul(1, 8, 64, 64), {}, use_cache=False)\n"
        "sys.stdout.write(cost.mapping)\n"
    )
    texts = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SPARSECIM_CACHE_DIR": str(tmp_path / seed)}
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        texts.append(proc.stdout)
    assert texts[0] and texts[0] == texts[1]


def test_late_failure_of_the_second_file_leaves_neither(tmp_path, monkeypatch):
    """compare/sparsity-curve/validate write a table and plots as one OutputBatch: when the plot fails
    (a full disk), the table written before it must not be left behind, nor any temporary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sparsecim.errors import InputError
    from sparsecim.files import OutputBatch

    fig = plt.figure()

    def full(self, *_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(fig), "savefig", full)
    with pytest.raises(InputError, match="compare.png.*No space left"):
        with OutputBatch() as files:
            files.text(tmp_path / "compare.csv", "design,energy\nchip,1\n")
            files.figure(tmp_path / "compare.png", fig)
    plt.close(fig)
    assert list(tmp_path.iterdir()) == []


def test_profile_matrix_outside_the_layers_allocates_nothing(tmp_path):
    """A hand-written profile may list a matrix outside the layers (an embedding) of up to 2^31 weights:
    it is data, and no mask of its shape is drawn (only layer matrices are checked and mapped)."""
    import tracemalloc

    from sparsecim.sparsity.packing import PackingRules
    from sparsecim.sparsity.sources import from_profile_file
    from sparsecim.workload.shapes import TransformerShape

    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nmodel: m\nmatrices:\n"
                    "- {name: emb, shape: [40000, 50000], density: 0.5, source: 'statistical:0.5'}\n"
                    "- {name: q, layer: 0, role: q, shape: [64, 64], density: 0.5, source: 'statistical:0.5'}\n")
    tracemalloc.start()
    profile = from_profile_file(path, TransformerShape("tiny", 1, 64, 2, 32, 128), PackingRules())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6, peak
    assert profile.get(0, "q").packing is not None


def test_disk_full_while_writing_a_profile(work, monkeypatch, capsys):
    import sparsecim.files

    monkeypatch.setattr(sparsecim.files.os, "fdopen", _disk_full_after(50))
    before = listing(work)
    code, out, err = cli(capsys, "profile", "--weights", "model.safetensors", "--density", "0.5", "--out", "p.yaml")
    assert_one_line(code, err, "p.yaml", "No space left")
    assert listing(work) == before and "wrote" not in out

"""`run --by/--detail/--show-mapping` and `archs` as a user calls them."""

import os
import subprocess
import sys

import pytest
from rich.cells import cell_len

from sparsecim.cli import main
from sparsecim.mapping.arch import find_arch, spec_variable_docs, spec_variables


def _cli(*args):
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, env=env)


def test_every_chip_variable_has_default_unit_and_meaning():
    _, path = find_arch("isscc23_16_2")
    docs = spec_variable_docs(path)
    assert [d.name for d in docs] == spec_variables(path)
    for d in docs:
        assert d.default and d.unit and len(d.meaning) > 10, d


def test_units_and_meanings_from_comments_or_names(tmp_path):
    arch = tmp_path / "mine.yaml"
    arch.write_text(
        "# the link's speed\n"
        "{% set link_gbps = link_gbps | default(3.5) %}\n"
        "{% set rows = rows | default(64) %}  # [rows] rows per bank\n"
        "{% set odd = odd | default(1) %}\n"
    )
    docs = {d.name: d for d in spec_variable_docs(arch)}
    assert (docs["link_gbps"].unit, docs["link_gbps"].meaning, docs["link_gbps"].default) == ("Gb/s", "the link's speed", "3.5")
    assert (docs["rows"].unit, docs["rows"].meaning) == ("rows", "rows per bank")
    assert (docs["odd"].unit, docs["odd"].meaning) == ("", "")


def test_archs_prints_the_table():
    proc = _cli("archs", "isscc23_16_2")
    assert proc.returncode == 0, proc.stderr
    for word in ("offchip_gbps", "Gb/s", "calibrated", "voltage", "0.90"):
        assert word in proc.stdout
    assert max(cell_len(line) for line in proc.stdout.splitlines()) <= 80


def test_unknown_view_is_an_input_error(capsys):
    assert main(["run", "--model", "bert-base", "--density", "0.5", "--by", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--by 'nope'" in err[0]


@pytest.fixture(scope="module")
def detailed_run(tiny_bert):
    return _cli("run", "--weights", str(tiny_bert), "--seq-len", "32", "--quiet", "--detail", "--show-mapping")


def test_detail_and_mapping_views(detailed_run):
    proc = detailed_run
    assert proc.returncode == 0, proc.stderr
    for title in ("Per Einsum (rows in layer order", "Per layer", "Per component", "mapping of q_proj"):
        assert title in proc.stdout
    nest = proc.stdout.split("mapping of q_proj", 1)[1]
    assert "for " in nest or "par " in nest  # loops with their ranges
    assert "shape=" in nest  # tile shapes per level
    assert "OffChip [" in nest  # storage levels with the tensors they hold

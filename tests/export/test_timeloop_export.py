"""`sparsecim export timeloop` checked without Timeloop: the v0.4 YAML as we write it (a schema of the
keys and types), problem shapes equal to our Einsums, instance counts x operations equal to the executed
MACs, the sparse export's densities equal to the profile's, component energies equal to AccelForge's,
the stats reader on canned timeloop-mapper output, and bad CLI input. The real runs are in
bench/bench_timeloop.py."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sparsecim.cases import case
from sparsecim.pipeline import prepare
from sparsecim.rewrite import rewrite
from sparsecim.studies import timeloop_stats
from sparsecim.studies.timeloop_export import MapperSettings, einsum_tensors, evaluated_arch, export_timeloop
from sparsecim.workload.einsums import MAC_FORMS, Kind

# ---- the v0.4 format as the exporter writes it ---------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LevelAttributes(_Strict):
    datawidth: int
    width: int | None = None
    block_size: int | None = None
    depth: int | None = Field(None, ge=1)
    shared_bandwidth: float | None = Field(None, gt=0)
    read_bandwidth: float | None = Field(None, gt=0)
    write_bandwidth: float | None = Field(None, gt=0)
    per_dataspace_bandwidth_consumption_scale: dict[str, float] | None = None
    meshX: int | None = Field(None, ge=1)
    power_gated_at: str | None = None
    metadata_datawidth: int | None = None
    metadata_storage_width: int | None = None
    metadata_storage_depth: int | None = None


class Component(_Strict):
    name: str
    class_: str = Field(alias="class", pattern=r"(DRAM|SRAM|storage|compute|mac)")  # Timeloop drops other classes
    attributes: LevelAttributes


class Node(_Strict):
    name: str = Field(pattern=r"^\w+(\[0\.\.\d+\])?$")
    attributes: dict | None = None
    local: list[Component]
    subtree: list["Node"] = Field(default_factory=list, max_length=1)


class Architecture(_Strict):
    version: Literal[0.4]
    subtree: list[Node] = Field(min_length=1, max_length=1)


class DataSpace(_Strict):
    name: str
    projection: list[list[list[str]]]
    read_write: bool | None = None


class Shape(_Strict):
    name: str
    dimensions: list[str]
    data_spaces: list[DataSpace]


class Problem(_Strict):
    version: Literal[0.4]
    shape: Shape
    instance: dict


class Target(_Strict):
    target: str
    type: Literal["temporal", "spatial", "bypass"]
    factors: str | None = None
    permutation: str | None = None
    split: int | None = None
    keep: list[str] | None = None
    bypass: list[str] | None = None


class Mapspace(_Strict):
    version: Literal[0.4]
    targets: list[Target]


class SubAction(_Strict):
    name: str
    energy_scale: float = Field(ge=0)


class ActionPart(_Strict):
    name: str
    actions: list[SubAction]


class CompoundAction(_Strict):
    name: str
    subcomponents: list[ActionPart]


class Subcomponent(_Strict):
    name: str
    class_: str = Field(alias="class")
    attributes: dict
    area_scale: float = Field(ge=0)


class CompoundClass(_Strict):
    name: str
    attributes: dict
    subcomponents: list[Subcomponent]
    actions: list[CompoundAction]


class Compounds(_Strict):
    version: Literal[0.4]
    classes: list[CompoundClass]


class Mapper(_Strict):
    version: Literal[0.4]
    algorithm: Literal["hybrid", "linear_pruned", "random_pruned", "exhaustive"]
    optimization_metrics: list[Literal["edp", "energy", "delay"]]
    num_threads: int
    search_size: int
    victory_condition: int
    timeout: int
    max_permutations_per_if_visit: int
    log_stats: bool
    live_status: bool
    diagnostics: bool


def _load(path: Path, key: str, model: type[BaseModel]):
    data = yaml.safe_load(path.read_text())
    assert list(data) == [key], f"{path}: top-level keys {list(data)}"
    return model.model_validate(data[key])


def _components(node: Node):
    yield from node.local
    for child in node.subtree:
        yield from _components(child)


# ---- one export shared by the tests (the published BERT case: both engines, Sparseloop) -----------------


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    request = case("bert-glue").request()
    folder = tmp_path_factory.mktemp("tl") / "bert"
    result = export_timeloop(request, folder, MapperSettings(victory_condition=50))
    prepared = prepare(request)
    rewritten = rewrite(prepared.workload, prepared.sparsity, prepared.spans)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    return folder, result, prepared, rewritten, manifest


def test_every_file_follows_the_v04_format_we_write(bert):
    folder, result, _, _, manifest = bert
    _load(folder / "mapper.yaml", "mapper", Mapper)
    library = yaml.safe_load((folder / "components" / "sparsecim.lib.yaml").read_text())
    primitives = {c["name"] for c in library["classes"]}
    assert {"sparsecim_cim_mac", "sparsecim_cim_array", "sparsecim_butterfly", "sparsecim_bfly_decoder"} <= primitives
    for problem in manifest["problems"]:
        directory = folder / problem["directory"]
        arch = _load(directory / "arch.yaml", "architecture", Architecture)
        shape = _load(directory / "problem.yaml", "problem", Problem)
        mapspace = _load(directory / "constraints.yaml", "mapspace", Mapspace)
        compounds = _load(directory / "components.yaml", "compound_components", Compounds)
        levels = list(_components(arch.subtree[0]))
        assert [c.name for c in levels] == problem["levels"]
        defined = {c.name: c for c in compounds.classes}
        for level in levels:  # every level's class is a compound we define, around a known model
            assert level.class_ in defined, level.class_
            for sub in defined[level.class_].subcomponents:
                assert sub.class_ in primitives | {"SRAM", "DRAM_LPDDR4"}, sub.class_
        names = {c.name for c in levels}
        dims = set(shape.shape.dimensions)
        for target in mapspace.targets:
            assert target.target in names
            for text in (target.factors or "", target.permutation or ""):
                assert set(re.findall(r"[A-Z]+", text)) <= dims, text
            assert set(target.keep or []) | set(target.bypass or []) <= {d.name for d in shape.shape.data_spaces}
        # Accelergy evaluates plain strings as Python: the strings it reads are written quoted.
        for name in ("arch.yaml", "components.yaml"):
            text = (directory / name).read_text()
            assert re.findall(r"technology: (\S+)", text) and all(v.startswith('"') for v in re.findall(r"technology: (\S+)", text))
            assert all(v.startswith('"') for v in re.findall(r"power_gated_at: (\S+)", text))
        if problem["export"] == "sparse":
            sparse = yaml.safe_load((directory / "sparse_opt.yaml").read_text())["sparse_optimizations"]
            assert {t["name"] for t in sparse["targets"]} <= names
    assert subprocess.run(["bash", "-n", str(folder / "run.sh")]).returncode == 0
    run_sh = (folder / "run.sh").read_text()
    assert all(f"  {p['directory']}\n" in run_sh for p in manifest["problems"])
    assert (folder / "collect.py").read_text() == Path(timeloop_stats.__file__).read_text()


def test_problem_shapes_equal_our_einsums(bert):
    folder, _, _, rewritten, manifest = bert
    specs = list(dict.fromkeys(e.spec for e in rewritten.workload.einsums))
    packing = [p for p in manifest["problems"] if p["export"] == "packing"]
    assert len(packing) == len(specs)
    for problem, spec in zip(packing, specs):
        data = yaml.safe_load((folder / problem["directory"] / "problem.yaml").read_text())["problem"]
        assert problem["form"] == spec.form and problem["ranks"] == spec.rank_sizes
        assert data["shape"]["dimensions"] == [r.upper() for r, _ in spec.ranks]
        assert {k: v for k, v in data["instance"].items() if k != "densities"} == {r.upper(): n for r, n in spec.ranks}
        spaces = [(d["name"], [p[0][0].lower() for p in d["projection"]], bool(d.get("read_write"))) for d in data["shape"]["data_spaces"]]
        assert spaces == einsum_tensors(spec)


def test_instances_times_operations_are_the_executed_macs(bert):
    _, result, _, rewritten, manifest = bert
    packing = [p for p in manifest["problems"] if p["export"] == "packing"]
    macs = sum(p["instances"] * p["cost_scale"] * p["mapped_operations"] for p in packing if p["form"] in MAC_FORMS)
    assert macs == pytest.approx(rewritten.workload.macs, rel=1e-12)
    assert sum(p["exact_operations"] for p in packing if p["form"] in MAC_FORMS) == rewritten.workload.macs
    assert manifest["executed_macs"] == result.executed_macs == rewritten.workload.macs
    assert sum(p["instances"] for p in packing) == sum(e.count for e in rewritten.workload.einsums)


def test_sparse_export_densities_are_the_profile_s(bert):
    folder, _, prepared, _, manifest = bert
    sparse = [p for p in manifest["problems"] if p["export"] == "sparse"]
    assert sparse
    covered = []
    for problem in sparse:
        matrices = [prepared.sparsity.get(int(name[1:].split(".")[0]), name.split(".")[1]) for name in problem["matrices"]]
        nonzeros = sum(round(m.density * m.shape[0] * m.shape[1]) for m in matrices)
        assert problem["nonzeros"] == nonzeros
        assert problem["density"] == pytest.approx(nonzeros / sum(m.shape[0] * m.shape[1] for m in matrices), rel=1e-12)
        assert problem["instances"] == len(matrices)
        data = yaml.safe_load((folder / problem["directory"] / "problem.yaml").read_text())["problem"]
        assert data["instance"]["densities"] == {"W": {"distribution": "hypergeometric", "density": problem["density"]}}
        assert problem["ranks"]["k"] == matrices[0].shape[1] and problem["ranks"]["n"] == matrices[0].shape[0]  # dense shapes
        covered += problem["matrices"]
    # every weight matrix the chip multiplies (shared-QK attention has no K projection) appears once
    shared_qk = not any(e.kind == Kind.K_PROJ for e in rewrite(prepared.workload, None, prepared.spans).workload.einsums)
    expected = [f"L{m.layer}.{m.role}" for m in prepared.sparsity.matrices if not (shared_qk and str(m.role) == "k")]
    assert sorted(covered) == sorted(expected)


def test_component_energies_are_accelforge_s(bert):
    """A compound's energy per Timeloop access is what AccelForge charges per value (single-tensor levels)."""
    folder, _, prepared, rewritten, manifest = bert
    spec = next(e.spec for e in rewritten.workload.einsums if e.spec.form == "matmul")
    problem = next(p for p in manifest["problems"] if p["export"] == "packing" and p["form"] == "matmul")
    evaluated = evaluated_arch(prepared.arch_path, spec, prepared.variables)
    nodes = {n.name: n for n in _walk(evaluated.arch.nodes)}
    classes = {c["name"]: c for c in yaml.safe_load((folder / problem["directory"] / "components.yaml").read_text())["compound_components"]["classes"]}
    bits = problem["tensor_bits"]

    def timeloop_energy(level: str, action: str) -> float:
        compound = next(c for name, c in classes.items() if name.startswith(level + "_"))
        part = next(a for a in compound["actions"] if a["name"] == action)["subcomponents"][0]["actions"][0]
        return part["energy_scale"] * getattr(nodes[level].component_model, part["name"])().energy

    def action(level: str, name: str):
        return next(a for a in nodes[level].actions if a.name == name)

    compute = action("BflyMac", "compute")
    assert timeloop_energy("BflyMac", "compute") == pytest.approx(compute.energy, rel=1e-9)
    write = action("WeightArray", "write")  # per stored weight: its bits / bits per action of writes
    assert timeloop_energy("WeightArray", "fill") == pytest.approx(write.energy * bits["W"] / write.bits_per_action, rel=1e-9)
    mask = action("BflyControl", "read")  # the mask's share of a stored weight's bits, 1 bit per action
    assert timeloop_energy("BflyControl", "read") == pytest.approx(mask.energy * bits["W"] / mask.bits_per_action, rel=1e-9)
    assert timeloop_energy("BflyControl", "fill") == 0.0  # a Toll charges its values once, on the way down
    routing = action("BflyRouting", "read")
    assert timeloop_energy("BflyRouting", "read") == pytest.approx(routing.energy, rel=1e-9)
    leak = next(a for a in classes["BflyRouting_storage"]["actions"] if a["name"] == "leak")["subcomponents"][0]["actions"][0]
    assert leak["energy_scale"] * nodes["BflyRouting"].component_model.leak_power == pytest.approx(nodes["BflyRouting"].leak_power, rel=1e-9)


def _walk(nodes):
    for node in nodes:
        if type(node).__name__ == "Fork":
            yield from _walk(node.nodes)
        elif type(node).__name__ != "Container":
            yield node


# ---- the stats reader on canned timeloop-mapper output ----------------------------------------------------

_DENSE_STATS = """\
Buffer and Arithmetic Levels
----------------------------
Level 0
-------
=== Mac ===

    SPECS
    -----
    Word bits             : 8
    Instances             : 16 (16*1)
    Compute energy        : 1.00 pJ

    STATS
    -----
    Utilized instances      : 4
    Computes (total)        : 64
    Cycles                  : 16
    Energy (total)          : 64.00 pJ

Level 1
-------
=== Buf ===

    SPECS
    -----
        Leakage energy (total)          : 2.00 pJ

    STATS
    -----
    Cycles               : 20
    W:
        Utilized instances (max)                 : 4
        Scalar reads (per-instance)              : 16
        Scalar fills (per-instance)              : 4
        Scalar updates (per-instance)            : 0
        Energy (total)                           : 30.00 pJ

=== Buf ===
    Total scalar accesses                   : 80

Summary Stats
-------------
Utilization: 20.00%
Cycles: 20
Energy: 0.00 uJ

Computes = 64
fJ/Compute
    Mac                           = 1000.00
    Buf                           = 500.00
    Total                         = 1500.00
"""


def test_stats_reader_on_canned_output(tmp_path):
    path = tmp_path / timeloop_stats.STATS_FILE
    path.write_text(_DENSE_STATS)
    stats = timeloop_stats.read_stats(path)
    assert stats.energy_pj == pytest.approx(96.0) and stats.cycles == 20 and stats.utilization == pytest.approx(0.2)
    assert stats.spatial_utilization == pytest.approx(4 / 16)
    assert stats.levels["Mac"].energy_pj == pytest.approx(64.0)
    buf = stats.levels["Buf"]
    assert buf.energy_pj == pytest.approx(32.0) and buf.leakage_pj == 2.0  # (the repeated name at the end is skipped)
    assert buf.accesses == {"W": 80.0} and buf.tensor_energy_pj == {"W": 30.0}
    sparse = _DENSE_STATS.replace("Computes = 64\nfJ/Compute", "Algorithmic Computes = 64\nfJ/Algorithmic-Compute").replace(
        "Total                         = 1500.00\n", "Total                         = 1500.00\n\nActual Computes = 16\nfJ/Compute\n    Mac = 4000.00\n    Total = 6000.00\n")
    path.write_text(sparse)
    stats = timeloop_stats.read_stats(path)
    assert stats.algorithmic_computes == 64 and stats.actual_computes == 16 and stats.energy_pj == pytest.approx(96.0)
    with pytest.raises(timeloop_stats.StatsError, match="missing"):
        timeloop_stats.read_stats(tmp_path / "absent" / timeloop_stats.STATS_FILE)
    assert math.isclose(timeloop_stats.ProblemResult("p", "k", "", "packing", 3.0, 1e-9, stats).latency_s, 20 * 1e-9 * 3.0)


# ---- bad input through the CLI -------------------------------------------------------------------------------


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sparsecim.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "a_file", "--model", "all-minilm-l6-v2"], "is a file, not a folder"),
        (["--out", "a_file/sub", "--model", "all-minilm-l6-v2"], "a_file is a file, not a folder"),  # the parent named
        (["--out", "tl", "--model", "all-minilm-l6-v2", "--algorithm", "greedy"], "--algorithm"),
        (["--out", "tl", "--case", "bert-glue", "--density", "0.5"], "--case sets the model"),
        (["--out", "tl", "--model", "all-minilm-l6-v2", "--arch", "simba"], "Timeloop export knows the chip"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "a_file").write_text("x")
    proc = _cli("export", "timeloop", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not list((tmp_path / "tl").rglob("*.yaml")) if (tmp_path / "tl").exists() else True

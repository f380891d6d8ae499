"""Read what timeloop-mapper wrote for the problems of a `sparsecim export timeloop` folder, and add them up.

Stand-alone on purpose: the exporter copies this file into every export as `collect.py`, which `run.sh`
runs with the Timeloop kit's Python (only the standard library and PyYAML), and the cross-check bench
imports it from sparsecim. Usage in an export folder::

    python collect.py [RUN_FOLDER]      # default: ./runs; writes RUN_FOLDER/results.csv, prints totals

Per problem it reads `timeloop-mapper.stats.txt` (the level energies from "fJ/Algorithmic-Compute" x
algorithmic computes: the first "Energy (total)" line of the file is the compute level only), the cycles,
the utilisation and each level's accesses per tensor, and multiplies by the problem's weight from
`manifest.yaml`: instances x cost_scale (exact operations / mapped operations, as sparsecim scales).
"""

from __future__ import annotations

import csv
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STATS_FILE = "timeloop-mapper.stats.txt"
MAP_FILE = "timeloop-mapper.map.txt"

_LEVEL_HEAD = re.compile(r"^=== (\S+) ===\s*$")
_NUMBER = r"([-+0-9.eE]+|inf|nan)"


@dataclass
class LevelStats:
    """One Timeloop level of one run: energy [pJ], leakage [pJ], accesses per tensor (all instances)."""

    energy_pj: float = 0.0
    leakage_pj: float = 0.0
    accesses: dict[str, float] = field(default_factory=dict)  # tensor -> actual reads + fills + updates (scalar)
    tensor_energy_pj: dict[str, float] = field(default_factory=dict)  # tensor -> its accesses' energy (no leakage)
    utilized_instances: dict[str, float] = field(default_factory=dict)  # tensor -> average utilized instances


@dataclass
class RunStats:
    """The best mapping timeloop-mapper found for one problem (one instance)."""

    energy_pj: float
    cycles: float
    utilization: float  # Timeloop's: computes / (cycles x compute instances)
    spatial_utilization: float  # compute instances the mapping uses / all (sparsecim's "util")
    algorithmic_computes: float
    actual_computes: float
    levels: dict[str, LevelStats]
    mapping: str = ""

    @property
    def energy_j(self) -> float:
        return self.energy_pj * 1e-12


class StatsError(ValueError):
    """A stats file that is missing or not in the format this reader knows."""


def _value(pattern: str, text: str, what: str, path: Path) -> float:
    found = re.search(pattern, text, flags=re.MULTILINE)
    if found is None:
        raise StatsError(f"{path}: no {what}")
    return float(found.group(1))


def read_stats(path: str | Path) -> RunStats:
    """Parse one `timeloop-mapper.stats.txt` (StatsError if it is missing or incomplete)."""
    path = Path(path)
    if not path.is_file():
        raise StatsError(f"{path}: missing (timeloop-mapper failed or Accelergy did not run; see mapper.log beside it)")
    text = path.read_text()
    summary = text[text.rfind("Summary Stats"):]
    if "Summary Stats" not in text:
        raise StatsError(f"{path}: no Summary Stats section")
    cycles = _value(rf"^Cycles: {_NUMBER}", summary, "cycles", path)
    utilization = _value(rf"^Utilization: {_NUMBER}%", summary, "utilization", path) / 100.0
    # Sparseloop runs report algorithmic (dense) and actual computes; dense runs only "Computes".
    sparse = "Algorithmic Computes" in summary
    algorithmic = _value(rf"^(?:Algorithmic )?Computes = {_NUMBER}", summary, "computes", path)
    actual = _value(rf"^Actual Computes = {_NUMBER}", summary, "actual computes", path) if sparse else algorithmic
    per_compute = summary[summary.find("fJ/Algorithmic-Compute" if sparse else "fJ/Compute"):]
    per_compute = per_compute[: per_compute.find("\n\n")] if "\n\n" in per_compute else per_compute
    levels: dict[str, LevelStats] = {}
    total = None
    for line in per_compute.splitlines()[1:]:
        found = re.match(rf"^\s+(\S+)\s+= {_NUMBER}\s*$", line)
        if not found:
            continue
        name, femto = found.group(1), float(found.group(2))
        if name == "Total":
            total = femto * algorithmic * 1e-3
        else:
            levels[name] = LevelStats(energy_pj=femto * algorithmic * 1e-3)
    if total is None:
        raise StatsError(f"{path}: no fJ/Algorithmic-Compute total")
    _read_level_sections(text, levels)
    compute = text.split("=== ", 2)[1] if text.count("=== ") >= 1 else ""
    instances = re.search(rf"Instances\s+: {_NUMBER}", compute)
    used = re.search(rf"Utilized instances(?: \(max\))?\s+: {_NUMBER}", compute)
    spatial = float(used.group(1)) / float(instances.group(1)) if instances and used else float("nan")
    mapping_file = path.parent / MAP_FILE
    mapping = mapping_file.read_text() if mapping_file.is_file() else ""
    return RunStats(total, cycles, utilization, spatial, algorithmic, actual, levels, mapping)


def _read_level_sections(text: str, levels: dict[str, LevelStats]) -> None:
    """Leakage and per-tensor accesses of each storage level (the per-level STATS blocks)."""
    sections = re.split(r"^(?==== \S+ ===\s*$)", text, flags=re.MULTILINE)
    for section in sections:
        head = _LEVEL_HEAD.match(section.splitlines()[0]) if section.strip() else None
        if head is None or head.group(1) not in levels or "SPECS" not in section:
            continue  # (the operational-intensity list at the end repeats the level names)
        level = levels[head.group(1)]
        leak = re.search(rf"Leakage energy \(total\)\s+: {_NUMBER} pJ", section)
        level.leakage_pj = float(leak.group(1)) if leak else 0.0
        stats = section.split("STATS", 1)[-1]
        blocks = re.split(r"^    (\S+):\s*$", stats, flags=re.MULTILINE)
        for tensor, block in zip(blocks[1::2], blocks[2::2]):
            counts = [
                float(m.group(2))  # Sparseloop runs say "Actual scalar reads", dense runs "Scalar reads"
                for m in re.finditer(rf"(?:Actual s|S)calar (reads|fills|updates) \(per-instance\)\s+: {_NUMBER}", block)
            ]
            instances = re.search(rf"Utilized instances \((?:average|max)\)\s+: {_NUMBER}", block)
            used = float(instances.group(1)) if instances else 1.0
            level.accesses[tensor] = sum(counts) * used
            level.utilized_instances[tensor] = used
            energy = re.search(rf"^\s+Energy \(total\)\s+: {_NUMBER} pJ", block, flags=re.MULTILINE)
            level.tensor_energy_pj[tensor] = float(energy.group(1)) if energy else 0.0


@dataclass
class ProblemResult:
    """One exported problem: its run and its weight in the model (instances x cost_scale)."""

    name: str
    kind: str
    tag: str
    export: str  # "packing" or "sparse"
    weight: float
    seconds_per_cycle: float
    stats: RunStats

    @property
    def energy_j(self) -> float:
        """Energy of every instance it stands for [J]."""
        return self.stats.energy_j * self.weight

    @property
    def latency_s(self) -> float:
        """Latency of every instance it stands for [s] (Einsums run one after another)."""
        return self.stats.cycles * self.seconds_per_cycle * self.weight


def collect(export_folder: str | Path, run_folder: str | Path | None = None, export: str | None = None) -> list[ProblemResult]:
    """Every problem of the export's manifest (optionally only one export kind) with its run's stats."""
    export_folder = Path(export_folder)
    run_folder = Path(run_folder) if run_folder is not None else export_folder / "runs"
    manifest = yaml.safe_load((export_folder / "manifest.yaml").read_text())
    results = []
    for problem in manifest["problems"]:
        if export is not None and problem["export"] != export:
            continue
        stats = read_stats(run_folder / problem["directory"] / STATS_FILE)
        results.append(
            ProblemResult(
                name=problem["name"],
                kind=problem["kind"],
                tag=problem.get("tag", ""),
                export=problem["export"],
                weight=problem["instances"] * problem["cost_scale"],
                seconds_per_cycle=problem["seconds_per_cycle"],
                stats=stats,
            )
        )
    return results


def write_table(results: list[ProblemResult], path: str | Path) -> None:
    """One CSV row per problem (all instances) plus a total row per export kind."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["export", "problem", "kind", "weight", "energy_J", "latency_s", "cycles_per_instance", "utilization"])
        for r in results:
            writer.writerow([r.export, r.name, r.kind, f"{r.weight:.6g}", f"{r.energy_j:.6e}", f"{r.latency_s:.6e}",
                             f"{r.stats.cycles:.6g}", f"{r.stats.utilization:.4f}"])
        for kind in sorted({r.export for r in results}):
            rows = [r for r in results if r.export == kind]
            writer.writerow([kind, "TOTAL", "", "", f"{sum(r.energy_j for r in rows):.6e}",
                             f"{sum(r.latency_s for r in rows):.6e}", "", ""])


def main(argv: list[str]) -> int:
    export_folder = Path(__file__).resolve().parent
    run_folder = Path(argv[0]) if argv else export_folder / "runs"
    try:
        results = collect(export_folder, run_folder)
    except StatsError as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 1
    write_table(results, run_folder / "results.csv")
    for kind in sorted({r.export for r in results}):
        rows = [r for r in results if r.export == kind]
        print(f"{kind}:")
        for r in rows:
            print(f"  {r.name:<28} x{r.weight:9.3f}  {r.energy_j * 1e6:12.3f} uJ  {r.latency_s * 1e3:10.4f} ms  util {r.stats.utilization:6.1%}")
        energy = sum(r.energy_j for r in rows)
        latency = sum(r.latency_s for r in rows)
        print(f"  {'TOTAL':<28} {'':10}  {energy * 1e6:12.3f} uJ  {latency * 1e3:10.4f} ms" + ("" if math.isfinite(energy) else " (not finite)"))
    print(f"wrote {run_folder / 'results.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

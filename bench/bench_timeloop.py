"""Cross-check: sparsecim (AccelForge) against Timeloop + Accelergy on the same chip (issue 13).

    python bench/bench_timeloop.py                      # everything (about 30-40 min on 2 shared cores)
    python bench/bench_timeloop.py bert-glue dense-layer   # some parts: bert-glue gpt2-enwik8 dense-layer sparseloop pytimeloop

Finds Timeloop: SPARSECIM_TIMELOOP_PREFIX (a kit built with build_timeloop.sh), else TIMELOOP_KIT_PREFIX
when timeloop-mapper is on PATH, else builds the kit once into ~/.cache/sparsecim-timeloop with the
kit's build_timeloop.sh (SPARSECIM_TIMELOOP_KIT, default ../shared/timeloop-kit beside the repository;
about 8-16 minutes, needs apt). Then, with the same spec variables on both sides:

* the two published cases and a dense BERT-base layer: `sparsecim export timeloop`, timeloop-mapper on
  every problem (run.sh), sparsecim's own mapping of the same Einsums; per Einsum and in total: energy,
  latency and spatial utilisation (compute lanes the mapping uses) of both, the difference, and the
  energy difference split into what each tool leaves out: leakage only sparsecim charges (idle engines,
  compute units), the tensors' bits per value Timeloop does not charge at its shared memories, off-chip
  traffic of activations sparsecim keeps on chip; the rest is mapping (docs/timeloop.md explains each);
* Sparseloop vs our packing: the dense BERT layer's weight matmuls at 50 / 75 / 90 % weight sparsity
  (uniform random masks, the statistical model), Sparseloop's estimate (bitmask weights, skipped
  computes) beside sparsecim's packing of the real masks;
* pytimeloop: one exported problem evaluated from Python with the mapper's Accelergy tables (equal to
  timeloop-mapper), and with stock ModelApp (Timeloop's internal energy model; not equal).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sparsecim.cases import case
from sparsecim.mapping.workers import map_all
from sparsecim.pipeline import prepare
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.rewrite import rewrite
from sparsecim.studies import timeloop_stats
from sparsecim.studies.timeloop_export import MapperSettings, export_timeloop
from sparsecim.workload.einsums import EinsumSpec
from sparsecim.workload.shapes import preset

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sparsecim-timeloop"
PARTS = ("bert-glue", "gpt2-enwik8", "dense-layer", "sparseloop", "pytimeloop")
SPARSITIES = (0.5, 0.75, 0.9)


# ---- the kit --------------------------------------------------------------------------------------


def kit_prefix() -> tuple[Path, str]:
    """(prefix of a built Timeloop kit, how it was found); builds it once into the cache if needed."""
    given = os.environ.get("SPARSECIM_TIMELOOP_PREFIX")
    if given:
        if not (Path(given) / "env.sh").is_file():
            sys.exit(f"bench_timeloop: SPARSECIM_TIMELOOP_PREFIX={given} has no env.sh (not a built kit)")
        return Path(given), "SPARSECIM_TIMELOOP_PREFIX"
    if shutil.which("timeloop-mapper") and os.environ.get("TIMELOOP_KIT_PREFIX"):
        return Path(os.environ["TIMELOOP_KIT_PREFIX"]), "timeloop-mapper on PATH"
    if (CACHE / "env.sh").is_file():
        return CACHE, f"cache {CACHE}"
    kit = Path(os.environ.get("SPARSECIM_TIMELOOP_KIT", REPO.parent / "shared" / "timeloop-kit"))
    script = kit / "build_timeloop.sh"
    if not script.is_file():
        sys.exit(f"bench_timeloop: no Timeloop (set SPARSECIM_TIMELOOP_PREFIX) and no kit to build at {kit} (set SPARSECIM_TIMELOOP_KIT)")
    print(f"building the Timeloop kit into {CACHE} (once; logs in {CACHE}/build-logs) ...", flush=True)
    start = time.perf_counter()
    subprocess.run(["bash", str(script), str(CACHE)], check=True)
    return CACHE, f"built into {CACHE} in {time.perf_counter() - start:.0f} s"


# ---- one part: export, Timeloop, sparsecim, compare ---------------------------------------------------------


def export_and_run(request: RunRequest, folder: Path, prefix: Path, select: list[str] | None = None, sparse: bool = True):
    """Export, run timeloop-mapper (all problems or the selected folders); (manifest, export s, mapper s)."""
    start = time.perf_counter()
    export_timeloop(request, folder, MapperSettings(), sparse=sparse)
    exported = time.perf_counter() - start
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    start = time.perf_counter()
    env = {**os.environ, "SPARSECIM_TIMELOOP_PREFIX": str(prefix)}
    proc = subprocess.run(["bash", str(folder / "run.sh"), *(select or [])], env=env, capture_output=True, text=True)
    ran = time.perf_counter() - start
    print(proc.stdout.strip())
    if proc.returncode:
        print(proc.stderr.strip()[-2000:])
    return manifest, exported, ran


def spec_of(problem: dict) -> EinsumSpec:
    e = problem["einsum"]
    return EinsumSpec(e["form"], tuple((r, n) for r, n in e["ranks"]), e["weight_from_dram"], e["input_bits"], e["weight_bits"], e["output_bits"], e["routed"])


def sparsecim_costs(request: RunRequest, problems: list[dict]):
    """sparsecim's cost of every exported (packing) problem's Einsum, with the run's variables; seconds."""
    prepared = prepare(request)
    rewritten = rewrite(prepared.workload, prepared.sparsity, prepared.spans, request.scheme, request.lar)
    variables = {**prepared.variables, **(rewritten.scheme.variables if rewritten.scheme is not None else {})}
    specs = [spec_of(p) for p in problems]
    start = time.perf_counter()
    costs = map_all(prepared.arch_path, specs, variables, True, None, 1)
    return {p["directory"]: costs[s] for p, s in zip(problems, specs)}, time.perf_counter() - start, rewritten


def _offchip_tensors(mapping: str, top: str) -> set[str]:
    found = re.search(rf"{top}\[([^\]]*)\]", mapping)
    return set(found.group(1).split(",")) if found else set()


def compare(manifest: dict, folder: Path, costs: dict) -> list[dict]:
    """One row per packing problem (all its instances) with both tools' numbers and the energy split."""
    rows = []
    for problem in manifest["problems"]:
        if problem["export"] != "packing":
            continue
        stats = timeloop_stats.read_stats(folder / "runs" / problem["directory"] / timeloop_stats.STATS_FILE)
        sc = costs[problem["directory"]]
        weight = problem["instances"] * problem["cost_scale"]
        bits = problem["tensor_bits"]
        levels, top, compute = problem["levels"], problem["levels"][0], problem["levels"][-1]
        # Leakage only sparsecim charges: components of other engines, and compute units (Timeloop has no
        # compute leakage).
        sc_only = sum(e for c, e in sc.energy_j.items() if c not in levels) + sc.leak_energy_j.get(compute, 0.0)
        # Timeloop charges 8-bit words at memories shared by several tensors; sparsecim each tensor's bits.
        bits_gap = sum(
            energy * (bits[t] / 8 - 1) * 1e-12
            for level in problem["word_levels"] if level in stats.levels
            for t, energy in stats.levels[level].tensor_energy_pj.items()
        )
        # Tensors Timeloop backs off chip that sparsecim keeps on chip (at sparsecim's bits).
        kept = _offchip_tensors(sc.mapping, top)
        offchip_act = sum(
            energy * bits[t] / 8 * 1e-12 for t, energy in stats.levels[top].tensor_energy_pj.items() if t not in kept
        ) if top in stats.levels else 0.0
        sc_e, tl_e = sc.energy_total_j, stats.energy_j
        rows.append({
            "name": f"{problem['kind']} {problem['tag'].split(' ')[0]}".strip(),
            "weight": weight,
            "sc_energy": sc_e * weight, "tl_energy": tl_e * weight,
            "sc_latency": sc.latency_s * weight, "tl_latency": stats.cycles * problem["seconds_per_cycle"] * weight,
            "sc_util": sc.lane_utilisation if problem["compute_instances"] > 1 else float("nan"),
            "tl_util": stats.spatial_utilization if problem["compute_instances"] > 1 else float("nan"),
            "sc_only": sc_only * weight, "bits": bits_gap * weight, "offchip_act": offchip_act * weight,
            "rest": ((tl_e + bits_gap - offchip_act + sc_only) / sc_e - 1) if sc_e else float("nan"),
            "sc_mapping": sc.mapping, "tl_mapping": stats.mapping,
        })
    return rows


def _pct(a: float, b: float) -> str:
    return f"{100 * (b / a - 1):+6.1f}%" if a else "   n/a"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'Einsum':<16} {'x':>7} | {'energy sc':>10} {'Timeloop':>10} {'diff':>7} | {'latency sc':>10} {'Timeloop':>10} {'diff':>7} |"
          f" {'util sc':>7} {'TL':>6} | energy diff split (uJ): {'sc-only':>8} {'bits':>8} {'off-chip':>8} {'rest':>7}")
    for r in rows + [_total(rows)]:
        print(f"{r['name']:<16} {r['weight']:7.2f} | {r['sc_energy'] * 1e6:8.2f}uJ {r['tl_energy'] * 1e6:8.2f}uJ {_pct(r['sc_energy'], r['tl_energy'])} |"
              f" {r['sc_latency'] * 1e3:8.3f}ms {r['tl_latency'] * 1e3:8.3f}ms {_pct(r['sc_latency'], r['tl_latency'])} |"
              f" {_util(r['sc_util']):>7} {_util(r['tl_util']):>6} | {'':24}{r['sc_only'] * 1e6:8.2f} {r['bits'] * 1e6:8.2f} {r['offchip_act'] * 1e6:8.2f} {100 * r['rest']:+6.1f}%")


def _util(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"  # (nan: a unit without a spatial fanout)


def _total(rows: list[dict]) -> dict:
    total = {k: sum(r[k] for r in rows) for k in ("sc_energy", "tl_energy", "sc_latency", "tl_latency", "sc_only", "bits", "offchip_act")}
    total["rest"] = (total["tl_energy"] + total["bits"] - total["offchip_act"] + total["sc_only"]) / total["sc_energy"] - 1
    macs = sum(r["weight"] for r in rows)
    return {**total, "name": "TOTAL", "weight": macs, "sc_util": float("nan"), "tl_util": float("nan")}


def part(name: str, request: RunRequest, prefix: Path, work: Path, sparse: bool = True) -> list[dict]:
    folder = work / name
    manifest, exported, ran = export_and_run(request, folder, prefix, sparse=sparse)
    packing = [p for p in manifest["problems"] if p["export"] == "packing"]
    costs, mapped, _ = sparsecim_costs(request, packing)
    rows = compare(manifest, folder, costs)
    print_table(f"{name}: {manifest['model']}, {manifest['seq_len']} tokens; {'; '.join(manifest['notes']) or 'dense'}", rows)
    print(f"  times: export {exported:.1f} s, timeloop-mapper (all {len(manifest['problems'])} problems) {ran:.1f} s, sparsecim mapping {mapped:.1f} s")
    for r in rows:
        if abs(r["rest"]) > 0.10:
            print(f"  {r['name']}: sparsecim {r['sc_mapping']}")
            print("    Timeloop " + " | ".join(line.strip() for line in r["tl_mapping"].splitlines() if line.strip() and not line.startswith("-")))
    sparse_rows = [p for p in manifest["problems"] if p["export"] == "sparse"]
    if sparse_rows:
        results = timeloop_stats.collect(folder, export="sparse")
        total_e = sum(r.energy_j for r in results)
        total_t = sum(r.latency_s for r in results)
        print(f"  Sparseloop (dense weight matmuls, bitmask, measured densities): {total_e * 1e6:.1f} uJ, {total_t * 1e3:.2f} ms "
              f"(packing export of the same matmuls: {sum(r['tl_energy'] for r in rows if r['name'].split()[0] in {p['kind'] for p in sparse_rows}) * 1e6:.1f} uJ)")
    return rows


def dense_layer() -> RunRequest:
    return RunRequest(model=preset("bert-base").with_layers(1), seq_len=128)


def sparseloop_vs_packing(prefix: Path, work: Path) -> None:
    """The dense BERT layer's weight matmuls at 50/75/90 % (uniform random masks)."""
    print("\nSparseloop (statistical: bitmask weights at the density, hypergeometric positions, skipped computes) vs "
          "sparsecim's packing of the real masks (uniform random masks), BERT-base layer, 128 tokens, weight matmuls:")
    print(f"{'sparsity':>8} {'matmul':<9} | {'stored/dense':>12} {'bits/stored':>11} | {'energy sc':>10} {'TL pack':>9} {'Sparseloop':>10} {'SL vs sc':>8} |"
          f" {'latency sc':>10} {'TL pack':>9} {'Sparseloop':>10} {'SL vs sc':>8} | {'SL computes':>11}")
    for sparsity in SPARSITIES:
        request = dense_layer().with_changes(sparsity=SparsitySource(density=1 - sparsity))
        folder = work / f"layer-{int(sparsity * 100)}"
        export_timeloop(request, folder, MapperSettings())
        manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
        matmuls = [p for p in manifest["problems"] if p["form"] == "matmul"]
        start = time.perf_counter()
        env = {**os.environ, "SPARSECIM_TIMELOOP_PREFIX": str(prefix)}
        subprocess.run(["bash", str(folder / "run.sh"), *(p["directory"] for p in matmuls)], env=env, capture_output=True, text=True)
        ran = time.perf_counter() - start
        packing = [p for p in matmuls if p["export"] == "packing"]
        costs, _, rewritten = sparsecim_costs(request, packing)
        rewrites = {str(m.kind): m for m in rewritten.matrix_rewrites}
        totals = dict.fromkeys(("sc_e", "tl_e", "sl_e", "sc_t", "tl_t", "sl_t"), 0.0)
        for p in packing:
            sparse = next(s for s in matmuls if s["export"] == "sparse" and s["kind"] == p["kind"])
            pack = timeloop_stats.read_stats(folder / "runs" / p["directory"] / timeloop_stats.STATS_FILE)
            sl = timeloop_stats.read_stats(folder / "runs" / sparse["directory"] / timeloop_stats.STATS_FILE)
            w, ws = p["instances"] * p["cost_scale"], sparse["instances"]
            sc = costs[p["directory"]]
            m = rewrites[p["kind"]]
            vals = {"sc_e": sc.energy_total_j * w, "tl_e": pack.energy_j * w, "sl_e": sl.energy_j * ws,
                    "sc_t": sc.latency_s * w, "tl_t": pack.cycles * p["seconds_per_cycle"] * w, "sl_t": sl.cycles * sparse["seconds_per_cycle"] * ws}
            for k, v in vals.items():
                totals[k] += v
            print(f"{sparsity:8.0%} {p['kind']:<9} | {m.k_eff / m.k:12.3f} {m.weight_bits:11.2f} | {vals['sc_e'] * 1e6:8.1f}uJ {vals['tl_e'] * 1e6:7.1f}uJ"
                  f" {vals['sl_e'] * 1e6:8.1f}uJ {_pct(vals['sc_e'], vals['sl_e'])} | {vals['sc_t'] * 1e3:8.3f}ms {vals['tl_t'] * 1e3:7.3f}ms"
                  f" {vals['sl_t'] * 1e3:8.3f}ms {_pct(vals['sc_t'], vals['sl_t'])} | {sl.actual_computes / sl.algorithmic_computes:11.3f}")
        print(f"{sparsity:8.0%} {'all':<9} | {'':12} {'':11} | {totals['sc_e'] * 1e6:8.1f}uJ {totals['tl_e'] * 1e6:7.1f}uJ {totals['sl_e'] * 1e6:8.1f}uJ"
              f" {_pct(totals['sc_e'], totals['sl_e'])} | {totals['sc_t'] * 1e3:8.3f}ms {totals['tl_t'] * 1e3:7.3f}ms {totals['sl_t'] * 1e3:8.3f}ms"
              f" {_pct(totals['sc_t'], totals['sl_t'])} |   (timeloop-mapper {ran:.0f} s)")


_PYTIMELOOP = r'''
import sys, yaml, bindings
from bindings.config import Config
from pytimeloop.problem import Workload
from pytimeloop.mapping import Mapping
from pytimeloop.model import ArchSpecs, SparseOptimizationInfo
from pytimeloop.app.model import ModelApp
problem_dir, run_dir = sys.argv[1:3]
spec = {}
for name in ("arch.yaml", "problem.yaml"):
    spec.update(yaml.safe_load(open(f"{problem_dir}/{name}")))
spec.update(yaml.safe_load(open(f"{run_dir}/timeloop-mapper.map.yaml")))
text = yaml.safe_dump(spec)
# The working way: the mapper's Accelergy tables loaded into ArchSpecs (the workload first; keep every
# Config and its root alive while the bindings use them).
config = Config(text, "yaml"); root = config.root
workload = Workload(root["problem"])
specs = ArchSpecs(root["architecture"], False)
ert = Config(open(f"{run_dir}/timeloop-mapper.ERT.yaml").read(), "yaml"); ert_root = ert.root
art = Config(open(f"{run_dir}/timeloop-mapper.ART.yaml").read(), "yaml"); art_root = art.root
specs.parse_accelergy_ert(ert_root["ERT"]); specs.parse_accelergy_art(art_root["ART"])
engine = bindings.model.Engine(specs)
engine.evaluate(Mapping(root["mapping"], specs, workload), workload, SparseOptimizationInfo(Config.ConfigNode(), specs))
print("with_accelergy", engine.energy(), engine.cycles())
stock = ModelApp(text).run()   # never runs Accelergy: Timeloop's internal (PAT) energy model
print("stock_modelapp", stock.energy, stock.cycles)
'''


def pytimeloop_check(prefix: Path, work: Path) -> None:
    """An exported problem evaluated from Python (kit's venv) beside timeloop-mapper's own stats."""
    python = prefix / "venv" / "bin" / "python"
    folder = work / "bert-glue"
    if not (folder / "manifest.yaml").is_file():
        export_and_run(case("bert-glue").request(), folder, prefix, ["packing/00_q_proj"], sparse=False)
    problem = "packing/00_q_proj"
    script = work / "pytimeloop_check.py"
    script.write_text(_PYTIMELOOP)
    env = {**os.environ, "PATH": f"{prefix}/bin:{prefix}/venv/bin:{os.environ['PATH']}"}
    proc = subprocess.run([str(python), str(script), str(folder / problem), str(folder / "runs" / problem)], capture_output=True, text=True, env=env)
    if proc.returncode:
        print(f"\npytimeloop: not available or failed ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}); "
              f"build it with build_pytimeloop.sh")
        return
    values = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in proc.stdout.splitlines() if line.split()}
    stats = timeloop_stats.read_stats(folder / "runs" / problem / timeloop_stats.STATS_FILE)
    print(f"\npytimeloop on {problem} (the mapper's best mapping): timeloop-mapper {stats.energy_pj:,.0f} pJ {stats.cycles:.0f} cycles;"
          f" bindings + the mapper's ERT/ART {values['with_accelergy'][0]:,.0f} pJ {values['with_accelergy'][1]:.0f} cycles;"
          f" stock ModelApp.run() {values['stock_modelapp'][0]:,.0f} pJ {values['stock_modelapp'][1]:.0f} cycles (no Accelergy: PAT)")


def main(argv: list[str]) -> None:
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        sys.exit(f"bench_timeloop: unknown part {unknown[0]!r}; parts: {', '.join(PARTS)}")
    start = time.perf_counter()
    prefix, found = kit_prefix()
    print(f"Timeloop kit: {prefix} ({found})")
    work = Path(os.environ.get("SPARSECIM_TIMELOOP_WORK") or tempfile.mkdtemp(prefix="bench-timeloop-"))
    print(f"exports and runs in {work}")
    totals = {}
    for name in ("bert-glue", "gpt2-enwik8"):
        if name in parts:
            totals[name] = _total(part(name, case(name).request(), prefix, work))
    if "dense-layer" in parts:
        totals["dense-layer"] = _total(part("dense-layer", dense_layer(), prefix, work, sparse=False))
    if totals:
        print("\nTotals (all Einsums): energy sparsecim / Timeloop, latency sparsecim / Timeloop")
        for name, t in totals.items():
            print(f"  {name:<12} {t['sc_energy'] * 1e3:8.3f} mJ / {t['tl_energy'] * 1e3:8.3f} mJ ({_pct(t['sc_energy'], t['tl_energy'])})"
                  f"   {t['sc_latency'] * 1e3:8.2f} ms / {t['tl_latency'] * 1e3:8.2f} ms ({_pct(t['sc_latency'], t['tl_latency'])})")
    if "sparseloop" in parts:
        sparseloop_vs_packing(prefix, work)
    if "pytimeloop" in parts:
        pytimeloop_check(prefix, work)
    print(f"\nbench_timeloop: {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main(sys.argv[1:])

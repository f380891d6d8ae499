"""Modelled vs published: every figure of the chip's specification table (and the other published
figures) with the modelled value, the error, and whether the figure was used to calibrate the model
("calibrated") or is an independent check ("independent"). Structure given by the table itself is
"input".

Runs (the arch's defaults, i.e. the calibrated energy factors; off-chip access excluded unless a row
says otherwise, as the table's footnote 3 does), each mapped at the curve point its row names:
* the GPT-2 / Enwik-8 case (footnote 2) and the same model dense (no weight sparsity, dense attention,
  K projection, both engines' mechanisms unused): efficiency ranges, the journal's combined gain, the
  power curve, the LAR peak's workload;
* the BERT / GLUE case (footnote 1): latency excluding and including off-chip access;
* one FFN matmul that fills every BFLY bank: the BFLY peak.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sparsecim.attention.banding import dense_pairs, kept_pairs
from sparsecim.attention.profile import window_of_span
from sparsecim.cases import case
from sparsecim.errors import InputError
from sparsecim.files import load_yaml, parse_yaml
from sparsecim.mapping.arch import find_arch, spec_values
from sparsecim.mapping.mapper import map_einsum
from sparsecim.mapping.operating import curve_of
from sparsecim.mapping.result import ModelResult
from sparsecim.pipeline import run
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.studies.calibration import OperatingScaling, PowerFit, fit_power_curve
from sparsecim.studies.figures import TOLERANCE_PCT, FigureCheck
from sparsecim.studies.journal import journal_checks
from sparsecim.workload.einsums import attention_scores, matmul

CHIP = "isscc23_16_2"
PERIPHERY_FRACTION = 0.10  # assumed: pads, PLL, CTRL (die photo) and test logic, not modelled
EXCLUDE_OFFCHIP = {"offchip_gbps": "inf"}
LOW_POINT = (0.64, 20e6)  # curve: lowest point (table: 0.64 V, 20 MHz)
HIGH_POINT = (1.03, 320e6)  # curve: highest point (table: 1.03 V, 320 MHz)
LATENCY_POINT = LOW_POINT  # see latency rows
REFERENCE_POINT = {"voltage": 0.90, "frequency": 220e6}  # curve: the 220 MHz point; every run is mapped here
IMC_MACRO_CLASSES = ("sparsecim_cim_array", "sparsecim_cim_mac", "sparsecim_butterfly", "sparsecim_bfly_decoder")
PEAK_SPARSITIES = (0.75, 0.9, 0.95)


@dataclass
class ValidationReport:
    checks: list[FigureCheck]
    power_fit: PowerFit | None = None
    area_m2: dict = field(default_factory=dict)
    efficiency_curve: list[tuple[float, float, float]] = field(default_factory=list)  # (MHz, V, TOPS/W system)


def load_published(path: str | Path | None = None) -> dict:
    """The published-figures YAML (the copy shipped with sparsecim by default)."""
    if path is None:
        data = parse_yaml((resources.files("sparsecim.data") / "published.yaml").read_text(), "published.yaml")
    else:
        data = load_yaml(path, "published-figures file")
    if not isinstance(data, dict) or "spec_table" not in data or not isinstance(data["spec_table"], dict):
        raise InputError("published-figures YAML needs a 'spec_table' mapping")
    figures = data.get("figures") or {}
    if not isinstance(figures, dict):
        raise InputError("published-figures YAML: 'figures' must be a mapping")
    for key, entry in figures.items():  # figures are data: a number, or numbers with + - * / (never code)
        value = entry.get("value") if isinstance(entry, dict) else entry
        number = arithmetic(value) if isinstance(value, str) else value
        if value is not None and (isinstance(number, (str, bool)) or not isinstance(number, (int, float)) or not math.isfinite(number)):
            raise InputError(f"published-figures YAML: figures.{key}: {str(value)[:60]!r} is not a finite number or arithmetic of numbers (+ - * /)")
    return data


def _efficiency(scaling: OperatingScaling, ops: float, point, components=None) -> float:
    voltage, frequency = point
    return ops / scaling.energy(voltage, frequency, components) / 1e12


def validate(published: str | Path | None = None, progress=None, jobs=None) -> ValidationReport:
    """Run the chip's published conditions and compare with every published figure."""
    data = load_published(published)
    table = data["spec_table"]
    arch_path = find_arch(CHIP)[1]
    values = spec_values(arch_path)
    curve = curve_of(CHIP)
    reference = dict(REFERENCE_POINT)

    def evaluate(request: RunRequest, **variables) -> ModelResult:
        return run(request.with_changes(variables={**reference, **variables}), progress=progress, jobs=jobs)

    def at(point) -> dict:
        return {"voltage": point[0], "frequency": point[1]}

    gpt2 = case("gpt2-enwik8")
    sparse = evaluate(gpt2.request(), **EXCLUDE_OFFCHIP)  # the calibration's reference point
    sparse_low = OperatingScaling.of(evaluate(gpt2.request(), **EXCLUDE_OFFCHIP, **at(LOW_POINT)))
    sparse_high = OperatingScaling.of(evaluate(gpt2.request(), **EXCLUDE_OFFCHIP, **at(HIGH_POINT)))
    dense_request = RunRequest(model=gpt2.model, seq_len=gpt2.seq_len)
    dense = evaluate(dense_request, **EXCLUDE_OFFCHIP, **at(HIGH_POINT), lar_enabled=False, butterfly_enabled=False)
    dense_high = OperatingScaling.of(dense)
    macro = sparse.roles.of_class(*IMC_MACRO_CLASSES)
    ops = sparse.dense_equivalent_ops
    fit = fit_power_curve(OperatingScaling.of(sparse), curve)

    bert = case("bert-glue")
    bert_onchip = evaluate(bert.request(), **EXCLUDE_OFFCHIP, **at(LATENCY_POINT))
    bert_with_link = evaluate(bert.request(), **at(LATENCY_POINT))
    bert_latency_excl = bert_onchip.latency_onchip_s

    peak_bfly, peak_lar = peak_performance(arch_path, reference, HIGH_POINT[1])
    area_mm2 = sparse.area_total_m2 * 1e6
    die_mm2 = area_mm2 / (1 - PERIPHERY_FRACTION)

    peak_runs = {
        s: evaluate(gpt2.request().with_changes(sparsity=SparsitySource(prune=f"hybrid:{s:g}:scope=matrix")), **EXCLUDE_OFFCHIP, **at(LOW_POINT))
        for s in PEAK_SPARSITIES[1:]
    }
    peak_efficiency = {0.75: _efficiency(sparse_low, ops, LOW_POINT)}
    peak_efficiency.update({s: _efficiency(OperatingScaling.of(r), r.dense_equivalent_ops, LOW_POINT) for s, r in peak_runs.items()})

    low_v, low_f = LOW_POINT
    high_v, high_f = HIGH_POINT
    conditions_high = f"{gpt2.footnote}; {low_v} V / {low_f / 1e6:.0f} MHz (the curve's lowest point); chip excl. off-chip"
    conditions_low = f"{gpt2.model} {gpt2.seq_len} tokens dense (no weight sparsity, dense attention, both engines' mechanisms unused); {high_v} V / {high_f / 1e6:.0f} MHz"
    why_ends = ("which end is which is not published: the low end is read as the dense model at the highest point, the high end as "
                "the sparse case at the lowest point (the efficiency gap is the sparsity gain x the voltage gain)")

    checks: list[FigureCheck] = []
    src = str(table.get("source", "spec table"))

    def add(key, published_value, unit, modelled, kind, conditions, note=""):
        checks.append(FigureCheck(key, published_value, unit, modelled, kind, conditions, src, note))

    add("spec_table.imc_8t_kb", table["imc_8t_kb"], "KB", _kib(values, "8t"), "input",
        "8T weight banks (16 x 64x128 b per core) + KV banks (4 x 64x128 b per core) x 4 cores; the diagram's KV label (8 banks) would give 96 KB")
    add("spec_table.imc_10t_bfly_kb", table["imc_10t_bfly_kb"], "KB", _kib(values, "10t"), "input", "10T BFLY-control banks, 16 x 64x128 b per core x 4 cores")
    add("spec_table.buffer_kb", table["buffer_kb"], "KB", float(values["activation_kb"]), "input", "activation memories")
    add("spec_table.peak_performance_tops.bfly_engine", table["peak_performance_tops"]["bfly_engine"], "TOPS", peak_bfly, "independent",
        "structure at 320 MHz: 4 cores x 16 banks x 64 rows x 16 weights, 4 time slots, 8-b bit-serial inputs; executed 8-b MACs x 2 ops, "
        "from the mapper on an FFN matmul that fills every bank")
    add("spec_table.peak_performance_tops.lar_engine", table["peak_performance_tops"]["lar_engine"], "TOPS", peak_lar, "independent",
        "structure at 320 MHz: K half of the KV banks (4 cores x 2 x 64 x 16 values), 4 time slots, bit-serial; counted dense-equivalent on "
        "the GPT-2 case (2 ops per causal pair x head dim, dense causal pairs / kept pairs of span 83)")
    macro_low = _efficiency(dense_high, dense.dense_equivalent_ops, HIGH_POINT, dense.roles.of_class(*IMC_MACRO_CLASSES))
    macro_high = _efficiency(sparse_low, ops, LOW_POINT, macro)
    system_low = _efficiency(dense_high, dense.dense_equivalent_ops, HIGH_POINT)
    system_high = _efficiency(sparse_low, ops, LOW_POINT)
    eff = table["energy_efficiency_topsw"]
    add("spec_table.energy_efficiency_topsw.imc_macro (low end)", eff["imc_macro"][0], "TOPS/W", macro_low, "independent", conditions_low + "; IMC macros only", why_ends)
    add("spec_table.energy_efficiency_topsw.imc_macro (high end)", eff["imc_macro"][1], "TOPS/W", macro_high, "independent", conditions_high + "; IMC macros only", why_ends)
    add("spec_table.energy_efficiency_topsw.system (low end)", eff["system"][0], "TOPS/W", system_low, "independent", conditions_low + "; whole chip excl. off-chip", why_ends)
    add("spec_table.energy_efficiency_topsw.system (high end)", eff["system"][1], "TOPS/W", system_high, "independent", conditions_high, why_ends)
    add("spec_table.area_efficiency_tops_per_mm2", table["area_efficiency_tops_per_mm2"], "TOPS/mm2", (peak_bfly + peak_lar) / die_mm2, "independent",
        f"(modelled BFLY + LAR peaks) / modelled die ({area_mm2:.2f} mm2 of components + assumed {PERIPHERY_FRACTION:.0%} periphery)")
    die = table["die_mm"]
    add("spec_table.die_area", round(die[0] * die[1], 2), "mm2", die_mm2, "independent",
        f"modelled components {area_mm2:.3f} mm2 + assumed {PERIPHERY_FRACTION:.0%} periphery (pads, PLL, CTRL; not modelled)")
    latency = table["latency_ms"]["bert_110m_glue"]
    add("spec_table.latency_ms.bert_110m_glue.excluding_offchip", latency["excluding_offchip"], "ms", bert_latency_excl * 1e3, "independent",
        f"{bert.footnote}; at {LATENCY_POINT[0]} V / {LATENCY_POINT[1] / 1e6:.0f} MHz (operating point not published: the lowest curve point, "
        "where the table's efficiency upper ends lie); off-chip access excluded")
    add("spec_table.latency_ms.bert_110m_glue.including_offchip", latency["including_offchip"], "ms", bert_with_link.latency_s * 1e3, "calibrated",
        f"same point with the off-chip link ({values['offchip_gbps']} Gb/s, fitted to this row; its energy per bit assumed)")
    add("spec_table.voltage_power_vs_frequency", "16 points", "mW", None, "calibrated",
        f"the arch's dynamic_energy_scale {float(values['dynamic_energy_scale']):.4g} and leakage_scale {float(values['leakage_scale']):.4g}, "
        f"fitted on the GPT-2 case (refitting the calibrated model gives {fit.dynamic_scale:.3f} and {fit.leakage_scale:.3f}); rms residual "
        f"{fit.rms_residual_pct:.1f} %, worst {max(fit.residuals_pct, key=abs):+.1f} % (residual per point in the report)")
    journal = data.get("journal_extension") or {}
    if "combined_engine_gain" in journal:
        gain = _efficiency(sparse_high, ops, HIGH_POINT) / system_low
        add("journal_extension.combined_engine_gain", journal["combined_engine_gain"]["value"], "x", gain, "independent",
            f"{gpt2.footnote} with both engines vs the same model dense with both engines' mechanisms unused, both at {high_v} V / "
            f"{high_f / 1e6:.0f} MHz, chip excl. off-chip ('up to': the best operating point of a four-chip system in the journal)")
    figures = data.get("figures") or {}
    if "peak_energy_efficiency" in figures:
        needed = _condition_for(peak_efficiency, figures["peak_energy_efficiency"]["value"])
        add("figures.peak_energy_efficiency", figures["peak_energy_efficiency"]["value"], "TOPS/W", max(peak_efficiency.values()), "condition",
            f"not validated (conditions unpublished): GPT-2 case at {low_v} V / {low_f / 1e6:.0f} MHz gives "
            + ", ".join(f"{e:.1f} at {s:.0%}" for s, e in sorted(peak_efficiency.items())) + f" weight sparsity; {needed}")
    for key, entry in figures.items():
        if key in ("peak_energy_efficiency",):
            continue
        value = entry.get("value") if isinstance(entry, dict) else entry
        modelled = {"energy_efficiency_macro_low": macro_low, "peak_throughput": peak_bfly + peak_lar,
                    "area_efficiency": (peak_bfly + peak_lar) / die_mm2, "die_area": die_mm2}.get(key)
        if key == "cim_array_size_term":
            capacity = (_kib(values, "8t") + _kib(values, "10t")) * 1024 * 8 / 8 / 8
            add(f"figures.{key}", arithmetic(value) if isinstance(value, str) else value, "", capacity, "input",
                "CarbonSpot's generic capacity term 144*8*1024/8/8: 144 KB of IMC (80 KB 8T + 64 KB 10T) in its units; not MACs per cycle")
            continue
        add(f"figures.{key}", value, entry.get("unit", "") if isinstance(entry, dict) else "", modelled,
            "repeat" if modelled is not None else "cannot produce",
            "CarbonSpot's literature row repeats the spec table: same model value as the table's row (not counted as a check)")

    checks += journal_checks(journal, progress=progress, jobs=jobs)  # decode and vs-A100 rows: the four-chip case (docs/decode.md)
    for peer, entry in (data.get("peers") or {}).items():
        for key, value in entry.items():
            if key not in ("notes", "technology_nm", "carbonspot_row"):
                add(f"peers.{peer}.{key}", value, "", None, "cannot produce", "a figure of another chip (compare it with `sparsecim compare --arch your.yaml`)")
    reference_scaling = OperatingScaling.of(sparse)  # the curve plot: the reference run moved along the curve
    efficiency_curve = [(f / 1e6, v, ops / reference_scaling.energy(v, f) / 1e12) for v, f in zip(curve.volts, curve.hertz)]
    return ValidationReport(checks, fit, sparse.area_m2, efficiency_curve)


def _kib(values: dict, cells: str) -> float:
    """On-chip CIM capacity in KB from the arch's structure variables."""
    bank_bits = int(values["bank_rows"]) * int(values["bank_bit_columns"])
    cores = int(values["n_cores"])
    if cells == "8t":
        return cores * (int(values["bfly_banks"]) + int(values["kv_banks"])) * bank_bits / 8 / 1024
    return cores * int(values["bfly_banks"]) * bank_bits / 8 / 1024


def peak_performance(arch_path: Path, variables: dict, frequency: float) -> tuple[float, float]:
    """(BFLY, LAR) peak TOPS at `frequency` from the mapped structure.

    BFLY: executed 8-b MACs per cycle of an FFN-up matmul (BERT-base, 128 tokens) that fills every bank,
    x 2 ops. LAR: MACs per cycle of a Q.K^T with K filling the K half of every KV bank, counted
    dense-equivalent on the GPT-2 case (causal, 1024 tokens, span 83): x dense causal pairs / kept pairs."""
    onchip = {**variables, **EXCLUDE_OFFCHIP}
    ffn = matmul(1, 128, 768, 3072)
    cost = map_einsum(arch_path, ffn, onchip)
    bfly = 2 * ffn.operations / (cost.latency_s * float(variables["frequency"])) * frequency / 1e12
    gpt2 = case("gpt2-enwik8")
    window = window_of_span(gpt2.span)
    qk = attention_scores(1, 64, 1024, 64, 64)
    cost = map_einsum(arch_path, qk, onchip)
    physical = qk.operations / (cost.latency_s * float(variables["frequency"]))
    dense_equivalent = dense_pairs(gpt2.seq_len, causal=True) / kept_pairs(gpt2.seq_len, window, 0, causal=True)
    lar = 2 * physical * dense_equivalent * frequency / 1e12
    return bfly, lar


def _condition_for(efficiency: dict[float, float], target: float) -> str:
    items = sorted(efficiency.items())
    for (s0, e0), (s1, e1) in zip(items, items[1:]):
        if e0 <= target <= e1:
            needed = s0 + (target - e0) * (s1 - s0) / (e1 - e0)
            return f"{target} TOPS/W needs about {needed:.0%} weight sparsity at that point (interpolated)"
    if target > items[-1][1]:
        return f"{target} TOPS/W is above the model at {items[-1][0]:.0%} weight sparsity and the lowest voltage"
    return f"{target} TOPS/W is reached below {items[0][0]:.0%} weight sparsity"


_OPERATORS = {ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Add: operator.add, ast.Sub: operator.sub}


def arithmetic(text: str) -> float | str:
    """The value of a figure written as a product/quotient of numbers ("144*8*1024/8/8"), parsed
    from its syntax tree (numbers and + - * / only; never evaluated as code); the text itself when
    it is anything else."""

    def value(node) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError("not arithmetic")

    if len(text) > 200:
        return text
    try:
        return value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return text

"""Modelled vs published: every figure of the reference file the model can produce, with the error
and the conditions assumed; the others listed with why. Defaults are those of `run` / `compare`.

The workload is the real all-MiniLM-L6-v2 (the only real transformer installable here); the chip's
own benchmark set is not published. Calibrated figures (frequency -> peak throughput, CIM area scale
-> die area) are marked as such: they are consistent by construction, not independent checks.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from sparsecim.errors import InputError
from sparsecim.files import load_yaml, parse_yaml
from sparsecim.mapping.arch import find_arch, spec_values
from sparsecim.mapping.mapper import map_einsum
from sparsecim.pipeline import evaluate, prepare
from sparsecim.request import RunRequest, SparsitySource
from sparsecim.rewrite.sparse import Scheme
from sparsecim.studies.sparsity_curve import sparsity_curve
from sparsecim.workload.einsums import matmul

PERIPHERY_FRACTION = 0.10  # assumed: pads, PLL, control, test (not modelled); docs/assumptions.md
PEAK_VOLTAGE = 0.6  # assumed lowest operating supply of the 28 nm chip
PEAK_FREQUENCY = 45e6  # assumed: alpha-power law delay at 0.6 V is ~2x that at 0.9 V
PEAK_SPARSITY = 0.9  # assumed weight sparsity of the peak-efficiency point
JOURNAL_SPARSITY = 0.75  # JETCAS 2026: "75% weight sparsity"


@dataclass
class FigureCheck:
    key: str  # dotted path in the reference file
    published: object
    unit: str
    modelled: float | None = None
    status: str = ""  # ok / outside +-10% / calibrated / input / cannot produce
    conditions: str = ""
    source: str = ""
    caveat: str = ""

    @property
    def error_pct(self) -> float | None:
        if self.modelled is None or not isinstance(self.published, (int, float)) or not self.published:
            return None
        return 100.0 * (self.modelled - self.published) / self.published


@dataclass
class ValidationReport:
    checks: list[FigureCheck]
    curve: list = field(default_factory=list)  # (sparsity, TOPS/W chip) of the chip on the real model
    area_m2: dict = field(default_factory=dict)


def load_published(path: str | Path | None = None) -> dict:
    if path is None:
        data = parse_yaml((resources.files("sparsecim.data") / "published.yaml").read_text(), "published.yaml")
    else:
        data = load_yaml(path, "published-figures file")
    if not isinstance(data, dict) or "figures" not in data:
        raise InputError("published-figures YAML needs a 'figures' section")
    return data


def published_figures(data: dict) -> list[tuple[str, dict]]:
    """Every numeric figure of the file as (dotted key, entry) — chip figures, journal, peers."""
    out = []
    for key, entry in (data.get("figures") or {}).items():
        out.append((f"figures.{key}", entry))
    journal = data.get("journal_extension") or {}
    for key, entry in journal.items():
        if isinstance(entry, dict):
            out.append((f"journal_extension.{key}", entry))
    for peer, entry in (data.get("peers") or {}).items():
        for key, value in entry.items():
            if key not in ("notes", "technology_nm"):
                out.append((f"peers.{peer}.{key}", {"value": value}))
    return out


def _status(check: FigureCheck) -> str:
    err = check.error_pct
    return "ok (within +-10%)" if err is not None and abs(err) <= 10 else "OUTSIDE +-10%"


def validate(weights: str | Path, published: str | Path | None = None, progress=None, jobs=None) -> ValidationReport:
    """Run the conditions below on the chip and compare with every published figure."""
    data = load_published(published)
    arch_path = find_arch("isscc23_16_2")[1]
    values = spec_values(arch_path)
    base = RunRequest(model=None, weights=weights, seq_len=128)

    # Dense chip on the real model (the `run` defaults).
    dense = evaluate(prepare(base), progress=progress, jobs=jobs)
    # Peak throughput: one layer that fills every CIM lane (BERT-base FFN up projection, 128 tokens).
    ffn = map_einsum(arch_path, matmul(1, 128, 768, 3072))
    peak_tops = 2 * ffn.operations / ffn.latency_s / 1e12
    modelled_area = dense.area_total_m2 * 1e6
    die_estimate = modelled_area / (1 - PERIPHERY_FRACTION)
    # The chip with both engines on the real model, and its dense-CIM ablation (compare's designs).
    chip_request = base.with_changes(sparsity=SparsitySource(prune=f"hybrid:{JOURNAL_SPARSITY}:scope=matrix"), spans="measure")
    prepared = prepare(chip_request)
    both_on = evaluate(prepared, Scheme.CHIP, progress=progress, jobs=jobs)
    both_off = evaluate(replace(prepared, sparsity=None, spans=None, variables={"butterfly_enabled": False, "lar_enabled": False}), Scheme.DENSE, progress=progress, jobs=jobs)
    # Peak energy efficiency: lowest voltage, high sparsity, both engines.
    peak_request = chip_request.with_changes(
        sparsity=SparsitySource(prune=f"hybrid:{PEAK_SPARSITY}:scope=matrix"),
        variables={"voltage": PEAK_VOLTAGE, "frequency": PEAK_FREQUENCY},
    )
    peak = evaluate(prepare(peak_request), Scheme.CHIP, progress=progress, jobs=jobs)
    curve = sparsity_curve(base, [0.5, 0.75, 0.9], "hybrid:S:scope=matrix", schemes=(Scheme.CHIP,), progress=progress, jobs=jobs)

    model = dense.model
    produce = {
        "figures.peak_energy_efficiency": (
            peak.tops_per_w_chip,
            f"{model}, 128 tokens, hybrid {PEAK_SPARSITY:.0%} weight sparsity + measured spans, {PEAK_VOLTAGE} V, "
            f"{PEAK_FREQUENCY / 1e6:.0f} MHz (all assumed: the peak point's conditions are not published); chip excl. DRAM",
            "",
        ),
        "figures.energy_efficiency_8b_normalised": (
            dense.tops_per_w_chip,
            f"{model}, 128 tokens, dense, 8b, {values['voltage']} V; chip excl. DRAM",
            "",
        ),
        "figures.peak_throughput_8b_normalised": (peak_tops, "BERT-base FFN-up layer (fills the CIM), 8b dense, 2 ops/MAC", "calibrated (frequency)"),
        "figures.area_efficiency_8b_normalised": (peak_tops / die_estimate, f"peak throughput / (modelled area / {1 - PERIPHERY_FRACTION})", "calibrated (frequency, CIM area scale)"),
        "figures.die_area": (die_estimate, f"modelled components {modelled_area:.3f} mm2 + assumed {PERIPHERY_FRACTION:.0%} periphery", "calibrated (CIM area scale)"),
        "figures.cim_array_size_term": (
            values["n_macros"] * values["macro_rows"] * values["macro_columns"] / values["input_bits"],
            "n_macros x rows x columns / input_bits (MACs per cycle)",
            "input (chosen to match)",
        ),
        "journal_extension.combined_engine_gain": (
            both_on.tops_per_w_chip / both_off.tops_per_w_chip,
            f"{model}, 128 tokens: chip (hybrid {JOURNAL_SPARSITY:.0%} + measured spans) vs the same macros with both engines off; TOPS/W chip",
            "journal is a four-chip system; 'up to'",
        ),
    }
    cannot = {
        "journal_extension.decode_energy": "decode with a KV cache (one token at a time) and the four-chip system are not modelled",
        "journal_extension.decode_throughput": "decode with a KV cache and the four-chip system are not modelled",
        "journal_extension.vs_a100": "no GPU model in sparsecim",
        "journal_extension.title": "not a figure",
    }
    checks = []
    for key, entry in published_figures(data):
        published_value = entry.get("value") if isinstance(entry, dict) else entry
        unit = entry.get("unit", "") if isinstance(entry, dict) else ""
        check = FigureCheck(key, published_value, unit, source=str(entry.get("source", "")) if isinstance(entry, dict) else "")
        if key == "figures.cim_array_size_term" and isinstance(published_value, str):
            check.published = arithmetic(published_value)
        if isinstance(entry, dict) and entry.get("normalisation_unknown"):
            check.caveat = "normalisation unknown"
        if key in produce:
            check.modelled, check.conditions, note = produce[key]
            check.caveat = "; ".join(x for x in (check.caveat, note) if x)
            check.status = _status(check)
            if note.startswith(("calibrated", "input")):  # consistent by construction, not a check
                kind = "calibrated" if note.startswith("calibrated") else "input"
                check.status = kind if check.status.startswith("ok") else f"{kind}, but OUTSIDE +-10%"
        elif key in cannot:
            check.status = "cannot produce"
            check.conditions = cannot[key]
        elif key.startswith("peers."):
            check.status = "cannot produce"
            check.conditions = "a figure of another chip; sparsecim has no model of it (compare it with `sparsecim compare --arch your.yaml`)"
        else:
            check.status = "cannot produce"
            check.conditions = "no modelled counterpart"
        checks.append(check)
    return ValidationReport(checks, [(p.sparsity, p.tops_per_w_chip) for p in curve], dense.area_m2)


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

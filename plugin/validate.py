"""Modelled vs published: every figure of the reference file the model can produce, with the error
and the conditions assumed; the others listed with why. Defaults are those of `run` / `compare`.

The workload is the real all-MiniLM-L6-v2 (the only real transformer installable here); the chip's
own benchmark set is not published. Calibrated figures (frequency -> peak throughput, CIM area scale
-> die area) are marked as such: they are consistent by construction, not independent checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml

from sparsecim.errors import SparsecimInputError

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
        text = (resources.files("sparsecim.data") / "published.yaml").read_text()
    else:
        path = Path(path)
        if not path.is_file():
            raise SparsecimInputError(f"published-figures file not found: {path}")
        text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SparsecimInputError(f"malformed published-figures YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(data, dict) or "figures" not in data:
        raise SparsecimInputError("published-figures YAML needs a 'figures' section")
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
    from sparsecim import api
    from sparsecim.sparsity.curve import sparsity_curve
    from sparsecim.specs import find_arch, spec_values
    from sparsecim.workloads.einsums import matmul
    from sparsecim.model.mapper import map_einsum

    data = load_published(published)
    arch_path = find_arch("isscc23_16_2")[1]
    values = spec_values(arch_path)
    base = api.RunRequest(model=None, weights=weights, seq_len=128)

    # Dense chip on the real model (the `run` defaults).
    dense = api.evaluate(api.prepare(base), progress=progress, jobs=jobs)
    # Peak throughput: one layer that fills every CIM lane (BERT-base FFN up projection, 128 tokens).
    ffn = map_einsum(arch_path, matmul(1, 128, 768, 3072))
    peak_tops = 2 * ffn.operations / ffn.latency_s / 1e12
    modelled_area = dense.area_total_m2 * 1e6
    die_estimate = modelled_area / (1 - PERIPHERY_FRACTION)
    # The chip with both engines on the real model, and its dense-CIM ablation (compare's designs).
    chip_request = replace(base, sparsity=api.SparsityOptions(prune=f"hybrid:{JOURNAL_SPARSITY}:scope=matrix"), spans="measure")
    prepared = api.prepare(chip_request)
    both_on = api.evaluate(prepared, "chip", progress=progress, jobs=jobs)
    both_off = api.evaluate(replace(prepared, sparsity=None, spans=None, variables={"butterfly_enabled": False, "lar_enabled": False}), "dense", progress=progress, jobs=jobs)
    # Peak energy efficiency: lowest voltage, high sparsity, both engines.
    peak_request = replace(
        chip_request,
        sparsity=api.SparsityOptions(prune=f"hybrid:{PEAK_SPARSITY}:scope=matrix"),
        variables={"voltage": PEAK_VOLTAGE, "frequency": PEAK_FREQUENCY},
    )
    peak = api.evaluate(api.prepare(peak_request), "chip", progress=progress, jobs=jobs)
    curve = sparsity_curve(replace(base), [0.5, 0.75, 0.9], "hybrid:S:scope=matrix", schemes=("chip",), progress=progress, jobs=jobs)

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
            try:
                check.published = eval(published_value, {"__builtins__": {}})  # "144*8*1024/8/8": arithmetic only
            except Exception:
                pass
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


def write_report(report: ValidationReport, folder: Path) -> list[Path]:
    """validation.md, validation.csv and two plots in `folder` (each written atomically)."""
    import csv
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sparsecim.report import save_figure_atomic, write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        save_figure_atomic(fig, folder / name, dpi=110)
        written.append(folder / name)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = [100 * s for s, _ in report.curve]
    ax.plot(xs, [v for _, v in report.curve], marker="o", label="modelled chip (0.9 V, hybrid pruning, real MiniLM)")
    by_key = {c.key: c for c in report.checks}
    peak = by_key.get("figures.peak_energy_efficiency")
    if peak:
        ax.scatter([100 * PEAK_SPARSITY], [peak.published], marker="*", s=150, color="red", label=f"published peak {peak.published} TOPS/W (conditions not published)")
        if peak.modelled:
            ax.scatter([100 * PEAK_SPARSITY], [peak.modelled], marker="x", s=80, color="black", label=f"modelled at {PEAK_VOLTAGE} V")
    norm = by_key.get("figures.energy_efficiency_8b_normalised")
    if norm:
        ax.axhline(norm.published, color="gray", ls="--", label=f"published 8b-normalised {norm.published} TOPS/W")
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel("TOPS/W (chip, dense-equivalent)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, "validation_topsw_vs_sparsity.png")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    items = sorted(report.area_m2.items(), key=lambda kv: -kv[1])
    modelled = sum(v for _, v in items) * 1e6
    bottom = 0.0
    for name, value in items:
        ax.bar(["modelled"], [value * 1e6], bottom=bottom, label=name)
        bottom += value * 1e6
    ax.bar(["modelled"], [modelled * PERIPHERY_FRACTION / (1 - PERIPHERY_FRACTION)], bottom=bottom, label="periphery (assumed)", color="lightgray")
    die = by_key.get("figures.die_area")
    if die:
        ax.bar(["published die"], [die.published], color="tab:red")
    ax.set_ylabel("mm2")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, "validation_area.png")

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["figure", "published", "unit", "modelled", "error_pct", "status", "conditions", "caveat", "source"])
    lines = [
        "# sparsecim validation: ISSCC 2023 16.2 modelled vs published",
        "",
        "| figure | published | modelled | error | status | conditions assumed | caveat |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report.checks:
        err = c.error_pct
        writer.writerow([c.key, c.published, c.unit, c.modelled, err, c.status, c.conditions, c.caveat, c.source])
        lines.append(
            f"| {c.key} | {c.published} {c.unit} | {'' if c.modelled is None else f'{c.modelled:.4g}'} | "
            f"{'' if err is None else f'{err:+.1f} %'} | {c.status} | {c.conditions} | {c.caveat} |"
        )
    lines += ["", "![TOPS/W vs sparsity](validation_topsw_vs_sparsity.png)", "", "![area](validation_area.png)", ""]
    write_text_atomic(folder / "validation.csv", buf.getvalue())
    write_text_atomic(folder / "validation.md", "\n".join(lines))
    return [folder / "validation.md", folder / "validation.csv", *written]

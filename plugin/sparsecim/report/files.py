"""A ModelResult as files: JSON (everything), CSV (per-Einsum rows, then the summary and the spec
variables), Parquet (`ModelResult.to_dataframe()`: per-Einsum rows with the run's identity and spec
variables as columns). Written through `sparsecim.files` (all or none)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path


from sparsecim.errors import InputError
from sparsecim.files import OutputBatch
from sparsecim.mapping.result import ModelResult
from sparsecim.report.tables import baseline_rows

RESULT_SUFFIXES = (".json", ".csv", ".parquet")


def result_dict(result: ModelResult) -> dict:
    """Everything a run reports, as plain JSON-able data."""
    return {
        "summary": result.summary(),
        "variables": result.variables,
        "scheme": None if result.scheme is None else str(result.scheme),
        "lar": None if result.lar is None else result.lar.model_dump(),
        "area_m2": result.area_m2,
        "offchip_components": sorted(result.roles.offchip),
        "energy_by_component_J": result.energy_by_component_j,
        "einsums": [
            {
                "kind": str(r.kind),
                "tag": r.tag,
                "form": r.form,
                "layers": list(r.layers),
                "ranks": r.ranks,
                "instances": r.instances,
                "operations": r.operations,
                "energy_J": r.energy_total_j,
                "energy_by_component_J": r.energy_j,
                "latency_s": r.latency_s,
                "utilisation": r.utilisation,
                "mapping": r.mapping,
            }
            for r in result.rows
        ],
        "layers": [
            {"layer": t.layer, "kind": str(t.kind), "energy_J": t.energy_j, "latency_s": t.latency_s,
             "operations": t.operations, "stationary_writes": t.stationary_writes}
            for t in result.layers
        ],
        "notes": result.notes,
        "weight_matrices": [{**asdict(m), "kind": str(m.kind), "mode": str(m.mode)} for m in result.matrix_rewrites],
        "baselines": baseline_rows(result.baselines) if result.baselines else [],
    }


def csv_text(result: ModelResult) -> str:
    """Per-Einsum rows and a TOTAL row, then the summary and the spec variables as key,value lines."""
    components = sorted(result.energy_by_component_j)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["einsum", "instances", "operations", "energy_J", "latency_s", "utilisation", *[f"energy_{c}_J" for c in components]])
    for r in result.rows:
        writer.writerow([r.label, r.instances, r.operations, r.energy_total_j, r.latency_s, r.utilisation, *[r.energy_j.get(c, 0.0) for c in components]])
    s = result.summary()
    writer.writerow(["TOTAL", "", s["dense_equivalent_ops"] // 2, s["energy_system_J"], s["latency_s"], "", *[result.energy_by_component_j[c] for c in components]])
    writer.writerow([])
    writer.writerow(["summary", "value"])
    for key, value in s.items():
        writer.writerow([key, value])
    for key, value in sorted(result.variables.items()):
        writer.writerow([f"variable.{key}", value])
    for row in baseline_rows(result.baselines) if result.baselines else []:
        for key, value in row.items():
            if key != "scheme":
                writer.writerow([f"baseline.{row['scheme']}.{key}", value])
    return buf.getvalue()


def write_result(result: ModelResult, path: Path) -> Path:
    """Write .json, .csv or .parquet; the file appears whole or not at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    with OutputBatch() as out:
        if suffix == ".json":
            out.text(path, json.dumps(result_dict(result), indent=2))
        elif suffix == ".csv":
            out.text(path, csv_text(result))
        elif suffix == ".parquet":
            frame = result.to_dataframe()
            out.with_writer(path, lambda temp: frame.to_parquet(temp, index=False))
        else:
            raise InputError(f"results file must end in {' or '.join(RESULT_SUFFIXES)}, got {path.name!r}")
    return path


def table_csv(header: list[str], rows: list[list]) -> str:
    """CSV text of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def dicts_csv(rows: list[dict]) -> str:
    """CSV text of dict rows (columns: every key, in first-seen order; missing cells empty)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def validation_texts(report) -> dict[str, str]:
    """validation.md and validation.csv of a `studies.validate.ValidationReport`."""
    rows = []
    lines = [
        "# sparsecim validation: ISSCC 2023 16.2 modelled vs published",
        "",
        "Kind: *calibrated* figures were used to fit the model (not checks); *independent* figures were not;",
        "*input* figures are structure taken from the table; *condition* reports what the model needs.",
        "",
        "| figure | published | modelled | error | kind | status | conditions | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report.checks:
        err = c.error_pct
        rows.append([c.key, c.published, c.unit, c.modelled, err, c.kind, c.status, c.conditions, c.note, c.source])
        lines.append(
            f"| {c.key} | {c.published} {c.unit} | {'' if c.modelled is None else f'{c.modelled:.4g}'} | "
            f"{'' if err is None else f'{err:+.1f} %'} | {c.kind} | {c.status} | {c.conditions} | {c.note} |"
        )
    fit = report.power_fit
    if fit is not None:
        lines += ["", f"## Power curve fit (dynamic_energy_scale {fit.dynamic_scale:.4f}, leakage_scale {fit.leakage_scale:.4f})", "",
                  "| MHz | V | measured mW | modelled mW | residual |", "|---|---|---|---|---|"]
        for (mhz, volt, measured, model), residual in zip(fit.points, fit.residuals_pct):
            lines.append(f"| {mhz:.0f} | {volt:.2f} | {measured:.1f} | {model:.1f} | {residual:+.1f} % |")
    lines += ["", "![power and efficiency along the curve](validation_power_curve.png)", "", "![area](validation_area.png)", ""]
    header = ["figure", "published", "unit", "modelled", "error_pct", "kind", "status", "conditions", "note", "source"]
    return {"validation.md": "\n".join(lines), "validation.csv": table_csv(header, rows)}

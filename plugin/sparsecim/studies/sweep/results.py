"""Sweep results on disk: one small JSON file per finished point, the assembled table, the Pareto front.

Layout of a sweep's output folder:

    points/<key>.json     one finished point (inputs, status, error, metrics, cache counts), written
                          atomically (temp file + rename), so a killed sweep leaves whole files only
    results.parquet       one row per point of the sweep: inputs, status, error, every output metric,
    results.csv           and `pareto` (on the front of the two chosen metrics); both written atomically
    pareto.png            the two chosen metrics, every point, the front highlighted
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sparsecim.errors import SparsecimWarning, one_line
from sparsecim.files import read_text, write_atomic
from sparsecim.studies.sweep.spec import ParetoSpec, SweepPoint, model_label

POINTS_DIR = "points"


# ---- per-point files -------------------------------------------------------------------------------


def point_metrics(result) -> dict[str, float]:
    """Every output metric of a ModelResult: its summary, energy per token, energy and area per component."""
    summary = result.summary()
    metrics = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and k not in ("seq_len", "batch")}
    tokens = result.seq_len * result.batch
    # Energy per token (system, with DRAM; and chip only) = energy of the pass / tokens in it.
    metrics["energy_per_token_J"] = summary["energy_system_J"] / tokens
    metrics["energy_chip_per_token_J"] = summary["energy_chip_J"] / tokens
    for comp, energy in sorted(result.energy_by_component_j.items()):
        metrics[f"energy_J.{comp}"] = energy
    for comp, area in sorted(result.area_m2.items()):
        metrics[f"area_mm2.{comp}"] = area * 1e6
    return {k: float(v) for k, v in metrics.items()}


def point_file(folder: Path, key: str) -> Path:
    return Path(folder) / POINTS_DIR / f"{key}.json"


def write_point(folder: Path, record: dict) -> Path:
    path = point_file(folder, record["key"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, sort_keys=True, allow_nan=True), fsync=True)
    return path


def read_points(folder: Path) -> dict[str, dict]:
    """Finished points by key. Temp files of an interrupted write and unreadable files are ignored."""
    out = {}
    root = Path(folder) / POINTS_DIR
    if not root.is_dir():
        return out
    for path in root.glob("*.json"):
        try:
            record = json.loads(read_text(path, "sweep point file"))
        except (ValueError, json.JSONDecodeError) as exc:  # InputError (unreadable, not UTF-8) is a ValueError
            warnings.warn(f"ignoring unreadable sweep point file {path.name} ({one_line(exc, 100)}); recomputing the point",
                          SparsecimWarning, stacklevel=2)
            continue
        if isinstance(record, dict) and record.get("key") == path.stem:
            out[path.stem] = record
    return out


def remove_stale_temps(folder: Path) -> int:
    """Delete temp files a killed sweep left behind; returns how many."""
    root = Path(folder) / POINTS_DIR
    stale = list(root.glob(".*.tmp")) if root.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


# ---- table -----------------------------------------------------------------------------------------


def table_row(point: SweepPoint, record: dict | None) -> dict:
    """One row: index and key, the inputs (model by name), status, error, cache counts, every metric."""
    row: dict = {"index": point.index, "key": point.key}
    for name, value in point.inputs.items():
        row[name] = model_label(value) if name == "model" else value
    if record is None:
        row["status"] = "missing"
        return row
    row["status"] = record["status"]
    row["error"] = record.get("error")
    row["cached_einsums"] = record.get("cached_einsums", 0)
    row["mapped_einsums"] = record.get("mapped_einsums", 0)
    row["elapsed_s"] = record.get("elapsed_s")
    row.update(record.get("metrics") or {})
    return row


def assemble_table(points: list[SweepPoint], records: dict[str, dict], pareto: ParetoSpec):
    """The results DataFrame, in point order, with a boolean `pareto` column."""
    df = pd.DataFrame([table_row(p, records.get(p.key)) for p in points])
    for col in ("error",):
        if col not in df:
            df[col] = None
    for col in df.columns:  # parquet needs one type per column: mixed inputs become text
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1:
                df[col] = df[col].map(lambda v: None if v is None else str(v))
    df["pareto"] = False
    ok = df["status"] == "ok"
    if ok.any() and pareto.x in df and pareto.y in df:
        sub = df.loc[ok, [pareto.x, pareto.y]].apply(pd.to_numeric, errors="coerce")
        front = pareto_mask(sub[pareto.x].to_numpy(float), sub[pareto.y].to_numpy(float), pareto.x_goal, pareto.y_goal)
        df.loc[sub.index[front], "pareto"] = True
    return df


def write_table(df, folder: Path) -> tuple[Path, Path]:
    """results.parquet and results.csv, each written atomically."""
    folder = Path(folder)
    parquet, csv = folder / "results.parquet", folder / "results.csv"
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    write_atomic(parquet, buf.getvalue())
    write_atomic(csv, df.to_csv(index=False))
    return parquet, csv


# ---- Pareto front ----------------------------------------------------------------------------------


def pareto_mask(x: np.ndarray, y: np.ndarray, x_goal: str = "min", y_goal: str = "min") -> np.ndarray:
    """True where no other point is at least as good in both metrics and better in one.

    Non-finite values are never on the front. Sort by x (best first, ties by y best first); a point
    is on the front when its y beats every y before it; points equal in both are all kept."""
    x = np.asarray(x, float) * (1.0 if x_goal == "min" else -1.0)
    y = np.asarray(y, float) * (1.0 if y_goal == "min" else -1.0)
    mask = np.zeros(len(x), bool)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(finite) == 0:
        return mask
    order = finite[np.lexsort((y[finite], x[finite]))]
    ys = y[order]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(ys)[:-1]])
    on_front = ys < best_before
    # A duplicate of a front point (same x and y) is not dominated either.
    xs = x[order]
    same_as_prev = np.concatenate([[False], (xs[1:] == xs[:-1]) & (ys[1:] == ys[:-1])])
    for i in np.flatnonzero(same_as_prev):
        on_front[i] = on_front[i - 1]
    mask[order] = on_front
    return mask

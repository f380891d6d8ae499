"""Compare the numbers of two sets of sparsecim output files (a reorganisation must keep them).

    python scripts/compare_outputs.py BEFORE_FOLDER AFTER_FOLDER [--rel 1e-9]

For every .json and .csv file of BEFORE, the file of the same name in AFTER must hold the same
numbers: JSON by key path (every numeric leaf of BEFORE, lists of Einsum rows matched by kind and
tag, mapping text ignored), CSV by row (first column as the row key) and column header. Prints one
line per file and the largest relative difference; exits 1 if any number differs by more than --rel.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

IGNORED_KEYS = {"mapping", "notes", "tag", "arch"}


def _close(a: float, b: float, rel: float) -> tuple[bool, float]:
    if a == b:
        return True, 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return False, math.inf
    diff = abs(a - b) / max(abs(a), abs(b), 1e-300)
    return diff <= rel, diff


def _rows_by_key(rows: list) -> dict:
    keyed = {}
    for row in rows:
        if isinstance(row, dict):
            key = (row.get("kind"), row.get("tag"), row.get("layer"), json.dumps(row.get("ranks"), sort_keys=True))
            keyed.setdefault(key, []).append(row)
    return keyed


def compare_json(before, after, rel: float, path: str = "") -> tuple[list[str], float]:
    problems: list[str] = []
    worst = 0.0
    if isinstance(before, bool) or before is None or isinstance(before, str):
        return problems, worst
    if isinstance(before, (int, float)):
        if not isinstance(after, (int, float)) or isinstance(after, bool):
            return [f"{path}: {before!r} became {after!r}"], math.inf
        ok, diff = _close(float(before), float(after), rel)
        return ([] if ok else [f"{path}: {before!r} -> {after!r} (rel {diff:.2e})"]), diff
    if isinstance(before, dict):
        for key, value in before.items():
            if key in IGNORED_KEYS:
                continue
            if not isinstance(after, dict) or key not in after:
                problems.append(f"{path}.{key}: missing after")
                continue
            sub, diff = compare_json(value, after[key], rel, f"{path}.{key}")
            problems += sub
            worst = max(worst, diff)
        return problems, worst
    if isinstance(before, list):
        if before and all(isinstance(r, dict) and "kind" in r for r in before) and isinstance(after, list):
            b_rows, a_rows = _rows_by_key(before), _rows_by_key(after)
            for key, rows in b_rows.items():
                other = a_rows.get(key)
                if other is None or len(other) != len(rows):
                    problems.append(f"{path}[{key}]: rows differ ({len(rows)} before, {0 if other is None else len(other)} after)")
                    continue
                for i, (x, y) in enumerate(zip(rows, other)):
                    sub, diff = compare_json(x, y, rel, f"{path}[{key[0]} {key[1]}#{i}]")
                    problems += sub
                    worst = max(worst, diff)
            return problems, worst
        if not isinstance(after, list) or len(after) != len(before):
            return [f"{path}: list length {len(before)} -> {len(after) if isinstance(after, list) else after!r}"], math.inf
        for i, (x, y) in enumerate(zip(before, after)):
            sub, diff = compare_json(x, y, rel, f"{path}[{i}]")
            problems += sub
            worst = max(worst, diff)
    return problems, worst


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def compare_csv(before: Path, after: Path, rel: float) -> tuple[list[str], float]:
    def table(path: Path) -> tuple[list[str], dict]:
        rows = list(csv.reader(path.read_text().splitlines()))
        header, body = rows[0], rows[1:]
        keyed = {}
        for row in body:
            if row:
                keyed.setdefault(row[0], []).append(dict(zip(header, row)))
        return header, keyed

    header, b = table(before)
    _, a = table(after)
    problems, worst = [], 0.0
    for key, rows in b.items():
        if key not in a or len(a[key]) < len(rows):
            problems.append(f"row {key!r}: missing after")
            continue
        for x, y in zip(rows, a[key]):
            for column in header:
                if column in IGNORED_KEYS:
                    continue
                u, v = _number(x.get(column, "")), _number(y.get(column, ""))
                if u is None:
                    continue
                if v is None:
                    problems.append(f"row {key!r} {column}: {x.get(column)!r} -> {y.get(column)!r}")
                    continue
                ok, diff = _close(u, v, rel)
                worst = max(worst, diff)
                if not ok:
                    problems.append(f"row {key!r} {column}: {u!r} -> {v!r} (rel {diff:.2e})")
    return problems, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rel", type=float, default=1e-9)
    args = parser.parse_args()
    failed = False
    files = sorted(p for p in args.before.rglob("*") if p.suffix in (".json", ".csv") and "cache" not in p.parts)
    for path in files:
        other = args.after / path.relative_to(args.before)
        if not other.is_file():
            print(f"MISSING  {path.relative_to(args.before)}")
            failed = True
            continue
        if path.suffix == ".json":
            problems, worst = compare_json(json.loads(path.read_text()), json.loads(other.read_text()), args.rel)
        else:
            problems, worst = compare_csv(path, other, args.rel)
        status = "same" if not problems else "DIFFERENT"
        failed |= bool(problems)
        print(f"{status:9s} {path.relative_to(args.before)}  (largest relative difference {worst:.1e})")
        for line in problems[:10]:
            print(f"          {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

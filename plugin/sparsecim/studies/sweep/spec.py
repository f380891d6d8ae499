"""The sweep YAML: a typed, validated `SweepSpec` and its expansion into points.

A sweep file names an architecture, values fixed for every point, and axes (lists or numeric
ranges) that are crossed (``mode: grid``) or sampled (``mode: random``, ``n`` points, ``seed``).
Every key is one of the input keys below or a spec variable of the arch
(`sparsecim.mapping.arch.spec_variables`). Bad input raises InputError naming the key.

    arch: isscc23_16_2
    mode: grid
    fixed: {model: bert-base, seq_len: 128}
    axes:
      sparsity: [0.5, 0.75, 0.9]
      butterfly_lanes: [8, 16, 32]
      n_macros: {low: 9, high: 36, num: 3, log: true, integer: true}
    pareto: {x: area_mm2, y: energy_per_token_J}
    output: results/bert_sweep        # relative to this file's folder
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from sparsecim.errors import InputError
from sparsecim.files import load_yaml
from sparsecim.mapping.arch import find_arch, spec_variables
from sparsecim.rewrite.sparse import Scheme
from sparsecim.sparsity.pruning import METHODS, parse_method
from sparsecim.workload.shapes import TransformerShape, preset

SCHEMES = tuple(s.value for s in Scheme)

# Input keys (besides spec variables) and their defaults when neither fixed nor an axis gives them.
WORKLOAD_KEYS = ("model", "seq_len", "batch", "weights", "heads")
SPARSITY_KEYS = ("density", "sparsity", "prune", "prune_method")
SPAN_KEYS = ("span_mass", "spans")
LAR_KEYS = ("variable_spans", "kv_reuse", "qk_sharing", "query_block")
INPUT_KEYS = WORKLOAD_KEYS + SPARSITY_KEYS + SPAN_KEYS + LAR_KEYS + ("scheme",)
# Filled in every point so that "seq_len: 128" given or omitted is the same point (same hash).
CORE_DEFAULTS = {"model": "bert-base", "seq_len": 128, "batch": 1, "scheme": "chip"}

TOP_KEYS = ("name", "arch", "mode", "seed", "n", "fixed", "axes", "pareto", "output", "retry_errors", "use_cache")
RANGE_KEYS = ("low", "high", "num", "log", "integer")
MAX_POINTS = 1_000_000

# Output metrics (see results.point_metrics); "energy_J.<component>" / "area_mm2.<component>" also exist.
METRICS = (
    "energy_chip_J",
    "energy_system_J",
    "energy_per_token_J",
    "energy_chip_per_token_J",
    "latency_s",
    "dense_equivalent_ops",
    "executed_macs",
    "TOPS",
    "TOPS_per_W_chip",
    "TOPS_per_W_system",
    "area_mm2",
    "TOPS_per_mm2",
)
METRIC_PREFIXES = ("energy_J.", "area_mm2.")
HIGHER_IS_BETTER = ("TOPS", "TOPS_per_W_chip", "TOPS_per_W_system", "TOPS_per_mm2")


@dataclass(frozen=True)
class Range:
    """A numeric axis: `num` values from low to high (grid) or uniform samples (random)."""

    low: float
    high: float
    num: int | None = None
    log: bool = False
    integer: bool = False

    def grid(self) -> list:
        """`num` values (integer ranges: rounded, duplicates dropped)."""
        values = np.geomspace(self.low, self.high, self.num) if self.log else np.linspace(self.low, self.high, self.num)
        if self.integer:
            return list(dict.fromkeys(int(v) for v in np.rint(values)))
        return [float(f"{v:.12g}") for v in values]

    def sample(self, rng: np.random.Generator, n: int) -> list:
        """`n` uniform (log-uniform) samples; an integer range draws from [low-0.5, high+0.5) and rounds,
        so its end values are as likely as the others."""
        lo, hi = (self.low - 0.5, self.high + 0.5) if self.integer else (self.low, self.high)
        if self.log:
            lo = max(lo, self.low / 2)
            values = np.exp(np.log(lo) + rng.random(n) * (np.log(hi) - np.log(lo)))
        else:
            values = lo + rng.random(n) * (hi - lo)
        if self.integer:
            return [int(v) for v in np.clip(np.rint(values), self.low, self.high)]
        return [float(f"{v:.12g}") for v in values]


@dataclass(frozen=True)
class ParetoSpec:
    """Two output metrics (or numeric inputs) and whether each is minimised or maximised."""

    x: str = "area_mm2"
    y: str = "energy_per_token_J"
    x_goal: str = "min"
    y_goal: str = "min"


@dataclass(frozen=True)
class SweepPoint:
    """One evaluation: its inputs (JSON-able, core defaults filled) and the hash that names its file."""

    index: int
    inputs: dict
    key: str


@dataclass
class SweepSpec:
    name: str
    path: Path  # the sweep YAML (relative input paths resolve against its folder)
    arch: str
    arch_path: Path
    mode: str
    axes: dict[str, list | Range]
    fixed: dict = field(default_factory=dict)
    seed: int = 0
    n: int | None = None
    pareto: ParetoSpec = field(default_factory=ParetoSpec)
    output: Path = Path("sweep_results")
    retry_errors: bool = False
    use_cache: bool = True

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def arch_digest(self) -> str:
        return hashlib.sha256(self.arch_path.read_bytes()).hexdigest()[:16]


# ---- loading ---------------------------------------------------------------------------------------


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file."""
    path = Path(path)
    return parse_sweep(load_yaml(path, "sweep file"), path)


def parse_sweep(data, path: Path) -> SweepSpec:
    """Validate a parsed sweep mapping; `path` is where it came from (for names and relative paths)."""
    path = Path(path).resolve()
    where = path.name
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of sweep settings at the top level")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(TOP_KEYS)}")
    arch_value = data.get("arch", "isscc23_16_2")
    if not isinstance(arch_value, str):
        raise InputError(f"{where}: arch must be an installed arch name or a YAML path")
    arch_file = arch_value
    if arch_value.endswith((".yaml", ".yml")) and not Path(arch_value).is_absolute():
        arch_file = str(path.parent / arch_value)
    arch_name, arch_path = find_arch(arch_file)
    variables = spec_variables(arch_path)

    mode = data.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise InputError(f"{where}: mode must be 'grid' or 'random', got {mode!r}")
    seed = _int(data.get("seed", 0), "seed", where, minimum=0)
    n = data.get("n")
    if mode == "random":
        if n is None:
            raise InputError(f"{where}: mode random needs n (number of points)")
        n = _int(n, "n", where, minimum=1)
        if n > MAX_POINTS:
            raise InputError(f"{where}: n {n} exceeds {MAX_POINTS}")
    elif n is not None:
        raise InputError(f"{where}: n is for mode random (a grid's size is the product of its axes)")

    fixed_raw = data.get("fixed") or {}
    if not isinstance(fixed_raw, dict):
        raise InputError(f"{where}: fixed must be a mapping of key: value")
    axes_raw = data.get("axes")
    if not isinstance(axes_raw, dict) or not axes_raw:
        raise InputError(f"{where}: axes must be a non-empty mapping of key: [values] or key: {{low, high, ...}}")
    both = [k for k in axes_raw if k in fixed_raw]
    if both:
        raise InputError(f"{where}: {both[0]!r} is both fixed and an axis")
    for key in list(fixed_raw) + list(axes_raw):
        _check_key(key, variables, arch_name, where)

    base = path.parent
    fixed = {k: _value(k, v, base, where) for k, v in fixed_raw.items()}
    axes: dict[str, list | Range] = {}
    for key, raw in axes_raw.items():
        if isinstance(raw, dict) and not (key == "model" and "name" in raw):
            axes[key] = _range(key, raw, mode, base, where)
        else:
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise InputError(f"{where}: axis {key!r} is empty")
            checked = [_value(key, v, base, where) for v in values]
            axes[key] = list({_canonical(v): v for v in checked}.values())  # duplicates dropped
    _check_combination({**fixed, **{k: (v[0] if isinstance(v, list) else v) for k, v in axes.items()}}, where)

    pareto = _pareto(data.get("pareto") or {}, list(axes) + list(fixed), where)
    output = data.get("output", f"{path.stem}_results")
    if not isinstance(output, str) or not output.strip():
        raise InputError(f"{where}: output must be a folder path")
    out = Path(output)
    out = out if out.is_absolute() else base / out
    spec = SweepSpec(
        name=str(data.get("name") or path.stem),
        path=path,
        arch=arch_name,
        arch_path=Path(arch_path),
        mode=mode,
        axes=axes,
        fixed=fixed,
        seed=seed,
        n=n,
        pareto=pareto,
        output=out,
        retry_errors=_bool(data.get("retry_errors", False), "retry_errors", where),
        use_cache=_bool(data.get("use_cache", True), "use_cache", where),
    )
    if mode == "grid":
        size = math.prod(len(v) for v in axes.values())  # grid axes are lists after _range
        if size > MAX_POINTS:
            raise InputError(f"{where}: grid of {size} points exceeds {MAX_POINTS}")
    return spec


def _check_key(key, variables: list[str], arch_name: str, where: str) -> None:
    if not isinstance(key, str):
        raise InputError(f"{where}: key {key!r} is not a name")
    if key in INPUT_KEYS or key in variables:
        return
    raise InputError(
        f"{where}: unknown key {key!r}: not an input ({', '.join(INPUT_KEYS)}) nor a spec variable of {arch_name} ({', '.join(variables)})"
    )


def _range(key: str, raw: dict, mode: str, base: Path, where: str) -> list | Range:
    unknown = [k for k in raw if k not in RANGE_KEYS]
    if unknown:
        raise InputError(f"{where}: axis {key!r}: unknown range key {unknown[0]!r}; known: {', '.join(RANGE_KEYS)}")
    if key in ("model", "weights", "prune", "prune_method", "spans", "scheme"):
        raise InputError(f"{where}: axis {key!r} takes a list of values, not a numeric range")
    for k in ("low", "high"):
        if k not in raw or isinstance(raw[k], bool) or not isinstance(raw[k], (int, float)):
            raise InputError(f"{where}: axis {key!r}: range needs numeric {k}")
    low, high = float(raw["low"]), float(raw["high"])
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise InputError(f"{where}: axis {key!r}: need finite low <= high, got {low:g}..{high:g}")
    log = _bool(raw.get("log", False), f"axis {key!r} log", where)
    if log and low <= 0:
        raise InputError(f"{where}: axis {key!r}: a log range needs low > 0")
    integer = _bool(raw.get("integer", key in ("seq_len", "batch", "heads", "query_block")), f"axis {key!r} integer", where)
    if mode == "grid":
        if "num" not in raw:
            raise InputError(f"{where}: axis {key!r}: a grid range needs num (number of values)")
        num = _int(raw["num"], f"axis {key!r} num", where, minimum=1)
        if num > MAX_POINTS:
            raise InputError(f"{where}: axis {key!r}: num {num} exceeds {MAX_POINTS}")
        r = Range(low, high, num, log, integer)
        return [_value(key, v, base, where) for v in r.grid()]
    if "num" in raw:
        raise InputError(f"{where}: axis {key!r}: num is for grid mode (random mode samples n points)")
    r = Range(low, high, None, log, integer)
    for v in (r.low, r.high):  # both ends must be valid values of the key
        _value(key, int(round(v)) if integer else v, base, where)
    return r


def _pareto(raw, inputs: list[str], where: str) -> ParetoSpec:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: pareto must be a mapping with x and y")
    allowed = ("x", "y", "x_goal", "y_goal")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise InputError(f"{where}: pareto: unknown key {unknown[0]!r}; known: {', '.join(allowed)}")
    default = ParetoSpec()
    x, y = raw.get("x", default.x), raw.get("y", default.y)
    for name in (x, y):
        if not isinstance(name, str) or not (name in METRICS or name.startswith(METRIC_PREFIXES) or name in inputs):
            raise InputError(f"{where}: pareto metric {name!r} unknown; use one of {', '.join(METRICS)}, energy_J.<component>, area_mm2.<component> or an input")
    if x == y:
        raise InputError(f"{where}: pareto x and y are both {x!r}")
    goals = {}
    for axis, name in (("x", x), ("y", y)):
        goal = raw.get(f"{axis}_goal", "max" if name in HIGHER_IS_BETTER else "min")
        if goal not in ("min", "max"):
            raise InputError(f"{where}: pareto {axis}_goal must be 'min' or 'max', got {goal!r}")
        goals[axis] = goal
    return ParetoSpec(x, y, goals["x"], goals["y"])


# ---- values ----------------------------------------------------------------------------------------


def _value(key: str, value, base: Path, where: str):
    """A validated, JSON-able value of input `key` (paths stay as given; they resolve against base)."""
    what = f"{where}: {key}"
    if key == "model":
        return _model(value, what)
    if key in ("seq_len", "batch", "heads", "query_block"):
        return _int(value, key, where, minimum=1)
    if key == "weights":
        if not isinstance(value, str):
            raise InputError(f"{what} must be a checkpoint path or 'bundled'")
        if value != "bundled" and not _resolve(value, base).is_file():
            raise InputError(f"{what}: file not found: {value}")
        return value
    if key == "spans":
        if not isinstance(value, str):
            raise InputError(f"{what} must be a span profile YAML path or 'measure'")
        if value != "measure" and not _resolve(value, base).is_file():
            raise InputError(f"{what}: file not found: {value}")
        return value
    if key == "density":
        return _fraction(value, what, 0.0, 1.0, True)
    if key == "sparsity":
        return _fraction(value, what, 0.0, 1.0, False)
    if key == "span_mass":
        v = _number(value, what)
        if not 0.0 < v <= 1.0:
            raise InputError(f"{what} {v:g} outside (0, 1]")
        return v
    if key in ("prune", "prune_method"):
        if not isinstance(value, str):
            raise InputError(f"{what} must be a string, got {value!r}")
        if key == "prune":
            parse_method(value)
        elif value not in ("magnitude", "global", "hybrid"):
            raise InputError(f"{what} {value!r}: use magnitude, global or hybrid (of {', '.join(METHODS)})")
        return value
    if key in ("variable_spans", "kv_reuse", "qk_sharing"):
        return _bool(value, key, where)
    if key == "scheme":
        if value not in SCHEMES:
            raise InputError(f"{what} {value!r} unknown; use one of {', '.join(SCHEMES)}")
        return value
    # A spec variable: a scalar the arch's Jinja template renders.
    if value is None or isinstance(value, (list, dict)):
        raise InputError(f"{what} must be a number, boolean or string, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{what} must be finite, got {value!r}")
    return value


def _model(value, what: str):
    """A preset name (canonical) or an inline shape dict with every TransformerShape field filled."""
    if isinstance(value, str):
        return preset(value).name
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a preset name or a shape mapping")
    known = [f.name for f in fields(TransformerShape)]
    unknown = [k for k in value if k not in known]
    if unknown:
        raise InputError(f"{what}: unknown shape key {unknown[0]!r}; known: {', '.join(known)}")
    missing = [k for k in ("name", "n_layers", "d_model", "n_heads", "head_dim", "d_ff") if k not in value]
    if missing:
        raise InputError(f"{what}: inline shape lacks {missing[0]!r}")
    try:
        shape = TransformerShape(**value)
    except TypeError as exc:
        raise InputError(f"{what}: {exc}") from None
    return asdict(shape)


def _int(value, name: str, where: str, minimum: int = 0) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{what} must be a number, got {value!r}")
    return float(value)


def _fraction(value, what: str, low: float, high: float, high_ok: bool) -> float:
    v = _number(value, what)
    if v < low or v > high or (v == high and not high_ok):
        raise InputError(f"{what} {v:g} outside [{low:g}, {high:g}{']' if high_ok else ')'}")
    return v


def _bool(value, name: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: {name} must be true or false, got {value!r}")
    return value


def _resolve(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _check_combination(inputs: dict, where: str) -> None:
    """Keys that cannot be given together (checked on the first value of each axis)."""
    given = [k for k in ("density", "sparsity", "prune") if k in inputs]
    if len(given) > 1:
        raise InputError(f"{where}: give only one of density, sparsity, prune (got {', '.join(given)})")
    if "prune_method" in inputs and "sparsity" not in inputs:
        raise InputError(f"{where}: prune_method applies to sparsity; give sparsity values")
    if "span_mass" in inputs and "spans" in inputs:
        raise InputError(f"{where}: give span_mass (measured spans) or spans (a profile), not both")


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


# ---- points ----------------------------------------------------------------------------------------


def point_key(arch: str, arch_digest: str, inputs: dict) -> str:
    """The hash naming a point's result file: arch name and file content, and every input."""
    blob = json.dumps({"arch": arch, "arch_sha256": arch_digest, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def expand_points(spec: SweepSpec) -> list[SweepPoint]:
    """Every point of the sweep, in order (grid: last axis fastest; random: as drawn), duplicates dropped."""
    names = list(spec.axes)
    if spec.mode == "grid":
        combos = itertools.product(*(spec.axes[k] for k in names))
    else:
        rng = np.random.default_rng(spec.seed)
        columns = []
        for k in names:
            axis = spec.axes[k]
            if isinstance(axis, Range):
                columns.append(axis.sample(rng, spec.n))
            else:
                columns.append([axis[i] for i in rng.integers(0, len(axis), spec.n)])
        combos = zip(*columns)
    digest = spec.arch_digest
    points: dict[str, SweepPoint] = {}
    for combo in combos:
        inputs = {**CORE_DEFAULTS, **spec.fixed, **dict(zip(names, combo))}
        key = point_key(spec.arch, digest, inputs)
        if key not in points:
            points[key] = SweepPoint(len(points), inputs, key)
    return list(points.values())


def model_label(model) -> str:
    """The table's name for a model input (a preset name, or an inline shape's name)."""
    return model["name"] if isinstance(model, dict) else str(model)

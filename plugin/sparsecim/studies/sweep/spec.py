"""The sweep YAML: its schema (pydantic), the validated `SweepSpec` and its expansion into points.

A sweep file names an architecture, values fixed for every point, and axes (lists or numeric
ranges) that are crossed (``mode: grid``) or sampled (``mode: random``, ``n`` points, ``seed``).
Every key of `fixed` and `axes` is an input key (`VALUE_TYPES`) or a spec variable of the arch.
Bad input raises one InputError line naming the field. The file format: docs/sweeps.md.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationInfo
from pydantic import create_model, model_validator

from sparsecim.files import load_yaml
from sparsecim.mapping.arch import find_arch, spec_variables
from sparsecim.request import DEFAULT_ARCH, RunRequest, SparsitySource
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme
from sparsecim.schema import FiniteFloat, Strict, Text, dataclass_model, error_at, parse, rule_of
from sparsecim.workload.shapes import TransformerShape, preset

MAX_POINTS = 1_000_000
# Filled in every point so that "seq_len: 128" given or omitted is the same point (same hash).
CORE_DEFAULTS = {"model": "bert-base", "seq_len": 128, "batch": 1, "scheme": "chip"}

# Output metrics (see results.point_metrics); "energy_J.<component>" / "area_mm2.<component>" also exist.
METRICS = (
    "energy_chip_J", "energy_system_J", "energy_per_token_J", "energy_chip_per_token_J", "latency_s",
    "dense_equivalent_ops", "executed_macs", "TOPS", "TOPS_per_W_chip", "TOPS_per_W_system", "area_mm2", "TOPS_per_mm2",
)  # fmt: skip
METRIC_PREFIXES = ("energy_J.", "area_mm2.")
HIGHER_IS_BETTER = ("TOPS", "TOPS_per_W_chip", "TOPS_per_W_system", "TOPS_per_mm2")


# ---- values of one key -----------------------------------------------------------------------------


def _preset_name(value):
    return preset(value).name if isinstance(value, str) else value


def _existing_file(special: str):
    """A file path relative to the sweep file's folder (context "base"), or the word `special`."""

    def check(value: str, info: ValidationInfo) -> str:
        base = Path((info.context or {}).get("base", "."))
        if value != special and not (base / Path(value).expanduser()).is_file():
            raise ValueError("file not found")
        return value

    return Annotated[str, AfterValidator(check)]


PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _spec_value(value):
    """Spec variables reach AccelForge's expression evaluator (Python): numbers, booleans, plain names only."""
    if isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, str) and PLAIN_NAME.fullmatch(value) and "__" not in value:  # no dunder names (__import__)
        return value
    raise ValueError("a spec variable is a finite number, a boolean or a plain name (letters, digits, _ and .)")


SpecValue = Annotated[Any, AfterValidator(_spec_value)]
Shape = Annotated[dataclass_model(TransformerShape), AfterValidator(asdict)]

# Each input key and its values; a value is checked as the request that will consume it checks it.
VALUE_TYPES: dict[str, Any] = {
    "model": Annotated[Shape | str, BeforeValidator(_preset_name)],  # a preset (its canonical name) or a shape
    "seq_len": Annotated[int, rule_of(RunRequest, "seq_len")],
    "batch": Annotated[int, rule_of(RunRequest, "batch")],
    "weights": _existing_file("bundled"),
    "heads": Annotated[int, rule_of(RunRequest, "heads")],
    "density": Annotated[float, rule_of(SparsitySource, "density")],
    "sparsity": Annotated[FiniteFloat, Field(ge=0, lt=1)],  # S removed; how: see execute.build_request
    "prune": Annotated[str, rule_of(SparsitySource, "prune")],
    "prune_method": Literal["magnitude", "global", "hybrid"],
    "span_mass": Annotated[FiniteFloat, Field(gt=0, le=1)],
    "spans": _existing_file("measure"),
    **{key: Annotated[bool, rule_of(LarOptions, key)] for key in LarOptions.model_fields},
    "scheme": Literal[tuple(s.value for s in Scheme)],
}
INPUT_KEYS = tuple(VALUE_TYPES)
SPARSITY_KEYS = ("density", "sparsity", "prune", "prune_method")
SPAN_KEYS = ("span_mass", "spans")
LAR_KEYS = tuple(LarOptions.model_fields)
INTEGER_KEYS = ("seq_len", "batch", "heads")  # their ranges are integer unless they say otherwise
EXCLUSIVE_KEYS = (("density", "sparsity", "prune"), ("span_mass", "spans"))  # weight sparsity; attention spans


# ---- axes ------------------------------------------------------------------------------------------


class Range(Strict):
    """A numeric axis: `num` values from low to high (grid) or uniform samples (random)."""

    low: FiniteFloat
    high: FiniteFloat
    num: int | None = Field(None, ge=1, le=MAX_POINTS)
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Range:
        mode = (info.context or {}).get("mode")
        for wrong, message in (
            (self.low > self.high, f"need low <= high, got {self.low:g}..{self.high:g}"),
            (self.log and self.low <= 0, "a log range needs low > 0"),
            (mode == "grid" and self.num is None, "a grid range needs num (number of values)"),
            (mode == "random" and self.num is not None, "num is for grid mode (random mode samples n points)"),
        ):
            if wrong:
                raise ValueError(message)
        return self

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


def _distinct(values: list) -> list:
    return list({json.dumps(v, sort_keys=True): v for v in values}.values())


def axis(value_type: Any, integer: bool = False) -> Any:
    """An axis of `value_type` values: a list (a single value is a list of one) or a `Range` (a
    mapping without "name", which marks an inline model shape). A grid range becomes its values;
    a random range stays a Range whose two ends must be valid values."""
    ends = TypeAdapter(value_type, config=ConfigDict(strict=True))

    def expand(raw, info: ValidationInfo):
        if not isinstance(raw, dict) or "name" in raw:
            return raw if isinstance(raw, list) else [raw]
        span = Range.model_validate({"integer": integer, **raw}, context=info.context)
        if span.num is not None:
            return span.grid()
        for end in (span.low, span.high):
            ends.validate_python(round(end) if span.integer else end, context=info.context)
        return span

    values = Annotated[list[value_type], Field(min_length=1), AfterValidator(_distinct)]
    return Annotated[values | Range, BeforeValidator(expand)]


# ---- the file --------------------------------------------------------------------------------------


class Inputs(Strict):
    """Base of `fixed` and `axes`: the input keys are fields, the arch's spec variables extra keys."""

    model_config = ConfigDict(extra="allow")
    _order: tuple = PrivateAttr(())

    @model_validator(mode="wrap")
    @classmethod
    def _known_keys(cls, data, handler, info: ValidationInfo):
        context = info.context or {}
        variables = context.get("variables", ())
        unknown = [key for key in data if key not in cls.model_fields and key not in variables] if isinstance(data, dict) else []
        if unknown:
            raise ValueError(
                f"unknown key {unknown[0]!r}: not an input ({', '.join(INPUT_KEYS)}) nor a spec variable of "
                f"{context.get('arch')} ({', '.join(variables)})"
            )
        inputs = handler(data)
        if isinstance(data, dict):
            inputs._order = tuple(data)
        return inputs

    @property
    def given(self) -> dict:
        """The keys the file gives, in its order, with their checked values."""
        values = dict(self)
        return {key: values[key] for key in self._order}


Fixed = create_model(
    "Fixed", __base__=Inputs, __pydantic_extra__=(dict[str, SpecValue], None), **{k: (t, None) for k, t in VALUE_TYPES.items()}
)
Axes = create_model(
    "Axes",
    __base__=Inputs,
    __pydantic_extra__=(dict[str, axis(SpecValue)], None),
    **{k: (axis(t, k in INTEGER_KEYS), None) for k, t in VALUE_TYPES.items()},
)


def _empty_if_none(value):
    return {} if value is None else value


class ParetoSpec(Strict):
    """Two output metrics (or numeric inputs) and whether each is minimised or maximised (default:
    TOPS-like metrics maximised, the rest minimised)."""

    x: str = "area_mm2"
    y: str = "energy_per_token_J"
    x_goal: Literal["min", "max"] = "min"
    y_goal: Literal["min", "max"] = "min"

    @model_validator(mode="before")
    @classmethod
    def _default_goals(cls, data):
        if isinstance(data, dict):
            for axis_name in ("x", "y"):
                metric = data.get(axis_name, cls.model_fields[axis_name].default)
                data = {f"{axis_name}_goal": "max" if metric in HIGHER_IS_BETTER else "min", **data}
        return data

    @model_validator(mode="after")
    def _distinct_axes(self) -> ParetoSpec:
        if self.x == self.y:
            raise ValueError(f"x and y are both {self.x!r}")
        return self


class SweepFile(Strict):
    """The keys of a sweep file (validated with context: the arch's name and spec variables, the
    mode and the file's folder)."""

    name: str | None = None  # default: the file's name
    arch: str = DEFAULT_ARCH  # an installed arch or a YAML path (relative to the file)
    mode: Literal["grid", "random"] = "grid"
    seed: int = Field(0, ge=0)
    n: int | None = Field(None, ge=1, le=MAX_POINTS)
    fixed: Annotated[Fixed, BeforeValidator(_empty_if_none)] = Fixed()
    axes: Axes
    pareto: Annotated[ParetoSpec, BeforeValidator(_empty_if_none)] = ParetoSpec()
    output: Text | None = None  # default: <file name>_results
    retry_errors: bool = False
    use_cache: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> SweepFile:
        fixed, axes = self.fixed.given, self.axes.given
        given = {**fixed, **axes}
        where = {key: "axes" if key in axes else "fixed" for key in given}
        if not axes:
            raise error_at(("axes",), "give at least one axis (key: [values] or key: {low, high, ...})")
        if self.mode == "random" and self.n is None:
            raise error_at(("n",), "required in mode random (the number of points to draw)")
        if self.mode == "grid" and self.n is not None:
            raise error_at(("n",), "only for mode random (a grid's size is the product of its axes)", self.n)
        for key in axes:
            if key in fixed:
                raise error_at(("axes", key), "also given in fixed; give it in one place")
        for group in EXCLUSIVE_KEYS:
            both = [key for key in group if key in given]
            if len(both) > 1:
                raise error_at((where[both[1]], both[1]), f"give only one of {', '.join(group)} (got {', '.join(both)})")
        if "prune_method" in given and "sparsity" not in given:
            raise error_at((where["prune_method"], "prune_method"), "applies to sparsity; give sparsity values")
        for axis_name in ("x", "y"):
            metric = getattr(self.pareto, axis_name)
            if not (metric in METRICS or metric.startswith(METRIC_PREFIXES) or metric in given):
                raise error_at(
                    ("pareto", axis_name),
                    f"unknown metric; use one of {', '.join(METRICS)}, energy_J.<component>, area_mm2.<component> or an input",
                    metric,
                )
        size = math.prod(len(v) for v in axes.values()) if self.mode == "grid" else 0
        if size > MAX_POINTS:
            raise error_at(("axes",), f"a grid of {size} points exceeds {MAX_POINTS}")
        return self


# ---- the validated sweep ---------------------------------------------------------------------------


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


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file."""
    path = Path(path)
    return parse_sweep(load_yaml(path, "sweep file"), path)


def parse_sweep(data, path: Path) -> SweepSpec:
    """Validate a parsed sweep mapping; `path` is where it came from (for names and relative paths)."""
    path = Path(path).resolve()
    raw = data if isinstance(data, dict) else {}
    arch = raw.get("arch", DEFAULT_ARCH)
    if isinstance(arch, str) and arch.endswith((".yaml", ".yml")) and not Path(arch).is_absolute():
        arch = str(path.parent / arch)
    arch_name, arch_path = find_arch(arch if isinstance(arch, str) else DEFAULT_ARCH)  # not text: the schema says so
    context = {"arch": arch_name, "variables": spec_variables(arch_path), "mode": raw.get("mode", "grid"), "base": path.parent}
    file = parse(SweepFile, data, path.name, context)
    output = Path(file.output or f"{path.stem}_results")
    return SweepSpec(
        name=file.name or path.stem, path=path, arch=arch_name, arch_path=Path(arch_path),
        axes=file.axes.given, fixed=file.fixed.given, pareto=file.pareto,
        output=output if output.is_absolute() else path.parent / output,
        **{key: getattr(file, key) for key in ("mode", "seed", "n", "retry_errors", "use_cache")},
    )  # fmt: skip


# ---- points ----------------------------------------------------------------------------------------


def point_key(arch: str, arch_digest: str, inputs: dict) -> str:
    """The hash naming a point's result file: arch name and file content, and every input."""
    blob = json.dumps({"arch": arch, "arch_sha256": arch_digest, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def expand_points(spec: SweepSpec) -> list[SweepPoint]:
    """Every point of the sweep, in order (grid: last axis fastest; random: as drawn), duplicates dropped."""
    names = list(spec.axes)
    if spec.mode == "grid":
        combos = itertools.product(*spec.axes.values())
    else:
        rng = np.random.default_rng(spec.seed)
        combos = zip(*(_draw(values, rng, spec.n) for values in spec.axes.values()))
    digest = spec.arch_digest
    points: dict[str, SweepPoint] = {}
    for combo in combos:
        inputs = {**CORE_DEFAULTS, **spec.fixed, **dict(zip(names, combo))}
        key = point_key(spec.arch, digest, inputs)
        if key not in points:
            points[key] = SweepPoint(len(points), inputs, key)
    return list(points.values())


def _draw(values: list | Range, rng: np.random.Generator, n: int) -> list:
    """`n` values of a random-mode axis: samples of a range, uniform picks from a list."""
    return values.sample(rng, n) if isinstance(values, Range) else [values[i] for i in rng.integers(0, len(values), n)]


def model_label(model) -> str:
    """The table's name for a model input (a preset name, or an inline shape's name)."""
    return model["name"] if isinstance(model, dict) else str(model)

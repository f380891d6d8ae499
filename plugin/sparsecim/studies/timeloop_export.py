"""Export a run as Timeloop v0.4 specs that `timeloop-mapper` accepts (issue 13; docs/timeloop.md).

    sparsecim export timeloop --case bert-glue --out tl/     # then: tl/run.sh

A study on top of the pipeline: the request is prepared and rewritten exactly as `sparsecim run` does,
then every distinct Einsum of the rewritten workload becomes one Timeloop problem with its own folder
(`packing/NN_kind/`): the architecture of the engine that runs it, the problem, the mapspace
constraints, and the Accelergy compound components that put the chip's hwcomponents models
(`hwcomponents_sparsecim`, CACTI) behind Timeloop's level classes. Every number is read from the
AccelForge arch evaluated for that Einsum (the same `--set` variables, component classes and
attributes, energy/leakage factors and throughputs), never re-derived here:

* path: the nodes from off chip down to the enabled compute (the engine AccelForge picks for the
  Einsum by its `enabled` expressions). Memory and Toll nodes become storage levels, Containers spatial
  fanouts (consecutive ones merge into one 2-D fanout: the rows, which reduce the output, on Y, the
  others on X), Compute the arithmetic level. Timeloop needs a storage level between two fanouts: a
  Toll directly above a fanout whose size equals its area scale (one per fanout element: the BFLY
  decoder, one per bank) moves below that fanout.
* components: Timeloop classifies a level by a substring of its class ("DRAM", "SRAM", "storage",
  "mac", "compute"; anything else is silently dropped), so each level gets a compound component
  (`<Level>_storage`, `<Level>_DRAM`, `<Level>_compute`) whose subcomponent is the AccelForge node's
  hwcomponents class with the attributes AccelForge calls it with; the compound's actions scale the
  model's energies to what AccelForge charges (node and action energy scales, bits per value) and its
  leakage to the node's. The off-chip link has no model in the arch (a fixed energy per bit): it is
  hwcomponents' LPDDR4 scaled to that energy.
* Timeloop counts one compute per cycle and instance, so its cycle is one compute of the engine's
  compute unit (a bit-serial, time-slotted CIM MAC takes input_bits x time_slots chip clocks); storage
  bandwidths are AccelForge's throughputs in words per such cycle; `seconds_per_cycle` (manifest)
  converts back.
* words are 8 bits. Where a rewrite gives a tensor more bits per value (compressed weights carry their
  mask, every input of a butterfly group is sent, a resident K/V row is rewritten as the window slides),
  a level that can hold only that tensor charges them in its energy; a level holding several tensors
  (off chip, activation memory) scales only their bandwidth (`per_dataspace_bandwidth_consumption_scale`):
  Timeloop has one access energy per level, so there those bits are not in its energy.
* mapspace: what the arch's fanouts allow (rows: reduction ranks only; columns: ranks shared by the
  stationary operand and the output), weight-stationary (the stationary operand's array iterates only
  over ranks that do not index it, and no temporal loop above it over such ranks: no refetch), Tolls
  pass values through (no temporal loop of their own), each level keeps what AccelForge's `keep` says
  and bypasses what its `may_keep` excludes; the rest is the mapper's choice, as in AccelForge.

The sparse export (`sparse/NN_kind/`) maps each dense weight matmul instead, with Sparseloop
optimisations: the weights bitmask-compressed (one mask bit per weight, the chip's BFLY-control bits,
written into the 10T cells) at the measured density (`hypergeometric`: uniform random positions),
computes skipped where a weight is zero. Sparseloop then models the masks statistically beside our
packing model.

`manifest.yaml` lists every problem with its instance count and cost scale (exact operations / mapped
operations: sparsecim maps rounded shapes and scales the cost), and the workload's executed MACs.
`run.sh` runs timeloop-mapper on every problem; `collect.py` (`studies.timeloop_stats`) adds them up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from hwcomponents_cacti import LPDDR4

from sparsecim.errors import InputError, ModelError, one_line
from sparsecim.files import OutputBatch, check_output_folder
from sparsecim.mapping.mapper import load_spec
from sparsecim.pipeline import prepare
from sparsecim.request import RunRequest
from sparsecim.rewrite import rewrite
from sparsecim.workload.einsums import EinsumSpec, Kind, LayerEinsum

TIMELOOP_VERSION = 0.4
WORD_BITS = 8
SUPPORTED_ARCHS = ("isscc23_16_2",)
DENSITY_DECIMALS = 3  # sparse export: matrices of one shape whose densities round alike share a problem
EXPORTS = ("packing", "sparse")
TOLL_DEPTH = 1 << 30  # a Toll's "capacity" in Timeloop: large enough never to bind
MASK_BITS = 1  # the chip's mask: one bit per weight position (a Sparseloop bitmask, format B)


@dataclass(frozen=True)
class MapperSettings:
    """timeloop-mapper's search (mapper.yaml). The objective is the energy-delay product, as sparsecim
    keeps the lowest-EDP mapping of AccelForge's Pareto set."""

    algorithm: str = "hybrid"
    victory_condition: int = 500
    timeout: int = 15000
    threads: int = 2
    max_permutations_per_if_visit: int = 16

    def to_yaml(self) -> dict:
        return {
            "mapper": {
                "version": TIMELOOP_VERSION,
                "algorithm": self.algorithm,
                "optimization_metrics": ["edp"],
                "num_threads": self.threads,
                "search_size": 0,
                "victory_condition": self.victory_condition,
                "timeout": self.timeout,
                "max_permutations_per_if_visit": self.max_permutations_per_if_visit,
                "log_stats": False,
                "live_status": False,
                "diagnostics": False,
            }
        }


@dataclass
class ExportedProblem:
    """One problem folder: the Einsums it stands for and how its result is weighed."""

    name: str
    directory: str
    export: str  # "packing" (our rewritten Einsum) or "sparse" (a dense weight matmul under Sparseloop)
    kind: str
    tag: str
    form: str
    ranks: dict[str, int]
    instances: int
    cost_scale: float  # exact operations of all instances / (instances x mapped operations)
    mapped_operations: int  # per instance: the product of the rank sizes
    exact_operations: int  # all instances
    engine: str  # the compute level
    compute_instances: int  # its spatial instances (1: a unit whose lanes are a throughput, no fanout)
    seconds_per_cycle: float
    levels: list[str]
    einsum: dict = field(default_factory=dict)  # the EinsumSpec's fields (sparsecim maps the same Einsum)
    tensor_bits: dict[str, int] = field(default_factory=dict)  # bits per value sparsecim moves
    word_levels: list[str] = field(default_factory=list)  # levels charging every tensor per 8-bit word
    density: float | None = None  # sparse export: non-zeros / weights of every matrix it stands for
    nonzeros: int | None = None
    matrices: list[str] = field(default_factory=list)

    def to_yaml(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if v is not None and v != []}
        data["ranks"] = dict(self.ranks)
        return data


@dataclass
class TimeloopExport:
    """What `export_timeloop` wrote."""

    folder: Path
    problems: list[ExportedProblem]
    executed_macs: int
    files: list[Path]


# ---- the AccelForge arch, evaluated for one Einsum ------------------------------------------------


def evaluated_arch(arch_path: Path, einsum: EinsumSpec, variables: dict):
    """AccelForge's spec with every expression and component model evaluated for `einsum`."""
    spec = load_spec(arch_path, einsum, variables)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return spec.calculate_component_costs(energy=True, throughput=True, leak=True)
    except Exception as exc:  # hwcomponents raises a chain of model errors
        raise ModelError(f"AccelForge could not evaluate the components of {arch_path.name} for {einsum.form}: {one_line(exc)}") from None


def _type(node) -> str:
    return type(node).__name__


def _names(value) -> set[str]:
    """Elements of an evaluated AccelForge set expression (an InvertibleSet)."""
    if value is None:
        return set()
    return set(getattr(value, "instance", value))


def engine_path(spec) -> list[Any]:
    """The enabled nodes from the top down to the compute that runs the Einsum: the main path, entering
    the Fork whose compute is enabled (the chip's engines are forks off the main path)."""
    path: list[Any] = []
    for node in spec.arch.nodes:
        kind = _type(node)
        if kind == "Fork":
            inner = [n for n in node.nodes if _type(n) == "Container" or n.enabled]
            if any(_type(n) == "Compute" for n in inner):
                return path + inner
            continue
        if kind == "Container" or node.enabled:
            path.append(node)
            if kind == "Compute":
                return path
    raise ModelError("the architecture has no enabled compute for this Einsum")


@dataclass
class _Level:
    """A Timeloop storage or compute level made from one AccelForge node."""

    node: Any
    role: str  # "memory" | "toll" | "compute" | "feed" (a zero-cost pass-through between two fanouts)
    divisor: int = 1  # fanout elements a relocated Toll's AccelForge node stands for
    label: str = ""  # the name of a feed level

    @property
    def name(self) -> str:
        return self.label or self.node.name


@dataclass
class _Fanout:
    """Consecutive AccelForge spatial containers: one Timeloop fanout."""

    containers: list[Any]

    @property
    def name(self) -> str:
        return "_".join(c.name for c in self.containers)

    def split(self) -> tuple[list[Any], list[Any]]:
        """(containers on X, containers on Y)."""
        rows = [c for c in self.containers if all(_names(loop.reuse) for loop in c.spatial)]
        return [c for c in self.containers if c not in rows], rows

    def axes(self, ranks: list[str]) -> tuple[int, int, list[str], list[str]]:
        """(fanout on X, on Y, ranks allowed on X, on Y). Loops that reuse (reduce) the output - the
        adder-tree rows - go on Y, the others on X; an axis allows what every loop on it allows."""
        size = {"x": 1, "y": 1}
        allowed = {"x": set(ranks), "y": set(ranks)}
        used = {"x": False, "y": False}
        for container in self.containers:
            for loop in container.spatial:
                axis = "y" if _names(loop.reuse) else "x"
                forced = set().union(*(_names(b.expression) for b in loop.loop_bounds if str(b.operator) == "==" and float(b.value) == 1))
                size[axis] *= int(loop.fanout)
                allowed[axis] &= set(ranks) - forced
                used[axis] = True
        on_x = [r for r in ranks if used["x"] and r in allowed["x"]]
        on_y = [r for r in ranks if used["y"] and r in allowed["y"] and r not in on_x]
        return size["x"], size["y"], on_x, on_y


def timeloop_items(path: list[Any]) -> list[_Level | _Fanout]:
    """Levels and fanouts in Timeloop order (merged fanouts, relocated Tolls, feeds; module docstring)."""
    items: list[_Level | _Fanout] = []
    for node in path:
        kind = _type(node)
        if kind == "Container":
            if items and isinstance(items[-1], _Fanout):
                items[-1].containers.append(node)
            else:
                items.append(_Fanout([node]))
        else:
            items.append(_Level(node, {"Memory": "memory", "Toll": "toll", "Compute": "compute"}[kind]))
    out: list[_Level | _Fanout] = []
    for item in items:
        fanout = out[-1] if out and isinstance(out[-1], _Fanout) else None
        before = out[-2] if len(out) > 1 else None
        out.append(item)
        # [toll, fanout(first, rest...)] -> [fanout(first), toll per element of first, fanout(rest...)]
        if not (fanout and len(fanout.containers) > 1 and isinstance(before, _Level) and before.role == "toll"):
            continue
        first = fanout.containers[0]
        size = math.prod(int(loop.fanout) for loop in first.spatial)
        if math.isclose(float(before.node.area_scale), size):
            out[-3:-1] = [_Fanout([first]), replace(before, divisor=size), _Fanout(fanout.containers[1:])]
    # A 2-D fanout (columns and rows of one array) is split by a feed level: Timeloop evaluated the
    # LAR engine's 128 x 64 fanout at 2 s per mapping, and as 128 then 64 in 0.1 s (same best mapping).
    split: list[_Level | _Fanout] = []
    for item in out:
        on_x, on_y = item.split() if isinstance(item, _Fanout) else ([], [])
        if on_x and on_y:
            split += [_Fanout(on_x), _Level(on_y[0], "feed", label=f"{on_y[0].name}Feed"), _Fanout(on_y)]
        else:
            split.append(item)
    return split


# ---- the problem ----------------------------------------------------------------------------------

_TENSOR = re.compile(r"(\w+)\[([^\]]*)\]")


def einsum_tensors(einsum: EinsumSpec) -> list[tuple[str, list[str], bool]]:
    """[(tensor, its ranks, is output)] of the Einsum's canonical expression (inputs first)."""
    tensors = [(name, [r.strip() for r in ranks.split(",")]) for name, ranks in _TENSOR.findall(einsum.expression)]
    return [(name, ranks, False) for name, ranks in tensors[1:]] + [(tensors[0][0], tensors[0][1], True)]


def problem_yaml(einsum: EinsumSpec, densities: dict[str, float] | None = None) -> dict:
    """Timeloop v0.4 problem: one data space per tensor projected onto upper-case ranks; Sparseloop
    densities (hypergeometric: uniform random non-zero positions) when given."""
    data_spaces = []
    for tensor, ranks, is_output in einsum_tensors(einsum):
        space: dict[str, Any] = {"name": tensor, "projection": [[[r.upper()]] for r in ranks]}
        if is_output:
            space["read_write"] = True
        data_spaces.append(space)
    instance: dict[str, Any] = {r.upper(): size for r, size in einsum.ranks}
    if densities:
        instance["densities"] = {t: {"distribution": "hypergeometric", "density": d} for t, d in densities.items()}
    return {
        "problem": {
            "version": TIMELOOP_VERSION,
            "shape": {"name": einsum.form, "dimensions": [r.upper() for r, _ in einsum.ranks], "data_spaces": data_spaces},
            "instance": instance,
        }
    }


# ---- YAML ------------------------------------------------------------------------------------------


class Quoted(str):
    """A string Accelergy must not evaluate as a Python expression (written double-quoted)."""


class _SpecDumper(yaml.SafeDumper):
    """yaml.safe_dump's dumper plus double-quoted `Quoted` strings: Accelergy evaluates every plain
    string as a Python expression (`technology: 28nm` is a syntax error, `"28nm"` is not)."""


_SpecDumper.add_representer(Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"'))


def _clean(value):
    """Plain YAML data: AccelForge's names and numbers (str / float subclasses) as str / int / float."""
    if isinstance(value, Quoted):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    return float(value)


def dump_yaml(data: dict, header: str = "") -> str:
    """Specs as YAML (plain data only), keys in the order written, after a comment header."""
    text = yaml.dump(_clean(data), Dumper=_SpecDumper, sort_keys=False, default_flow_style=False, width=120)
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comment + text


# ---- components --------------------------------------------------------------------------------------


@dataclass
class _Sub:
    """One hwcomponents model inside a compound component."""

    name: str
    model_class: str
    attributes: dict
    model: Any
    area_scale: float


@dataclass
class _Component:
    """A level's compound component: Timeloop action -> [(subcomponent, model action, energy scale)]."""

    class_name: str
    subs: list[_Sub]
    actions: dict[str, list[tuple[str, str, float]]]

    def to_yaml(self, technology: str, cycle_seconds: float) -> dict:
        return {
            "name": self.class_name,
            "attributes": {"technology": Quoted(technology), "global_cycle_seconds": cycle_seconds},
            "subcomponents": [
                {
                    "name": s.name,
                    "class": s.model_class,
                    "attributes": {"technology": Quoted(technology), "global_cycle_seconds": cycle_seconds, **s.attributes},
                    "area_scale": s.area_scale,
                }
                for s in self.subs
            ],
            "actions": [
                {
                    "name": action,
                    "subcomponents": [{"name": sub, "actions": [{"name": model_action, "energy_scale": scale}]} for sub, model_action, scale in parts],
                }
                for action, parts in self.actions.items()
            ],
        }


def _plain(value):
    if isinstance(value, (bool, str)) or value is None:
        return value
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _model_arguments(node) -> dict:
    """The attributes AccelForge calls the node's hwcomponents model with (Memory nodes add their size)."""
    extra = node.extra_attributes_for_component_model
    args = dict(extra.model_dump() if hasattr(extra, "model_dump") else extra)
    size = getattr(node, "size", None)
    if _type(node) == "Memory" and size is not None and math.isfinite(float(size)):
        args["size"] = size
    return {k: _plain(v) for k, v in args.items()}


def _model(node) -> tuple[str, dict, Any]:
    """(class, attributes, model) behind a node; hwcomponents' LPDDR4 for the fixed-energy link."""
    if node.component_class:
        return str(node.component_class), _model_arguments(node), node.component_model
    bits = int(_action(node, "read").bits_per_action)
    return "DRAM_LPDDR4", {"width": bits}, LPDDR4(width=bits)


def _action(node, name: str):
    for action in node.actions:
        if action.name == name:
            return action
    raise ModelError(f"{node.name} has no {name} action")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


# ---- the architecture of one problem ---------------------------------------------------------------


@dataclass
class _Engine:
    """One problem's path through the chip, read from the evaluated AccelForge spec."""

    items: list[_Level | _Fanout]
    tensors: list[str]
    tensor_ranks: dict[str, list[str]]
    ranks: list[str]
    tensor_bits: dict[str, int]  # bits per value AccelForge moves
    bandwidth_bits: dict[str, int]  # bits per value a level holding several tensors moves (bandwidth)
    cycle_seconds: float
    technology: str

    @property
    def levels(self) -> list[_Level]:
        return [i for i in self.items if isinstance(i, _Level)]

    @property
    def compute(self) -> _Level:
        return self.levels[-1]

    def held(self, level: _Level) -> tuple[list[str], list[str]]:
        """(tensors the level must keep, tensors it must bypass), from AccelForge's keep / may_keep."""
        if level.role == "compute":
            return [], []
        if level.role == "feed":
            return [], list(self.tensors)
        keep = [t for t in self.tensors if t in _names(level.node.tensors.keep)]
        may = keep if level.role == "toll" else keep + [t for t in self.tensors if t in _names(level.node.tensors.may_keep)]
        return keep, [t for t in self.tensors if t not in may]

    def only_tensor(self, level: _Level) -> str | None:
        """The one tensor the level can hold, or None when it may hold several."""
        _, bypass = self.held(level)
        possible = [t for t in self.tensors if t not in bypass]
        return possible[0] if len(possible) == 1 else None


def engine_of(spec, einsum: EinsumSpec, bandwidth_bits: dict[str, int] | None = None) -> _Engine:
    items = timeloop_items(engine_path(spec))
    compute = [i for i in items if isinstance(i, _Level)][-1]
    tensor_bits = {a.name: int(a.bits_per_value) for e in spec.workload.einsums for a in e.tensor_accesses}
    extra = compute.node.extra_attributes_for_component_model
    tech = float(getattr(extra, "tech_node", 28e-9))
    return _Engine(
        items=items,
        tensors=[t for t, _, _ in einsum_tensors(einsum)],
        tensor_ranks={t: ranks for t, ranks, _ in einsum_tensors(einsum)},
        ranks=[r for r, _ in einsum.ranks],
        tensor_bits=tensor_bits,
        bandwidth_bits=bandwidth_bits or tensor_bits,
        cycle_seconds=1.0 / float(_action(compute.node, "compute").throughput),
        technology=f"{round(tech * 1e9, 3):g}nm",
    )


def _storage(level: _Level, engine: _Engine) -> tuple[dict, _Component]:
    """A storage level's Timeloop entry and compound component (module docstring: words, bits, tolls)."""
    node = level.node
    only = engine.only_tensor(level)
    word_bits = engine.tensor_bits[only] if only else WORD_BITS
    read = _action(node, "read")
    block = 1 if (only or level.role == "toll") else max(1, int(read.bits_per_action) // WORD_BITS)
    model_class, model_args, model = _model(node)
    unbounded = level.role == "memory" and not math.isfinite(float(node.size))
    attributes: dict[str, Any] = {"datawidth": WORD_BITS, "width": WORD_BITS * block, "block_size": block}
    if level.role == "memory" and not unbounded:
        attributes["depth"] = max(1, int(float(node.size) // (word_bits * block)))
    elif level.role == "toll":  # holds nothing (values pass through), but Timeloop wants a size
        attributes["depth"] = TOLL_DEPTH

    def energy_scale(action) -> float:
        """Model action energy -> AccelForge's energy for one Timeloop access (block words)."""
        return _ratio(float(action.energy) * word_bits * block / float(action.bits_per_action), getattr(model, action.name)().energy)

    def words_per_cycle(action) -> float | None:
        throughput = float(action.throughput)
        if not math.isfinite(throughput) or float(action.energy) == 0:  # in-place compute reads: free
            return None
        return throughput * engine.cycle_seconds * float(action.bits_per_action) / word_bits

    actions = {"read": [("model", "read", energy_scale(read))]}
    bandwidth = {"read": words_per_cycle(read)}
    if level.role == "toll":  # values pass through: charged once, as they are read on their way down
        actions["fill"] = actions["update"] = [("model", "read", 0.0)]
    else:
        write = _action(node, "write")
        actions["fill"] = actions["update"] = [("model", "write", energy_scale(write))]
        bandwidth["write"] = words_per_cycle(write)
    bandwidth = {k: v for k, v in bandwidth.items() if v is not None}
    if len(bandwidth) == 2 and math.isclose(bandwidth["read"], bandwidth["write"]):
        attributes["shared_bandwidth"] = bandwidth["read"]  # AccelForge: latency = sum of actions / throughput
    else:
        attributes.update({f"{k}_bandwidth": v for k, v in bandwidth.items()})
    if not only:
        attributes["per_dataspace_bandwidth_consumption_scale"] = {t: engine.bandwidth_bits[t] / WORD_BITS for t in engine.tensors}
    actions["leak"] = [("model", "leak", _ratio(node.leak_power, model.leak_power) / level.divisor)]
    sub = _Sub("model", model_class, model_args, model, _ratio(node.area, model.area) / level.divisor)
    component = _Component(f"{level.name}{'_DRAM' if unbounded else '_storage'}", [sub], actions)
    return {"name": level.name, "class": component.class_name, "attributes": attributes}, component


def _feed(level: _Level, above: _Component) -> tuple[dict, _Component]:
    """A feed level: holds nothing and costs nothing (it only separates two fanouts for Timeloop); its
    compound wraps the model of the level above at zero energy, leakage and area."""
    sub = replace(above.subs[0], area_scale=0.0)
    actions = {a: [(sub.name, parts[0][1], 0.0)] for a, parts in above.actions.items()}
    component = _Component(f"{level.name}_storage", [sub], actions)
    attributes = {"datawidth": WORD_BITS, "width": WORD_BITS, "block_size": 1, "depth": TOLL_DEPTH}
    return {"name": level.name, "class": component.class_name, "attributes": attributes}, component


def _arithmetic(level: _Level) -> tuple[dict, _Component]:
    node = level.node
    model_class, model_args, model = _model(node)
    scale = _ratio(_action(node, "compute").energy, model.compute().energy)
    actions = {
        "compute": [("model", "compute", scale)],
        # Sparseloop's skipped computes (a zero weight) are not done at all: the chip stores no zeros.
        "compute_skipped": [("model", "compute", 0.0)],
        "leak": [("model", "leak", _ratio(node.leak_power, model.leak_power))],
    }
    sub = _Sub("model", model_class, model_args, model, _ratio(node.area, model.area))
    component = _Component(f"{level.name}_compute", [sub], actions)
    return {"name": level.name, "class": component.class_name, "attributes": {"datawidth": WORD_BITS}}, component


def arch_yaml(engine: _Engine) -> tuple[dict, list[_Component], dict[str, list]]:
    """The Timeloop v0.4 architecture (subtree/local) of one engine, its compound components, and the
    Timeloop entry of every level by name (for the sparse export to extend)."""
    components: list[_Component] = []
    entries: dict[str, list] = {}
    root: dict = {"name": "system", "attributes": {"technology": Quoted(engine.technology), "global_cycle_seconds": engine.cycle_seconds}, "local": []}
    current, mesh_x, mesh_y = root, 1, 1
    top = engine.levels[0].name
    for item in engine.items:
        if isinstance(item, _Fanout):
            fan_x, fan_y, _, _ = item.axes(engine.ranks)
            mesh_x, mesh_y = mesh_x * fan_x, mesh_y * fan_y
            child: dict = {"name": f"{item.name}[0..{fan_x * fan_y - 1}]", "local": []}
            current["subtree"] = [child]
            current = child
            continue
        if item.role == "feed":
            entry, component = _feed(item, components[-1])
        else:
            entry, component = _arithmetic(item) if item.role == "compute" else _storage(item, engine)
        if mesh_x * mesh_y > 1:
            entry["attributes"]["meshX"] = mesh_x
        if item.role != "compute" and item.name != top:
            # Timeloop power-gates unused instances of a level by default; AccelForge charges every
            # instance's leakage: gate them all together, at the top level.
            entry["attributes"]["power_gated_at"] = Quoted(top)
        current["local"].append(entry)
        components.append(component)
        entries[item.name] = [entry, component]
    return {"architecture": {"version": TIMELOOP_VERSION, "subtree": [root]}}, components, entries


def constraints_yaml(engine: _Engine) -> dict:
    """Mapspace constraints equivalent to the arch's (module docstring)."""
    ranks = [r.upper() for r in engine.ranks]
    targets: list[dict] = []
    above = None  # the storage level above the next fanout
    stationary = None
    for item in engine.items:
        if isinstance(item, _Fanout):
            fan_x, fan_y, on_x, on_y = item.axes(engine.ranks)
            allowed = [r.upper() for r in on_x + on_y]
            forced = [r for r in ranks if r not in allowed]
            # A rank allowed on an axis can use at most that axis (prunes the factor space up front).
            limits = [f"{r.upper()}<={fan_x}" for r in on_x] + [f"{r.upper()}<={fan_y}" for r in on_y]
            targets.append({
                "target": above.name, "type": "spatial", "permutation": " ".join(allowed + forced), "split": len(on_x),
                "factors": " ".join(limits + [f"{r}=1" for r in forced]),
            })
            continue
        if item.role == "compute":
            continue
        above = item
        keep, bypass = engine.held(item)
        if keep or bypass:
            targets.append({"target": item.name, "type": "bypass", "keep": keep, "bypass": bypass})
        if item.role in ("toll", "feed"):  # (a fixed loop order: with every factor 1 any order is the same mapping)
            targets.append({"target": item.name, "type": "temporal", "factors": " ".join(f"{r}=1" for r in ranks), "permutation": " ".join(ranks)})
        if item.role == "feed":
            continue
        no_refetch = _names(getattr(item.node.tensors, "no_refetch_from_above", None))
        if no_refetch & set(engine.tensors):
            stationary = (item, no_refetch & set(engine.tensors))
    if stationary is not None:
        level, tensors = stationary
        indexing = {r.upper() for t in tensors for r in engine.tensor_ranks[t]}
        free = [r for r in ranks if r not in indexing]
        targets.append({
            "target": level.name, "type": "temporal", "factors": " ".join(f"{r}=1" for r in ranks if r in indexing),
            "permutation": " ".join(free + [r for r in ranks if r in indexing]),
        })
        for upper in engine.levels[: engine.levels.index(level)]:
            if upper.role not in ("toll", "feed") and free:
                targets.append({"target": upper.name, "type": "temporal", "factors": " ".join(f"{r}=1" for r in free)})
    return {"mapspace": {"version": TIMELOOP_VERSION, "targets": targets}}


# ---- the sparse export: Sparseloop's view of the same masks -------------------------------------------


def _sparse_engine(engine: _Engine, stationary: str) -> tuple[_Engine, _Level]:
    """The engine without the Tolls that carry the stationary operand's mask (the BFLY-control bits
    become Sparseloop metadata of the weight array), and the first such Toll."""
    masks = [i for i in engine.items if isinstance(i, _Level) and i.role == "toll" and engine.held(i)[0] == [stationary]]
    if not masks:
        raise ModelError("the sparse export needs the chip's mask storage (BFLY control) on the weight path")
    return replace(engine, items=[i for i in engine.items if not any(i is m for m in masks)]), masks[0]


def sparse_files(engine: _Engine, stationary: str) -> tuple[dict, list[_Component], dict, _Engine]:
    """(arch, components, sparse optimisations, engine) of a dense weight matmul under Sparseloop.

    The weights are a bitmask (format B over all their ranks: one mask bit per weight) wherever they are
    stored (off chip and in the weight array); the mask bits are metadata, read off chip at the link's
    energy per bit and written into the 10T BFLY-control cells at theirs (AccelForge's BflyControl node:
    its per-bit energy is its action energy over its share (bits_per_value - payload) / bits_per_value
    of every stored weight's bits). Computes on a zero weight are skipped (they do not exist on the chip)."""
    dense_engine, mask_toll = _sparse_engine(engine, stationary)
    arch, components, entries = arch_yaml(dense_engine)
    mask_node = mask_toll.node
    mask_class, mask_args, mask_model = _model(mask_node)
    stored_bits = engine.tensor_bits[stationary]
    mask_action = _action(mask_node, "read")
    per_mask_bit = float(mask_action.energy) * stored_bits / (stored_bits - WORD_BITS) / float(mask_action.bits_per_action)
    holders = [lvl for lvl in dense_engine.levels if lvl.role == "memory" and stationary in dense_engine.held(lvl)[0]]
    ranks = [r.upper() for r in engine.tensor_ranks[stationary]]
    targets = []
    for level in holders:
        entry, component = entries[level.name]
        read = _action(level.node, "read")
        if component.class_name.endswith("_DRAM"):
            # Off chip: mask bits travel like data, per access of the link's width.
            entry["attributes"].update({"metadata_datawidth": MASK_BITS, "metadata_storage_width": int(read.bits_per_action)})
            data_scale = component.actions["read"][0][2]
            component.actions["metadata_read"] = [("model", "read", data_scale)]
            component.actions["metadata_fill"] = component.actions["metadata_update"] = [("model", "write", data_scale)]
        else:
            # The weight array: a weight's mask bit is written into the 10T cells beside it; the cells
            # drive the butterfly in place (no metadata read energy).
            cells = int(mask_args.get("size", 1))
            entry["attributes"].update({"metadata_datawidth": MASK_BITS, "metadata_storage_width": MASK_BITS, "metadata_storage_depth": cells})
            raw = mask_model.read().energy
            component.subs.append(_Sub("mask", mask_class, mask_args, mask_model, _ratio(mask_node.area, mask_model.area)))
            component.actions["metadata_fill"] = component.actions["metadata_update"] = [("mask", "read", _ratio(per_mask_bit, raw))]
            component.actions["metadata_read"] = [("mask", "read", 0.0)]
            component.actions["leak"] = component.actions["leak"] + [("mask", "leak", _ratio(mask_node.leak_power, mask_model.leak_power))]
        targets.append({"name": level.name, "representation_format": {"data_spaces": [
            {"name": stationary, "ranks": [{"format": "B", "flattened_rankIDs": [ranks]}]}]}})
    targets.append({"name": dense_engine.compute.name, "compute_optimization": [{"type": "skipping"}]})
    optimizations = {"sparse_optimizations": {"version": TIMELOOP_VERSION, "targets": targets}}
    return arch, components, optimizations, dense_engine


# ---- files of one problem ----------------------------------------------------------------------------


def _components_yaml(components: list[_Component], engine: _Engine) -> dict:
    return {"compound_components": {"version": TIMELOOP_VERSION, "classes": [c.to_yaml(engine.technology, engine.cycle_seconds) for c in components]}}


def primitive_library(models: list[Any]) -> dict:
    """Accelergy primitive library of the hwcomponents_sparsecim classes the export uses: Accelergy puts
    a class's action into its energy table only if a library declares it (the kit's library holds the
    hwcomponents packages it was built with, not ours). Names as the kit's bridge registers them."""
    classes: dict[str, dict] = {}
    for model in models:
        cls = type(model)
        if not cls.__module__.startswith("hwcomponents_sparsecim"):
            continue
        names = [cls.component_name] if isinstance(cls.component_name, str) else list(cls.component_name)
        actions = sorted(set(cls.get_action_names()) | {"leak"})
        for name in dict.fromkeys(names + [n.lower() for n in names] + [n.upper() for n in names]):
            classes[name] = {"name": name, "attributes": {}, "actions": [{"name": a} for a in actions]}
    return {"version": TIMELOOP_VERSION, "classes": list(classes.values())}


def _header(what: str, einsums: str = "") -> str:
    return f"{what}\nWritten by `sparsecim export timeloop` (docs/timeloop.md).{' ' + einsums if einsums else ''}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:24]


# ---- the export ---------------------------------------------------------------------------------------


def _describe(einsums: list[LayerEinsum]) -> str:
    """E.g. "q_proj, v_proj, out_proj of layers 0-11 (36 instances)"."""
    kinds = ", ".join(dict.fromkeys(str(e.kind) for e in einsums))
    layers = sorted({e.layer for e in einsums})
    span = f"layer {layers[0]}" if len(layers) == 1 else (
        f"layers {layers[0]}-{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) else f"layers {', '.join(map(str, layers))}")
    instances = sum(e.count for e in einsums)
    return f"{kinds} of {span} ({instances} instance{'s' if instances != 1 else ''})"


def _groups(einsums: list[LayerEinsum]) -> dict[EinsumSpec, list[LayerEinsum]]:
    groups: dict[EinsumSpec, list[LayerEinsum]] = {}
    for e in einsums:
        groups.setdefault(e.spec, []).append(e)
    return groups


def export_timeloop(
    request: RunRequest,
    out: str | Path,
    mapper: MapperSettings | None = None,
    sparse: bool = True,
    option: str = "--out",
) -> TimeloopExport:
    """Write the Timeloop export of `request` into the folder `out` (see module docstring)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option}: {out} is a file, not a folder")
    prepared = prepare(request)
    if prepared.arch_name not in SUPPORTED_ARCHS:
        raise InputError(f"the Timeloop export knows the chip's arch ({', '.join(SUPPORTED_ARCHS)}), not {prepared.arch_name!r}")
    check_output_folder(out, option)
    mapper = mapper or MapperSettings()
    rewritten = rewrite(prepared.workload, prepared.sparsity, prepared.spans, request.scheme, request.lar)
    variables = {**prepared.variables, **(rewritten.scheme.variables if rewritten.scheme is not None else {})}
    files: dict[str, str] = {}
    problems: list[ExportedProblem] = []
    models: list[Any] = []

    def add_problem(export: str, einsum: EinsumSpec, einsums: list[LayerEinsum], spec, densities=None, matrices=None, nonzeros=None):
        first = einsums[0]
        stationary = einsum.stationary_tensor
        if densities:  # payload words only: Sparseloop adds the mask bits as metadata
            payload = {t: WORD_BITS for t, _, _ in einsum_tensors(einsum)}
            arch, components, optimizations, engine = sparse_files(engine_of(spec, einsum, payload), stationary)
        else:
            engine = engine_of(spec, einsum)
            arch, components, _ = arch_yaml(engine)
            optimizations = None
        index = sum(p.export == export for p in problems)
        directory = f"{export}/{index:02d}_{first.kind}" + (f"_{_slug(first.tag.split(' ')[0])}" if first.tag else "")
        instances = sum(e.count for e in einsums)
        exact = sum(e.operations for e in einsums)
        what = f"{first.kind} {first.tag}".strip()
        stands_for = f"Stands for {_describe(einsums)}."
        files[f"{directory}/arch.yaml"] = dump_yaml(arch, _header(f"Timeloop architecture: the chip's {engine.compute.name} engine as {what} uses it.", stands_for))
        files[f"{directory}/problem.yaml"] = dump_yaml(problem_yaml(einsum, densities), _header(f"Timeloop problem: {einsum.expression} ({what}).", stands_for))
        files[f"{directory}/constraints.yaml"] = dump_yaml(constraints_yaml(engine), _header("Mapspace constraints equivalent to the arch's fanouts and weight stationarity."))
        files[f"{directory}/components.yaml"] = dump_yaml(_components_yaml(components, engine), _header("Accelergy compound components: the AccelForge nodes' hwcomponents models behind Timeloop level classes."))
        if optimizations:
            files[f"{directory}/sparse_opt.yaml"] = dump_yaml(optimizations, _header(f"Sparseloop: weights bitmask-compressed at density {densities[stationary]:.4f}, zero-weight computes skipped."))
        models.extend(s.model for c in components for s in c.subs)
        problems.append(
            ExportedProblem(
                name=f"{export}:{directory.split('/')[-1]}",
                directory=directory,
                export=export,
                kind=str(first.kind),
                tag=first.tag,
                form=einsum.form,
                ranks=einsum.rank_sizes,
                instances=instances,
                cost_scale=exact / (instances * einsum.operations),
                mapped_operations=einsum.operations,
                exact_operations=exact,
                engine=engine.compute.name,
                compute_instances=math.prod(f.axes(engine.ranks)[0] * f.axes(engine.ranks)[1] for f in engine.items if isinstance(f, _Fanout)),
                seconds_per_cycle=engine.cycle_seconds,
                levels=[level.name for level in engine.levels],
                einsum={**asdict(einsum), "ranks": [list(r) for r in einsum.ranks]},
                tensor_bits=dict(engine.tensor_bits) if not densities else {t: WORD_BITS for t in engine.tensors},
                word_levels=[lvl.name for lvl in engine.levels if lvl.role == "memory" and engine.only_tensor(lvl) is None],
                density=None if not densities else densities[stationary],
                nonzeros=nonzeros,
                matrices=matrices or [],
            )
        )

    for einsum, einsums in _groups(rewritten.workload.einsums).items():
        add_problem("packing", einsum, einsums, evaluated_arch(prepared.arch_path, einsum, variables))
    if sparse and prepared.sparsity is not None:
        for einsum, einsums, density, nonzeros, names in _sparse_groups(prepared, request):
            probe = replace(einsum, routed=True, weight_bits=WORD_BITS + MASK_BITS)
            spec = evaluated_arch(prepared.arch_path, probe, {k: v for k, v in variables.items() if k != "butterfly_enabled"})
            add_problem("sparse", einsum, einsums, spec, {einsum.stationary_tensor: density}, names, nonzeros)
    executed_macs = rewritten.workload.macs
    manifest = {
        "sparsecim_export": "timeloop",
        "timeloop_version": TIMELOOP_VERSION,
        "arch": prepared.arch_name,
        "model": prepared.shape.name,
        "seq_len": prepared.workload.seq_len,
        "batch": prepared.workload.batch,
        "variables": {k: _plain(v) if not isinstance(v, str) else v for k, v in variables.items()},
        "notes": list(rewritten.workload.notes),
        "executed_macs": executed_macs,
        "dense_macs": rewritten.workload.dense_macs,
        "problems": [p.to_yaml() for p in problems],
    }
    files["manifest.yaml"] = dump_yaml(manifest, _header("What this export holds: one entry per problem folder; weigh a run's result by instances x cost_scale."))
    files["mapper.yaml"] = dump_yaml(mapper.to_yaml(), _header("timeloop-mapper settings (all problems)."))
    files["components/sparsecim.lib.yaml"] = dump_yaml(primitive_library(models), _header("Accelergy primitive library of the hwcomponents_sparsecim classes used here."))
    files["run.sh"] = run_script([p.directory for p in problems], _components_path())
    files["collect.py"] = Path(timeloop_stats_file()).read_text()
    files["README.md"] = readme(manifest, problems)
    written = []
    for relative in files:
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
    with OutputBatch() as batch:
        for relative, text in files.items():
            written.append(batch.text(out / relative, text))
    (out / "run.sh").chmod(0o755 | (out / "run.sh").stat().st_mode)
    return TimeloopExport(out, problems, executed_macs, written)


def _sparse_groups(prepared, request: RunRequest):
    """Dense weight matmuls of the run (attention already rewritten), grouped by shape and density:
    (Einsum, instances, density = non-zeros / weights of the group, non-zeros, matrix names)."""
    dense = rewrite(prepared.workload, None, prepared.spans, request.scheme, request.lar).workload
    groups: dict[tuple, list] = {}
    for e in dense.einsums:
        role = Kind(e.kind).weight_role
        if role is None or e.spec.form != "matmul":
            continue
        matrix = prepared.sparsity.get(e.layer, role)
        nonzeros = round(matrix.density * matrix.shape[0] * matrix.shape[1])
        key = (e.spec, round(matrix.density, DENSITY_DECIMALS))
        groups.setdefault(key, []).append((e, nonzeros, matrix.shape[0] * matrix.shape[1], f"L{e.layer}.{role}"))
    for (einsum, _), members in groups.items():
        nonzeros = sum(m[1] * m[0].count for m in members)
        weights = sum(m[2] * m[0].count for m in members)
        yield einsum, [m[0] for m in members], nonzeros / weights, nonzeros, [m[3] for m in members]


def _components_path() -> str:
    """Where hwcomponents_sparsecim is importable from (the Accelergy process needs it on PYTHONPATH)."""
    found = importlib.util.find_spec("hwcomponents_sparsecim")
    if found is None or found.origin is None:
        raise ModelError("hwcomponents_sparsecim is not installed")
    return str(Path(found.origin).resolve().parent.parent)


def timeloop_stats_file() -> str:
    """The stats reader copied into every export as collect.py."""
    found = importlib.util.find_spec("sparsecim.studies.timeloop_stats")
    return str(found.origin)


_RUN_SCRIPT = r'''#!/usr/bin/env bash
# Runs timeloop-mapper on every problem of this export (written by `sparsecim export timeloop`;
# docs/timeloop.md) and adds the results up (collect.py -> runs/results.csv).
#
#   ./run.sh                  # every problem
#   ./run.sh packing          # only our rewritten Einsums (or: sparse; or problem folders)
#
# Needs the Timeloop + Accelergy kit (build_timeloop.sh): timeloop-mapper on PATH after sourcing the kit's
# env.sh, found through SPARSECIM_TIMELOOP_PREFIX or TIMELOOP_KIT_PREFIX. hwcomponents_sparsecim must be
# importable by Accelergy's Python: SPARSECIM_COMPONENTS (default: where this export was written from).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${SPARSECIM_TIMELOOP_PREFIX:-${TIMELOOP_KIT_PREFIX:-}}"
if [ -n "$prefix" ] && [ -f "$prefix/env.sh" ]; then source "$prefix/env.sh"; fi
if ! command -v timeloop-mapper >/dev/null; then
  echo "run.sh: timeloop-mapper not found; set SPARSECIM_TIMELOOP_PREFIX to a kit built with build_timeloop.sh" >&2
  exit 2
fi
kit="${TIMELOOP_KIT_PREFIX:?run.sh: TIMELOOP_KIT_PREFIX unset: source env.sh of the kit}"
python="$kit/venv/bin/python"
components="${SPARSECIM_COMPONENTS:-@COMPONENTS@}"
export PYTHONPATH="$components${PYTHONPATH:+:$PYTHONPATH}"

# Accelergy reads ./accelergy_config.yaml (else it creates ~/.config/accelergy without the bridge): the
# kit's configuration (estimator plug-ins, hwcomponents bridge, primitive library) plus this export's library.
"$python" - "${ACCELERGY_KIT_CONFIG:-$kit/share/accelergy-hwc/accelergy_config.yaml}" "$here/components/sparsecim.lib.yaml" \
  > "$here/accelergy_config.yaml" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["primitive_components"] = list(config.get("primitive_components") or []) + [sys.argv[2]]
print(yaml.safe_dump(config, sort_keys=False), end="")
PY

problems=(
@PROBLEMS@
)
selected=()
for dir in "${problems[@]}"; do
  if [ $# -eq 0 ]; then selected+=("$dir"); continue; fi
  for want in "$@"; do
    if [ "$want" = "${dir%%/*}" ] || [ "$want" = "$dir" ] || [ "$want" = "$dir/" ]; then selected+=("$dir"); fi
  done
done

failed=0
start_all=$(date +%s.%N)
for dir in "${selected[@]}"; do
  out="$here/runs/$dir"
  rm -rf "$out"; mkdir -p "$out"
  cp "$here/accelergy_config.yaml" "$out/accelergy_config.yaml"
  inputs=("$here/$dir/arch.yaml" "$here/$dir/components.yaml" "$here/$dir/problem.yaml" "$here/$dir/constraints.yaml" "$here/mapper.yaml")
  if [ -f "$here/$dir/sparse_opt.yaml" ]; then inputs+=("$here/$dir/sparse_opt.yaml"); fi
  start=$(date +%s.%N)
  (cd "$out" && timeloop-mapper "${inputs[@]}" > mapper.log 2>&1) || true
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # timeloop-mapper exits 0 even when Accelergy failed: the stats file is the proof of a run.
  if [ -s "$out/timeloop-mapper.stats.txt" ]; then
    printf '%-34s %6s s  %s\n' "$dir" "$seconds" "$(grep 'Utilization =' "$out/mapper.log" | tail -1 | sed 's/^ *//')"
  else
    printf '%-34s FAILED (see %s)\n' "$dir" "$out/mapper.log" >&2; failed=1
  fi
done
printf 'timeloop-mapper on %d problems: %s s\n' "${#selected[@]}" "$(awk -v a="$start_all" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
if [ $# -eq 0 ] && [ $failed -eq 0 ]; then "$python" "$here/collect.py" "$here/runs"; fi
exit $failed
'''


def run_script(directories: list[str], components: str) -> str:
    """run.sh of an export: the problem folders and where hwcomponents_sparsecim lives written in."""
    listed = "\n".join(f"  {d}" for d in directories)
    return _RUN_SCRIPT.replace("@PROBLEMS@", listed).replace("@COMPONENTS@", components)


def readme(manifest: dict, problems: list[ExportedProblem]) -> str:
    """README.md of an export: what each folder is and how to run it."""
    rows = "\n".join(
        f"| `{p.directory}` | {p.kind} {p.tag} | {p.form} {p.ranks} | {p.instances} | {p.cost_scale:.4g} | {p.engine} |"
        + (f" {p.density:.4f} |" if p.density is not None else " |")
        for p in problems
    )
    return f"""# Timeloop export: {manifest['model']} on {manifest['arch']} ({manifest['seq_len']} tokens)

Written by `sparsecim export timeloop`; the full description is docs/timeloop.md of sparsecim.

    ./run.sh            # timeloop-mapper on every problem, then collect.py -> runs/results.csv

Each problem folder holds `arch.yaml` (the engine that runs it; Timeloop v0.4 subtree/local),
`components.yaml` (Accelergy compound components around the chip's hwcomponents models),
`problem.yaml`, `constraints.yaml` (the arch's fanout rules, weight-stationary) and, for the sparse
export, `sparse_opt.yaml` (Sparseloop). Run one by hand from an empty folder holding
`accelergy_config.yaml` (run.sh writes it):

    timeloop-mapper ../../packing/00_q_proj/{{arch,components,problem,constraints}}.yaml ../../mapper.yaml

A result stands for `instances` x `cost_scale` runs of the problem (cost_scale = exact operations /
mapped operations: sparsecim maps rounded shapes and scales their cost). Executed MACs of the
workload: {manifest['executed_macs']} (dense model: {manifest['dense_macs']}).

| folder | Einsum | shape | instances | cost scale | engine | weight density |
|---|---|---|---|---|---|---|
{rows}
"""

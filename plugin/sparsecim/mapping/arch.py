"""Find architecture specs (the ones sparsecim installs, AccelForge's examples, or a user's YAML
file), read their overridable variables, and name the roles their components play."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import accelforge

from sparsecim.errors import InputError
from sparsecim.files import read_text


@dataclass(frozen=True)
class ArchRoles:
    """What the components of an arch are, read from the parsed arch (never from their names).

    offchip: memories of unbounded size (the backing store: DRAM, main memory) and what is declared
    off chip with them; their energy counts in the system total, not the chip's.
    classes: component name -> its hwcomponents component_class (e.g. a butterfly skipper is every
    component whose class is `sparsecim_butterfly`)."""

    offchip: frozenset[str] = frozenset()
    classes: dict[str, str] = field(default_factory=dict)
    computes: frozenset[str] = frozenset()  # the compute units (AccelForge Compute nodes)

    def kind_of(self, component: str) -> str:
        """"off-chip", "compute" or "on-chip memory": what a component's latency bound means."""
        if component in self.offchip:
            return "off-chip"
        return "compute" if component in self.computes else "on-chip memory"

    def of_class(self, *component_classes: str) -> set[str]:
        """Names of the components whose class is one of the given ones (case-insensitive)."""
        wanted = {c.lower() for c in component_classes}
        return {name for name, cls in self.classes.items() if cls.lower() in wanted}


def installed_archs() -> dict[str, Path]:
    """Architecture specs shipped inside the sparsecim package (usable after a plain pip install)."""
    root = resources.files("sparsecim.arch")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def accelforge_example_archs() -> dict[str, Path]:
    """AccelForge's own example architectures, from the installed accelforge package."""
    root = Path(str(accelforge.examples.arches.path))
    found = {p.stem: p for p in root.glob("*.yaml")}
    found.update({p.stem: p for p in (root / "compute_in_memory").glob("*.yaml") if not p.stem.startswith("_")})
    return found


def find_arch(name_or_path: str) -> tuple[str, Path]:
    """(display name, file) of an installed arch name, an AccelForge example name, or a YAML path."""
    archs = installed_archs()
    if name_or_path in archs:
        return name_or_path, archs[name_or_path]
    if not name_or_path.endswith((".yaml", ".yml")):
        examples = accelforge_example_archs()
        if name_or_path in examples:
            return name_or_path, examples[name_or_path]
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"architecture file not found: {path}")
        return path.stem, path
    raise InputError(
        f"unknown architecture {name_or_path!r}; installed: {', '.join(sorted(archs))}; AccelForge examples: "
        f"{', '.join(sorted(accelforge_example_archs()))} (or give a .yaml path)"
    )


_JINJA_DEFAULT = re.compile(r"{%\s*set\s+(\w+)\s*=\s*\1\s*\|\s*default\((.*?)\)\s*%}")


def spec_variables(arch_path: Path) -> list[str]:
    """Names of the variables an arch YAML lets users override (`{% set x = x | default(...) %}`)."""
    return [name for name, _ in _JINJA_DEFAULT.findall(read_text(arch_path, "architecture file"))]


_TRAILING_COMMENT = re.compile(r"%}\s*#\s*(?:\[([^\]]+)\]\s*)?(.*)$")
# Units by naming convention, for arch files whose comments do not say "[unit]" first.
_UNIT_BY_NAME = (("_pj_per_bit", "pJ/bit"), ("_gbps", "Gb/s"), ("_bytes", "B"), ("_kb", "KB"), ("_bits", "bits"), ("_lanes", "lanes"),
                 ("_banks", "banks"), ("_scale", "x"), ("_enabled", "on/off"), ("voltage", "V"), ("frequency", "Hz"), ("tech_node", "m"))


@dataclass(frozen=True)
class SpecVariable:
    """An arch variable a user may override: its default, unit and meaning (from the spec's comment)."""

    name: str
    default: str
    unit: str
    meaning: str


def spec_variable_docs(arch_path: Path) -> list[SpecVariable]:
    """The arch's overridable variables with default, unit and meaning. Meaning: the comment after the
    `{% set %}` line (or the comment line right above it); unit: a leading "[unit]" in that comment,
    else the variable's naming convention (e.g. `_gbps` -> Gb/s), else ""."""
    out = []
    above = ""
    for line in read_text(arch_path, "architecture file").splitlines():
        stripped = line.strip()
        match = _JINJA_DEFAULT.search(line)
        if match is None:
            above = stripped.lstrip("#").strip() if stripped.startswith("#") and not stripped.startswith("# ----") else ""
            continue
        name, default = match.groups()
        comment = _TRAILING_COMMENT.search(line[match.start():])
        unit, meaning = (comment.group(1) or "", comment.group(2).strip()) if comment else ("", above)
        if not unit:
            unit = next((u for suffix, u in _UNIT_BY_NAME if name.endswith(suffix)), "")
        out.append(SpecVariable(name, default.strip(), unit, meaning))
        above = ""
    return out


def spec_values(arch_path: Path, overrides: dict | None = None) -> dict:
    """Default values of an arch's overridable variables (Python literals), with `overrides` applied."""
    values = {}
    for name, default in _JINJA_DEFAULT.findall(read_text(arch_path, "architecture file")):
        try:
            values[name] = ast.literal_eval(default)
        except (ValueError, SyntaxError):
            values[name] = default
    for name, value in (overrides or {}).items():
        try:
            values[name] = ast.literal_eval(value) if isinstance(value, str) else value
        except (ValueError, SyntaxError):
            values[name] = value
    return values

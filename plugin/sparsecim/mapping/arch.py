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

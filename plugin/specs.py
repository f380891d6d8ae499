"""Find architecture specs: the ones sparsecim installs, or a user's YAML file."""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path

from sparsecim.errors import SparsecimInputError


def installed_archs() -> dict[str, Path]:
    """Architecture specs shipped inside the sparsecim package (usable after a plain pip install)."""
    root = resources.files("sparsecim.arch")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def accelforge_example_archs() -> dict[str, Path]:
    """AccelForge's own example architectures, from the installed accelforge package."""
    import accelforge

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
            raise SparsecimInputError(f"architecture file not found: {path}")
        return path.stem, path
    raise SparsecimInputError(
        f"unknown architecture {name_or_path!r}; installed: {', '.join(sorted(archs))}; AccelForge examples: "
        f"{', '.join(sorted(accelforge_example_archs()))} (or give a .yaml path)"
    )


_JINJA_DEFAULT = re.compile(r"{%\s*set\s+(\w+)\s*=\s*\1\s*\|\s*default\((.*?)\)\s*%}")


def spec_variables(arch_path: Path) -> list[str]:
    """Names of the variables an arch YAML lets users override (`{% set x = x | default(...) %}`)."""
    return [name for name, _ in _JINJA_DEFAULT.findall(Path(arch_path).read_text())]


def spec_values(arch_path: Path, overrides: dict | None = None) -> dict:
    """Default values of an arch's overridable variables (Python literals), with `overrides` applied."""
    values = {}
    for name, default in _JINJA_DEFAULT.findall(Path(arch_path).read_text()):
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

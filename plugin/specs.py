"""Find architecture specs: the ones sparsecim installs, or a user's YAML file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sparsecim.errors import SparsecimInputError


def installed_archs() -> dict[str, Path]:
    """Architecture specs shipped inside the sparsecim package (usable after a plain pip install)."""
    root = resources.files("sparsecim.arch")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def find_arch(name_or_path: str) -> tuple[str, Path]:
    """(display name, file) of an installed arch name or a path to a YAML file."""
    archs = installed_archs()
    if name_or_path in archs:
        return name_or_path, archs[name_or_path]
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SparsecimInputError(f"architecture file not found: {path}")
        return path.stem, path
    raise SparsecimInputError(f"unknown architecture {name_or_path!r}; installed: {', '.join(sorted(archs))} (or give a .yaml path)")

"""The on-disk mapping cache: one validated JSON file per (arch, variables, Einsum, mapper settings,
component models).

The key covers everything that decides a mapped cost: the arch text and its variables, the Einsum,
the mapper settings file, the AccelForge version, and the code and version of every hwcomponents
model the arch's components can resolve to (`component_fingerprint`): edit your plug-in's energy and
the next run maps afresh. An entry is trusted only after `EinsumCost` validates it (finite,
non-negative numbers, positive energy and latency); a bad entry is ignored with one warning and
recomputed. An unusable cache folder (a file, read-only, full) is reported once and the run goes on
uncached. Entries are written atomically (`sparsecim.files`).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import re
import warnings
from dataclasses import asdict
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import accelforge
import hwcomponents
from pydantic import ValidationError

from sparsecim.errors import InputError, SparsecimWarning, one_line
from sparsecim.files import read_text, write_atomic
from sparsecim.mapping.cost import EinsumCost
from sparsecim.workload.einsums import EinsumSpec

CACHE_VERSION = 8  # 7: mapping text is the loop nest with tile shapes; 8: activations too large for the chip spill off chip


def default_cache_dir() -> Path:
    """Per-user cache (never inside site-packages); override with SPARSECIM_CACHE_DIR."""
    env = os.environ.get("SPARSECIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sparsecim"


def usable_cache_dir(cache_dir: Path | None = None) -> Path | None:
    """The cache folder if entries can be written there (created if needed), else None after one
    warning (once per process and folder)."""
    return _usable(cache_dir or default_cache_dir())


@lru_cache(maxsize=8)
def _usable(folder: Path) -> Path | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        with open(probe, "wb") as handle:
            handle.write(b"0" * 512)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
        return folder
    except OSError as exc:
        warnings.warn(f"mapping cache {folder} is unusable ({exc.strerror or one_line(exc)}); running uncached", SparsecimWarning, stacklevel=2)
        return None


def _normalised(variables: dict) -> dict:
    """Variables as Python values ("8" from the CLI and 8 from a sweep give the same key)."""
    out = {}
    for key, value in variables.items():
        if isinstance(value, str):
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


_COMPONENT_CLASS = re.compile(r"component_class:\s*['\"]?([A-Za-z0-9_.-]+)")


def component_fingerprint(arch_text: str) -> str:
    """Digest of the code and versions of every installed hwcomponents model whose name matches a
    component_class of the arch (all models when none matches, e.g. a class set by a template)."""
    return _fingerprint(frozenset(c.lower() for c in _COMPONENT_CLASS.findall(arch_text)))


@lru_cache(maxsize=32)
def _fingerprint(classes: frozenset[str]) -> str:
    models = hwcomponents.get_models()
    chosen = [m for m in models if _names(m) & classes] or models
    digest = hashlib.sha256()
    for package in sorted({m.__module__.split(".")[0] for m in chosen}):
        digest.update(package.encode())
        digest.update(_package_digest(package).encode())
    return digest.hexdigest()[:24]


def _names(model) -> set[str]:
    names = getattr(model, "component_name", None) or model.__name__
    return {n.lower() for n in ([names] if isinstance(names, str) else names)} | {model.__name__.lower()}


@lru_cache(maxsize=64)
def _package_digest(package: str) -> str:
    """Version and source text of a model package (all its .py files)."""
    module = __import__(package)
    source = inspect.getsourcefile(module) or ""
    root = Path(source).parent if source.endswith("__init__.py") else Path(source)
    digest = hashlib.sha256()
    try:
        digest.update(metadata.version(package.replace("_", "-")).encode())
    except metadata.PackageNotFoundError:
        pass
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    for path in files:
        digest.update(str(path.relative_to(root.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(arch_text: str, variables: dict, einsum: EinsumSpec, mapper_text: str = "") -> str:
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "accelforge": getattr(accelforge, "__version__", "?"),
            "components": component_fingerprint(arch_text),
            "arch": arch_text,
            "mapper": mapper_text,
            "variables": _normalised(variables),
            "einsum": asdict(einsum),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def read_entry(path: Path) -> EinsumCost | None:
    """A cached cost, or None when absent or invalid (an invalid entry warns once and is recomputed)."""
    if not path.is_file():
        return None
    try:
        return EinsumCost.model_validate_json(read_text(path, "cache entry"))
    except (ValidationError, ValueError, OSError) as exc:
        first = exc.errors(include_url=False)[0]["msg"] if isinstance(exc, ValidationError) else one_line(exc, 80)
        if path not in _WARNED:  # the entry is looked up again before it is recomputed: one warning
            _WARNED.add(path)
            warnings.warn(f"ignoring invalid mapping-cache entry {path.name} ({first}); recomputing", SparsecimWarning, stacklevel=2)
        return None


_WARNED: set[Path] = set()


def write_entry(path: Path, cost: EinsumCost) -> None:
    """Store a cost; a failed write (a full disk) warns once per folder and is otherwise ignored (the
    result is still returned; write_atomic leaves no temporary file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, cost.model_dump_json())
    except (OSError, InputError) as exc:
        if path.parent not in _FAILED_WRITES:
            _FAILED_WRITES.add(path.parent)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).rsplit(": ", 1)[-1]
            warnings.warn(f"cannot write mapping-cache entries in {path.parent} ({one_line(reason, 120)}); continuing uncached",
                          SparsecimWarning, stacklevel=2)


_FAILED_WRITES: set[Path] = set()

"""SparsityProfile: the weight density (and optional packing statistics) of every matrix of a model.

This is what the sparsity layer hands to the workload rewrite. The YAML schema (documented with an
example in docs/sparsity.md) is::

    version: 1
    model: <name>
    packing_rules: {columns_per_macro: 64, lanes: 16, ...}   # optional, PackingRules fields
    matrices:
      - {name: <tensor>, layer: 0, role: q, shape: [384, 384], density: 0.25, source: "pruned:magnitude:0.75"}
      - ... packing: {...}                                     # optional, PackingStats fields

Unknown keys are rejected (the message names the key); density must lie in [0, 1]; shape is two positive
integers; source is ``weights:<file>``, ``pruned:<method>``, ``mask:<file>`` or ``statistical:<model>``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from sparsecim.errors import SparsecimInputError, publish
from sparsecim.sparsity.packing import PackingRules, PackingStats, analyze_mask
from sparsecim.sparsity.weights import ROLES, classify_tensor

SCHEMA_VERSION = 1
SOURCE_KINDS = ("weights", "pruned", "mask", "statistical")
_PROFILE_KEYS = ("version", "model", "packing_rules", "matrices")
_MATRIX_KEYS = ("name", "layer", "role", "shape", "density", "source", "packing")
_ROLES = ROLES + ("qkv",)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MatrixSparsity:
    """Density of one weight matrix [out, in]; (name, role) is unique in a profile (a fused q|k|v tensor
    gives three entries with one name). layer/role are None for matrices outside the transformer layers."""

    name: str
    layer: int | None
    role: str | None
    shape: tuple[int, int]
    density: float
    source: str
    packing: PackingStats | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SparsecimInputError("a matrix needs a non-empty name")
        if self.layer is not None and not (_is_int(self.layer) and self.layer >= 0):
            raise SparsecimInputError(f"{self.name}: layer must be a non-negative integer (got {self.layer!r})")
        if self.role is not None and self.role not in _ROLES:
            raise SparsecimInputError(f"{self.name}: role {self.role!r} unknown (use {', '.join(_ROLES)})")
        shape = tuple(self.shape) if isinstance(self.shape, (list, tuple)) else None
        if shape is None or len(shape) != 2 or not all(_is_int(s) and s >= 1 for s in shape):
            raise SparsecimInputError(f"{self.name}: shape must be two positive integers (got {self.shape!r})")
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        density = self.density
        if not isinstance(density, (int, float, np.floating)) or isinstance(density, bool) or math.isnan(density):
            raise SparsecimInputError(f"{self.name}: density must be a number in [0, 1] (got {density!r})")
        if not 0.0 <= density <= 1.0:
            raise SparsecimInputError(f"{self.name}: density {density:g} outside [0, 1]")
        object.__setattr__(self, "density", float(density))
        kind, _, detail = self.source.partition(":") if isinstance(self.source, str) else ("", "", "")
        if kind not in SOURCE_KINDS or not detail:
            raise SparsecimInputError(
                f"{self.name}: source {self.source!r} must be one of {', '.join(k + ':<...>' for k in SOURCE_KINDS)}"
            )
        if self.packing is not None:
            if self.packing.shape != self.shape:
                raise SparsecimInputError(f"{self.name}: packing shape {self.packing.shape} differs from shape {self.shape}")
            if abs(self.packing.density - self.density) > 1e-9:
                raise SparsecimInputError(
                    f"{self.name}: density {self.density:g} disagrees with packing nnz/size {self.packing.density:g}"
                )

    def to_dict(self) -> dict:
        data = {"name": self.name, "layer": self.layer, "role": self.role, "shape": list(self.shape),
                "density": self.density, "source": self.source}
        if self.packing is not None:
            data["packing"] = self.packing.to_dict()
        return data


@dataclass
class SparsityProfile:
    """Densities of a model's weight matrices, with the packing rules their statistics were computed under."""

    model: str
    matrices: list[MatrixSparsity]
    packing_rules: PackingRules | None = None
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise SparsecimInputError("a sparsity profile needs a non-empty model name")
        self._index = {}
        for matrix in self.matrices:
            key = (matrix.name, matrix.role)
            if key in self._index:
                raise SparsecimInputError(f"matrix {matrix.name} (role {matrix.role}) appears twice")
            self._index[key] = matrix

    def get(self, layer: int, role: str) -> MatrixSparsity:
        """The matrix of one layer and role (SparsecimInputError if absent)."""
        for matrix in self.matrices:
            if matrix.layer == layer and matrix.role == role:
                return matrix
        raise SparsecimInputError(f"profile of {self.model} has no {role} matrix in layer {layer}")

    @property
    def density(self) -> float:
        """Overall density, weighted by matrix size."""
        sizes = np.array([m.shape[0] * m.shape[1] for m in self.matrices], dtype=np.float64)
        return float(np.dot(sizes, [m.density for m in self.matrices]) / sizes.sum()) if self.matrices else 0.0

    def to_dict(self) -> dict:
        data: dict = {"version": SCHEMA_VERSION, "model": self.model}
        if self.packing_rules is not None:
            data["packing_rules"] = self.packing_rules.to_dict()
        data["matrices"] = [m.to_dict() for m in self.matrices]
        return data

    @classmethod
    def from_dict(cls, data, source: str = "profile") -> SparsityProfile:
        if not isinstance(data, dict):
            raise SparsecimInputError(f"{source}: top level must be a mapping with keys {', '.join(_PROFILE_KEYS)}")
        _reject_unknown(data, _PROFILE_KEYS, source)
        if data.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise SparsecimInputError(f"{source}: version {data['version']!r} unsupported (this reader knows {SCHEMA_VERSION})")
        for required in ("model", "matrices"):
            if required not in data:
                raise SparsecimInputError(f"{source}: missing required key '{required}'")
        rules = None
        if data.get("packing_rules") is not None:
            if not isinstance(data["packing_rules"], dict):
                raise SparsecimInputError(f"{source}: packing_rules must be a mapping")
            try:
                rules = PackingRules.from_dict(data["packing_rules"])
            except (SparsecimInputError, TypeError) as exc:
                raise SparsecimInputError(f"{source}: packing_rules: {exc}") from None
        if not isinstance(data["matrices"], list):
            raise SparsecimInputError(f"{source}: 'matrices' must be a list")
        matrices = []
        for i, raw in enumerate(data["matrices"]):
            where = f"{source}: matrices[{i}]"
            if not isinstance(raw, dict):
                raise SparsecimInputError(f"{where} must be a mapping")
            _reject_unknown(raw, _MATRIX_KEYS, where)
            for required in ("name", "shape", "density", "source"):
                if required not in raw:
                    raise SparsecimInputError(f"{where}: missing required key '{required}'")
            try:
                packing = None
                if raw.get("packing") is not None:
                    if not isinstance(raw["packing"], dict):
                        raise SparsecimInputError("packing must be a mapping")
                    packing = PackingStats.from_dict(raw["packing"])
                matrices.append(MatrixSparsity(raw["name"], raw.get("layer"), raw.get("role"), raw["shape"],
                                               raw["density"], raw["source"], packing))
            except (SparsecimInputError, TypeError) as exc:
                raise SparsecimInputError(f"{where}: {exc}") from None
        try:
            return cls(data["model"], matrices, rules)
        except SparsecimInputError as exc:
            raise SparsecimInputError(f"{source}: {exc}") from None

    def save_yaml(self, path: str | Path) -> None:
        """Write the profile atomically (temp file in the same folder, then os.replace)."""
        path = Path(path)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=120)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(text)
            publish(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load_yaml(cls, path: str | Path) -> SparsityProfile:
        """Read and validate a profile; any problem raises SparsecimInputError naming the file."""
        path = Path(path)
        if not path.is_file():
            raise SparsecimInputError(f"sparsity profile not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SparsecimInputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data, source=str(path))


def _reject_unknown(data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(key) for key in data if key not in allowed]
    if unknown:
        raise SparsecimInputError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")


def profile_from_masks(
    model: str,
    masks: Mapping[str, np.ndarray],
    source: str,
    rules: PackingRules | None = None,
    with_packing: bool = True,
) -> SparsityProfile:
    """Profile of keep-masks keyed by tensor name ([out, in]); layer/role from weights.classify_tensor.

    A fused q|k|v mask [3d, d] becomes three entries (rows split in thirds, q, k, v). With
    `with_packing` the packing statistics of every (part of a) mask are computed under `rules`."""
    rules = rules or PackingRules()
    matrices = []
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        role = classify_tensor(name)
        parts = [(None if role is None else role.role, mask)]
        if role is not None and role.role == "qkv" and mask.shape[0] == 3 * mask.shape[1]:
            d = mask.shape[1]
            parts = [(r, mask[i * d : (i + 1) * d]) for i, r in enumerate(("q", "k", "v"))]
        for part_role, part in parts:
            matrices.append(
                MatrixSparsity(
                    name=name,
                    layer=None if role is None else role.layer,
                    role=part_role,
                    shape=part.shape,
                    density=np.count_nonzero(part) / part.size,
                    source=source,
                    packing=analyze_mask(part, rules) if with_packing else None,
                )
            )
    return SparsityProfile(model, matrices, rules if with_packing else None)

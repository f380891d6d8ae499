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
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml
from pydantic import Field, PrivateAttr, field_validator, model_validator

from sparsecim.errors import InputError
from sparsecim.files import load_yaml, write_atomic
from sparsecim.schema import Strict, lax_enum, parse
from sparsecim.sparsity.packing import PackingRules, PackingStats, analyze_mask
from sparsecim.workload.tensor_names import Role, classify_tensor

SCHEMA_VERSION = 1
SOURCE_KINDS = ("weights", "pruned", "mask", "statistical")
MAX_MATRIX_SIZE = 1 << 31
"""Largest matrix (out x in weights) a profile may describe: larger than any layer of a 70B model."""


class MatrixSparsity(Strict):
    """Density of one weight matrix [out, in]; (name, role) is unique in a profile (a fused q|k|v tensor
    gives three entries with one name). layer/role are None for matrices outside the transformer layers.
    Positional form: MatrixSparsity(name, layer, role, shape, density, source, packing=None)."""

    name: str = Field(min_length=1)
    layer: int | None = None
    role: lax_enum(Role) | None = None
    shape: tuple[int, int]
    density: float
    source: str
    packing: PackingStats | None = None

    def __init__(self, *args, **data):
        data.update(zip(("name", "layer", "role", "shape", "density", "source", "packing"), args))
        super().__init__(**data)

    @field_validator("layer")
    @classmethod
    def _layer(cls, layer):
        if layer is not None and layer < 0:
            raise ValueError(f"layer must be a non-negative integer (got {layer!r})")
        return layer

    @field_validator("shape", mode="before")
    @classmethod
    def _shape(cls, shape):
        values = tuple(shape) if isinstance(shape, (list, tuple)) else None
        if values is None or len(values) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
        ):
            raise ValueError(f"shape must be two positive integers (got {shape!r})")
        if int(values[0]) * int(values[1]) > MAX_MATRIX_SIZE:
            raise ValueError(f"shape {list(values)} is larger than any transformer matrix ({MAX_MATRIX_SIZE} weights)")
        return (int(values[0]), int(values[1]))

    @field_validator("density", mode="before")
    @classmethod
    def _density(cls, density):
        if isinstance(density, bool) or not isinstance(density, (int, float, np.floating)) or math.isnan(density):
            raise ValueError(f"density must be a number in [0, 1] (got {density!r})")
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"density {density:g} outside [0, 1]")
        return float(density)

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        kind, _, detail = source.partition(":")
        if kind not in SOURCE_KINDS or not detail:
            raise ValueError(f"source {source!r} must be one of {', '.join(k + ':<...>' for k in SOURCE_KINDS)}")
        return source

    @model_validator(mode="after")
    def _packing_matches(self) -> "MatrixSparsity":
        if self.packing is not None:
            if self.packing.shape != self.shape:
                raise ValueError(f"{self.name}: packing shape {self.packing.shape} differs from shape {self.shape}")
            if abs(self.packing.density - self.density) > 1e-9:
                raise ValueError(f"{self.name}: density {self.density:g} disagrees with packing nnz/size {self.packing.density:g}")
        return self

    def to_dict(self) -> dict:
        data = {"name": self.name, "layer": self.layer, "role": None if self.role is None else str(self.role),
                "shape": list(self.shape), "density": self.density, "source": self.source}
        if self.packing is not None:
            data["packing"] = self.packing.to_dict()
        return data


class SparsityProfile(Strict):
    """Densities of a model's weight matrices, with the packing rules their statistics were computed under.
    Positional form: SparsityProfile(model, matrices, packing_rules=None)."""

    version: int = SCHEMA_VERSION
    model: str = Field(min_length=1)
    matrices: list[MatrixSparsity]
    packing_rules: PackingRules | None = None
    _by_layer_role: dict = PrivateAttr(default_factory=dict)

    def __init__(self, *args, **data):
        data.update(zip(("model", "matrices", "packing_rules"), args))
        super().__init__(**data)

    @field_validator("version")
    @classmethod
    def _version(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ValueError(f"version {version!r} unsupported (this reader knows {SCHEMA_VERSION})")
        return version

    @model_validator(mode="after")
    def _unique(self) -> "SparsityProfile":
        seen = set()
        for matrix in self.matrices:
            key = (matrix.name, matrix.role)
            if key in seen:
                raise ValueError(f"matrix {matrix.name} (role {matrix.role}) appears twice")
            seen.add(key)
            if matrix.layer is not None and matrix.role is not None:
                self._by_layer_role.setdefault((matrix.layer, matrix.role), matrix)
        return self

    def get(self, layer: int, role: Role | str) -> MatrixSparsity:
        """The matrix of one layer and role (InputError if absent)."""
        matrix = self._by_layer_role.get((layer, Role(role)))
        if matrix is None:
            raise InputError(f"profile of {self.model} has no {role} matrix in layer {layer}")
        return matrix

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
            raise InputError(f"{source}: top level must be a mapping with keys version, model, packing_rules, matrices")
        return parse(cls, data, source)

    def save_yaml(self, path: str | Path) -> None:
        """Write the profile atomically."""
        write_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=120))

    @classmethod
    def load_yaml(cls, path: str | Path) -> SparsityProfile:
        """Read and validate a profile; any problem raises InputError naming the file."""
        return cls.from_dict(load_yaml(path, "sparsity profile"), source=str(path))


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
        if role is not None and role.role is Role.QKV and mask.shape[0] == 3 * mask.shape[1]:
            d = mask.shape[1]
            parts = [(r, mask[i * d : (i + 1) * d]) for i, r in enumerate((Role.Q, Role.K, Role.V))]
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

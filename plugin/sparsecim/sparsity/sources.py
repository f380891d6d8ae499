"""Build a model's sparsity profile (densities + packing statistics) from what the user gives.

Sources, in the order the CLI checks them: a profile YAML; real weights with a mask file; real
weights pruned by a method; a density for the statistical (uniform random mask) model. Packing
statistics are always computed under the packing rules of the architecture being run (its
macro columns and butterfly lanes), so a profile saved under other rules is re-packed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparsecim.errors import InputError
from sparsecim.sparsity.masks import load_masks
from sparsecim.sparsity.packing import PackingRules, analyze_mask
from sparsecim.sparsity.profile import MatrixSparsity, SparsityProfile, profile_from_masks
from sparsecim.sparsity.pruning import parse_method, prune
from sparsecim.sparsity.statistical import uniform_random_mask
from sparsecim.sparsity.weights import check_finite_weights, load_weights
from sparsecim.workload.shapes import TransformerShape
from sparsecim.workload.tensor_names import Role, classify_tensor


def rules_for(arch_values: dict) -> PackingRules:
    """Packing rules matching an arch's geometry: weight columns sharing a bank's rows (bank bit
    columns / weight bits), butterfly lanes, weight bits; defaults for arches that say nothing."""
    weight_bits = int(arch_values.get("weight_bits", 8))
    defaults = PackingRules()
    columns = int(arch_values["bank_bit_columns"]) // weight_bits if "bank_bit_columns" in arch_values else defaults.columns_per_macro
    return PackingRules(
        columns_per_macro=columns,
        lanes=int(arch_values.get("butterfly_lanes", defaults.lanes)),
        weight_bits=weight_bits,
    )


def matrix_shapes(shape: TransformerShape) -> dict[Role, tuple[int, int]]:
    """[out, in] of every weight role of one layer."""
    d, dq, dkv = shape.d_model, shape.d_attn, shape.n_kv_heads * shape.head_dim
    shapes = {Role.Q: (dq, d), Role.K: (dkv, d), Role.V: (dkv, d), Role.O: (d, dq),
              Role.FFN_UP: (shape.d_ff, d), Role.FFN_DOWN: (d, shape.d_ff)}
    if shape.gated_ffn:
        shapes[Role.FFN_GATE] = (shape.d_ff, d)
    return shapes


def _layer_weights(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Only the per-layer matrices (embeddings, heads and norms are not mapped on the CIM)."""
    return {name: w for name, w in weights.items() if classify_tensor(name) is not None}


def from_pruned_weights(path: str | Path, method: str, rules: PackingRules, model: str) -> SparsityProfile:
    """Prune real weights with `method` (e.g. "magnitude:0.75") and pack the real masks."""
    parsed = parse_method(method)
    weights = _layer_weights(load_weights(path))
    if not weights:
        raise InputError(f"{Path(path).name}: no transformer layer matrices found")
    # A weight that is already zero in the file is not stored whatever the method keeps, so a
    # checkpoint pruned elsewhere keeps its own zeros (e.g. with magnitude:0).
    masks = {name: mask & (weights[name] != 0) for name, mask in prune(weights, parsed).items()}
    return profile_from_masks(model, masks, f"pruned:{method}", rules)


def from_mask_file(weights_path: str | Path, mask_path: str | Path, rules: PackingRules, model: str) -> SparsityProfile:
    """The user's keep-masks (.npz keyed by tensor name), checked against the checkpoint's shapes."""
    weights = _layer_weights(load_weights(weights_path))
    masks = load_masks(mask_path, {name: w.shape for name, w in weights.items()})
    missing = [name for name in weights if name not in masks]
    if missing:
        raise InputError(f"mask file {Path(mask_path).name} has no mask for {missing[0]}")
    return profile_from_masks(model, masks, f"mask:{Path(mask_path).name}", rules)


def statistical(shape: TransformerShape, density: float, rules: PackingRules, seed: int = 0) -> SparsityProfile:
    """Uniform random masks of `density` (exactly round(d * size) non-zeros) for every matrix.

    Layers of equal shape get the same mask statistics (one random draw per shape), so identical
    layers stay identical Einsums and are mapped once.
    """
    if not isinstance(density, (int, float)) or not 0.0 <= float(density) <= 1.0:
        raise InputError(f"density {density!r} outside [0, 1]")
    rng = np.random.default_rng(seed)
    return _per_shape_profile(shape, rules, lambda mshape: uniform_random_mask(mshape, float(density), rng),
                              f"statistical:uniform:{density:g}")


def statistical_pruned(shape: TransformerShape, method: str, rules: PackingRules, seed: int = 0) -> SparsityProfile:
    """Masks of a pruning method applied to i.i.d. Gaussian stand-in weights (one draw per matrix
    shape): the method's structure (e.g. the chip's hybrid scheme: K of every G inputs, then whole
    blocks) with random positions, for models whose weights are not at hand."""
    parsed = parse_method(method)
    rng = np.random.default_rng(seed)

    def mask(mshape: tuple[int, int]) -> np.ndarray:
        stand_in = rng.standard_normal(mshape).astype(np.float32)
        return next(iter(prune({"w": stand_in}, parsed).values()))

    return _per_shape_profile(shape, rules, mask, f"statistical:{parsed.spec}")


def _per_shape_profile(shape: TransformerShape, rules: PackingRules, draw, source: str) -> SparsityProfile:
    per_shape = {}
    matrices = []
    for layer in range(shape.n_layers):
        for role, mshape in matrix_shapes(shape).items():
            if mshape not in per_shape:
                mask = draw(mshape)
                per_shape[mshape] = (np.count_nonzero(mask) / mask.size, analyze_mask(mask, rules))
            actual, stats = per_shape[mshape]
            matrices.append(MatrixSparsity(f"layer{layer}.{role}", layer, role, mshape, actual, source, stats))
    return SparsityProfile(shape.name, matrices, rules)


def from_profile_file(path: str | Path, shape: TransformerShape, rules: PackingRules) -> SparsityProfile:
    """A saved / hand-written profile. Matrices without packing statistics under `rules` get the
    statistics of a uniform random mask of their density (the statistical model). Every layer matrix
    is checked against the model's shape before any mask is drawn."""
    profile = SparsityProfile.load_yaml(path)
    expected = matrix_shapes(shape)
    for m in profile.matrices:
        if m.layer is None or m.role is None:
            continue
        if m.layer >= shape.n_layers:
            raise InputError(f"{Path(path).name}: matrix {m.name} is in layer {m.layer}, {shape.name} has {shape.n_layers} layers")
        if m.role in expected and m.shape != expected[m.role]:
            raise InputError(
                f"{Path(path).name}: matrix {m.name} has shape {m.shape}, {shape.name}'s {m.role} matrix is {expected[m.role]}"
            )
    rng = np.random.default_rng(0)
    matrices = []
    repacked = profile.packing_rules != rules
    for m in profile.matrices:
        # matrices outside the layers (embeddings) are not mapped: no mask is drawn for them (their shape
        # is bounded by the schema only, up to 2^31 weights)
        if (m.packing is None or repacked) and m.layer is not None and m.role is not None:
            mask = uniform_random_mask(m.shape, m.density, rng)
            m = MatrixSparsity(m.name, m.layer, m.role, m.shape, np.count_nonzero(mask) / mask.size, m.source, analyze_mask(mask, rules))
        matrices.append(m)
    return SparsityProfile(profile.model, matrices, rules)


def build_profile(
    shape: TransformerShape,
    rules: PackingRules,
    weights: str | Path | None = None,
    prune_method: str | None = None,
    masks: str | Path | None = None,
    profile: str | Path | None = None,
    density: float | None = None,
) -> SparsityProfile | None:
    """The sparsity profile the options describe, or None for a dense run."""
    given = [name for name, value in (("profile", profile), ("prune", prune_method), ("masks", masks), ("density", density)) if value is not None]
    if len(given) > 1:
        raise InputError(f"give one weight-sparsity source, not {' and '.join(given)}")
    if weights is not None and prune_method is None and masks is None:
        check_finite_weights(weights)  # the other sources read (and check) the weights themselves
    if profile is not None:
        return from_profile_file(profile, shape, rules)
    if masks is not None:
        if weights is None:
            raise InputError("masks need the weights (checkpoint) they belong to")
        return from_mask_file(weights, masks, rules, shape.name)
    if prune_method is not None:
        if weights is None:
            return statistical_from_method(shape, prune_method, rules)
        return from_pruned_weights(weights, prune_method, rules, shape.name)
    if density is not None:
        return statistical(shape, density, rules)
    return None


def statistical_from_method(shape: TransformerShape, method: str, rules: PackingRules) -> SparsityProfile:
    """Without weights: unstructured magnitude methods fall back to uniform random masks of their
    density; structured methods (hybrid, N:M, block) keep their structure on random stand-in weights."""
    parsed = parse_method(method)
    if parsed.kind in ("magnitude", "global"):
        return statistical(shape, 1.0 - parsed.sparsity, rules)
    return statistical_pruned(shape, method, rules)

"""Vectorised pruning masks (boolean keep-masks, True = weight kept) for ``[out, in]`` weight matrices.

Method strings (CLI form; SPARSITY is the fraction REMOVED, density = 1 - sparsity):

* ``magnitude:S``   unstructured magnitude pruning, one threshold per matrix.
* ``global:S``      unstructured magnitude pruning, one threshold shared by all matrices passed.
* ``hybrid:S[:k=K][:g=G][:block=OUTxIN][:scope=global|matrix]``  the chip's "local fine-grained +
  global coarse-grained" pruning (ISSCC 2023 16.2 abstract; details unpublished, so the rules below are
  assumed): (1) local: in every row, each group of G consecutive inputs keeps its K largest-magnitude
  weights; (2) coarse: whole OUTxIN blocks with the smallest L2 norm (of what step 1 kept) are removed,
  ranked across all matrices (scope=global, default) or per matrix, until the kept count reaches the
  target. Defaults: G = 16 (the packing model's butterfly lanes), block = 64x16 (one column-block x
  lane-group of the packing model, so a removed block frees whole row slots), K = ceil(G * sqrt(density))
  (the two steps share the sparsity about equally in the log domain; assumed).
* ``nm:N:M``        keep the N largest of every M consecutive inputs of a row.
* ``block:S:OUTxIN`` remove the fraction S of OUTxIN blocks (smallest L2 norm) of each matrix.

Block shapes are always written in the numpy order of ``W[out, in]``: output rows x input columns.
Ties in magnitude are broken by flat index (earlier kept first), so masks of one matrix at decreasing
density are nested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sparsecim.errors import InputError

METHODS = ("magnitude", "global", "hybrid", "nm", "block")
HYBRID_DEFAULT_GROUP = 16
HYBRID_DEFAULT_BLOCK = (64, 16)


@dataclass(frozen=True)
class PruningMethod:
    """A parsed pruning method. ``sparsity`` is the fraction removed (for ``nm`` it is 1 - n/m)."""

    kind: str
    sparsity: float
    n: int = 0
    m: int = 0
    block: tuple[int, int] = (1, 1)
    keep_per_group: int | None = None
    group: int = HYBRID_DEFAULT_GROUP
    scope: str = "global"

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    @property
    def hybrid_keep_per_group(self) -> int:
        """K of the hybrid local step: explicit, else ceil(G * sqrt(density)) capped at G."""
        if self.keep_per_group is not None:
            return self.keep_per_group
        return min(self.group, math.ceil(self.group * math.sqrt(self.density) - 1e-9))

    @property
    def spec(self) -> str:
        """Canonical method string (round-trips through parse_method)."""
        if self.kind == "nm":
            return f"nm:{self.n}:{self.m}"
        if self.kind == "block":
            return f"block:{self.sparsity:g}:{self.block[0]}x{self.block[1]}"
        if self.kind == "hybrid":
            return (
                f"hybrid:{self.sparsity:g}:k={self.hybrid_keep_per_group}:g={self.group}"
                f":block={self.block[0]}x{self.block[1]}:scope={self.scope}"
            )
        return f"{self.kind}:{self.sparsity:g}"


def _sparsity(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"sparsity {text!r} in {spec!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"sparsity {value:g} in {spec!r} outside [0, 1] (fraction removed, e.g. 0.75)")
    return value


def _positive_int(text: str, what: str, spec: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{what} {text!r} in {spec!r} is not an integer") from None
    if value < minimum:
        raise InputError(f"{what} {value} in {spec!r} must be >= {minimum}")
    return value


def _block(text: str, spec: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise InputError(f"block {text!r} in {spec!r} must be OUTxIN, e.g. 8x8")
    return (_positive_int(parts[0], "block rows", spec), _positive_int(parts[1], "block columns", spec))


def parse_method(spec: str) -> PruningMethod:
    """Parse a CLI method string (see module docstring); InputError names what is wrong."""
    parts = spec.strip().split(":")
    kind = parts[0].lower()
    if kind not in METHODS:
        raise InputError(f"unknown pruning method {parts[0]!r} in {spec!r} (known: {', '.join(METHODS)})")
    if kind in ("magnitude", "global"):
        if len(parts) != 2:
            raise InputError(f"{kind} takes one sparsity, e.g. '{kind}:0.75' (got {spec!r})")
        return PruningMethod(kind, _sparsity(parts[1], spec))
    if kind == "nm":
        if len(parts) != 3:
            raise InputError(f"nm takes N and M, e.g. 'nm:2:4' (got {spec!r})")
        n = _positive_int(parts[1], "N", spec, minimum=0)
        m = _positive_int(parts[2], "M", spec)
        if n > m:
            raise InputError(f"N={n} exceeds M={m} in {spec!r}")
        return PruningMethod("nm", 1.0 - n / m, n=n, m=m)
    if kind == "block":
        if len(parts) != 3:
            raise InputError(f"block takes a sparsity and OUTxIN, e.g. 'block:0.5:8x8' (got {spec!r})")
        return PruningMethod("block", _sparsity(parts[1], spec), block=_block(parts[2], spec))
    # hybrid
    if len(parts) < 2:
        raise InputError(f"hybrid takes a sparsity, e.g. 'hybrid:0.75' (got {spec!r})")
    options = {"keep_per_group": None, "group": HYBRID_DEFAULT_GROUP, "block": HYBRID_DEFAULT_BLOCK, "scope": "global"}
    for option in parts[2:]:
        key, _, value = option.partition("=")
        if key == "k":
            options["keep_per_group"] = _positive_int(value, "k", spec, minimum=0)
        elif key == "g":
            options["group"] = _positive_int(value, "g", spec)
        elif key == "block":
            options["block"] = _block(value, spec)
        elif key == "scope" and value in ("global", "matrix"):
            options["scope"] = value
        else:
            raise InputError(f"unknown hybrid option {option!r} in {spec!r} (k=, g=, block=, scope=global|matrix)")
    method = PruningMethod("hybrid", _sparsity(parts[1], spec), **options)
    if method.hybrid_keep_per_group > method.group:
        raise InputError(f"hybrid k={method.hybrid_keep_per_group} exceeds g={method.group} in {spec!r}")
    return method


def _as_float32(matrix: np.ndarray) -> np.ndarray:
    """float32 view (no copy when already float32); ufuncs with a dtype= argument take a slow casting loop."""
    return np.asarray(matrix, dtype=np.float32)


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity <= 1.0:
        raise InputError(f"sparsity {sparsity:g} outside [0, 1] (fraction removed)")


def _keep_count(size: int, sparsity: float) -> int:
    """Elements kept at this sparsity: round(density * size), so achieved density is within one element."""
    return int(round((1.0 - sparsity) * size))


def _keep_largest(magnitudes: np.ndarray, keep: int) -> np.ndarray:
    """Flat boolean mask of the `keep` largest entries of a 1-D array (ties: lowest index first).

    One np.partition (O(n)) finds the threshold; no full sort."""
    size = magnitudes.size
    if keep >= size:
        return np.ones(size, dtype=bool)
    if keep <= 0:
        return np.zeros(size, dtype=bool)
    threshold = np.partition(magnitudes, size - keep)[size - keep]
    mask = magnitudes > threshold
    missing = keep - int(np.count_nonzero(mask))
    if missing > 0:
        mask[np.flatnonzero(magnitudes == threshold)[:missing]] = True
    return mask


def magnitude_mask(matrix: np.ndarray, sparsity: float) -> np.ndarray:
    """Unstructured magnitude pruning of one matrix: keep the round(density*n) largest |w|."""
    _check_sparsity(sparsity)
    magnitudes = np.abs(_as_float32(matrix)).ravel()
    return _keep_largest(magnitudes, _keep_count(magnitudes.size, sparsity)).reshape(matrix.shape)


def global_magnitude_masks(weights: Mapping[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """Unstructured magnitude pruning with ONE threshold across all matrices (ties: dict order, then index)."""
    _check_sparsity(sparsity)
    names = list(weights)
    magnitudes = np.empty(sum(weights[name].size for name in names), dtype=np.float32)
    start = 0
    for name in names:
        size = weights[name].size
        np.abs(_as_float32(weights[name]).ravel(), out=magnitudes[start : start + size])
        start += size
    flat = _keep_largest(magnitudes, _keep_count(magnitudes.size, sparsity))
    return _split(flat, names, weights)


def _split(flat: np.ndarray, names: list[str], weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    masks, start = {}, 0
    for name in names:
        shape = weights[name].shape
        size = int(np.prod(shape))
        masks[name] = flat[start : start + size].reshape(shape)
        start += size
    return masks


def nm_mask(matrix: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the n largest |w| of every m consecutive inputs of each row (exactly n per full group).

    A ragged last group (in % m != 0) keeps min(n, its size) weights."""
    if not 0 <= n <= m or m < 1:
        raise InputError(f"N:M needs 0 <= N <= M and M >= 1 (got {n}:{m})")
    rows, cols = matrix.shape
    groups = -(-cols // m)
    magnitudes = np.full((rows, groups * m), -1.0, dtype=np.float32)  # padding is never chosen before real inputs
    np.abs(_as_float32(matrix), out=magnitudes[:, :cols])
    magnitudes = magnitudes.reshape(rows, groups, m)
    mask = np.zeros(magnitudes.shape, dtype=bool)
    if n == m:
        mask[...] = True
    elif n > 0:
        top = np.argpartition(magnitudes, m - n, axis=-1)[..., m - n :]
        np.put_along_axis(mask, top, True, axis=-1)
    return np.ascontiguousarray(mask.reshape(rows, groups * m)[:, :cols])


def _block_norms(matrix: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """L2 norm of every OUTxIN block (edge blocks padded with zeros): shape [row_blocks, col_blocks]."""
    bh, bw = block
    rows, cols = matrix.shape
    rb, cb = -(-rows // bh), -(-cols // bw)
    padded = np.zeros((rb * bh, cb * bw), dtype=np.float32)
    np.square(_as_float32(matrix), out=padded[:rows, :cols])
    return np.sqrt(padded.reshape(rb, bh, cb, bw).sum(axis=(1, 3), dtype=np.float64))


def _expand_blocks(keep_blocks: np.ndarray, block: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    return np.repeat(np.repeat(keep_blocks, block[0], axis=0), block[1], axis=1)[: shape[0], : shape[1]]


def block_mask(matrix: np.ndarray, sparsity: float, block: tuple[int, int]) -> np.ndarray:
    """Remove round(sparsity * n_blocks) OUTxIN blocks of smallest L2 norm (ties: lowest block index first)."""
    _check_sparsity(sparsity)
    norms = _block_norms(matrix, block)
    removed = int(round(sparsity * norms.size))
    keep_blocks = np.ones(norms.size, dtype=bool)
    keep_blocks[np.argsort(norms.ravel(), kind="stable")[:removed]] = False
    return _expand_blocks(keep_blocks.reshape(norms.shape), block, matrix.shape)


def hybrid_masks(weights: Mapping[str, np.ndarray], method: PruningMethod) -> dict[str, np.ndarray]:
    """The chip's local fine-grained + global coarse-grained pruning (rules in the module docstring).

    Achieved density is at most the target and within one block of it (whole blocks are removed)."""
    if method.kind != "hybrid":
        raise InputError(f"hybrid_masks needs a hybrid method, got {method.spec!r}")
    names = list(weights)
    k = method.hybrid_keep_per_group
    local = {name: nm_mask(weights[name], k, method.group) for name in names}
    if method.scope == "matrix":
        return {name: _remove_blocks({name: weights[name]}, {name: local[name]}, method)[name] for name in names}
    return _remove_blocks(weights, local, method)


def _remove_blocks(
    weights: Mapping[str, np.ndarray], local: dict[str, np.ndarray], method: PruningMethod
) -> dict[str, np.ndarray]:
    """Remove the smallest-norm blocks (ranked over all given matrices) until kept <= round(density * n)."""
    names = list(weights)
    bh, bw = method.block
    norms, counts, shapes = [], [], []
    for name in names:
        kept = np.where(local[name], weights[name], 0.0)
        norms.append(_block_norms(kept, method.block).ravel())
        rows, cols = local[name].shape
        rb, cb = -(-rows // bh), -(-cols // bw)
        padded = np.zeros((rb * bh, cb * bw), dtype=np.int32)
        padded[:rows, :cols] = local[name]
        counts.append(padded.reshape(rb, bh, cb, bw).sum(axis=(1, 3)).ravel())
        shapes.append((rb, cb))
    all_norms, all_counts = np.concatenate(norms), np.concatenate(counts)
    target = _keep_count(sum(weights[name].size for name in names), method.sparsity)
    excess = int(all_counts.sum()) - target
    keep_blocks = np.ones(all_norms.size, dtype=bool)
    if excess > 0:
        order = np.argsort(all_norms, kind="stable")
        removed = int(np.searchsorted(np.cumsum(all_counts[order]), excess)) + 1  # fewest blocks reaching the target
        keep_blocks[order[:removed]] = False
    masks, start = {}, 0
    for name, (rb, cb) in zip(names, shapes):
        block_keep = keep_blocks[start : start + rb * cb].reshape(rb, cb)
        masks[name] = local[name] & _expand_blocks(block_keep, method.block, local[name].shape)
        start += rb * cb
    return masks


def prune(weights: Mapping[str, np.ndarray], method: PruningMethod | str) -> dict[str, np.ndarray]:
    """Keep-masks for every matrix passed (pass only the layer matrices to leave embeddings out)."""
    if isinstance(method, str):
        method = parse_method(method)
    if method.kind == "magnitude":
        return {name: magnitude_mask(matrix, method.sparsity) for name, matrix in weights.items()}
    if method.kind == "global":
        return global_magnitude_masks(weights, method.sparsity)
    if method.kind == "nm":
        return {name: nm_mask(matrix, method.n, method.m) for name, matrix in weights.items()}
    if method.kind == "block":
        return {name: block_mask(matrix, method.sparsity, method.block) for name, matrix in weights.items()}
    return hybrid_masks(weights, method)

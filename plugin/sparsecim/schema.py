"""Typed schemas of everything a user hands in (pydantic, as AccelForge's own specs are).

`Strict` is the base of every file and request schema: unknown keys are rejected, values are not
coerced from other types (a string is not a number, a number is not a boolean), and objects are
frozen. `parse` turns pydantic's report into one `InputError` line that names the file, the field
path and what was wrong.
"""

from __future__ import annotations

import contextvars
import math
import typing
from typing import Annotated, Any, TypeVar

from enum import Enum

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from sparsecim.errors import InputError

T = TypeVar("T", bound=BaseModel)
E = TypeVar("E", bound=Enum)


class Strict(BaseModel):
    """Base of sparsecim's schemas: unknown keys rejected, strict types, immutable.

    Constructing one directly with bad values raises InputError (one line naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    def __init__(self, /, **data: Any) -> None:
        # pydantic calls a custom __init__ for nested models too: only the outermost call (depth 0)
        # turns the report into one InputError line, so field paths stay whole.
        depth = _DEPTH.get()
        token = _DEPTH.set(depth + 1)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            if depth:
                raise
            raise InputError(describe(exc, type(self).__name__, type(self))) from None
        finally:
            _DEPTH.reset(token)


_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("sparsecim_schema_depth", default=0)


def lax_enum(enum: type[E]) -> Any:
    """An enum field that accepts the member's value (a YAML string) as well as the member."""

    def convert(value):
        if isinstance(value, str) and not isinstance(value, enum):
            try:
                return enum(value)
            except ValueError:
                raise ValueError(f"unknown value {value!r} (use {', '.join(m.value for m in enum)})") from None
        return value

    return Annotated[enum, BeforeValidator(convert)]


def _as_tuple(value):
    return tuple(value) if isinstance(value, list) else value


IntPair = Annotated[tuple[int, int], BeforeValidator(_as_tuple)]
"""Two integers, given as a YAML list or a tuple."""


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


FiniteFloat = Annotated[float, AfterValidator(_finite)]
"""A float that is not NaN or infinite."""


def describe(exc: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line for the first problem of a ValidationError: `source: field.path: message`."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(part for part in error.get("loc", ()) if not _is_union_tag(part))
    kind = error.get("type")
    message = error.get("msg", "invalid value").removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
    if kind in ("extra_forbidden", "missing") and loc:
        *parent, key = loc
        loc = tuple(parent)
        if kind == "extra_forbidden":
            owner = _model_at(model, loc) if model is not None else None
            known = f" (known: {', '.join(_keys(owner))})" if owner is not None else ""
            message, shown = f"unknown key {key!r}{known}", ""
        else:
            message, shown = f"missing required key {key!r}", ""
    path = ".".join(str(part) for part in loc)
    where = f"{source}: {path}" if path else source
    return " ".join(f"{where}: {message}{shown}".split())


def parse(model: type[T], data: Any, source: str) -> T:
    """Validate `data` (parsed YAML/JSON, or keyword values) as `model`; InputError on any problem."""
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe(exc, source, model)) from None
    finally:
        _DEPTH.reset(token)


def _is_union_tag(part) -> bool:
    """pydantic puts the tried union member's type name into error paths (e.g. 'int', 'function-after')."""
    text = str(part)
    return text in ("int", "float", "str", "bool", "none") or "[" in text or text.startswith("function-")


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class reached by following `loc` (field names; list indices and dict keys skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                continue  # an index or key inside a container field
            current = field.annotation
        current = _innermost_model(current, typing)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _innermost_model(annotation: Any, typing) -> Any:
    """The BaseModel class inside list[...], dict[..., ...], Optional[...] annotations (or the annotation)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _innermost_model(arg, typing)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]

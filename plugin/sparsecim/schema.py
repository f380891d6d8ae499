"""Typed schemas of everything a user hands in (pydantic, as AccelForge's own specs are).

`Strict` is the base of every file and request schema: unknown keys are rejected, values are not
coerced from other types (a string is not a number, a number is not a boolean), and objects are
frozen. `parse` turns pydantic's report into one `InputError` line that names the file, the field
path and what was wrong.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import re
import typing
from typing import Annotated, Any, TypeVar

from enum import Enum

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticCustomError

from sparsecim.errors import InputError

T = TypeVar("T", bound=BaseModel)
E = TypeVar("E", bound=Enum)


class Strict(BaseModel):
    """Base of sparsecim's schemas: unknown keys rejected, strict types, immutable.

    Constructing one directly with bad values raises InputError (one line naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    def __init__(self, /, **data: Any) -> None:
        # pydantic calls a custom __init__ for nested models too: only the outermost call (depth 0)
        # turns the report into one InputError line, so field paths stay whole; and `parse`'s
        # validation context is passed on here (pydantic's own __init__ would drop it).
        depth = _DEPTH.get()
        token = _DEPTH.set(depth + 1)
        try:
            self.__pydantic_validator__.validate_python(data, self_instance=self, context=_CONTEXT.get())
        except ValidationError as exc:
            if depth:
                raise
            raise InputError(describe(exc, type(self).__name__, type(self))) from None
        finally:
            _DEPTH.reset(token)


_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("sparsecim_schema_depth", default=0)
_CONTEXT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sparsecim_schema_context", default=None)


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


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]
"""A string with at least one non-space character."""


def rule_of(model: type[BaseModel], name: str) -> BeforeValidator:
    """Check a value as field `name` of `model` checks it (type and validators; the model's other
    fields keep their defaults): one rule, reused by another schema that takes the same value."""

    def check(value):
        token = _DEPTH.set(_DEPTH.get() + 1)
        try:
            return getattr(model.model_validate({name: value}), name)
        except ValidationError as exc:
            raise ValueError(exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")) from None
        finally:
            _DEPTH.reset(token)

    return BeforeValidator(check)


def dataclass_model(cls: type) -> Any:
    """A stdlib dataclass given as a mapping of its fields: unknown keys rejected, strict types,
    then built (its own checks run)."""
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(cls)
    }
    model = create_model(cls.__name__, __base__=Strict, **fields)
    return Annotated[model, AfterValidator(lambda m: cls(**dict(m)))]


def error_at(loc: tuple, message: str, value: Any = ()) -> ValidationError:
    """An error of the field at `loc` (raise it in a model validator to name a field it checks);
    the message shows `value` if one is given."""
    return ValidationError.from_exception_data(
        "invalid", [{"type": PydanticCustomError("invalid", message), "loc": loc, "input": value}]
    )


def describe(exc: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line for the first problem of a ValidationError: `source: field.path: message`."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(part for part in error.get("loc", ()) if not _is_union_tag(part))
    kind = error.get("type")
    message = error.get("msg", "invalid value").removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    shown = "" if isinstance(value, (dict, list, tuple)) else f" (got {value!r})"
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


def parse(model: type[T], data: Any, source: str, context: dict | None = None) -> T:
    """Validate `data` (parsed YAML/JSON, or keyword values) as `model`, with a validation `context`
    for its validators; InputError on any problem."""
    token, context_token = _DEPTH.set(_DEPTH.get() + 1), _CONTEXT.set(context)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(describe(exc, source, model)) from None
    finally:
        _DEPTH.reset(token)
        _CONTEXT.reset(context_token)


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
            extra = typing.get_type_hints(current).get("__pydantic_extra__")  # declared type of extra keys
            if field is not None:
                current = field.annotation
            elif typing.get_origin(extra) is dict:
                current = typing.get_args(extra)[1]
            else:
                continue  # an index or key inside a container field
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


_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def spec_value(name: str, value: Any) -> bool | int | float | str:
    """A spec variable's value, as AccelForge may safely see it: a number, a boolean or a plain name.

    Spec variables are rendered into the arch's Jinja template and then evaluated by AccelForge as
    Python expressions, so anything else (parentheses, quotes, operators, spaces) is refused: a value
    must never run code. Text from the command line becomes a number or boolean when it reads as one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"spec variable {name}: {value!r} is not a finite number (write inf as the name inf)")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text in ("True", "true"):
            return True
        if text in ("False", "false"):
            return False
        if _NUMBER.match(text):
            number = float(text)
            return int(number) if number.is_integer() and not any(c in text for c in ".eE") else number
        if _PLAIN_NAME.match(text) and len(text) <= 64 and "__" not in text:  # no dunder names (__import__, __class__)
            return text
    raise InputError(
        f"spec variable {name}: {str(value)[:60]!r} is not a number, a boolean or a plain name "
        "(expressions are not accepted: spec variables reach AccelForge's expression evaluator)"
    )


def spec_variables_checked(variables: dict) -> dict:
    """Every value through `spec_value`; names must be plain names too."""
    out = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not _PLAIN_NAME.match(name) or "__" in name:
            raise InputError(f"spec variable name {str(name)[:60]!r} is not a plain name")
        out[name] = spec_value(name, value)
    return out

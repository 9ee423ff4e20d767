"""Build pydantic models from the parsed JSON of records our own stages wrote, without validating.

A model validated once where its data entered (the raw topic, an operator command) and encoded by
`ems.streams.codecs.encode` is all there on the wire: every field, each value already within its
bounds. Reading it back on an internal hop only has to turn the JSON values into what validation
would have produced: ISO times into aware datetimes, nested objects into their models. `construct`
does that, and sets the instance's attributes as pydantic's `model_construct` does (which is itself
a Python loop over the fields with defaults and aliases, slower than validating in Rust).

Anything the plan does not expect (a field missing, as in a record written before the field
existed, whose default may come from a validator; an extra field; a record of another type or
version; a value of the wrong shape) raises `Untrusted`, and the caller validates the record in full.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ems.schemas.envelope import Record

Convert = Callable[[Any], Any]
_setattr = object.__setattr__


class Untrusted(ValueError):
    """The data is not what `encode` writes for this model: validate it instead."""


@dataclass(frozen=True)
class Plan:
    """How to build one model: its field names, and a conversion for each field that needs one."""

    model: type[BaseModel]
    fields: frozenset[str]
    convert: tuple[tuple[str, Convert], ...]
    type_: str | None  # a Record's TYPE and VERSION, checked as its model_post_init would
    version: int | None


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Untrusted(f"expected an ISO time, got {type(value).__name__}")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise Untrusted(f"naive time {value!r}")
    return at


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _list_of(convert: Convert) -> Convert:
    def each(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Untrusted(f"expected a list, got {type(value).__name__}")
        return [convert(item) for item in value]

    return each


def _mentions_model_or_time(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel | datetime)
    return any(_mentions_model_or_time(arg) for arg in typing.get_args(annotation))


def _converter(annotation: Any) -> Convert | None:
    """The conversion of a JSON value to `annotation`; None when the JSON value is already it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _converter(args[0])
    if isinstance(annotation, type) and issubclass(annotation, datetime):
        return _time
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return functools.partial(construct, annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            inner = _converter(rest[0])
            return None if inner is None else _optional(inner)
    elif origin is list and len(args) == 1:
        inner = _converter(args[0])
        return None if inner is None else _list_of(inner)
    if _mentions_model_or_time(annotation):
        raise TypeError(f"no trusted construction for {annotation!r}")
    return None


@functools.cache
def plan(model: type[BaseModel]) -> Plan:
    """The construction plan of `model` (TypeError if a field needs a conversion not supported)."""
    if any(f.alias or f.validation_alias for f in model.model_fields.values()):
        raise TypeError(f"{model.__name__} has aliased fields")
    if model.model_config.get("extra") == "allow" or model.__private_attributes__:
        raise TypeError(f"{model.__name__} keeps extra or private attributes")
    convert = tuple(
        (name, conv)
        for name, field in model.model_fields.items()
        if (conv := _converter(field.annotation)) is not None
    )
    is_record = issubclass(model, Record)
    return Plan(
        model,
        frozenset(model.model_fields),
        convert,
        model.TYPE if is_record else None,
        model.VERSION if is_record else None,
    )


def construct(model: type[BaseModel], data: Any) -> Any:
    """An instance of `model` equal to `model.model_validate(data)` for data `encode` wrote; `data`
    (a parsed JSON object) is taken over. Raises Untrusted for anything else."""
    p = plan(model)
    if not isinstance(data, dict) or data.keys() != p.fields:
        raise Untrusted(f"not a complete {model.__name__}")
    if p.type_ is not None and (data["type"] != p.type_ or data["schema_version"] != p.version):
        raise Untrusted(f"not a current {p.type_}")
    for name, conv in p.convert:
        data[name] = conv(data[name])
    instance = model.__new__(model)
    _setattr(instance, "__dict__", data)
    _setattr(instance, "__pydantic_fields_set__", set(data))
    _setattr(instance, "__pydantic_extra__", None)
    _setattr(instance, "__pydantic_private__", None)
    return instance

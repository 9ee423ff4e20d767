"""The length bounds a model's fields declare, read from their pydantic metadata.

The canonical checks (`ems.schemas.event_canonical`, `ems.schemas.metrics_canonical`) hold records
to the schema's bounds in plain Python; reading the bounds from the models keeps each one in one
place, so a bound changed in the schema changes the check with it.
"""

from __future__ import annotations

import typing
from typing import Any

from annotated_types import MaxLen, MinLen
from pydantic import BaseModel, StringConstraints

Bounds = tuple[int, int]  # (min, max) characters or items


def _constraints(annotation: Any, metadata: list[Any]) -> list[Any]:
    """The constraints of a field: its own metadata and, through Optional and Annotated, its type's."""
    found = list(metadata)
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else ():
        if arg is not type(None):
            found += _constraints(arg, [])
    if typing.get_origin(annotation) is typing.Annotated:
        found += list(annotation.__metadata__)
    return found


def _length(items: list[Any]) -> Bounds:
    low, high = 0, None
    for item in items:
        if isinstance(item, StringConstraints):
            low = item.min_length or low
            high = item.max_length if item.max_length is not None else high
        elif isinstance(item, MinLen):
            low = item.min_length
        elif isinstance(item, MaxLen):
            high = item.max_length
    if high is None:
        raise TypeError("no maximum length declared")
    return low, high


def length(model: type[BaseModel], name: str) -> Bounds:
    """(min, max) length of field `name`: characters of a str (optional or not), items of a list or
    keys of a dict."""
    field = model.model_fields[name]
    return _length(_constraints(field.annotation, field.metadata))


def item_length(model: type[BaseModel], name: str, which: int = 0) -> Bounds:
    """(min, max) characters of the items of list field `name` (`which` 0), or of the keys (0) or
    values (1) of dict field `name`."""
    field = model.model_fields[name]
    item = typing.get_args(field.annotation)[which]
    return _length(_constraints(item, []))

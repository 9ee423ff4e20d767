"""The one cursor codec of the list endpoints: opaque base64 JSON of the sort a cursor was made for
and the last row's sort values (times as `{"t": iso}`). A cursor that was not made by `pack`, or for
another sort, is a 400 with the reason; a crafted one never reaches PostgreSQL with a NUL."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from ems.api.errors import ApiError
from ems.api.params import time_param
from ems.schemas.limits import DEADLINE_MAX


def pack(sort: str, values: list[Any]) -> str:
    """The cursor after a row whose sort values are `values` in the order `sort`."""
    plain = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps({"s": sort, "v": plain})).decode()


def unpack(cursor: str, sort: str, size: int) -> list[Any]:
    """The `size` sort values of `cursor`, made for `sort`: times parsed, NULs refused (400)."""
    try:
        body = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        made_for, values = body["s"], body["v"]
    except Exception:
        raise ApiError(400, "invalid cursor: not a cursor returned as next_cursor") from None
    if made_for != sort:
        raise ApiError(400, f"cursor was made for sort={made_for}, this request sorts by {sort}")
    if not isinstance(values, list) or len(values) != size:
        raise ApiError(400, "invalid cursor: wrong number of sort values")
    out = []
    for value in values:
        if isinstance(value, dict):
            if set(value) != {"t"} or not isinstance(value["t"], str):
                raise ApiError(400, "invalid cursor: bad value")
            value = time_param(value["t"], "cursor", high=DEADLINE_MAX)
        elif not isinstance(value, str | int | float | None) or (isinstance(value, str) and "\x00" in value):
            raise ApiError(400, "invalid cursor: bad value")  # a NUL: PostgreSQL text cannot hold it
        out.append(value)
    return out

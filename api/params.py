"""Query-parameter parsing shared by the read endpoints: precise 400s for bad values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ems.api.ingest import BadRequest


def int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """The integer parameter `name` (or `default`), within [low, high]; BadRequest(400) otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def wait_param(params: Mapping[str, Any], high: float) -> float:
    """`?wait=SECONDS` of a write (0 when absent): how long to wait for the projection, within [0, high]."""
    raw = params.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(400, f"wait must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= high:
        raise BadRequest(400, f"wait must be between 0 and {high:g} s")
    return value

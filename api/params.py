"""Query-parameter parsing shared by the read endpoints: precise 400s for bad values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ems.api.errors import ApiError
from ems.schemas.limits import TIME_MAX, TIME_MIN


def int_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """The integer parameter `name` (or `default`), within [low, high]; ApiError(400) otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def wait_param(params: Mapping[str, Any], high: float) -> float:
    """`?wait=SECONDS` of a write (0 when absent): how long to wait for the projection, within [0, high]."""
    raw = params.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"wait must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= high:
        raise ApiError(400, f"wait must be between 0 and {high:g} s")
    return value


def time_param(raw: str, name: str, *, unix: bool = False, high: datetime = TIME_MAX) -> datetime:
    """The time parameter `name`: ISO-8601 (no zone = UTC; with `unix`, also Unix seconds), UTC-aware,
    within the sane years of schemas/limits.py (up to `high`, exclusive); ApiError(400) otherwise."""
    value = None
    if unix:
        try:
            value = datetime.fromtimestamp(float(raw), UTC)
        except (ValueError, OverflowError, OSError):
            value = None
    if value is None:
        try:
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            form = "an ISO-8601 time or Unix seconds" if unix else "an ISO-8601 time"
            raise ApiError(400, f"{name} must be {form}, got {raw!r}") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if not TIME_MIN <= value < high:
        raise ApiError(
            400,
            f"{name} must be from {TIME_MIN.isoformat()} to before {high.isoformat()}, got {raw!r}",
        )
    return value.astimezone(UTC)

"""Maintenance windows: a scope (which alerts), a schedule (when) and a mode (suppress or drop).

A scope names assets, asset tags, business services, sites, environments, alert events and sources,
and any matchers. An alert is in scope when every part that is given matches (any of the values listed
for that part) and every matcher matches; a scope with nothing in it is refused, so a window never
covers everything by accident. Asset tags, business service and site are facts of the alert's asset
(`asset.tags`, `asset.business_service`, `asset.site` in the fields: see matchers.alert_fields); a
business service also matches one of the alert's own `service` names.

Status, activity and the next start/end are worked out at an event time passed in, never the clock.
A cancelled window ends at its cancel time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ems.noise.errors import RuleError
from ems.noise.matchers import Fields, Matcher, matches_all, values_of
from ems.noise.schedule import Schedule, intervals, utc

Mode = Literal["suppress", "drop"]
Status = Literal["pending", "active", "ended"]


@dataclass(frozen=True)
class Scope:
    """Which alerts a window covers (see the module docstring)."""

    asset_ids: frozenset[str] = frozenset()
    asset_tags: frozenset[str] = frozenset()
    business_services: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if name != "matchers":
                object.__setattr__(self, name, frozenset(getattr(self, name)))
        object.__setattr__(self, "matchers", tuple(self.matchers))
        if not any(getattr(self, name) for name in self.__dataclass_fields__):
            raise RuleError("scope", "names nothing: give assets, tags, services, sites, ... or matchers")

    def covers(self, fields: Fields) -> bool:
        """Whether the alert (fields from matchers.alert_fields) is in scope."""

        def any_of(wanted: frozenset[str], *names: str) -> bool:
            return not wanted or any(v in wanted for n in names for v in values_of(fields, n))

        return (
            any_of(self.asset_ids, "asset_id")
            and any_of(self.asset_tags, "asset.tags")
            and any_of(self.business_services, "asset.business_service", "service")
            and any_of(self.sites, "asset.site")
            and any_of(self.environments, "environment")
            and any_of(self.events, "event")
            and any_of(self.sources, "source")
            and matches_all(self.matchers, fields)
        )


@dataclass(frozen=True)
class MaintenanceWindow:
    """A window: `id`, `scope`, `schedule`, `mode`; `cancelled_at` ends it early."""

    id: str
    scope: Scope
    schedule: Schedule
    mode: Mode = "suppress"
    title: str = ""
    created_by: str = ""
    cancelled_at: datetime | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.id:
            raise RuleError("id", "is empty")
        if self.mode not in ("suppress", "drop"):
            raise RuleError("mode", f"{self.mode!r} is not suppress or drop")
        if self.cancelled_at is not None:
            object.__setattr__(self, "cancelled_at", utc(self.cancelled_at, "cancelled_at"))

    def intervals(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Its intervals that end after `after`, cut at the cancel time; touching ones are joined
        (a daily 00:00-24:00 window is one interval)."""
        pending: tuple[datetime, datetime] | None = None
        for start, end in intervals(self.schedule, after):
            if self.cancelled_at is not None:
                if start >= self.cancelled_at:
                    break
                end = min(end, self.cancelled_at)
                if end <= after:
                    continue
            if pending is not None and start <= pending[1]:
                pending = (pending[0], max(end, pending[1]))
                continue
            if pending is not None:
                yield pending
            pending = (start, end)
        if pending is not None:
            yield pending


def current_or_next(window: MaintenanceWindow, at: datetime) -> tuple[datetime, datetime] | None:
    """The interval open at `at`, else the next one to open; None when none is left."""
    return next(iter(window.intervals(utc(at))), None)


def active_at(window: MaintenanceWindow, at: datetime) -> bool:
    """Whether the window is open at `at` (intervals are [start, end))."""
    found = current_or_next(window, at)
    return found is not None and found[0] <= utc(at)


def status_at(window: MaintenanceWindow, at: datetime) -> Status:
    """pending (not open now, will open), active, or ended (will never open again)."""
    found = current_or_next(window, at)
    if found is None:
        return "ended"
    return "active" if found[0] <= utc(at) else "pending"


def next_start(window: MaintenanceWindow, at: datetime) -> datetime | None:
    """The first start strictly after `at` (None when none is left)."""
    moment = utc(at)
    return next((start for start, _ in window.intervals(moment) if start > moment), None)


def next_end(window: MaintenanceWindow, at: datetime) -> datetime | None:
    """The end of the interval open at `at`, else of the next one (None when none is left)."""
    found = current_or_next(window, at)
    return None if found is None else found[1]


def covering(windows: Sequence[MaintenanceWindow], fields: Fields, at: datetime) -> list[MaintenanceWindow]:
    """The windows open at `at` whose scope covers the alert, in id order."""
    return sorted((w for w in windows if w.scope.covers(fields) and active_at(w, at)), key=lambda w: w.id)

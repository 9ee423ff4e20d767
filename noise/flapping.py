"""Flap detection and hold-until-stable, as a small state machine with a serialisable state.

Like Alerta's default, an alert is flapping when it changed severity more than `count` times (2)
within `window` (30 minutes). From then on its notifications are held; the flag clears by itself once
the alert has not changed for `stable_for` (30 minutes by default), and the changes counted so far are
forgotten then (one more change after a calm spell does not set the flag again at once).

Everything is decided on the event times passed in. A change whose time is earlier than the last one
seen (events can arrive out of order) counts at the last time seen, so time never runs backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ems.noise.errors import RuleError
from ems.noise.schedule import utc


@dataclass(frozen=True)
class FlapPolicy:
    """More than `count` changes within `window` sets the flag; `stable_for` without a change clears it."""

    count: int = 2
    window: timedelta = timedelta(minutes=30)
    stable_for: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise RuleError("count", "must be at least 1")
        if self.window <= timedelta(0):
            raise RuleError("window", "must be positive")
        if self.stable_for <= timedelta(0):
            raise RuleError("stable_for", "must be positive")


@dataclass(frozen=True)
class FlapState:
    """Per alert: the last value seen, the change times within the window, and the flag."""

    value: str | None = None
    changes: tuple[datetime, ...] = ()
    last_change: datetime | None = None
    flapping_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (ISO 8601 times)."""
        return {
            "value": self.value,
            "changes": [c.isoformat() for c in self.changes],
            "last_change": self.last_change.isoformat() if self.last_change else None,
            "flapping_since": self.flapping_since.isoformat() if self.flapping_since else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlapState:
        """The state `to_dict` wrote."""

        def when(text: str | None) -> datetime | None:
            return utc(datetime.fromisoformat(text)) if text else None

        return cls(
            value=data.get("value"),
            changes=tuple(utc(datetime.fromisoformat(c)) for c in data.get("changes", [])),
            last_change=when(data.get("last_change")),
            flapping_since=when(data.get("flapping_since")),
        )


def settle(state: FlapState, policy: FlapPolicy, at: datetime) -> FlapState:
    """The state at `at` with the flag cleared (and the counted changes forgotten) if it has been stable."""
    moment = utc(at)
    if state.flapping_since is None or state.last_change is None:
        return state
    if moment - state.last_change >= policy.stable_for:
        return replace(state, changes=(), flapping_since=None)
    return state


def observe(state: FlapState, policy: FlapPolicy, at: datetime, value: str) -> FlapState:
    """The state after the alert was seen with `value` (its severity) at `at`."""
    moment = utc(at)
    if state.last_change is not None:
        moment = max(moment, state.last_change)
    state = settle(state, policy, moment)
    if state.value is None:
        return replace(state, value=value)
    if value == state.value:
        return state
    changes = tuple(c for c in state.changes if moment - c < policy.window) + (moment,)
    flapping_since = state.flapping_since
    if flapping_since is None and len(changes) > policy.count:
        flapping_since = moment
    return FlapState(value=value, changes=changes, last_change=moment, flapping_since=flapping_since)


def is_flapping(state: FlapState, policy: FlapPolicy, at: datetime) -> bool:
    """Whether notifications are held at `at`."""
    return settle(state, policy, at).flapping_since is not None


def clears_at(state: FlapState, policy: FlapPolicy) -> datetime | None:
    """When the flag clears if nothing changes (a timer for the stage), or None when not flapping."""
    if state.flapping_since is None or state.last_change is None:
        return None
    return state.last_change + policy.stable_for

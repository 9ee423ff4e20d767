"""Silences with Alertmanager's semantics: matchers, [starts_at, ends_at), creator and comment.

A silence mutes every alert that all its matchers match while it is active, at the event time passed
in. Like Alertmanager it needs at least one matcher that does not match the empty string (otherwise it
would mute every alert). Expiring it early records the expiry time: from then on the alerts it muted are
no longer muted by it (a later change of such an alert notifies again), the same as when `ends_at` passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ems.noise.errors import RuleError
from ems.noise.matchers import Fields, Matcher, MatcherError, as_matchers
from ems.noise.schedule import utc

State = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    """One silence; `matchers` may be given in their text form (`service="web",severity=~"crit.*"`)."""

    id: str
    matchers: tuple[Matcher, ...] | str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise RuleError("id", "is empty")
        matchers = as_matchers(self.matchers)
        object.__setattr__(self, "matchers", matchers)
        if not matchers:
            raise MatcherError("", "a silence needs at least one matcher")
        if all(m.matches({}) for m in matchers):
            raise MatcherError(
                ",".join(map(str, matchers)), "every matcher matches the empty string: it would mute all"
            )
        object.__setattr__(self, "starts_at", utc(self.starts_at, "starts_at"))
        object.__setattr__(self, "ends_at", utc(self.ends_at, "ends_at"))
        if self.ends_at <= self.starts_at:
            raise RuleError("ends_at", f"{self.ends_at.isoformat()} is not after starts_at")
        if not self.created_by.strip():
            raise RuleError("created_by", "is empty")
        if not self.comment.strip():
            raise RuleError("comment", "is empty")
        if self.expired_at is not None:
            object.__setattr__(self, "expired_at", utc(self.expired_at, "expired_at"))

    def state_at(self, at: datetime) -> State:
        """pending before starts_at, active until ends_at (or the time it was expired), then expired."""
        moment = utc(at)
        if self.expired_at is not None and moment >= self.expired_at:
            return "expired"
        if moment < self.starts_at:
            return "pending"
        return "active" if moment < self.ends_at else "expired"

    def mutes(self, fields: Fields, at: datetime) -> bool:
        """Whether it is active at `at` and all its matchers match the alert."""
        return self.state_at(at) == "active" and all(m.matches(fields) for m in self.matchers)  # type: ignore[union-attr]


def expire(silence: Silence, at: datetime) -> Silence:
    """The silence expired at `at`: it mutes nothing from then on (a pending one never mutes anything).
    Expiring again keeps the earlier time, so a replayed command changes nothing."""
    moment = utc(at)
    if silence.expired_at is not None and silence.expired_at <= moment:
        return silence
    return replace(silence, expired_at=moment)


def silencing(silences: Sequence[Silence], fields: Fields, at: datetime) -> list[str]:
    """The ids of the silences muting the alert at `at`, sorted."""
    return sorted(s.id for s in silences if s.mutes(fields, at))

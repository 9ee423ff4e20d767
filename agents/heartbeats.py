"""The heartbeat stage's pure core: beats in, expiries decided in event time, alerts out.

`Monitor.receive(beat)` records a beat of an origin (from `POST /api/v1/heartbeats` or Alerta's
`POST /api/heartbeat`): its status is `ok`, or `slow` when it took more than `max_latency_ms` from the
sender to the log, and it is due again `timeout` seconds later. `Monitor.advance(at)` moves the stage's
clock to the event time `at` (a beat's, or any command's, e.g. a `heartbeat.tick`) and expires every
heartbeat whose due time has passed: its snapshot turns `expired` and a `HeartbeatMissing` alert event
(severity `major`, resource = the origin) is made at the due time. The next beat of an expired origin
makes the same event with severity `ok`, which clears it.

No wall clock is read here. Time never runs backwards: a beat older than the clock counts at the
clock (as `ems.noise.flapping` does), so a late beat never expires at once. Event ids are derived from
the heartbeat and its version, so a decision remade after a restart is the same record (applied once).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ems.agents.timers import TimerIndex
from ems.schemas.heartbeat import HeartbeatBatch, HeartbeatChanged, HeartbeatSnapshot, heartbeat_id
from ems.schemas.limits import INT4_MAX
from ems.schemas.observation import EventBody, HeartbeatBody, Observation

MAX_LATENCY_MS = 2000  # Alerta's HEARTBEAT_MAX_LATENCY: a slower beat is "slow"
EVENT = "HeartbeatMissing"
SOURCE = "heartbeat-monitor"


@dataclass(frozen=True)
class Beat:
    """One heartbeat as received: who, within what, and when it was sent and received."""

    origin: str
    timeout: int
    created_at: datetime
    received_at: datetime
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, obs: Observation, received_at: datetime | None = None) -> Beat:
        """The beat a heartbeat observation carries; received when appended (default: its own time)."""
        body = obs.body
        assert isinstance(body, HeartbeatBody)
        return cls(
            origin=obs.source,
            timeout=body.timeout,
            created_at=obs.occurred_at,
            received_at=received_at or obs.occurred_at,
            tenant=obs.tenant,
            tags=tuple(body.tags),
            attributes=dict(body.attributes),
        )


@dataclass
class Step:
    """What one input made: heartbeat changes (for `ems.heartbeats`) and alert events (for the raw topic)."""

    changes: list[HeartbeatChanged] = field(default_factory=list)
    alerts: list[Observation] = field(default_factory=list)

    def __iadd__(self, other: Step) -> Step:
        self.changes += other.changes
        self.alerts += other.alerts
        return self


def alert_event(hb: HeartbeatSnapshot, severity: str, at: datetime) -> Observation:
    """The `HeartbeatMissing` event of a heartbeat: `major` when it expired, `ok` when it came back."""
    environment = hb.attributes.get("environment")
    missing = severity != "ok"
    text = (
        f"no heartbeat from {hb.origin} within {hb.timeout} s (last received {hb.received_at.isoformat()})"
        if missing
        else f"heartbeat from {hb.origin} received again"
    )
    return Observation(
        event_id=f"{hb.heartbeat_id}:{hb.version}:{severity}",
        occurred_at=at,
        source=SOURCE,
        tenant=hb.tenant,
        body=EventBody(
            event=EVENT,
            severity=severity,
            resource=hb.origin,
            title=f"Heartbeat {'missing' if missing else 'back'}: {hb.origin}",
            text=text,
            environment=environment if isinstance(environment, str) and environment else "production",
            tags=list(hb.tags),
            attributes={
                "heartbeat_id": hb.heartbeat_id,
                "timeout": hb.timeout,
                "last_received_at": hb.received_at.isoformat(),
            },
        ),
    )


class Monitor:
    """Every origin's heartbeat by id, the due times, the clock and the input positions."""

    def __init__(self, max_latency_ms: int = MAX_LATENCY_MS) -> None:
        self.max_latency_ms = max_latency_ms
        self.heartbeats: dict[str, HeartbeatSnapshot] = {}
        self.positions: dict[str, int] = {}  # "raw:<partition>" / "commands:<partition>" -> next offset
        self.clock: datetime | None = None
        self.due = TimerIndex()
        self.due.mark_built(0)

    def restore(self, batches: Iterable[HeartbeatBatch]) -> None:
        """The state after the published batches, folded in order."""
        for batch in batches:
            for change in batch.changes:
                self._keep(change.heartbeat)
            self.positions.update(batch.positions)
            if batch.clock is not None and (self.clock is None or batch.clock > self.clock):
                self.clock = batch.clock

    def batch(self, changes: list[HeartbeatChanged]) -> HeartbeatBatch:
        return HeartbeatBatch(changes=changes, clock=self.clock, positions=dict(self.positions))

    def seen(self, source: str, offset: int) -> bool:
        """Record an input position; False when it was read before (a redelivery)."""
        if offset < self.positions.get(source, 0):
            return False
        self.positions[source] = offset + 1
        return True

    def advance(self, at: datetime) -> Step:
        """Move the clock to `at` (never back) and expire every heartbeat due by then."""
        if self.clock is None or at > self.clock:
            self.clock = at
        step = Step()
        for key in self.due.pop_due(0, self.clock):
            hb = self.heartbeats[key.decode()]
            expired = hb.model_copy(
                update={"status": "expired", "expired_at": hb.due_at, "version": hb.version + 1}
            )
            step.changes.append(self._changed("expired", expired, hb.due_at))
            step.alerts.append(alert_event(expired, "major", hb.due_at))
        return step

    def receive(self, beat: Beat) -> Step:
        """A beat: the clock advanced to its receipt, the heartbeat renewed (an expired one cleared)."""
        step = self.advance(beat.received_at)
        assert self.clock is not None
        at = self.clock  # a beat older than the clock counts now
        ident = heartbeat_id(beat.origin, beat.tenant)
        before = self.heartbeats.get(ident)
        latency = (beat.received_at - beat.created_at) / timedelta(milliseconds=1)
        latency_ms = min(INT4_MAX, max(0, int(latency)))
        hb = HeartbeatSnapshot(
            heartbeat_id=ident,
            origin=beat.origin,
            tenant=beat.tenant,
            tags=list(beat.tags),
            attributes=beat.attributes,
            timeout=beat.timeout,
            created_at=beat.created_at,
            received_at=beat.received_at,
            latency_ms=latency_ms,
            due_at=at + timedelta(seconds=beat.timeout),
            status="slow" if latency_ms > self.max_latency_ms else "ok",
            beats=(before.beats + 1) if before else 1,
            version=(before.version + 1) if before else 1,
        )
        step.changes.append(self._changed("received", hb, at))
        if before is not None and before.status == "expired":
            step.alerts.append(alert_event(hb, "ok", at))
        return step

    def _changed(self, kind: str, hb: HeartbeatSnapshot, at: datetime) -> HeartbeatChanged:
        self._keep(hb)
        return HeartbeatChanged(
            event_id=f"{hb.heartbeat_id}:{hb.version}", occurred_at=at, kind=kind, heartbeat=hb
        )

    def _keep(self, hb: HeartbeatSnapshot) -> None:
        self.heartbeats[hb.heartbeat_id] = hb
        self.due.set(0, hb.heartbeat_id.encode(), None if hb.status == "expired" else hb.due_at)

"""Dedupe stage core: fold normalized events into alert state, one fingerprint at a time.

Rules (Alerta-like):
1. The first non-clearing event of a fingerprint opens an alert; a clearing event with no alert
   opens nothing (it stays in the event history).
2. A repeat increments `event_count`/`duplicate_count` and moves `last_seen`.
3. A severity change records `previous_severity` and the `trend`.
4. A clearing severity resolves an open alert; a later non-clearing event reopens it.

Idempotency: each event carries the raw-topic position of its observation. The tracked state keeps
the highest raw offset seen per raw partition, for every event of the fingerprint, and an event at
or below it is a redelivery (after a worker crash, or a batch re-sent by normalize) and is skipped.
So at-least-once delivery gives an exactly-once effect on the state, live and in replays alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ems.agents.severity import SeverityPolicy
from ems.schemas.alert import AlertChanged, AlertState, Tracked, Transition
from ems.schemas.event import Event


def alert_id_for(fingerprint: str) -> str:
    """The stable alert id of a fingerprint."""
    return f"alr_{fingerprint[:24]}"


def is_redelivery(tracked: Tracked | None, event: Event) -> bool:
    """True when `event` was already seen by this fingerprint's state."""
    return tracked is not None and _seen(tracked.positions, event)


def _seen(positions: dict[str, int], event: Event) -> bool:
    return event.raw_offset <= positions.get(str(event.raw_partition), -1)


def apply(
    state: AlertState | None, event: Event, policy: SeverityPolicy
) -> tuple[AlertState | None, Transition | None]:
    """Fold one event into an alert state. Returns (new state, transition or None).

    The caller must skip redeliveries first (`is_redelivery`). The state returned is None only when
    a clearing event meets no alert.
    """
    clear = policy.is_clear(event.severity)
    if state is None:
        if clear:
            return None, None
        opened = AlertState(
            alert_id=alert_id_for(event.fingerprint),
            fingerprint=event.fingerprint,
            status="open",
            severity=event.severity,
            trend="new",
            event_count=1,
            duplicate_count=0,
            first_seen=event.occurred_at,
            last_seen=event.occurred_at,
            last_event_id=event.event_id,
            source=event.source,
            event=event.event,
            resource=event.resource,
            title=event.title,
            text=event.text,
            asset_id=event.asset_id,
            environment=event.environment,
            service=event.service,
            tags=event.tags,
            attributes=event.attributes,
            value=event.value,
            version=1,
        )
        return opened, _transition("opened", event, None)

    changes: dict[str, object] = {}
    transition = None
    if clear and state.status == "open":
        transition = _transition("resolved", event, state.severity)
        changes = {"status": "resolved"}
    elif not clear and state.status == "resolved":
        transition = _transition("reopened", event, state.severity)
        changes = {"status": "open"}
    elif event.severity != state.severity:
        transition = _transition("severity_changed", event, state.severity)
    if transition is not None:
        changes.update(
            previous_severity=state.severity,
            severity=event.severity,
            trend=policy.trend(state.severity, event.severity),
        )
    new = state.model_copy(
        update={
            **changes,
            "event_count": state.event_count + 1,
            "duplicate_count": state.duplicate_count + 1,
            "first_seen": min(state.first_seen, event.occurred_at),
            "last_seen": max(state.last_seen, event.occurred_at),
            "last_event_id": event.event_id,
            "title": event.title or state.title,
            "text": event.text or state.text,
            "value": event.value if event.value is not None else state.value,
            "tags": sorted(set(state.tags) | set(event.tags)),
            "service": sorted(set(state.service) | set(event.service)),
            "attributes": {**state.attributes, **event.attributes},
            "version": state.version + 1,
        }
    )
    return new, transition


def _transition(kind: str, event: Event, previous: str | None) -> Transition:
    return Transition(
        kind=kind,
        event_id=event.event_id,
        at=event.occurred_at,
        severity=event.severity,
        previous_severity=previous,
    )


@dataclass
class FoldResult:
    """What folding a run of events of one fingerprint produced."""

    tracked: Tracked | None
    applied: int = 0
    skipped: int = 0
    seen: int = 0
    transitions: list[Transition] = field(default_factory=list)

    @property
    def state(self) -> AlertState | None:
        return self.tracked.alert if self.tracked else None

    def change(self) -> AlertChanged | None:
        """The AlertChanged record to publish, or None when the alert did not change.

        Its event_id is derived from (fingerprint, version), so a recomputation after a crash
        publishes the same id and the projection sees it as the same change.
        """
        s = self.state
        if not self.applied or s is None:
            return None
        return AlertChanged(
            event_id=f"{s.fingerprint}:{s.version}",
            occurred_at=s.last_seen,
            alert=s,
            transitions=self.transitions,
            events_applied=self.applied,
        )


def fold(tracked: Tracked | None, events: Iterable[Event], policy: SeverityPolicy) -> FoldResult:
    """Fold events of one fingerprint, in log order, skipping redeliveries.

    `seen` counts the events new to the state (applied or not); when it is 0 the stored state need
    not be written again.
    """
    alert = tracked.alert if tracked else None
    positions = dict(tracked.positions) if tracked else {}
    result = FoldResult(tracked=tracked)
    for event in events:
        if _seen(positions, event):
            result.skipped += 1
            continue
        positions[str(event.raw_partition)] = event.raw_offset
        result.seen += 1
        new, transition = apply(alert, event, policy)
        if new is None:  # a clear that met no alert: only its position is kept
            continue
        alert = new
        result.applied += 1
        if transition is not None:
            result.transitions.append(transition)
    if result.seen:
        result.tracked = Tracked(alert=alert, positions=positions)
    return result

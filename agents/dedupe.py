"""Dedupe stage core: fold normalized events and operator commands into alert state, per fingerprint.

Rules (Alerta-like; the state machine itself is `ems.agents.lifecycle`):
1. The first non-clearing event of a fingerprint opens an alert; a clearing event with no alert
   opens nothing (it stays in the event history).
2. Every later event increments `event_count`/`duplicate_count` and moves `last_seen`; a repeat of
   the alert's event name and severity also increments `repeats_at_severity` (Alerta's duplicateCount).
3. A change of severity (or of the event name, in a correlated pair) records `previous_severity` and
   the `trend`, and sets `repeats_at_severity` to 0.
4. A clearing severity resolves an active alert; a later non-clearing event reopens it.
5. Operator commands (ack, shelve, assign, close, ...) move it as the lifecycle allows; a refused
   command is reported with its reason. Timers due before an item fire first, dated at their due time.

Idempotency: each event carries the raw-topic position of its observation, each command its position
on `ems.commands`. The tracked state keeps the highest offset seen per source partition, for every
item of the fingerprint, and an item at or below it is a redelivery (after a worker crash, or a batch
re-sent by normalize) and is skipped. So at-least-once delivery gives an exactly-once effect on the
state, live and in replays alike. A client that retries a write appends the same item again at a new
position, with the same id (its Idempotency-Key, or its tool's own event id: see the API): the state
also keeps digests of the ids of the last `policy.recent_ids` items, and an item whose id is among
them is skipped as a retry. Both checks read only the log, so a replay decides the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ems.agents.lifecycle import LifecyclePolicy, Refused, fire_timers, on_command, on_event, on_first_event
from ems.schemas.alert import AlertChanged, AlertState, Tracked, Transition
from ems.schemas.alert_command import AlertCommand, BadCommand
from ems.schemas.event import Event

Item = Event | AlertCommand


def alert_id_for(fingerprint: str) -> str:
    """The stable alert id of a fingerprint."""
    return f"alr_{fingerprint[:24]}"


def is_redelivery(tracked: Tracked | None, item: Item) -> bool:
    """True when `item` was already seen by this fingerprint's state (by position or by id)."""
    return tracked is not None and (
        _seen(tracked.positions, item) or id_digest(item.event_id) in tracked.recent_ids
    )


def id_digest(event_id: str) -> str:
    """The short digest of an item id kept in `Tracked.recent_ids` (48 bits: collisions within one
    alert's window are negligible)."""
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


def _seen(positions: dict[str, int], item: Item) -> bool:
    source, offset = item.position
    return offset <= positions.get(source, -1)


def apply(
    state: AlertState | None, event: Event, policy: LifecyclePolicy
) -> tuple[AlertState | None, Transition | None]:
    """Fold one event into an alert state. Returns (new state, transition or None).

    The caller must skip redeliveries first (`is_redelivery`). The state returned is None only when
    a clearing event meets no alert.
    """
    if state is None:
        return on_first_event(alert_id_for(event.fingerprint), event, policy)
    return on_event(state, event, policy)


@dataclass
class FoldResult:
    """What folding a run of items (events, commands, a tick) of one fingerprint produced."""

    tracked: Tracked | None
    applied: int = 0
    skipped: int = 0
    retries: int = 0
    seen: int = 0
    changed: bool = False
    at: datetime | None = None
    transitions: list[Transition] = field(default_factory=list)
    refused: list[tuple[AlertCommand, str]] = field(default_factory=list)

    @property
    def state(self) -> AlertState | None:
        return self.tracked.alert if self.tracked else None

    def change(self) -> AlertChanged | None:
        """The AlertChanged record to publish, or None when the alert did not change.

        Its event_id is derived from (fingerprint, version), so a recomputation after a crash
        publishes the same id and the projection sees it as the same change.
        """
        s = self.state
        if not self.changed or s is None:
            return None
        return AlertChanged(
            event_id=f"{s.fingerprint}:{s.version}",
            occurred_at=self.at or s.last_seen,
            alert=s,
            transitions=self.transitions,
            events_applied=self.applied,
        )

    def _timers(self, alert: AlertState | None, now: datetime) -> AlertState | None:
        if alert is None:
            return None
        alert, fired = fire_timers(alert, now)
        if fired:
            self.transitions.extend(fired)
            self.changed, self.at = True, fired[-1].at
        return alert


def fold(tracked: Tracked | None, items: Iterable[Item], policy: LifecyclePolicy) -> FoldResult:
    """Fold the events and commands of one fingerprint, in log order, skipping redeliveries.

    `seen` counts the items new to the state (applied or not); when it is 0 and no timer fired the
    stored state need not be written again.
    """
    alert = tracked.alert if tracked else None
    positions = dict(tracked.positions) if tracked else {}
    recent = list(tracked.recent_ids) if tracked else []
    known = set(recent)
    result = FoldResult(tracked=tracked)
    for item in items:
        if _seen(positions, item):
            result.skipped += 1
            continue
        source, offset = item.position
        positions[source] = offset
        result.seen += 1
        if policy.recent_ids:
            digest = id_digest(item.event_id)
            if digest in known:  # appended again by a client's retry: applied already
                result.skipped += 1
                result.retries += 1
                continue
            known.add(digest)
            recent.append(digest)
        alert = result._timers(alert, item.occurred_at)
        if isinstance(item, AlertCommand):
            try:
                new, transition = on_command(alert, item, policy)
            except (Refused, BadCommand) as exc:
                result.refused.append((item, str(exc)))
                continue
        else:
            new, transition = apply(alert, item, policy)
            if new is None:  # a clear that met no alert: only its position is kept
                continue
            result.applied += 1
        alert = new
        result.changed, result.at = True, item.occurred_at
        if transition is not None:
            result.transitions.append(transition)
    if result.seen or result.changed:
        keep = recent[-policy.recent_ids :] if policy.recent_ids else []
        result.tracked = Tracked(alert=alert, positions=positions, recent_ids=keep)
    return result


def fold_isolating(
    tracked: Tracked | None, items: list[Item], policy: LifecyclePolicy
) -> tuple[FoldResult, list[tuple[Item, BaseException]]]:
    """`fold`, except that an item the fold raises on (a bug that only this input triggers) is left
    out and returned with its exception; the other items are applied in order, as `fold` would.

    The fast path is one `fold`; only when it raises are the items folded one at a time.
    """
    try:
        return fold(tracked, items, policy), []
    except Exception:  # noqa: BLE001 - find the item: it is reported, the others are applied
        pass
    total = FoldResult(tracked=tracked)
    failed: list[tuple[Item, BaseException]] = []
    for item in items:
        try:
            step = fold(total.tracked, [item], policy)
        except Exception as exc:  # noqa: BLE001 - see above
            failed.append((item, exc))
            continue
        total.tracked = step.tracked
        total.applied += step.applied
        total.skipped += step.skipped
        total.retries += step.retries
        total.seen += step.seen
        total.transitions.extend(step.transitions)
        total.refused.extend(step.refused)
        if step.changed:
            total.changed, total.at = True, step.at
    return total, failed


def fire_due(tracked: Tracked, now: datetime) -> FoldResult:
    """Fire the timers of one fingerprint's alert that are due at `now` (a clock tick)."""
    result = FoldResult(tracked=tracked)
    alert = result._timers(tracked.alert, now)
    if result.changed:
        result.tracked = tracked.model_copy(update={"alert": alert})  # positions and ids kept
    return result

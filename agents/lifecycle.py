"""Alert lifecycle core: the state machine of one alert under events, operator commands and timers.

Statuses: open, acknowledged, shelved, resolved (cleared by a clearing-severity event), closed (by an
operator), expired (no repeat within the alert's timeout). Pure: time comes from the event, the
command or the tick (`now`), never from the wall clock, so replays and tests decide alike.

Events (non-clearing `E`, clearing `C`):
    open          E: repeat / severity change          C: -> resolved
    acknowledged  E: repeat; more severe -> open       C: -> resolved
    shelved       E: repeat (stays shelved)            C: -> resolved
    resolved, closed, expired
                  E: -> open (reopened)                C: counted; a different clearing severity
                                                          is recorded (severity_changed)
The severity is always the last event's. As in Alerta, an event with the alert's event name and
severity is a repeat (`is_repeat`): it adds 1 to `repeats_at_severity` and leaves `previous_severity`
and `trend` alone; any other event sets `repeats_at_severity` to 0 and `previous_severity`/`trend`
to the step from the alert's severity. `duplicate_count` counts every event after the first.
Commands: see `COMMAND_FROM` (the statuses each action is accepted in) and `_command_changes`.
Timers: acknowledged past `ack_until` -> open (auto_unacked); shelved past `shelved_until` -> open
(auto_unshelved); open/acknowledged with no repeat and no status change for `timeout` -> expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from ems.agents.severity import SeverityPolicy
from ems.schemas.alert import AlertState, Transition
from ems.schemas.alert_command import AckArgs, AlertCommand, AssignArgs, ShelveArgs, parse_args
from ems.schemas.event import Event
from ems.schemas.limits import MAX_JSON_BYTES
from ems.settings import Settings

ACTIVE = frozenset({"open", "acknowledged", "shelved"})
INACTIVE = frozenset({"resolved", "closed", "expired"})
ALL_STATUSES = ("open", "acknowledged", "shelved", "resolved", "closed", "expired")

# The statuses in which each operator action is accepted.
COMMAND_FROM: dict[str, frozenset[str]] = {
    "ack": frozenset({"open"}),
    "unack": frozenset({"acknowledged"}),
    "shelve": frozenset({"open", "acknowledged"}),
    "unshelve": frozenset({"shelved"}),
    "assign": frozenset(ALL_STATUSES) - {"closed"},
    "close": frozenset(ALL_STATUSES) - {"closed"},
    "reopen": INACTIVE,
    "note": frozenset(ALL_STATUSES),
}
# What an unack / unshelve (by operator or timer) clears; a reopen clears both.
_UNACKED = {"acked_by": None, "acked_at": None, "ack_until": None}
_UNSHELVED = {"shelved_by": None, "shelved_until": None}
_CLEARED_BY_REOPEN = {**_UNACKED, **_UNSHELVED}
# The history kind each operator action records.
_COMMAND_KIND = {
    "ack": "acked",
    "unack": "unacked",
    "shelve": "shelved",
    "unshelve": "unshelved",
    "assign": "assigned",
    "close": "closed",
    "reopen": "reopened",
    "note": "note",
}


class Refused(ValueError):
    """An operator command that is not valid in the alert's current state (the reason says why)."""


@dataclass(frozen=True)
class LifecyclePolicy:
    """Severities, the default timers (seconds; 0 = never) and the retry window of dedupe."""

    severity: SeverityPolicy
    alert_timeout: int = 86_400
    ack_timeout: int = 0
    recent_ids: int = 128  # ids remembered per alert for retries (dedupe); 0 = positions only

    @classmethod
    def of(cls, settings: Settings) -> LifecyclePolicy:
        """The policy configured by the settings."""
        return cls(
            severity=SeverityPolicy.of(settings.severity_order, settings.clearing_severities),
            alert_timeout=settings.alert_timeout,
            ack_timeout=settings.ack_timeout,
            recent_ids=settings.dedupe_recent_ids,
        )


# An alert merges the tags, services and attributes of its events (as Alerta does), within the
# bounds one event has: its record must stay far below Kafka's message size however long it lives.
MAX_TAGS, MAX_SERVICES, MAX_ATTRIBUTES = 64, 32, 128


def merge_names(old: list[str], new: list[str], limit: int) -> list[str]:
    """The sorted union; past `limit` names, the event's own are kept first, then the alert's others."""
    if not new and len(old) <= limit and all(a < b for a, b in zip(old, old[1:], strict=False)):
        return old  # what the rule below gives, without the sets (most events carry no names)
    merged = set(old) | set(new)
    if len(merged) <= limit:
        return sorted(merged)
    own = sorted(set(new))[:limit]
    others = [n for n in old if n not in set(own)]
    return sorted(own + others[: limit - len(own)])


def merge_attributes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The event's attributes over the alert's; when the merge would pass MAX_ATTRIBUTES keys or the
    size one event may carry, the event's attributes alone (they are within both)."""
    if not new:
        return old
    merged = {**old, **new}
    if len(merged) > MAX_ATTRIBUTES or len(orjson.dumps(merged)) > MAX_JSON_BYTES:
        return dict(new)
    return merged


def check_command(status: str | None, action: str) -> None:
    """Refused with a reason unless `action` is accepted for an alert in `status` (None: no alert)."""
    if status is None:
        raise Refused(f"{action}: no such alert")
    allowed = COMMAND_FROM[action]
    if status not in allowed:
        raise Refused(
            f"cannot {action} an alert that is {status} (allowed when: {', '.join(sorted(allowed))})"
        )


def _transition(
    kind: str,
    event_id: str,
    at: datetime,
    old: AlertState | None,
    new: AlertState,
    actor: str | None = None,
    reason: str = "",
) -> Transition:
    return Transition(
        kind=kind,
        event_id=event_id,
        at=at,
        severity=new.severity,
        previous_severity=old.severity if old else None,
        status=new.status,
        previous_status=old.status if old else None,
        actor=actor,
        reason=reason,
    )


def on_first_event(
    alert_id: str, event: Event, policy: LifecyclePolicy
) -> tuple[AlertState | None, Transition | None]:
    """The alert the first event of a fingerprint opens, or (None, None) for a clearing event."""
    if policy.severity.is_clear(event.severity):
        return None, None
    opened = open_alert(alert_id, event, policy)
    return opened, _transition("opened", event.event_id, event.occurred_at, None, opened)


def open_alert(alert_id: str, event: Event, policy: LifecyclePolicy) -> AlertState:
    """The alert a first non-clearing event opens."""
    return AlertState(
        alert_id=alert_id,
        fingerprint=event.fingerprint,
        status="open",
        severity=event.severity,
        trend="new",
        event_count=1,
        duplicate_count=0,
        repeats_at_severity=0,
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
        tenant=event.tenant,
        version=1,
        timeout=policy.alert_timeout if event.timeout is None else event.timeout,
        status_changed_at=event.occurred_at,
    )


# Alerta's close also sets the severity to this one (its DEFAULT_NORMAL_SEVERITY); ours keeps the
# severity, so `is_repeat` compares an operator-closed alert's next event with it instead.
ALERTA_CLOSED_SEVERITY = "normal"


def is_repeat(state: AlertState, event: Event, policy: LifecyclePolicy) -> bool:
    """Alerta's duplicate: the event has the alert's event name and severity (Alerta's `is_duplicate`;
    any other event of the alert is `is_correlated`). A problem closed by an operator has, for Alerta,
    the severity `normal` until its next event."""
    severity = state.severity
    if state.status == "closed" and not policy.severity.is_clear(severity):
        severity = ALERTA_CLOSED_SEVERITY
    return event.event == state.event and event.severity == severity


def on_event(
    state: AlertState, event: Event, policy: LifecyclePolicy
) -> tuple[AlertState, Transition | None]:
    """Fold one event (not a redelivery) into an existing alert."""
    sev = policy.severity
    clear = sev.is_clear(event.severity)
    changes: dict[str, Any] = {}
    kind, reason = None, ""
    if clear and state.status in ACTIVE:
        kind, changes = "resolved", {"status": "resolved"}
    elif not clear and state.status in INACTIVE:
        kind, changes = "reopened", {"status": "open", **_CLEARED_BY_REOPEN}
    elif event.severity != state.severity:  # while active, or a clear of an inactive alert
        kind = "severity_changed"
        if state.status == "acknowledged" and sev.trend(state.severity, event.severity) == "more_severe":
            changes, reason = {"status": "open", "ack_until": None}, "more severe while acknowledged"
    if "status" in changes:
        changes["status_changed_at"] = event.occurred_at
    if is_repeat(state, event, policy):
        changes["repeats_at_severity"] = state.repeats_at_severity + 1
    else:
        changes.update(
            repeats_at_severity=0,
            previous_severity=state.severity,
            trend=sev.trend(state.severity, event.severity),
        )
    new = state.model_copy(
        update={
            **changes,
            "severity": event.severity,
            "event_count": state.event_count + 1,
            "duplicate_count": state.duplicate_count + 1,
            "first_seen": min(state.first_seen, event.occurred_at),
            "last_seen": max(state.last_seen, event.occurred_at),
            "last_event_id": event.event_id,
            "event": event.event,
            "title": event.title or state.title,
            "text": event.text or state.text,
            "value": event.value if event.value is not None else state.value,
            "tags": merge_names(state.tags, event.tags, MAX_TAGS),
            "service": merge_names(state.service, event.service, MAX_SERVICES),
            "attributes": merge_attributes(state.attributes, event.attributes),
            "timeout": state.timeout if event.timeout is None else event.timeout,
            "version": state.version + 1,
        }
    )
    if kind is None:
        return new, None
    return new, _transition(kind, event.event_id, event.occurred_at, state, new, reason=reason)


def on_command(
    state: AlertState | None, cmd: AlertCommand, policy: LifecyclePolicy
) -> tuple[AlertState, Transition]:
    """Apply one operator command; Refused (with the reason) when it is not valid now."""
    action = cmd.action
    check_command(state.status if state else None, action)
    assert state is not None
    args = parse_args(action, cmd.command.args)
    at, actor = cmd.occurred_at, cmd.command.actor
    changes = _command_changes(action, args, at, actor, policy)
    if "status" in changes:
        changes["status_changed_at"] = at
    new = state.model_copy(update={**changes, "version": state.version + 1})
    return new, _transition(
        _COMMAND_KIND[action], cmd.command.event_id, at, state, new, actor, cmd.command.reason
    )


def _command_changes(
    action: str, args: Any, at: datetime, actor: str, policy: LifecyclePolicy
) -> dict[str, Any]:
    if action == "ack":
        assert isinstance(args, AckArgs)
        timeout = policy.ack_timeout if args.timeout is None else args.timeout
        until = at + timedelta(seconds=timeout) if timeout else None
        return {"status": "acknowledged", "acked_by": actor, "acked_at": at, "ack_until": until}
    if action == "unack":
        return {"status": "open", **_UNACKED}
    if action == "shelve":
        assert isinstance(args, ShelveArgs)
        until = args.until or at + timedelta(seconds=args.duration or 0)
        if until <= at:
            raise Refused(
                f"shelve: until {until.isoformat()} is not after the command's time {at.isoformat()}"
            )
        return {"status": "shelved", "shelved_by": actor, "shelved_until": until}
    if action == "unshelve":
        return {"status": "open", **_UNSHELVED}
    if action == "assign":
        assert isinstance(args, AssignArgs)
        out: dict[str, Any] = {}
        if args.user is not None:
            out["assignee"] = args.user or None
        if args.team is not None:
            out["assigned_team"] = args.team or None
        return out
    if action == "close":
        return {"status": "closed", "ack_until": None, "shelved_until": None}
    if action == "reopen":
        return {"status": "open", **_CLEARED_BY_REOPEN}
    return {}  # note: history only


def next_timer(state: AlertState) -> tuple[datetime, str] | None:
    """The earliest pending timer of the alert: (due time, transition kind), or None."""
    timers = []
    if state.status == "acknowledged" and state.ack_until is not None:
        timers.append((state.ack_until, "auto_unacked"))
    if state.status == "shelved" and state.shelved_until is not None:
        timers.append((state.shelved_until, "auto_unshelved"))
    if state.status in ("open", "acknowledged") and state.timeout > 0:
        # From the last repeat, or from the last status change (an operator's reopen or unshelve
        # starts a fresh window rather than expiring at once).
        since = max(state.last_seen, state.status_changed_at or state.last_seen)
        timers.append((since + timedelta(seconds=state.timeout), "expired"))
    return min(timers) if timers else None


def fire_timers(state: AlertState, now: datetime) -> tuple[AlertState, list[Transition]]:
    """Fire every timer due at or before `now`, in due order; each transition is dated at its due time."""
    transitions: list[Transition] = []
    while (timer := next_timer(state)) is not None and timer[0] <= now:
        due, kind = timer
        if kind == "expired":
            changes: dict[str, Any] = {"status": "expired", "ack_until": None}
            reason = f"no repeat within {state.timeout} s"
        elif kind == "auto_unacked":
            changes, reason = {"status": "open", **_UNACKED}, "ack timed out"
        else:
            changes, reason = {"status": "open", **_UNSHELVED}, "shelve ended"
        new = state.model_copy(update={**changes, "status_changed_at": due, "version": state.version + 1})
        transitions.append(
            _transition(kind, f"timer:{kind}:{due.isoformat()}", due, state, new, "system", reason)
        )
        state = new
    return state, transitions

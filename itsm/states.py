"""Validated status machines of the three ticket types, and what each status means for the SLA timers.

incident: new -> in_progress -> on_hold (with a pending reason) -> resolved -> closed; on_hold resumes to
in_progress; a resolved incident reopens (-> in_progress) within `reopen_days` of its resolution.
problem:  new -> assessed -> root_cause_known -> fix_in_progress -> resolved -> closed.
change:   draft -> assessment -> approved | rejected; approved -> scheduled -> implementing -> review
-> closed; rejected -> closed.

`transition` is the one place a status changes; a move the machine does not allow raises
`TransitionNotAllowed`, which names the moves that are allowed (the API answers it with 409).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

TicketType = Literal["incident", "problem", "change"]
TICKET_TYPES: tuple[TicketType, ...] = ("incident", "problem", "change")

# Status -> the statuses it may move to, in the order they are named to a user.
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "incident": {
        "new": ("in_progress", "on_hold", "resolved"),
        "in_progress": ("on_hold", "resolved"),
        "on_hold": ("in_progress", "resolved"),
        "resolved": ("closed", "in_progress"),  # -> in_progress: reopen, within the reopen window only
        "closed": (),
    },
    "problem": {
        "new": ("assessed",),
        "assessed": ("root_cause_known",),
        "root_cause_known": ("fix_in_progress",),
        "fix_in_progress": ("resolved",),
        "resolved": ("closed",),
        "closed": (),
    },
    "change": {
        "draft": ("assessment",),
        "assessment": ("approved", "rejected"),
        "approved": ("scheduled",),
        "rejected": ("closed",),
        "scheduled": ("implementing",),
        "implementing": ("review",),
        "review": ("closed",),
        "closed": (),
    },
}
INITIAL: dict[str, str] = {"incident": "new", "problem": "new", "change": "draft"}
# Statuses that need a pending reason, and the reasons there are (ServiceNow's on-hold reasons).
NEEDS_PENDING_REASON: dict[str, frozenset[str]] = {"incident": frozenset({"on_hold"})}
PENDING_REASONS: tuple[str, ...] = (
    "awaiting_caller",
    "awaiting_change",
    "awaiting_problem",
    "awaiting_vendor",
)
# For the SLA: statuses that pause the resolution clock, and those that stop it (the work is done).
PAUSES_RESOLUTION: dict[str, frozenset[str]] = {
    "incident": frozenset({"on_hold"}),
    "problem": frozenset(),
    "change": frozenset(),
}
ENDS_RESOLUTION: dict[str, frozenset[str]] = {
    "incident": frozenset({"resolved", "closed"}),
    "problem": frozenset({"resolved", "closed"}),
    "change": frozenset({"rejected", "closed"}),
}
REOPEN_DAYS = 7  # default reopen window of a resolved incident


class TicketStateError(ValueError):
    """A status change that cannot be applied; `field` names the input at fault."""

    field = "status"


class UnknownTicketType(TicketStateError):
    field = "type"

    def __init__(self, ticket_type: str) -> None:
        super().__init__(f"unknown ticket type {ticket_type!r}; one of: {', '.join(TICKET_TYPES)}")


class UnknownStatus(TicketStateError):
    def __init__(self, ticket_type: str, status: str) -> None:
        self.allowed = tuple(TRANSITIONS[ticket_type])
        super().__init__(f"unknown {ticket_type} status {status!r}; one of: {', '.join(self.allowed)}")


class TransitionNotAllowed(TicketStateError):
    """The move is not allowed from the current status (HTTP 409); `allowed` lists those that are."""

    def __init__(self, ticket_type: str, current: str, target: str, allowed: tuple[str, ...], why: str = ""):
        self.ticket_type, self.current, self.target, self.allowed = ticket_type, current, target, allowed
        named = ", ".join(allowed) if allowed else "none (final status)"
        reason = f" ({why})" if why else ""
        super().__init__(
            f"{ticket_type} cannot move from {current} to {target}{reason}; allowed from {current}: {named}"
        )


class PendingReasonRequired(TicketStateError):
    field = "pending_reason"

    def __init__(self, target: str, given: str | None) -> None:
        what = "is required" if not given else f"{given!r} is not one of: {', '.join(PENDING_REASONS)}"
        super().__init__(f"moving to {target}: pending_reason {what}")


def check_type(ticket_type: str) -> TicketType:
    if ticket_type not in TRANSITIONS:
        raise UnknownTicketType(ticket_type)
    return ticket_type  # type: ignore[return-value]


def check_status(ticket_type: str, status: str) -> str:
    if status not in TRANSITIONS[check_type(ticket_type)]:
        raise UnknownStatus(ticket_type, status)
    return status


@dataclass(frozen=True)
class Lifecycle:
    """Where a ticket is in its machine: status, the pending reason while on hold, when it was resolved."""

    ticket_type: TicketType
    status: str
    pending_reason: str | None = None
    resolved_at: datetime | None = None

    @classmethod
    def start(cls, ticket_type: str) -> Lifecycle:
        return cls(check_type(ticket_type), INITIAL[ticket_type])


def _is_reopen(life: Lifecycle, target: str) -> bool:
    return life.ticket_type == "incident" and life.status == "resolved" and target == "in_progress"


def _reopen_open(life: Lifecycle, at: datetime, reopen_days: int) -> bool:
    return life.resolved_at is not None and at - life.resolved_at <= timedelta(days=reopen_days)


def allowed_transitions(life: Lifecycle, at: datetime, reopen_days: int = REOPEN_DAYS) -> tuple[str, ...]:
    """The statuses `life` may move to at `at` (a resolved incident past its reopen window cannot reopen)."""
    targets = TRANSITIONS[life.ticket_type][check_status(life.ticket_type, life.status)]
    return tuple(t for t in targets if not _is_reopen(life, t) or _reopen_open(life, at, reopen_days))


def transition(
    life: Lifecycle,
    target: str,
    at: datetime,
    *,
    pending_reason: str | None = None,
    reopen_days: int = REOPEN_DAYS,
) -> Lifecycle:
    """`life` moved to `target` at event time `at`, or TransitionNotAllowed / PendingReasonRequired."""
    check_status(life.ticket_type, target)
    allowed = allowed_transitions(life, at, reopen_days)
    if target not in allowed:
        why = ""
        if _is_reopen(life, target):
            why = f"the reopen window of {reopen_days} days after resolution has passed"
        raise TransitionNotAllowed(life.ticket_type, life.status, target, allowed, why)
    if target in NEEDS_PENDING_REASON.get(life.ticket_type, ()):
        if pending_reason not in PENDING_REASONS:
            raise PendingReasonRequired(target, pending_reason)
    else:
        pending_reason = None
    resolved_at = life.resolved_at
    if target == "resolved":
        resolved_at = at
    elif target != "closed":
        resolved_at = None
    return replace(life, status=target, pending_reason=pending_reason, resolved_at=resolved_at)

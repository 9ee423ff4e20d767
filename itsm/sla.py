"""SLA timers: policies, readings (due, elapsed, left, breached), the 50/75/90 % warnings and the breach.

A timer is computed from the ticket's status history, in event time; nothing here reads the wall clock.
- response: runs from creation while the ticket is in its first status (new / draft), stops for good at the
  first move out of it.
- resolution: runs from creation; pauses in the on-hold statuses (states.PAUSES_RESOLUTION), stops in the done
  statuses (states.ENDS_RESOLUTION) and runs again when a ticket is reopened.
Time counts only inside the policy's calendar. The timer is breached once its elapsed time reaches the target
(so a ticket due Friday 17:00 and resolved on Saturday has breached at Friday 17:00).

Each threshold is crossed at one event time computable from the history, so `due_warnings` returns exactly
the crossings at or before `now` whose threshold is not in `timer.emitted`; the caller records them with
`mark_emitted` in the same write as the events it emits, and a restart or a replay never emits one twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from ems.itsm import states
from ems.itsm.calendar import Calendar, utc
from ems.itsm.priority import Priority

TimerKind = Literal["response", "resolution"]
ClockState = Literal["running", "paused", "stopped"]
THRESHOLDS: tuple[int, ...] = (50, 75, 90, 100)  # percent of the target; 100 is the breach
H = timedelta(hours=1)


@dataclass(frozen=True)
class SlaPolicy:
    """Targets of one ticket type and priority, counted in the named calendar; None: no such timer."""

    ticket_type: str
    priority: Priority
    response: timedelta | None
    resolution: timedelta | None
    calendar: str


def _policies(ticket_type: str, calendars: Sequence[str], targets: Sequence[tuple]) -> list[SlaPolicy]:
    return [
        SlaPolicy(ticket_type, p, response, resolution, calendar)
        for p, calendar, (response, resolution) in zip(Priority, calendars, targets, strict=True)
    ]


# Defaults until a deployment configures its own: P1 incidents round the clock, the rest in business hours.
DEFAULT_POLICIES: tuple[SlaPolicy, ...] = (
    *_policies(
        "incident",
        ("24x7", "business", "business", "business"),
        ((H / 4, 4 * H), (H, 8 * H), (4 * H, 24 * H), (8 * H, 40 * H)),
    ),
    *_policies(
        "problem",
        ("business",) * 4,
        ((4 * H, 40 * H), (8 * H, 80 * H), (16 * H, 160 * H), (40 * H, 320 * H)),
    ),
    *_policies(
        "change",
        ("24x7", "business", "business", "business"),
        ((H, None), (4 * H, None), (16 * H, None), (40 * H, None)),
    ),
)


def policy_for(policies: Iterable[SlaPolicy], ticket_type: str, priority: Priority) -> SlaPolicy | None:
    return next((p for p in policies if p.ticket_type == ticket_type and p.priority == priority), None)


class SlaInputError(ValueError):
    """A history or target the timer cannot use; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    status: str


@dataclass(frozen=True)
class TimerState:
    """What is stored per timer: target, calendar, the ticket's status history, the thresholds emitted."""

    ticket_type: str
    kind: TimerKind
    target: timedelta
    calendar: str
    history: tuple[StatusChange, ...]
    emitted: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        states.check_type(self.ticket_type)
        if self.kind not in ("response", "resolution"):
            raise SlaInputError("kind", f"{self.kind!r} is not response or resolution")
        if self.target <= timedelta(0):
            raise SlaInputError("target", "must be positive")
        if not self.history or self.history[0].status != states.INITIAL[self.ticket_type]:
            raise SlaInputError("history", f"must start with {states.INITIAL[self.ticket_type]}")
        previous = None
        for change in self.history:
            states.check_status(self.ticket_type, change.status)
            at = utc(change.at, "history time")
            if previous is not None and at < previous:
                raise SlaInputError(
                    "history", f"{change.at.isoformat()} is earlier than the change before it"
                )
            previous = at


def timers_for(policy: SlaPolicy, created_at: datetime) -> list[TimerState]:
    """The new ticket's timers under `policy` (one per target it has)."""
    first = (StatusChange(created_at, states.INITIAL[policy.ticket_type]),)
    kinds: tuple[tuple[TimerKind, timedelta | None], ...] = (
        ("response", policy.response),
        ("resolution", policy.resolution),
    )
    return [TimerState(policy.ticket_type, k, t, policy.calendar, first) for k, t in kinds if t is not None]


def with_change(timer: TimerState, change: StatusChange) -> TimerState:
    """The timer after the ticket moved to another status."""
    return replace(timer, history=(*timer.history, change))


def clock(timer: TimerState, status: str, responded: bool) -> ClockState:
    """Whether the timer runs in `status` (`responded`: the ticket has left its first status before)."""
    if timer.kind == "response":
        return "running" if not responded and status == states.INITIAL[timer.ticket_type] else "stopped"
    if status in states.ENDS_RESOLUTION[timer.ticket_type]:
        return "stopped"
    return "paused" if status in states.PAUSES_RESOLUTION[timer.ticket_type] else "running"


Interval = tuple[datetime, datetime | None]  # running from, until (None: still running)


def _intervals(timer: TimerState, now: datetime) -> tuple[list[Interval], ClockState, datetime | None]:
    """Running intervals up to `now`, the clock state at `now` and when it last stopped or paused."""
    out: list[Interval] = []
    responded, state, since = False, "stopped", None
    for change in timer.history:
        at = utc(change.at)
        if at > now:
            break
        new = clock(timer, change.status, responded)
        responded = responded or change.status != states.INITIAL[timer.ticket_type]
        if new == "running" and state != "running":
            out.append((at, None))
        elif new != "running" and state == "running":
            out[-1] = (out[-1][0], at)
        if new != state:
            state, since = new, at
    return out, state, None if state == "running" else since


def _reach(intervals: list[Interval], amount: timedelta, calendar: Calendar) -> datetime | None:
    """When the running time reaches `amount` (the open interval runs on), or None if it never does."""
    total = timedelta(0)
    for start, end in intervals:
        if end is None:
            return calendar.add(start, amount - total)
        span = calendar.business_time(start, end)
        if total + span >= amount:
            return calendar.add(start, amount - total)
        total += span
    return None


@dataclass(frozen=True)
class TimerReading:
    kind: TimerKind
    state: ClockState
    target: timedelta
    elapsed: timedelta  # open time counted so far
    due_at: datetime | None  # when it breaches (breached: when it did); None while paused or stopped in time
    breached_at: datetime | None
    stopped_at: datetime | None  # when it last paused or stopped

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    @property
    def elapsed_pct(self) -> float:
        return 100 * (self.elapsed / self.target)

    @property
    def left(self) -> timedelta:
        """Open time left before the breach (negative once breached)."""
        return self.target - self.elapsed


def read(timer: TimerState, calendar: Calendar, now: datetime) -> TimerReading:
    """The timer as of event time `now` (changes after `now` are not yet known; before creation: zero)."""
    now = max(utc(now, "now"), utc(timer.history[0].at))
    intervals, state, since = _intervals(timer, now)
    elapsed = sum((calendar.business_time(s, e or now) for s, e in intervals), timedelta(0))
    due = _reach(intervals, timer.target, calendar)
    breached_at = due if due is not None and due <= now else None
    return TimerReading(timer.kind, state, timer.target, elapsed, due, breached_at, since)


@dataclass(frozen=True)
class SlaWarning:
    kind: TimerKind
    threshold: int  # percent; 100 is the breach
    at: datetime  # the event time it was crossed

    @property
    def breach(self) -> bool:
        return self.threshold >= 100


def due_warnings(
    timer: TimerState, calendar: Calendar, now: datetime, thresholds: Sequence[int] = THRESHOLDS
) -> list[SlaWarning]:
    """Thresholds crossed at or before `now` and not in `timer.emitted`, in the order they were crossed."""
    if any(not 0 < t <= 100 for t in thresholds):
        raise SlaInputError("thresholds", "each is a percentage in 1..100")
    now = utc(now, "now")
    intervals, _, _ = _intervals(timer, now)
    out = []
    for t in sorted(set(thresholds) - timer.emitted):
        at = _reach(intervals, timer.target * t / 100, calendar)
        if at is not None and at <= now:
            out.append(SlaWarning(timer.kind, t, at))
    return out


def next_crossing(
    timer: TimerState, calendar: Calendar, thresholds: Sequence[int] = THRESHOLDS
) -> datetime | None:
    """When the earliest threshold not emitted yet is (or was) crossed, given the history known so far:
    the time a sweep must look at this timer again; None when it crosses nothing more."""
    last = max(utc(change.at) for change in timer.history)
    intervals, _, _ = _intervals(timer, last)
    times = [_reach(intervals, timer.target * t / 100, calendar) for t in set(thresholds) - timer.emitted]
    return min((t for t in times if t is not None), default=None)


def mark_emitted(timer: TimerState, warnings: Iterable[SlaWarning]) -> TimerState:
    return replace(timer, emitted=timer.emitted | {w.threshold for w in warnings})


def calendar_of(timer: TimerState, calendars: Mapping[str, Calendar]) -> Calendar:
    if timer.calendar not in calendars:
        raise SlaInputError("calendar", f"{timer.calendar!r} is not a configured calendar")
    return calendars[timer.calendar]

"""The ticket stage's pure core: applies `ticket.*` commands to the tickets it keeps, in event time.

`Desk.apply(command, source, offset)` validates the command again (the API did first), and either
refuses it with the reason (the worker dead-letters it), skips it (a redelivery: its position is
below the one recorded) or returns the `TicketChanged` it makes:
- create: a number (ems.itsm.numbers), a priority from impact x urgency (ems.itsm.priority), a group
  and maybe an assignee (ems.itsm.routing), SLA timers under the type's and priority's policy;
- transition: the status machine (ems.itsm.states), the timers told of the new status, and for a
  change with a window the maintenance-window commands it calls for (agents/change_window.py,
  returned in `Outcome.commands` for the worker to append);
- comment, link, assign, attach, detach, change_window (agents/desk_actions.py).
After every change each timer is read at the command's event time, and the 50/75/90 % warnings and
the breach it crossed by then that were not emitted yet ride on the change, once each (the emitted set
is part of the snapshot: a restart or a replay rebuilt from `ems.tickets` never repeats one).

The SLA sweep: no wall clock is read here. `advance(at)` moves the stage's "now" to the latest event
time it has seen (commands, incidents, `ticket.tick` records) and visits only the tickets whose next
threshold time is due by then (a heap, ems.agents.timers.TimerIndex); each gets an `sla` change at
the time of its latest crossing carrying the crossings, with no command needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ems.agents import change_window
from ems.agents.desk_actions import DeskActions, event_at, unique
from ems.agents.desk_config import DeskConfig
from ems.agents.desk_routing import DeskRouting
from ems.agents.timers import TimerIndex
from ems.itsm import numbers, sla, states
from ems.itsm.calendar import Calendar
from ems.itsm.priority import PriorityInputError, ticket_priority
from ems.schemas.command import Command
from ems.schemas.ticket import (
    BadTicketCommand,
    CreateArgs,
    Link,
    SlaEvent,
    SlaTimer,
    StatusAt,
    Ticket,
    TicketBatch,
    TicketChanged,
    TransitionArgs,
    parse_ticket_args,
)
from ems.schemas.ticket_parts import ChangeWindow

SWEEP_ACTOR = "sla-sweep"


@dataclass(frozen=True)
class Outcome:
    change: TicketChanged | None = None
    refused: str | None = None  # why the command was not applied
    skipped: bool = False  # a redelivered command, applied before
    commands: tuple[Command, ...] = ()  # for other stages (a change's maintenance window), to append


def timer_state(ticket: Ticket, timer: SlaTimer) -> sla.TimerState:
    history = tuple(sla.StatusChange(h.at, h.status) for h in timer.history)
    target = timedelta(seconds=timer.target_s)
    return sla.TimerState(ticket.type, timer.kind, target, timer.calendar, history, frozenset(timer.emitted))


def timer_snapshot(state: sla.TimerState, reading: sla.TimerReading) -> SlaTimer:
    return SlaTimer(
        kind=state.kind,
        target_s=state.target.total_seconds(),
        calendar=state.calendar,
        history=[StatusAt(at=h.at, status=h.status) for h in state.history],
        emitted=sorted(state.emitted),
        state=reading.state,
        elapsed_s=reading.elapsed.total_seconds(),
        due_at=reading.due_at,
        breached_at=reading.breached_at,
    )


class Desk(DeskActions, DeskRouting):
    """The tickets, the number sequences, the last pick per group and the command positions."""

    def __init__(self, config: DeskConfig | None = None) -> None:
        self.config = config or DeskConfig()
        self.tickets: dict[str, Ticket] = {}
        self.sequences: dict[str, int] = {}
        self.last_picks: dict[str, str] = {}
        self.positions: dict[str, int] = {}  # "commands:<partition>" -> next offset to apply
        self.now: datetime | None = None  # the latest event time seen: the sweep's clock
        self.due = TimerIndex()  # ticket id -> when its next SLA threshold is crossed (partition 0)
        self.due.mark_built(0)
        self._emit: list[Command] = []  # the commands the action being applied decided

    def restore(self, batches: Iterable[TicketBatch]) -> None:
        """The state after the published batches, folded in order."""
        for batch in batches:
            for change in batch.changes:
                self.tickets[change.ticket.ticket_id] = change.ticket
            self.sequences.update(batch.sequences)
            self.last_picks.update(batch.last_picks)
            self.positions.update(batch.positions)
        for ticket in self.tickets.values():
            self._index(ticket)

    def advance(self, at: datetime) -> list[TicketChanged]:
        """Move the sweep's clock to `at` (never back) and emit the SLA crossings due by then."""
        if self.now is not None and at <= self.now:
            return []
        self.now = at
        out = []
        for key in self.due.pop_due(0, at):
            ticket = self.tickets[key.decode()]
            change = self.sweep(ticket, at)
            if change is None:  # (a timer paused meanwhile)
                self._index(ticket)
            else:
                out.append(change)
        return out

    def sweep(self, ticket: Ticket, at: datetime) -> TicketChanged | None:
        """The `sla` change for the crossings of `ticket`'s timers due by `at`; None when there are none."""
        crossed = [
            w
            for timer in ticket.timers
            for w in sla.due_warnings(timer_state(ticket, timer), self._calendar_of(ticket, timer), at)
        ]
        if not crossed:
            return None
        when = max(ticket.updated_at, max(w.at for w in crossed))
        tick = Command(
            event_id=f"sla:{ticket.ticket_id}:{ticket.version + 1}",
            name="ticket.sweep",
            target=ticket.ticket_id,
            actor=SWEEP_ACTOR,
            occurred_at=when,
        )
        return self._changed(ticket, tick, "sla", when)

    def batch(self, changes: list[TicketChanged]) -> TicketBatch:
        """A record of `changes` with the state's counters and positions as of now."""
        return TicketBatch(
            changes=changes,
            positions=dict(self.positions),
            sequences=dict(self.sequences),
            last_picks=dict(self.last_picks),
        )

    def seen(self, source: str, offset: int) -> bool:
        """Record the position of a command; False when it was applied before (a redelivery)."""
        if offset < self.positions.get(source, 0):
            return False
        self.positions[source] = offset + 1
        return True

    def apply(self, command: Command, source: str, offset: int) -> Outcome:
        """Apply one `ticket.*` command read at `source` (`commands:<partition>`) and `offset`."""
        if not self.seen(source, offset):
            return Outcome(skipped=True)
        return self.execute(command)

    def execute(self, command: Command) -> Outcome:
        """Apply one `ticket.*` command whose position was checked (or that the stage made itself)."""
        action = command.name.split(".", 1)[1]
        if action == "tick":  # the clock only: the worker advances the sweep with its time
            return Outcome()
        self._emit = []
        try:
            args = parse_ticket_args(action, command.args)
            if action == "create":
                return Outcome(self._create(command, args))
            ticket = self.tickets.get(command.target)
            if ticket is None:
                return Outcome(refused=f"ticket.{action}: no ticket {command.target!r}")
            change = getattr(self, f"_{action}")(ticket, command, args)
            return Outcome(change, commands=tuple(self._emit))
        except (BadTicketCommand, states.TicketStateError, PriorityInputError) as exc:
            return Outcome(refused=str(exc))

    # -- the actions -------------------------------------------------------------------------------
    def _create(self, command: Command, args: CreateArgs) -> TicketChanged:
        if command.target in self.tickets:
            raise BadTicketCommand(f"ticket.create: ticket {command.target!r} exists already")
        if not command.target.startswith("tkt_"):
            raise BadTicketCommand(f"ticket.create: target {command.target!r} is not a ticket id (tkt_…)")
        at = command.occurred_at
        priority, impact = ticket_priority(
            args.urgency, args.impact, score=args.impact_score, criticality=args.criticality
        )
        number, self.sequences = numbers.next_number(self.sequences, args.type)
        group, assignee = self._route(args)
        policy = sla.policy_for(self.config.policies, args.type, priority)
        timers = sla.timers_for(policy, at) if policy is not None else []
        links = [Link(kind=a.kind, ref=a.ref, at=at, by=command.actor) for a in unique(args.links)]
        window = None
        if args.change_window is not None:
            if args.type != "change":
                raise BadTicketCommand(
                    f"ticket.create: change_window: only a change has one (this is {args.type})"
                )
            window = ChangeWindow(**args.change_window.model_dump())
        ticket = Ticket(
            ticket_id=command.target,
            number=number,
            type=args.type,
            tenant=args.tenant,
            title=args.title,
            description=args.description,
            status=states.INITIAL[args.type],
            priority=str(priority),
            impact=impact,
            urgency=args.urgency,
            group=group,
            assignee=assignee,
            requester=args.requester,
            services=args.services,
            site=args.site,
            tags=args.tags,
            links=links,
            created_by=command.actor,
            created_at=at,
            updated_at=at,
            timers=[timer_snapshot(t, sla.read(t, self._calendar(t), at)) for t in timers],
            change_window=window,
            version=1,
        )
        return self._changed(ticket, command, "created", at)

    def _transition(self, ticket: Ticket, command: Command, args: TransitionArgs) -> TicketChanged:
        at = event_at(ticket, command)
        life = states.Lifecycle(ticket.type, ticket.status, ticket.pending_reason, ticket.resolved_at)
        moved = states.transition(
            life, args.to, at, pending_reason=args.pending_reason, reopen_days=self.config.reopen_days
        )
        timers = []
        for timer in ticket.timers:
            state = sla.with_change(timer_state(ticket, timer), sla.StatusChange(at, moved.status))
            timers.append(timer_snapshot(state, sla.read(state, self._calendar(state), at)))
        after = ticket.model_copy(
            update={
                "status": moved.status,
                "pending_reason": moved.pending_reason,
                "resolved_at": moved.resolved_at,
                "closed_at": at if moved.status == "closed" else None,
                "timers": timers,
            }
        )
        after, self._emit, note = change_window.on_transition(ticket, after, ticket.version + 1, command, at)
        return self._changed(after, command, "transitioned", at, from_status=ticket.status, note=note)

    # -- shared ------------------------------------------------------------------------------------
    def _calendar(self, timer: sla.TimerState) -> Calendar:
        return sla.calendar_of(timer, self.config.calendars)

    def _calendar_of(self, ticket: Ticket, timer: SlaTimer) -> Calendar:
        return self._calendar(timer_state(ticket, timer))

    def _index(self, ticket: Ticket) -> None:
        """Record when the sweep must look at `ticket` next (None: no threshold left to cross)."""
        times = []
        for timer in ticket.timers:
            state = timer_state(ticket, timer)
            times.append(sla.next_crossing(state, self._calendar(state)))
        self.due.set(0, ticket.ticket_id.encode(), min((t for t in times if t is not None), default=None))

    def _changed(
        self, ticket: Ticket, command: Command, kind: str, at: datetime, note: str = "", **extra
    ) -> TicketChanged:
        """The change with the ticket's timers read at `at` and the crossings not emitted yet."""
        crossed: list[SlaEvent] = []
        timers = []
        for timer in ticket.timers:
            state = timer_state(ticket, timer)
            calendar = self._calendar(state)
            due = sla.due_warnings(state, calendar, at)
            crossed += [SlaEvent(kind=w.kind, threshold=w.threshold, at=w.at) for w in due]
            state = sla.mark_emitted(state, due)
            timers.append(timer_snapshot(state, sla.read(state, calendar, at)))
        version = ticket.version + (kind != "created")
        ticket, escalated = self._escalate(ticket, crossed)
        ticket = ticket.model_copy(update={"timers": timers, "updated_at": at, "version": version})
        # model_copy does not validate: a round trip does, so a bad value fails here, not downstream.
        ticket = Ticket.model_validate(ticket.model_dump())
        self.tickets[ticket.ticket_id] = ticket
        self._index(ticket)
        return TicketChanged(
            event_id=f"{ticket.ticket_id}:{ticket.version}",
            occurred_at=at,
            ticket=ticket,
            kind=kind,
            actor=command.actor,
            cause=command.event_id,
            reason="; ".join(r for r in (command.reason, note, escalated) if r),
            sla=sorted(crossed, key=lambda e: (e.at, e.kind, e.threshold)),
            **extra,
        )

"""The ticket benchmark's pure parts (`ems.bench.tickets`): tickets made by the real ticket core, the
SLA sweep against a sweep that reads every timer, and the rebuild from the published batches.

`build(n, end)` feeds `ticket.create` / `transition` / `assign` / `comment` commands, in event time
over the `SPAN` before `end`, to a `Desk` as the ticket stage does (the sweep advanced to each
command's time first), so every timer, warning, breach and escalation is the core's own. Incidents
(70 %), problems and changes, every priority, routed to four groups of which one member is the
benchmark's API key (`ME`, for `assignee=me`); each ticket walks a random way along its status
machine (some stay new, some wait on hold, most end resolved or closed): the first step 5 minutes to
4 hours after the creation, the next ones 30 minutes to 2 days apart, stopping at `end`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ems.agents.tickets import Desk, DeskConfig
from ems.itsm.routing import AssignmentGroup, RoutingRule
from ems.itsm.states import PENDING_REASONS
from ems.schemas.command import Command
from ems.schemas.ticket import TicketBatch, TicketChanged
from ems.streams.codecs import decode, encode

SPAN = timedelta(days=14)  # the event time the tickets are opened over, ending at `end`
ME = "key:bench"  # the actor of the benchmark's API key (`ems keys create bench`)
BATCH_COMMANDS = 250  # commands per published TicketBatch (the stage publishes one per input batch)
WORDS = ("disk", "latency", "vpn", "printer", "backup", "certificate", "dns", "login", "replica", "fan")
SERVICES = ("wan", "lan", "payments", "crm", "mail")
CONFIG = DeskConfig(
    groups={
        "service-desk": AssignmentGroup("service-desk", ("ana", "ben", "chloe", ME)),
        "network": AssignmentGroup("network", ("dan", "eve", ME)),
        "database": AssignmentGroup("database", ("finn", "gia")),
        "l2": AssignmentGroup("l2", ("hugo", "ines")),
    },
    rules=(
        RoutingRule("network", services=frozenset({"wan", "lan"})),
        RoutingRule("database", services=frozenset({"payments"}), types=frozenset({"incident"})),
    ),
    escalations={"service-desk": "l2"},
)
# The statuses each type walks through, in order (incidents pick one of these ways).
WAYS = {
    "incident": (
        ("in_progress", "resolved", "closed"),
        ("in_progress", "on_hold", "in_progress", "resolved", "closed"),
        ("on_hold", "in_progress", "resolved"),
        ("resolved", "closed"),
    ),
    "problem": (("assessed", "root_cause_known", "fix_in_progress", "resolved", "closed"),),
    "change": (
        ("assessment", "approved", "scheduled", "implementing", "review", "closed"),
        ("assessment", "rejected", "closed"),
    ),
}


@dataclass
class Built:
    """The desk after the commands, the batches it published, and what building them cost."""

    desk: Desk
    batches: list[TicketBatch]
    commands: int
    changes: int
    seconds: float


def plan(n: int, end: datetime, seed: int = 1) -> list[Command]:
    """The commands of `n` tickets, in event time (`occurred_at`) over the `SPAN` before `end`."""
    rng, start, out = random.Random(seed), end - SPAN, []
    for i in range(n):
        tid, at = f"tkt_{i:06d}", start + SPAN * (i / n)
        kind = rng.choices(("incident", "problem", "change"), (70, 15, 15))[0]
        words = rng.sample(WORDS, 2)
        args = {
            "type": kind,
            "title": f"{words[0]} {words[1]} on host{rng.randrange(500)}",
            "description": f"reported {words[0]} trouble",
            "urgency": rng.randint(1, 3),
            "impact": rng.randint(1, 3),
            "services": rng.sample(SERVICES, rng.randint(0, 2)),
            "tags": rng.sample(("prod", "dc1", "dc2", "customer"), rng.randint(0, 2)),
        }
        out.append(_command("create", tid, at, args))
        steps = WAYS[kind][rng.randrange(len(WAYS[kind]))]
        for j, status in enumerate(steps[: rng.randint(0, len(steps))]):
            at += timedelta(minutes=rng.uniform(5, 240) if j == 0 else rng.uniform(30, 2 * 24 * 60))
            if at >= end:
                break
            extra = {"pending_reason": rng.choice(PENDING_REASONS)} if status == "on_hold" else {}
            out.append(_command("transition", tid, at, {"to": status, **extra}))
            if rng.random() < 0.1:
                out.append(_command("comment", tid, at, {"text": "looked at it"}))
            if rng.random() < 0.05:
                out.append(_command("assign", tid, at, {"assignee": rng.choice(("ana", ME))}))
    return sorted(out, key=lambda c: c.occurred_at)


def _command(action: str, target: str, at: datetime, args: dict) -> Command:
    return Command(
        event_id=f"bench:{target}:{action}:{at.timestamp()}",  # seeded runs make the same commands
        name=f"ticket.{action}",
        target=target,
        actor="bench",
        args=args,
        occurred_at=at,
    )


def build(n: int, end: datetime, seed: int = 1) -> Built:
    """`plan(n, end)` applied as the stage applies it, then the sweep advanced to `end`."""
    commands = plan(n, end, seed)
    desk, batches, changes, count = Desk(CONFIG), [], [], 0
    t0 = time.perf_counter()
    for offset, command in enumerate(commands):
        changes += desk.advance(command.occurred_at)
        outcome = desk.apply(command, "commands:0", offset)
        if outcome.refused:
            raise RuntimeError(f"the desk refused {command.name} {command.target}: {outcome.refused}")
        changes.append(outcome.change)
        if (offset + 1) % BATCH_COMMANDS == 0:
            batches.append(desk.batch(changes))
            count, changes = count + len(changes), []
    changes += desk.advance(end)
    batches.append(desk.batch(changes))
    return Built(desk, batches, len(commands), count + len(changes), time.perf_counter() - t0)


class NaiveDesk(Desk):
    """The baseline sweep: at each step, every timer of every ticket is read (no heap)."""

    def advance(self, at: datetime) -> list[TicketChanged]:
        if self.now is not None and at <= self.now:
            return []
        self.now = at
        return [c for t in list(self.tickets.values()) if (c := self.sweep(t, at)) is not None]

    def _index(self, ticket) -> None:  # nothing to keep: every step reads everything
        return None


@dataclass(frozen=True)
class Sweep:
    """An `advance` over a series of steps: calls, their time, and the crossings found."""

    calls: int
    seconds: float
    crossings: list[tuple[str, str, int, datetime]]  # (ticket id, timer kind, threshold, crossed at)
    median_call_s: float = 0.0  # the typical call: at a short step, one with nothing due

    @property
    def per_call_ms(self) -> float:
        return self.seconds * 1000 / self.calls

    @property
    def per_crossing_ms(self) -> float:
        return self.seconds * 1000 / max(1, len(self.crossings))


def restored(batches: Iterable[TicketBatch], desk: Callable[[DeskConfig], Desk] = Desk) -> Desk:
    out = desk(CONFIG)
    out.restore(batches)
    return out


def sweep(desk: Desk, start: datetime, step: timedelta, steps: int) -> Sweep:
    """`desk.advance` at `start + step`, `start + 2 step`, … (`steps` calls), timed."""
    found: list[tuple[str, str, int, datetime]] = []
    calls = []
    for i in range(1, steps + 1):
        t0 = time.perf_counter()
        changes = desk.advance(start + step * i)
        calls.append(time.perf_counter() - t0)
        found += [(c.ticket.ticket_id, e.kind, e.threshold, e.at) for c in changes for e in c.sla]
    return Sweep(steps, sum(calls), sorted(found), sorted(calls)[len(calls) // 2])


def rebuild(batches: list[TicketBatch]) -> tuple[float, float, Desk]:
    """(seconds to decode the batches' bytes, seconds to restore a Desk from them, the Desk)."""
    raw = [encode(b) for b in batches]
    t0 = time.perf_counter()
    decoded = [decode(r, TicketBatch) for r in raw]
    t1 = time.perf_counter()
    desk = restored(decoded)
    return t1 - t0, time.perf_counter() - t1, desk

"""Auto-ticketing policies, pure: what both sources share (correlated incidents, agents/autoticket.py,
and single alerts, agents/autoticket_alerts.py).

A source reduces what it reads to `Facts`; `matches` is the one test of a policy against them. The
ticket a match opens, the commands' deterministic ids and what a clear does are decided here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ems.itsm import states
from ems.schemas.command import Command
from ems.schemas.ticket import AutoPolicy, Ticket

ACTOR = "auto-ticket"
PRIORITY_LEVELS = {"P1": (1, 1), "P2": (1, 2), "P3": (1, 3), "P4": (3, 3)}  # (impact, urgency)
URGENCY_OF_SEVERITY = {"critical": 1, "major": 2}
DONE = ("resolved", "closed")


def ticket_id_for(ref: str) -> str:
    """The id of the auto ticket of an incident or an alert (by its id): the same on every run."""
    return "tkt_auto_" + hashlib.sha256(ref.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Facts:
    """What a policy looks at: the severity, the highest asset criticality (0: unknown), the
    services named or reached, and the tags of each current member (a single alert: its own)."""

    severity: str
    criticality: int
    services: frozenset[str]
    tag_sets: tuple[frozenset[str], ...]


def matches(policy: AutoPolicy, facts: Facts) -> bool:
    """Whether the facts meet the policy (empty criteria match anything)."""
    if policy.severities and facts.severity not in policy.severities:
        return False
    if facts.criticality < policy.min_criticality:
        return False
    if policy.services and not facts.services & set(policy.services):
        return False
    return not policy.tags or any(set(policy.tags) <= tags for tags in facts.tag_sets)


def first_match(policies: Iterable[AutoPolicy], facts: Facts) -> AutoPolicy | None:
    """The first policy that matches, or None."""
    return next((p for p in policies if matches(p, facts)), None)


def policy_of(policies: Iterable[AutoPolicy], ticket: Ticket) -> AutoPolicy | None:
    """The policy that opened an auto ticket (its name rides in the ticket's tags)."""
    return next((p for p in policies if ticket.tags and p.name in ticket.tags), None)


def ticket_fields(policy: AutoPolicy, severity: str, score: float, criticality: int) -> dict:
    """The `ticket.create` args a policy sets: type, tags, priority (or impact and urgency), group."""
    args: dict = {"type": policy.type, "tags": ["auto-ticket", policy.name]}
    if policy.priority is not None:
        args["impact"], args["urgency"] = PRIORITY_LEVELS[policy.priority]
    else:
        args["urgency"] = policy.urgency or URGENCY_OF_SEVERITY.get(severity, 3)
        if policy.impact is not None:
            args["impact"] = policy.impact
        else:
            args["impact_score"], args["criticality"] = score, criticality
    if policy.group is not None:
        args["group"] = policy.group
    return args


class Commands:
    """The commands one source change calls for, dated at its event time; the n-th has the id
    `auto:<ref>:<version>:<n>`, so the same change always makes the same commands."""

    def __init__(self, ref: str, version: int, at: datetime, reopen_days: int = states.REOPEN_DAYS) -> None:
        self.prefix, self.at, self.reopen_days = f"auto:{ref}:{version}", at, reopen_days
        self.out: list[Command] = []

    def __call__(self, action: str, target: str, reason: str = "", **args) -> None:
        self.out.append(
            Command(
                event_id=f"{self.prefix}:{len(self.out) + 1}",
                name=f"ticket.{action}",
                target=target,
                actor=ACTOR,
                reason=reason,
                args=args,
                occurred_at=self.at,
            )
        )

    def clear(self, ticket: Ticket, policy: AutoPolicy | None, why: str) -> None:
        """What cleared (resolved) the source does to its open ticket: resolve it (`on_clear: resolve`,
        when its status allows it), or else a work note saying so."""
        if ticket.status in DONE:
            return
        if (policy is None or policy.on_clear == "resolve") and "resolved" in self._allowed(ticket):
            self("transition", ticket.ticket_id, why, to="resolved")
        else:
            self("comment", ticket.ticket_id, text=why)

    def reopenable(self, ticket: Ticket) -> bool:
        """Whether a ticket may go back to `in_progress` now (a resolved incident, in its reopen window)."""
        return ticket.status == "resolved" and "in_progress" in self._allowed(ticket)

    def reopen(self, ticket: Ticket, why: str) -> None:
        """The source is failing again: a resolved ticket goes back to `in_progress` (past its reopen
        window a work note says so)."""
        if self.reopenable(ticket):
            self("transition", ticket.ticket_id, why, to="in_progress")
        elif ticket.status == "resolved":
            self("comment", ticket.ticket_id, text=f"{why}; the ticket is past its reopen window")

    def _allowed(self, ticket: Ticket) -> set[str]:
        life = states.Lifecycle(ticket.type, ticket.status, ticket.pending_reason, ticket.resolved_at)
        return set(states.allowed_transitions(life, max(self.at, ticket.updated_at), self.reopen_days))

"""The ticket stage's routing and escalation, on the Desk (agents/tickets.py): the group and assignee of
a new ticket (ems.itsm.routing), and one level up the escalation chain per SLA crossing configured."""

from __future__ import annotations

from collections import Counter

from ems.agents.desk_config import DeskConfig
from ems.itsm import routing
from ems.schemas.ticket import BadTicketCommand, CreateArgs, SlaEvent, Ticket

OPEN_FOR_LOAD = frozenset({"resolved", "closed", "rejected"})  # statuses that no longer load a person


class DeskRouting:
    """Mixed into the Desk: reads its config and tickets, keeps its last pick per group."""

    config: DeskConfig
    tickets: dict[str, Ticket]
    last_picks: dict[str, str]

    def _route(self, args: CreateArgs) -> tuple[str, str | None]:
        facts = routing.TicketFacts(
            args.type,
            frozenset(args.services),
            frozenset({args.site}) if args.site else frozenset(),
            frozenset(args.tags),
        )
        if args.group is not None and args.group not in self.config.groups:
            raise BadTicketCommand(f"ticket.create: group: {args.group!r} is not a configured group")
        return self._pick(facts, args.group)

    def _pick(self, facts: routing.TicketFacts, group: str | None) -> tuple[str, str | None]:
        """The group (by routing, unless given) and the member picked inside it; the pick is kept."""
        load = Counter(
            t.assignee for t in self.tickets.values() if t.assignee and t.status not in OPEN_FOR_LOAD
        )
        state = routing.AssignmentState(self.last_picks, load)
        c = self.config
        if group is not None:
            picked, after = routing.assign(facts, (), c.groups, group, state)
        else:
            picked, after = routing.assign(facts, c.rules, c.groups, c.default_group, state)
        self.last_picks = dict(after.last)
        return picked.group, picked.assignee

    def _escalate(self, ticket: Ticket, crossed: list[SlaEvent]) -> tuple[Ticket, str]:
        """One level up the group's escalation chain per crossing in `escalate_at` (an open ticket)."""
        notes, group, assignee = [], ticket.group, ticket.assignee
        for event in sorted(crossed, key=lambda e: (e.at, e.threshold)):
            upper = self.config.escalations.get(group)
            if event.threshold not in self.config.escalate_at or upper is None:
                continue
            if ticket.status in OPEN_FOR_LOAD:
                break
            facts = routing.TicketFacts(
                ticket.type,
                frozenset(ticket.services),
                frozenset({ticket.site}) if ticket.site else frozenset(),
                frozenset(ticket.tags),
            )
            notes.append(f"escalated from {group} to {upper}: SLA {event.kind} {event.threshold} %")
            group, assignee = self._pick(facts, upper)
        if not notes:
            return ticket, ""
        return ticket.model_copy(update={"group": group, "assignee": assignee}), "; ".join(notes)

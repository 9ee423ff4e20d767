"""Auto-ticketing of correlated incidents, pure: `ems.incidents` -> `ticket.*` commands for the Desk
(the policies, shared with single alerts: agents/autoticket_policy.py).

`AutoTicketer.on_incident(change)` returns the commands one incident change calls for; the ticket
stage applies them with the Desk (agents/tickets.py) in the same record as the operators' commands:
- an open incident without a ticket that matches a policy (`EMS_TICKET_AUTO_POLICIES`, first match
  wins) gets ONE ticket, linked to the incident and its current alerts. The ticket id follows from
  the incident id (`ticket_id_for`) and every command id from the incident version, so a redelivery,
  a replay or a restart finds the ticket there and opens no second one;
- a member alert that joins an incident with a ticket is linked to it;
- the incident resolving resolves the ticket (`on_clear: resolve`, when its status machine allows
  it) or adds a work note (`note`); a reopened incident reopens a ticket it resolved;
- an incident merged into another with no ticket of its own hands its ticket on (a link); into one
  with a ticket: a work note names that ticket.
Event time only: the commands carry the incident's update time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ems.agents.autoticket_policy import (
    ACTOR,
    Commands,
    Facts,
    first_match,
    policy_of,
    ticket_fields,
    ticket_id_for,
)
from ems.itsm import states
from ems.schemas.command import Command
from ems.schemas.incident import IncidentChanged, IncidentState, Member
from ems.schemas.ticket import AutoPolicy, Ticket

CREATE_LINKS = 100  # CreateArgs.links' limit: the rest are linked one by one


@dataclass
class Seen:
    """What the stage knows of one incident's current members (folded from its changes)."""

    members: dict[str, Member] = field(default_factory=dict)  # alert id -> latest membership


def incident_facts(incident: IncidentState, members: Iterable[Member]) -> Facts:
    """What a policy looks at in an incident with these current members."""
    members = list(members)
    services = {s.name for s in incident.impact.services} | {s for m in members for s in m.service}
    return Facts(
        incident.severity,
        incident.impact.criticality,
        frozenset(services),
        tuple(frozenset(m.tags) for m in members),
    )


class AutoTicketer:
    """The incidents' current members and which ticket each incident has."""

    def __init__(self, policies: Iterable[AutoPolicy], reopen_days: int = states.REOPEN_DAYS) -> None:
        self.policies = tuple(policies)
        self.reopen_days = reopen_days
        self.incidents: dict[str, Seen] = {}
        self.ticket_of: dict[str, str] = {}  # incident id -> ticket id (its own, or one handed on)

    def restore(self, tickets: Iterable[Ticket]) -> None:
        """Which incident has which auto ticket, from the tickets' incident links."""
        for ticket in tickets:
            if ticket.created_by == ACTOR:
                for link in ticket.links:
                    if link.kind == "incident":
                        self.ticket_of.setdefault(link.ref, ticket.ticket_id)

    def fold(self, change: IncidentChanged) -> None:
        """Remember the change's memberships (a restart folds the changes up to its position)."""
        seen = self.incidents.setdefault(change.incident.incident_id, Seen())
        for m in change.members:
            if m.left_at is None:
                seen.members[m.alert_id] = m
            else:
                seen.members.pop(m.alert_id, None)

    def on_incident(self, change: IncidentChanged, tickets: dict[str, Ticket]) -> list[Command]:
        """Fold the change and return the commands it calls for, given the tickets as they are."""
        self.fold(change)
        inc = change.incident
        command = Commands(inc.incident_id, inc.version, inc.updated_at, self.reopen_days)
        members = self.incidents[inc.incident_id].members
        ticket_id = self.ticket_of.get(inc.incident_id)
        if ticket_id is None or ticket_id not in tickets:
            policy = first_match(self.policies, incident_facts(inc, members.values()))
            if inc.status != "open" or policy is None:
                return []
            ticket_id = ticket_id_for(inc.incident_id)
            self.ticket_of[inc.incident_id] = ticket_id
            links = [{"kind": "incident", "ref": inc.incident_id}]
            links += [{"kind": "alert", "ref": a} for a in sorted(members)]
            args = {**_create_args(policy, inc), "links": links[:CREATE_LINKS]}
            command("create", ticket_id, f"auto-ticketing policy {policy.name}", **args)
            for link in links[CREATE_LINKS:]:
                command("link", ticket_id, **link)
            return command.out
        ticket = tickets[ticket_id]
        linked = {(x.kind, x.ref) for x in ticket.links}
        if ("incident", inc.incident_id) not in linked:
            command("link", ticket_id, kind="incident", ref=inc.incident_id)
        for alert_id in sorted(members):
            if ("alert", alert_id) not in linked:
                command("link", ticket_id, kind="alert", ref=alert_id)
        if change.kind == "resolved":
            why = f"incident {inc.incident_id} resolved: all its alerts cleared"
            command.clear(ticket, policy_of(self.policies, ticket), why)
        elif change.kind == "reopened":
            command.reopen(ticket, f"incident {inc.incident_id} reopened")
        elif change.kind == "merged" and inc.merged_into:
            survivor = self.ticket_of.get(inc.merged_into)
            if survivor is None or survivor not in tickets:  # it carries on with this ticket
                self.ticket_of[inc.merged_into] = ticket_id
                command("link", ticket_id, kind="incident", ref=inc.merged_into)
            elif survivor != ticket_id:
                number = tickets[survivor].number
                command(
                    "comment",
                    ticket_id,
                    text=f"incident {inc.incident_id} merged into {inc.merged_into}, ticketed as {number}",
                )
        return command.out


def _create_args(policy: AutoPolicy, inc: IncidentState) -> dict:
    """The ticket an incident gets under a policy (the policy's name rides in its tags)."""
    args: dict = {
        **ticket_fields(policy, inc.severity, inc.impact.score, inc.impact.criticality),
        "title": (inc.title or f"Incident {inc.incident_id}")[:1024],
        "description": _describe(inc),
        "services": sorted({s.name for s in inc.impact.services})[:32],
    }
    if inc.tenant is not None:
        args["tenant"] = inc.tenant
    return args


def _describe(inc: IncidentState) -> str:
    lines = [f"Opened by auto-ticketing for incident {inc.incident_id} ({inc.alerts} alerts)."]
    if inc.root_cause is not None:
        lines.append(f"Probable root cause: {inc.root_cause.evidence}")
    lines.append(
        f"Business impact {inc.impact.score:.0f}/100, revenue at risk {inc.impact.revenue_per_hour:.0f}/h"
    )
    return "\n".join(lines)

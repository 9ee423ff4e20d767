"""Auto-ticketing of single alerts, pure: alert changes (`ems.alerts`) -> `ticket.*` commands for the
Desk, when `EMS_TICKET_AUTO_SOURCE=alerts` (no correlation stage to group them into incidents).

`AlertTicketer.on_alert(change, tickets)` returns the commands one alert change calls for, under the
same policies as incidents (agents/autoticket_policy.py):
- an open or acknowledged alert without a ticket that matches gets ONE ticket, linked to the alert
  and its asset. Its id follows from the alert id and every command id from the alert version, so
  a redelivery, a replay or a restart finds it and opens no second one; an alert that matches only
  later (its severity rose) gets its ticket then;
- the alert resolved, closed or expired: the ticket is resolved (`on_clear: resolve`, when its
  status allows it) or noted; the alert reopened: a resolved ticket goes back to `in_progress`, or,
  when the ticket was closed or is past its reopen window, a new ticket (if it matches then) whose
  id follows from the alert id and the ticket's generation (`alert_ticket_id`: an alert keeps its
  id for ever, its fingerprint's).
The alert record carries no asset criticality: it comes, with the business services and the impact
score, from the asset snapshots (`ems.assets`) the way the correlation works out one member's impact
(`ml/correlation`: the topology and `impact`), so a policy means the same for both sources.
Event time only: the commands carry the time of the alert change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ems.agents.autoticket_policy import (
    DONE,
    Commands,
    Facts,
    first_match,
    policy_of,
    ticket_fields,
    ticket_id_for,
)
from ems.itsm import states
from ems.ml.correlation.episodes import ENDS, STARTS, Episode
from ems.ml.correlation.impact import impact
from ems.ml.correlation.topology import Topology
from ems.schemas.alert import AlertChanged, AlertState
from ems.schemas.asset import Asset, AssetChanged
from ems.schemas.command import Command
from ems.schemas.incident import Impact
from ems.schemas.ticket import AutoPolicy, Ticket

OPENS = frozenset({"open", "acknowledged"})  # a shelved alert was put aside on purpose: no ticket
CLEARED = frozenset({"resolved", "closed", "expired"})  # statuses


def alert_ticket_id(alert_id: str, generation: int) -> str:
    """The id of an alert's auto ticket: the first follows from the alert id, the n-th (the alert
    failing again once the previous one was closed, or resolved past its reopen window) from both."""
    return ticket_id_for(alert_id if generation == 0 else f"{alert_id}#{generation}")


def current_ticket(alert_id: str, tickets: dict[str, Ticket]) -> tuple[int, Ticket | None]:
    """The alert's latest auto ticket and its generation (-1 and None: none yet)."""
    generation, ticket = -1, None
    while (found := tickets.get(alert_ticket_id(alert_id, generation + 1))) is not None:
        generation, ticket = generation + 1, found
    return generation, ticket


def changed_at(change: AlertChanged) -> datetime:
    """The event time of an alert change: its latest transition's, or the change's own."""
    return max([change.occurred_at, *(t.at for t in change.transitions)])


class AlertTicketer:
    """The asset topology (for the alerts' criticality and services); the tickets say the rest."""

    def __init__(self, policies: Iterable[AutoPolicy], reopen_days: int = states.REOPEN_DAYS) -> None:
        self.policies = tuple(policies)
        self.reopen_days = reopen_days
        self.topology = Topology()

    def asset(self, changed: AssetChanged | Asset) -> None:
        """Take an asset snapshot."""
        self.topology.upsert(changed.asset if isinstance(changed, AssetChanged) else changed)

    def impact(self, alert: AlertState, since: datetime, at: datetime) -> Impact:
        """The impact at `at` of the alert failing since `since`, as the correlation works out one
        member's: its asset and what depends on it give the criticality and the business services."""
        episode = Episode.start(alert, since, 0)
        return impact([episode], self.topology, {}, since, max(at, since))

    def facts(self, alert: AlertState, found: Impact) -> Facts:
        """What a policy looks at in one alert (with its impact)."""
        services = {s.name for s in found.services} | set(alert.service)
        return Facts(alert.severity, found.criticality, frozenset(services), (frozenset(alert.tags),))

    def on_alert(self, change: AlertChanged, tickets: dict[str, Ticket]) -> list[Command]:
        """The commands one alert change calls for, given the tickets as they are."""
        alert = change.alert
        if not self.policies:
            return []
        command = Commands(alert.alert_id, alert.version, changed_at(change), self.reopen_days)
        kinds = {t.kind for t in change.transitions}
        generation, ticket = current_ticket(alert.alert_id, tickets)
        fresh = ticket is not None and "reopened" in kinds and ticket.status in DONE
        if ticket is None or (fresh and not command.reopenable(ticket)):
            if alert.status in OPENS:
                starts = [t.at for t in change.transitions if t.kind in STARTS]
                found = self.impact(alert, max(starts, default=alert.first_seen), command.at)
                policy = first_match(self.policies, self.facts(alert, found))
                if policy is not None:
                    ticket_id = alert_ticket_id(alert.alert_id, generation + 1)
                    reason = f"auto-ticketing policy {policy.name}"
                    command("create", ticket_id, reason, **_create_args(policy, alert, found))
            return command.out
        if alert.status in CLEARED and kinds & ENDS:
            why = f"alert {alert.alert_id} {alert.status}: {alert.event} on {alert.resource}"
            command.clear(ticket, policy_of(self.policies, ticket), why)
        elif "reopened" in kinds and alert.status in OPENS:
            command.reopen(ticket, f"alert {alert.alert_id} reopened: {alert.event} on {alert.resource}")
        return command.out


def _create_args(policy: AutoPolicy, alert: AlertState, found: Impact) -> dict:
    """The ticket an alert gets under a policy (the policy's name rides in its tags)."""
    links = [{"kind": "alert", "ref": alert.alert_id}]
    if alert.asset_id:
        links.append({"kind": "asset", "ref": alert.asset_id})
    args: dict = {
        **ticket_fields(policy, alert.severity, found.score, found.criticality),
        "title": (alert.title or f"{alert.event} on {alert.resource}")[:1024],
        "description": _describe(alert, found),
        "services": sorted({s.name for s in found.services} | set(alert.service))[:32],
        "links": links,
    }
    if alert.tenant is not None:
        args["tenant"] = alert.tenant
    return args


def _describe(alert: AlertState, found: Impact) -> str:
    lines = [
        f"Opened by auto-ticketing for alert {alert.alert_id}: {alert.severity} {alert.event} on "
        f"{alert.resource} ({alert.source}, {alert.environment})."
    ]
    if alert.text:
        lines.append(alert.text[:4096])
    lines.append(
        f"Business impact {found.score:.0f}/100, asset criticality {found.criticality or 'unknown'}, "
        f"revenue at risk {found.revenue_per_hour:.0f}/h"
    )
    return "\n".join(lines)

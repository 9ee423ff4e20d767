"""The ticket routes: create (also from an alert), list, one ticket by number, transition, comment,
assign, link.

Writes are `ticket.*` commands on `ems.commands` with the caller as their actor (202 with the command
and ticket ids); `?wait=S` answers once the ticket stage applied it and the projection shows it (200
with the ticket). A transition is checked against the ticket's current status in the read model first:
a move the machine does not allow is a 409 naming the moves that are (ems.itsm.states); the stage
checks again and dead-letters a command that lost a race. Queries in `ems.api.tickets_query`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ems.api.errors import ApiError, field_errors
from ems.api.queries import fetch_alert
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of, tenant_to_record
from ems.api.ticket_filters import TicketCounts, TicketFilters, TicketGroups, TicketListQuery, groups_of
from ems.api.tickets_query import count_tickets, get_ticket, list_tickets, ticket_row, with_me
from ems.api.waiting import WaitQuery, poll
from ems.itsm import states
from ems.itsm.numbers import TicketNumberError, parse_number
from ems.schemas.command import Command
from ems.schemas.limits import Text
from ems.schemas.ticket import AssignArgs, CommentArgs, CreateArgs, LinkArgs, TransitionArgs

URGENCY_OF_SEVERITY = {"critical": 1, "major": 2}  # an alert's severity -> the ticket's default urgency


class TicketCreate(CreateArgs):
    """A new ticket; with `alert_id`, title, services, tags, links and urgency default from the alert."""

    title: Text(1024, 1) | None = Field(None, description="required unless alert_id is given")
    alert_id: Text(128, 1) | None = Field(None, description="open the ticket from this alert")
    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


class TicketTransition(TransitionArgs):
    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


class TicketComment(CommentArgs):
    pass


class TicketAssign(AssignArgs):
    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


class TicketLink(LinkArgs):
    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


class TicketAnswer(BaseModel):
    """The ticket command: accepted (202), or applied (200 with ?wait, with the ticket)."""

    status: Literal["accepted", "applied"]
    command_id: str
    ticket_id: str
    number: str | None = None
    ticket: dict[str, Any] | None = None
    attachment_id: str | None = Field(None, description="the attachment's id (attach)")


async def _submit(
    call: Call,
    action: str,
    ticket_id: str,
    args: dict,
    reason: str,
    number: str | None,
    **extra: str,
):
    try:
        cmd = Command(name=f"ticket.{action}", target=ticket_id, actor=call.actor, reason=reason, args=args)
    except ValidationError as exc:
        raise ApiError(422, "invalid command", field_errors(exc)) from None
    await call.state.appender.append(call.settings.topic("commands"), [cmd])
    answer = {
        "status": "accepted",
        "command_id": cmd.event_id,
        "ticket_id": ticket_id,
        "number": number,
        **extra,
    }
    wait = call.query.wait if call.query is not None else 0.0
    if wait:

        async def look(conn: Any) -> Any:
            q = "SELECT t.number FROM ticket_history h JOIN tickets t USING (ticket_id) WHERE h.cause = %s"
            row = await (await conn.execute(q, (cmd.event_id,))).fetchone()
            if row is None:
                return None
            return await get_ticket(conn, row["number"], tenant_of(call), call.settings.sla_calendars())

        found = await poll(call.state.pool, look, wait)
        if found is not None:
            number = found["ticket"]["number"]
            return JSON({**answer, "status": "applied", "number": number, "ticket": found}, status_code=200)
    return JSON(answer, status_code=202)


def _check_group(call: Call, group: str | None) -> None:
    """A 422 naming `group` when it is not a configured assignment group (create and assign alike)."""
    if group is not None and group not in groups_of(call.settings)["groups"]:
        raise ApiError(422, "validation failed", [{"field": "group", "message": "not a configured group"}])


async def create_ticket(call: Call) -> Any:
    body: TicketCreate = call.body
    update: dict[str, Any] = {}
    if body.alert_id is not None:
        update = await _from_alert(call, body)
    elif body.title is None:
        raise ApiError(422, "validation failed", [{"field": "title", "message": "required without alert_id"}])
    _check_group(call, body.group)
    if body.change_window is not None and body.type != "change":
        problem = [{"field": "change_window", "message": f"only a change has one, not this {body.type}"}]
        raise ApiError(422, "validation failed", problem)
    merged = {**body.model_dump(exclude={"alert_id", "reason"}, exclude_unset=True), **update}
    merged["tenant"] = tenant_to_record(tenant_of(call), merged.get("tenant"))  # 403: another tenant's
    try:
        args = CreateArgs.model_validate(merged)
    except ValidationError as exc:
        raise ApiError(422, "validation failed", field_errors(exc)) from None
    dumped = args.model_dump(mode="json", exclude_none=True)
    ticket_id = "tkt_" + uuid.uuid4().hex[:20]
    return await _submit(call, "create", ticket_id, dumped, body.reason, None)


async def _from_alert(call: Call, body: TicketCreate) -> dict[str, Any]:
    """What a ticket opened from an alert takes from it (what the body gives wins)."""
    async with call.state.pool.connection() as conn:
        alert = await fetch_alert(conn, body.alert_id, tenant=tenant_of(call))
        if alert is None:
            raise ApiError(422, "validation failed", [{"field": "alert_id", "message": "no such alert"}])
        criticality = None
        if alert["asset_id"]:
            q = "SELECT criticality FROM assets WHERE asset_id = %s"
            row = await (await conn.execute(q, (alert["asset_id"],))).fetchone()
            criticality = row["criticality"] if row else None
    given = body.model_fields_set
    links = [LinkArgs(kind="alert", ref=alert["alert_id"])]
    if alert["asset_id"]:
        links.append(LinkArgs(kind="asset", ref=alert["asset_id"]))
    if alert.get("incident_id"):
        links.append(LinkArgs(kind="incident", ref=alert["incident_id"]))
    out: dict[str, Any] = {
        "title": body.title or alert["title"] or f"{alert['resource']} {alert['event']}",
        "links": [*(lk.model_dump() for lk in body.links), *(lk.model_dump() for lk in links)],
    }
    if "urgency" not in given:
        out["urgency"] = URGENCY_OF_SEVERITY.get(alert["severity"], 3)
    if "services" not in given:
        out["services"] = list(alert["service"])
    if "tags" not in given:
        out["tags"] = list(alert["tags"])
    if "criticality" not in given and criticality:
        out["criticality"] = criticality
    if "tenant" not in given and alert["tenant"]:
        out["tenant"] = alert["tenant"]
    return out


async def _ticket(call: Call) -> dict[str, Any]:
    """The addressed ticket's row; 404 for a malformed or unknown number (or another tenant's)."""
    raw = call.path["number"]
    try:
        parse_number(raw)
    except TicketNumberError as exc:
        raise ApiError(404, str(exc)) from None
    async with call.state.pool.connection() as conn:
        row = await ticket_row(conn, raw.strip().upper(), tenant_of(call))
    if row is None:
        raise ApiError(
            404, f"no ticket {raw.strip().upper()} (if it was just created, create it with ?wait=)"
        )
    return row


async def transition_ticket(call: Call) -> Any:
    body: TicketTransition = call.body
    row = await _ticket(call)
    life = states.Lifecycle(row["type"], row["status"], row["pending_reason"], row["resolved_at"])
    try:
        states.transition(life, body.to, datetime.now(UTC), pending_reason=body.pending_reason)
    except states.TransitionNotAllowed as exc:
        raise ApiError(
            409, str(exc), [{"field": "to", "message": f"allowed: {', '.join(exc.allowed)}"}]
        ) from None
    except states.TicketStateError as exc:
        field = "to" if exc.field == "status" else exc.field
        raise ApiError(422, str(exc), [{"field": field, "message": str(exc)}]) from None
    if body.to == "scheduled" and row["change_window"] and not row["services"]:
        async with call.state.pool.connection() as conn:
            q = "SELECT 1 FROM ticket_links WHERE ticket_id = %s AND kind = 'asset'"
            if await (await conn.execute(q, (row["ticket_id"],))).fetchone() is None:
                why = "its window touches the linked assets and the services: it has neither"
                raise ApiError(422, f"{row['number']}: {why}", [{"field": "change_window", "message": why}])
    args = body.model_dump(mode="json", exclude={"reason"}, exclude_none=True)
    return await _submit(call, "transition", row["ticket_id"], args, body.reason, row["number"])


async def comment_ticket(call: Call) -> Any:
    body: TicketComment = call.body
    row = await _ticket(call)
    args = body.model_dump(mode="json")
    return await _submit(call, "comment", row["ticket_id"], args, "", row["number"])


async def assign_ticket(call: Call) -> Any:
    body: TicketAssign = call.body
    _check_group(call, body.group)
    row = await _ticket(call)
    args = body.model_dump(mode="json", exclude={"reason"}, exclude_none=True)
    return await _submit(call, "assign", row["ticket_id"], args, body.reason, row["number"])


async def link_ticket(call: Call) -> Any:
    body: TicketLink = call.body
    row = await _ticket(call)
    ref = body.ref
    if body.kind == "ticket":
        try:
            parse_number(ref)
        except TicketNumberError as exc:
            raise ApiError(422, "validation failed", [{"field": "ref", "message": str(exc)}]) from None
        ref = ref.upper()
    async with call.state.pool.connection() as conn:
        q = "SELECT 1 FROM ticket_links WHERE ticket_id = %s AND kind = %s AND ref = %s"
        if await (await conn.execute(q, (row["ticket_id"], body.kind, ref))).fetchone():
            raise ApiError(409, f"{row['number']} is linked to {body.kind} {ref} already")
    args = {"kind": body.kind, "ref": ref}
    return await _submit(call, "link", row["ticket_id"], args, body.reason, row["number"])


async def tickets_list(call: Call) -> Any:
    params = with_me(call.request.query_params, call.actor, call.settings.ticket_groups)
    async with call.state.pool.connection() as conn:
        return await list_tickets(conn, params, tenant_of(call))


async def tickets_counts(call: Call) -> Any:
    params = with_me(call.request.query_params, call.actor, call.settings.ticket_groups)
    async with call.state.pool.connection() as conn:
        return await count_tickets(conn, params, tenant_of(call))


async def ticket_groups(call: Call) -> Any:
    return groups_of(call.settings)


async def ticket_detail(call: Call) -> Any:
    row = await _ticket(call)
    async with call.state.pool.connection() as conn:
        found = await get_ticket(conn, row["number"], tenant_of(call), call.settings.sla_calendars())
    if found is None:
        raise ApiError(404, f"no ticket {row['number']}")
    return found


WRITE = {
    "query": WaitQuery,
    "response": TicketAnswer,
    "status": 202,
    "tags": ("tickets",),
}
NUMBER = "ticket number, e.g. INC0000001"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/tickets",
        create_ticket,
        permission="write:tickets",
        summary="Open a ticket (incident, problem, change), also from an alert",
        description="Appended as a `ticket.create` command with the caller as its actor (202 with the "
        "ticket id); the ticket stage numbers it, sets its priority from impact x urgency, routes it and "
        "starts its SLA timers. With `?wait=S` answered once applied (200 with the ticket and number).",
        body=TicketCreate,
        responses={200: "applied (with ?wait): the ticket", 422: "a bad field, or no such alert"},
        **WRITE,
    ),
    Endpoint(
        "GET",
        "/api/v1/tickets",
        tickets_list,
        permission="read:tickets",
        summary="List tickets: filters, sort, page or cursor",
        query=TicketListQuery,
        response=dict[str, Any],
        responses={400: "a bad filter, sort or cursor", 422: "a bad due_within"},
        tags=("tickets",),
    ),
    Endpoint(
        "GET",
        "/api/v1/tickets/counts",
        tickets_counts,
        permission="read:tickets",
        summary="Count tickets by status, priority, type, assignment group and breached",
        description="The list's filters (`assignee=me`, `due_within`, `breached`, ...), no paging.",
        query=TicketFilters,
        response=TicketCounts,
        responses={400: "a bad filter", 422: "a bad due_within"},
        tags=("tickets",),
    ),
    Endpoint(
        "GET",
        "/api/v1/tickets/groups",
        ticket_groups,
        permission="read:tickets",
        summary="The assignment groups a ticket may be created with (the default one first in routing)",
        response=TicketGroups,
        tags=("tickets",),
    ),
    Endpoint(
        "GET",
        "/api/v1/tickets/{number}",
        ticket_detail,
        permission="read:tickets",
        summary="One ticket by number: SLA timers read now, comments, links, history",
        response=dict[str, Any],
        responses={404: "no such ticket"},
        tags=("tickets",),
        path_types={"number": Text(32)},
    ),
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/transition",
        transition_ticket,
        permission="write:tickets",
        summary="Move a ticket to another status",
        description="Checked against the ticket's current status: a move its machine does not allow is "
        "a 409 naming the allowed ones; on_hold needs a `pending_reason` (422). " + NUMBER + ".",
        body=TicketTransition,
        responses={
            200: "applied (with ?wait): the ticket",
            404: "no such ticket",
            409: "not allowed from the current status (the allowed moves are named)",
            422: "an unknown status or a missing pending reason",
        },
        **WRITE,
    ),
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/comments",
        comment_ticket,
        permission="write:tickets",
        summary="Add a work note or a customer-visible comment to a ticket",
        body=TicketComment,
        responses={200: "applied (with ?wait): the ticket", 404: "no such ticket"},
        **WRITE,
    ),
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/assign",
        assign_ticket,
        permission="write:tickets",
        summary="Assign a ticket to a group, a person, or both ('' unassigns the person)",
        body=TicketAssign,
        responses={200: "applied (with ?wait): the ticket", 404: "no such ticket"},
        **WRITE,
    ),
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/links",
        link_ticket,
        permission="write:tickets",
        summary="Link a ticket to an alert, an incident, an asset or another ticket (by its number)",
        body=TicketLink,
        responses={
            200: "applied (with ?wait): the ticket",
            404: "no such ticket",
            409: "linked already",
            422: "a bad field (a ticket link's ref must be a ticket number)",
        },
        **WRITE,
    ),
]

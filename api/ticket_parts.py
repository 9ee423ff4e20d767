"""The ticket routes for attachments (links to files kept elsewhere) and a change's window.

`POST /api/v1/tickets/{number}/attachments` appends a `ticket.attach` command (the attachment's id is
made here, `att_…`, and answered with the 202), `DELETE .../attachments/{attachment_id}` a
`ticket.detach`, `POST /api/v1/tickets/{number}/change-window` a `ticket.change_window` (a change in
draft or assessment only: 409 otherwise). Same roles and answers as the other ticket writes
(ems.api.tickets).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from ems.api.errors import ApiError
from ems.api.routing import Call, Endpoint
from ems.api.tickets import NUMBER, WRITE, _submit, _ticket
from ems.schemas.limits import Text
from ems.schemas.ticket_parts import WINDOW_STATUSES, AttachmentFields, AttachmentId, ChangeWindowArgs


class TicketAttach(AttachmentFields):
    """A link to a file: `name`, an http(s) `url`, optionally `content_type` and `size` (bytes)."""

    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


class TicketChangeWindow(ChangeWindowArgs):
    reason: Text(4096) = Field("", description="why; kept in the ticket's history")


async def attach(call: Call) -> Any:
    body: TicketAttach = call.body
    row = await _ticket(call)
    attachment_id = "att_" + uuid.uuid4().hex[:20]
    args = body.model_dump(mode="json", exclude={"reason"}, exclude_none=True)
    args["attachment_id"] = attachment_id
    return await _submit(
        call, "attach", row["ticket_id"], args, body.reason, row["number"], attachment_id=attachment_id
    )


async def detach(call: Call) -> Any:
    row = await _ticket(call)
    attachment_id = call.path["attachment_id"]
    async with call.state.pool.connection() as conn:
        q = "SELECT removed_at FROM ticket_attachments WHERE ticket_id = %s AND attachment_id = %s"
        found = await (await conn.execute(q, (row["ticket_id"], attachment_id))).fetchone()
    if found is None or found["removed_at"] is not None:
        raise ApiError(404, f"{row['number']} has no attachment {attachment_id}")
    args = {"attachment_id": attachment_id}
    return await _submit(call, "detach", row["ticket_id"], args, "", row["number"])


async def set_change_window(call: Call) -> Any:
    body: TicketChangeWindow = call.body
    row = await _ticket(call)
    if row["type"] != "change":
        raise ApiError(409, f"{row['number']} is not a change ({row['type']}): only a change has a window")
    if row["status"] not in WINDOW_STATUSES:
        allowed = " or ".join(WINDOW_STATUSES)
        raise ApiError(
            409,
            f"{row['number']} is {row['status']}: a change's window is set in {allowed}",
            [{"field": "status", "message": f"allowed in: {allowed}"}],
        )
    args = body.model_dump(mode="json", exclude={"reason"})
    return await _submit(call, "change_window", row["ticket_id"], args, body.reason, row["number"])


ATTACHMENT = {"number": Text(32), "attachment_id": AttachmentId}
ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/attachments",
        attach,
        permission="write:tickets",
        summary="Attach a file to a ticket as a link (name, http(s) url, content type, size)",
        description="Appended as a `ticket.attach` command; the answer names the attachment's id "
        "(`attachment_id`). The file itself is kept elsewhere. " + NUMBER + ".",
        body=TicketAttach,
        responses={
            200: "applied (with ?wait): the ticket",
            404: "no such ticket",
            422: "a bad field: a name of 1-200 characters, an http(s) url of at most 2048",
        },
        **{**WRITE, "path_types": {"number": Text(32)}},
    ),
    Endpoint(
        "DELETE",
        "/api/v1/tickets/{number}/attachments/{attachment_id}",
        detach,
        permission="write:tickets",
        summary="Remove an attachment from a ticket (it stays in the ticket's history)",
        responses={200: "applied (with ?wait): the ticket", 404: "no such ticket or attachment"},
        **{**WRITE, "path_types": ATTACHMENT},
    ),
    Endpoint(
        "POST",
        "/api/v1/tickets/{number}/change-window",
        set_change_window,
        permission="write:tickets",
        summary="Set a change's window (start, end): its maintenance window once it is scheduled",
        description="A change in draft or assessment. When the change moves to `scheduled`, the ticket "
        "stage opens a maintenance window over it whose scope is the change's linked assets and its "
        "business services; it is cancelled if the change is closed before the window ends.",
        body=TicketChangeWindow,
        responses={
            200: "applied (with ?wait): the ticket",
            404: "no such ticket",
            409: "not a change, or not in draft or assessment",
            422: "a bad field (end not after start, a time without a zone)",
        },
        **{**WRITE, "path_types": {"number": Text(32)}},
    ),
]

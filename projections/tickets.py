"""The tickets read models from `ems.tickets`: `tickets`, `ticket_comments`, `ticket_links`, `sla_timers`,
`ticket_history` (infra/migrations/011_tickets.sql) and `ticket_attachments` (019_ticket_attachments.sql).

Pure mapping, as every projection: per change of a `TicketBatch`, the ticket row and its timer rows
(replaced by a higher version), a history row (first write wins), the comment or link it added, the
attachment it added or removed (replaced by a higher version: a removal keeps the row, marked).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.ticket import TicketBatch, TicketChanged

TICKET_COLUMNS = (
    "ticket_id",
    "number",
    "type",
    "tenant",
    "title",
    "description",
    "status",
    "pending_reason",
    "priority",
    "impact",
    "urgency",
    "assignment_group",
    "assignee",
    "requester",
    "services",
    "site",
    "tags",
    "created_by",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "comments",
    "sla_due_at",
    "sla_breached_at",
    "change_window",
    "version",
)
TIMER_COLUMNS = (
    "ticket_id",
    "kind",
    "target_s",
    "calendar",
    "state",
    "elapsed_s",
    "due_at",
    "breached_at",
    "emitted",
    "history",
    "version",
)
COMMENT_COLUMNS = ("ticket_id", "version", "at", "actor", "visibility", "text")
LINK_COLUMNS = ("ticket_id", "kind", "ref", "at", "by")
ATTACHMENT_COLUMNS = (
    "ticket_id",
    "attachment_id",
    "name",
    "url",
    "content_type",
    "size",
    "at",
    "by",
    "removed_at",
    "removed_by",
    "version",
)
HISTORY_COLUMNS = (
    "ticket_id",
    "version",
    "kind",
    "at",
    "actor",
    "from_status",
    "status",
    "reason",
    "cause",
    "sla",
)


class TicketsProjection:
    """TicketBatch -> tickets, timers, comments, links, history."""

    name = "tickets"
    topic = "tickets"
    record_type = TicketBatch
    ticket = Upsert("tickets", TICKET_COLUMNS, conflict=("ticket_id",), version="version")
    timer = Upsert("sla_timers", TIMER_COLUMNS, conflict=("ticket_id", "kind"), version="version")
    comment = Upsert("ticket_comments", COMMENT_COLUMNS, conflict=("ticket_id", "version"))
    link = Upsert("ticket_links", LINK_COLUMNS, conflict=("ticket_id", "kind", "ref"))
    history = Upsert("ticket_history", HISTORY_COLUMNS, conflict=("ticket_id", "version"))
    attachment = Upsert(
        "ticket_attachments", ATTACHMENT_COLUMNS, conflict=("ticket_id", "attachment_id"), version="version"
    )
    upserts = (ticket, timer, comment, link, history, attachment)

    def rows(self, record: TicketBatch) -> Iterable[tuple[Upsert, Row]]:
        for change in record.changes:
            yield from self.change_rows(change)

    def units(self, record: TicketBatch) -> Iterable[tuple[TicketChanged, Iterable]]:
        """Each change of a batch with its rows (a refused value costs that change only)."""
        for change in record.changes:
            yield change, self.change_rows(change)

    def change_rows(self, change: TicketChanged) -> Iterable[tuple[Upsert, Row]]:
        t = change.ticket
        running = [x.due_at for x in t.timers if x.state == "running" and x.due_at is not None]
        breaches = [x.breached_at for x in t.timers if x.breached_at is not None]
        yield (
            self.ticket,
            (
                t.ticket_id,
                t.number,
                t.type,
                t.tenant,
                t.title,
                t.description,
                t.status,
                t.pending_reason,
                t.priority,
                t.impact,
                t.urgency,
                t.group,
                t.assignee,
                t.requester,
                t.services,
                t.site,
                t.tags,
                t.created_by,
                t.created_at,
                t.updated_at,
                t.resolved_at,
                t.closed_at,
                t.comments,
                min(running, default=None),
                min(breaches, default=None),
                Jsonb(t.change_window.model_dump(mode="json")) if t.change_window else None,
                t.version,
            ),
        )
        for x in t.timers:
            history = Jsonb([h.model_dump(mode="json") for h in x.history])
            yield (
                self.timer,
                (
                    t.ticket_id,
                    x.kind,
                    x.target_s,
                    x.calendar,
                    x.state,
                    x.elapsed_s,
                    x.due_at,
                    x.breached_at,
                    x.emitted,
                    history,
                    t.version,
                ),
            )
        if change.comment is not None:
            c = change.comment
            yield (
                self.comment,
                (t.ticket_id, t.version, change.occurred_at, change.actor, c.visibility, c.text),
            )
        links = [change.link] if change.link is not None else t.links if change.kind == "created" else []
        for link in links:
            yield self.link, (t.ticket_id, link.kind, link.ref, link.at, link.by)
        if change.attachment is not None:
            a = change.attachment
            yield (
                self.attachment,
                (
                    t.ticket_id,
                    a.attachment_id,
                    a.name,
                    a.url,
                    a.content_type,
                    a.size,
                    a.at,
                    a.by,
                    a.removed_at,
                    a.removed_by,
                    t.version,
                ),
            )
        yield (
            self.history,
            (
                t.ticket_id,
                t.version,
                change.kind,
                change.occurred_at,
                change.actor,
                change.from_status,
                t.status,
                change.reason,
                change.cause,
                Jsonb([e.model_dump(mode="json") for e in change.sla]),
            ),
        )

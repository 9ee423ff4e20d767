"""The ticket stage's simpler actions, on the Desk (agents/tickets.py): comment, link, assign, attach,
detach and setting a change's window. Each returns the `TicketChanged` it makes through the Desk's
`_changed` (timers read, crossings emitted) or raises BadTicketCommand with the reason."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ems.schemas.command import Command
from ems.schemas.ticket import (
    AssignArgs,
    BadTicketCommand,
    Comment,
    CommentArgs,
    Link,
    LinkArgs,
    Ticket,
    TicketChanged,
)
from ems.schemas.ticket_parts import (
    MAX_ATTACHMENTS,
    WINDOW_STATUSES,
    AttachArgs,
    Attachment,
    ChangeWindow,
    ChangeWindowArgs,
    DetachArgs,
)


class DeskActions:
    """Mixed into the Desk, whose `_changed` makes the change record."""

    def _changed(self, ticket: Ticket, command: Command, kind: str, at: datetime, **extra) -> TicketChanged:
        raise NotImplementedError

    def _comment(self, ticket: Ticket, command: Command, args: CommentArgs) -> TicketChanged:
        after = ticket.model_copy(update={"comments": ticket.comments + 1})
        comment = Comment(text=args.text, visibility=args.visibility)
        return self._changed(after, command, "commented", event_at(ticket, command), comment=comment)

    def _link(self, ticket: Ticket, command: Command, args: LinkArgs) -> TicketChanged:
        if any((link.kind, link.ref) == (args.kind, args.ref) for link in ticket.links):
            raise BadTicketCommand(
                f"ticket.link: {ticket.number} is linked to {args.kind} {args.ref} already"
            )
        at = event_at(ticket, command)
        link = Link(kind=args.kind, ref=args.ref, at=at, by=command.actor)
        after = ticket.model_copy(update={"links": [*ticket.links, link]})
        return self._changed(after, command, "linked", at, link=link)

    def _assign(self, ticket: Ticket, command: Command, args: AssignArgs) -> TicketChanged:
        update: dict = {}
        if args.group is not None:
            update["group"] = args.group
        if args.assignee is not None:
            update["assignee"] = args.assignee or None
        after = ticket.model_copy(update=update)
        return self._changed(after, command, "assigned", event_at(ticket, command))

    def _attach(self, ticket: Ticket, command: Command, args: AttachArgs) -> TicketChanged:
        if any(a.attachment_id == args.attachment_id for a in ticket.attachments):
            raise BadTicketCommand(f"ticket.attach: {ticket.number} has {args.attachment_id} already")
        if len(ticket.attachments) >= MAX_ATTACHMENTS:
            raise BadTicketCommand(
                f"ticket.attach: {ticket.number} has {MAX_ATTACHMENTS} attachments, the most a ticket has"
            )
        at = event_at(ticket, command)
        attachment = Attachment(**args.model_dump(), at=at, by=command.actor)
        after = ticket.model_copy(update={"attachments": [*ticket.attachments, attachment]})
        return self._changed(after, command, "attached", at, attachment=attachment)

    def _detach(self, ticket: Ticket, command: Command, args: DetachArgs) -> TicketChanged:
        found = [a for a in ticket.attachments if a.attachment_id == args.attachment_id]
        if not found:
            raise BadTicketCommand(f"ticket.detach: {ticket.number} has no attachment {args.attachment_id}")
        at = event_at(ticket, command)
        removed = found[0].model_copy(update={"removed_at": at, "removed_by": command.actor})
        kept = [a for a in ticket.attachments if a.attachment_id != args.attachment_id]
        after = ticket.model_copy(update={"attachments": kept})
        return self._changed(after, command, "detached", at, attachment=removed)

    def _change_window(self, ticket: Ticket, command: Command, args: ChangeWindowArgs) -> TicketChanged:
        check_window_settable(ticket, "ticket.change_window")
        window = ChangeWindow(start=args.start, end=args.end)
        after = ticket.model_copy(update={"change_window": window})
        return self._changed(after, command, "change_window", event_at(ticket, command))


def check_window_settable(ticket: Ticket, action: str) -> None:
    """BadTicketCommand unless `ticket` is a change in draft or assessment."""
    if ticket.type != "change":
        raise BadTicketCommand(
            f"{action}: {ticket.number} is not a change ({ticket.type}): only a change has a window"
        )
    if ticket.status not in WINDOW_STATUSES:
        raise BadTicketCommand(
            f"{action}: {ticket.number} is {ticket.status}: a change's window is set in "
            f"{' or '.join(WINDOW_STATUSES)}"
        )


def event_at(ticket: Ticket, command: Command) -> datetime:
    """The command's event time, never before the ticket's last change (timer histories are ordered)."""
    return max(command.occurred_at, ticket.updated_at)


def unique(links: Iterable[LinkArgs]) -> list[LinkArgs]:
    seen: dict[tuple[str, str], LinkArgs] = {}
    for link in links:
        seen.setdefault((link.kind, link.ref), link)
    return list(seen.values())

"""A scheduled change's window as a maintenance window: the ticket stage's decision, pure.

A change ticket may carry a window (`Ticket.change_window`: start, end). When the change moves to
`scheduled`, the stage appends ONE `window.create` command for the suppression stage, the very command
`POST /api/v1/maintenance-windows` would append: a one-off window over the change's window whose scope
is the ticket's linked assets, or its business services when it links none (a window's scope parts
must all match, so naming both would cover only the alerts of those assets that also name one of
those services). When the change leaves its schedule (moved
out of scheduled / implementing / review, e.g. back to approved, or closed) before the window ends,
it appends the `window.cancel`.

The window id and both command ids follow from the ticket id and the version of the change that
decides them, so a redelivery, a replay or a restart of the stage makes the same ids: the suppression
stage applies a command id once, and a window id exists once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from ems.noise.errors import RuleError
from ems.schemas.command import Command
from ems.schemas.suppression import ScheduleArgs, ScopeArgs, WindowArgs
from ems.schemas.ticket import BadTicketCommand, Ticket

LIVE = frozenset({"scheduled", "implementing", "review"})  # a change's statuses while its window stands


def window_id_of(ticket_id: str, version: int) -> str:
    """The maintenance window opened by version `version` of ticket `ticket_id`."""
    return "mw_chg_" + hashlib.sha256(f"{ticket_id}:{version}".encode()).hexdigest()[:24]


def window_args(ticket: Ticket) -> WindowArgs:
    """The `window.create` arguments for a change ticket with a window: its assets, else its services."""
    cw = ticket.change_window
    assets = sorted({link.ref for link in ticket.links if link.kind == "asset"})
    scope = ScopeArgs(asset_ids=assets) if assets else ScopeArgs(business_services=list(ticket.services))
    return WindowArgs(
        title=f"{ticket.number}: {ticket.title}"[:1024],
        scope=scope,
        schedule=ScheduleArgs(start=cw.start, end=cw.end),
        mode="suppress",
        tenant=ticket.tenant,
    )


def check_scope(ticket: Ticket) -> None:
    """BadTicketCommand when a change with a window touches nothing (a window must have a scope)."""
    if ticket.change_window is None:
        return
    if not ticket.services and not any(link.kind == "asset" for link in ticket.links):
        raise BadTicketCommand(
            "ticket.transition: change_window: the window touches the change's linked assets and its "
            "business services, and it has neither (link an asset or give services first)"
        )


def on_transition(
    before: Ticket, after: Ticket, version: int, command: Command, at: datetime
) -> tuple[Ticket, list[Command], str]:
    """The ticket (its window's id or cancel time set), the window commands and a note for the history,
    for the move `before` -> `after` made as ticket version `version` by `command` at `at`."""
    cw = after.change_window
    if cw is None or after.type != "change":
        return after, [], ""
    if after.status == "scheduled" and before.status != "scheduled":
        check_scope(after)
        window_id = window_id_of(after.ticket_id, version)
        args = window_args(after)
        try:
            args.rule(window_id, command.actor)
        except RuleError as exc:  # (a scope or schedule the noise core refuses)
            raise BadTicketCommand(f"ticket.transition: change_window: {exc.field}: {exc.reason}") from None
        dumped = args.model_dump(mode="json", exclude_none=True)
        create = _command(after, version, "window.create", window_id, command, at, dumped)
        opened = cw.model_copy(update={"window_id": window_id, "cancelled_at": None})
        return after.model_copy(update={"change_window": opened}), [create], f"maintenance window {window_id}"
    leaving = before.status in LIVE and after.status not in LIVE
    if leaving and cw.window_id and cw.cancelled_at is None and at < cw.end:
        cancel = _command(after, version, "window.cancel", cw.window_id, command, at)
        ended = cw.model_copy(update={"cancelled_at": at})
        note = f"maintenance window {cw.window_id} cancelled"
        return after.model_copy(update={"change_window": ended}), [cancel], note
    return after, [], ""


def _command(
    ticket: Ticket,
    version: int,
    name: str,
    window_id: str,
    cause: Command,
    at: datetime,
    args: dict | None = None,
) -> Command:
    return Command(
        event_id=f"chg:{ticket.ticket_id}:{version}:{name}",
        name=name,
        target=window_id,
        actor=cause.actor,
        reason=f"change {ticket.number} {ticket.status}",
        occurred_at=at,
        args=args or {},
    )

"""Tickets on `ems.tickets`: the ticket commands' arguments, the ticket snapshot and `TicketBatch`.

The API appends `ticket.*` commands (`ems.schemas.command.Command`, target = ticket id) to
`ems.commands`, validating their args with the models here first (a bad one is a 4xx); the ticket
stage (agents/tickets_worker.py) validates them again, applies them with the pure core
(agents/tickets.py) and publishes its decisions to the single partition of `ems.tickets` as
`TicketBatch` records: each change carries the ticket's full snapshot after it (with its SLA timers),
what the change was, and the SLA warnings it noticed; the batch carries the command positions it
includes and the stage's counters, so the stage restarts from its own output alone.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ems.itsm.states import PENDING_REASONS
from ems.schemas.envelope import Record
from ems.schemas.limits import Count, Finite, Name, Offset, Positive, Tag, Text, Time, between, message
from ems.schemas.observation import Tenant
from ems.schemas.ticket_parts import (
    AttachArgs,
    Attachment,
    ChangeWindow,
    ChangeWindowArgs,
    DetachArgs,
)

TicketAction = Literal[
    "create", "transition", "comment", "link", "assign", "attach", "detach", "change_window"
]
ACTIONS: tuple[str, ...] = TicketAction.__args__  # type: ignore[attr-defined]
TicketKind = Literal["incident", "problem", "change"]
Visibility = Literal["work_note", "customer"]
LinkKind = Literal["alert", "incident", "asset", "ticket"]
Level = between(1, 3)  # impact and urgency: 1 high, 2 medium, 3 low
TicketId = Annotated[str, Field(min_length=5, max_length=64, pattern=r"^tkt_[A-Za-z0-9_-]+$")]
Services = Annotated[list[Name], Field(max_length=32)]
Tags = Annotated[list[Tag], Field(max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class LinkArgs(_Model):
    """`link`: relate the ticket to an alert, an incident, an asset or another ticket (by its number)."""

    kind: LinkKind
    ref: Text(128, 1) = Field(description="the alert id, incident id, asset id or ticket number")


class CreateArgs(_Model):
    """`create`: a new ticket. Without `impact`, it comes from `impact_score` and `criticality`."""

    type: TicketKind = "incident"
    title: Text(1024, 1)
    description: Text(16384) = ""
    urgency: Level = Field(3, description="1 high, 2 medium, 3 low")
    impact: Level | None = Field(None, description="1 high, 2 medium, 3 low; default: from the business")
    impact_score: Finite | None = Field(None, ge=0, le=100, description="business impact score, 0-100")
    criticality: between(0, 5) | None = Field(None, description="asset criticality 1-5 (0: unknown)")
    requester: Text(256) | None = None
    services: Services = Field(default_factory=list, description="business services it concerns")
    site: Text(256) | None = None
    tags: Tags = Field(default_factory=list)
    links: Annotated[list[LinkArgs], Field(max_length=100)] = Field(default_factory=list)
    tenant: Tenant | None = None
    group: Text(256, 1) | None = Field(None, description="the assignment group; default: by routing")
    change_window: ChangeWindowArgs | None = Field(
        None, description="a change's window: start, end (it touches the linked assets and the services)"
    )


class TransitionArgs(_Model):
    """`transition`: move to `to`; `pending_reason` when it is on_hold."""

    to: Text(64, 1)
    pending_reason: Literal[PENDING_REASONS] | None = None  # type: ignore[valid-type]


class CommentArgs(_Model):
    """`comment`: a work note (internal) or a customer-visible comment."""

    text: Text(16384, 1)
    visibility: Visibility = "work_note"


class AssignArgs(_Model):
    """`assign`: to a group, a person, or both ('' unassigns the person)."""

    group: Text(256) | None = None
    assignee: Text(256) | None = None

    @model_validator(mode="after")
    def _some(self) -> AssignArgs:
        if self.group is None and self.assignee is None:
            raise ValueError("give `group`, `assignee` or both")
        if self.group == "":
            raise ValueError("`group` cannot be empty: a ticket always has a group")
        return self


ARGS: dict[str, type[_Model]] = {
    "create": CreateArgs,
    "transition": TransitionArgs,
    "comment": CommentArgs,
    "link": LinkArgs,
    "assign": AssignArgs,
    "attach": AttachArgs,
    "detach": DetachArgs,
    "change_window": ChangeWindowArgs,
}


class BadTicketCommand(ValueError):
    """A ticket command whose action or arguments are invalid (the reason names the field)."""


def parse_ticket_args(action: str, args: dict[str, Any]) -> _Model:
    """Validate the arguments of `ticket.<action>`; BadTicketCommand with a precise reason otherwise."""
    model = ARGS.get(action)
    if model is None:
        raise BadTicketCommand(f"unknown ticket action {action!r}; expected one of {', '.join(ACTIONS)}")
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise BadTicketCommand(f"ticket.{action}: {where}: {message(first)}") from None


class RouteRule(_Model):
    """A routing rule (`EMS_TICKET_ROUTES`): tickets matching it go to `group` (see ems.itsm.routing)."""

    group: Text(256, 1)
    types: list[TicketKind] = Field(default_factory=list)
    services: list[Name] = Field(default_factory=list)
    sites: list[Text(256, 1)] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list, description="all required")


Priority = Literal["P1", "P2", "P3", "P4"]


class AutoPolicy(_Model):
    """An auto-ticketing policy (`EMS_TICKET_AUTO_POLICIES`, first match wins): a correlated incident
    (or, with `EMS_TICKET_AUTO_SOURCE=alerts`, a single alert) that matches gets one ticket
    (agents/autoticket_policy.py). Empty criteria match anything."""

    name: Text(128, 1)
    severities: list[Text(32, 1)] = Field(default_factory=list, description="any of; empty: any")
    min_criticality: between(0, 5) = Field(0, description="the highest asset criticality")
    services: list[Name] = Field(default_factory=list, description="any of (named or impacted)")
    tags: list[Tag] = Field(default_factory=list, description="all, on one current member")
    type: TicketKind = "incident"
    priority: Priority | None = Field(None, description="sets impact and urgency (P1: 1/1 ... P4: 3/3)")
    impact: Level | None = None
    urgency: Level | None = None
    group: Text(256, 1) | None = None
    on_clear: Literal["resolve", "note"] = "resolve"

    @model_validator(mode="after")
    def _one_way(self) -> AutoPolicy:
        if self.priority is not None and (self.impact is not None or self.urgency is not None):
            raise ValueError("give `priority` or `impact`/`urgency`, not both")
        return self


class StatusAt(_Model):
    at: Time
    status: Text(64, 1)


class SlaTimer(_Model):
    """One SLA timer: what is kept (target, calendar, the status history, thresholds emitted) and its
    reading as of the change that carries it."""

    kind: Literal["response", "resolution"]
    target_s: Finite = Field(gt=0)
    calendar: Name
    history: list[StatusAt]
    emitted: list[between(1, 100)] = Field(default_factory=list)
    state: Literal["running", "paused", "stopped"]
    elapsed_s: Finite = Field(ge=0)
    due_at: Time | None = None
    breached_at: Time | None = None


class Link(_Model):
    kind: LinkKind
    ref: Text(128, 1)
    at: Time
    by: Name


class Ticket(_Model):
    """A ticket after a change."""

    ticket_id: TicketId
    number: Text(16, 10)
    type: TicketKind
    tenant: Tenant | None = None
    title: Text(1024, 1)
    description: Text(16384) = ""
    status: Text(64, 1)
    pending_reason: Text(64) | None = None
    priority: Priority
    impact: Level
    urgency: Level
    group: Text(256)
    assignee: Text(256) | None = None
    requester: Text(256) | None = None
    services: Services = Field(default_factory=list)
    site: Text(256) | None = None
    tags: Tags = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    created_by: Name
    created_at: Time
    updated_at: Time
    resolved_at: Time | None = None
    closed_at: Time | None = None
    comments: Count = 0
    timers: list[SlaTimer] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list, description="current ones")
    change_window: ChangeWindow | None = None
    version: Positive


class Comment(_Model):
    text: Text(16384, 1)
    visibility: Visibility


class SlaEvent(_Model):
    """A threshold a timer crossed (50/75/90 %, 100 = the breach), at the event time it was crossed."""

    kind: Literal["response", "resolution"]
    threshold: between(1, 100)
    at: Time


ChangeKind = Literal[
    "created",
    "transitioned",
    "commented",
    "linked",
    "assigned",
    "sla",
    "attached",
    "detached",
    "change_window",
]


class TicketChanged(Record):
    """One applied ticket command: the ticket after it, what changed, and the SLA crossings noticed."""

    TYPE: ClassVar[str] = "ticket_changed"
    VERSION: ClassVar[int] = 1

    ticket: Ticket
    kind: ChangeKind
    actor: Name
    cause: Text(256, 1) = Field(description="the command's event id")
    reason: Text(4096) = ""
    from_status: Text(64) | None = None
    comment: Comment | None = None
    link: Link | None = None
    attachment: Attachment | None = Field(None, description="the one attached or detached")
    sla: list[SlaEvent] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return self.ticket.ticket_id


class TicketBatch(Record):
    """The ticket stage's decisions of one input batch (all or nothing), with the command positions
    they include, the last number issued per type and the last member picked per group."""

    TYPE: ClassVar[str] = "ticket_batch"
    VERSION: ClassVar[int] = 1

    changes: list[TicketChanged] = Field(default_factory=list)
    positions: dict[Text(300), Offset] = Field(
        default_factory=dict, description="'commands:p' or 'incidents:p' -> next input offset after it"
    )
    sequences: dict[TicketKind, Positive] = Field(default_factory=dict)
    last_picks: dict[Text(256), Text(256)] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return "tickets"

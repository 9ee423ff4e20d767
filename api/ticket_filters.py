"""The ticket list's and counts' query parameters (`GET /api/v1/tickets`, `/tickets/counts`) and the
counts' and the groups' answers, as documented in the OpenAPI document; the filters themselves are applied by
ems.api.tickets_query."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LinkFilter = Annotated[str, Field(max_length=256, pattern=r"^(alert|incident|asset|ticket):\s*\S")]


class TicketFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: list[str] = Field(default_factory=list, description="status (repeat for OR, ! to exclude)")
    priority: list[str] = Field(default_factory=list, description="P1, P2, P3, P4")
    type: list[str] = Field(default_factory=list, description="incident, problem, change")
    assignee: list[str] = Field(default_factory=list, description="a person; `me`: the caller")
    group: list[str] = Field(
        default_factory=list, description="assignment group; `mine`: the groups the caller is a member of"
    )
    number: list[str] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list, description="business service")
    tag: list[str] = Field(default_factory=list)
    breached: Literal["true", "false"] | None = Field(None, description="an SLA timer has breached")
    due_within: str | None = Field(
        None,
        max_length=32,
        description="an SLA timer running (not met, not paused) and due within this time from now: "
        "30m, 2h, 1h30m, 1d (422 otherwise)",
    )
    link: list[LinkFilter] = Field(
        default_factory=list,
        description="linked to alert:<id>, incident:<id>, asset:<id> or ticket:<number> (repeat for OR)",
    )
    q: str | None = Field(None, max_length=1024, description="free text (title, number, description)")
    from_: str | None = Field(None, alias="from", description="updated_at at or after (ISO-8601)")
    to: str | None = Field(None, description="updated_at before (ISO-8601)")


class TicketListQuery(TicketFilters):
    sort: str | None = Field(
        None,
        description="updated_at (default -updated_at), created_at, priority; - for descending",
        json_schema_extra={"pattern": "^-?(updated_at|created_at|priority)$"},
    )
    limit: int = Field(50, ge=1, le=1000)
    page: int | None = Field(None, ge=1)
    cursor: str | None = Field(None, max_length=4096)


class TicketCounts(BaseModel):
    """Matching tickets counted per value of each field ("" for no assignment group)."""

    total: int
    by_status: dict[str, int]
    by_priority: dict[str, int]
    by_type: dict[str, int]
    by_group: dict[str, int]
    breached: dict[str, int] = Field(description='{"true": n, "false": m}')


class TicketGroups(BaseModel):
    """The assignment groups a ticket may be created with: the default one and the configured ones."""

    default: str = Field(description="EMS_TICKET_DEFAULT_GROUP: a ticket no routing rule matches")
    groups: list[str] = Field(description="every group, by name (EMS_TICKET_GROUPS and the default)")


def groups_of(settings: Any) -> dict[str, Any]:
    """The answer of `GET /api/v1/tickets/groups` from the settings."""
    default = settings.ticket_default_group
    return {"default": default, "groups": sorted({default, *settings.ticket_groups})}

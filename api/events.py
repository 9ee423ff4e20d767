"""`POST /api/v1/events` (validate, append Observations to the raw topic, 202 with the ids) and
`GET /api/v1/events` (the events read model)."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from ems.api.event_records import outgoing
from ems.api.idempotency import keyed_write
from ems.api.ingest import MAX_ITEMS, EventIn, parse_items
from ems.api.queries import EVENTS, build_list
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of, tenant_to_record
from ems.schemas.observation import Observation


async def post_events(call: Call) -> Any:
    payload = call.raw_body
    items = parse_items(payload, set(call.settings.severity_order))
    bound = tenant_of(call)
    tenants = [tenant_to_record(bound, item.tenant) for item in items]  # 403 before anything is appended
    keyed = await keyed_write(call.request, payload, call.settings.idempotency_ttl)
    posted = payload if isinstance(payload, list) else [payload]
    actor = call.actor
    records = [
        outgoing(item, sent, tenant=tenant, submitted_by=actor, keyed=keyed, index=i)
        for i, (item, sent, tenant) in enumerate(zip(items, posted, tenants, strict=True))
    ]
    await call.state.appender.append_encoded(
        call.settings.topic("observations.raw"), [(r.key, r.value) for r in records]
    )
    call.state.metrics.accepted.inc(len(records))
    ids = [r.event_id for r in records]
    body = (
        {"status": "accepted", "id": ids[0]}
        if not isinstance(payload, list)
        else {"status": "accepted", "ids": ids}
    )
    return JSON(body, status_code=202)


async def list_events(call: Call) -> Any:
    query = build_list(EVENTS, call.request.query_params, sql.SQL("*"), tenant_of(call))
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(query.select, query.params)).fetchall()
        total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
    body: dict[str, Any] = {"events": rows, "total": total, "limit": query.limit}
    if query.page is not None:
        body["page"] = query.page
    if len(rows) == query.limit:
        last = rows[-1]
        body["next_cursor"] = query.cursor_after(last)
    return body


class EventListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: list[str] = Field(default_factory=list, description="repeat for OR, ! to exclude")
    severity: list[str] = Field(default_factory=list)
    event: list[str] = Field(default_factory=list)
    resource: list[str] = Field(default_factory=list)
    asset_id: list[str] = Field(default_factory=list)
    environment: list[str] = Field(default_factory=list)
    fingerprint: list[str] = Field(default_factory=list)
    tenant: list[str] = Field(default_factory=list, description="within the caller's own tenant, if bound")
    tag: list[str] = Field(default_factory=list, description="tags contain the value")
    q: str | None = Field(None, max_length=1024, description="free text")
    from_: str | None = Field(None, alias="from", description="occurred at or after (ISO-8601)")
    to: str | None = Field(None, description="occurred before (ISO-8601)")
    sort: str | None = Field(
        None, description="occurred_at, - for descending", json_schema_extra={"pattern": "^-?occurred_at$"}
    )
    limit: int = Field(50, ge=1, le=1000)
    page: int | None = Field(None, ge=1)
    cursor: str | None = Field(None, max_length=4096)


class Accepted(BaseModel):
    status: str
    id: str | None = None
    ids: list[str] | None = None


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/events",
        post_events,
        permission="write:observations",
        summary="Ingest one event or observation, or an array of up to 1000",
        description="Each item is validated first (422 lists every bad field; nothing is appended then); "
        "an item with a `body` is a full Observation (collectors). "
        "`Idempotency-Key` makes a retry apply once. A caller bound to a tenant writes for it (an item "
        "naming another tenant is a 403).",
        body=list[EventIn | Observation] | EventIn | Observation,
        validate_body=False,
        response=Accepted,
        status=202,
        responses={
            403: "the caller lacks write:observations, or an item names a tenant other than its own",
            413: f"over {MAX_ITEMS} items or the size limit",
            422: "invalid events",
        },
        tags=("events",),
        cost=lambda body: len(body) if isinstance(body, list) else 1,
        idempotent=True,
    ),
    Endpoint(
        "GET",
        "/api/v1/events",
        list_events,
        permission="read:alerts",
        summary="List received events: filters, sort, page or cursor",
        query=EventListQuery,
        response=dict[str, Any],
        responses={400: "a bad filter, sort or cursor"},
        tags=("events",),
    ),
]

"""The heartbeat routes: send a beat, list the heartbeats with their status (docs/noise.md "Heartbeats").

A beat is a heartbeat observation appended to `ems.observations.raw` (202 with its id and the
heartbeat id), as Alerta's `POST /api/heartbeat` appends one: both feed the heartbeat stage
(agents/heartbeats.py), whose decisions the `heartbeats` read model shows. A bad field is a 422 naming
it. The status listed is the stage's, decided in event time, not recomputed when read.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import stamp, tenant_of, visible
from ems.projections import heartbeats as projection
from ems.schemas.heartbeat import heartbeat_id
from ems.schemas.limits import Attributes, Name, Time
from ems.schemas.observation import HeartbeatBody, Observation, Tags, Tenant

COLUMNS = tuple(c for c in projection.COLUMNS if c != "version")  # the read model's, as answered


class HeartbeatPost(BaseModel):
    """One beat: the origin is alive and promises another within `timeout` seconds."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    origin: Name = Field(description="Who is alive, e.g. `cron/backup@web01` or `snmp-collector@host`")
    timeout: int = Field(120, ge=1, le=86_400, description="Seconds within which the next beat is due")
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(
        default_factory=dict, description="Kept with the heartbeat; `environment` names the missing alert's"
    )
    created_at: Time | None = Field(None, description="The sender's time of the beat (latency from it); now")
    tenant: Tenant | None = None


class HeartbeatAccepted(BaseModel):
    status: Literal["accepted"]
    id: str = Field(description="the beat's event id")
    heartbeat_id: str


class HeartbeatListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Literal["ok", "slow", "expired"]] = Field(default_factory=list, description="repeat for OR")
    origin: Name | None = Field(None, description="this origin only")
    limit: int = Field(100, ge=1, le=1000)


async def post_heartbeat(call: Call) -> Any:
    body: HeartbeatPost = call.body
    beat = HeartbeatBody(timeout=body.timeout, tags=body.tags, attributes=body.attributes)
    extra = {"occurred_at": body.created_at} if body.created_at else {}
    [obs] = stamp(call, [Observation(source=body.origin, tenant=body.tenant, body=beat, **extra)])
    await call.state.appender.append(call.settings.topic("observations.raw"), [obs])
    answer = {"status": "accepted", "id": obs.event_id, "heartbeat_id": heartbeat_id(obs.source, obs.tenant)}
    return JSON(answer, status_code=202)


async def heartbeats_list(call: Call) -> Any:
    q: HeartbeatListQuery = call.query
    mine, args = visible(tenant_of(call))
    filters, params = [mine], list(args)
    if q.status:
        filters.append(sql.SQL("status = ANY(%s)"))
        params.append(q.status)
    if q.origin is not None:
        filters.append(sql.SQL("origin = %s"))
        params.append(q.origin)
    where = sql.SQL(" AND ").join(filters)
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    query = sql.SQL(
        "SELECT {}, count(*) OVER () AS total FROM heartbeats WHERE {} ORDER BY origin, heartbeat_id LIMIT %s"
    )
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(query.format(columns, where), (*params, q.limit))).fetchall()
    total = rows[0]["total"] if rows else 0
    return {"heartbeats": [{c: r[c] for c in COLUMNS} for r in rows], "total": total, "limit": q.limit}


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/heartbeats",
        post_heartbeat,
        permission="write:observations",
        summary="Send a heartbeat: the origin is alive and will beat again within `timeout` seconds",
        description="Appended as a heartbeat observation (202); when no beat follows within the timeout "
        "(in event time) a `HeartbeatMissing` alert is raised, cleared by the next beat.",
        body=HeartbeatPost,
        response=HeartbeatAccepted,
        status=202,
        responses={422: "a bad field: no origin, a timeout outside 1..86400, bad tags or attributes"},
        tags=("heartbeats",),
    ),
    Endpoint(
        "GET",
        "/api/v1/heartbeats",
        heartbeats_list,
        permission="read:health",
        summary="List heartbeats (by origin) with their status ok / slow / expired, latency and last beat",
        query=HeartbeatListQuery,
        response=dict[str, Any],
        tags=("heartbeats",),
    ),
]

"""HTTP adapters for the formats other tools already speak (Alertmanager, Alerta, PagerDuty).

Each endpoint validates the whole request first (a batch with one bad alert appends nothing),
appends to Kafka, and answers in the dialect of the tool that called it (errors too: the route
table's dialect), so those tools work unchanged. The translators are pure (`ems.api.formats`) and
validate with the same models the OpenAPI document shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import QueryParams
from starlette.requests import Request

from ems.agents.dedupe import alert_id_for
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import normalizer_from
from ems.api.alert_query import build_list, total_sql
from ems.api.alert_routes import alert_query
from ems.api.db import autocommit
from ems.api.errors import ApiError
from ems.api.formats import alerta, alertmanager, pagerduty
from ems.api.formats.alerta import AlertaAlert, AlertaHeartbeat
from ems.api.formats.alertmanager import AmWebhook
from ems.api.formats.common import FormatError, Severities
from ems.api.formats.pagerduty import PdEvent
from ems.api.queries import fetch_alert
from ems.api.responses import JSON
from ems.api.routing import PUBLIC, Call, Endpoint
from ems.api.tenancy import stamp, tenant_of
from ems.schemas.event import Event
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings


class Context:
    """What the integration handlers share, built once per application from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.raw, self.commands = settings.topic("observations.raw"), settings.topic("commands")
        self.severities = Severities.of(settings.severity_order, settings.clearing_severities)
        self.policy = LifecyclePolicy.of(settings)
        self.normalizer = normalizer_from(settings)  # the pipeline's own, correlated event names included

    def normalized(self, obs: Observation) -> Event:
        return self.normalizer.normalize(obs, 0, 0)  # the position is not part of the fingerprint

    def check_severities(self, observations: list[Observation], where: str) -> None:
        """Refuse severities missing from EMS_SEVERITY_ORDER (e.g. a mapping default removed there)."""
        bad = [
            {"field": where.format(i=i), "message": f"severity {o.body.severity!r} is not configured"}
            for i, o in enumerate(observations)
            if isinstance(o.body, EventBody) and o.body.severity not in self.severities.known
        ]
        if bad:
            raise FormatError(bad)


def context(call: Call) -> Context:
    ctx = getattr(call.state, "integrations", None)
    if ctx is None:
        ctx = call.state.integrations = Context(call.settings)
    return ctx


async def post_alertmanager(call: Call) -> Any:
    ctx = context(call)
    observations = alertmanager.translate(call.raw_body, ctx.severities)
    ctx.check_severities(observations, "alerts[{i}].labels.severity")
    observations = stamp(call, observations)
    await call.state.appender.append(ctx.raw, observations)
    return JSON({"status": "accepted", "ids": [o.event_id for o in observations]}, status_code=202)


async def post_alerta(call: Call) -> Any:
    ctx = context(call)
    [obs] = stamp(call, [alerta.translate(call.raw_body, ctx.severities)], "customer")
    event = ctx.normalized(obs)  # the tenant is part of the fingerprint: this tenant's alert
    alert_id = alert_id_for(event.fingerprint)
    async with autocommit(call.state.pool) as conn:
        row = await (
            await conn.execute("SELECT * FROM alerts WHERE fingerprint = %s", (event.fingerprint,))
        ).fetchone()
    before = alerta.state_of(row) if row else None
    # The answer is built before the append: nothing may fail once the write took effect.
    view = alerta.reply(
        before, event, ctx.policy, f"{_base(call.request)}/alert/{alert_id}", datetime.now(UTC)
    )
    await call.state.appender.append(ctx.raw, [obs])
    return JSON({"status": "ok", "id": alert_id, "alert": view}, status_code=201)


async def post_heartbeat(call: Call) -> Any:
    [obs] = stamp(call, [alerta.translate_heartbeat(call.raw_body)], "customer")
    view = alerta.heartbeat_view(obs, f"{_base(call.request)}/heartbeat/{obs.event_id}", datetime.now(UTC))
    await call.state.appender.append(context(call).raw, [obs])
    return JSON({"status": "ok", "id": obs.event_id, "heartbeat": view}, status_code=201)


async def get_alerta_alert(call: Call) -> Any:
    alert_id = call.path["alert_id"]
    async with call.state.pool.connection() as conn:
        row = await fetch_alert(conn, alert_id, tenant=tenant_of(call))
    state = alerta.state_of(row) if row else None
    if state is None:
        raise ApiError(404, f"alert {alert_id!r} not found")
    view = alerta.alert_view(state, f"{_base(call.request)}/alert/{state.alert_id}")
    return {"status": "ok", "alert": view, "total": 1}


async def get_alerta_alerts(call: Call) -> Any:
    """Alerta's list, through the native alert-list builder (same filters, same SQL)."""
    q, params = call.request.query_params, []
    for name in ("severity", "environment", "resource", "event"):
        params += [(name, v) for v in q.getlist(name)]
    params += [("tenant", v) for v in q.getlist("customer")]
    params += [("status", {"closed": "resolved"}.get(v, v)) for v in q.getlist("status")]
    params += [("limit", str(call.query.page_size)), ("page", str(call.query.page)), ("total", "exact")]
    query = await alert_query(call, build_list, QueryParams(params))
    async with call.state.pool.connection() as conn:
        rows = (await (await conn.execute(query.select, query.args)).fetchall())[: query.limit]
        total = (await (await conn.execute(total_sql(query.where, None), query.where_args)).fetchone())["n"]
    base = _base(call.request)
    states = [s for s in map(alerta.state_of, rows) if s is not None]
    alerts = [alerta.alert_view(s, f"{base}/alert/{s.alert_id}") for s in states]
    return alerta.alerts_page(alerts, total, query.page or 1, query.limit, datetime.now(UTC))


async def get_config(call: Call) -> Any:
    order = list(call.settings.severity_order)
    return {
        "endpoint": _base(call.request),
        "provider": "basic",
        "auth_required": True,
        "customer_views": True,
        "alarm_model": {"name": "EMS", "severity": {s: i for i, s in enumerate(order)}},
        "severity": {s: i for i, s in enumerate(order)},
        "timeouts": {"alert": alerta.DEFAULT_TIMEOUT, "heartbeat": alerta.DEFAULT_TIMEOUT},
    }


async def post_pagerduty(call: Call) -> Any:
    ctx = context(call)
    event = pagerduty.parse(call.raw_body)
    key, obs = pagerduty.translate(event, ctx.severities)
    ctx.check_severities([obs], "payload.severity")
    [obs] = stamp(call, [obs])  # an acknowledge acts on the alert of the caller's tenant
    if event.event_action == "acknowledge":
        command = pagerduty.ack_command(ctx.normalized(obs).fingerprint, key, call.actor)
        await call.state.appender.append(ctx.commands, [command])
    else:
        await call.state.appender.append(ctx.raw, [obs])
    return JSON({"status": "success", "message": "Event processed", "dedup_key": key}, status_code=202)


class AlertaQuery(BaseModel):
    """Alerta's alert-list parameters (the subset served: repeat a field for OR)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    severity: list[str] = Field(default_factory=list)
    environment: list[str] = Field(default_factory=list)
    resource: list[str] = Field(default_factory=list)
    event: list[str] = Field(default_factory=list)
    customer: list[str] = Field(
        default_factory=list, description="tenant (within the caller's own, if bound)"
    )
    status: list[str] = Field(
        default_factory=list, description="open, ack, shelved, closed (= resolved), ..."
    )
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=1000, alias="page-size")


class AmAccepted(BaseModel):
    status: str
    ids: list[str]


class AlertaReply(BaseModel):
    status: str
    id: str | None = None
    alert: dict[str, Any] | None = None
    heartbeat: dict[str, Any] | None = None
    total: int | None = None


class AlertaList(BaseModel):
    status: str
    alerts: list[dict[str, Any]]
    total: int
    page: int
    pageSize: int  # noqa: N815 - Alerta's name
    pages: int
    more: bool
    lastTime: str | None = None  # noqa: N815 - Alerta's name
    autoRefresh: bool | None = None  # noqa: N815 - Alerta's name


class PdReply(BaseModel):
    status: str
    message: str
    dedup_key: str


def _pd(path: str) -> Endpoint:
    return Endpoint(
        "POST",
        path,
        post_pagerduty,
        permission="write:observations",
        summary="PagerDuty Events API v2 (trigger, acknowledge, resolve)",
        description="PagerDuty clients send no credential header: an API key with `write:observations` "
        "as the event's `routing_key` authenticates it (or any credential header).",
        body=PdEvent,
        validate_body=False,
        response=PdReply,
        status=202,
        responses={400: "invalid event"},
        tags=("integrations",),
        dialect="pagerduty",
        body_credential=lambda body: body.get("routing_key"),
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/integrations/alertmanager",
        post_alertmanager,
        permission="write:observations",
        summary="Prometheus Alertmanager webhook (version 4)",
        body=AmWebhook,
        validate_body=False,
        response=AmAccepted,
        status=202,
        responses={422: "an alert of the batch is invalid: nothing is appended"},
        tags=("integrations",),
        dialect="alertmanager",
        cost=lambda body: len(body.get("alerts") or []) if isinstance(body, dict) else 1,
    ),
    Endpoint(
        "POST",
        "/api/alert",
        post_alerta,
        permission="write:observations",
        summary="Alerta: send an alert",
        body=AlertaAlert,
        validate_body=False,
        response=AlertaReply,
        status=201,
        responses={400: "invalid alert", 403: "the customer is not the caller's tenant"},
        tags=("alerta",),
        dialect="alerta",
    ),
    Endpoint(
        "GET",
        "/api/alert/{alert_id}",
        get_alerta_alert,
        permission="read:alerts",
        summary="Alerta: one alert",
        response=AlertaReply,
        responses={404: "no such alert"},
        tags=("alerta",),
        dialect="alerta",
    ),
    Endpoint(
        "GET",
        "/api/alerts",
        get_alerta_alerts,
        permission="read:alerts",
        summary="Alerta: list alerts",
        query=AlertaQuery,
        response=AlertaList,
        responses={400: "a bad parameter"},
        tags=("alerta",),
        dialect="alerta",
    ),
    Endpoint(
        "POST",
        "/api/heartbeat",
        post_heartbeat,
        permission="write:observations",
        summary="Alerta: send a heartbeat",
        body=AlertaHeartbeat,
        validate_body=False,
        response=AlertaReply,
        status=201,
        responses={400: "invalid heartbeat", 403: "the customer is not the caller's tenant"},
        tags=("alerta",),
        dialect="alerta",
    ),
    Endpoint(
        "GET",
        "/api/config",
        get_config,
        permission=PUBLIC,
        summary="Alerta: client configuration (severities, timeouts; read before login)",
        response=dict[str, Any],
        tags=("alerta",),
        dialect="alerta",
    ),
    _pd("/v2/enqueue"),
    _pd("/api/v1/integrations/pagerduty"),
]


def _base(request: Request) -> str:
    """The Alerta endpoint URL the client used (scheme://host/api)."""
    return str(request.base_url).rstrip("/") + "/api"

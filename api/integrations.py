"""HTTP adapters for the formats other tools already speak (Alertmanager, Alerta, PagerDuty).

Each endpoint validates the whole request first (a batch with one bad alert appends nothing),
rate-limits like `POST /api/v1/events`, appends to Kafka, and answers in the dialect of the tool
that called it, so those tools work unchanged. The translators are pure (`ems.api.formats`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import sql
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.agents.dedupe import alert_id_for
from ems.agents.lifecycle import LifecyclePolicy
from ems.agents.normalize_worker import normalizer_from
from ems.api.errors import Unavailable
from ems.api.formats import alerta, alertmanager, pagerduty
from ems.api.formats.common import FormatError, Severities
from ems.api.ingest import BadRequest, read_json
from ems.api.queries import ALERTS, build_list, fetch_alert
from ems.api.responses import JSON
from ems.schemas.event import Event
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings


class Throttled(Exception):
    """The client's rate limit is used up; retry after `reset` seconds."""

    def __init__(self, reset: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {reset}s")
        self.reset = reset


Errors = Callable[[int, str, list[dict[str, str]]], Response]


def _amerror(status: int, message: str, errors: list[dict[str, str]]) -> Response:
    return JSON({"error": message, **({"errors": errors} if errors else {})}, status_code=status)


def _alerta_error(status: int, message: str, errors: list[dict[str, str]]) -> Response:
    detail = [f"{e['field']}: {e['message']}" for e in errors]
    text = f"{message}: {'; '.join(detail)}" if detail else message
    return JSON({"status": "error", "message": text, "code": status, "errors": detail}, status_code=status)


def _pd_error(status: int, message: str, errors: list[dict[str, str]]) -> Response:
    if status == 429:
        body = {"status": "throttle event", "message": message}
    else:
        detail = [f"{e['field']}: {e['message']}" for e in errors] or [message]
        body = {"status": "invalid event", "message": "Event object is invalid", "errors": detail}
    return JSON(body, status_code=status)


def _client(request: Request) -> str:
    auth = request.headers.get("authorization", "")  # Alerta sends `Key <api key>`; accepted as is
    return request.headers.get("x-api-key") or auth or (request.client.host if request.client else "-")


def routes(settings: Settings) -> list[Route]:
    """The integration endpoints (see docs/ingest.md)."""
    raw, commands = settings.topic("observations.raw"), settings.topic("commands")
    severities = Severities.of(settings.severity_order, settings.clearing_severities)
    policy = LifecyclePolicy.of(settings)
    normalizer = normalizer_from(settings)  # the pipeline's own, correlated event names included

    def normalized(obs: Observation) -> Event:
        return normalizer.normalize(obs, 0, 0)  # the position is not part of the fingerprint

    def check_severities(observations: list[Observation], where: str) -> None:
        """Refuse severities missing from EMS_SEVERITY_ORDER (e.g. a mapping default removed there)."""
        bad = [
            {"field": where.format(i=i), "message": f"severity {o.body.severity!r} is not configured"}
            for i, o in enumerate(observations)
            if isinstance(o.body, EventBody) and o.body.severity not in severities.known
        ]
        if bad:
            raise FormatError(bad)

    async def send(request: Request, client: str, topic: str, records: list[Any]) -> None:
        allowed, _remaining, reset = await request.app.state.limiter.hit(client, len(records))
        if not allowed:
            raise Throttled(reset)
        await request.app.state.appender.append(topic, records)

    def handler(errors: Errors, work: Callable[[Request], Awaitable[Response]]) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                return await work(request)
            except BadRequest as exc:
                return errors(exc.status, exc.reason, exc.errors)
            except FormatError as exc:
                return errors(400 if errors is not _amerror else 422, "validation failed", exc.errors)
            except Throttled as exc:
                limit = settings.rate_limit_per_minute
                response = errors(429, f"rate limit of {limit} events per minute exceeded", [])
                response.headers["Retry-After"] = str(exc.reset)
                return response
            except Unavailable as exc:  # the tool's own error shape, plus our retry advice
                response = errors(503, exc.reason, [])
                extra = exc.body(write=request.method == "POST")
                body = {**orjson.loads(response.body), **{k: v for k, v in extra.items() if k != "error"}}
                return JSON(body, status_code=503, headers={"Retry-After": str(exc.retry_after)})

        return endpoint

    async def post_alertmanager(request: Request) -> Response:
        payload = await read_json(request, settings.max_payload_bytes)
        observations = alertmanager.translate(payload, severities)
        check_severities(observations, "alerts[{i}].labels.severity")
        await send(request, _client(request), raw, observations)
        return JSON({"status": "accepted", "ids": [o.event_id for o in observations]}, status_code=202)

    async def post_alerta(request: Request) -> Response:
        obs = alerta.translate(await read_json(request, settings.max_payload_bytes), severities)
        event = normalized(obs)
        alert_id = alert_id_for(event.fingerprint)
        async with request.app.state.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT * FROM alerts WHERE fingerprint = %s", (event.fingerprint,))
            ).fetchone()
        before = alerta.state_of(row) if row else None
        # The answer is built before the append: nothing may fail once the write took effect.
        view = alerta.reply(before, event, policy, f"{_base(request)}/alert/{alert_id}", datetime.now(UTC))
        await send(request, _client(request), raw, [obs])
        return JSON({"status": "ok", "id": alert_id, "alert": view}, status_code=201)

    async def post_heartbeat(request: Request) -> Response:
        obs = alerta.translate_heartbeat(await read_json(request, settings.max_payload_bytes))
        await send(request, _client(request), raw, [obs])
        view = alerta.heartbeat_view(obs, f"{_base(request)}/heartbeat/{obs.event_id}", datetime.now(UTC))
        return JSON({"status": "ok", "id": obs.event_id, "heartbeat": view}, status_code=201)

    async def get_alerta_alert(request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        async with request.app.state.pool.connection() as conn:
            row = await fetch_alert(conn, alert_id)
        state = alerta.state_of(row) if row else None
        if state is None:
            return _alerta_error(404, f"alert {alert_id!r} not found", [])
        view = alerta.alert_view(state, f"{_base(request)}/alert/{state.alert_id}")
        return JSON({"status": "ok", "alert": view, "total": 1})

    async def get_alerta_alerts(request: Request) -> Response:
        q, params = request.query_params, []
        for name in ("severity", "environment", "resource", "event"):
            params += [(name, v) for v in q.getlist(name)]
        params += [("status", {"closed": "resolved"}.get(v, v)) for v in q.getlist("status")]
        size = q.get("page-size", "50")
        params += [("limit", size), ("page", q.get("page", "1"))]
        query = build_list(ALERTS, QueryParams(params), sql.SQL("*"))
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(query.select, query.params)).fetchall()
            total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
        base = _base(request)
        states = [s for s in map(alerta.state_of, rows) if s is not None]
        alerts = [alerta.alert_view(s, f"{base}/alert/{s.alert_id}") for s in states]
        return JSON(alerta.alerts_page(alerts, total, query.page or 1, query.limit, datetime.now(UTC)))

    async def get_config(request: Request) -> Response:
        order = list(settings.severity_order)
        return JSON(
            {
                "endpoint": _base(request),
                "provider": "basic",
                "auth_required": False,
                "customer_views": False,
                "alarm_model": {"name": "EMS", "severity": {s: i for i, s in enumerate(order)}},
                "severity": {s: i for i, s in enumerate(order)},
                "timeouts": {"alert": alerta.DEFAULT_TIMEOUT, "heartbeat": alerta.DEFAULT_TIMEOUT},
            }
        )

    async def post_pagerduty(request: Request) -> Response:
        event = pagerduty.parse(await read_json(request, settings.max_payload_bytes))
        key, obs = pagerduty.translate(event, severities)
        check_severities([obs], "payload.severity")
        client = f"pagerduty:{event.routing_key}"
        if event.event_action == "acknowledge":
            await send(request, client, commands, [pagerduty.ack_command(normalized(obs).fingerprint, key)])
        else:
            await send(request, client, raw, [obs])
        return JSON({"status": "success", "message": "Event processed", "dedup_key": key}, status_code=202)

    return [
        Route("/api/v1/integrations/alertmanager", handler(_amerror, post_alertmanager), methods=["POST"]),
        Route("/api/alert", handler(_alerta_error, post_alerta), methods=["POST"]),
        Route("/api/alert/{alert_id}", handler(_alerta_error, get_alerta_alert), methods=["GET"]),
        Route("/api/alerts", handler(_alerta_error, get_alerta_alerts), methods=["GET"]),
        Route("/api/heartbeat", handler(_alerta_error, post_heartbeat), methods=["POST"]),
        Route("/api/config", handler(_alerta_error, get_config), methods=["GET"]),
        Route("/v2/enqueue", handler(_pd_error, post_pagerduty), methods=["POST"]),
        Route("/api/v1/integrations/pagerduty", handler(_pd_error, post_pagerduty), methods=["POST"]),
    ]


def _base(request: Request) -> str:
    """The Alerta endpoint URL the client used (scheme://host/api)."""
    return str(request.base_url).rstrip("/") + "/api"

"""The Starlette application: reads from the read models, writes by appending to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.api import alert_actions
from ems.api.alert_routes import routes as alert_routes
from ems.api.assets import routes as asset_routes
from ems.api.guards import RequestGuard
from ems.api.health import health_report
from ems.api.ingest import BadRequest, append, parse_observations, read_json
from ems.api.integrations import routes as integration_routes
from ems.api.metrics import ApiMetrics, MetricsMiddleware
from ems.api.openapi import openapi_spec
from ems.api.queries import EVENTS, ListSpec, build_list, encode_cursor, fetch_alert
from ems.api.ratelimit import RateLimiter
from ems.api.responses import JSON
from ems.api.series import routes as metric_series_routes
from ems.infra.migrate import check_schema_name, migrate
from ems.settings import Settings
from ems.streams.kafka import make_producer

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Build the API bound to the servers named in `settings`."""
    schema = check_schema_name(settings.read_model_schema)
    raw_topic = settings.topic("observations.raw")
    metrics = ApiMetrics()
    severities = set(settings.severity_order)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The read models exist before the first worker has run (migrations are idempotent).
        await asyncio.to_thread(migrate, settings.database_url.get_secret_value(), schema)
        pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=8,
            kwargs={"options": f"-c search_path={schema}", "row_factory": dict_row},
            open=False,
        )
        await pool.open()
        producer = make_producer(settings, linger_ms=1)
        await producer.start()
        redis = Redis.from_url(settings.redis_url.get_secret_value())
        app.state.pool, app.state.producer, app.state.redis = pool, producer, redis
        app.state.limiter = RateLimiter(redis, settings.rate_limit_per_minute)
        try:
            yield
        finally:
            await producer.stop()
            await pool.close()
            await redis.aclose()

    async def post_events(request: Request) -> Response:
        try:
            client = request.headers.get("x-api-key") or (request.client.host if request.client else "-")
            payload = await read_json(request, settings.max_payload_bytes)
            observations = parse_observations(payload, severities)
            allowed, remaining, reset = await request.app.state.limiter.hit(client, len(observations))
            if not allowed:
                metrics.rejected.labels("429").inc()
                return JSON(
                    {
                        "error": f"rate limit of {settings.rate_limit_per_minute} events per minute exceeded",
                        "retry_after": reset,
                    },
                    status_code=429,
                    headers={"Retry-After": str(reset)},
                )
            await append(request.app.state.producer, raw_topic, observations)
        except BadRequest as exc:
            metrics.rejected.labels(str(exc.status)).inc()
            return exc.response()
        metrics.accepted.inc(len(observations))
        ids = [o.event_id for o in observations]
        body = (
            {"status": "accepted", "id": ids[0]}
            if not isinstance(payload, list)
            else {"status": "accepted", "ids": ids}
        )
        return JSON(body, status_code=202, headers={"X-RateLimit-Remaining": str(remaining)})

    async def list_rows(request: Request, spec: ListSpec, key: str) -> Response:
        try:
            query = build_list(spec, request.query_params, sql.SQL("*"))
        except BadRequest as exc:
            return exc.response()
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(query.select, query.params)).fetchall()
            total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
        body: dict[str, Any] = {key: rows, "total": total, "limit": query.limit}
        if query.page is not None:
            body["page"] = query.page
        if len(rows) == query.limit:
            last = rows[-1]
            body["next_cursor"] = encode_cursor(last[query.sort_column], last[spec.id_column])
        return JSON(body)

    async def list_events(request: Request) -> Response:
        return await list_rows(request, EVENTS, "events")

    async def get_alert(request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        async with request.app.state.pool.connection() as conn:
            alert = await fetch_alert(conn, alert_id)
            if alert is None:
                return JSON({"error": f"no alert {alert_id!r}"}, status_code=404)
            history = await (
                await conn.execute(
                    "SELECT event_id, kind, at, severity, previous_severity, status, previous_status, "
                    "actor, reason FROM alert_history "
                    "WHERE alert_id = %s ORDER BY at, kind",
                    (alert["alert_id"],),
                )
            ).fetchall()
        return JSON({"alert": alert, "history": history})

    async def health(request: Request) -> Response:
        state = request.app.state

        async def postgres() -> None:
            async with state.pool.connection() as conn:
                await conn.execute("SELECT 1")

        ok, report = await health_report(
            {
                "kafka": lambda: state.producer.client.fetch_all_metadata(),
                "postgres": postgres,
                "redis": lambda: state.redis.ping(),
            }
        )
        return JSON({"status": "ok" if ok else "degraded", "checks": report}, status_code=200 if ok else 503)

    async def openapi(request: Request) -> Response:
        return JSON(openapi_spec())

    routes = [
        Route("/api/v1/events", post_events, methods=["POST"]),
        Route("/api/v1/events", list_events, methods=["GET"]),
        *alert_routes(settings),  # list, count, top: before /alerts/{alert_id}
        Route("/api/v1/alerts/{alert_id}", get_alert, methods=["GET"]),
        *alert_actions.routes(settings),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *integration_routes(settings),  # Alertmanager, Alerta and PagerDuty clients (docs/ingest.md)
        *metric_series_routes(settings),
        *asset_routes(settings),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(MetricsMiddleware, metrics=metrics), Middleware(RequestGuard)],
    )

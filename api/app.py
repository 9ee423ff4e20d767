"""The Starlette application: reads from the read models, writes by appending to Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.api import alert_actions
from ems.api.alert_routes import routes as alert_routes
from ems.api.appender import Appender
from ems.api.assets import routes as asset_routes
from ems.api.errors import EXCEPTION_HANDLERS, Unavailable
from ems.api.guards import RequestGuard
from ems.api.health import health_report, judge_stages
from ems.api.idempotency import IdempotentWrite, keyed_write
from ems.api.ingest import BadRequest, parse_observations, read_json
from ems.api.integrations import routes as integration_routes
from ems.api.metrics import ApiMetrics, MetricsMiddleware
from ems.api.openapi import openapi_spec
from ems.api.queries import EVENTS, ListSpec, build_list, encode_cursor, fetch_alert
from ems.api.ratelimit import ClientLimiter, Limit, RateLimiter
from ems.api.responses import JSON
from ems.api.series import routes as metric_series_routes
from ems.infra.migrate import check_schema_name, migrate
from ems.schemas.observation import Observation
from ems.settings import Settings
from ems.streams.failures import Backoff, describe
from ems.streams.heartbeat import namespace, read_heartbeats, redis_client

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Build the API bound to the servers named in `settings`.

    The API starts even when its servers are away: reads answer 503 until PostgreSQL is back, writes
    503 until Kafka is (see `ems.api.errors`), and the migrations are retried in the background.
    """
    schema = check_schema_name(settings.read_model_schema)
    raw_topic = settings.topic("observations.raw")
    metrics = ApiMetrics()
    severities = set(settings.severity_order)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=8,
            timeout=settings.api_read_timeout,
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "options": f"-c search_path={schema} "
                f"-c statement_timeout={int(settings.api_statement_timeout * 1000)}",
                "row_factory": dict_row,
                "connect_timeout": max(1, int(settings.db_connect_timeout)),
            },
            open=False,
        )
        await pool.open(wait=False)
        appender = Appender(settings)
        await appender.start()
        redis = redis_client(settings)
        app.state.pool, app.state.appender, app.state.redis = pool, appender, redis
        app.state.limiter = ClientLimiter(RateLimiter(redis), Limit(settings.rate_limit_per_minute))
        # The read models exist before the first worker has run (migrations are idempotent).
        migrating = asyncio.create_task(_migrate_when_reachable(settings, schema))
        try:
            yield
        finally:
            migrating.cancel()
            await appender.stop()
            await pool.close()
            await redis.aclose()

    async def post_events(request: Request) -> Response:
        client = request.headers.get("x-api-key") or (request.client.host if request.client else "-")
        try:
            payload = await read_json(request, settings.max_payload_bytes)
            observations = parse_observations(payload, severities)
        except BadRequest as exc:
            metrics.rejected.labels(str(exc.status)).inc()
            raise
        keyed = await keyed_write(request, payload, settings.idempotency_ttl)
        if keyed is not None:
            items = payload if isinstance(payload, list) else [payload]
            observations = [
                with_key_identity(o, item, keyed, i)
                for i, (o, item) in enumerate(zip(observations, items, strict=True))
            ]
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
        try:
            await request.app.state.appender.append(raw_topic, observations)
        except Unavailable:
            metrics.rejected.labels("503").inc()
            raise
        metrics.accepted.inc(len(observations))
        ids = [o.event_id for o in observations]
        body = (
            {"status": "accepted", "id": ids[0]}
            if not isinstance(payload, list)
            else {"status": "accepted", "ids": ids}
        )
        headers = {} if remaining is None else {"X-RateLimit-Remaining": str(remaining)}
        return JSON(body, status_code=202, headers=headers)

    async def list_rows(request: Request, spec: ListSpec, key: str) -> Response:
        query = build_list(spec, request.query_params, sql.SQL("*"))
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

    async def pipeline_health(request: Request) -> Response:
        """Servers and stages (200 healthy, 503 with the problems)."""
        state = request.app.state
        timeout = min(2.0, settings.api_read_timeout)

        async def kafka() -> None:
            if not state.appender.started:
                state.appender.start_soon()
                raise ConnectionError("no connection to Kafka yet")
            producer = await state.appender.producer()
            await producer.client.fetch_all_metadata()

        async def postgres() -> None:
            async with state.pool.connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")

        checks = await health_report(
            {"kafka": kafka, "postgres": postgres, "redis": lambda: state.redis.ping()}, timeout
        )
        problems = [f"{name}: {c['error']}" for name, c in checks.items() if not c["ok"]]
        stages: dict[str, Any] = {}
        if checks["redis"]["ok"]:
            try:
                seen, instances = await asyncio.wait_for(
                    read_heartbeats(state.redis, namespace(settings)), timeout
                )
                stages, stage_problems = judge_stages(seen, instances, time.time(), settings)
                problems += stage_problems
            except Exception as exc:  # noqa: BLE001 - a health answer, not a crash
                problems.append(f"stage heartbeats unreadable: {type(exc).__name__}: {exc}")
        else:
            problems.append("stage heartbeats unavailable while Redis is down")
        body = {"status": "ok" if not problems else "degraded", "problems": problems}
        body |= {"checks": checks, "stages": stages}
        return JSON(body, status_code=200 if not problems else 503)

    async def live(request: Request) -> Response:
        """This API process answers (for a process supervisor; says nothing about the pipeline)."""
        return JSON({"status": "ok"})

    async def openapi(request: Request) -> Response:
        return JSON(openapi_spec())

    routes = [
        Route("/api/v1/events", post_events, methods=["POST"]),
        Route("/api/v1/events", list_events, methods=["GET"]),
        *alert_routes(settings),  # list, count, top: before /alerts/{alert_id}
        Route("/api/v1/alerts/{alert_id}", get_alert, methods=["GET"]),
        *alert_actions.routes(settings),
        Route("/health", pipeline_health, methods=["GET"]),
        Route("/health/ready", pipeline_health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
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
        exception_handlers=EXCEPTION_HANDLERS,
    )


def with_key_identity(
    obs: Observation, item: dict[str, Any], keyed: IdempotentWrite, index: int
) -> Observation:
    """The observation of a keyed write: the derived id unless the item names its own, and the
    first request's time unless it names its own (see `ems.api.idempotency`)."""
    update: dict[str, Any] = {}
    if not {"event_id", "id"} & item.keys():
        update["event_id"] = keyed.record_id(index)
    if not {"occurred_at", "occurredAt"} & item.keys():
        update["occurred_at"] = keyed.first_seen
    return obs.model_copy(update=update) if update else obs


async def _migrate_when_reachable(settings: Settings, schema: str) -> None:
    """Apply the migrations once PostgreSQL answers (retried with backoff; a no-op when done)."""
    backoff = Backoff(cap=settings.retry_cap)
    while True:
        try:
            await asyncio.to_thread(migrate, settings.database_url.get_secret_value(), schema)
            return
        except Exception as exc:  # noqa: BLE001 - retried; reads answer 503 meanwhile
            delay = backoff.next_delay()
            log.warning("migrations not applied yet: %s; retrying in %.1f s", describe(exc), delay)
            await asyncio.sleep(delay)

"""The API's own routes: health (servers and stages), liveness, readiness, Prometheus metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from ems.api.health import health_report, judge_stages
from ems.api.responses import JSON
from ems.api.routing import PUBLIC, Call, Endpoint
from ems.streams.heartbeat import namespace, read_heartbeats


class Health(BaseModel):
    status: str
    problems: list[str]
    checks: dict[str, Any] | None = None
    stages: dict[str, Any] | None = None


async def health_body(call: Call) -> tuple[dict[str, Any], bool]:
    """Servers and stages: (the report, healthy)."""
    state, settings = call.state, call.settings
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
        if not state.migrated:  # requests would meet missing tables (ems.api.app applies them)
            raise RuntimeError("the read models are being created (migrations not applied yet)")

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
    return body | {"checks": checks, "stages": stages}, not problems


async def pipeline_health(call: Call) -> Response:
    body, ok = await health_body(call)
    return JSON(body, status_code=200 if ok else 503)


async def ready(call: Call) -> Response:
    """Healthy or not, without the details (for load balancers and orchestrators)."""
    body, ok = await health_body(call)
    return JSON({"status": body["status"], "problems": []}, status_code=200 if ok else 503)


async def live(call: Call) -> Response:
    return JSON({"status": "ok", "problems": []})


async def prometheus(call: Call) -> Response:
    """The API's metrics, with the stages' gauges read from their heartbeats now (none without Redis)."""
    state, settings = call.state, call.settings
    report: dict[str, Any] = {}
    try:
        timeout = min(2.0, settings.api_read_timeout)
        seen, instances = await asyncio.wait_for(read_heartbeats(state.redis, namespace(settings)), timeout)
        report, _ = judge_stages(seen, instances, time.time(), settings)
    except Exception:  # noqa: BLE001 - Redis away: the process's own metrics still answer
        report = {}
    state.metrics.set_stages(report)
    return await state.metrics.endpoint(call.request)


async def openapi(call: Call) -> Response:
    from ems.api.table import document  # the document describes the whole table, this route included

    return JSON(document())


UNHEALTHY = {503: "a server is unreachable or a stage is not keeping up (the problems say which)"}
ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        pipeline_health,
        permission="read:health",
        summary="Servers and pipeline stages, with the problems",
        response=Health,
        responses=UNHEALTHY,
        tags=("health",),
    ),
    Endpoint(
        "GET",
        "/health/ready",
        ready,
        permission=PUBLIC,
        summary="Ready to serve: 200, or 503 (details at /health)",
        limited=False,
        response=Health,
        responses=UNHEALTHY,
        tags=("health",),
    ),
    Endpoint(
        "GET",
        "/health/live",
        live,
        permission=PUBLIC,
        summary="This API process answers (says nothing about the pipeline)",
        limited=False,
        response=Health,
        tags=("health",),
    ),
    Endpoint(
        "GET",
        "/metrics",
        prometheus,
        permission="read:health",
        summary="Prometheus metrics of this API process and each stage's consumer lag (text format)",
        response=str,
        tags=("health",),
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        openapi,
        permission=PUBLIC,
        summary="This document (OpenAPI 3.1, generated from the route table)",
        response=dict[str, Any],
        tags=("meta",),
    ),
]

"""Notification decision latency on a real pipeline: alert changes posted through the HTTP API at a
steady rate, the notification stage routing every one to a webhook receiver in this process.

Latency of a change = the receiver's arrival time of its webhook − the time its post was sent. The
baseline in the same run is the time the same change reached the `alerts` read model (a bench-only
trigger stamps the row as it is written, as `make bench` does), so the notification stage's share (the
`ems.alerts` record → decision → `ems.notifications` → sender → HTTP) is the difference.

Every post is a change the route notifies: a new alert opening (major), or, for one post in two, an
alert opened earlier turning critical. The receiver counts each notification key; a missing, an
unexpected or a repeated delivery fails the run.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import psycopg
from aiohttp import web

PROJECTED_TRIGGER = """
CREATE TABLE IF NOT EXISTS bench_projected (
  resource text, severity text, at timestamptz NOT NULL, PRIMARY KEY (resource, severity));
CREATE OR REPLACE FUNCTION bench_projected_stamp() RETURNS trigger AS $$
BEGIN
  INSERT INTO bench_projected VALUES (NEW.resource, NEW.severity, clock_timestamp()) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER bench_projected AFTER INSERT OR UPDATE ON alerts FOR EACH ROW
  WHEN (NEW.source = 'notify-bench') EXECUTE FUNCTION bench_projected_stamp();
"""
SOURCE = "notify-bench"


@dataclass
class Receiver:
    """A webhook receiver: per notification key the arrival times, per (resource, severity) the first."""

    keys: Counter = field(default_factory=Counter)
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        now = time.time()
        body = orjson.loads(await request.read())
        self.keys[request.headers.get("X-EMS-Notification-Key", "")] += 1
        alert = body.get("alert") or {}
        if alert.get("source") != SOURCE or body.get("kind") != "firing":
            self.unexpected.append(body.get("key", "?"))
        else:
            self.arrived.setdefault((alert["resource"], alert["severity"]), now)
        return web.Response(status=200)

    @property
    def repeated(self) -> list[str]:
        return [k for k, n in self.keys.items() if n > 1]


async def serve(receiver: Receiver, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def posts(count: int, run: str, lag: int = 10) -> list[tuple[str, str]]:
    """(resource, severity) of each post: every other one (after the first `lag`) turns an alert opened
    `lag` posts before critical; the others open a new alert at major."""
    out: list[tuple[str, str]] = []
    opened: list[str] = []
    for i in range(count):
        if i % 2 == 1 and len(opened) > lag:
            out.append((opened.pop(0), "critical"))
        else:
            opened.append(f"{run}-{i}")
            out.append((opened[-1], "major"))
    return out


def install_trigger(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        conn.execute(PROJECTED_TRIGGER)


def projected(dsn: str, schema: str, run: str) -> dict[tuple[str, str], float]:
    sql = "SELECT resource, severity, at FROM bench_projected WHERE resource LIKE %s"
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        return {(r, s): at.timestamp() for r, s, at in conn.execute(sql, (f"{run}-%",)).fetchall()}


@dataclass
class Sent:
    at: dict[tuple[str, str], float] = field(default_factory=dict)  # post send time (Unix s)
    answered_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)


async def post_paced(api: str, headers: dict, plan: list[tuple[str, str]], per_second: float) -> Sent:
    """Post each (resource, severity) as one event at `per_second`; a change waits for its alert's
    opening post to be answered (so the two keep their order)."""
    sent = Sent()
    opening: dict[str, asyncio.Task] = {}
    start = time.perf_counter()

    async def one(session: aiohttp.ClientSession, i: int, resource: str, severity: str) -> None:
        await asyncio.sleep(max(0.0, start + i / per_second - time.perf_counter()))
        if severity == "critical":
            await opening[resource]
        event = {"source": SOURCE, "resource": resource, "event": "BenchDown", "severity": severity}
        sent.at[resource, severity] = time.time()
        began = time.perf_counter()
        try:
            async with session.post(f"{api}/api/v1/events", json=event, headers=headers) as answer:
                await answer.read()
                if answer.status != 202:
                    sent.errors[f"HTTP {answer.status}"] += 1
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            sent.errors[type(exc).__name__] += 1
            return
        sent.answered_ms.append((time.perf_counter() - began) * 1000)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = []
        for i, (resource, severity) in enumerate(plan):
            tasks.append(asyncio.create_task(one(session, i, resource, severity)))
            if severity == "major":
                opening[resource] = tasks[-1]
        await asyncio.gather(*tasks)
    return sent


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))], 1)

    return {"p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": round(ordered[-1], 1)}


async def measure(
    api: str, headers: dict, receiver: Receiver, dsn: str, schema: str, per_minute: float, seconds: float,
    drain: float = 60,
) -> dict[str, Any]:  # fmt: skip
    """Post for `seconds` at `per_minute`, wait (up to `drain` s) for every notification and row, and
    return the figures; `ok` is False when a delivery is missing, unexpected or repeated."""
    run = f"nb{int(time.time()) % 10**6}"
    plan = posts(max(1, round(per_minute * seconds / 60)), run)
    began = time.perf_counter()
    sent = await post_paced(api, headers, plan, per_minute / 60)
    posting = time.perf_counter() - began
    expected = set(plan)
    deadline = time.monotonic() + drain
    rows: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        rows = projected(dsn, schema, run)
        if expected <= set(receiver.arrived) and expected <= set(rows):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1)  # a repeat arriving just after the last would still be counted
    notify = [(receiver.arrived[p] - sent.at[p]) * 1000 for p in expected if p in receiver.arrived]
    baseline = [(rows[p] - sent.at[p]) * 1000 for p in expected if p in rows]
    share = [(receiver.arrived[p] - rows[p]) * 1000 for p in expected if p in rows and p in receiver.arrived]
    missing = len(expected - set(receiver.arrived))
    return {
        "posts": len(plan),
        "post_errors": dict(sent.errors),
        "posting_s": round(posting, 1),
        "per_minute": round(len(plan) / posting * 60),
        "notified": len(notify),
        "missing": missing,
        "repeated": len(receiver.repeated),
        "unexpected": len(receiver.unexpected),
        "notify_latency": quantiles(notify),
        "projected_latency": quantiles(baseline),
        "notified_after_projected": quantiles(share),
        "api_answer": quantiles(sent.answered_ms),
        "ok": not (sent.errors or missing or receiver.repeated or receiver.unexpected),
    }

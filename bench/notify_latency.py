"""Notification decision latency on a real pipeline: alert changes posted through the HTTP API at a
steady rate, the notification stage routing every one to a webhook receiver in this process.

Latency of a change = the receiver's arrival time of its webhook − the time its post was sent. The
baseline in the same run is the time the same change reached the `alerts` read model (a bench-only
trigger stamps the row as it is written, as `make bench` does), so the notification stage's share (the
`ems.alerts` record → decision → `ems.notifications` → sender → HTTP) is the difference. The hops of
each change are split at the Kafka timestamps of its `ems.alerts` and `ems.notifications` records.

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

from ems.schemas.alert import AlertChangedBatch
from ems.schemas.notification import NotificationBatch
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode
from ems.streams.kafka import read_to_end

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
    api: str, headers: dict, receiver: Receiver, settings: Settings, per_minute: float, seconds: float,
    drain: float = 60,
) -> dict[str, Any]:  # fmt: skip
    """Post for `seconds` at `per_minute`, wait (up to `drain` s) for every notification and row, and
    return the figures; `ok` is False when a delivery is missing, unexpected or repeated."""
    run = f"nb{int(time.time()) % 10**6}"
    dsn, schema = settings.database_url.get_secret_value(), settings.read_model_schema
    plan = posts(max(1, round(per_minute * seconds / 60)), run)
    began = time.perf_counter()
    sent = await post_paced(api, headers, plan, per_minute / 60)
    posting = time.perf_counter() - began
    expected = set(plan)
    deadline = time.monotonic() + drain
    rows: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(projected, dsn, schema, run)  # the receiver keeps the loop
        if expected <= set(receiver.arrived) and expected <= set(rows):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(1)  # a repeat arriving just after the last would still be counted
    notify = [(receiver.arrived[p] - sent.at[p]) * 1000 for p in expected if p in receiver.arrived]
    baseline = [(rows[p] - sent.at[p]) * 1000 for p in expected if p in rows]
    share = [(receiver.arrived[p] - rows[p]) * 1000 for p in expected if p in rows and p in receiver.arrived]
    missing = len(expected - set(receiver.arrived))
    times = await record_times(settings, run)
    return {
        "posts": len(plan),
        "post_errors": dict(sent.errors),
        "posting_s": round(posting, 1),
        "per_minute": round(len(plan) / posting * 60),
        "notified": len(notify),
        "missing": missing,
        "rows_missing": len(expected - set(rows)),
        "repeated": len(receiver.repeated),
        "unexpected": len(receiver.unexpected),
        "notify_latency": quantiles(notify),
        "projected_latency": quantiles(baseline),
        "notified_after_projected": quantiles(share),
        "api_answer": quantiles(sent.answered_ms),
        "ok": not (sent.errors or missing or receiver.repeated or receiver.unexpected),
        "hops": hops(sent.at, times["alert_record"], times["decision_record"], receiver.arrived),
    }


async def record_times(settings: Settings, run: str) -> dict[str, dict[tuple[str, str], float]]:
    """Per (resource, severity) of the run: the Kafka timestamps (Unix s) of the `ems.alerts` record
    carrying its change (the dedupe stage's output) and of the `ems.notifications` record carrying its
    decision (the notification stage's output)."""
    out: dict[str, dict[tuple[str, str], float]] = {"alert_record": {}, "decision_record": {}}
    prefix = f"{run}-"
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("alerts")):
        try:
            changes = decode(msg.value, AlertChangedBatch).changes
        except DecodeError:
            continue
        for c in changes:
            if c.alert.resource.startswith(prefix):
                out["alert_record"].setdefault((c.alert.resource, c.alert.severity), msg.timestamp / 1000)
    async for msg in read_to_end(settings.kafka_bootstrap, settings.topic("notifications")):
        try:
            decisions = decode(msg.value, NotificationBatch).decisions
        except DecodeError:  # the sender's attempts
            continue
        for d in decisions:
            resource, severity = d.alert.get("resource", ""), d.alert.get("severity", "")
            if resource.startswith(prefix):
                out["decision_record"].setdefault((resource, severity), msg.timestamp / 1000)
    return out


def hops(sent: dict, alert: dict, decision: dict, arrived: dict) -> dict[str, dict[str, float]]:
    """Where each change's latency went: post sent → alert record (API, normalize, dedupe) → decision
    record (the notification stage) → webhook arrival (the sender and the HTTP call)."""
    both = [k for k in sent if k in alert and k in decision and k in arrived]
    return {
        "post_to_alert_record": quantiles([(alert[k] - sent[k]) * 1000 for k in both]),
        "alert_record_to_decision": quantiles([(decision[k] - alert[k]) * 1000 for k in both]),
        "decision_to_arrival": quantiles([(arrived[k] - decision[k]) * 1000 for k in both]),
    }

"""HTTP ingest throughput: Alerta's single-alert `POST /api/alert` and the native batch
`POST /api/v1/events`, with 1 and 2 API processes, each run checked against the state a sequential
Alerta would hold (`ems.bench.alerta_stream`). Exits non-zero when any end state differs.

Starts the real servers (the embedded ones with EMS_BENCH_STACK=embedded, or uses the EMS_* ones
with --external), one `ems worker` with every stage,
and `ems api --workers N` for each N of --api-workers. 32 connections; each connection owns a share
of the alerts, so one request per alert is in flight at a time and each alert's posts stay in order.

Run: `.venv/bin/python -m ems.bench.http_ingest [--posts 20000] [--events 200000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import psycopg

from ems.bench.alerta_stream import AlertaAlert, Post, alerta_state, mismatches, shares, stream
from ems.bench.api_ready import wait_ready
from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.bench.cpu_use import group_cpu
from ems.bench.stack import on_servers
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes

CONNECTIONS = 32
BATCH = 500  # events per native request


@dataclass
class Run:
    """What one phase sent and how the API answered."""

    requests: int = 0
    events: int = 0
    seconds: float = 0.0
    errors: Counter = field(default_factory=Counter)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def lanes(posts: list[Post], count: int) -> list[list[Post]]:
    """The posts split over `count` connections by alert, each alert's posts in their order."""
    out: list[list[Post]] = [[] for _ in range(count)]
    owner: dict[str, int] = {}
    for post in posts:
        out[owner.setdefault(post.key, len(owner) % count)].append(post)
    return out


def alerta_body(post: Post) -> bytes:
    return orjson.dumps(
        {
            "resource": post.key,
            "event": "HttpError",
            "environment": "Production",
            "severity": post.severity,
            "service": ["web"],
            "text": "bench",
        }
    )


def native_body(posts: list[Post]) -> bytes:
    return orjson.dumps(
        [
            {"source": "bench-http", "event": "HttpError", "severity": p.severity, "resource": p.key}
            for p in posts
        ]
    )


async def send(api: str, headers: dict, requests: list[list[tuple[str, bytes, int]]], ok: int) -> Run:
    """Send each lane's (path, body, events) in order on its own connection; answers other than `ok`
    (and failures to answer) are errors."""
    run = Run()
    headers = {**headers, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=len(requests))
    timeout = aiohttp.ClientTimeout(total=60)

    async def lane(session: aiohttp.ClientSession, items: list[tuple[str, bytes, int]]) -> None:
        for path, body, events in items:
            try:
                async with session.post(f"{api}{path}", data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != ok:
                        run.errors[f"HTTP {answer.status}"] += 1
                        continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.errors[type(exc).__name__] += 1
                continue
            run.requests += 1
            run.events += events

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(lane(session, items) for items in requests))
        run.seconds = time.perf_counter() - start
    return run


def read_state(dsn: str, schema: str, prefix: str) -> dict[str, AlertaAlert]:
    """The alerts of `prefix` in the read model, as Alerta shows them."""
    sql = (
        f"SELECT resource, severity, previous_severity, repeats_at_severity, status, event_count "
        f"FROM {schema}.alerts WHERE resource LIKE %s"
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(sql, (f"{prefix}-%",)).fetchall()
    return {
        resource: AlertaAlert(
            severity=severity,
            previous_severity=previous or "indeterminate",
            duplicate_count=repeats,
            status="closed" if status == "resolved" else status,
            received=count,
        )
        for resource, severity, previous, repeats, status, count in rows
    }


def settle(dsn: str, schema: str, prefix: str, events: int, stall: float = 60) -> tuple[dict, float]:
    """The end state once the read model has counted `events` events, or when its count has not moved
    for `stall` s (then the end state differs: the check says so); and the time waited."""
    start = moved = time.perf_counter()
    counted = -1
    while True:
        state = read_state(dsn, schema, prefix)
        now, total = time.perf_counter(), sum(a.received for a in state.values())
        if total >= events or now - moved > stall:
            return state, now - start
        if total != counted:
            counted, moved = total, now
        time.sleep(0.5)


def phase(
    api: str, headers: dict, env: dict, native: bool, posts: list[Post], prefix: str, pgid: int
) -> bool:
    """Send `posts` one way, wait for the read model, print the figures; True when the state is exact.

    Also prints the CPU the API processes (group `pgid`) spent per request: on a machine others load
    too, the rate says how much CPU the API got, the cost per request what it would do with a core."""
    split = lanes(posts, CONNECTIONS)
    cpu = group_cpu(pgid)
    if native:
        requests = [
            [
                ("/api/v1/events", native_body(ps[i : i + BATCH]), len(ps[i : i + BATCH]))
                for i in range(0, len(ps), BATCH)
            ]
            for ps in split
        ]
        run = asyncio.run(send(api, headers, requests, 202))
    else:
        requests = [[("/api/alert", alerta_body(p), 1) for p in ps] for ps in split]
        run = asyncio.run(send(api, headers, requests, 201))
    cpu = group_cpu(pgid) - cpu
    dsn, schema = env["EMS_DATABASE_URL"], env["EMS_READ_MODEL_SCHEMA"]
    actual, waited = settle(dsn, schema, prefix, len(posts))  # all of them: anything less is wrong
    expected = alerta_state(posts)
    wrong = mismatches(expected, actual)
    what = "native batch" if native else "alerta single"
    print(
        f"{what:14} {run.requests / run.seconds:9.0f} req/s {run.events / run.seconds:9.0f} events/s "
        f"errors {run.error_count} {dict(run.errors) or ''} "
        f"| API CPU {cpu * 1000 / max(1, run.requests):.2f} ms/req "
        f"| read model +{waited:.1f} s "
        f"({len(posts) / (run.seconds + waited):.0f} events/s end to end) | "
        f"{len(actual)}/{len(expected)} alerts, {'exact' if not wrong else 'WRONG'}"
    )
    for line in wrong:
        print(f"  {line}")
    return not wrong and run.error_count == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems.bench.http_ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--posts", type=int, default=20_000, help="single-alert Alerta posts per run")
    parser.add_argument(
        "--events", type=int, default=200_000, help="events through the batch endpoint per run"
    )
    parser.add_argument("--api-workers", default="1,2", help="comma-separated process counts to measure")
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    return on_servers(args.external, lambda env: run(env, args))


def run(server_env: dict[str, str], args: argparse.Namespace) -> int:
    name = "bh" + uuid.uuid4().hex[:8]
    logs = Path(tempfile.mkdtemp(prefix="ems-bench-http-"))
    port = free_port()
    env = {**server_env, "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name, "EMS_READ_MODEL_SCHEMA": name}
    env |= {"EMS_API_PORT": str(port), "EMS_WORKER_WEB_PORT": "0", **UNLIMITED}
    headers = auth_headers(admin_key(env))
    api = f"http://127.0.0.1:{port}"
    alerta_posts = stream(args.posts, "A", seed=1)
    mix = ", ".join(f"{k} {v:.0%}" for k, v in shares(alerta_posts).items())
    print(
        f"# {args.posts} Alerta posts ({mix}), {args.events} batch events in arrays of {BATCH}, "
        f"{CONNECTIONS} connections"
    )
    print(f"# load before: {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores); logs in {logs}")
    worker = spawn_ems(["worker"], env, logs / "worker.log")
    ok = True
    try:
        for workers in [int(w) for w in args.api_workers.split(",")]:
            proc = spawn_ems(["api", "--workers", str(workers)], env, logs / f"api-{workers}.log")
            try:
                wait_ready(api, logs)
                print(f"## ems api --workers {workers}")
                for native, count, prefix in ((False, args.posts, "a"), (True, args.events, "n")):
                    posts = stream(count, f"{prefix}{workers}", seed=workers)
                    ok &= phase(api, headers, env, native, posts, f"{prefix}{workers}", proc.pid)
            finally:
                stop_processes([proc])
    finally:
        stop_processes([worker])
    print(f"# load after: {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m ems.bench.alert_queries`: dashboard queries over 1,000,000 alerts through the real API.

Starts real Kafka, PostgreSQL and Redis (RealStack; or uses the EMS_* servers with --external),
migrates a fresh read-model schema, COPYs `-n` generated alerts (every column of the table, so
columns added by later migrations are filled too) plus their history, builds the indexes, runs
VACUUM ANALYZE, starts `ems api` (uvicorn, a subprocess) and times each kind of dashboard query
over HTTP. Baseline, same run: the same SQL executed directly with psycopg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from starlette.datastructures import QueryParams

from ems.api.alert_filters import Column
from ems.api.alert_query import build_list, count_sql
from ems.api.alert_routes import CATALOG_SQL, count_total
from ems.bench.alert_data import alert_rows, history_rows
from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.infra.migrate import migrate
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from ems.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load(url: str, schema: str, n: int, seed: int) -> dict[str, Column]:
    """COPY n alerts and their history with the indexes dropped, rebuild them, VACUUM ANALYZE."""
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}", row_factory=dict_row) as c:
        catalog = {r["column_name"]: Column(r["data_type"], r["nullable"]) for r in c.execute(CATALOG_SQL)}
        indexes = c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
            "AND tablename IN ('alerts', 'alert_history') AND indexdef NOT LIKE 'CREATE UNIQUE%%'",
            (schema,),
        ).fetchall()
        for ix in indexes:
            c.execute(f'DROP INDEX "{ix["indexname"]}"')
        columns = list(catalog)
        t0 = time.perf_counter()
        rng = random.Random(seed)
        ids: list[tuple[str, datetime]] = []
        with c.cursor().copy(f"COPY alerts ({', '.join(columns)}) FROM STDIN") as copy:
            for row in alert_rows(n, rng, NOW, catalog):
                ids.append((row["alert_id"], row["first_seen"]))
                copy.write_row([Jsonb(row[k]) if catalog[k].is_json else row[k] for k in columns])
        with c.cursor().copy(
            "COPY alert_history (alert_id, event_id, kind, at, severity) FROM STDIN"
        ) as copy:
            for row in history_rows(ids, rng, NOW):
                copy.write_row(row)
        loaded = time.perf_counter() - t0
        t0 = time.perf_counter()
        c.execute("SET maintenance_work_mem = '256MB'")
        for ix in indexes:
            c.execute(ix["indexdef"])
        c.execute("VACUUM ANALYZE alerts")
        c.execute("VACUUM ANALYZE alert_history")
        size = c.execute("SELECT pg_size_pretty(pg_total_relation_size('alerts')) AS s").fetchone()["s"]
        print(
            f"loaded {n:,} alerts in {loaded:.1f} s; {len(indexes)} indexes + VACUUM ANALYZE in "
            f"{time.perf_counter() - t0:.1f} s; alerts table with indexes: {size}"
        )
    return catalog


def loaded(url: str, schema: str) -> bool:
    with psycopg.connect(url, options=f"-c search_path={schema}") as c:
        return c.execute("SELECT EXISTS (SELECT 1 FROM alerts)").fetchone()[0]


def workload(rng: random.Random) -> list[tuple[str, str, Callable[[], dict[str, Any]]]]:
    """(kind, path, params maker) of the dashboard queries; values vary per call."""
    from ems.bench.alert_data import EVENTS, REGIONS, SEVERITIES, TAGS, WORDS

    def hour_window() -> dict[str, Any]:
        end = NOW - timedelta(hours=rng.randrange(0, 24 * 29))
        return {"from": (end - timedelta(hours=1)).isoformat(), "to": end.isoformat()}

    lst = "/api/v1/alerts"
    return [
        ("default", lst, lambda: {}),
        ("status+severity", lst, lambda: {"status": "open", "severity": rng.sample(SEVERITIES[:4], 2)}),
        ("tag", lst, lambda: {"tag": rng.choice(TAGS)}),
        ("attribute", lst, lambda: {"attributes.region": rng.choice(REGIONS)}),
        ("negation", lst, lambda: {"status!": ["resolved", "closed"], "environment!": "dev"}),
        ("regex", lst, lambda: {"event": "~^" + rng.choice(EVENTS)[:4]}),
        ("text q=", lst, lambda: {"q": rng.choice(WORDS)}),
        ("time range", lst, hour_window),
        ("sort severity", lst, lambda: {"sort": "severity,-last_seen", "status": "open"}),
        ("total=false", lst, lambda: {"total": "false", "severity": rng.choice(SEVERITIES)}),
        ("count", lst + "/count", lambda: {"environment": rng.choice(["production", "staging"])}),
        ("count all", lst + "/count", lambda: {}),
        ("top duplicates", lst + "/top", lambda: {"by": "duplicates", "status": "open"}),
        ("top standing", lst + "/top", lambda: {"by": "standing"}),
        ("top flapping", lst + "/top", lambda: {"by": "flapping", "window": 3600}),
    ]


async def direct(
    conn: Any, path: str, params: dict[str, Any], catalog: dict[str, Column], settings: Settings
) -> Any:
    """The same SQL the API runs, straight through psycopg, one statement after the other (baseline)."""
    qp = QueryParams([(k, x) for k, v in params.items() for x in (v if isinstance(v, list) else [v])])
    q = build_list(qp, catalog)
    if path.endswith("/count"):
        await (await conn.execute(count_sql(q.where), q.where_args)).fetchall()
        return
    await (await conn.execute(q.select, q.args)).fetchall()
    if q.total:
        cap, budget = settings.alerts_exact_total_limit, settings.alerts_total_budget_ms
        await count_total(conn, q.where, q.where_args, q.total, cap, budget)


def run(env: dict[str, str], n: int, repeat: int, seed: int, schema: str | None) -> dict[str, list[float]]:
    url = env["EMS_DATABASE_URL"]
    schema = schema or "benchq" + uuid.uuid4().hex[:8]
    migrate(url, schema)
    if loaded(url, schema):
        with psycopg.connect(url, options=f"-c search_path={schema}", row_factory=dict_row) as c:
            catalog = {
                r["column_name"]: Column(r["data_type"], r["nullable"]) for r in c.execute(CATALOG_SQL)
            }
        print(f"reusing the alerts of schema {schema}")
    else:
        catalog = load(url, schema, n, seed)
        print(f"schema {schema} (rerun on it with --external --schema {schema})")
    port = free_port()
    env = {
        **os.environ,
        **env,
        "EMS_READ_MODEL_SCHEMA": schema,
        "EMS_TOPIC_PREFIX": schema,
        "EMS_API_PORT": str(port),
        **UNLIMITED,
    }
    headers = auth_headers(admin_key(env))
    logdir = Path(tempfile.mkdtemp(prefix="ems-benchq-"))
    api = spawn_ems(["api"], env, logdir / "api.log")
    rng = random.Random(seed + 1)
    times: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {logdir / 'api.log'}")
            time.sleep(0.3)
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(
            psycopg.AsyncConnection.connect(url, options=f"-c search_path={schema}", row_factory=dict_row)
        )
        settings = Settings(database_url=url)
        kinds = workload(rng)
        for _ in range(3):  # warm-up: caches, plans, connections
            for _kind, path, make in kinds:
                client.get(path, params=make()).raise_for_status()
        for _ in range(repeat):
            for kind, path, make in kinds:
                params = make()
                t0 = time.perf_counter()
                r = client.get(path, params=params)
                times.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                if path.endswith("/alerts") or path.endswith("/count"):
                    t0 = time.perf_counter()
                    loop.run_until_complete(direct(conn, path, params, catalog, settings))
                    loop.run_until_complete(conn.commit())
                    base.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            # keyset paging: pages 2 and 3 of the default list and of a filtered one
            for params in ({}, {"status": "open"}):
                cursor = client.get("/api/v1/alerts", params=params).json()["next_cursor"]
                for page in ("cursor page 2", "cursor page 3"):
                    t0 = time.perf_counter()
                    r = client.get("/api/v1/alerts", params={**params, "cursor": cursor})
                    times.setdefault(page, []).append((time.perf_counter() - t0) * 1000)
                    cursor = r.raise_for_status().json()["next_cursor"]
        rtt = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            loop.run_until_complete(conn.execute("SELECT 1"))
            rtt.append((time.perf_counter() - t0) * 1000)
        base["SELECT 1"] = rtt
        loop.run_until_complete(conn.close())
        loop.close()
        client.close()
    finally:
        stop_processes([api])
    report(times, base)
    return times


def report(times: dict[str, list[float]], base: dict[str, list[float]]) -> None:
    print(f"{'query (HTTP, ms)':<18} {'p50':>7} {'p95':>7} {'p99':>7}   {'SQL p50':>7} {'ratio':>6}")
    for kind, t in times.items():
        b = base.get(kind)
        extra = f"   {percentile(b, 50):7.2f} {percentile(t, 50) / percentile(b, 50):6.2f}" if b else ""
        print(f"{kind:<18} {percentile(t, 50):7.2f} {percentile(t, 95):7.2f} {percentile(t, 99):7.2f}{extra}")
    lists = [x for k, t in times.items() if not k.startswith(("count", "top")) for x in t]
    every = [x for t in times.values() for x in t]
    for name, t in (("list endpoint", lists), ("overall", every)):
        print(f"{name:<18} {percentile(t, 50):7.2f} {percentile(t, 95):7.2f} {percentile(t, 99):7.2f}")
    met = "met" if percentile(lists, 99) <= 50 else "MISSED"
    print(f"list endpoint p99 target <= 50 ms: {met}")
    print(f"{'SELECT 1 (psycopg)':<18} {percentile(base['SELECT 1'], 50):7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ems.bench.alert_queries", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-n", "--alerts", type=int, default=1_000_000)
    parser.add_argument("-r", "--repeat", type=int, default=100, help="timed requests per query kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    parser.add_argument("--schema", help="with --external: reuse the alerts loaded into this schema")
    args = parser.parse_args(argv)
    if args.external:
        run(dict(os.environ), args.alerts, args.repeat, args.seed, args.schema)
        return 0
    from ems.infra.servers import RealStack

    with RealStack() as stack:
        run(stack.env(), args.alerts, args.repeat, args.seed, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

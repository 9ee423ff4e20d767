"""`python -m ems.bench.tickets`: 10,000 tickets with SLA timers: the list query, the sweep, the rebuild.

1. While real Kafka, PostgreSQL and Redis start (RealStack; or the EMS_* servers with --external), build
   `--tickets` tickets through the real ticket core (bench/ticket_data.py: commands in event time over
   the 14 days before now, the sweep advanced as the stage does), and 100 more for the baseline.
2. Publish their `TicketBatch` records to `ems.tickets` and run the tickets projection with the shared
   runner (rebuild mode) into a fresh schema each; ANALYZE.
3. Start `ems api` on each schema and time each list filter operators use over HTTP, one request at a
   time (`--repeat` each); baseline in the same run: the same queries over the 100 tickets. Each
   query's SQL is EXPLAINed on the large schema: the scans it plans are printed.
4. The SLA sweep: `Desk.advance` from now on, restored from the batches, at the stage's 5 s tick for an
   hour, and on an hourly schedule against the baseline that reads every timer at each step (both
   must find the same crossings).
5. The rebuild: decoding the batches' bytes and restoring a Desk from them, as the stage does at start.
Prints the figures (`--json`: one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from starlette.datastructures import QueryParams

from ems.api.queries import build_list
from ems.api.tickets_query import LIST_COLUMNS, TICKETS, counts_sql, with_me
from ems.bench import ticket_data as td
from ems.bench.alert_queries import percentile
from ems.bench.api_ready import wait_ready
from ems.bench.auth import UNLIMITED, admin_key, auth_headers
from ems.infra.process import free_port
from ems.process_group import spawn_ems, stop_processes
from ems.projections.runner import ProjectionRunner
from ems.projections.tickets import TicketsProjection
from ems.settings import Settings
from ems.streams.codecs import encode
from ems.streams.kafka import make_producer
from ems.worker import prepare

BASELINE = 100  # tickets in the baseline schema
TICK = timedelta(seconds=5)  # EMS_TICK_INTERVAL's default: how often an idle stage's sweep runs
LIST, COUNTS = "/api/v1/tickets", "/api/v1/tickets/counts"


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def workload(rng: random.Random) -> list[tuple[str, str, Any]]:
    """(kind, path, params maker) of the queries a service desk sends; values vary per call."""
    groups = list(td.CONFIG.groups)
    return [
        ("default (-updated_at)", LIST, lambda: {}),
        ("status (open ones)", LIST, lambda: {"status": ["new", "in_progress", "on_hold"]}),
        ("breached=true", LIST, lambda: {"breached": "true"}),
        ("due_within=4h", LIST, lambda: {"due_within": "4h"}),
        ("assignee=me", LIST, lambda: {"assignee": "me"}),
        ("group", LIST, lambda: {"group": rng.choice(groups)}),
        ("priority", LIST, lambda: {"priority": rng.choice(["P1", "P2"])}),
        ("q= (text)", LIST, lambda: {"q": rng.choice(td.WORDS)}),
        ("me + open, by priority", LIST, lambda: {"assignee": "me", "status": "!closed", "sort": "priority"}),
        ("counts", COUNTS, lambda: {}),
        ("counts of a group", COUNTS, lambda: {"group": rng.choice(groups)}),
    ]


def project(env: dict[str, str], batches: list) -> tuple[float, int]:
    """Publish `batches` to `ems.tickets` and project them with the shared runner.

    Returns the seconds the projection took and the largest record's bytes."""
    settings = Settings.of_env(env)
    prepare(settings)
    raw = [encode(b) for b in batches]

    async def publish() -> None:
        producer = make_producer(settings)
        await producer.start()
        try:
            for value in raw:
                await producer.send_and_wait(settings.topic("tickets"), value, key=b"tickets", partition=0)
        finally:
            await producer.stop()

    asyncio.run(publish())
    t0 = time.perf_counter()
    asyncio.run(ProjectionRunner(settings, TicketsProjection(), follow=False).run())
    seconds = time.perf_counter() - t0
    with psycopg.connect(env["EMS_DATABASE_URL"], autocommit=True) as conn:
        schema = settings.read_model_schema
        conn.execute(f"ANALYZE {schema}.tickets")
        conn.execute(f"ANALYZE {schema}.sla_timers")
        found = conn.execute(f"SELECT count(*) FROM {schema}.tickets").fetchone()[0]
    want = len({c.ticket.ticket_id for b in batches for c in b.changes})
    if found != want:
        raise RuntimeError(f"the projection wrote {found} tickets, {want} were made")
    return seconds, max(map(len, raw))


def schema_env(server_env: dict[str, str], tag: str) -> dict[str, str]:
    name = f"bt{tag}" + uuid.uuid4().hex[:6]
    env = {**os.environ, **server_env, "EMS_TOPIC_PREFIX": name, "EMS_APP_ID": name}
    return env | {"EMS_READ_MODEL_SCHEMA": name, "EMS_API_PORT": str(free_port()), **UNLIMITED}


def time_queries(client: httpx.Client, kinds: list, repeat: int) -> dict[str, list[float]]:
    """ms per request of each kind, `repeat` each (after 3 untimed rounds: plans, pool, caches)."""
    times: dict[str, list[float]] = {}
    for round_ in range(repeat + 3):
        for kind, path, make in kinds:
            t0 = time.perf_counter()
            client.get(path, params=make()).raise_for_status()
            if round_ >= 3:
                times.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
    return times


def plans(url: str, schema: str, kinds: list) -> dict[str, dict[str, Any]]:
    """Per kind: the scans PostgreSQL plans for the page and for the total (or the counts), and their
    execution time (EXPLAIN ANALYZE, one run)."""
    out = {}
    with psycopg.connect(url, options=f"-c search_path={schema}", row_factory=dict_row) as conn:
        for kind, path, make in kinds:
            params = with_me(QueryParams(_items(make())), td.ME)
            q = build_list(TICKETS, params, LIST_COLUMNS)
            statements = (
                [(counts_sql(q.where), q.count_params)]
                if path == COUNTS
                else [(q.select, q.params), (q.count, q.count_params)]
            )
            scans, ms = [], 0.0
            for (statement, args), what in zip(statements, ("page", "total"), strict=False):
                explain = b"EXPLAIN (ANALYZE, FORMAT JSON) " + statement.as_string(conn).encode()
                plan = conn.execute(explain, args).fetchone()["QUERY PLAN"][0]
                scans.append(f"{'counts' if path == COUNTS else what}: {' + '.join(_scans(plan['Plan']))}")
                ms += plan["Execution Time"]
            out[kind] = {"scans": "; ".join(scans), "sql_ms": round(ms, 2)}
    return out


def _items(params: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, x) for k, v in params.items() for x in (v if isinstance(v, list) else [v])]


def _scans(node: dict[str, Any]) -> list[str]:
    here = []
    if "Relation Name" in node or "Index Name" in node:  # (a bitmap's index scan names no relation)
        here.append(f"{node['Node Type']} {node.get('Index Name', node.get('Relation Name'))}")
    return here + [s for child in node.get("Plans", ()) for s in _scans(child)]


def list_queries(stacks: dict[str, dict[str, str]], repeat: int, seed: int) -> dict[str, Any]:
    """Step 3 on each schema (`{"large": env, "baseline": env}`)."""
    logs = Path(tempfile.mkdtemp(prefix="ems-bench-tickets-"))
    procs, out = {}, {}
    try:
        for name, env in stacks.items():
            procs[name] = spawn_ems(["api"], env, logs / f"api-{name}.log")
        for name, env in stacks.items():
            api = f"http://127.0.0.1:{env['EMS_API_PORT']}"
            wait_ready(api, logs, "/health/live", timeout=120)
            headers = auth_headers(admin_key(env, "bench"))  # its actor is td.ME
            with httpx.Client(base_url=api, headers=headers, timeout=60) as client:
                out[name] = time_queries(client, workload(random.Random(seed)), repeat)
            log(f"list queries on the {name} schema done")
    finally:
        stop_processes(list(procs.values()))
    env = stacks["large"]
    explained = plans(env["EMS_DATABASE_URL"], env["EMS_READ_MODEL_SCHEMA"], workload(random.Random(seed)))
    rows = {}
    for kind, t in out["large"].items():
        b = out["baseline"][kind]
        rows[kind] = {
            "p50_ms": round(percentile(t, 50), 2),
            "p99_ms": round(percentile(t, 99), 2),
            "baseline_p50_ms": round(percentile(b, 50), 2),
            "baseline_p99_ms": round(percentile(b, 99), 2),
            "ratio_p50": round(percentile(t, 50) / percentile(b, 50), 2),
            **explained[kind],
        }
    lists = [x for k, t in out["large"].items() if not k.startswith("counts") for x in t]
    base = [x for k, t in out["baseline"].items() if not k.startswith("counts") for x in t]
    summary = {
        "list_p50_ms": round(percentile(lists, 50), 2),
        "list_p99_ms": round(percentile(lists, 99), 2),
        "baseline_list_p99_ms": round(percentile(base, 99), 2),
    }
    return {"repeat": repeat, "queries": rows, **summary}


def sweeps(batches: list, end: datetime, hours: int) -> dict[str, Any]:
    """Step 4: the heap at the 5 s tick for an hour; heap and naive hourly for `hours` hours."""
    ticks = td.sweep(td.restored(batches), end, TICK, int(timedelta(hours=1) / TICK))
    idle = td.sweep(td.restored(batches, td.NaiveDesk), end, TICK, 2)  # the naive cost of a tick
    heap = td.sweep(td.restored(batches), end, timedelta(hours=1), hours)
    naive = td.sweep(td.restored(batches, td.NaiveDesk), end, timedelta(hours=1), hours)
    if heap.crossings != naive.crossings:
        raise RuntimeError(f"the sweeps differ: heap {len(heap.crossings)}, naive {len(naive.crossings)}")

    def figures(s: td.Sweep) -> dict[str, Any]:
        return {
            "calls": s.calls,
            "ms_per_call": round(s.per_call_ms, 3),
            "median_call_ms": round(s.median_call_s * 1000, 4),
            "crossings": len(s.crossings),
            "ms_per_crossing": round(s.per_crossing_ms, 3),
        }

    return {
        "tick_heap": figures(ticks),
        "tick_naive": figures(idle),
        "tick_ratio": round(idle.per_call_ms / ticks.per_call_ms, 1),
        "hourly_heap": figures(heap),
        "hourly_naive": figures(naive),
        "hourly_ratio": round(naive.seconds / heap.seconds, 1),
        "same_crossings": True,
    }


def run(args: argparse.Namespace, servers: Callable[[], dict[str, str]]) -> dict[str, Any]:
    """Steps 1-5; `servers()` gives the servers' EMS_* variables once they are up."""
    end = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {"tickets": args.tickets, "baseline_tickets": BASELINE, "end": end.isoformat()}
    result["load_before"] = round(os.getloadavg()[0], 1)
    built = td.build(args.tickets, end, args.seed)
    small = td.build(BASELINE, end, args.seed)
    pending = built.desk.due.pending(0)
    result["build"] = {
        "commands": built.commands,
        "changes": built.changes,
        "batches": len(built.batches),
        "seconds": round(built.seconds, 1),
        "commands_per_s": round(built.commands / built.seconds),
        "tickets_with_a_timer_due": pending,
        "breached": sum(1 for t in built.desk.tickets.values() if any(x.breached_at for x in t.timers)),
        "assigned_to_me": sum(1 for t in built.desk.tickets.values() if t.assignee == td.ME),
    }
    log(f"built {args.tickets} tickets in {built.seconds:.0f} s")
    server_env = servers()
    stacks = {"large": schema_env(server_env, "l"), "baseline": schema_env(server_env, "b")}
    seconds, biggest = project(stacks["large"], built.batches)
    project(stacks["baseline"], small.batches)
    result["projection"] = {
        "seconds": round(seconds, 1),
        "changes_per_s": round(built.changes / seconds),
        "largest_record_kib": round(biggest / 1024),
    }
    log(f"projected in {seconds:.0f} s")
    result["list"] = list_queries(stacks, args.repeat, args.seed)
    result["sweep"] = sweeps(built.batches, end, args.sweep_hours)
    log("sweeps done")
    decode_s, restore_s, desk = td.rebuild(built.batches)
    if desk.tickets != built.desk.tickets:
        raise RuntimeError("the restored desk differs from the one that made the batches")
    result["rebuild"] = {
        "records": len(built.batches),
        "changes": built.changes,
        "decode_s": round(decode_s, 2),
        "restore_s": round(restore_s, 2),
    }
    result["load_after"] = round(os.getloadavg()[0], 1)
    return result


def report(r: dict[str, Any]) -> None:
    b, p, lst, s, rb = r["build"], r["projection"], r["list"], r["sweep"], r["rebuild"]
    print(
        f"# {r['tickets']:,} tickets (baseline {r['baseline_tickets']}), event time ending {r['end']}; "
        f"load {r['load_before']} -> {r['load_after']} (1-min average, {os.cpu_count()} cores)"
    )
    print(
        f"build through the ticket core: {b['commands']:,} commands -> {b['changes']:,} changes in "
        f"{b['seconds']} s ({b['commands_per_s']:,} commands/s); {b['breached']:,} breached, "
        f"{b['tickets_with_a_timer_due']:,} with a timer still to cross, "
        f"{b['assigned_to_me']:,} assigned to me"
    )
    print(
        f"projection (shared runner, rebuild mode): {p['seconds']} s, {p['changes_per_s']:,} changes/s "
        f"(largest record {p['largest_record_kib']} KiB)"
    )
    head = f"{'query (HTTP, ms)':<24} {'p50':>7} {'p99':>7} {'@100 p50':>9} {'@100 p99':>9} {'ratio':>6}"
    print(f"{head}  plan")
    for kind, q in lst["queries"].items():
        print(
            f"{kind:<24} {q['p50_ms']:7.2f} {q['p99_ms']:7.2f} {q['baseline_p50_ms']:9.2f} "
            f"{q['baseline_p99_ms']:9.2f} {q['ratio_p50']:6.2f}  {q['scans']} ({q['sql_ms']} ms SQL)"
        )
    print(
        f"list endpoint, all filters: p50 {lst['list_p50_ms']} ms, p99 {lst['list_p99_ms']} ms "
        f"(100 tickets: p99 {lst['baseline_list_p99_ms']} ms); {lst['repeat']} requests per kind"
    )
    th, tn, hh, hn = s["tick_heap"], s["tick_naive"], s["hourly_heap"], s["hourly_naive"]
    print(
        f"sweep at the 5 s tick, 1 h: heap {th['ms_per_call']} ms/call, median {th['median_call_ms']} ms "
        f"({th['crossings']} crossings); "
        f"reading every timer {tn['ms_per_call']} ms/call; ratio {s['tick_ratio']}"
    )
    print(
        f"sweep hourly, {hh['calls']} h: heap {hh['ms_per_call']} ms/call, "
        f"{hh['ms_per_crossing']} ms/crossing; "
        f"reading every timer {hn['ms_per_call']} ms/call, {hn['ms_per_crossing']} ms/crossing; "
        f"ratio {s['hourly_ratio']}; {hh['crossings']} crossings, the same both ways"
    )
    print(
        f"rebuild from {rb['records']} batches ({rb['changes']:,} changes): decode {rb['decode_s']} s, "
        f"restore {rb['restore_s']} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.bench.tickets", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tickets", type=int, default=10_000)
    parser.add_argument("-r", "--repeat", type=int, default=100, help="timed requests per query kind")
    parser.add_argument("--sweep-hours", type=int, default=4, help="hourly sweep steps, both ways")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--external", action="store_true", help="use the EMS_* servers, start none")
    args = parser.parse_args(argv)
    with ExitStack() as cleanup:
        servers = (lambda: dict(os.environ)) if args.external else _Started(cleanup).result
        result = run(args, servers)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 0


class _Started:
    """The servers starting in a thread while the tickets are built; `result()` waits for them."""

    def __init__(self, cleanup: ExitStack) -> None:
        from ems.infra.servers import RealStack

        self._stack, self._error = RealStack(), None
        cleanup.callback(self._stack.stop)
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._stack.start()
        except BaseException as exc:  # noqa: BLE001 - raised again in result()
            self._error = exc

    def result(self) -> dict[str, str]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._stack.env()


if __name__ == "__main__":
    raise SystemExit(main())

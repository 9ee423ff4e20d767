"""Server outages under load: PostgreSQL stopped, Kafka stopped, Redis lost — then restored.

Protocol of each drill:
1. Start a pipeline (one supervised `ems worker` with every stage, and `ems api`) and the drill
   client (`ems.drills.load`), which retries every write until it is accepted.
2. After a warm-up, take the server away for `outage` seconds while the client keeps writing and
   probes watch `/health`, reads (`GET /api/v1/alerts`) and how fast every answer comes.
3. Bring it back; recovery time = from the restart until an event posted at that moment is served
   in the alerts read model.
4. Let the client finish, wait until the read models hold everything accepted, and audit
   (`ems.drills.audit`): exactly once, and equal to a rebuild from the log.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ems.drills.audit import account, rebuild_differences, wait_accounted
from ems.drills.load import Load
from ems.drills.pipeline import Pipeline, wait_for
from ems.drills.report import DrillReport
from ems.drills.watch import Watch
from ems.infra.process import ServerProcess


@dataclass
class Servers:
    """The servers a drill may take away (Kafka is None on a broker that keeps no log on disk)."""

    env: dict[str, str]
    postgres: ServerProcess
    redis: ServerProcess
    kafka: ServerProcess | None

    @classmethod
    def of(cls, stack: Any) -> Servers:
        """From a `RealStack` or an `EmbeddedStack` (whose Tansu broker is memory-only)."""
        from ems.infra.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedStack

        if isinstance(stack, EmbeddedStack):
            return cls(stack.env(), stack._get(EmbeddedPostgres), stack._get(EmbeddedRedis), None)
        return cls(stack.env(), stack.postgres, stack.redis, stack.kafka)


def stop(server: ServerProcess) -> None:
    """Stop a server, keeping its data and ports for the restart."""
    server.stop(cleanup=False)


def restart(server: ServerProcess) -> None:
    server.launch()
    server.wait_ready()


def lose(server: ServerProcess) -> None:
    """`kill -9` a server (Redis keeps nothing on disk here: its data is gone)."""
    server.kill()


def start_load(load: Load, first: int, count: int, rate: float) -> threading.Thread:
    """Run the client in a thread of its own (the drill itself is synchronous)."""
    thread = threading.Thread(target=lambda: asyncio.run(load.run(first, count, rate)), daemon=True)
    thread.start()
    return thread


def probe_recovery(pipeline: Pipeline, run: str, since: float, timeout: float = 180) -> float:
    """Post one event (again until accepted) and wait until its alert is served; seconds since `since`."""
    asset = f"ast_probe_{run}_{int(since * 1000)}"
    body = {
        "source": "probe",
        "asset_id": asset,
        "event": "Probe",
        "severity": "major",
        "environment": "probe",
    }
    deadline = time.monotonic() + timeout
    with pipeline.client(timeout=10) as client:
        while True:
            try:
                r = client.post("/api/v1/events", json=body, headers={"Idempotency-Key": asset})
                if r.status_code == 202:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the probe was never accepted")
            time.sleep(0.2)
        wait_for(
            lambda: pipeline.scalar("SELECT count(*) FROM alerts WHERE asset_id = %s", (asset,)),
            max(1.0, deadline - time.monotonic()),
            "the probe's alert",
        )
    return time.monotonic() - since


def log_size(pipeline: Pipeline) -> tuple[int, int]:
    """(lines, bytes) written so far by the pipeline's processes."""
    lines = size = 0
    for name in pipeline.procs:
        path = pipeline.log_path(name)
        if path.exists():
            data = path.read_bytes()
            lines, size = lines + data.count(b"\n"), size + len(data)
    return lines, size


def outage_drill(
    name: str,
    servers: Servers,
    logs: Path,
    take_away: Callable[[], None],
    bring_back: Callable[[], None],
    *,
    outage: float = 30.0,
    rate: float = 8.0,
    warmup: float = 8.0,
    after: float = 10.0,
    expect_unhealthy: str = "",
    once_rate: float = 0.0,
    writes_go_on: bool = False,
) -> DrillReport:
    """Steps 1-4 of the module docstring for one server. With `once_rate`, a second client sends
    writes that name their own ids once each during the outage, without retrying: those answered
    `"appended": false` must never appear. With `writes_go_on`, every write must be accepted (202)
    through the outage: a write needs only Kafka (its key, verified before, is not looked up again)."""
    report = DrillReport(name)
    pipeline = Pipeline(servers.env, logs, retry_cap="3", rate_limit_per_minute="1000000")
    run = pipeline.name
    requests = int(rate * (warmup + outage + after))
    try:
        pipeline.start_worker()
        pipeline.start_api()
        wait_for(pipeline.healthy, 60, "a healthy pipeline before the drill")
        # The key is made now, while PostgreSQL is there (checked in PostgreSQL, not in Redis).
        load = Load(pipeline.api, run, headers=pipeline.auth)
        once = Load(pipeline.api, f"{run}o", headers=pipeline.auth, retry=False)
        with Watch(pipeline.api, pipeline.auth) as watch:
            client = start_load(load, 0, requests, rate)
            time.sleep(warmup)
            lines0, bytes0 = log_size(pipeline)
            down = time.monotonic()
            take_away()
            if once_rate:  # odd requests only: they name their own ids
                threading.Thread(
                    target=lambda: asyncio.run(_odd_requests(once, int(once_rate * outage), once_rate)),
                    daemon=True,
                ).start()
            time.sleep(outage)
            lines1, bytes1 = log_size(pipeline)
            bring_back()
            up = time.monotonic()
            report.recovery_s = round(probe_recovery(pipeline, run, up), 1)
            client.join(600)
            time.sleep(2)
            # Rejoining every consumer group after a broker restart may outlast the load on a busy
            # machine: the watch goes on until /health is 200 or HEALTHY_WITHIN has passed.
            watch.healthy_after(up, HEALTHY_WITHIN)
        wait_accounted(pipeline, load.ledger, run)
        report.take(account(pipeline, load.ledger, run))
        if once_rate:
            single = account(pipeline, once.ledger, once.run_id)
            report.take(single, "client without retries")
            report.notes.append(
                f"client without retries during the outage: {len(once.ledger.events)} events accepted, "
                f"{len(once.ledger.not_appended)} answered appended=false (none appeared later: "
                f"{single.late_appends == 0}), {len(once.ledger.unknown)} unknown "
                f"({single.unknown_landed} landed)"
            )
        report.dead_lettered = len(pipeline.dead_letters() or [])
        report.rebuild_differences = rebuild_differences(pipeline)
        _judge_watch(report, watch, down, up, expect_unhealthy, pipeline)
        report.details |= {
            "outage_s": round(up - down, 1),
            "requests": load.ledger.requests,
            "retries": load.ledger.retries,
            "answers": dict(load.ledger.statuses),
            "slowest_write_s": round(load.ledger.slowest, 2),
            "log_lines_during_outage": lines1 - lines0,
            "log_bytes_during_outage": bytes1 - bytes0,
        }
        report.checks["every write answered (no client timeout)"] = load.ledger.statuses[0] == 0
        if writes_go_on:
            accepted = set(load.ledger.statuses) == {202}
            report.checks["every write accepted (202) through the outage"] = accepted
        limit = pipeline.settings.api_write_timeout + 2
        report.checks[f"every write answered within {limit:g} s"] = load.ledger.slowest <= limit
        report.notes.append(
            f"{load.ledger.requests} requests, {load.ledger.retries} retried; "
            f"answers {dict(load.ledger.statuses)}; "
            f"{lines1 - lines0} log lines ({(bytes1 - bytes0) / 1024:.0f} KiB) during the outage"
        )
    finally:
        pipeline.stop_all()
    return report


async def _odd_requests(load: Load, count: int, rate: float) -> None:
    async with load.client() as client:
        for i in range(count):
            await load.send(client, 2 * i + 1)
            await asyncio.sleep(1 / rate)


def _judge_watch(
    report: DrillReport, watch: Watch, down: float, up: float, expect: str, pipeline: Pipeline
) -> None:
    health, reads = watch.between(down + 3, up)
    unhealthy = [problems for _, status, problems in health if status == 503]
    report.checks["/health answered 503 during the outage"] = bool(unhealthy)
    if expect:
        said = any(expect in p for problems in unhealthy for p in problems)
        report.checks[f"/health named the cause ({expect})"] = said
    if unhealthy:
        report.notes.append(f"/health during the outage: {unhealthy[-1][:3]}")
    slowest_read = max((r[2] for r in reads), default=0.0)
    read_limit = pipeline.settings.api_read_timeout + 2
    report.checks[f"reads answered within {read_limit:g} s"] = slowest_read <= read_limit
    report.details["read_answers_during_outage"] = dict(Counter(r[1] for r in reads))
    report.details["slowest_read_s"] = round(slowest_read, 2)
    healthy_again = [t for t, status, _ in watch.health if t > up and status == 200]
    report.checks[f"/health 200 again within {HEALTHY_WITHIN:g} s of recovery"] = bool(healthy_again)
    if healthy_again:
        report.details["healthy_again_after_s"] = round(healthy_again[0] - up, 1)
        report.notes.append(f"/health 200 again {healthy_again[0] - up:.1f} s after the restart")
    else:
        after = [problems for t, _, problems in watch.health if t > up]
        report.notes.append(f"/health after the restart, last answer: {after[-1][:3] if after else None}")


HEALTHY_WITHIN = 60.0  # seconds after a server's restart by which /health must be 200 again

# server -> (drill name, how it is taken away, seconds away, rate of the client without retries)
OUTAGES: dict[str, tuple[str, Callable[[ServerProcess], None], float, float]] = {
    "postgres": ("postgres stopped", stop, 30.0, 0.0),
    "kafka": ("kafka stopped", stop, 30.0, 2.0),
    "redis": ("redis lost", lose, 10.0, 0.0),
}


def server_outage(servers: Servers, logs: Path, which: str) -> DrillReport:
    """Server `which` (postgres, kafka, redis) taken away as `OUTAGES` says, then restarted."""
    name, take_away, outage, once_rate = OUTAGES[which]
    server = getattr(servers, which)
    if server is None:
        raise ValueError(f"the {which} of this stack cannot be stopped and restarted with its data")
    return outage_drill(
        name,
        servers,
        logs,
        lambda: take_away(server),
        lambda: restart(server),
        outage=outage,
        expect_unhealthy=which,
        once_rate=once_rate,
        writes_go_on=which != "kafka",
    )
